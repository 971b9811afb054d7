import test from 'tape';
import { tensor, zeros, randn, manualSeed, matmul, Tensor, gemm, getMatmulHook, setMatmulHook, referenceMatmul, type MatmulHook } from '../../lib/index.js';
import { assertClose, assertGradcheck, assertThrowsMessage } from '../helpers.js';

const r = (shape: number[], seed: number): Tensor => {
  manualSeed(seed);
  return randn(shape, { requiresGrad: true });
};

test('matmul: 2-D by hand, vectors, batches with broadcasting', (t) => {
  const a = tensor([[1, 2], [3, 4], [5, 6]]);
  const b = tensor([[1, 0, -1], [2, 1, 0]]);
  assertClose(t, a.matmul(b), [[5, 2, -1], [11, 4, -3], [17, 6, -5]], '[3,2] @ [2,3] by hand');
  assertClose(t, tensor([1, 2, 3]).matmul(tensor([4, 5, 6])), 32, 'vector . vector = scalar');
  t.deepEqual(tensor([1, 2, 3]).matmul(tensor([4, 5, 6])).shape, [], 'dot product is 0-d');
  assertClose(t, a.matmul(tensor([1, 1])), [3, 7, 11], 'matrix @ vector');
  assertClose(t, tensor([1, 1, 1]).matmul(a), [9, 12], 'vector @ matrix');
  const batch = zeros([4, 1, 3, 2]).add(a);
  t.deepEqual(batch.matmul(b).shape, [4, 1, 3, 3], 'batched @ 2-D broadcasts');
  t.deepEqual(zeros([2, 1, 3, 5]).matmul(zeros([4, 5, 6])).shape, [2, 4, 3, 6], 'batch dims broadcast [2,1] with [4]');
  assertClose(t, batch.matmul(b).slice(0, 3, 4).reshape(3, 3), [[5, 2, -1], [11, 4, -3], [17, 6, -5]], 'batched values');
  t.deepEqual(zeros([0, 3]).matmul(zeros([3, 2])).shape, [0, 2], 'empty rows');
  assertClose(t, zeros([2, 0]).matmul(zeros([0, 3])), [[0, 0, 0], [0, 0, 0]], 'empty inner dim gives zeros');
  assertThrowsMessage(t, () => a.matmul(a), 'matmul: shapes [3,2] and [3,2] cannot be multiplied (2 != 3)', 'inner dims');
  assertThrowsMessage(t, () => matmul(tensor(1), a), 'at least 1 dimension', 'scalar operand');
  t.end();
});

test('matmul gradients', (t) => {
  assertGradcheck(t, (x, y) => x.matmul(y), [r([3, 4], 1), r([4, 2], 2)], '2-D');
  assertGradcheck(t, (x, y) => x.matmul(y), [r([2, 3, 4], 3), r([4, 2], 4)], 'batched @ 2-D (broadcast B sums its gradient)');
  assertGradcheck(t, (x, y) => x.matmul(y), [r([2, 1, 2, 3], 5), r([3, 3, 2], 6)], 'broadcast batches on both sides');
  assertGradcheck(t, (x, y) => x.matmul(y), [r([4], 7), r([4], 8)], 'dot');
  assertGradcheck(t, (x, y) => x.matmul(y), [r([4], 9), r([2, 4, 3], 10)], 'vector @ batch');
  t.end();
});

test('matmul: every 2-D product of one floating dtype goes through the matmul hook; mixed and int32 operands use gemm', (t) => {
  const previous = getMatmulHook();
  const calls: Array<[number, number, number]> = [];
  const spy: MatmulHook = (a, b, n, k, m) => {
    calls.push([n, k, m]);
    return referenceMatmul(a, b, n, k, m);
  };
  try {
    setMatmulHook(spy);
    t.equal(getMatmulHook(), spy, 'getMatmulHook returns the hook set');
    const a = r([2, 3, 4], 1);
    const b = r([4, 5], 2);
    const y = a.matmul(b);
    t.deepEqual(calls, [[3, 4, 5], [3, 4, 5]], 'a batch of two: two calls, [n, k, m] each');
    const want = new Float32Array(30);
    gemm(a.data, 0, b.data, 0, want, 0, 3, 4, 5);
    gemm(a.data, 12, b.data, 0, want, 15, 3, 4, 5);
    assertClose(t, [...y.data], [...want], 'the hook result lands in each batch', 0, 0);
    calls.length = 0;
    y.sum().backward();
    t.equal(calls.length, 4, 'backward: its two products per batch go through the hook too');
    calls.length = 0;
    tensor([[1, 2]], { dtype: 'int32' }).matmul(tensor([[3], [4]], { dtype: 'int32' }));
    tensor([[1, 2]]).matmul(tensor([[3], [4]], { dtype: 'float64' }));
    t.equal(calls.length, 0, 'int32 and mixed float32/float64 operands run gemm directly');
    setMatmulHook(null);
    t.equal(getMatmulHook(), referenceMatmul, 'null restores the reference loop');
  } finally {
    setMatmulHook(previous);
  }
  t.end();
});
