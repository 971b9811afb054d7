import test from 'tape';
import { fileURLToPath } from 'node:url';
import { tensor, randn, Generator, type Tensor } from '../../lib/index.js';
import {
  interpolate,
  interpolateScale,
  linearSourceTable,
  nearestSourceIndices,
  withBackend,
  type InterpolateOptions,
} from '../../lib/ops/index.js';
import { setInterpolateIndexLimit } from '../../lib/ops/gpu/interpolate.js';
import { runParity, formatLine } from '../../tools/parity/harness.js';
import { assertClose, assertGradcheck, assertThrowsMessage } from '../helpers.js';
import { assertBackendsAgree, backendsUnderTest } from './helpers.js';

/** Runs interpolate forward and backward with `gradOutput` (default: ones) and returns both. */
function resizeWithGrad(x: Tensor, options: InterpolateOptions, gradOutput?: Tensor): { output: Tensor; gradInput: Tensor } {
  const xi = x.detach().requiresGrad_();
  const output = interpolate(xi, options);
  if (gradOutput === undefined) output.sum().backward();
  else output.backward(gradOutput);
  return { output, gradInput: xi.grad! };
}

test('interpolate nearest: 2x upsampling by hand (FPN top-down), by size and by scaleFactor', (t) => {
  const x = tensor([[[[1, 2], [3, 4]]]]);
  const want = [[[[1, 1, 2, 2], [1, 1, 2, 2], [3, 3, 4, 4], [3, 3, 4, 4]]]];
  const bySize = resizeWithGrad(x, { size: [4, 4], mode: 'nearest' });
  assertClose(t, bySize.output, want, 'size [4, 4]');
  assertClose(t, bySize.gradInput, [[[[4, 4], [4, 4]]]], 'each input pixel was copied 4 times');
  assertClose(t, interpolate(x, { size: 4, mode: 'nearest' }), want, 'size 4');
  assertClose(t, interpolate(x, { scaleFactor: 2, mode: 'nearest' }), want, 'scaleFactor 2');
  assertClose(t, interpolate(x, { scaleFactor: [1, 2], mode: 'nearest' }), [[[[1, 1, 2, 2], [3, 3, 4, 4]]]], 'scaleFactor [1, 2]');
  t.end();
});

test('interpolate nearest: the 2x fast paths (doubled columns, repeated rows) give the general loops\' values', (t) => {
  // 2x by size takes the doubling paths of the reference kernels; 2x rows with 3/2 columns does
  // not (the column table is not a doubling) and only copies repeated rows.
  const gen = new Generator(11);
  const x = randn([2, 3, 3, 5], { generator: gen });
  const g = randn([2, 3, 6, 10], { generator: gen });
  const { output, gradInput } = resizeWithGrad(x, { size: [6, 10], mode: 'nearest' }, g);
  const X = x.data;
  const G = g.data;
  const wantY = new Float32Array(2 * 3 * 6 * 10);
  const wantG = new Float32Array(2 * 3 * 3 * 5);
  for (let p = 0; p < 6; p++) {
    for (let oh = 0; oh < 6; oh++) {
      for (let ow = 0; ow < 10; ow++) {
        const o = (p * 6 + oh) * 10 + ow;
        const i = (p * 3 + (oh >> 1)) * 5 + (ow >> 1);
        wantY[o] = X[i]!;
        wantG[i] = Math.fround(wantG[i]! + G[o]!);
      }
    }
  }
  t.deepEqual(Array.from(output.data), Array.from(wantY), 'forward: each pixel copied to a 2x2 block');
  t.deepEqual(Array.from(gradInput.data), Array.from(wantG), 'backward: the same float32 sums, in the same order');
  const odd = resizeWithGrad(x, { size: [6, 7], mode: 'nearest' }, randn([2, 3, 6, 7], { generator: gen }));
  const src = nearestSourceIndices(5, 7, interpolateScale(5, 7));
  for (let oh = 0; oh < 6; oh++) {
    for (let ow = 0; ow < 7; ow++) {
      if (odd.output.data[oh * 7 + ow] !== X[(oh >> 1) * 5 + src[ow]!]) t.fail(`[6, 7] output at ${oh}, ${ow}`);
    }
  }
  t.pass('[6, 7]: repeated rows copied, columns through the table');
  t.end();
});

