/**
 * gpu.js kernels of conv2d (and so of convTranspose2d, which runs on the same three kernels, see
 * `../conv.ts`). Each is a gather: one thread per element of what it computes, reading what it
 * needs and writing only its own element, which is the shape a GPU wants.
 *
 * - forward: one thread per output pixel `(n, c_out, h_out, w_out)`, summing its receptive field.
 * - backward input: one thread per input pixel `(n, c_in, h_in, w_in)`, summing over the output
 *   pixels that read it. Tap `(kh, kw)` of output row `h_out` reads row `h_in = h_out s - p + kh d`,
 *   so for a given `h_in` the output row is `h_out = (h_in + p - kh d) / s`, a tap that exists only
 *   when that division is exact (the stride divisibility test) and lands inside `[0, H_out)`.
 *   (The reference loops scatter instead; a scatter would need atomic adds on a GPU.)
 * - backward weight: one thread per weight element `(c_out, c_in, kh, kw)`, summing
 *   `gradOut * input` over n, h_out, w_out.
 *
 * Index arithmetic: GL and gpu.js's WebAssembly mode compute in float32, exact for integers up
 * to 2^24. The thread index is split into coordinates with {@link floorDiv}, an integer division
 * that stays exact up to 2^24 (the plain `floor((i + 0.5) / n)` is wrong from 2^23 on, where
 * `i + 0.5` rounds, and wherever a GPU's division is not correctly rounded). To keep every flat
 * index below 2^24 the batch is cut into chunks of whole images (the weight gradient adds the
 * chunks' partial sums in float64); a single image (or a weight) of 2^24 elements or more is
 * refused with a clear error.
 */
import type { IKernelFunctionThis } from 'gpu.js';
import type { TypedArray } from '../../tensor/index.js';
import { conv2dBackwardInput, conv2dBackwardWeight, conv2dForward, type ConvGeometry } from '../conv.js';
import { f32, indexChunks, MAX_INDEX, runInChunks } from './chunks.js';
import { floorDiv, gpu, type GpuKernel } from './context.js';

/** Largest loop trip count the kernels allow gpu.js (GL caps dynamic loops at this). */
const LOOP_MAX = 1 << 20;

/** Flat indices must stay below this (2^24: float32 represents every integer up to it). */
let indexLimit = MAX_INDEX;

/**
 * Lowers (or restores, with no argument) the largest flat index the gpu kernels allow in one
 * call, so that tests can exercise the batch chunking on small tensors.
 *
 * @internal
 */
export function setConvIndexLimit(limit = MAX_INDEX): void {
  indexLimit = limit;
}

/** Consecutive `[start, count]` ranges of images, each holding fewer than `indexLimit` elements per array. */
function batchChunks(op: string, g: ConvGeometry): Array<[number, number]> {
  const perImage = Math.max(g.inChannels * g.inHeight * g.inWidth, g.outChannels * g.outHeight * g.outWidth, 1);
  const weightSize = g.outChannels * (g.inChannels / g.groups) * g.kernelHeight * g.kernelWidth;
  if (perImage >= indexLimit || weightSize >= indexLimit) {
    throw new Error(
      `${op} (gpu): one image has ${perImage} elements and the weight ${weightSize}; gpu.js indexes in float32, ` +
        `exact only below ${indexLimit}: use the reference backend for tensors this large`,
    );
  }
  return indexChunks(g.batch, perImage, indexLimit - 1, LOOP_MAX);
}

/** The sizes every kernel receives, in this order (gpu.js kernels take scalars, not objects). */
function sizes(g: ConvGeometry): number[] {
  return [
    g.inChannels, g.inHeight, g.inWidth, g.outChannels, g.outHeight, g.outWidth, g.kernelHeight, g.kernelWidth,
    g.strideH, g.strideW, g.padH, g.padW, g.dilationH, g.dilationW, g.inChannels / g.groups, g.outChannels / g.groups,
  ];
}



const SETTINGS = { dynamicOutput: true, dynamicArguments: true, output: [1], loopMaxIterations: LOOP_MAX, functions: [floorDiv] };

let forwardKernel: GpuKernel | null = null;
let backwardInputKernel: GpuKernel | null = null;
let backwardWeightKernel: GpuKernel | null = null;

