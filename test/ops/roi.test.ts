import test from 'tape';
import { Tensor, tensor, arange, randn, zeros, Generator } from '../../lib/index.js';
import {
  roiAlign,
  roiPool,
  roiWarp,
  inspectRoiAlign,
  inspectRoiPool,
  roiPoolGeometry,
  roiAlignGeometry,
  roundHalfAwayFromZero,
  bilinearAxis,
  kernelTable,
} from '../../lib/ops/index.js';
import { ROI_WORKED_EXAMPLE } from '../../lib/ops/roi_inspect.js';
import { assertClose, assertGradcheck, assertThrowsMessage } from '../helpers.js';
import { assertBackendsAgree } from './helpers.js';

// The course's worked example: a 6x6 feature map (stride 32) and the box (10, 10, 124, 124).
const FEATURE = ROI_WORKED_EXAMPLE.feature.map((row) => [...row]);
const feature = () => tensor([[FEATURE]]);
const BOX = [...ROI_WORKED_EXAMPLE.roi];
const box = () => tensor([BOX]);
const STRIDE32 = { outputSize: 2, spatialScale: 1 / 32 };

test('roiAlign: the worked example (sampling ratio 1, aligned false), through the inspection API', (t) => {
  const x = feature();
  const bin00 = inspectRoiAlign(x, BOX, { ...STRIDE32, samplingRatio: 1, aligned: false }, [0, 0]);
  // The RoI in feature coordinates: 10/32 = 0.3125, 124/32 = 3.875; bins of 3.5625 / 2.
  t.deepEqual([bin00.roiStartW, bin00.roiStartH, bin00.roiEndW, bin00.roiEndH], [0.3125, 0.3125, 3.875, 3.875], 'the RoI maps to (0.3125, 0.3125, 3.875, 3.875)');
  t.deepEqual([bin00.binSizeH, bin00.binSizeW, bin00.gridH, bin00.gridW, bin00.count], [1.78125, 1.78125, 1, 1, 1], 'bin 1.78125 cells, one sample');
  t.equal(bin00.samples.length, 1, 'one sample point per bin');
  const s = bin00.samples[0]!;
  t.deepEqual([s.y, s.x], [1.203125, 1.203125], 'sample point (1.203125, 1.203125)');
  t.deepEqual([s.yLow, s.xLow, s.yHigh, s.xHigh], [1, 1, 2, 2], 'neighbours: rows 1-2, columns 1-2');
  t.deepEqual([s.u, s.v], [0.203125, 0.203125], 'u = v = 0.203125');
  assertClose(t, [s.f1, s.f2, s.f3, s.f4], [-1.6091, -0.7121, 1.6871, 0.2284], 'f1..f4 = -1.6091, -0.7121, 1.6871, 0.2284');
  assertClose(t, [s.w1, s.w2, s.w3, s.w4], [0.796875 ** 2, 0.203125 * 0.796875, 0.796875 * 0.203125, 0.203125 ** 2], 'bilinear weights (1-u)(1-v), u(1-v), (1-u)v, uv', 1e-12, 0);
  assertClose(t, s.w1 + s.w2 + s.w3 + s.w4, 1, 'the weights sum to 1', 1e-12, 0);
  assertClose(t, bin00.output, -0.8546, 'bin (0, 0) = -0.8546', 5e-5, 0);
  // The second sample coordinate on each axis: 0.3125 + 1.78125 + 0.890625.
  const bin11 = inspectRoiAlign(x, BOX, { ...STRIDE32, samplingRatio: 1 }, [1, 1]);
  t.deepEqual([bin11.samples[0]!.y, bin11.samples[0]!.x], [2.984375, 2.984375], 'sample point (2.984375, 2.984375)');
  const bins = [0, 1].map((ph) => [0, 1].map((pw) => inspectRoiAlign(x, BOX, { ...STRIDE32, samplingRatio: 1 }, [ph, pw]).output));
  assertClose(t, bins.flat(), [-0.8546, 0.3236, 0.2177, 0.0546], 'the four bins by inspection', 5e-5, 0);
  t.deepEqual(JSON.parse(JSON.stringify(bin00)), bin00, 'the inspection is a plain JSON-able object');
  t.end();
});

