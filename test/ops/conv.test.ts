import test from 'tape';
import { Tensor, tensor, randn, zeros, Generator } from '../../lib/index.js';
import {
  conv2d,
  convTranspose2d,
  conv2dForward,
  conv2dBackwardInput,
  conv2dBackwardWeight,
  kernelTable,
  withBackend,
  type Conv2dOptions,
  type ConvTranspose2dOptions,
  type ConvGeometry,
} from '../../lib/ops/index.js';
import { conv2dIm2col, conv2dForwardReference } from '../../lib/ops/reference/conv.js';
import { setConvIndexLimit } from '../../lib/ops/gpu/conv.js';
import { floorDiv } from '../../lib/ops/gpu/context.js';
import { gpu } from '../../lib/ops/gpu/context.js';
import { assertClose, assertGradcheck, assertThrowsMessage } from '../helpers.js';
import { assertBackendsAgree, backendsUnderTest } from './helpers.js';

/** The 4x4 image 1..16, as [1, 1, 4, 4]. */
const ramp = () => tensor([[[[1, 2, 3, 4], [5, 6, 7, 8], [9, 10, 11, 12], [13, 14, 15, 16]]]]);

test('conv2d: by hand (cross-correlation, stride, padding, dilation)', (t) => {
  // out[y][x] = b + x[y][x] + 2 x[y][x+1] - x[y+2][x+2]: the kernel is not flipped.
  const w = tensor([[[[1, 2, 0], [0, 0, 0], [0, 0, -1]]]]);
  assertClose(t, conv2d(ramp(), w, tensor([0.5])), [[[[-5.5, -3.5], [2.5, 4.5]]]], '3x3 on 4x4 with a bias');
  // Stride 2, 2x2 ones: the sums of the four 2x2 blocks.
  assertClose(t, conv2d(ramp(), tensor([[[[1, 1], [1, 1]]]]), null, { stride: 2 }), [[[[14, 22], [46, 54]]]], 'stride 2');
  // Padding 1, 3x3 ones: 3x3 box sums with zeros outside.
  const box = [[[[14, 24, 30, 22], [33, 54, 63, 45], [57, 90, 99, 69], [46, 72, 78, 54]]]];
  const ones3 = tensor([[[[1, 1, 1], [1, 1, 1], [1, 1, 1]]]]);
  assertClose(t, conv2d(ramp(), ones3, null, { padding: 1 }), box, 'padding 1 keeps the size');
  // Dilation 2: the 2x2 kernel's taps are 2 pixels apart: x[y][x] + 10 x[y][x+2] + 100 x[y+2][x] + 1000 x[y+2][x+2].
  const w2 = tensor([[[[1, 10], [100, 1000]]]]);
  assertClose(t, conv2d(ramp(), w2, null, { dilation: 2 }), [[[[11931, 13042], [16375, 17486]]]], 'dilation 2');
  // Non-square: stride [2, 1], padding [0, 1]: H_out = floor((4 - 3) / 2) + 1 = 1, W_out = 4.
  assertClose(t, conv2d(ramp(), ones3, null, { stride: [2, 1], padding: [0, 1] }), [[[[33, 54, 63, 45]]]], 'stride [2,1], padding [0,1]');
  t.end();
});

test('conv2d: groups', (t) => {
  // groups 2: output 0 sees input channels 0-1, output 1 sees channels 2-3.
  const x = tensor([1, 2, 3, 4]).reshape([1, 4, 1, 1]);
  const w = tensor([1, 10, 100, 1000]).reshape([2, 2, 1, 1]);
  assertClose(t, conv2d(x, w, null, { groups: 2 }).reshape([2]), [1 + 20, 300 + 4000], 'groups 2 by hand');
  // Depthwise (groups = C): each channel is convolved with its own kernel, as separate convs would.
  const g = new Generator(5);
  const xd = randn([2, 3, 5, 6], { generator: g });
  const wd = randn([3, 1, 3, 3], { generator: g });
  const depthwise = conv2d(xd, wd, null, { groups: 3, padding: 1 });
  for (let c = 0; c < 3; c++) {
    const alone = conv2d(xd.narrow(1, c, 1), wd.narrow(0, c, 1), null, { padding: 1 });
    assertClose(t, depthwise.narrow(1, c, 1), alone, `depthwise channel ${c} = a 1-channel conv`, 1e-6, 1e-6);
  }
  t.end();
});