/** One thread per output pixel: out = bias[c_out] + sum_{c_in, kh, kw} weight * input (taps in the padding skipped). */
function forwardGather(
  this: IKernelFunctionThis,
  input: number[], weight: number[], bias: number[],
  inChannels: number, inHeight: number, inWidth: number, outChannels: number, outHeight: number, outWidth: number,
  kernelHeight: number, kernelWidth: number, strideH: number, strideW: number, padH: number, padW: number,
  dilationH: number, dilationW: number, cgIn: number, cgOut: number,
): number {
  const i = this.thread.x;
  // i = ((n * C_out + c_out) * H_out + h_out) * W_out + w_out
  const row = floorDiv(i, outWidth);
  const wOut = i - row * outWidth;
  const plane = floorDiv(row, outHeight);
  const hOut = row - plane * outHeight;
  const n = floorDiv(plane, outChannels);
  const cOut = plane - n * outChannels;
  const group = floorDiv(cOut, cgOut);
  let sum = bias[cOut];
  for (let cIn = 0; cIn < cgIn; cIn++) {
    const inPlane = (n * inChannels + group * cgIn + cIn) * inHeight;
    const weightPlane = (cOut * cgIn + cIn) * kernelHeight;
    for (let kh = 0; kh < kernelHeight; kh++) {
      const hIn = hOut * strideH - padH + kh * dilationH;
      if (hIn >= 0 && hIn < inHeight) {
        for (let kw = 0; kw < kernelWidth; kw++) {
          const wIn = wOut * strideW - padW + kw * dilationW;
          if (wIn >= 0 && wIn < inWidth) {
            sum += weight[(weightPlane + kh) * kernelWidth + kw] * input[(inPlane + hIn) * inWidth + wIn];
          }
        }
      }
    }
  }
  return sum;
}

/** One thread per input pixel: the sum of weight * gradOut over the output pixels that read it. */
function backwardInputGather(
  this: IKernelFunctionThis,
  gradOut: number[], weight: number[],
  inChannels: number, inHeight: number, inWidth: number, outChannels: number, outHeight: number, outWidth: number,
  kernelHeight: number, kernelWidth: number, strideH: number, strideW: number, padH: number, padW: number,
  dilationH: number, dilationW: number, cgIn: number, cgOut: number,
): number {
  const i = this.thread.x;
  // i = ((n * C_in + c) * H + h_in) * W + w_in
  const row = floorDiv(i, inWidth);
  const wIn = i - row * inWidth;
  const plane = floorDiv(row, inHeight);
  const hIn = row - plane * inHeight;
  const n = floorDiv(plane, inChannels);
  const c = plane - n * inChannels;
  const group = floorDiv(c, cgIn);
  const cIn = c - group * cgIn; // the channel's index inside its group (the weight's second axis)
  let sum = 0;
  for (let k = 0; k < cgOut; k++) {
    const cOut = group * cgOut + k;
    const outPlane = (n * outChannels + cOut) * outHeight;
    const weightPlane = (cOut * cgIn + cIn) * kernelHeight;
    for (let kh = 0; kh < kernelHeight; kh++) {
      // h_out s - p + kh d = h_in  <=>  h_out = (h_in + p - kh d) / s, when s divides it.
      const th = hIn + padH - kh * dilationH;
      const hOut = floorDiv(th, strideH);
      if (th >= 0 && hOut * strideH === th && hOut < outHeight) {
        for (let kw = 0; kw < kernelWidth; kw++) {
          const tw = wIn + padW - kw * dilationW;
          const wOut = floorDiv(tw, strideW);
          if (tw >= 0 && wOut * strideW === tw && wOut < outWidth) {
            sum += weight[(weightPlane + kh) * kernelWidth + kw] * gradOut[(outPlane + hOut) * outWidth + wOut];
          }
        }
      }
    }
  }
  return sum;
}

