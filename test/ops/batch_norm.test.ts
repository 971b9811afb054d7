import test from 'tape';
import { Generator, randn, tensor, type Tensor } from '../../lib/index.js';
import { batchNorm2dTraining, withBackend } from '../../lib/ops/index.js';
import { assertClose, assertGradcheck, assertThrowsMessage } from '../helpers.js';
import { assertBackendsAgree, backendsUnderTest } from './helpers.js';

/** The same normalization written with broadcast tensor ops (the formula of Algorithm 1), for comparison. */
function composite(x: Tensor, w: Tensor, b: Tensor, eps: number, relu: boolean): Tensor {
  const c = x.shape[1]!;
  const mean = x.mean([0, 2, 3], true);
  const centred = x.sub(mean);
  const variance = centred.mul(centred).mean([0, 2, 3], true);
  const y = centred.div(variance.add(eps).sqrt()).mul(w.reshape(1, c, 1, 1)).add(b.reshape(1, c, 1, 1));
  return relu ? y.relu() : y;
}

test('batchNorm2dTraining: statistics and output by hand (Ioffe & Szegedy, Algorithm 1)', (t) => {
  // Channel 0 holds 1, 2, 3, 4 (two images): mean 2.5, biased variance 1.25; channel 1 holds 10 four times.
  const x = tensor([[[[1, 2]], [[10, 10]]], [[[3, 4]], [[10, 10]]]]); // [2, 2, 1, 2]
  const r = batchNorm2dTraining(x, tensor([2, 1]), tensor([0, 5]), { eps: 0 });
  t.deepEqual(Array.from(r.mean), [2.5, 10], 'mean per channel');
  t.deepEqual(Array.from(r.variance), [1.25, 0], 'biased variance per channel');
  const s = 2 / Math.sqrt(1.25);
  // Channel 1 has variance 0 and eps 0: 0/0 is NaN, as in PyTorch.
  assertClose(t, r.output.slice(1, 0, 1), [[[[-1.5 * s, -0.5 * s]]], [[[0.5 * s, 1.5 * s]]]], 'channel 0: (x - 2.5) / sqrt(1.25) * 2');
  const relu = batchNorm2dTraining(x, tensor([2, 1]), tensor([0, 5]), { eps: 1e-5, relu: true });
  assertClose(t, relu.output.slice(1, 0, 1), [[[[0, 0]]], [[[0.5 * s, 1.5 * s]]]], 'with relu: the negative half is 0', 1e-4);
  assertClose(t, relu.output.slice(1, 1, 2), [[[[5, 5]]], [[[5, 5]]]], 'constant channel: beta');
  t.end();
});

test('batchNorm2dTraining: equals the broadcast formula, forward and gradients (float64), with and without relu', (t) => {
  const g = new Generator(5);
  for (const relu of [false, true]) {
    const x = randn([3, 4, 5, 3], { generator: g, dtype: 'float64' });
    const w = randn([4], { generator: g, dtype: 'float64' });
    const b = randn([4], { generator: g, dtype: 'float64' });
    const up = randn([3, 4, 5, 3], { generator: g, dtype: 'float64' });
    const run = (f: (x: Tensor, w: Tensor, b: Tensor) => Tensor) => {
      const [xi, wi, bi] = [x, w, b].map((v) => v.detach().requiresGrad_());
      const y = f(xi!, wi!, bi!);
      y.mul(up).sum().backward();
      return { y, gx: xi!.grad!, gw: wi!.grad!, gb: bi!.grad! };
    };
    const got = run((xi, wi, bi) => batchNorm2dTraining(xi, wi, bi, { eps: 1e-3, relu }).output);
    const want = run((xi, wi, bi) => composite(xi, wi, bi, 1e-3, relu));
    for (const k of ['y', 'gx', 'gw', 'gb'] as const) assertClose(t, got[k], want[k], `relu ${relu}: ${k}`, 1e-10, 1e-9);
  }
  t.end();
});

test('batchNorm2dTraining: gradcheck (reference, float64) in input, weight and bias', (t) => {
  const g = new Generator(7);
  const x = randn([2, 3, 3, 2], { generator: g, dtype: 'float64', requiresGrad: true });
  const w = randn([3], { generator: g, dtype: 'float64', requiresGrad: true });
  const b = randn([3], { generator: g, dtype: 'float64', requiresGrad: true });
  assertGradcheck(t, (xi, wi, bi) => batchNorm2dTraining(xi!, wi!, bi!).output, [x, w, b], 'plain');
  assertGradcheck(t, (xi, wi, bi) => batchNorm2dTraining(xi!, wi!, bi!, { relu: true }).output, [x, w, b], 'fused relu');
  t.end();
});

test('batchNorm2dTraining: every backend agrees with the reference (planes of 15, 16 and 1 values; relu on and off)', (t) => {
  const g = new Generator(11);
  for (const [shape, relu] of [[[2, 3, 5, 3], false], [[4, 8, 4, 4], true], [[6, 5, 1, 1], true], [[1, 2, 7, 9], false]] as const) {
    const x = randn([...shape], { generator: g }).mul(3).add(1);
    const w = randn([shape[1]], { generator: g });
    const b = randn([shape[1]], { generator: g });
    const up = randn([...shape], { generator: g });
    assertBackendsAgree(t, `[${shape}] relu ${relu}`, () => {
      const [xi, wi, bi] = [x, w, b].map((v) => v.detach().requiresGrad_());
      const r = batchNorm2dTraining(xi!, wi!, bi!, { relu });
      r.output.mul(up).sum().backward();
      return { output: r.output, mean: tensor(Array.from(r.mean)), variance: tensor(Array.from(r.variance)), gradInput: xi!.grad!, gradWeight: wi!.grad!, gradBias: bi!.grad! };
    }, 1e-5, 1e-4);
  }
  t.end();
});

test('batchNorm2dTraining: a NaN input makes its channel NaN (and the fused relu keeps it); other channels are untouched', (t) => {
  const x = tensor([[[[1, Number.NaN, 2, 2, 2]], [[1, 3, 1, 3, 2]]]]);
  for (const backend of backendsUnderTest(t)) {
    for (const relu of [false, true]) {
      const y = Array.from(withBackend(backend, () => batchNorm2dTraining(x, tensor([1, 1]), tensor([0, 0]), { relu })).output.data);
      t.ok(y.slice(0, 5).every(Number.isNaN), `${backend}, relu ${relu}: channel 0 is NaN`);
      t.ok(Math.abs(y[6]! - 1.1180) < 1e-3, `${backend}, relu ${relu}: channel 1 normalized`);
    }
  }
  t.end();
});

test('batchNorm2dTraining: bad input is named', (t) => {
  const c = tensor([1, 1, 1]);
  assertThrowsMessage(t, () => batchNorm2dTraining(randn([3, 2, 2]), c, c), 'batchNorm2d: input must be 4-D, got shape [3,2,2]', 'rank');
  assertThrowsMessage(t, () => batchNorm2dTraining(randn([1, 3, 2, 2]), tensor([1, 1]), c), 'batchNorm2d: weight has shape [2] but [3] is expected', 'channels');
  assertThrowsMessage(t, () => batchNorm2dTraining(randn([0, 3, 2, 2]), c, c), 'has no values to take statistics of', 'empty');
  t.end();
});