test('roiAlign: the worked example through the op, every sampling ratio and alignment (torchvision values)', (t) => {
  const x = feature();
  const op = (samplingRatio: number, aligned: boolean, outputSize = 2) => roiAlign(x, box(), { outputSize, spatialScale: 1 / 32, samplingRatio, aligned });
  assertClose(t, op(1, false), [[[[-0.8546, 0.3236], [0.2177, 0.0546]]]], 'sampling 1, aligned false: [[-0.8546, 0.3236], [0.2177, 0.0546]]', 5e-5, 0);
  // torchvision 0.14 (torchvision.ops.roi_align on the same tensor):
  assertClose(t, op(1, false), [[[[-0.8545519113540649, 0.3235850930213928], [0.21772032976150513, 0.05459321290254593]]]], 'sampling 1, aligned false (torchvision)');
  assertClose(t, op(1, true), [[[[-1.2910935878753662, -0.48629406094551086], [0.7460232973098755, 0.2379588484764099]]]], 'sampling 1, aligned true');
  assertClose(t, op(2, false), [[[[-0.46870994567871094, -0.16658179461956024], [0.37008488178253174, 0.2938617467880249]]]], 'sampling 2, aligned false');
  assertClose(t, op(2, true), [[[[-1.044019341468811, -0.5109654664993286], [0.6351186037063599, 0.23795883357524872]]]], 'sampling 2, aligned true');
  // Adaptive: ceil(1.78125) = 2 samples per axis, the same as sampling 2 here...
  assertClose(t, op(0, false), op(2, false), 'sampling 0 (adaptive) = ceil(1.78125) = 2 here');
  assertClose(t, roiAlign(x, box(), STRIDE32), op(2, false), 'the defaults: adaptive (-1), aligned false');
  // ... but 4 per axis for a single 3.5625-cell bin.
  t.equal(inspectRoiAlign(x, BOX, { outputSize: 1, spatialScale: 1 / 32, samplingRatio: 0 }, [0, 0]).gridH, 4, 'adaptive grid for one bin: ceil(3.5625) = 4');
  assertClose(t, op(0, false, 1), [[[[0.007163709029555321]]]], 'output 1, adaptive, aligned false (torchvision)');
  assertClose(t, op(0, true, 1), [[[[-0.17047680914402008]]]], 'output 1, adaptive, aligned true (torchvision)');
  t.end();
});

test('roiAlign: max mode is the largest bilinear sample (computed here by hand)', (t) => {
  const x = feature();
  // An independent bilinear interpolation (every sample here is well inside the map).
  const at = (y: number, xx: number) => {
    const [y0, x0] = [Math.floor(y), Math.floor(xx)];
    const [v, u] = [y - y0, xx - x0];
    const f = (r: number, c: number) => Math.fround(FEATURE[r]![c]!);
    return (1 - v) * (1 - u) * f(y0, x0) + (1 - v) * u * f(y0, x0 + 1) + v * (1 - u) * f(y0 + 1, x0) + v * u * f(y0 + 1, x0 + 1);
  };
  // Sampling 2: bin 1.78125, samples at 0.3125 + (0.5, 1.5) * 0.890625 and 1.78125 further.
  const coords = [
    [0.7578125, 1.6484375],
    [2.5390625, 3.4296875],
  ];
  const want: number[] = [];
  for (const ys of coords) for (const xs of coords) want.push(Math.max(...ys.flatMap((y) => xs.map((xx) => at(y, xx)))));
  const input = x.detach().requiresGrad_();
  const got = roiAlign(input, box(), { ...STRIDE32, samplingRatio: 2, mode: 'max' });
  assertClose(t, got, Float64Array.from(want), 'max over the 2x2 samples of each bin');
  const bin = inspectRoiAlign(x, BOX, { ...STRIDE32, samplingRatio: 2 }, [0, 0]);
  assertClose(t, bin.max, want[0]!, 'inspection reports the same max');
  // Gradient of bin (0, 0) only: the winning sample's four neighbours with its bilinear weights.
  got.backward(tensor([[[[1, 0], [0, 0]]]]));
  const win = bin.samples[bin.argmax]!;
  const expected = new Float64Array(36);
  expected[win.yLow * 6 + win.xLow] += win.w1;
  expected[win.yLow * 6 + win.xHigh] += win.w2;
  expected[win.yHigh * 6 + win.xLow] += win.w3;
  expected[win.yHigh * 6 + win.xHigh] += win.w4;
  assertClose(t, input.grad!, expected, "max mode's gradient goes to the argmax sample's four neighbours");
  t.end();
});