test('interpolate bilinear: 2x on a 2x2 input, align_corners false, by hand', (t) => {
  // Per axis: scale 1/2, src = (dst + 0.5) / 2 - 0.5 = -0.25 (clamped to 0), 0.25, 0.75, 1.25;
  // the last has index0 = 1 = in - 1, so index1 = 1 too: [a, b] -> [a, (3a + b)/4, (a + 3b)/4, b].
  const x = tensor([[[[1, 2], [3, 4]]]]);
  const { output, gradInput } = resizeWithGrad(x, { size: [4, 4], mode: 'bilinear', alignCorners: false });
  assertClose(
    t,
    output,
    [[[[1, 1.25, 1.75, 2], [1.5, 1.75, 2.25, 2.5], [2.5, 2.75, 3.25, 3.5], [3, 3.25, 3.75, 4]]]],
    'values (torch gives the same)',
  );
  // Per axis each input's weights sum to 2 (1 + 0.75 + 0.25 and 0.25 + 0.75 + 1): 2 x 2 = 4.
  assertClose(t, gradInput, [[[[4, 4], [4, 4]]]], 'gradient of the sum');
  const table = linearSourceTable(2, 4, interpolateScale(2, 4));
  t.deepEqual([...table.index0], [0, 0, 0, 1], 'index0');
  t.deepEqual([...table.index1], [1, 1, 1, 1], 'index1 clamped to in - 1');
  t.deepEqual([...table.lambda1], [0, 0.25, 0.75, 0.25], 'lambda1');
  t.end();
});

test("interpolate: PyTorch's index arithmetic (float32 scale, 2x and identity shortcuts, 1/scaleFactor)", (t) => {
  // 14 -> 46: scale = float32(14/46); float32(23 * scale) = 6.9999995, so row 23 reads row 6,
  // where the exact rational floor(23 * 14 / 46) is 7 (oracle SPEC point 13).
  const rows = nearestSourceIndices(14, 46, interpolateScale(14, 46));
  t.equal(rows[23], 6, '14 -> 46: output row 23 reads input row 6');
  t.equal(Math.floor((23 * 14) / 46), 7, '(the exact floor would be 7)');
  const col = interpolate(tensor(Array.from({ length: 14 }, (_, i) => i), { shape: [1, 1, 14, 1] }), { size: [46, 1], mode: 'nearest' });
  t.equal(col.data[23], 6, 'the op reads the same row');

  // scaleFactor 1.7 on 5 rows: output floor(8.5) = 8 either way; the kernel scale differs.
  const x = tensor([0, 1, 2, 3, 4], { shape: [1, 1, 5, 1] });
  assertClose(t, interpolate(x, { scaleFactor: [1.7, 1], mode: 'nearest' }), [[[[0], [0], [1], [1], [2], [2], [3], [4]]]], 'scale 1/1.7 (torch)');
  assertClose(
    t,
    interpolate(x, { scaleFactor: [1.7, 1], mode: 'nearest', recomputeScaleFactor: true }),
    [[[[0], [0], [1], [1], [2], [3], [3], [4]]]],
    'recomputeScaleFactor: scale 5/8 (torch)',
  );
  // Output 10 = 2 x 5 from scaleFactor 2.1: PyTorch uses dst >> 1, not floor(dst / 2.1).
  assertClose(t, interpolate(x, { scaleFactor: [2.1, 1], mode: 'nearest' }), [[[[0], [0], [1], [1], [2], [2], [3], [3], [4], [4]]]], '2x shortcut');
  // Output 3 = input 3 from scaleFactor 1.2: identity, not floor(dst / 1.2).
  const three = tensor([0, 1, 2], { shape: [1, 1, 3, 1] });
  assertClose(t, interpolate(three, { scaleFactor: [1.2, 1], mode: 'nearest' }), [[[[0], [1], [2]]]], 'identity shortcut (nearest)');
  assertClose(t, interpolate(three, { scaleFactor: [1.2, 1], mode: 'bilinear' }), [[[[0], [1], [2]]]], 'identity shortcut (bilinear)');
  // Bilinear: the source position is evaluated in float64 from the float32 scale (torch 1.13's
  // weights, read off its impulse responses): 14 -> 46, output row 2 has lambda1 = 0.26086953
  // (float32 arithmetic throughout would give 0.26086950).
  t.equal(linearSourceTable(14, 46, interpolateScale(14, 46)).lambda1[2], Math.fround(0.2608695328235626), 'bilinear lambda as torch');
  t.equal(interpolateScale(7, 9, 1.3), Math.fround(1 / 1.3), 'scale from a scale factor: float32(1 / s)');
  t.equal(interpolateScale(7, 9), Math.fround(7 / 9), 'scale from sizes: float32(in / out)');
  t.end();
});