test('convTranspose2d: the 2x2 stride-2 deconv by hand (each input pixel paints a 2x2 block)', (t) => {
  const x = tensor([[[[1, 2], [3, 4]]]]);
  const w = tensor([[[[1, 10], [100, 1000]]]]);
  const y = convTranspose2d(x, w, null, { stride: 2 });
  assertClose(
    t,
    y,
    [[[[1, 10, 2, 20], [100, 1000, 200, 2000], [3, 30, 4, 40], [300, 3000, 400, 4000]]]],
    'block (y, x) of the output is x[y][x] * kernel',
  );
  // Two input channels, two output channels: out[c_out] = sum_{c_in} x[c_in] (x) w[c_in][c_out], + bias.
  const x2 = tensor([[[[1]], [[2]]]]); // [1, 2, 1, 1]
  const w22 = tensor([[[[1, 2], [3, 4]], [[5, 6], [7, 8]]], [[[10, 20], [30, 40]], [[50, 60], [70, 80]]]]); // [2, 2, 2, 2]
  const y2 = convTranspose2d(x2, w22, tensor([0.5, -1]), { stride: 2 });
  assertClose(t, y2, [[[[21.5, 42.5], [63.5, 84.5]], [[104, 125], [146, 167]]]], 'channels mix as w[c_in][c_out], plus bias');
  // Output size (H - 1) s - 2p + d (k - 1) + outputPadding + 1: 14 -> 28 in the mask head.
  t.deepEqual(convTranspose2d(zeros([1, 3, 14, 14]), zeros([3, 5, 2, 2]), null, { stride: 2 }).shape, [1, 5, 28, 28], '14x14 -> 28x28');
  t.deepEqual(
    convTranspose2d(zeros([1, 2, 5, 4]), zeros([2, 3, 3, 3]), null, { stride: 2, padding: 1, outputPadding: 1 }).shape,
    [1, 3, 10, 8],
    '3x3 s2 p1 op1 doubles the size',
  );
  t.end();
});

test('convTranspose2d is the transpose (adjoint) of conv2d', (t) => {
  const g = new Generator(7);
  const options: ConvTranspose2dOptions = { stride: 2, padding: 1, dilation: [1, 2], groups: 2, outputPadding: [1, 0] };
  const x = randn([2, 4, 4, 5], { generator: g, dtype: 'float64' });
  const w = randn([4, 3, 3, 2], { generator: g, dtype: 'float64' }); // convTranspose2d: [C_in, C_out / groups, kH, kW]
  const y = convTranspose2d(x, w, null, options);
  // The same weight read as a conv2d weight [C_out, C_in / groups, kH, kW] maps y's size back to x's.
  const z = randn(y.shape as number[], { generator: g, dtype: 'float64' }).requiresGrad_();
  const { outputPadding: _unused, ...convOptions } = options;
  const cz = conv2d(z, w, null, convOptions);
  t.deepEqual(cz.shape, x.shape, 'conv2d maps the deconv output size back to its input size');
  // <conv2d(z), x> = <z, convTranspose2d(x)>
  assertClose(t, cz.mul(x).sum().item(), z.mul(y).sum().item(), '<C z, x> = <z, C^T x>', 1e-9, 1e-12);
  // ... so convTranspose2d(x) is conv2d's input gradient with output gradient x.
  cz.backward(x);
  assertClose(t, z.grad!, y, 'convTranspose2d(x, w) = d<conv2d(z, w), x>/dz', 1e-12, 1e-12);
  // With stride 1 a deconv is a conv with the kernel flipped and in/out swapped, padding k - 1 - p.
  const x1 = randn([1, 2, 5, 4], { generator: g, dtype: 'float64' });
  const w1 = randn([2, 3, 3, 2], { generator: g, dtype: 'float64' });
  const flipped = new Float64Array(3 * 2 * 3 * 2);
  for (let ci = 0; ci < 2; ci++) for (let co = 0; co < 3; co++) for (let kh = 0; kh < 3; kh++) for (let kw = 0; kw < 2; kw++) {
    flipped[((co * 2 + ci) * 3 + (2 - kh)) * 2 + (1 - kw)] = w1.data[((ci * 3 + co) * 3 + kh) * 2 + kw]!;
  }
  assertClose(
    t,
    convTranspose2d(x1, w1, null, { padding: [1, 0] }),
    conv2d(x1, new Tensor(flipped, [3, 2, 3, 2]), null, { padding: [1, 1] }),
    'stride 1: deconv = conv with the flipped kernel',
    1e-12,
    1e-12,
  );
  t.end();
});

