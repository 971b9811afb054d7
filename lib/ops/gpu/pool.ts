/**
 * gpu.js kernels of 2-D max pooling, one thread per output element.
 *
 * - Forward: each thread scans its window (the same scan as the reference: first maximum wins a
 *   tie, NaN wins over everything). One compiled kernel, launched once for the maxima and, when
 *   a backward pass will need it, once more for the argmax (a kernel returns one number).
 * - Backward, written as a GATHER rather than the reference's scatter: one thread per INPUT
 *   element (ih, iw) visits the windows that contain it, i.e. the outputs
 *   `ceil((ih + pH - kH + 1) / sH) <= oh <= floor((ih + pH) / sH)` (at most ceil(kH / sH) of them,
 *   the same for columns), and adds the gradient of those whose argmax is (ih, iw). It visits them
 *   in increasing output order, the order in which the scatter adds them, so it sums the same terms
 *   in the same order.
 *
 * GPUs index in float32, exact below 2^24: the planes (N * C of them, pooled independently) are
 * processed in chunks of whole planes of fewer than 2^24 input and output elements, the thread
 * index is split with `floorDiv` (exact integer division in float32), and the argmax travels as
 * float32 (an offset inside one plane). The NaN test is `v !== v`: exact in the webasm and cpu
 * modes; GL shaders do not guarantee NaN semantics.
 */
import type { IKernelFunctionThis } from 'gpu.js';
import type { TypedArray } from '../../tensor/index.js';
import { maxPool2dBackward, maxPool2dForward, type MaxPool2dGeometry } from '../pool.js';
import { indexChunks, MAX_INDEX, resultLike } from './chunks.js';
import { floorDiv, gpu, type GpuKernel } from './context.js';

/** Loop bound gpu.js needs for loops whose bounds are kernel arguments (GL's LOOP_MAX). */
const LOOP_MAX = 4096;

const SETTINGS = { dynamicOutput: true, dynamicArguments: true, output: [1], loopMaxIterations: LOOP_MAX, functions: [floorDiv] };

/** Flat indices of one call must stay below this (2^24: float32 holds every integer up to it). */
let indexLimit = MAX_INDEX;

/**
 * Lowers (or restores, with no argument) the largest flat index one kernel call may use, so that
 * tests can exercise the chunking over planes on small tensors.
 *
 * @internal
 */
export function setPoolIndexLimit(limit = MAX_INDEX): void {
  indexLimit = limit;
}

/** Consecutive `[firstPlane, planeCount]` chunks with fewer than `indexLimit` elements per array. */
function planeChunks(op: string, g: MaxPool2dGeometry): Array<[number, number]> {
  const perPlane = Math.max(g.inHeight * g.inWidth, g.outHeight * g.outWidth);
  if (perPlane >= indexLimit) {
    throw new Error(
      `${op} (gpu): a ${g.inHeight}x${g.inWidth} plane has ${perPlane} elements; gpu.js indexes in float32, ` +
        `exact only below ${indexLimit}: use the reference backend for planes this large`,
    );
  }
  if (g.kernelH > LOOP_MAX || g.kernelW > LOOP_MAX) {
    throw new Error(`${op} (gpu): kernelSize [${g.kernelH},${g.kernelW}] exceeds the gpu kernel's loop limit ${LOOP_MAX}`);
  }
  return indexChunks(g.planes, perPlane, indexLimit - 1);
}

/** The sizes the kernels take after their arrays, in this order. */
function sizes(g: MaxPool2dGeometry): number[] {
  return [g.inHeight, g.inWidth, g.outHeight, g.outWidth, g.kernelH, g.kernelW, g.strideH, g.strideW, g.padH, g.padW];
}

let forwardKernel: GpuKernel | null = null;
let backwardKernel: GpuKernel | null = null;