test('interpolate: a 1-pixel input is broadcast by both modes', (t) => {
  const x = tensor([[[[5]], [[-2]]]]);
  for (const mode of ['nearest', 'bilinear'] as const) {
    const { output, gradInput } = resizeWithGrad(x, { size: [3, 4], mode });
    assertClose(t, output, [[[[5, 5, 5, 5], [5, 5, 5, 5], [5, 5, 5, 5]], Array.from({ length: 3 }, () => [-2, -2, -2, -2])]], `${mode}: values`);
    assertClose(t, gradInput, [[[[12]], [[12]]]], `${mode}: gradient`);
  }
  t.end();
});

test('interpolate: gradcheck (reference, float64)', (t) => {
  const g = new Generator(21);
  const x = randn([2, 2, 4, 5], { generator: g, requiresGrad: true });
  const cases: Array<[string, InterpolateOptions]> = [
    ['nearest 2x', { size: [8, 10], mode: 'nearest' }],
    ['nearest down, non-integer', { size: [3, 2], mode: 'nearest' }],
    ['nearest scaleFactor 1.7', { scaleFactor: 1.7, mode: 'nearest' }],
    ['nearest scaleFactor [1.2, 2.1] (identity and 2x shortcuts)', { scaleFactor: [1.2, 2.1], mode: 'nearest' }],
    ['bilinear 2x', { size: [8, 10], mode: 'bilinear' }],
    ['bilinear down', { size: [3, 2], mode: 'bilinear' }],
    ['bilinear scaleFactor 1.3 recomputed', { scaleFactor: 1.3, mode: 'bilinear', recomputeScaleFactor: true }],
    ['bilinear scaleFactor [1.5, 0.7]', { scaleFactor: [1.5, 0.7], mode: 'bilinear' }],
  ];
  for (const [label, o] of cases) assertGradcheck(t, (a) => interpolate(a, o), [x], label);
  t.end();
});

test('interpolate: backends agree (outputs and gradients)', (t) => {
  const g = new Generator(8);
  const x = randn([2, 3, 14, 9], { generator: g });
  const cases: Array<[string, InterpolateOptions]> = [
    ['nearest 2x by size', { size: [28, 18], mode: 'nearest' }],
    ['nearest 14 -> 46', { size: [46, 20], mode: 'nearest' }],
    ['nearest down', { size: [5, 4], mode: 'nearest' }],
    ['nearest scaleFactor [1.7, 0.6]', { scaleFactor: [1.7, 0.6], mode: 'nearest' }],
    ['nearest scaleFactor 2.1', { scaleFactor: 2.1, mode: 'nearest' }],
    ['bilinear 2x', { size: [28, 18], mode: 'bilinear' }],
    ['bilinear 14 -> 46', { size: [46, 20], mode: 'bilinear' }],
    ['bilinear down', { size: [5, 4], mode: 'bilinear' }],
    ['bilinear scaleFactor 1.3 recomputed', { scaleFactor: 1.3, mode: 'bilinear', recomputeScaleFactor: true }],
    ['bilinear scaleFactor [0.45, 1.6]', { scaleFactor: [0.45, 1.6], mode: 'bilinear' }],
    ['bilinear same size', { size: [14, 9], mode: 'bilinear' }],
  ];
  for (const [label, o] of cases) {
    const gy = randn([...interpolate(x, o).shape], { generator: g });
    assertBackendsAgree(t, `interpolate ${label}`, () => resizeWithGrad(x, o, gy));
  }
  const pixel = randn([1, 2, 1, 1], { generator: g });
  assertBackendsAgree(t, 'interpolate bilinear 1 pixel -> 7x5', () => resizeWithGrad(pixel, { size: [7, 5], mode: 'bilinear' }));
  assertBackendsAgree(t, 'interpolate nearest 1 pixel -> 7x5', () => resizeWithGrad(pixel, { size: [7, 5], mode: 'nearest' }));
  for (const mode of ['nearest', 'bilinear'] as const) {
    assertBackendsAgree(t, `interpolate ${mode} empty batch`, () => resizeWithGrad(randn([0, 3, 4, 4]), { size: [8, 8], mode }));
  }
  t.end();
});