test('conv2d: im2col + GEMM (the study form) equals the direct loops', (t) => {
  const g = new Generator(11);
  const x = randn([2, 4, 7, 6], { generator: g, dtype: 'float64' });
  const w = randn([6, 2, 3, 2], { generator: g, dtype: 'float64' });
  const b = randn([6], { generator: g, dtype: 'float64' });
  const geometry: ConvGeometry = {
    batch: 2, inChannels: 4, inHeight: 7, inWidth: 6, outChannels: 6, outHeight: 4, outWidth: 4,
    kernelHeight: 3, kernelWidth: 2, strideH: 2, strideW: 1, padH: 1, padW: 0, dilationH: 1, dilationW: 2, groups: 2,
  };
  const direct = conv2dForwardReference(x.data, w.data, b.data, geometry);
  assertClose(t, Array.from(conv2dIm2col(x.data, w.data, b.data, geometry)), direct, 'same values', 1e-12, 1e-12);
  assertClose(t, conv2d(x, w, b, { stride: [2, 1], padding: [1, 0], dilation: [1, 2], groups: 2 }), direct, 'and the op agrees', 1e-12, 1e-12);
  t.end();
});

const convCombos: Array<[string, number[], number[], Conv2dOptions]> = [
  ['3x3', [2, 2, 5, 4], [3, 2, 3, 3], {}],
  ['stride 2, padding 1', [1, 2, 5, 6], [3, 2, 3, 3], { stride: 2, padding: 1 }],
  ['dilation 2, padding 2', [1, 2, 6, 5], [2, 2, 3, 2], { dilation: 2, padding: 2 }],
  ['groups 2', [1, 4, 4, 4], [4, 2, 3, 3], { groups: 2, padding: 1 }],
  ['depthwise, stride 2', [1, 3, 5, 5], [3, 1, 3, 3], { groups: 3, stride: 2, padding: 1 }],
  ['non-square', [1, 2, 5, 6], [2, 2, 2, 3], { stride: [2, 1], padding: [1, 0], dilation: [1, 2] }],
];

const deconvCombos: Array<[string, number[], number[], ConvTranspose2dOptions]> = [
  ['2x2 stride 2 (mask head)', [1, 3, 3, 3], [3, 2, 2, 2], { stride: 2 }],
  ['3x3 s2 p1 op1', [1, 2, 3, 4], [2, 3, 3, 3], { stride: 2, padding: 1, outputPadding: 1 }],
  ['dilation 2, op 1 < dilation', [1, 2, 3, 3], [2, 2, 2, 2], { dilation: 2, outputPadding: 1 }],
  ['groups 2', [1, 4, 3, 3], [4, 1, 3, 3], { groups: 2, stride: 2, padding: 1 }],
  ['non-square', [1, 2, 3, 4], [2, 2, 3, 2], { stride: [2, 1], padding: [0, 1], dilation: [1, 2], outputPadding: [1, 0] }],
];

