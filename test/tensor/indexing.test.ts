import test from 'tape';
import { tensor, arange, zeros, randn, manualSeed, Tensor, indexSelect } from '../../lib/index.js';
import { assertClose, assertGradcheck, assertThrowsMessage } from '../helpers.js';

const r = (shape: number[], seed: number): Tensor => {
  manualSeed(seed);
  return randn(shape, { requiresGrad: true });
};
const idx = (v: number[][] | number[]) => tensor(v, { dtype: 'int32' });

test('indexSelect', (t) => {
  const x = arange(12).reshape(3, 4);
  t.deepEqual(x.indexSelect(0, [2, 0]).toArray(), [[8, 9, 10, 11], [0, 1, 2, 3]], 'rows 2 and 0');
  t.deepEqual(x.indexSelect(1, idx([3, 3, 1])).toArray(), [[3, 3, 1], [7, 7, 5], [11, 11, 9]], 'columns with a repeat');
  t.deepEqual(indexSelect(x, 0, []).shape, [0, 4], 'empty index');
  assertThrowsMessage(t, () => x.indexSelect(0, [3]), 'indexSelect: index 3 is out of range for dimension 0 of size 3', 'out of range');
  assertThrowsMessage(t, () => x.indexSelect(0, tensor([1])), 'int32', 'float index rejected');
  const a = tensor([1, 2, 3], { requiresGrad: true });
  a.indexSelect(0, [0, 0, 2]).sum().backward();
  assertClose(t, a.grad!, [2, 0, 1], 'a row selected twice gets both gradients');
  assertGradcheck(t, (v) => v.indexSelect(1, [2, 0, 2]), [r([2, 3, 2], 1)], 'indexSelect gradcheck');
  t.end();
});

test('gather and scatterAdd (each the other\'s gradient)', (t) => {
  const x = tensor([[1, 2], [3, 4]]);
  t.deepEqual(x.gather(1, idx([[0, 0], [1, 0]])).toArray(), [[1, 1], [4, 3]], 'gather dim 1 (PyTorch docs example)');
  t.deepEqual(x.gather(0, idx([[1, 0]])).toArray(), [[3, 2]], 'gather dim 0 with a smaller index');
  const s = zeros([3, 2]).scatterAdd(0, idx([[0, 1], [0, 2]]), tensor([[1, 2], [3, 4]]));
  t.deepEqual(s.toArray(), [[4, 0], [0, 2], [0, 4]], 'scatterAdd adds at repeated positions');
  assertThrowsMessage(t, () => x.gather(1, idx([[2, 0], [0, 0]])), 'gather: index 2 is out of range for dimension 1 of size 2', 'gather out of range');
  assertThrowsMessage(t, () => x.gather(1, idx([0, 1])), 'does not fit', 'gather index rank');
  assertThrowsMessage(t, () => x.scatterAdd(0, idx([[0]]), tensor([[1, 2]])), 'src has shape [1,2] but index has shape [1,1]', 'scatterAdd src shape');
  const index = idx([[1, 0, 1], [2, 2, 0]]);
  assertGradcheck(t, (v) => v.gather(0, index), [r([3, 3], 2)], 'gather gradcheck');
  assertGradcheck(t, (base, src) => base.scatterAdd(0, index, src), [r([3, 3], 3), r([2, 3], 4)], 'scatterAdd gradcheck (both inputs)');
  t.end();
});

test('maskedSelect and nonzero', (t) => {
  const x = tensor([[1, -2], [-3, 4]], { requiresGrad: true });
  const picked = x.maskedSelect(x.gt(0));
  assertClose(t, picked, [1, 4], 'positive elements in row-major order');
  picked.mul(tensor([10, 20])).sum().backward();
  assertClose(t, x.grad!, [[10, 0], [0, 20]], 'maskedSelect gradient scatters back');
  t.deepEqual(x.maskedSelect(tensor([1, 0], { dtype: 'int32' })).shape, [2], 'a broadcast mask (a column pattern)');
  t.deepEqual(tensor([[0, 1], [2, 0]]).nonzero().toArray(), [[0, 1], [1, 0]], 'nonzero');
  t.deepEqual(zeros([2, 2]).nonzero().shape, [0, 2], 'nonzero of zeros is [0, ndim]');
  t.deepEqual(tensor([NaN, 0]).nonzero().toArray(), [[0]], 'NaN is non-zero');
  assertGradcheck(t, (v) => v.maskedSelect(tensor([[1, 0, 1]], { dtype: 'int32' })), [r([2, 3], 5)], 'maskedSelect gradcheck');
  t.end();
});

test('sort, argsort, topk: stable, NaN largest, gradients through gather', (t) => {
  const x = tensor([3, 1, 2, 1]);
  const s = x.sort();
  t.deepEqual(s.values.toArray(), [1, 1, 2, 3], 'ascending values');
  t.deepEqual(s.indices.toArray(), [1, 3, 2, 0], 'stable: equal values keep their order');
  t.deepEqual(x.sort(0, true).indices.toArray(), [0, 2, 1, 3], 'descending, still stable');
  t.deepEqual(x.argsort().toArray(), [1, 3, 2, 0], 'argsort');
  t.deepEqual(tensor([2, NaN, -1]).sort().indices.toArray(), [2, 0, 1], 'NaN sorts last ascending');
  t.deepEqual(tensor([2, NaN, -1]).sort(0, true).indices.toArray(), [1, 0, 2], 'NaN first descending');
  const m = tensor([[5, 1, 4], [0, 9, 9]]);
  const top = m.topk(2);
  t.deepEqual(top.values.toArray(), [[5, 4], [9, 9]], 'topk values');
  t.deepEqual(top.indices.toArray(), [[0, 2], [1, 2]], 'topk indices, ties in order');
  t.deepEqual(m.topk(1, 0, false).values.toArray(), [[0, 1, 4]], 'smallest along dim 0');
  assertThrowsMessage(t, () => m.topk(4), 'topk: k = 4 is out of range for dimension 1 of size 3', 'k too large');
  assertGradcheck(t, (v) => v.sort(1).values, [r([3, 4], 6)], 'sort gradcheck');
  assertGradcheck(t, (v) => v.topk(2, 0).values, [r([4, 3], 7)], 'topk gradcheck');
  t.end();
});
