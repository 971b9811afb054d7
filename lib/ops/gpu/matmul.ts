/**
 * gpu.js matrix product: one thread per output element, a dot product of a row of A and a
 * column of B.
 *
 * GPUs index in float32, exact up to 2^24: the rows of A are processed in chunks so that every
 * index into A and C stays below 2^24; B must hold fewer than 2^24 elements.
 */
import type { IKernelFunctionThis } from 'gpu.js';
import type { TypedArray } from '../../tensor/index.js';
import { matmulKernel } from '../matmul.js';
import { indexChunks, MAX_INDEX, runInChunks } from './chunks.js';
import { floorDiv, gpu, type GpuKernel } from './context.js';

let kernel: GpuKernel | null = null;

matmulKernel.register('gpu', (a: TypedArray, b: TypedArray, n: number, k: number, m: number) => {
  const c = new Float32Array(n * m);
  if (n * m === 0) return c;
  if (k * m >= MAX_INDEX || k >= MAX_INDEX || m >= MAX_INDEX) {
    throw new Error(`mm (gpu): the right operand [${k},${m}] has 2^24 elements or more, beyond exact float32 indexing`);
  }
  kernel ??= gpu().createKernel(
    function (this: IKernelFunctionThis, a: number[], b: number[], k: number, m: number) {
      const i = floorDiv(this.thread.x, m);
      const j = this.thread.x - i * m;
      let sum = 0;
      for (let p = 0; p < k; p++) sum += a[i * k + p] * b[p * m + j];
      return sum;
    },
    { dynamicOutput: true, dynamicArguments: true, output: [1], loopMaxIterations: 1 << 20, functions: [floorDiv] },
  );
  const b32 = Float32Array.from(b);
  return runInChunks(kernel, a, indexChunks(n, Math.max(k, m), MAX_INDEX - 1), k, m, c, [b32, k, m]);
});