test('conv2d: gradcheck of input, weight and bias (reference, float64)', (t) => {
  const g = new Generator(13);
  for (const [label, xs, ws, options] of convCombos) {
    const x = randn(xs, { generator: g, requiresGrad: true });
    const w = randn(ws, { generator: g, requiresGrad: true });
    const b = randn([ws[0]!], { generator: g, requiresGrad: true });
    withBackend('reference', () => assertGradcheck(t, (a, k, c) => conv2d(a, k, c, options), [x, w, b], `conv2d ${label}`));
  }
  const x = randn([1, 2, 4, 4], { generator: g, requiresGrad: true });
  const w = randn([2, 2, 3, 3], { generator: g, requiresGrad: true });
  withBackend('reference', () => assertGradcheck(t, (a, k) => conv2d(a, k, null, { stride: 2, padding: 1 }), [x, w], 'conv2d without bias'));
  t.end();
});

test('convTranspose2d: gradcheck of input, weight and bias (reference, float64)', (t) => {
  const g = new Generator(17);
  for (const [label, xs, ws, options] of deconvCombos) {
    const x = randn(xs, { generator: g, requiresGrad: true });
    const w = randn(ws, { generator: g, requiresGrad: true });
    const b = randn([ws[1]! * (options.groups ?? 1)], { generator: g, requiresGrad: true });
    withBackend('reference', () => assertGradcheck(t, (a, k, c) => convTranspose2d(a, k, c, options), [x, w, b], `convTranspose2d ${label}`));
  }
  const x = randn([1, 2, 3, 3], { generator: g, requiresGrad: true });
  const w = randn([2, 2, 2, 2], { generator: g, requiresGrad: true });
  withBackend('reference', () => assertGradcheck(t, (a, k) => convTranspose2d(a, k, null, { stride: 2 }), [x, w], 'convTranspose2d without bias'));
  t.end();
});

/** Runs op forward and backward with a fixed random output gradient; returns the output and the three gradients. */
function forwardBackward(op: (x: Tensor, w: Tensor, b: Tensor | null) => Tensor, x: Tensor, w: Tensor, b: Tensor | null, seed: number) {
  return () => {
    const [xi, wi] = [x.detach().requiresGrad_(), w.detach().requiresGrad_()];
    const bi = b === null ? null : b.detach().requiresGrad_();
    const output = op(xi, wi, bi);
    output.backward(randn(output.shape as number[], { generator: new Generator(seed) }));
    const result: Record<string, Tensor> = { output, gradInput: xi.grad!, gradWeight: wi.grad! };
    if (bi !== null) result['gradBias'] = bi.grad!;
    return result;
  };
}

test('conv2d and convTranspose2d: every backend agrees with the reference (outputs and gradients)', (t) => {
  const g = new Generator(19);
  for (const [label, xs, ws, options] of [...convCombos, ['7x7 s2 p3 (stem)', [1, 3, 12, 10], [4, 3, 7, 7], { stride: 2, padding: 3 }] as const]) {
    const x = randn(xs as number[], { generator: g });
    const w = randn(ws as number[], { generator: g });
    const b = randn([ws[0]!], { generator: g });
    assertBackendsAgree(t, `conv2d ${label}`, forwardBackward((a, k, c) => conv2d(a, k, c, options), x, w, b, 1), 1e-4, 1e-4);
  }
  for (const [label, xs, ws, options] of deconvCombos) {
    const x = randn(xs, { generator: g });
    const w = randn(ws, { generator: g });
    assertBackendsAgree(t, `convTranspose2d ${label}`, forwardBackward((a, k, c) => convTranspose2d(a, k, c, options), x, w, null, 2), 1e-4, 1e-4);
  }
  // The mask head's deconv (256 -> 256, 14x14 -> 28x28, 2x2 stride 2), scaled down: 2x8x7x7 -> 2x8x14x14.
  const x = randn([2, 8, 7, 7], { generator: g });
  const w = randn([8, 8, 2, 2], { generator: g });
  const b = randn([8], { generator: g });
  assertBackendsAgree(t, 'mask-head deconv 2x8x7x7 -> 14x14', forwardBackward((a, k, c) => convTranspose2d(a, k, c, { stride: 2 }), x, w, b, 3), 1e-4, 1e-4);
  t.end();
});

