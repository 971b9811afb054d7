import test from 'tape';
import { fileURLToPath } from 'node:url';
import { tensor, randn, randint, Generator, type Tensor } from '../../lib/index.js';
import { maxPool2d, withBackend, type MaxPool2dOptions } from '../../lib/ops/index.js';
import { setPoolIndexLimit } from '../../lib/ops/gpu/pool.js';
import { runParity, formatLine } from '../../tools/parity/harness.js';
import { assertClose, assertGradcheck, assertThrowsMessage } from '../helpers.js';
import { assertBackendsAgree, backendsUnderTest } from './helpers.js';

/** Runs maxPool2d forward and backward with `gradOutput` (default: ones) and returns both. */
function poolWithGrad(x: Tensor, options: MaxPool2dOptions, gradOutput?: Tensor): { output: Tensor; gradInput: Tensor } {
  const xi = x.detach().requiresGrad_();
  const output = maxPool2d(xi, options);
  if (gradOutput === undefined) output.sum().backward();
  else output.backward(gradOutput);
  return { output, gradInput: xi.grad! };
}

test('maxPool2d: 3x3 stride 2 padding 1 (the ResNet stem) on a 4x4 map, by hand', (t) => {
  const x = tensor([[[[1, 9, 2, 0], [4, 3, 8, 5], [7, 6, 0, 1], [2, 5, 3, 4]]]]);
  // H_out = floor((4 + 2 - 3) / 2) + 1 = 2. Windows (rows x cols, clipped to the map):
  // (0,0): rows 0-1 x cols 0-1 -> 9 at (0,1); (0,1): rows 0-1 x cols 1-3 -> 9 at (0,1);
  // (1,0): rows 1-3 x cols 0-1 -> 7 at (2,0); (1,1): rows 1-3 x cols 1-3 -> 8 at (1,2).
  const { output, gradInput } = poolWithGrad(x, { kernelSize: 3, stride: 2, padding: 1 }, tensor([[[[1, 2], [3, 4]]]]));
  assertClose(t, output, [[[[9, 9], [7, 8]]]], 'values');
  // (0,1) wins two windows: 1 + 2; (2,0) gets 3; (1,2) gets 4 (torch gives the same).
  assertClose(t, gradInput, [[[[0, 3, 0, 0], [0, 0, 4, 0], [3, 0, 0, 0], [0, 0, 0, 0]]]], 'gradient to the argmax of each window');
  t.end();
});

test("maxPool2d: kernel 1 stride 2 (FPN's P6) is plain subsampling", (t) => {
  const x = tensor([[[[0, 1, 2, 3, 4], [5, 6, 7, 8, 9], [10, 11, 12, 13, 14]]]]);
  const { output, gradInput } = poolWithGrad(x, { kernelSize: 1, stride: 2 });
  assertClose(t, output, [[[[0, 2, 4], [10, 12, 14]]]], 'values: rows 0, 2 and columns 0, 2, 4');
  assertClose(t, gradInput, [[[[1, 0, 1, 0, 1], [0, 0, 0, 0, 0], [1, 0, 1, 0, 1]]]], 'gradient to the sampled pixels');
  const same = maxPool2d(x, { kernelSize: 2 });
  assertClose(t, same, [[[[6, 8]]]], 'stride defaults to kernelSize (2x2 stride 2 on 3x5 -> 1x2)');
  t.end();
});