test('roiAlign: the classic arange(25) example, box (1, 1, 3, 3), output 4x4', (t) => {
  const x = arange(25).float().reshape(1, 1, 5, 5);
  const rows = (start: number) => [0, 1, 2, 3].map((i) => [0, 1, 2, 3].map((j) => start + 2.5 * i + 0.5 * j));
  // aligned false: bins of 0.5 cell from (1, 1); the adaptive grid is 1 sample, at bin centres.
  assertClose(t, roiAlign(x, tensor([[0, 1, 1, 3, 3]]), { outputSize: 4 }), [[rows(7.5)]], 'aligned false: rows start 7.5, 10, 12.5, 15, steps of 0.5');
  // aligned true: the box starts at (0.5, 0.5).
  assertClose(t, roiAlign(x, tensor([[0, 1, 1, 3, 3]]), { outputSize: 4, aligned: true }), [[rows(4.5)]], 'aligned true: rows start 4.5, 7, 9.5, 12');
  t.end();
});

test('roiPool: the worked example (quantized region cells 0..4, bins {0..2} and {2..4})', (t) => {
  const x = feature();
  const bin00 = inspectRoiPool(x, BOX, STRIDE32, [0, 0]);
  t.deepEqual(bin00.scaled, { x1: 0.3125, y1: 0.3125, x2: 3.875, y2: 3.875 }, 'the box on the feature map, before rounding');
  t.deepEqual([bin00.roiStartW, bin00.roiStartH, bin00.roiEndW, bin00.roiEndH], [0, 0, 4, 4], 'round(0.3125) = 0, round(3.875) = 4');
  t.deepEqual([bin00.roiWidth, bin00.roiHeight, bin00.binSizeH, bin00.binSizeW], [5, 5, 2.5, 2.5], '5 cells (inclusive), bins of 2.5');
  t.deepEqual([bin00.hstart, bin00.hend, bin00.wstart, bin00.wend], [0, 3, 0, 3], 'bin (0, 0): rows and columns 0..2');
  const bin11 = inspectRoiPool(x, BOX, STRIDE32, [1, 1]);
  t.deepEqual([bin11.hstart, bin11.hend, bin11.wstart, bin11.wend], [2, 5, 2, 5], 'bin (1, 1): rows and columns 2..4 (row and column 2 are shared)');
  t.equal(bin11.values.length, 3, 'three rows of values');
  assertClose(t, bin11.values[2]!, [2.0242, -0.0865, 2.3571], 'the last row of bin (1, 1)');
  t.deepEqual(bin11.argmax, { y: 4, x: 4 }, 'its max sits at (4, 4)');
  const bins = [0, 1].map((ph) => [0, 1].map((pw) => inspectRoiPool(x, BOX, STRIDE32, [ph, pw]).max));
  assertClose(t, bins.flat(), [1.6871, 0.4676, 2.0242, 2.3571], 'the four maxima by inspection');
  const input = x.detach().requiresGrad_();
  const y = roiPool(input, box(), STRIDE32);
  assertClose(t, y, [[[[1.6871, 0.4676], [2.0242, 2.3571]]]], 'roiPool = [[1.6871, 0.4676], [2.0242, 2.3571]]');
  y.backward(tensor([[[[1, 2], [3, 4]]]]));
  const grad = new Float64Array(36);
  [grad[2 * 6 + 1], grad[2 * 6 + 3], grad[4 * 6 + 2], grad[4 * 6 + 4]] = [1, 2, 3, 4];
  assertClose(t, input.grad!, grad, 'each bin sends its gradient to its argmax cell');
  t.end();
});

