/**
 * Reference matrix product: `lib/tensor`'s readable i-p-j loop (`gemm`).
 */
import { gemm, type TypedArray } from '../../tensor/index.js';
import { matmulKernel } from '../matmul.js';
import { like } from './util.js';

matmulKernel.register('reference', (a: TypedArray, b: TypedArray, n: number, k: number, m: number) => {
  const c = like(a, n * m);
  gemm(a, 0, b, 0, c, 0, n, k, m);
  return c;
});
