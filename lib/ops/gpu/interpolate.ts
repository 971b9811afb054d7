/**
 * gpu.js kernels of nearest and bilinear (`align_corners=False`) resizing, one thread per output
 * element.
 *
 * PyTorch's index arithmetic mixes precisions on purpose (nearest: `floor(float32(dst * scale))`;
 * bilinear: float64 source positions from a float32 scale, float32 weights): gpu.js's cpu mode
 * computes in float64, webasm and GL in float32 (GL without promising correct rounding), so the
 * per-axis source tables (`nearestSourceIndices`, `linearSourceTable`: one entry per output row
 * and per output column, O(H_out + W_out) work) are computed once on the host, exactly as the
 * reference computes them, and the kernels only read them. PyTorch's own CPU kernels precompute
 * the same tables.
 *
 * - Forward: a gather, `y[p, oh, ow]` from the table entries of `oh` and `ow`.
 * - Backward, written as a GATHER rather than the reference's scatter: one thread per INPUT
 *   element (ih, iw) sums `weight_h(oh, ih) * weight_w(ow, iw) * dL/dy[p, oh, ow]` over the outputs
 *   that read it. Both source indices are non-decreasing in the output index, so the output rows
 *   that read row ih form one contiguous range; the host derives each range from the tables
 *   themselves (first and last output that names ih), so it holds for every size and scale
 *   without a closed-form bound. weight_h(oh, ih) is lambda0 if ih is oh's lower row, plus lambda1
 *   if it is its upper row (both, at the clamped last row). Nearest is the table
 *   (src, src, 1, 0), so one backward kernel serves both modes.
 *
 * GPUs index in float32, exact below 2^24: the planes (N * C of them, resized independently) are
 * processed in chunks of whole planes of fewer than 2^24 input and output elements, and the thread
 * index is split with `floorDiv` (exact integer division in float32).
 */
import type { IKernelFunctionThis } from 'gpu.js';
import type { TypedArray } from '../../tensor/index.js';
import {
  type InterpolateGeometry,
  interpolateBilinearBackward,
  interpolateBilinearForward,
  interpolateNearestBackward,
  interpolateNearestForward,
  linearSourceTable,
  nearestSourceIndices,
} from '../interpolate.js';
import { indexChunks, MAX_INDEX, resultLike, runInChunks } from './chunks.js';
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
export function setInterpolateIndexLimit(limit = MAX_INDEX): void {
  indexLimit = limit;
}

/** Consecutive `[firstPlane, planeCount]` chunks with fewer than `indexLimit` elements per array. */
function planeChunks(op: string, g: InterpolateGeometry): Array<[number, number]> {
  const perPlane = Math.max(g.inHeight * g.inWidth, g.outHeight * g.outWidth);
  if (perPlane >= indexLimit) {
    throw new Error(
      `${op} (gpu): a plane of ${g.inHeight}x${g.inWidth} -> ${g.outHeight}x${g.outWidth} has ${perPlane} elements; ` +
        `gpu.js indexes in float32, exact only below ${indexLimit}: use the reference backend for planes this large`,
    );
  }
  return indexChunks(g.planes, perPlane, indexLimit - 1);
}

/** Runs `kernel` over the planes in chunks (`chunks.ts`): `perIn` elements per plane in, `perOut` out. */
function runOverPlanes(op: string, kernel: GpuKernel, input: TypedArray, g: InterpolateGeometry, perIn: number, perOut: number, args: unknown[]): TypedArray {
  return runInChunks(kernel, input, planeChunks(op, g), perIn, perOut, resultLike(input, g.planes * perOut), args);
}

/** One axis's table packed for the gpu: per output position `[index0, index1, lambda0, lambda1]`. */
function packedLinear(inSize: number, outSize: number, scale: number): Float32Array {
  const t = linearSourceTable(inSize, outSize, scale);
  const packed = new Float32Array(4 * outSize);
  for (let d = 0; d < outSize; d++) packed.set([t.index0[d]!, t.index1[d]!, t.lambda0[d]!, t.lambda1[d]!], 4 * d);
  return packed;
}