test('roiPool: C rounding (halves away from zero), reversed boxes, ties in values', (t) => {
  t.deepEqual([2.5, -2.5, -0.5, 0.5, 1.4999999, -1.5].map(roundHalfAwayFromZero), [3, -3, -1, 1, 1, -2], 'round: 2.5 -> 3, -2.5 -> -3, -0.5 -> -1');
  // Scaled coordinates -0.5 and 2.5 (scale 1/16): the region starts at -1, not 0 (Math.round).
  const g = roiPoolGeometry(Float32Array.from([0, -8, -8, 40, 40]), { H: 6, W: 6, K: 1, PH: 2, PW: 2 }, 1 / 16);
  t.deepEqual([g.roiStartW[0], g.roiEndW[0], g.binSizeW[0]], [-1, 3, 2.5], 'round(-0.5) = -1, round(2.5) = 3, five cells');
  t.deepEqual([g.wstart[0], g.wend[0], g.wstart[1], g.wend[1]], [0, 2, 1, 4], 'bins: cells -1..1 (clipped to 0..1) and 1..3 (ends exclusive)');

  const x = randn([1, 2, 6, 6], { generator: new Generator(5) });
  // torchvision clamps a reversed box to one cell: a 1x1 region at the rounded (x1, y1).
  const reversed = roiPool(x, tensor([[0, 4.2, 3.6, 1, 1]]), { outputSize: 2 });
  const cell = [0, 1].map((c) => x.data[c * 36 + 4 * 6 + 4]!);
  assertClose(t, reversed, [[[[cell[0]!, cell[0]!], [cell[0]!, cell[0]!]], [[cell[1]!, cell[1]!], [cell[1]!, cell[1]!]]]], 'reversed box: every bin is the cell at (round(3.6), round(4.2))');

  // Equal values: the first maximum in row-major order takes the whole gradient.
  const flat = tensor([[[[1, 2, 2], [2, 0, 2], [1, 2, 1]]]]).requiresGrad_();
  const y = roiPool(flat, tensor([[0, 0, 0, 2, 2]]), { outputSize: 1 });
  y.backward();
  assertClose(t, flat.grad!, [[[[0, 1, 0], [0, 0, 0], [0, 0, 0]]]], 'ties: the first 2 (row 0, column 1) gets the gradient');
  t.end();
});

test('roiAlign: corner cases of torchvision\'s sampling (outside samples count, reversed and zero boxes)', (t) => {
  const x = randn([1, 1, 5, 6], { generator: new Generator(9) });
  t.deepEqual(bilinearAxis(-1.5, 5), null, 'a coordinate below -1 reads 0');
  t.deepEqual(bilinearAxis(-0.5, 5), { low: 0, high: 1, frac: 0 }, 'a coordinate in [-1, 0] clamps to 0');
  t.deepEqual(bilinearAxis(4.5, 5), { low: 4, high: 4, frac: 0 }, 'a coordinate beyond H - 1 snaps to the last row');
  t.deepEqual(bilinearAxis(5.5, 5), null, 'a coordinate above H reads 0');

  // A box half outside on the right: the outside samples read 0 but still divide the average.
  const half = inspectRoiAlign(x, [0, 4, 1, 10, 3], { outputSize: 1, samplingRatio: 4 }, [0, 0]);
  const inside = half.samples.filter((s) => s.inside);
  t.ok(inside.length > 0 && inside.length < half.samples.length, 'some samples inside, some outside');
  assertClose(t, half.output, inside.reduce((a, s) => a + s.value, 0) / 16, 'average = sum(inside samples) / 16');
  assertClose(t, roiAlign(x, tensor([[0, 4, 1, 10, 3]]), { outputSize: 1, samplingRatio: 4 }), [[[[half.output]]]], 'the op agrees with the inspection');
  assertClose(t, roiAlign(x, tensor([[0, 20, 20, 30, 30]]), { outputSize: 2 }), [[[[0, 0], [0, 0]]]], 'a box far outside gives zeros');

  // Reversed boxes: aligned false clamps to one cell from (x1, y1); aligned true walks backwards.
  const sameAs = (a: number[], b: number[], options: Parameters<typeof roiAlign>[2], message: string, flip = false) => {
    const ya = roiAlign(x, tensor([a]), options);
    let yb = roiAlign(x, tensor([b]), options);
    if (flip) yb = new Tensor(Float32Array.from(yb.data).reverse(), yb.shape);
    assertClose(t, ya, yb, message);
  };
  sameAs([0, 4, 3, 1, 1], [0, 4, 3, 5, 4], { outputSize: 2, samplingRatio: 2 }, 'aligned false: a reversed box is the 1x1-cell box at (x1, y1)');
  sameAs([0, 4, 4, 1, 1], [0, 1, 1, 4, 4], { outputSize: 2, samplingRatio: 2, aligned: true }, 'aligned true, sampling 2: a reversed box samples the mirrored grid', true);
  assertClose(t, roiAlign(x, tensor([[0, 4, 4, 1, 1]]), { outputSize: 2, aligned: true }), [[[[0, 0], [0, 0]]]], 'aligned true, adaptive: ceil(negative) samples, output 0');
  // A zero-size box: aligned false clamps it to 1x1 cell; aligned true and adaptive has no samples.
  sameAs([0, 2, 2, 2, 2], [0, 2, 2, 3, 3], { outputSize: 2, samplingRatio: 2 }, 'aligned false: a zero-size box is a 1x1-cell box');
  const zero = inspectRoiAlign(x, [0, 2, 2, 2, 2], { outputSize: 2, aligned: true }, [0, 0]);
  t.deepEqual([zero.gridH, zero.count, zero.samples.length, zero.output], [0, 1, 0, 0], 'aligned true, adaptive: no samples, count 1, output 0');
  t.end();
});

