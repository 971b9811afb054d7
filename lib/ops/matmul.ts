/**
 * Matrix products through the backend registry: `mm` (2-D) and `linear` (PyTorch's
 * `F.linear`, the fully connected layers of the box head). `lib/tensor`'s own `matmul` stays
 * the readable reference; this is the version a faster backend accelerates.
 */
import { Tensor, defineOp, type TypedArray } from '../tensor/index.js';
import { Kernel } from './backend.js';

/** `C (n x m) = A (n x k) B (k x m)`, row-major. */
export type MatmulKernel = (a: TypedArray, b: TypedArray, n: number, k: number, m: number) => TypedArray;

/** The matrix-product kernel. */
export const matmulKernel = new Kernel<MatmulKernel>('matmul.forward');

function product(a: Tensor, b: Tensor): Tensor {
  const [n, k] = a.shape as [number, number];
  const m = b.shape[1]!;
  return new Tensor(matmulKernel.for()(a.data, b.data, n, k, m), [n, m]);
}

const mmOp = defineOp({
  name: 'mm',
  forward: (_ctx, a: Tensor, b: Tensor) => product(a, b),
  // For C = A B: dL/dA = dL/dC B^T, dL/dB = A^T dL/dC (each again a matrix product).
  backward: (g, { args: [a, b], needsInputGrad }) => [
    needsInputGrad[0] ? product(g, b.transpose(0, 1)) : null,
    needsInputGrad[1] ? product(a.transpose(0, 1), g) : null,
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
  const y = mm(input, weight.transpose(0, 1));
  return bias ? y.add(bias) : y;
}
