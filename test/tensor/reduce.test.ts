import test from 'tape';
import { tensor, zeros, randn, manualSeed, softmax, Tensor, full } from '../../lib/index.js';
import { assertClose, assertGradcheck, assertThrowsMessage } from '../helpers.js';

const r = (shape: number[], seed: number): Tensor => {
  manualSeed(seed);
  return randn(shape, { requiresGrad: true });
};

test('sum and mean over all, one and several dims, with keepdim', (t) => {
  const x = tensor([[[1, 2], [3, 4]], [[5, 6], [7, 8]]]); // [2,2,2]
  assertClose(t, x.sum(), 36, 'sum of all');
  assertClose(t, x.sum(0), [[6, 8], [10, 12]], 'sum over dim 0');
  assertClose(t, x.sum(-1), [[3, 7], [11, 15]], 'sum over the last dim (negative index)');
  assertClose(t, x.sum([0, 2]), [14, 22], 'sum over dims 0 and 2');
  t.deepEqual(x.sum(1, true).shape, [2, 1, 2], 'keepdim keeps a size-1 dim');
  assertClose(t, x.mean(), 4.5, 'mean of all');
  assertClose(t, x.mean([1, 2], true), [[[2.5]], [[6.5]]], 'mean over two dims, keepdim');
  t.deepEqual(tensor(3).sum().shape, [], 'sum of a scalar is a scalar');
  assertClose(t, tensor(3).sum(0), 3, 'a scalar accepts dim 0');
  assertThrowsMessage(t, () => x.sum(3), 'sum: dim 3 is out of range for a 3-d tensor', 'bad dim');
  assertThrowsMessage(t, () => x.sum([1, -2]), 'repeats', 'repeated dim');
  t.end();
});

test('reductions over zero-size dims', (t) => {
  const e = zeros([0, 3]);
  assertClose(t, e.sum(0), [0, 0, 0], 'sum over an empty dim is 0');
  t.deepEqual(e.sum(1).shape, [0], 'sum over a full dim of an empty tensor');
  assertClose(t, e.mean(0), [NaN, NaN, NaN], 'mean over an empty dim is NaN (0/0), as in PyTorch');
  assertThrowsMessage(t, () => e.max(), 'max: cannot reduce an empty tensor', 'max of an empty tensor');
  assertThrowsMessage(t, () => e.max(0), 'cannot reduce over dimension 0 of size 0', 'max over an empty dim');
  t.end();
});

test('max/min with dim: values and first-index ties; argmax/argmin', (t) => {
  const x = tensor([[1, 5, 5], [7, 0, -1]]);
  const m = x.max(1);
  assertClose(t, m.values, [5, 7], 'max values along dim 1');
  t.deepEqual(Array.from(m.indices.data), [1, 0], 'indices: the first maximum on ties');
  t.equal(m.indices.dtype, 'int32', 'indices are int32');
  const n = x.min(0, true);
  assertClose(t, n.values, [[1, 0, -1]], 'min along dim 0 with keepdim');
  t.deepEqual(n.indices.shape, [1, 3], 'keepdim indices shape');
  assertClose(t, x.max(), 7, 'max of all');
  assertClose(t, x.min(), -1, 'min of all');
  t.deepEqual(x.argmax().toArray(), 3, 'argmax of the flattened tensor');
  t.deepEqual(x.argmin(1).toArray(), [0, 2], 'argmin along dim 1');
  t.deepEqual(x.argmax(0, true).shape, [1, 3], 'argmax keepdim');
  t.deepEqual(tensor([1, NaN, 3]).argmax().toArray(), 1, 'NaN counts as the maximum (PyTorch propagates NaN)');
  assertClose(t, tensor([1, NaN, 3]).max(), NaN, 'max propagates NaN');
  t.end();
});