test('roiAlign / roiPool: geometry is computed in float32 as torchvision does', (t) => {
  // 0.1 is not a float32: torchvision multiplies float32(0.1) by the float32 scale.
  const g = roiAlignGeometry(Float32Array.from([0, 0.1, 0.1, 7.3, 7.3]), { K: 1, PH: 7, PW: 7 }, { spatialScale: 1, samplingRatio: 2, aligned: false });
  t.equal(g.roiStartW[0], Math.fround(0.1), 'the start is float32(0.1)');
  t.equal(g.binSizeW[0], Math.fround(Math.fround(Math.fround(7.3) - Math.fround(0.1)) / 7), 'the bin size is a float32 quotient');
  t.equal(g.sampleX.length, 14, '7 bins x 2 samples per axis');
  const g64 = roiAlignGeometry([0, 0.1, 0.1, 7.3, 7.3], { K: 1, PH: 7, PW: 7 }, { spatialScale: 1, samplingRatio: 2, aligned: false }, false);
  t.equal(g64.roiStartW[0], 0.1, 'float64 inputs keep float64 geometry');
  t.end();
});

const G = new Generator(42);
/** RoIs of every kind on a 5x6 map (image = map at scale 1/2): inside, partial, tiny, outside, large. */
function mixedRois(n: number): Tensor {
  const rows = [
    [0, 1.3, 2.1, 7.7, 6.2],
    [n - 1, -3.1, 5.2, 4.4, 13.1],
    [0, 6.1, 4.3, 6.9, 4.9],
    [n - 1, 30.2, 1.1, 36.5, 5.3],
    [0, -1.2, -0.7, 12.9, 11.4],
    [n - 1, 2.2, 3.3, 2.2, 3.3],
  ];
  return tensor(rows);
}

test('roiAlign: gradcheck (reference, float64), avg and max, aligned false and true', (t) => {
  const x = randn([2, 2, 5, 6], { generator: G, requiresGrad: true });
  const rois = mixedRois(2);
  for (const aligned of [false, true]) {
    for (const samplingRatio of [2, 0]) {
      assertGradcheck(t, (a) => roiAlign(a, rois, { outputSize: [2, 3], spatialScale: 0.5, samplingRatio, aligned }), [x], `avg, sampling ${samplingRatio}, aligned ${aligned}`);
    }
  }
  assertGradcheck(t, (a) => roiAlign(a, rois, { outputSize: 2, spatialScale: 0.5, samplingRatio: 2, mode: 'max' }), [x], 'max mode, sampling 2');
  t.end();
});

