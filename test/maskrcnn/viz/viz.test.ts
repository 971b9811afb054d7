import test from 'tape';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Tensor, zeros } from '../../../lib/tensor/index.js';
import { Canvas, FONT_3X5, FONT_5X7, VIZ_COLORS, classColor, decodePng, divergingColor, divergingHeatmap, drawBoxes, heatColor, heatmapGrid, renderTrace, textWidth, type Trace, type TraceView } from '../../../lib/maskrcnn/index.js';
import { fixtureTraces } from '../fixture_traces.js';

const rgbAt = (png: ReturnType<typeof decodePng>, x: number, y: number): number[] => {
  const i = 4 * (y * png.width + x);
  return [png.rgba[i]!, png.rgba[i + 1]!, png.rgba[i + 2]!];
};

test('viz: a drawn box colours exactly its border pixels, and the PNG decodes to the canvas size', (t) => {
  const image = zeros([3, 20, 30]); // black
  const red: [number, number, number] = [255, 0, 0];
  const canvas = drawBoxes(image, new Tensor(Float32Array.from([4.2, 5.6, 10.4, 12.5]), [1, 4]), { color: red });
  // Pixels round(x1)..round(x2)-1 = 4..9, rows round(y1)..round(y2)-1 = 6..12.
  const png = decodePng(canvas.toPng());
  t.deepEqual([png.width, png.height], [30, 20], '30x20 PNG');
  const border: string[] = [];
  for (let y = 0; y < 20; y++) for (let x = 0; x < 30; x++) if (rgbAt(png, x, y)[0] === 255) border.push(`${x},${y}`);
  const expected: string[] = [];
  for (let y = 6; y <= 12; y++) for (let x = 4; x <= 9; x++) if (x === 4 || x === 9 || y === 6 || y === 12) expected.push(`${x},${y}`);
  t.deepEqual(border, expected, 'the red pixels are exactly the border of [4, 10) x [6, 13)');
  t.deepEqual(rgbAt(png, 6, 9), [0, 0, 0], 'inside stays the image');
  // Thickness 2 goes inward; a label and a score bar go above the box.
  const c2 = new Canvas(40, 40, [0, 0, 0]);
  c2.drawBox([10, 20, 30, 35], [0, 255, 0], 2);
  t.deepEqual(c2.pixel(11, 25), [0, 255, 0], 'thickness 2: the second column is drawn');
  t.deepEqual(c2.pixel(12, 25), [0, 0, 0], 'but not the third');
  drawBoxes(c2, new Tensor(Float32Array.from([10, 20, 30, 35]), [1, 4]), { color: [0, 0, 255], labels: ['7'], scores: [0.5] });
  // The strip above the box: text row y = 20 - 10 + 1 = 11, bar at y = 17..18, 12 px long for 0.5.
  t.deepEqual(c2.pixel(11, 18), [0, 0, 255], 'the score bar starts in the box colour');
  t.deepEqual(c2.pixel(11 + 12, 18), VIZ_COLORS.background.map((v) => Math.round(v * 0.8)), 'and is half of 24 px long for a score 0.5');
  t.end();
});

test('viz: mask overlay blends the class colour where the mask passes the threshold; heat-map grid layout', (t) => {
  const canvas = new Canvas(4, 2, [0, 0, 0]);
  canvas.overlayMask(new Tensor(Float32Array.from([0.9, 0.1, 0.5, 0, 0, 0, 0, 1]), [1, 2, 4]), [200, 100, 0], 0.5);
  t.deepEqual([canvas.pixel(0, 0), canvas.pixel(1, 0), canvas.pixel(2, 0), canvas.pixel(3, 1)], [[100, 50, 0], [0, 0, 0], [100, 50, 0], [100, 50, 0]], 'alpha 0.5 where >= 0.5');
  const grid = heatmapGrid(new Tensor(Float32Array.from([0, 1, 2, 3, 5, 5, 5, 5, 0, 0, 0, 1]), [3, 2, 2]), { scale: 3, gap: 1 });
  t.deepEqual([grid.width, grid.height], [2 * 7 + 1, 2 * 7 + 1], '3 maps in a 2x2 grid of 6x6 cells with 1 px gaps');
  t.deepEqual(grid.pixel(1, 1), [68, 1, 84], 'the minimum is dark purple');
  t.deepEqual(grid.pixel(1 + 3, 1 + 3), [253, 231, 37], 'the maximum is yellow');
  t.deepEqual(grid.pixel(0, 0), VIZ_COLORS.background, 'gaps are background');
  t.notDeepEqual(classColor(1), classColor(2), 'classes get different colours');
  t.end();
});

