import test from 'tape';
import { Tensor } from '../../../lib/tensor/index.js';
import { boxIou, nms, batchedNms, clipBoxesToImage, removeSmallBoxes, BoxCoder, AnchorGenerator, generateCellAnchors, roundHalfToEven, Matcher, mapLevels, BalancedPositiveNegativeSampler } from '../../../lib/maskrcnn/index.js';

const boxes = (rows: number[][]): Tensor => new Tensor(Float32Array.from(rows.flat()), [rows.length, 4]);

test('box ops by hand: IoU, clip, small boxes, NMS (strict >), batched NMS', (t) => {
  const iou = boxIou(boxes([[0, 0, 2, 2]]), boxes([[1, 1, 3, 3], [0, 0, 2, 2], [5, 5, 6, 6]]));
  t.deepEqual(Array.from(iou.data), [Math.fround(1 / 7), 1, 0], 'IoU 1/7, 1, 0');
  t.deepEqual(Array.from(clipBoxesToImage(boxes([[-1, -2, 12, 5]]), [4, 10]).data), [0, 0, 10, 4], 'clip to [0, w] x [0, h]');
  t.deepEqual(Array.from(removeSmallBoxes(boxes([[0, 0, 1, 1], [0, 0, 0.5, 3]]), 1)), [0], 'width 0.5 < 1 dropped');
  const b = boxes([[0, 0, 10, 10], [1, 0, 11, 10], [20, 20, 30, 30], [0, 0, 10, 10]]);
  const s = new Tensor(Float32Array.from([0.9, 0.8, 0.7, 0.6]), [4]);
  t.deepEqual(Array.from(nms(b, s, 0.5).data), [0, 2], 'IoU 9/11 suppresses, disjoint survives');
  t.deepEqual(Array.from(nms(b, s, 1).data), [0, 1, 2, 3], 'IoU 1 (an identical box) is not > 1: kept');
  t.deepEqual(Array.from(batchedNms(b, s, [0, 1, 0, 0], 0.5).data), [0, 1, 2], 'other category never suppresses');
  t.end();
});

test('box coder, anchors, matcher, level mapper, sampler by hand', (t) => {
  const coder = new BoxCoder([10, 10, 5, 5]);
  const p = boxes([[0, 0, 10, 20]]);
  const g = boxes([[5, 0, 15, 40]]);
  const enc = coder.encode(g, p);
  t.deepEqual(Array.from(enc.data).map((v) => +v.toFixed(5)), [5, 5, 0, +(5 * Math.log(2)).toFixed(5)], 'encode: 10*5/10, 10*10/20, 0, 5 log 2');
  t.deepEqual(Array.from(coder.decode(enc, p).data).map((v) => +v.toFixed(4)), [5, 0, 15, 40], 'decode inverts encode');
  t.equal(roundHalfToEven(12.5), 12, 'torch.round halves to even');
  t.deepEqual(Array.from(generateCellAnchors([32], [0.5, 1, 2]).data), [-23, -11, 23, 11, -16, -16, 16, 16, -11, -23, 11, 23], 'the paper\'s 32-pixel cell anchors');
  const anchors = new AnchorGenerator([[32]], [[1]]).gridAnchors([8, 8], [[2, 2]]);
  t.deepEqual(Array.from(anchors.data.subarray(0, 8)), [-16, -16, 16, 16, 4 - 16, -16, 4 + 16, 16], 'level, y, x order; stride 8 // 2 = 4 at top-left corners');
  const m = new Matcher(0.7, 0.3, true).forward(new Tensor(Float32Array.from([0.9, 0.5, 0.1, 0.2, 0.6, 0.2]), [2, 3]));
  t.deepEqual(Array.from(m.data), [0, 1, -1], 'IoU 0.9 match, 0.6 = GT 1\'s best (low-quality), 0.2 < 0.3 background');
  t.deepEqual(Array.from(new Matcher(0.7, 0.3, false).forward(new Tensor(Float32Array.from([0.9, 0.5, 0.1, 0.2, 0.6, 0.2]), [2, 3])).data), [0, -2, -1], 'without low-quality: between thresholds = -2');
  t.deepEqual(Array.from(mapLevels(boxes([[0, 0, 224, 224], [0, 0, 112, 112], [0, 0, 16, 16], [0, 0, 1000, 1000]]))), [2, 1, 0, 3], '224 -> P4; 112 -> P3; clamped to P2 / P5');
  const sampled = new BalancedPositiveNegativeSampler(4, 0.5).forward([new Tensor(Float32Array.from([1, 1, 1, 0, 0, 0, -1]), [7])])[0]!;
  t.deepEqual([sampled.positive.reduce((a, b) => a + b, 0), sampled.negative.reduce((a, b) => a + b, 0), sampled.positive[6]! + sampled.negative[6]!], [2, 2, 0], '2 positives, 2 negatives, ignored never sampled');
  t.end();
});

test('batchedNms(topK): the first topK of the full result (early stop per category); touching boxes never suppress at thresholds >= 0', (t) => {
  let seed = 12345;
  const rand = (): number => {
    seed = (seed * 1103515245 + 12345) % 2147483648;
    return seed / 2147483648;
  };
  for (let trial = 0; trial < 5; trial++) {
    const n = 300;
    const rows: number[][] = [];
    for (let i = 0; i < n; i++) {
      const x = rand() * 100;
      const y = rand() * 100;
      rows.push([x, y, x + 2 + rand() * 30, y + 2 + rand() * 30]);
    }
    const b = boxes(rows);
    // Rounded scores so that ties (broken by index) occur.
    const s = new Tensor(Float32Array.from({ length: n }, () => Math.round(rand() * 50) / 50), [n]);
    const cats = Array.from({ length: n }, () => Math.floor(rand() * 4));
    for (const thresh of [0.3, 0.7]) {
      const full = Array.from(batchedNms(b, s, cats, thresh).data);
      for (const k of [0, 1, 7, 40, 1000]) {
        t.deepEqual(Array.from(batchedNms(b, s, cats, thresh, k).data), full.slice(0, k), `trial ${trial}, IoU ${thresh}, topK ${k}`);
      }
    }
  }
  const touching = boxes([[0, 0, 10, 10], [10, 0, 20, 10], [0, 10, 10, 20]]);
  const s3 = new Tensor(Float32Array.from([0.9, 0.8, 0.7]), [3]);
  t.deepEqual(Array.from(nms(touching, s3, 0).data), [0, 1, 2], 'IoU 0 is not > 0: boxes that only touch survive');
  t.deepEqual(Array.from(nms(touching, s3, -0.5).data), [0], 'a negative threshold suppresses even disjoint boxes (IoU 0 > -0.5)');
  t.end();
});