test('roiPool: gradcheck (reference, float64) with distinct values', (t) => {
  const x = randn([2, 2, 5, 6], { generator: G, requiresGrad: true });
  assertGradcheck(t, (a) => roiPool(a, mixedRois(2), { outputSize: [2, 3], spatialScale: 0.5 }), [x], 'roiPool');
  t.end();
});

test('roiAlign / roiPool: every backend agrees with the reference (outputs and grad_input)', (t) => {
  const x = randn([2, 3, 7, 9], { generator: G });
  const rois = tensor([
    [0, 1.3, 2.1, 11.7, 9.2],
    [1, -3.1, 5.2, 4.4, 16.1],
    [0, 13.1, 4.3, 13.9, 4.9],
    [1, 30.2, 1.1, 36.5, 5.3],
    [0, -1.2, -0.7, 19.9, 15.4],
    [1, 2.2, 3.3, 2.2, 3.3],
    [0, 9.5, 8.1, 3.2, 2.4],
  ]);
  const g = randn([7, 3, 3, 4], { generator: G });
  const run = (f: (a: Tensor) => Tensor) => () => {
    const a = x.detach().requiresGrad_();
    const y = f(a);
    y.backward(g);
    return { output: y, gradInput: a.grad! };
  };
  for (const aligned of [false, true]) {
    for (const samplingRatio of [0, 2]) {
      assertBackendsAgree(t, `roiAlign avg, sampling ${samplingRatio}, aligned ${aligned}`, run((a) => roiAlign(a, rois, { outputSize: [3, 4], spatialScale: 0.5, samplingRatio, aligned })));
    }
  }
  assertBackendsAgree(t, 'roiAlign max', run((a) => roiAlign(a, rois, { outputSize: [3, 4], spatialScale: 0.5, samplingRatio: 2, mode: 'max' })));
  assertBackendsAgree(t, 'roiPool', run((a) => roiPool(a, rois, { outputSize: [3, 4], spatialScale: 0.5 })));
  // A zoomed-in RoI (many samples per cell) exercises the gather's sample ranges.
  const zoom = tensor([[0, 4.1, 4.6, 6.3, 5.9]]);
  const gz = randn([1, 3, 14, 14], { generator: G });
  const runZoom = (f: (a: Tensor) => Tensor) => () => {
    const a = x.detach().requiresGrad_();
    const y = f(a);
    y.backward(gz);
    return { output: y, gradInput: a.grad! };
  };
  assertBackendsAgree(t, 'roiAlign, 14x14 from a 2-cell box', runZoom((a) => roiAlign(a, zoom, { outputSize: 14, samplingRatio: 2 })));
  assertBackendsAgree(t, 'roiPool, 14x14 from a 2-cell box', runZoom((a) => roiPool(a, zoom, { outputSize: 14 })));
  t.end();
});

test('roiAlign / roiPool: backends agree on a map of many 8x8 tiles (the gpu gather lists RoIs per tile)', (t) => {
  const gen = new Generator(17);
  const x = randn([2, 2, 19, 27], { generator: gen });
  const rows: number[][] = [];
  let seed = 7;
  const u = () => (seed = (seed * 16807) % 2147483647) / 2147483647; // a fixed stream
  for (let k = 0; k < 16; k++) {
    const x1 = Math.round((u() * 30 - 3) * 8) / 4;
    const y1 = Math.round((u() * 22 - 3) * 8) / 4;
    rows.push([k % 2, x1, y1, x1 + 1 + u() * 20, y1 + 1 + u() * 14].map((v, i) => (i === 0 ? v : v * 4)));
  }
  const rois = tensor(rows);
  const g = randn([16, 2, 5, 5], { generator: gen });
  const run = (f: (a: Tensor) => Tensor) => () => {
    const a = x.detach().requiresGrad_();
    const y = f(a);
    y.backward(g);
    return { output: y, gradInput: a.grad! };
  };
  assertBackendsAgree(t, 'roiAlign avg, 16 RoIs on 19x27', run((a) => roiAlign(a, rois, { outputSize: 5, spatialScale: 0.25 })));
  assertBackendsAgree(t, 'roiAlign max, 16 RoIs on 19x27', run((a) => roiAlign(a, rois, { outputSize: 5, spatialScale: 0.25, samplingRatio: 2, mode: 'max', aligned: true })));
  assertBackendsAgree(t, 'roiPool, 16 RoIs on 19x27', run((a) => roiPool(a, rois, { outputSize: 5, spatialScale: 0.25 })));
  t.end();
});

