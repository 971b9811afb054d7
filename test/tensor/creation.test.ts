import test from 'tape';
import { tensor, zeros, ones, full, arange, linspace, eye, zerosLike, onesLike, Tensor } from '../../lib/index.js';
import { assertClose, assertThrowsMessage } from '../helpers.js';

test('tensor() from nested arrays, typed arrays and numbers', (t) => {
  const a = tensor([[1, 2, 3], [4, 5, 6]]);
  t.deepEqual(a.shape, [2, 3], 'shape inferred from nesting');
  t.equal(a.dtype, 'float32', 'float32 by default');
  t.ok(a.data instanceof Float32Array, 'Float32Array storage');
  t.equal(a.size, 6, 'size');
  t.equal(a.ndim, 2, 'ndim');
  const s = tensor(2.5);
  t.deepEqual(s.shape, [], 'a number is a scalar');
  t.equal(s.item(), 2.5, 'item()');
  const src = new Float32Array([1, 2, 3, 4]);
  const b = tensor(src, { shape: [2, 2] });
  t.deepEqual(b.toArray(), [[1, 2], [3, 4]], 'typed array with a shape');
  src[0] = 100;
  t.equal(b.data[0], 1, 'tensor() copies its input');
  t.equal(tensor(new Int32Array([1, 2])).dtype, 'int32', 'Int32Array keeps int32');
  t.equal(tensor(new Float64Array([1, 2])).dtype, 'float64', 'Float64Array keeps float64');
  t.deepEqual(Array.from(tensor([1.9, -1.9], { dtype: 'int32' }).data), [1, -1], 'int32 truncates');
  t.deepEqual(tensor([true, false]).toArray(), [1, 0], 'booleans become 1/0');
  t.deepEqual(tensor([]).shape, [0], 'empty list');
  t.deepEqual(tensor([[], []]).shape, [2, 0], 'list of empty lists');
  t.ok(tensor([1], { requiresGrad: true }).requiresGrad, 'requiresGrad option');
  const w = new Tensor(src, [4]);
  t.equal(w.data, src, 'the Tensor constructor wraps storage without copying');
  assertThrowsMessage(t, () => tensor([[1, 2], [3]]), 'ragged nested array: expected 2 elements at [1], got 1', 'ragged arrays');
  assertThrowsMessage(t, () => tensor([1, 'a' as unknown as number]), 'element at [1] is string', 'non-numbers');
  assertThrowsMessage(t, () => tensor([1, 2, 3], { shape: [2, 2] }), 'tensor: shape [2,2] needs 4 elements, got 3', 'shape/size mismatch');
  assertThrowsMessage(t, () => new Tensor(new Float32Array(3), [2, 2]), 'needs 4 elements, got 3', 'constructor checks the size');
  assertThrowsMessage(t, () => new Tensor(new Float32Array(1), [1], 'int32'), 'cannot hold dtype int32', 'constructor checks the dtype');
  assertThrowsMessage(t, () => zeros([2, -1]), 'invalid shape [2,-1]', 'negative sizes');
  assertThrowsMessage(t, () => a.item(), 'only a one-element tensor', 'item of many');
  t.end();
});

test('constant factories', (t) => {
  t.deepEqual(zeros([2, 2]).toArray(), [[0, 0], [0, 0]], 'zeros');
  t.deepEqual(ones([3]).toArray(), [1, 1, 1], 'ones');
  t.deepEqual(full([2], 7, { dtype: 'int32' }).toArray(), [7, 7], 'full int32');
  t.equal(full([2], 7, { dtype: 'int32' }).dtype, 'int32', 'full dtype');
  t.deepEqual(zerosLike(tensor([[1, 2]], { dtype: 'float64' })).shape, [1, 2], 'zerosLike shape');
  t.equal(onesLike(tensor([1], { dtype: 'int32' })).dtype, 'int32', 'onesLike keeps the dtype');
  t.deepEqual(eye(2, 3).toArray(), [[1, 0, 0], [0, 1, 0]], 'eye(2, 3)');
  t.deepEqual(zeros([0]).shape, [0], 'zero-size');
  t.end();
});

test('arange and linspace follow PyTorch', (t) => {
  t.deepEqual(arange(5).toArray(), [0, 1, 2, 3, 4], 'arange(5)');
  t.equal(arange(5).dtype, 'int32', 'integer arguments give int32');
  t.deepEqual(arange(2, 5).toArray(), [2, 3, 4], 'arange(2, 5)');
  t.deepEqual(arange(5, 0, -2).toArray(), [5, 3, 1], 'negative step');
  assertClose(t, arange(0, 1, 0.25), [0, 0.25, 0.5, 0.75], 'fractional step');
  t.equal(arange(0, 1, 0.25).dtype, 'float32', 'fractional arguments give float32');
  t.deepEqual(arange(0, 1, 0.3).shape, [4], 'length is ceil((end - start) / step)');
  assertThrowsMessage(t, () => arange(0, 5, 0), 'step must be a non-zero', 'step 0');
  assertThrowsMessage(t, () => arange(5, 0, 1), 'cannot be walked', 'wrong direction');
  assertClose(t, linspace(0, 1, 5), [0, 0.25, 0.5, 0.75, 1], 'linspace(0, 1, 5)');
  t.equal(linspace(-1, 1, 7).data[6], 1, 'the end is exact');
  t.deepEqual(linspace(3, 9, 1).toArray(), [3], 'one step gives the start');
  t.deepEqual(linspace(0, 1, 0).shape, [0], 'zero steps');
  t.end();
});