/** One thread per weight element: the sum over n, h_out, w_out of gradOut * the input pixel the tap read. */
function backwardWeightGather(
  this: IKernelFunctionThis,
  input: number[], gradOut: number[], batch: number,
  inChannels: number, inHeight: number, inWidth: number, outChannels: number, outHeight: number, outWidth: number,
  kernelHeight: number, kernelWidth: number, strideH: number, strideW: number, padH: number, padW: number,
  dilationH: number, dilationW: number, cgIn: number, cgOut: number,
): number {
  const i = this.thread.x;
  // i = ((c_out * Cg_in + c_in) * kH + kh) * kW + kw
  const row = floorDiv(i, kernelWidth);
  const kw = i - row * kernelWidth;
  const plane = floorDiv(row, kernelHeight);
  const kh = row - plane * kernelHeight;
  const cOut = floorDiv(plane, cgIn);
  const cIn = plane - cOut * cgIn;
  const group = floorDiv(cOut, cgOut);
  let sum = 0;
  for (let n = 0; n < batch; n++) {
    const outPlane = (n * outChannels + cOut) * outHeight;
    const inPlane = (n * inChannels + group * cgIn + cIn) * inHeight;
    for (let hOut = 0; hOut < outHeight; hOut++) {
      const hIn = hOut * strideH - padH + kh * dilationH;
      if (hIn >= 0 && hIn < inHeight) {
        for (let wOut = 0; wOut < outWidth; wOut++) {
          const wIn = wOut * strideW - padW + kw * dilationW;
          if (wIn >= 0 && wIn < inWidth) {
            sum += gradOut[(outPlane + hOut) * outWidth + wOut] * input[(inPlane + hIn) * inWidth + wIn];
          }
        }
      }
    }
  }
  return sum;
}

conv2dForward.register('gpu', (input: TypedArray, weight: TypedArray, bias: TypedArray | null, g: ConvGeometry) => {
  const perIn = g.inChannels * g.inHeight * g.inWidth;
  const perOut = g.outChannels * g.outHeight * g.outWidth;
  const out = new Float32Array(g.batch * perOut);
  if (out.length === 0) return out;
  const b = bias === null ? new Float32Array(g.outChannels) : f32(bias);
  if (perIn === 0) {
    // No input channels: every output is its bias (gpu.js cannot take empty arrays).
    for (let p = 0; p < out.length; p++) out[p] = b[Math.floor(p / (g.outHeight * g.outWidth)) % g.outChannels]!;
    return out;
  }
  forwardKernel ??= gpu().createKernel(forwardGather, SETTINGS);
  const w = f32(weight);
  return runInChunks(forwardKernel, input, batchChunks('conv2d.forward', g), perIn, perOut, out, [w, b, ...sizes(g)]);
});

conv2dBackwardInput.register('gpu', (gradOut: TypedArray, weight: TypedArray, g: ConvGeometry) => {
  const perIn = g.inChannels * g.inHeight * g.inWidth;
  const perOut = g.outChannels * g.outHeight * g.outWidth;
  const gradIn = new Float32Array(g.batch * perIn);
  // Nothing to compute, or no output pixel at all (then every input gradient is 0).
  if (gradIn.length === 0 || perOut === 0 || weight.length === 0) return gradIn;
  backwardInputKernel ??= gpu().createKernel(backwardInputGather, SETTINGS);
  const w = f32(weight);
  return runInChunks(backwardInputKernel, gradOut, batchChunks('conv2d.backwardInput', g), perOut, perIn, gradIn, [w, ...sizes(g)]);
});

conv2dBackwardWeight.register('gpu', (input: TypedArray, gradOut: TypedArray, g: ConvGeometry) => {
  const perIn = g.inChannels * g.inHeight * g.inWidth;
  const perOut = g.outChannels * g.outHeight * g.outWidth;
  const size = g.outChannels * (g.inChannels / g.groups) * g.kernelHeight * g.kernelWidth;
  // An empty batch (or no output pixel) contributes nothing: the gradient is 0.
  if (size === 0 || g.batch * perIn === 0 || g.batch * perOut === 0) return new Float32Array(size);
  backwardWeightKernel ??= gpu().createKernel(backwardWeightGather, SETTINGS);
  const chunks = batchChunks('conv2d.backwardWeight', g);
  const total = new Float64Array(size);
  for (const [start, count] of chunks) {
    backwardWeightKernel.setOutput([size]);
    const part = backwardWeightKernel(
      f32(input.subarray(start * perIn, (start + count) * perIn)),
      f32(gradOut.subarray(start * perOut, (start + count) * perOut)),
      count,
      ...sizes(g),
    ) as Float32Array;
    for (let j = 0; j < size; j++) total[j] += part[j]!;
  }
  return Float32Array.from(total);
});