test('convTranspose2d with relu: the bits of relu(convTranspose2d) on every backend (output and the three gradients); gradcheck', (t) => {
  const g = new Generator(23);
  const x = randn([2, 4, 5, 5], { generator: g });
  const w = randn([4, 3, 2, 2], { generator: g });
  for (const b of [randn([3], { generator: g }), null]) {
    for (const backend of backendsUnderTest(t)) {
      const fused = withBackend(backend, forwardBackward((a, k, c) => convTranspose2d(a, k, c, { stride: 2, relu: true }), x, w, b, 4));
      const plain = withBackend(backend, forwardBackward((a, k, c) => convTranspose2d(a, k, c, { stride: 2 }).relu(), x, w, b, 4));
      t.ok(Array.from(fused['output']!.data).some((v) => v === 0), `${backend}: the ReLU clips some values`);
      for (const name of Object.keys(plain)) {
        t.deepEqual(Array.from(fused[name]!.data), Array.from(plain[name]!.data), `${backend}, bias ${b !== null}: ${name}`);
      }
    }
  }
  const xs = randn([1, 2, 3, 3], { generator: g, dtype: 'float64', requiresGrad: true });
  const ws = randn([2, 2, 2, 2], { generator: g, dtype: 'float64', requiresGrad: true });
  const bs = randn([2], { generator: g, dtype: 'float64', requiresGrad: true });
  withBackend('reference', () => assertGradcheck(t, (a, k, c) => convTranspose2d(a, k, c, { stride: 2, relu: true }), [xs, ws, bs], 'gradcheck with relu'));
  t.end();
});

test('gpu: batches are cut into chunks that keep every flat index exact in float32', (t) => {
  const g = new Generator(23);
  const x = randn([5, 3, 6, 6], { generator: g });
  const w = randn([4, 3, 3, 3], { generator: g });
  const b = randn([4], { generator: g });
  setConvIndexLimit(250); // one image (108 input, 144 output values) per chunk, five chunks
  try {
    assertBackendsAgree(t, 'conv2d in chunks', forwardBackward((a, k, c) => conv2d(a, k, c, { padding: 1 }), x, w, b, 4), 1e-4, 1e-4);
    const wt = randn([3, 4, 3, 3], { generator: g });
    assertBackendsAgree(t, 'convTranspose2d in chunks', forwardBackward((a, k, c) => convTranspose2d(a, k, c, { padding: 1 }), x, wt, b, 5), 1e-4, 1e-4);
    if (backendsUnderTest(t).includes('gpu')) {
      setConvIndexLimit(100);
      assertThrowsMessage(
        t,
        () => withBackend('gpu', () => conv2d(x, w, b, { padding: 1 })),
        ['conv2d.forward (gpu): one image has 144 elements', 'exact only below 100'],
        'an image too large for float32 indices is refused',
      );
    }
  } finally {
    setConvIndexLimit();
  }
  t.end();
});

test('gpu: the kernels\' index division is exact up to 2^24 (where floor((i + 0.5) / n) is not)', (t) => {
  // gpu.js is a dependency, so the gpu backend is always present: its absence is a failure.
  if (!backendsUnderTest(t).includes('gpu')) {
    t.fail('the gpu backend (gpu.js) did not load');
    t.end();
    return;
  }
  const kernel = gpu().createKernel(
    function (this: { thread: { x: number } }, n: number, base: number) {
      const i = this.thread.x + base;
      return i - floorDiv(i, n) * n; // the remainder, from the kernel's quotient
    },
    { dynamicOutput: true, dynamicArguments: true, output: [1], functions: [floorDiv] },
  );
  const count = 20000;
  kernel.setOutput([count]);
  for (const base of [0, 2 ** 23 - count / 2, 2 ** 24 - count]) {
    for (const n of [1, 3, 28, 196, 50176]) {
      const r = kernel(n, base) as Float32Array;
      let wrong = 0;
      for (let j = 0; j < count; j++) if (r[j] !== (base + j) % n) wrong++;
      t.equal(wrong, 0, `i in [${base}, ${base + count}) mod ${n}`);
    }
  }
  t.end();
});