test('roiAlign / roiPool: no RoIs give an empty output and a zero gradient', (t) => {
  const none = zeros([0, 5]);
  for (const [name, f] of [
    ['roiAlign', (a: Tensor) => roiAlign(a, none, { outputSize: [2, 3] })],
    ['roiPool', (a: Tensor) => roiPool(a, none, { outputSize: [2, 3] })],
  ] as const) {
    assertBackendsAgree(t, `${name}, no RoIs`, () => {
      const a = randn([1, 2, 4, 4], { generator: new Generator(1) }).requiresGrad_();
      const y = f(a);
      y.sum().backward();
      t.deepEqual(y.shape, [0, 2, 2, 3], `${name}: output [0, C, PH, PW]`);
      t.ok(Array.from(a.grad!.data).every((v) => v === 0), `${name}: zero gradient, no NaN`);
      return { output: y, gradInput: a.grad! };
    });
  }
  t.end();
});

test('roiAlign / roiPool / inspection: bad arguments give clear errors', (t) => {
  const x = randn([2, 3, 4, 4]);
  const r = tensor([[0, 1, 1, 3, 3]]);
  assertThrowsMessage(t, () => roiAlign(randn([3, 4, 4]), r, { outputSize: 2 }), 'roiAlign: input must be 4-D, got shape [3,4,4]', 'rank of input');
  assertThrowsMessage(t, () => roiPool(x, tensor([[1, 1, 3, 3]]), { outputSize: 2 }), 'roiPool: rois must be [K, 5] rows [batchIndex, x1, y1, x2, y2], got shape [1,4]', 'width of rois');
  assertThrowsMessage(t, () => roiAlign(x, tensor([[2, 1, 1, 3, 3]]), { outputSize: 2 }), ['roiAlign: rois[0] has batch index 2', 'input [2,3,4,4] has images 0..1'], 'batch index out of range');
  assertThrowsMessage(t, () => roiAlign(x, tensor([[0, 1, 1, 3, 3], [0.5, 1, 1, 3, 3]]), { outputSize: 2 }), 'rois[1] has batch index 0.5', 'non-integer batch index');
  assertThrowsMessage(t, () => roiPool(x, tensor([[0, 1, NaN, 3, 3]]), { outputSize: 2 }), 'roiPool: rois[0] has a non-finite coordinate', 'NaN coordinate');
  assertThrowsMessage(t, () => roiAlign(x, tensor([[0, 1, 1, Infinity, 3]]), { outputSize: 2 }), 'roiAlign: rois[0] has a non-finite coordinate', 'infinite coordinate');
  assertThrowsMessage(t, () => roiAlign(x, tensor([[0, 1, 1, 3, 3]], { dtype: 'int32' }), { outputSize: 2 }), 'roiAlign: rois must be a floating tensor', 'integer rois');
  assertThrowsMessage(t, () => roiAlign(x, r, { outputSize: 0 }), 'roiAlign: outputSize must be a positive integer or a pair of them, got 0', 'output size 0');
  assertThrowsMessage(t, () => roiPool(x, r, { outputSize: [2, 2.5] as unknown as [number, number] }), 'roiPool: outputSize must be a positive integer', 'fractional output size');
  assertThrowsMessage(t, () => roiPool(x, r, {} as unknown as { outputSize: number }), 'roiPool: outputSize is required', 'missing output size');
  assertThrowsMessage(t, () => roiAlign(x, r, { outputSize: 2, spatialScale: 0 }), 'roiAlign: spatialScale must be a positive finite number, got 0', 'scale 0');
  assertThrowsMessage(t, () => roiAlign(x, r, { outputSize: 2, samplingRatio: 1.5 }), 'roiAlign: samplingRatio must be an integer', 'fractional sampling ratio');
  assertThrowsMessage(t, () => roiAlign(x, r, { outputSize: 2, mode: 'min' as 'max' }), "roiAlign: mode must be 'avg' or 'max'", 'unknown mode');
  assertThrowsMessage(t, () => roiAlign(randn([1, 3, 0, 4]), r, { outputSize: 2 }), 'roiAlign: input must have a non-empty spatial size', 'empty map');
  assertThrowsMessage(t, () => inspectRoiAlign(x, [0, 1, 1, 3], { outputSize: 2 }, [0, 0]), 'inspectRoiAlign: roi must be [batchIndex, x1, y1, x2, y2], got 4 numbers', 'short roi');
  assertThrowsMessage(t, () => inspectRoiPool(x, BOX, { outputSize: 2 }, [2, 0]), 'inspectRoiPool: bin must be [ph, pw] with 0 <= ph < 2 and 0 <= pw < 2, got [2,0]', 'bin out of range');
  assertThrowsMessage(t, () => inspectRoiAlign(x, BOX, { outputSize: 2, channel: 3 }, [0, 0]), 'inspectRoiAlign: channel must be an integer in 0..2, got 3', 'channel out of range');
  t.end();
});

