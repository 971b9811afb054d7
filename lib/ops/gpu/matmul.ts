/**
 * gpu.js matrix product: one thread per output element, a dot product of a row of A and a
 * column of B.
 */
import type { IKernelFunctionThis } from 'gpu.js';
import type { TypedArray } from '../../tensor/index.js';
import { matmulKernel } from '../matmul.js';
import { gpu, type GpuKernel } from './context.js';

let kernel: GpuKernel | null = null;

matmulKernel.register('gpu', (a: TypedArray, b: TypedArray, n: number, k: number, m: number) => {
  if (n * m === 0) return new Float32Array(0);
  kernel ??= gpu().createKernel(
    function (this: IKernelFunctionThis, a: number[], b: number[], k: number, m: number) {
      const i = Math.floor((this.thread.x + 0.5) / m);
      const j = this.thread.x - i * m;
      let sum = 0;
      for (let p = 0; p < k; p++) sum += a[i * k + p] * b[p * m + j];
      return sum;
    },
    { dynamicOutput: true, dynamicArguments: true, output: [1], loopMaxIterations: 1 << 20 },
  );
  kernel.setOutput([n * m]);
  return kernel(Float32Array.from(a), Float32Array.from(b), k, m) as Float32Array;
});