test('maxPool2d: ties go to the first maximum in row-major order; NaN propagates (as torch)', (t) => {
  const x = tensor([[[[1, 3, 3], [3, 2, 1], [0, 3, 3]]]]);
  const { output, gradInput } = poolWithGrad(x, { kernelSize: 3, stride: 1, padding: 1 });
  assertClose(t, output, [[[[3, 3, 3], [3, 3, 3], [3, 3, 3]]]], 'values');
  // torch 1.13: indices [[1,1,1],[1,1,1],[3,3,7]] -> (0,1) x6, (1,0) x2, (2,1) x1.
  assertClose(t, gradInput, [[[[0, 6, 0], [2, 0, 0], [0, 1, 0]]]], 'gradient to the first maximum (torch)');

  const nan = tensor([[[[1, NaN, 3, NaN], [3, 2, 1, 0]]]]);
  const r = poolWithGrad(nan, { kernelSize: 2 });
  assertClose(t, r.output, [[[[NaN, NaN]]]], 'a NaN in the window gives NaN');
  // torch 1.13: indices [1, 3]: the NaN (the last one of the window) receives the gradient.
  assertClose(t, r.gradInput, [[[[0, 1, 0, 1], [0, 0, 0, 0]]]], 'the NaN gets the gradient');

  const ninf = tensor([[[[-Infinity, -Infinity], [-Infinity, -Infinity]]]]);
  const s = poolWithGrad(ninf, { kernelSize: 3, stride: 1, padding: 1 });
  assertClose(t, s.output, [[[[-Infinity, -Infinity], [-Infinity, -Infinity]]]], 'all -inf gives -inf');
  // torch: the index stays at the window's first in-bounds element, (0,0) for every window.
  assertClose(t, s.gradInput, [[[[4, 0], [0, 0]]]], 'all -inf: the first in-bounds element gets the gradient');
  t.end();
});

test('maxPool2d: gradcheck (reference, float64, no ties)', (t) => {
  const g = new Generator(11);
  const x = randn([2, 2, 7, 6], { generator: g, requiresGrad: true });
  assertGradcheck(t, (a) => maxPool2d(a, { kernelSize: 3, stride: 2, padding: 1 }), [x], '3x3 s2 p1');
  assertGradcheck(t, (a) => maxPool2d(a, { kernelSize: [3, 2], stride: [2, 1], padding: [1, 0] }), [x], 'kernel [3,2] stride [2,1] padding [1,0]');
  assertGradcheck(t, (a) => maxPool2d(a, { kernelSize: 1, stride: 2 }), [x], 'kernel 1 stride 2');
  assertGradcheck(t, (a) => maxPool2d(a, { kernelSize: 2 }), [x], '2x2 stride 2 (odd height: last row dropped)');
  t.end();
});

test('maxPool2d: backends agree (outputs and gradients, with ties, NaN and empty batches)', (t) => {
  const g = new Generator(5);
  const x = randn([2, 3, 9, 11], { generator: g });
  const gradOutput = (o: MaxPool2dOptions, shape: readonly number[]) => {
    const probe = maxPool2d(randn([...shape]), o);
    return randn([...probe.shape], { generator: g });
  };
  const configs: Array<[string, MaxPool2dOptions]> = [
    ['3x3 s2 p1', { kernelSize: 3, stride: 2, padding: 1 }],
    ['kernel 1 s2', { kernelSize: 1, stride: 2 }],
    ['2x2', { kernelSize: 2 }],
    ['[3,2] s[2,1] p[1,0]', { kernelSize: [3, 2], stride: [2, 1], padding: [1, 0] }],
    ['5x5 s1 p2 (overlapping windows)', { kernelSize: 5, stride: 1, padding: 2 }],
    ['4x3 s3 p[2,1]', { kernelSize: [4, 3], stride: 3, padding: [2, 1] }],
  ];
  for (const [label, o] of configs) {
    const gy = gradOutput(o, x.shape);
    assertBackendsAgree(t, `maxPool2d ${label}`, () => poolWithGrad(x, o, gy));
  }
  const ties = randint(0, 3, [2, 2, 6, 7], { generator: g }).float();
  assertBackendsAgree(t, 'maxPool2d ties', () => poolWithGrad(ties, { kernelSize: 3, stride: 1, padding: 1 }));
  const withNaN = tensor([[[[1, NaN, 3, NaN], [3, 2, 1, 0], [-Infinity, -Infinity, 5, 5]]]]);
  assertBackendsAgree(t, 'maxPool2d NaN and -inf', () => poolWithGrad(withNaN, { kernelSize: 2, stride: 1 }));
  assertBackendsAgree(t, 'maxPool2d empty batch', () => poolWithGrad(randn([0, 3, 8, 8]), { kernelSize: 3, stride: 2, padding: 1 }));
  t.end();
});

