import test from 'tape';
import { Tensor, zeros } from '../../../lib/tensor/index.js';
import { classColor } from '../../../lib/maskrcnn/viz/viz.js';
import { OVERLAY_MIN_SIDE, drawDetections } from '../../../lib/maskrcnn/viz/overlay.js';

/** One detection of class 2 on a black 16x16 image: box [2, 2, 10, 10], mask the 4x4 square [4, 8) x [4, 8). */
function oneDetection(score: number) {
  const image = zeros([3, 16, 16]);
  const mask = new Float32Array(16 * 16);
  for (let y = 4; y < 8; y++) for (let x = 4; x < 8; x++) mask[y * 16 + x] = 0.9;
  return {
    image,
    detections: {
      boxes: new Tensor(Float32Array.from([2, 2, 10, 10]), [1, 4]),
      labels: new Tensor(Int32Array.from([2]), [1], 'int32'),
      scores: new Tensor(Float32Array.from([score]), [1]),
      masks: new Tensor(mask, [1, 1, 16, 16]),
    },
  };
}

test('drawDetections: the mask blends the class colour inside, not outside; box outline in the class colour; enlarged by an integer factor', (t) => {
  const { image, detections } = oneDetection(0.93);
  const canvas = drawDetections(image, detections, { scale: 4, alpha: 0.5, textScale: 1 });
  t.deepEqual([canvas.width, canvas.height], [64, 64], '16 px image at scale 4 -> 64x64');
  const color = classColor(2);
  const blend = color.map((c) => Math.round(c * 0.5));
  // Image pixel (5, 5) is inside the mask: canvas pixels 20..23.
  t.deepEqual(canvas.pixel(21, 22), blend, 'inside the mask: half class colour over black');
  t.deepEqual(canvas.pixel(4 * 8 + 1, 4 * 8 + 1), [0, 0, 0], 'just outside the mask, inside the box: untouched');
  t.deepEqual(canvas.pixel(60, 60), [0, 0, 0], 'outside the box: untouched');
  // The box [2, 2, 10, 10] scaled is [8, 8, 40, 40]; thickness 2; the left edge at x = 8 below the label strip.
  t.deepEqual(canvas.pixel(8, 30), color, 'box outline in the class colour');
  t.deepEqual(canvas.pixel(9, 30), color, 'thickness scale / 2 = 2');
  t.deepEqual(canvas.pixel(10, 30), [0, 0, 0], 'third column inside the box: untouched');
  // The label strip (7 px high) sits above the box: rows 1..7, from x = 8.
  const strip: number[] = [];
  for (let x = 8; x < 60; x++) if (canvas.pixel(x, 1).some((v) => v !== 0)) strip.push(x);
  t.ok(strip.length > 20, `a label strip is drawn above the box (${strip.length} px wide on row 1)`);
  // Default scale: the long side at least OVERLAY_MIN_SIDE.
  const big = drawDetections(image, detections);
  t.equal(big.width, 16 * Math.ceil(OVERLAY_MIN_SIDE / 16), `default scale makes the long side ${OVERLAY_MIN_SIDE}`);
  // Deterministic.
  t.deepEqual(Buffer.from(drawDetections(image, detections).data), Buffer.from(big.data), 'same pixels twice');
  t.end();
});

test('drawDetections: detections under the score threshold are not drawn; shapes that do not fit are named', (t) => {
  const { image, detections } = oneDetection(0.3);
  const canvas = drawDetections(image, detections, { scale: 2 });
  t.ok(canvas.data.every((v, i) => (i % 4 === 3 ? v === 255 : v === 0)), 'score 0.3 < 0.5: the black image only');
  const low = drawDetections(image, detections, { scale: 2, scoreThreshold: 0.2 });
  t.notDeepEqual(low.pixel(10, 10), [0, 0, 0], 'with scoreThreshold 0.2 the mask is drawn');
  t.throws(() => drawDetections(zeros([3, 8, 8]), detections), /masks \[1,1,16,16\] do not fit 1 detections on a 8x8 image/, 'mask of another size');
  t.throws(() => drawDetections(zeros([1, 16, 16]), detections), /image must be \[3, H, W\]/, 'gray image');
  t.throws(() => drawDetections(image, { ...detections, boxes: zeros([2, 4]) }), /boxes \[2,4\] do not fit 1 detections/, 'boxes');
  t.end();
});