test('viz: every view renders from real eval and training traces of the fixture model, and saves as PNG', (t) => {
  const { evalTrace, trainTrace } = fixtureTraces();
  const tmp = mkdtempSync(join(tmpdir(), 'viz-test-'));
  try {
    const views: Array<[TraceView, Trace, [number, number] | null]> = [
      ['anchors', evalTrace, [160, 128]],
      ['proposals_before_nms', evalTrace, [160, 128]],
      ['proposals', evalTrace, [160, 128]],
      ['detections', evalTrace, [160, 128]],
      ['roi_features', evalTrace, null],
      ['mask_logits', evalTrace, null],
      ['mask_logits_per_class', evalTrace, null],
      ['rpn_targets', trainTrace, [160, 128]],
      ['sampled_rois', trainTrace, [160, 128]],
      ['mask_targets', trainTrace, null],
      ['mask_logits', trainTrace, null],
    ];
    for (const [view, trace, size] of views) {
      try {
        const canvas = renderTrace(trace, view);
        const path = join(tmp, `${view}.png`);
        canvas.save(path);
        const png = decodePng(readFileSync(path));
        if (size) t.deepEqual([png.width, png.height], size, `${view}: ${png.width}x${png.height}`);
        else t.ok(png.width > 1 && png.height > 1, `${view}: ${png.width}x${png.height} grid`);
      } catch (error) {
        t.fail(`${view}: ${(error as Error).message}`);
      }
    }
    // The anchors view: one location per level, 3 anchors each (ratios), colour per level.
    const anchorsCanvas = renderTrace(evalTrace, 'anchors', { at: [80, 64] });
    t.ok(anchorsCanvas.pixel(0, 0) !== undefined, 'anchors drawn at a chosen point');
    const n = trainTrace.get('train.roi_heads.mask_targets')!.shape[0]!;
    t.ok(n > 0, `${n} mask targets traced in training`);
    try {
      renderTrace(evalTrace, 'sampled_rois');
      t.fail('should throw');
    } catch (error) {
      t.ok(/needs 'train\.roi_heads\.proposals_with_gt\.0'/.test((error as Error).message), (error as Error).message);
    }
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
  t.end();
});

test('viz: rpn_objectness draws sigmoid(logit) per anchor on [0, 1]; fpn_features draws the channels of one level', (t) => {
  const trace: Trace = new Map([
    // One image, 3 anchors per location, a 2x2 level: anchor 0 certain background, anchor 2 certain object.
    ['rpn.head.objectness.0', new Tensor(Float32Array.from([-20, -20, -20, -20, 0, 0, 0, 0, 20, 20, 20, 20]), [1, 3, 2, 2])],
    ['fpn.0', new Tensor(Float32Array.from([0, 1, 2, 3, 7, 7, 7, 7]), [1, 2, 2, 2])],
    ['fpn.pool', new Tensor(Float32Array.from([5, 6]), [1, 2, 1, 1])],
  ]);
  const obj = renderTrace(trace, 'rpn_objectness', { level: 0, grid: { scale: 2, gap: 1 } });
  t.deepEqual([obj.width, obj.height], [3 * 5 + 1, 5 + 1], 'three maps in a row, 4x4 px each with 1 px gaps');
  t.deepEqual(obj.pixel(1, 1), [68, 1, 84], 'probability 0: dark purple');
  t.deepEqual(obj.pixel(1 + 5, 1), heatColor(0.5), 'probability 0.5: the middle of the scale');
  t.deepEqual(obj.pixel(1 + 10, 1), [253, 231, 37], 'probability 1: yellow');
  const p2 = renderTrace(trace, 'fpn_features', { level: 0, grid: { scale: 1, gap: 0, columns: 2 } });
  t.deepEqual([p2.width, p2.height, ...p2.pixel(0, 0), ...p2.pixel(1, 1)], [4, 2, 68, 1, 84, 253, 231, 37], 'P2: two channels, each on its own range');
  const p6 = renderTrace(trace, 'fpn_features', { level: 1, grid: { scale: 1, gap: 0 } });
  t.deepEqual([p6.width, p6.height], [2, 1], "level 1 is the trace's second FPN map ('fpn.pool' here)");
  t.throws(() => renderTrace(trace, 'fpn_features', { level: 2 }), /FPN level 2 is out of range: the trace has 2 FPN levels \(fpn\.0, fpn\.pool\)/, 'level out of range named');
  t.throws(() => renderTrace(trace, 'rpn_objectness', { level: 3 }), /needs 'rpn\.head\.objectness\.3'/, 'missing level named');
  t.end();
});

test('viz: divergingColor is white at 0 and blends towards its two colours; divergingHeatmap draws one cell per value with a grid', (t) => {
  t.deepEqual(divergingColor(0, 2), [255, 255, 255], '0 is white');
  t.deepEqual(divergingColor(2, 2), [255, 0, 0], 'the largest positive is red');
  t.deepEqual(divergingColor(-4, 2), [0, 0, 255], 'beyond -vmax: blue (clamped)');
  t.deepEqual(divergingColor(1, 2, { positive: [0, 100, 0], strength: 0.5 }), [191, 216, 191], 'a quarter of the way to the colour given');
  t.deepEqual(divergingColor(Number.NaN, 1), [200, 200, 200], 'NaN is grey');
  const c = divergingHeatmap([[1, -1], [0, 0.5]], 4);
  t.deepEqual([c.width, c.height], [8, 8], 'cell x cell pixels per value');
  t.deepEqual(c.pixel(2, 2), [255, 0, 0], 'top left: +1 (the largest |value|) is red');
  t.deepEqual(c.pixel(6, 2), [0, 0, 255], 'top right: -1 is blue');
  t.deepEqual(c.pixel(6, 6), [255, 128, 128], 'bottom right: +0.5 half way');
  t.deepEqual(c.pixel(4, 1), [200, 200, 200], 'grid on the cells\' left edges');
  t.end();
});

test('viz: one canvas writes both fonts (3x5 upper-cased, 5x7 with descenders); lines, outlines and discs', (t) => {
  const c = new Canvas(40, 20, [0, 0, 0]);
  t.equal(c.text(1, 1, 'ab', [255, 255, 255]), textWidth('AB'), 'the 3x5 font upper-cases');
  t.equal(textWidth('ab', 2, FONT_5X7), 22, '5x7: 6 cells per glyph minus the last blank column, times the scale');
  t.equal(textWidth('', 1, FONT_3X5), 0, 'empty text has no width');
  const d = new Canvas(20, 20, [0, 0, 0]);
  d.text(0, 0, 'p', [255, 255, 255], 1, FONT_5X7);
  t.deepEqual(d.pixel(0, 2), [255, 255, 255], "a descender ('p') starts two rows lower");
  t.deepEqual(d.pixel(0, 0), [0, 0, 0], 'and leaves its top rows blank');
  const e = new Canvas(20, 20, [0, 0, 0]);
  e.strokeRect(2, 2, 12, 12, [255, 0, 0]);
  e.disc(16, 16, 2, [0, 255, 0]);
  t.deepEqual([e.pixel(7, 2), e.pixel(7, 7), e.pixel(16, 16)], [[255, 0, 0], [0, 0, 0], [0, 255, 0]], 'outline drawn, inside untouched, disc filled');
  t.end();
});