/** Nearest as a linear table: index0 = index1 = src, lambda0 = 1, lambda1 = 0. */
function packedNearest(inSize: number, outSize: number, scale: number): Float32Array {
  const src = nearestSourceIndices(inSize, outSize, scale);
  const packed = new Float32Array(4 * outSize);
  for (let d = 0; d < outSize; d++) packed.set([src[d]!, src[d]!, 1, 0], 4 * d);
  return packed;
}

/**
 * For each input index along one axis, the range of output positions that read it, packed as
 * `[first, count]` (count 0 when no output reads it, e.g. rows skipped by a downsampling), and
 * the longest range (the backward kernel's loop bound).
 */
function readers(inSize: number, outSize: number, packed: Float32Array): { ranges: Float32Array; span: number } {
  const first = new Int32Array(inSize).fill(-1);
  const last = new Int32Array(inSize).fill(-1);
  for (let d = 0; d < outSize; d++) {
    for (const k of [0, 1]) {
      const i = packed[4 * d + k]!;
      if (first[i]! < 0) first[i] = d;
      last[i] = d;
    }
  }
  const ranges = new Float32Array(2 * inSize);
  let span = 0;
  for (let i = 0; i < inSize; i++) {
    const count = first[i]! < 0 ? 0 : last[i]! - first[i]! + 1;
    ranges[2 * i] = Math.max(first[i]!, 0);
    ranges[2 * i + 1] = count;
    span = Math.max(span, count);
  }
  if (span > LOOP_MAX) {
    throw new Error(`interpolate (gpu): ${span} outputs read one input element, more than the gpu kernel's loop limit ${LOOP_MAX}`);
  }
  return { ranges, span };
}

let nearestKernel: GpuKernel | null = null;
let bilinearKernel: GpuKernel | null = null;
let backwardKernel: GpuKernel | null = null;

interpolateNearestForward.register('gpu', (x: TypedArray, g: InterpolateGeometry) => {
  if (g.planes === 0) return resultLike(x, 0);
  nearestKernel ??= gpu().createKernel(function (
    this: IKernelFunctionThis,
    x: number[],
    srcH: number[],
    srcW: number[],
    H: number,
    W: number,
    H_out: number,
    W_out: number,
  ) {
    const i = this.thread.x;
    // i = (p * H_out + oh) * W_out + ow
    const row = floorDiv(i, W_out);
    const ow = i - row * W_out;
    const p = floorDiv(row, H_out);
    const oh = row - p * H_out;
    return x[(p * H + srcH[oh]) * W + srcW[ow]];
  }, SETTINGS);
  const srcH = Float32Array.from(nearestSourceIndices(g.inHeight, g.outHeight, g.scaleH));
  const srcW = Float32Array.from(nearestSourceIndices(g.inWidth, g.outWidth, g.scaleW));
  const perIn = g.inHeight * g.inWidth;
  const perOut = g.outHeight * g.outWidth;
  return runOverPlanes('interpolate.nearestForward', nearestKernel, x, g, perIn, perOut, [srcH, srcW, g.inHeight, g.inWidth, g.outHeight, g.outWidth]);
});

