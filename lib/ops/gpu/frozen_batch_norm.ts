/**
 * gpu.js kernel of FrozenBatchNorm2d: one thread per output element.
 */
import type { IKernelFunctionThis } from 'gpu.js';
import type { TypedArray } from '../../tensor/index.js';
import { channelAffine } from '../frozen_batch_norm.js';
import { gpu, type GpuKernel } from './context.js';

let kernel: GpuKernel | null = null;

channelAffine.register('gpu', (x: TypedArray, scale: TypedArray, shift: TypedArray, channels: number, planeSize: number) => {
  if (x.length === 0) return new Float32Array(0);
  kernel ??= gpu().createKernel(
    function (this: IKernelFunctionThis, x: number[], scale: number[], shift: number[], channels: number, planeSize: number) {
      const i = this.thread.x;
      // + 0.5 keeps the integer division exact when the GPU computes it in float32.
      const c = Math.floor((Math.floor((i + 0.5) / planeSize) + 0.5) % channels);
      return x[i] * scale[c] + shift[c];
    },
    { dynamicOutput: true, dynamicArguments: true, output: [1] },
  );
  kernel.setOutput([x.length]);
  return kernel(Float32Array.from(x), Float32Array.from(scale), Float32Array.from(shift), channels, planeSize) as Float32Array;
});
