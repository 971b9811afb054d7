/**
 * gpu.js kernel of FrozenBatchNorm2d: one thread per output element.
 *
 * GPUs index in float32, exact up to 2^24: the tensor is processed in chunks of whole
 * channel planes of at most 2^24 elements, each thread finding its channel from its plane.
 */
import type { IKernelFunctionThis } from 'gpu.js';
import type { TypedArray } from '../../tensor/index.js';
import { channelAffine } from '../frozen_batch_norm.js';
import { indexChunks, MAX_INDEX, runInChunks } from './chunks.js';
import { floorDiv, gpu, type GpuKernel } from './context.js';

let kernel: GpuKernel | null = null;

channelAffine.register('gpu', (x: TypedArray, scale: TypedArray, shift: TypedArray, channels: number, planeSize: number, relu = false) => {
  const out = new Float32Array(x.length);
  if (x.length === 0) return out;
  if (planeSize > MAX_INDEX) throw new Error(`frozenBatchNorm2d (gpu): a channel plane of ${planeSize} elements exceeds 2^24`);
  kernel ??= gpu().createKernel(
    function (this: IKernelFunctionThis, x: number[], scale: number[], shift: number[], channels: number, planeSize: number, relu: number, firstPlane: number) {
      // Exact integer division in float32 (see floorDiv): plane index, then its channel.
      const plane = firstPlane + floorDiv(this.thread.x, planeSize);
      const c = plane - floorDiv(plane, channels) * channels;
      const t = x[this.thread.x] * scale[c] + shift[c];
      if (relu > 0 && t <= 0) return 0;
      return t;
    },
    { dynamicOutput: true, dynamicArguments: true, output: [1], functions: [floorDiv] },
  );
  const scale32 = Float32Array.from(scale);
  const shift32 = Float32Array.from(shift);
  const chunks = indexChunks(Math.ceil(x.length / planeSize), planeSize, MAX_INDEX);
  return runInChunks(kernel, x, chunks, planeSize, planeSize, out, (first) => [scale32, shift32, channels, planeSize, relu ? 1 : 0, first]);
});
