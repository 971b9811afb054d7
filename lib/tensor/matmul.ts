/**
 * Matrix multiplication with PyTorch's `matmul` rules: 1-D operands are promoted to a row
 * (left) or column (right) and the added dimension removed afterwards; leading (batch)
 * dimensions broadcast.
 */
import { Tensor } from './tensor.js';
import { defineOp } from './autograd.js';
import { type TypedArray, allocate, promoteTypes } from './dtype.js';
import { broadcastShapes, formatShape, shapeSize } from './shape.js';
import { broadcastOffsets, unbroadcast } from './elementwise.js';

/**
 * `C[i][j] = sum_p A[i][p] B[p][j]` for row-major `A` (n x k), `B` (k x m), `C` (n x m), at the
 * given offsets. The loop order i-p-j walks `B` and `C` along rows, which keeps it cache-friendly.
 */
export function gemm(A: TypedArray, aOffset: number, B: TypedArray, bOffset: number, C: TypedArray, cOffset: number, n: number, k: number, m: number): void {
  const row = new Float64Array(m);
  for (let i = 0; i < n; i++) {
    row.fill(0);
    for (let p = 0; p < k; p++) {
      const a = A[aOffset + i * k + p]!;
      if (a === 0) continue;
      const b = bOffset + p * m;
      for (let j = 0; j < m; j++) row[j] += a * B[b + j]!;
    }
    for (let j = 0; j < m; j++) C[cOffset + i * m + j] = row[j]!;
  }
}

const matmulOp = defineOp({
  name: 'matmul',
  forward: (_ctx, a: Tensor, b: Tensor) => {
    const [n, k] = a.shape.slice(-2) as [number, number];
    const [k2, m] = b.shape.slice(-2) as [number, number];
    if (k !== k2) {
      throw new Error(`matmul: shapes ${formatShape(a.shape)} and ${formatShape(b.shape)} cannot be multiplied (${k} != ${k2})`);
    }
    const batch = broadcastShapes('matmul', a.shape.slice(0, -2), b.shape.slice(0, -2));
    // Which matrix of a and of b each output matrix reads (batch dimensions broadcast).
    const aBatch = broadcastOffsets(a.shape.slice(0, -2), batch);
    const bBatch = broadcastOffsets(b.shape.slice(0, -2), batch);
    const dtype = promoteTypes(a.dtype, b.dtype);
    const out = allocate(dtype, shapeSize(batch) * n * m);
    for (let t = 0; t < aBatch.length; t++) {
      gemm(a.data, aBatch[t]! * n * k, b.data, bBatch[t]! * k * m, out, t * n * m, n, k, m);
    }
    return new Tensor(out, [...batch, n, m], dtype);
  },
  // For C = A B: dL/dA = dL/dC B^T and dL/dB = A^T dL/dC, summed over broadcast batch dimensions.
  backward: (g, { args: [a, b], needsInputGrad }) => [
    needsInputGrad[0] ? unbroadcast(g.matmul(b.transpose(-1, -2)), a.shape) : null,
    needsInputGrad[1] ? unbroadcast(a.transpose(-1, -2).matmul(g), b.shape) : null,
  ],
});

/**
 * The matrix product of `a` and `b`: dot product for two vectors, matrix-vector, vector-matrix,
 * matrix-matrix, and batched with broadcasting for more dimensions.
 */
export function matmul(a: Tensor, b: Tensor): Tensor {
  if (a.ndim === 0 || b.ndim === 0) {
    throw new Error(`matmul: both arguments need at least 1 dimension, got shapes ${formatShape(a.shape)} and ${formatShape(b.shape)}`);
  }
  const a2 = a.ndim === 1 ? a.unsqueeze(0) : a;
  const b2 = b.ndim === 1 ? b.unsqueeze(1) : b;
  let out = matmulOp(a2, b2);
  if (b.ndim === 1) out = out.squeeze(-1);
  if (a.ndim === 1) out = out.squeeze(a.ndim === 1 && b.ndim === 1 ? -1 : -2);
  return out;
}