test('interpolate: the gpu kernels run in chunks of whole planes (float32 indices below 2^24)', (t) => {
  const g = new Generator(9);
  const x = randn([3, 2, 5, 4], { generator: g });
  setInterpolateIndexLimit(100); // 9x7 = 63 output elements per plane: one plane per chunk
  try {
    for (const mode of ['nearest', 'bilinear'] as const) {
      const gy = randn([3, 2, 9, 7], { generator: g });
      assertBackendsAgree(t, `interpolate ${mode} in chunks`, () => resizeWithGrad(x, { size: [9, 7], mode }, gy));
    }
    if (backendsUnderTest(t).includes('gpu')) {
      setInterpolateIndexLimit(50);
      assertThrowsMessage(
        t,
        () => withBackend('gpu', () => interpolate(x, { size: [9, 7], mode: 'bilinear' })),
        ['interpolate.bilinearForward (gpu): a plane of 5x4 -> 9x7 has 63 elements', 'exact only below 50'],
        'a plane too large for float32 indices is refused',
      );
    }
  } finally {
    setInterpolateIndexLimit();
  }
  t.end();
});

test('interpolate: zero-size batch gives an empty output and empty gradient', (t) => {
  for (const mode of ['nearest', 'bilinear'] as const) {
    const x = randn([0, 2, 3, 3], { requiresGrad: true });
    const y = interpolate(x, { scaleFactor: 2, mode });
    t.deepEqual(y.shape, [0, 2, 6, 6], `${mode}: output shape`);
    y.sum().backward();
    t.deepEqual(x.grad!.shape, [0, 2, 3, 3], `${mode}: gradient shape`);
  }
  t.end();
});

test('interpolate: bad input', (t) => {
  const x = randn([1, 2, 4, 4]);
  assertThrowsMessage(t, () => interpolate(randn([2, 4, 4]), { size: 8, mode: 'nearest' }), 'interpolate: input must be 4-D, got shape [2,4,4]', 'rank');
  assertThrowsMessage(t, () => interpolate(x, { mode: 'nearest' }), 'interpolate: give exactly one of size and scaleFactor (got neither)', 'neither');
  assertThrowsMessage(t, () => interpolate(x, { size: 8, scaleFactor: 2, mode: 'nearest' }), 'interpolate: give exactly one of size and scaleFactor (got both)', 'both');
  assertThrowsMessage(t, () => interpolate(x, { size: 8, mode: 'bicubic' as 'nearest' }), `interpolate: mode must be 'nearest' or 'bilinear', got "bicubic"`, 'unknown mode');
  assertThrowsMessage(t, () => interpolate(x, { size: 8, mode: 'bilinear', alignCorners: true as false }), 'interpolate: alignCorners must be false', 'alignCorners true');
  assertThrowsMessage(t, () => interpolate(x, { size: 8, mode: 'nearest', alignCorners: false }), "interpolate: alignCorners can only be set with mode 'bilinear'", 'alignCorners with nearest');
  assertThrowsMessage(t, () => interpolate(x, { size: 8, mode: 'nearest', recomputeScaleFactor: true }), 'interpolate: recomputeScaleFactor is not meaningful with an explicit size', 'recompute with size');
  assertThrowsMessage(t, () => interpolate(x, { size: [0, 3], mode: 'nearest' }), 'interpolate: size must be a positive integer or a pair of them, got [0,3]', 'zero size');
  assertThrowsMessage(t, () => interpolate(x, { size: 2.5, mode: 'nearest' }), 'interpolate: size must be a positive integer', 'non-integer size');
  assertThrowsMessage(t, () => interpolate(x, { scaleFactor: -2, mode: 'bilinear' }), 'interpolate: scaleFactor must be a positive number or a pair of them, got -2', 'negative scale');
  assertThrowsMessage(t, () => interpolate(x, { scaleFactor: 0.2, mode: 'bilinear' }), ['interpolate: scaleFactor 0.2 makes the output of input [1,2,4,4] empty', '0x0'], 'empty output');
  assertThrowsMessage(t, () => interpolate(randn([1, 2, 0, 4]), { size: 2, mode: 'bilinear' }), 'interpolate: input height and width must be non-zero, got shape [1,2,0,4]', 'empty plane');
  t.end();
});

test('interpolate: torchvision parity fixtures, every backend', (t) => {
  const dir = fileURLToPath(new URL('../fixtures/ops', import.meta.url));
  for (const backend of backendsUnderTest(t)) {
    const lines = runParity(dir, { backend, ops: ['interpolate_nearest', 'interpolate_bilinear'] });
    t.ok(lines.length >= 12, `${backend}: ${lines.length} interpolate cases`);
    for (const line of lines) t.equal(line.status, 'PASS', `${backend}: ${formatLine(line)}`);
  }
  t.end();
});
