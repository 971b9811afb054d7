/**
 * Matrix products through the backend registry: `mm` (2-D) and `linear` (PyTorch's
 * `F.linear`, the fully connected layers of the box head). Loading this module also sets
 * `lib/tensor`'s matmul hook to {@link matmulKernel}, so `Tensor.matmul` runs the same kernel on
 * the active backend; `lib/tensor`'s `gemm` loop stays the readable reference (and the
 * reference backend's kernel).
 */
import { Tensor, defineOp, setMatmulHook, type TypedArray } from '../tensor/index.js';
import { Kernel, getBackend } from './backend.js';

/** `C (n x m) = A (n x k) B (k x m)`, row-major. */
export type MatmulKernel = (a: TypedArray, b: TypedArray, n: number, k: number, m: number) => TypedArray;

/** The matrix-product kernel. */
export const matmulKernel = new Kernel<MatmulKernel>('matmul.forward');

// One operation, one kernel: `Tensor.matmul` (lib/tensor) runs each 2-D product through this
// kernel on the active backend from now on, so that it and `mm` give the same numbers.
setMatmulHook((a, b, n, k, m) => matmulKernel.for()(a, b, n, k, m));

/**
 * `C (n x m) = op(A) op(B)` with `op(A) = A` stored `[n, k]`, or `A^T` with `a` stored `[k, n]`
 * (`transA`); likewise `b` is `[k, m]`, or `[m, k]` read transposed (`transB`). Row-major.
 */
export type MatmulTransposedKernel = (
  a: TypedArray, b: TypedArray, n: number, k: number, m: number, transA: boolean, transB: boolean,
) => TypedArray;

/**
 * An optional kernel: a matrix product that reads either operand transposed in place (a GEMM
 * with strides). A backend that has one saves the layers a copy of each transposed operand (the
 * weight `W` of `x W^T`, and `x^T` and `W` in the gradients); on a backend without one the
 * operand is transposed in memory and {@link matmulKernel} runs, the same numbers either way.
 */
export const matmulTransposedKernel = new Kernel<MatmulTransposedKernel>('matmul.transposed');

/** `op(a) op(b)` (see {@link MatmulTransposedKernel}) on the active backend. */
function product(a: Tensor, b: Tensor, transA = false, transB = false): Tensor {
  const n = a.shape[transA ? 1 : 0]!;
  const k = a.shape[transA ? 0 : 1]!;
  const m = b.shape[transB ? 0 : 1]!;
  if ((transA || transB) && matmulTransposedKernel.backends().includes(getBackend())) {
    return new Tensor(matmulTransposedKernel.for()(a.data, b.data, n, k, m, transA, transB), [n, m]);
  }
  const at = transA ? a.transpose(0, 1) : a;
  const bt = transB ? b.transpose(0, 1) : b;
  return new Tensor(matmulKernel.for()(at.data, bt.data, n, k, m), [n, m]);
}

const mmOp = defineOp({
  name: 'mm',
  forward: (_ctx, a: Tensor, b: Tensor) => product(a, b),
  // For C = A B: dL/dA = dL/dC B^T, dL/dB = A^T dL/dC (each again a matrix product).
  backward: (g, { args: [a, b], needsInputGrad }) => [
    needsInputGrad[0] ? product(g, b, false, true) : null,
    needsInputGrad[1] ? product(a, g, true, false) : null,
  ],
});

const linearOp = defineOp({
  name: 'linear',
  // y = x W^T with W stored [out, in], read transposed in place.
  forward: (_ctx, x: Tensor, w: Tensor) => product(x, w, false, true),
  // dL/dx = dL/dy W ([N, out] x [out, in]); dL/dW = (dL/dy)^T x ([out, N] x [N, in]).
  backward: (g, { args: [x, w], needsInputGrad }) => [
    needsInputGrad[0] ? product(g, w) : null,
    needsInputGrad[1] ? product(g, x, true, false) : null,
  ],
});

/** The product of two matrices `[n, k] x [k, m] -> [n, m]` on the active backend. */
export function mm(a: Tensor, b: Tensor): Tensor {
  if (a.ndim !== 2 || b.ndim !== 2 || a.shape[1] !== b.shape[0]) {
    throw new Error(`mm: shapes [${a.shape}] and [${b.shape}] cannot be multiplied (need [n,k] and [k,m])`);
  }
  if (a.dtype === 'int32' || b.dtype === 'int32') throw new Error('mm: operands must be floating tensors');
  return mmOp(a, b.dtype === a.dtype ? b : b.to(a.dtype));
}

/**
 * `y = x W^T + b` for `x` `[N, in]`, `weight` `[out, in]`, `bias` `[out]` (PyTorch's
 * `F.linear`; weights are stored `[out, in]` as in torchvision's state dicts).
 */
export function linear(input: Tensor, weight: Tensor, bias?: Tensor | null): Tensor {
  if (input.ndim !== 2 || weight.ndim !== 2 || input.shape[1] !== weight.shape[1]) {
    throw new Error(`linear: input [${input.shape}] does not match weight [${weight.shape}] (need [N,in] and [out,in])`);
  }
  if (bias && (bias.ndim !== 1 || bias.shape[0] !== weight.shape[0])) {
    throw new Error(`linear: bias has shape [${bias.shape}] but weight [${weight.shape}] has ${weight.shape[0]} outputs`);
  }
  if (input.dtype === 'int32' || weight.dtype === 'int32') throw new Error('linear: input and weight must be floating tensors');
  const y = linearOp(input, weight.dtype === input.dtype ? weight : weight.to(input.dtype));
  return bias ? y.add(bias) : y;
}