interpolateBilinearForward.register('gpu', (x: TypedArray, g: InterpolateGeometry) => {
  if (g.planes === 0) return resultLike(x, 0);
  bilinearKernel ??= gpu().createKernel(function (
    this: IKernelFunctionThis,
    x: number[],
    rows: number[],
    cols: number[],
    H: number,
    W: number,
    H_out: number,
    W_out: number,
  ) {
    const i = this.thread.x;
    // i = (p * H_out + oh) * W_out + ow
    const row = floorDiv(i, W_out);
    const ow = i - row * W_out;
    const p = floorDiv(row, H_out);
    const oh = row - p * H_out;
    // rows[4 oh ..] = (h0, h1, lh0, lh1); cols[4 ow ..] = (w0, w1, lw0, lw1)
    const row0 = (p * H + rows[4 * oh]) * W;
    const row1 = (p * H + rows[4 * oh + 1]) * W;
    const lh0 = rows[4 * oh + 2];
    const lh1 = rows[4 * oh + 3];
    const w0 = cols[4 * ow];
    const w1 = cols[4 * ow + 1];
    const lw0 = cols[4 * ow + 2];
    const lw1 = cols[4 * ow + 3];
    return lh0 * (lw0 * x[row0 + w0] + lw1 * x[row0 + w1]) + lh1 * (lw0 * x[row1 + w0] + lw1 * x[row1 + w1]);
  }, SETTINGS);
  const rows = packedLinear(g.inHeight, g.outHeight, g.scaleH);
  const cols = packedLinear(g.inWidth, g.outWidth, g.scaleW);
  const perIn = g.inHeight * g.inWidth;
  const perOut = g.outHeight * g.outWidth;
  return runOverPlanes('interpolate.bilinearForward', bilinearKernel, x, g, perIn, perOut, [rows, cols, g.inHeight, g.inWidth, g.outHeight, g.outWidth]);
});

/** The shared backward gather, given both axes' packed tables. */
function backwardGather(op: string, gradOutput: TypedArray, g: InterpolateGeometry, rows: Float32Array, cols: Float32Array): TypedArray {
  if (g.planes === 0) return resultLike(gradOutput, 0);
  const rowReaders = readers(g.inHeight, g.outHeight, rows);
  const colReaders = readers(g.inWidth, g.outWidth, cols);
  backwardKernel ??= gpu().createKernel(function (
    this: IKernelFunctionThis,
    gradOutput: number[],
    rows: number[],
    cols: number[],
    rowRanges: number[],
    colRanges: number[],
    H: number,
    W: number,
    H_out: number,
    W_out: number,
    spanH: number,
    spanW: number,
  ) {
    const i = this.thread.x;
    // i = (p * H + ih) * W + iw
    const row = floorDiv(i, W);
    const iw = i - row * W;
    const p = floorDiv(row, H);
    const ih = row - p * H;
    const ohFirst = rowRanges[2 * ih];
    const ohCount = rowRanges[2 * ih + 1];
    const owFirst = colRanges[2 * iw];
    const owCount = colRanges[2 * iw + 1];
    let sum = 0;
    for (let a = 0; a < spanH; a++) {
      if (a < ohCount) {
        const oh = ohFirst + a;
        // The weight of input row ih in output row oh.
        let wh = 0;
        if (rows[4 * oh] === ih) wh += rows[4 * oh + 2];
        if (rows[4 * oh + 1] === ih) wh += rows[4 * oh + 3];
        for (let b = 0; b < spanW; b++) {
          if (b < owCount) {
            const ow = owFirst + b;
            let ww = 0;
            if (cols[4 * ow] === iw) ww += cols[4 * ow + 2];
            if (cols[4 * ow + 1] === iw) ww += cols[4 * ow + 3];
            sum += wh * ww * gradOutput[(p * H_out + oh) * W_out + ow];
          }
        }
      }
    }
    return sum;
  }, SETTINGS);
  const perIn = g.inHeight * g.inWidth;
  const perOut = g.outHeight * g.outWidth;
  const args = [rows, cols, rowReaders.ranges, colReaders.ranges, g.inHeight, g.inWidth, g.outHeight, g.outWidth, rowReaders.span, colReaders.span];
  return runOverPlanes(op, backwardKernel, gradOutput, g, perOut, perIn, args);
}

interpolateNearestBackward.register('gpu', (gradOutput: TypedArray, g: InterpolateGeometry) =>
  backwardGather('interpolate.nearestBackward', gradOutput, g, packedNearest(g.inHeight, g.outHeight, g.scaleH), packedNearest(g.inWidth, g.outWidth, g.scaleW)),
);

interpolateBilinearBackward.register('gpu', (gradOutput: TypedArray, g: InterpolateGeometry) =>
  backwardGather('interpolate.bilinearBackward', gradOutput, g, packedLinear(g.inHeight, g.outHeight, g.scaleH), packedLinear(g.inWidth, g.outWidth, g.scaleW)),
);