test('conv2d and convTranspose2d: an empty batch gives an empty output and zero weight/bias gradients', (t) => {
  for (const backend of backendsUnderTest(t)) {
    withBackend(backend, () => {
      for (const [name, op, ws] of [
        ['conv2d', (a: Tensor, k: Tensor, c: Tensor) => conv2d(a, k, c, { padding: 1 }), [4, 3, 3, 3]],
        ['convTranspose2d', (a: Tensor, k: Tensor, c: Tensor) => convTranspose2d(a, k, c, { stride: 2 }), [3, 4, 2, 2]],
      ] as const) {
        const x = zeros([0, 3, 5, 5], { requiresGrad: true });
        const w = randn([...ws], { requiresGrad: true });
        const b = randn([4], { requiresGrad: true });
        const y = op(x, w, b);
        t.deepEqual(y.shape, name === 'conv2d' ? [0, 4, 5, 5] : [0, 4, 10, 10], `${backend} ${name}: output shape`);
        y.sum().backward();
        t.deepEqual(x.grad?.shape, [0, 3, 5, 5], `${backend} ${name}: empty input gradient`);
        assertClose(t, w.grad!, zeros(w.shape as number[]), `${backend} ${name}: zero weight gradient`);
        assertClose(t, b.grad!, [0, 0, 0, 0], `${backend} ${name}: zero bias gradient`);
      }
    });
  }
  t.end();
});

