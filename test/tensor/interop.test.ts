import test from 'tape';
import ndarray from 'ndarray';
import { tensor, fromNdarray, arange } from '../../lib/index.js';

test('toNdarray shares storage; fromNdarray shares when row-major, copies otherwise', (t) => {
  const x = tensor([[1, 2, 3], [4, 5, 6]]);
  const nd = x.toNdarray();
  t.deepEqual(nd.shape, [2, 3], 'shape');
  t.equal(nd.get(1, 2), 6, 'element (1, 2)');
  nd.set(0, 0, 42);
  t.equal(x.data[0], 42, 'writes through the ndarray reach the tensor (zero-copy)');
  const back = fromNdarray(nd);
  t.equal(back.data.buffer, x.data.buffer, 'row-major ndarray: no copy');
  const transposed = nd.transpose(1, 0);
  const tt = fromNdarray(transposed);
  t.deepEqual(tt.toArray(), [[42, 4], [2, 5], [3, 6]], 'a transposed view is copied in its logical order');
  t.notEqual(tt.data.buffer, x.data.buffer, 'copied');
  const sliced = fromNdarray(nd.hi(2, 2).lo(0, 1));
  t.deepEqual(sliced.toArray(), [[2], [5]], 'a sliced view');
  const plain = fromNdarray(ndarray([1, 2, 3, 4], [2, 2]));
  t.equal(plain.dtype, 'float32', 'a plain-array ndarray becomes float32');
  t.deepEqual(plain.toArray(), [[1, 2], [3, 4]], 'values');
  t.equal(fromNdarray(arange(4).toNdarray()).dtype, 'int32', 'Int32Array data stays int32');
  const offset = fromNdarray(ndarray(new Float32Array([9, 1, 2, 3, 4]), [2, 2], [2, 1], 1));
  t.deepEqual(offset.toArray(), [[1, 2], [3, 4]], 'an offset into the storage');
  t.end();
});

test('toArray gives nested arrays', (t) => {
  t.deepEqual(tensor([[1, 2]]).toArray(), [[1, 2]], '2-D');
  t.equal(tensor(5).toArray(), 5, 'scalar');
  t.end();
});
