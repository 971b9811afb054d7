import test from 'tape';
import { tensor, arange, zeros, randn, manualSeed, concat, stack, pad, Tensor } from '../../lib/index.js';
import { assertGradcheck, assertThrowsMessage } from '../helpers.js';

const r = (shape: number[], seed: number): Tensor => {
  manualSeed(seed);
  return randn(shape, { requiresGrad: true });
};

test('reshape, view, flatten, squeeze, unsqueeze share storage', (t) => {
  const x = arange(6).float();
  const y = x.reshape(2, 3);
  t.deepEqual(y.shape, [2, 3], 'reshape(2, 3)');
  t.equal(y.data, x.data, 'a reshape is a view: same storage');
  t.deepEqual(x.view([3, -1]).shape, [3, 2], 'view with -1');
  t.deepEqual(zeros([2, 3, 4]).flatten(1).shape, [2, 12], 'flatten(1)');
  t.deepEqual(zeros([2, 3, 4]).flatten(0, 1).shape, [6, 4], 'flatten(0, 1)');
  t.deepEqual(zeros([1, 3, 1]).squeeze().shape, [3], 'squeeze all');
  t.deepEqual(zeros([1, 3, 1]).squeeze(0).shape, [3, 1], 'squeeze(0)');
  t.deepEqual(zeros([2, 3]).squeeze(0).shape, [2, 3], 'squeeze of a non-1 dim is a no-op, as in PyTorch');
  t.deepEqual(zeros([2, 3]).unsqueeze(-1).shape, [2, 3, 1], 'unsqueeze(-1)');
  t.deepEqual(zeros([2, 3]).unsqueeze(0).shape, [1, 2, 3], 'unsqueeze(0)');
  t.deepEqual(zeros([0, 4]).reshape(-1, 2).shape, [0, 2], 'reshape of an empty tensor');
  assertThrowsMessage(t, () => x.reshape(4, -1), 'reshape: shape [4,-1] is invalid for input of shape [6]', 'reshape size mismatch');
  assertThrowsMessage(t, () => x.reshape(-1, -1), 'only one dimension can be -1', 'two -1');
  assertGradcheck(t, (a) => a.reshape(3, 4).mul(a.reshape(3, 4)), [r([2, 6], 1)], 'reshape gradcheck');
  assertGradcheck(t, (a) => a.unsqueeze(1).squeeze(1).flatten(), [r([2, 3], 2)], 'squeeze/unsqueeze/flatten gradcheck');
  t.end();
});

test('permute and transpose', (t) => {
  const x = arange(6).reshape(1, 2, 3);
  const p = x.permute(2, 0, 1);
  t.deepEqual(p.shape, [3, 1, 2], 'permute shape');
  t.deepEqual(p.toArray(), [[[0, 3]], [[1, 4]], [[2, 5]]], 'permute values');
  t.deepEqual(arange(6).reshape(2, 3).transpose(0, 1).toArray(), [[0, 3], [1, 4], [2, 5]], 'transpose');
  t.deepEqual(x.transpose(-1, -3).shape, [3, 2, 1], 'transpose with negative dims');
  assertThrowsMessage(t, () => x.permute(0, 1), 'not a permutation', 'permute needs every dim');
  assertThrowsMessage(t, () => x.permute(0, 1, 1), 'not a permutation', 'permute rejects repeats');
  assertGradcheck(t, (a) => a.permute(1, 2, 0), [r([2, 3, 4], 3)], 'permute gradcheck');
  assertGradcheck(t, (a) => a.transpose(0, 2), [r([2, 3, 4], 4)], 'transpose gradcheck');
  t.end();
});

test('expand', (t) => {
  const x = tensor([[1], [2]]);
  t.deepEqual(x.expand(2, 3).toArray(), [[1, 1, 1], [2, 2, 2]], 'expand a column');
  t.deepEqual(x.expand(2, 2, -1).toArray(), [[[1], [2]], [[1], [2]]], 'expand with a new leading dim and -1');
  assertThrowsMessage(t, () => x.expand(3, 3), 'expand: cannot expand shape [2,1] to [3,3]', 'expand a non-1 dim');
  assertGradcheck(t, (a) => a.expand(4, 3, 2), [r([3, 1], 5)], 'expand gradcheck (sums over the copies)');
  t.end();
});