/** One thread per output element (p, oh, ow): the maximum of its window, or its argmax. */
function windowMax(
  this: IKernelFunctionThis,
  x: number[],
  H: number,
  W: number,
  H_out: number,
  W_out: number,
  kH: number,
  kW: number,
  sH: number,
  sW: number,
  pH: number,
  pW: number,
  returnArgmax: number,
): number {
  const i = this.thread.x;
  // i = (p * H_out + oh) * W_out + ow
  const row = floorDiv(i, W_out);
  const ow = i - row * W_out;
  const p = floorDiv(row, H_out);
  const oh = row - p * H_out;
  const h0 = oh * sH - pH;
  const w0 = ow * sW - pW;
  const plane = p * H * W;
  // Start from the window's first element inside the input (padding never wins).
  let best = Math.max(h0, 0) * W + Math.max(w0, 0);
  let max = x[plane + best];
  for (let ky = 0; ky < kH; ky++) {
    const ih = h0 + ky;
    if (ih >= 0 && ih < H) {
      for (let kx = 0; kx < kW; kx++) {
        const iw = w0 + kx;
        if (iw >= 0 && iw < W) {
          const v = x[plane + ih * W + iw];
          // v !== v: v is NaN, which wins (PyTorch's `val > max || isnan(val)`).
          if (v > max || v !== v) {
            max = v;
            best = ih * W + iw;
          }
        }
      }
    }
  }
  if (returnArgmax > 0) return best;
  return max;
}

/** One thread per input element (p, ih, iw): the gradients of the windows it won, summed. */
function gatherWins(
  this: IKernelFunctionThis,
  gradOutput: number[],
  argmax: number[],
  H: number,
  W: number,
  H_out: number,
  W_out: number,
  kH: number,
  kW: number,
  sH: number,
  sW: number,
  pH: number,
  pW: number,
): number {
  const i = this.thread.x;
  // i = (p * H + ih) * W + iw; r = ih * W + iw is the offset the argmax stores.
  const p = floorDiv(i, H * W);
  const r = i - p * H * W;
  const ih = floorDiv(r, W);
  const iw = r - ih * W;
  // Windows containing row ih: oh*sH - pH <= ih <= oh*sH - pH + kH - 1, i.e.
  // ceil((ih + pH - kH + 1) / sH) <= oh <= floor((ih + pH) / sH), clipped to [0, H_out);
  // ceil((m + 1) / s) = floor(m / s) + 1.
  const ohFirst = Math.max(floorDiv(ih + pH - kH, sH) + 1, 0);
  const ohLast = Math.min(floorDiv(ih + pH, sH), H_out - 1);
  const owFirst = Math.max(floorDiv(iw + pW - kW, sW) + 1, 0);
  const owLast = Math.min(floorDiv(iw + pW, sW), W_out - 1);
  let sum = 0;
  // At most ceil(kH / sH) <= kH windows per row, kW per column, in increasing output order.
  for (let a = 0; a < kH; a++) {
    const oh = ohFirst + a;
    if (oh <= ohLast) {
      for (let b = 0; b < kW; b++) {
        const ow = owFirst + b;
        if (ow <= owLast) {
          const o = (p * H_out + oh) * W_out + ow;
          if (argmax[o] === r) sum += gradOutput[o];
        }
      }
    }
  }
  return sum;
}

maxPool2dForward.register('gpu', (x: TypedArray, g: MaxPool2dGeometry, withArgmax: boolean) => {
  const perIn = g.inHeight * g.inWidth;
  const perOut = g.outHeight * g.outWidth;
  const output = resultLike(x, g.planes * perOut);
  const argmax = withArgmax ? new Int32Array(g.planes * perOut) : null;
  if (g.planes === 0) return { output, argmax };
  forwardKernel ??= gpu().createKernel(windowMax, SETTINGS);
  for (const [first, count] of planeChunks('maxPool2d.forward', g)) {
    forwardKernel.setOutput([count * perOut]);
    const input = Float32Array.from(x.subarray(first * perIn, (first + count) * perIn));
    output.set(forwardKernel(input, ...sizes(g), 0) as Float32Array, first * perOut);
    if (argmax !== null) argmax.set(forwardKernel(input, ...sizes(g), 1) as Float32Array, first * perOut);
  }
  return { output, argmax };
});

maxPool2dBackward.register('gpu', (gradOutput: TypedArray, argmax: Int32Array, g: MaxPool2dGeometry) => {
  const perIn = g.inHeight * g.inWidth;
  const perOut = g.outHeight * g.outWidth;
  const gradInput = resultLike(gradOutput, g.planes * perIn);
  if (g.planes === 0) return gradInput;
  backwardKernel ??= gpu().createKernel(gatherWins, SETTINGS);
  for (const [first, count] of planeChunks('maxPool2d.backward', g)) {
    backwardKernel.setOutput([count * perIn]);
    const dy = Float32Array.from(gradOutput.subarray(first * perOut, (first + count) * perOut));
    const wins = Float32Array.from(argmax.subarray(first * perOut, (first + count) * perOut));
    gradInput.set(backwardKernel(dy, wins, ...sizes(g)) as Float32Array, first * perIn);
  }
  return gradInput;
});