test('max/min gradients: to the selected index with dim, shared among ties without', (t) => {
  const x = tensor([[1, 5, 5], [7, 0, 7]], { requiresGrad: true });
  x.max(1).values.sum().backward();
  assertClose(t, x.grad!, [[0, 1, 0], [1, 0, 0]], 'max(dim): the gradient goes to the returned index');
  x.grad = null;
  x.max().backward();
  assertClose(t, x.grad!, [[0, 0, 0], [0.5, 0, 0.5]], 'max(): the gradient is shared by tied maxima');
  assertGradcheck(t, (a) => a.max(0).values, [r([3, 4], 3)], 'max(dim) gradcheck');
  assertGradcheck(t, (a) => a.min(-1, true).values, [r([3, 4], 4)], 'min(dim, keepdim) gradcheck');
  assertGradcheck(t, (a) => a.max(), [r([3, 4], 5)], 'max() gradcheck');
  assertGradcheck(t, (a) => a.min(), [r([3, 4], 6)], 'min() gradcheck');
  t.end();
});

test('sum and mean gradients', (t) => {
  const x = r([2, 3, 4], 7);
  assertGradcheck(t, (a) => a.sum(), [x], 'sum()');
  assertGradcheck(t, (a) => a.sum(1), [x], 'sum(1)');
  assertGradcheck(t, (a) => a.sum([0, 2], true), [x], 'sum([0,2], keepdim)');
  assertGradcheck(t, (a) => a.mean(-1), [x], 'mean(-1)');
  assertGradcheck(t, (a) => a.mean(), [x], 'mean()');
  t.end();
});

test('softmax, logSoftmax and logsumexp: values, stability, gradients', (t) => {
  const x = tensor([[1, 2, 3], [0, 0, 0]]);
  const e = [Math.exp(1), Math.exp(2), Math.exp(3)];
  const z = e[0]! + e[1]! + e[2]!;
  assertClose(t, x.softmax(1), [[e[0]! / z, e[1]! / z, e[2]! / z], [1 / 3, 1 / 3, 1 / 3]], 'softmax by hand');
  assertClose(t, x.logSoftmax(1), [[1 - Math.log(z), 2 - Math.log(z), 3 - Math.log(z)], [-Math.log(3), -Math.log(3), -Math.log(3)]], 'logSoftmax by hand');
  assertClose(t, x.logsumexp(1), [Math.log(z), Math.log(3)], 'logsumexp by hand');
  const big = tensor([[1000, 1001], [-1000, -1001]]);
  assertClose(t, softmax(big, 1), [[1 / (1 + Math.E), Math.E / (1 + Math.E)], [Math.E / (1 + Math.E), 1 / (1 + Math.E)]], 'softmax of +-1000 does not overflow');
  assertClose(t, big.logSoftmax(1), [[-Math.log(1 + Math.E), -Math.log(1 + Math.E) + 1], [-Math.log(1 + Math.E) + 1, -Math.log(1 + Math.E)]], 'logSoftmax of +-1000 is finite', 1e-4);
  assertClose(t, big.logsumexp(1), [1001 + Math.log(1 + 1 / Math.E), -1000 + Math.log(1 + 1 / Math.E)], 'logsumexp of +-1000', 1e-3);
  assertClose(t, tensor([-Infinity, 0]).logSoftmax(0), [-Infinity, 0], 'a -inf logit gets probability 0');
  assertClose(t, full([2], -Infinity).logsumexp(0), -Infinity, 'logsumexp of all -inf is -inf, not NaN');
  const a = r([3, 5], 8);
  assertGradcheck(t, (v) => v.softmax(1), [a], 'softmax gradcheck');
  assertGradcheck(t, (v) => v.softmax(0), [a], 'softmax over dim 0 gradcheck');
  assertGradcheck(t, (v) => v.logSoftmax(1), [a], 'logSoftmax gradcheck');
  assertGradcheck(t, (v) => v.logsumexp(0, true), [a], 'logsumexp gradcheck');
  t.end();
});