test('slice and narrow, with Python semantics', (t) => {
  const x = arange(10);
  t.deepEqual(x.slice(0, 2, 5).toArray(), [2, 3, 4], 'x[2:5]');
  t.deepEqual(x.slice(0, -3).toArray(), [7, 8, 9], 'x[-3:]');
  t.deepEqual(x.slice(0, undefined, undefined, 3).toArray(), [0, 3, 6, 9], 'x[::3]');
  t.deepEqual(x.slice(0, 8, 100).toArray(), [8, 9], 'out-of-range end is clipped');
  t.deepEqual(x.slice(0, 5, 2).toArray(), [], 'empty slice');
  const m = arange(12).reshape(3, 4);
  t.deepEqual(m.slice(1, 1, 3).toArray(), [[1, 2], [5, 6], [9, 10]], 'slice along dim 1');
  t.deepEqual(m.narrow(0, 1, 2).toArray(), [[4, 5, 6, 7], [8, 9, 10, 11]], 'narrow');
  t.deepEqual(m.narrow(0, -1, 1).toArray(), [[8, 9, 10, 11]], 'narrow with a negative start');
  assertThrowsMessage(t, () => m.narrow(1, 3, 2), 'narrow: start 3 and length 2 do not fit in dimension 1 of shape [3,4]', 'narrow out of range');
  assertThrowsMessage(t, () => x.slice(0, 0, 5, 0), 'step must be a positive integer', 'step 0');
  assertGradcheck(t, (a) => a.slice(1, 1, undefined, 2), [r([3, 5], 6)], 'slice with a step gradcheck');
  assertGradcheck(t, (a) => a.narrow(0, 1, 2), [r([3, 5], 7)], 'narrow gradcheck');
  t.end();
});

test('concat and stack', (t) => {
  const a = tensor([[1, 2]]);
  const b = tensor([[3, 4], [5, 6]]);
  t.deepEqual(concat([a, b]).toArray(), [[1, 2], [3, 4], [5, 6]], 'concat along 0');
  t.deepEqual(concat([b, b], 1).toArray(), [[3, 4, 3, 4], [5, 6, 5, 6]], 'concat along 1');
  t.deepEqual(concat([zeros([0, 2]), a]).toArray(), [[0, 0]].map(() => [1, 2]), 'concat with an empty tensor');
  t.deepEqual(stack([tensor([1, 2]), tensor([3, 4])], 1).toArray(), [[1, 3], [2, 4]], 'stack along a new dim 1');
  t.deepEqual(stack([tensor(1), tensor(2)]).toArray(), [1, 2], 'stack scalars');
  assertThrowsMessage(t, () => concat([a, tensor([[1, 2, 3]])]), 'concat: tensor 1 has shape [1,3] but tensor 0 has shape [1,2]', 'concat shape mismatch');
  assertThrowsMessage(t, () => stack([a, b]), 'stack: tensor 1 has shape [2,2]', 'stack shape mismatch');
  assertThrowsMessage(t, () => concat([]), 'non-empty', 'concat of nothing');
  t.equal(concat([a, b.to('float64')]).dtype, 'float64', 'concat promotes dtypes');
  assertGradcheck(t, (x, y) => concat([x, y, x], 1), [r([2, 3], 8), r([2, 1], 9)], 'concat gradcheck (an input used twice)');
  assertGradcheck(t, (x, y) => stack([x, y], -1), [r([2, 3], 10), r([2, 3], 11)], 'stack gradcheck');
  t.end();
});

test('pad (constant), as F.pad', (t) => {
  const x = tensor([[1, 2], [3, 4]]);
  t.deepEqual(pad(x, [1, 0]).toArray(), [[0, 1, 2], [0, 3, 4]], 'pad the last dim on the left');
  t.deepEqual(pad(x, [0, 1, 1, 0], -1).toArray(), [[-1, -1, -1], [1, 2, -1], [3, 4, -1]], 'pad last two dims with a value');
  t.deepEqual(pad(zeros([1, 1, 1, 1]), [1, 1, 1, 1]).shape, [1, 1, 3, 3], 'NCHW padding');
  assertThrowsMessage(t, () => pad(x, [1]), 'pairs', 'odd number of pads');
  assertThrowsMessage(t, () => pad(x, [-1, 0]), 'non-negative', 'negative pads');
  assertGradcheck(t, (a) => pad(a, [1, 2, 0, 1], 3), [r([2, 3], 12)], 'pad gradcheck');
  t.end();
});
