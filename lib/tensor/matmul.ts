/**
 * Matrix multiplication with PyTorch's `matmul` rules: 1-D operands are promoted to a row
 * (left) or column (right) and the added dimension removed afterwards; leading (batch)
 * dimensions broadcast.
 *
 * One operation has one kernel: every 2-D product of floating tensors of one dtype goes through
 * the {@link MatmulHook}, which is the readable {@link gemm} loop here and which `lib/ops` sets,
 * when it loads, to its `mm` kernel on the active backend (so that `Tensor.matmul` and `mm` are
 * the same numbers, and `lib/tensor` still imports nothing from `lib/ops`).
 */
import { Tensor } from './tensor.js';
import { defineOp } from './autograd.js';
import { type TypedArray, allocate, dtypeOfArray, isFloating, promoteTypes } from './dtype.js';
import { broadcastOffsets, broadcastShapes, formatShape, shapeSize } from './shape.js';
import { unbroadcast } from './reduce.js';

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

/**
 * The kernel of one 2-D product, `C (n x m) = A (n x k) B (k x m)`, row-major, returning a new
 * array of `a`'s type (`a` and `b` have the same floating type).
 */
export type MatmulHook = (a: TypedArray, b: TypedArray, n: number, k: number, m: number) => TypedArray;

/** The default {@link MatmulHook}: the {@link gemm} loop (float64 accumulation). */
export const referenceMatmul: MatmulHook = (a, b, n, k, m) => {
  const c = allocate(dtypeOfArray(a), n * m);
  gemm(a, 0, b, 0, c, 0, n, k, m);
  return c;
};

let hook: MatmulHook = referenceMatmul;

/**
 * Sets the kernel `matmul` runs for each 2-D product of floating tensors of one dtype (`null`
 * restores {@link referenceMatmul}). `lib/ops` calls this when it loads, with its `mm` kernel
 * on the active backend.
 */
export function setMatmulHook(kernel: MatmulHook | null): void {
  hook = kernel ?? referenceMatmul;
}

/** The kernel `matmul` currently runs (see {@link setMatmulHook}). */
export function getMatmulHook(): MatmulHook {
  return hook;
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
    const shape = [...batch, n, m];
    if (a.dtype !== b.dtype || !isFloating(dtype) || n * k * m === 0) {
      // Mixed or integer operands (or an empty product): the readable loop, straight into the promoted type.
      const out = allocate(dtype, shapeSize(batch) * n * m);
      for (let t = 0; t < aBatch.length; t++) {
        gemm(a.data, aBatch[t]! * n * k, b.data, bBatch[t]! * k * m, out, t * n * m, n, k, m);
      }
      return new Tensor(out, shape, dtype);
    }
    const matrix = (x: Tensor, index: number, size: number): TypedArray =>
      x.data.length === size ? x.data : x.data.subarray(index * size, (index + 1) * size);
    if (aBatch.length === 1) return new Tensor(hook(matrix(a, aBatch[0]!, n * k), matrix(b, bBatch[0]!, k * m), n, k, m), shape, dtype);
    const out = allocate(dtype, shapeSize(batch) * n * m);
    for (let t = 0; t < aBatch.length; t++) {
      out.set(hook(matrix(a, aBatch[t]!, n * k), matrix(b, bBatch[t]!, k * m), n, k, m), t * n * m);
    }
    return new Tensor(out, shape, dtype);
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