test('conv2d and convTranspose2d: bad arguments give clear errors', (t) => {
  const x = zeros([1, 3, 8, 8]);
  const w = zeros([8, 3, 3, 3]);
  assertThrowsMessage(t, () => conv2d(zeros([3, 8, 8]), w), 'conv2d: input must be 4-D, got shape [3,8,8]', 'input rank');
  assertThrowsMessage(t, () => conv2d(x, zeros([8, 3, 3])), 'conv2d: weight must be 4-D, got shape [8,3,3]', 'weight rank');
  assertThrowsMessage(t, () => conv2d(x, w, zeros([8, 1])), 'conv2d: bias must be 1-D, got shape [8,1]', 'bias rank');
  assertThrowsMessage(
    t,
    () => conv2d(x, zeros([8, 4, 3, 3])),
    'conv2d: input has 3 channels but weight expects 4 (input [1,3,8,8], weight [8,4,3,3])',
    'channel mismatch',
  );
  assertThrowsMessage(t, () => conv2d(zeros([1, 4, 8, 8]), zeros([8, 1, 3, 3]), null, { groups: 2 }), 'conv2d: input has 4 channels but weight expects 2 (2 groups of 1)', 'channel mismatch with groups');
  assertThrowsMessage(t, () => conv2d(zeros([1, 4, 8, 8]), zeros([6, 1, 3, 3]), null, { groups: 4 }), 'conv2d: groups 4 must divide the 6 output channels of weight [6,1,3,3]', 'groups vs output channels');
  assertThrowsMessage(t, () => conv2d(zeros([1, 6, 8, 8]), zeros([4, 2, 3, 3]), null, { groups: 4 }), 'conv2d: groups 4 must divide the 6 input channels', 'groups vs input channels');
  assertThrowsMessage(t, () => conv2d(x, w, null, { groups: 0 }), 'conv2d: groups must be an integer >= 1, got 0', 'groups 0');
  assertThrowsMessage(t, () => conv2d(x, w, null, { stride: 0 }), 'conv2d: stride must be an integer >= 1 or a pair of them, got 0', 'stride 0');
  assertThrowsMessage(t, () => conv2d(x, w, null, { stride: 1.5 }), 'conv2d: stride must be an integer >= 1', 'fractional stride');
  assertThrowsMessage(t, () => conv2d(x, w, null, { dilation: [1, 0] }), 'conv2d: dilation must be an integer >= 1 or a pair of them, got [1,0]', 'dilation 0');
  assertThrowsMessage(t, () => conv2d(x, w, null, { padding: -1 }), 'conv2d: padding must be an integer >= 0', 'negative padding');
  assertThrowsMessage(
    t,
    () => conv2d(zeros([1, 3, 4, 4]), zeros([8, 3, 5, 5])),
    'conv2d: the kernel (5x5 with dilation [1,1]) is larger than the padded input (4x4) (input [1,3,4,4], weight [8,3,5,5], padding [0,0])',
    'kernel larger than the input',
  );
  assertThrowsMessage(t, () => conv2d(zeros([1, 3, 4, 4]), zeros([8, 3, 3, 3]), null, { dilation: 2 }), 'conv2d: the kernel (5x5 with dilation [2,2]) is larger', 'dilated kernel larger than the input');
  assertThrowsMessage(t, () => conv2d(x, w, zeros([3])), 'conv2d: bias has shape [3] but [8] is expected', 'bias length');
  assertThrowsMessage(t, () => conv2d(x, zeros([8, 3, 3, 3], { dtype: 'float64' })), 'conv2d: input is float32 but weight is float64', 'dtypes');

  const wt = zeros([3, 4, 2, 2]);
  assertThrowsMessage(t, () => convTranspose2d(zeros([1, 3, 4]), wt), 'convTranspose2d: input must be 4-D, got shape [1,3,4]', 'deconv rank');
  assertThrowsMessage(
    t,
    () => convTranspose2d(zeros([1, 5, 4, 4]), wt),
    'convTranspose2d: input has 5 channels but weight expects 3 (input [1,5,4,4], weight [3,4,2,2]',
    'deconv channel mismatch',
  );
  assertThrowsMessage(t, () => convTranspose2d(zeros([1, 3, 4, 4]), wt, null, { groups: 2 }), 'convTranspose2d: groups 2 must divide the 3 input channels', 'deconv groups');
  assertThrowsMessage(t, () => convTranspose2d(zeros([1, 3, 4, 4]), wt, zeros([3])), 'convTranspose2d: bias has shape [3] but [4] is expected', 'deconv bias length');
  assertThrowsMessage(
    t,
    () => convTranspose2d(zeros([1, 3, 4, 4]), wt, null, { stride: 2, outputPadding: 2 }),
    'convTranspose2d: outputPadding [2,2] must be smaller than either stride [2,2] or dilation [1,1]',
    'outputPadding too large',
  );
  assertThrowsMessage(t, () => convTranspose2d(zeros([1, 3, 4, 4]), wt, null, { outputPadding: -1 }), 'convTranspose2d: outputPadding must be an integer >= 0', 'negative outputPadding');
  assertThrowsMessage(t, () => convTranspose2d(zeros([1, 3, 1, 1]), wt, null, { padding: 1 }), 'convTranspose2d: the output would be 0x0', 'deconv padding too large');
  t.end();
});

test('conv kernels: both backends implement all three, with no fallback note', (t) => {
  const table = new Map(kernelTable().map((k) => [k.kernel, k.backends]));
  for (const slot of [conv2dForward, conv2dBackwardInput, conv2dBackwardWeight]) {
    const backends = table.get(slot.name) ?? [];
    // The wasm backend (lib/ops/wasm) implements them too, when it is loaded.
    t.deepEqual(backends.map((b) => b.backend).filter((b) => b !== 'wasm').sort(), ['gpu', 'reference'], `${slot.name}: reference and gpu`);
    t.ok(backends.every((b) => b.note === undefined), `${slot.name}: the gpu kernel is its own (no reference fallback)`);
  }
  t.end();
});