test('roi kernels: the gpu backend has its own kernel for every piece (no reference fallback)', (t) => {
  const rows = kernelTable().filter((r) => r.kernel.startsWith('roi'));
  t.equal(rows.length, 6, 'six roi kernels');
  for (const row of rows) {
    const gpu = row.backends.find((b) => b.backend === 'gpu');
    t.ok(gpu !== undefined && gpu.note === undefined, `${row.kernel}: gpu.js kernel of its own`);
  }
  t.end();
});

test('roiWarp: the worked example by hand (box rounded to cells 0..4, then bilinear samples)', (t) => {
  // 10/32 = 0.3125 rounds to 0, 124/32 = 3.875 to 4: the quantized RoI spans cells 0..4, each
  // 2x2 bin is 2 cells wide, and one sample per bin falls at its centre (1 or 3), a whole cell:
  // the output is the feature map's value there, where RoIAlign interpolates between cells.
  const out = roiWarp(feature(), box(), { ...STRIDE32, samplingRatio: 1 });
  assertClose(t, out, [[[[FEATURE[1]![1]!, FEATURE[1]![3]!], [FEATURE[3]![1]!, FEATURE[3]![3]!]]]], 'cells (1,1), (1,3), (3,1), (3,3)', 1e-6);
  const quantizedAlign = roiAlign(feature(), tensor([[0, 0, 0, 128, 128]]), { ...STRIDE32, samplingRatio: 2 });
  assertClose(t, roiWarp(feature(), box(), { ...STRIDE32, samplingRatio: 2 }), quantizedAlign, 'RoIWarp = RoIAlign of the rounded box (0, 0, 128, 128)', 1e-6);
  const align = roiAlign(feature(), box(), { ...STRIDE32, samplingRatio: 1 });
  t.ok(Math.abs(align.data[0]! - out.data[0]!) > 0.1, `RoIAlign differs (${align.data[0]!.toFixed(4)} vs ${out.data[0]!.toFixed(4)}): the rounding is the whole difference`);
  t.end();
});

test('roiWarp: gradcheck (reference, float64), avg and max; aligned is refused', (t) => {
  const x = randn([2, 2, 5, 6], { generator: G, requiresGrad: true });
  const rois = mixedRois(2);
  for (const mode of ['avg', 'max'] as const) {
    assertGradcheck(t, (a) => roiWarp(a, rois, { outputSize: [2, 3], spatialScale: 0.5, samplingRatio: 2, mode }), [x], `roiWarp ${mode}`);
  }
  assertThrowsMessage(t, () => roiWarp(x, rois, { outputSize: 2, spatialScale: 0.5, aligned: true }), 'roiWarp: the RoI is quantized to whole cells, so aligned (a half-cell shift) does not apply', 'aligned refused');
  t.end();
});