test('maxPool2d: the gpu kernels run in chunks of whole planes (float32 indices below 2^24)', (t) => {
  const g = new Generator(6);
  const x = randn([3, 2, 7, 6], { generator: g });
  const gy = randn([3, 2, 4, 3], { generator: g });
  setPoolIndexLimit(100); // 42 input elements per plane: two planes per chunk, three chunks
  try {
    assertBackendsAgree(t, 'maxPool2d in chunks', () => poolWithGrad(x, { kernelSize: 3, stride: 2, padding: 1 }, gy));
    if (backendsUnderTest(t).includes('gpu')) {
      setPoolIndexLimit(40);
      assertThrowsMessage(
        t,
        () => withBackend('gpu', () => maxPool2d(x, { kernelSize: 3, stride: 2, padding: 1 })),
        ['maxPool2d.forward (gpu): a 7x6 plane has 42 elements', 'exact only below 40'],
        'a plane too large for float32 indices is refused',
      );
    }
  } finally {
    setPoolIndexLimit();
  }
  t.end();
});

test('maxPool2d: zero-size batch gives an empty output and empty gradient', (t) => {
  const x = randn([0, 3, 8, 8], { requiresGrad: true });
  const y = maxPool2d(x, { kernelSize: 3, stride: 2, padding: 1 });
  t.deepEqual(y.shape, [0, 3, 4, 4], 'output shape');
  y.sum().backward();
  t.deepEqual(x.grad!.shape, [0, 3, 8, 8], 'gradient shape');
  t.end();
});

test('maxPool2d: bad input', (t) => {
  const x = randn([1, 2, 4, 4]);
  assertThrowsMessage(t, () => maxPool2d(randn([2, 4, 4]), { kernelSize: 2 }), 'maxPool2d: input must be 4-D, got shape [2,4,4]', 'rank');
  assertThrowsMessage(t, () => maxPool2d(x, { kernelSize: 5 }), ['maxPool2d: kernelSize [5,5] is larger than the padded input', '[1,2,4,4]', '4x4'], 'kernel larger than the input');
  assertThrowsMessage(t, () => maxPool2d(x, { kernelSize: [1, 7], padding: [0, 1] }), ['kernelSize [1,7] is larger than the padded input', '4x6'], 'kernel larger than the padded input');
  assertThrowsMessage(t, () => maxPool2d(x, { kernelSize: 3, padding: 2 }), 'maxPool2d: padding [2,2] must be at most half of kernelSize [3,3]', 'padding > kernel / 2');
  assertThrowsMessage(t, () => maxPool2d(x, { kernelSize: 1, padding: 1 }), 'padding [1,1] must be at most half of kernelSize [1,1]', 'padding with kernel 1');
  assertThrowsMessage(t, () => maxPool2d(x, { kernelSize: 2, stride: 0 }), 'maxPool2d: stride must be an integer >= 1', 'zero stride');
  assertThrowsMessage(t, () => maxPool2d(x, { kernelSize: 2, stride: [1, -1] }), 'maxPool2d: stride must be an integer >= 1', 'negative stride');
  assertThrowsMessage(t, () => maxPool2d(x, { kernelSize: 1.5 }), 'maxPool2d: kernelSize must be an integer >= 1', 'non-integer kernel');
  assertThrowsMessage(t, () => maxPool2d(x, { kernelSize: 0 }), 'maxPool2d: kernelSize must be an integer >= 1', 'zero kernel');
  assertThrowsMessage(t, () => maxPool2d(x, {} as MaxPool2dOptions), 'maxPool2d: kernelSize is required', 'missing kernel');
  assertThrowsMessage(t, () => maxPool2d(randn([1, 2, 0, 4]), { kernelSize: 1 }), 'maxPool2d: input must have non-zero channels, height and width', 'empty plane');
  t.end();
});

test('maxPool2d: torchvision parity fixtures, every backend', (t) => {
  const dir = fileURLToPath(new URL('../fixtures/ops', import.meta.url));
  for (const backend of backendsUnderTest(t)) {
    const lines = runParity(dir, { backend, ops: ['max_pool2d'] });
    t.ok(lines.length >= 5, `${backend}: ${lines.length} max_pool2d cases`);
    for (const line of lines) t.equal(line.status, 'PASS', `${backend}: ${formatLine(line)}`);
  }
  t.end();
});
