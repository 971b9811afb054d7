/**
 * The `wasm` backend's kernels: the matrix product, and the three convolution kernels (so
 * conv2d and convTranspose2d) as matrix products on the SIMD GEMM of `assembly/kernels.ts`.
 *
 * With `K_g = C_in/groups kH kW` and `P = H_out W_out`, per image and group:
 * - forward:         `out[C_out/g, P] = bias + W_g[C_out/g, K_g] col[K_g, P]`, `col = im2col(x)`
 *   (Chellapilla et al., "High Performance Convolutional Neural Networks for Document
 *   Processing", 2006, the unrolling that cuDNN and Caffe made standard);
 * - backward input:  `col = W_g^T gradOut[C_out/g, P]`, then `gradIn = col2im(col)` (the adjoint
 *   of im2col: taps add into the pixel they read);
 * - backward weight: `gradW_g^T += col gradOut^T[P, C_out/g]`, summed over the images in order
 *   (computed transposed so that both operands are packed from contiguous rows; transposed back
 *   at the end).
 * A 1x1, stride-1, unpadded convolution skips im2col (the image is already `col`). Columns are
 * processed in chunks of whole output rows so that `col` stays below {@link COL_FLOATS}.
 *
 * Precision: the module computes in float32 (as the gpu backend). Float64 inputs (gradchecks)
 * run the reference loops, so that gradchecks keep float64 accuracy on every backend.
 *
 * RoIAlign (average) has its own kernels in `roi.ts`. The other ops' kernels (pooling,
 * interpolation, RoIPool, RoIAlign's max mode, the frozen batch norm's affine) are registered as
 * the reference loops, with a note saying so.
 */
import type { TypedArray } from '../../tensor/index.js';
import { conv2dBackwardInput, conv2dBackwardWeight, conv2dForward, type ConvGeometry } from '../conv.js';
import { matmulKernel } from '../matmul.js';
import {
  conv2dBackwardInputReference,
  conv2dBackwardWeightReference,
  conv2dForwardReference,
} from '../reference/conv.js';
import { get, parallelColumns, parallelGemm, put, runtime, withArena } from './runtime.js';

/** Largest im2col buffer, in floats (16 MiB). */
const COL_FLOATS = 1 << 22;

const isF32 = (x: TypedArray): boolean => x instanceof Float32Array;

matmulKernel.register('wasm', (a: TypedArray, b: TypedArray, n: number, k: number, m: number) => {
  if (!isF32(a) || !isF32(b)) return matmulKernel.for('reference')(a, b, n, k, m);
  if (n * m === 0) return new Float32Array(n * m);
  return withArena((alloc) => {
    const pa = alloc(n * k);
    const pb = alloc(k * m);
    const pc = alloc(n * m);
    put(pa, a);
    put(pb, b);
    parallelGemm({ m: n, n: m, k, a: pa, sar: k, sac: 1, b: pb, sbr: m, sbc: 1, c: pc, ldc: m, beta: 0 });
    return get(pc, n * m);
  });
});

/** Whether im2col is the identity (1x1 kernel, stride 1, no padding, same size). */
function pointwise(g: ConvGeometry): boolean {
  return g.kernelHeight === 1 && g.kernelWidth === 1 && g.strideH === 1 && g.strideW === 1 && g.padH === 0 && g.padW === 0 &&
    g.inHeight === g.outHeight && g.inWidth === g.outWidth;
}

/** Output rows per chunk so that `K_g x rows W_out` stays below {@link COL_FLOATS}. */
function rowsPerChunk(kg: number, g: ConvGeometry): number {
  return Math.max(1, Math.min(g.outHeight, Math.floor(COL_FLOATS / Math.max(1, kg * g.outWidth))));
}

/** im2col (`toColumns`) or col2im of output rows [h0, h1) for `channels` channels at `x`, split between the threads. */
function columns(toColumns: boolean, x: number, channels: number, g: ConvGeometry, h0: number, h1: number, col: number): void {
  parallelColumns(toColumns, {
    x,
    channels,
    geometry: [g.inHeight, g.inWidth, g.kernelHeight, g.kernelWidth, g.strideH, g.strideW, g.padH, g.padW, g.dilationH, g.dilationW, g.outWidth, h0, h1],
    col,
  });
}

conv2dForward.register('wasm', (input: TypedArray, weight: TypedArray, bias: TypedArray | null, g: ConvGeometry) => {
  if (!isF32(input)) return conv2dForwardReference(input, weight, bias, g);
  const cgIn = g.inChannels / g.groups;
  const cgOut = g.outChannels / g.groups;
  const kg = cgIn * g.kernelHeight * g.kernelWidth;
  const inPlane = g.inHeight * g.inWidth;
  const P = g.outHeight * g.outWidth;
  const total = g.batch * g.outChannels * P;
  if (total === 0) return new Float32Array(total);
  const e = runtime().exports;
  return withArena((alloc) => {
    const px = alloc(input.length);
    const pw = alloc(weight.length);
    const pbias = alloc(g.outChannels);
    const pout = alloc(total);
    put(px, input);
    put(pw, weight);
    if (bias !== null) put(pbias, bias);
    const direct = pointwise(g);
    const rows = rowsPerChunk(kg, g);
    const pcol = direct ? 0 : alloc(kg * rows * g.outWidth);
    for (let n = 0; n < g.batch; n++) {
      e.fillRows(pout + n * g.outChannels * P * 4, pbias, g.outChannels, P, bias !== null ? 1 : 0);
      for (let grp = 0; grp < g.groups; grp++) {
        const x = px + ((n * g.inChannels + grp * cgIn) * inPlane) * 4;
        const out = pout + ((n * g.outChannels + grp * cgOut) * P) * 4;
        const w = pw + grp * cgOut * kg * 4;
        if (direct) {
          parallelGemm({ m: cgOut, n: P, k: kg, a: w, sar: kg, sac: 1, b: x, sbr: P, sbc: 1, c: out, ldc: P, beta: 1 });
          continue;
        }
        for (let h0 = 0; h0 < g.outHeight; h0 += rows) {
          const h1 = Math.min(g.outHeight, h0 + rows);
          const cols = (h1 - h0) * g.outWidth;
          columns(true, x, cgIn, g, h0, h1, pcol);
          parallelGemm({ m: cgOut, n: cols, k: kg, a: w, sar: kg, sac: 1, b: pcol, sbr: cols, sbc: 1, c: out + h0 * g.outWidth * 4, ldc: P, beta: 1 });
        }
      }
    }
    return get(pout, total);
  });
});

conv2dBackwardInput.register('wasm', (gradOutput: TypedArray, weight: TypedArray, g: ConvGeometry) => {
  if (!isF32(gradOutput)) return conv2dBackwardInputReference(gradOutput, weight, g);
  const cgIn = g.inChannels / g.groups;
  const cgOut = g.outChannels / g.groups;
  const kg = cgIn * g.kernelHeight * g.kernelWidth;
  const inPlane = g.inHeight * g.inWidth;
  const P = g.outHeight * g.outWidth;
  const total = g.batch * g.inChannels * inPlane;
  if (total === 0) return new Float32Array(total);
  const e = runtime().exports;
  return withArena((alloc) => {
    const pgo = alloc(gradOutput.length);
    const pw = alloc(weight.length);
    const pin = alloc(total);
    put(pgo, gradOutput);
    put(pw, weight);
    const direct = pointwise(g);
    const rows = rowsPerChunk(kg, g);
    const pcol = direct ? 0 : alloc(kg * rows * g.outWidth);
    // A = W_g^T [K_g, C_out/g], transposed once so that packing reads it row by row.
    const pwt = alloc(weight.length);
    for (let grp = 0; grp < g.groups; grp++) e.transpose(pw + grp * cgOut * kg * 4, cgOut, kg, kg, pwt + grp * cgOut * kg * 4);
    // Zero gradIn (col2im accumulates into it; a direct product overwrites it).
    if (!direct) e.fillRows(pin, 0, 1, total, 0);
    for (let n = 0; n < g.batch; n++) {
      for (let grp = 0; grp < g.groups; grp++) {
        const gin = pin + ((n * g.inChannels + grp * cgIn) * inPlane) * 4;
        const go = pgo + ((n * g.outChannels + grp * cgOut) * P) * 4;
        const wt = pwt + grp * cgOut * kg * 4;
        if (direct) {
          parallelGemm({ m: kg, n: P, k: cgOut, a: wt, sar: cgOut, sac: 1, b: go, sbr: P, sbc: 1, c: gin, ldc: P, beta: 0 });
          continue;
        }
        for (let h0 = 0; h0 < g.outHeight; h0 += rows) {
          const h1 = Math.min(g.outHeight, h0 + rows);
          const cols = (h1 - h0) * g.outWidth;
          parallelGemm({ m: kg, n: cols, k: cgOut, a: wt, sar: cgOut, sac: 1, b: go + h0 * g.outWidth * 4, sbr: P, sbc: 1, c: pcol, ldc: cols, beta: 0 });
          columns(false, gin, cgIn, g, h0, h1, pcol);
        }
      }
    }
    return get(pin, total);
  });
});

conv2dBackwardWeight.register('wasm', (input: TypedArray, gradOutput: TypedArray, g: ConvGeometry) => {
  if (!isF32(input)) return conv2dBackwardWeightReference(input, gradOutput, g);
  const cgIn = g.inChannels / g.groups;
  const cgOut = g.outChannels / g.groups;
  const kg = cgIn * g.kernelHeight * g.kernelWidth;
  const inPlane = g.inHeight * g.inWidth;
  const P = g.outHeight * g.outWidth;
  const total = g.outChannels * kg;
  if (total === 0) return new Float32Array(total);
  const e = runtime().exports;
  return withArena((alloc) => {
    const px = alloc(input.length);
    const pgo = alloc(gradOutput.length);
    const pgw = alloc(total);
    // gradW_g^T [K_g, C_out/g] += col[K_g, P] gradOut^T[P, C_out/g]: both operands then pack
    // row by row (col as A, the transposed output gradient as B); transposed into gradW at the end.
    // The sum runs over every image and output position (N H_out W_out terms, tens of thousands
    // for the heads): each chunk's product (at most COL_FLOATS / K_g terms, summed by the GEMM's
    // two-level blocks) is computed on its own and added into a float64 sum, in a fixed order,
    // so the long outer sum adds no float32 rounding.
    const pgwt = alloc(total);
    const ppart = alloc(total);
    const pacc = alloc(2 * total);
    put(px, input);
    put(pgo, gradOutput);
    e.fillRows(pacc, 0, 1, 2 * total, 0);
    const direct = pointwise(g);
    const rows = rowsPerChunk(kg, g);
    const pcol = direct ? 0 : alloc(kg * rows * g.outWidth);
    const pgot = alloc(cgOut * rows * g.outWidth);
    for (let n = 0; n < g.batch; n++) {
      for (let grp = 0; grp < g.groups; grp++) {
        const x = px + ((n * g.inChannels + grp * cgIn) * inPlane) * 4;
        const go = pgo + ((n * g.outChannels + grp * cgOut) * P) * 4;
        for (let h0 = 0; h0 < g.outHeight; h0 += rows) {
          const h1 = Math.min(g.outHeight, h0 + rows);
          const cols = (h1 - h0) * g.outWidth;
          const col = direct ? x + h0 * g.outWidth * 4 : pcol;
          if (!direct) columns(true, x, cgIn, g, h0, h1, pcol);
          e.transpose(go + h0 * g.outWidth * 4, cgOut, cols, P, pgot);
          parallelGemm({ m: kg, n: cgOut, k: cols, a: col, sar: direct ? P : cols, sac: 1, b: pgot, sbr: cgOut, sbc: 1, c: ppart, ldc: cgOut, beta: 0 });
          e.accumulateF64(pacc + grp * cgOut * kg * 8, ppart, cgOut * kg);
        }
      }
    }
    e.roundF64(pgwt, pacc, total);
    for (let grp = 0; grp < g.groups; grp++) e.transpose(pgwt + grp * cgOut * kg * 4, kg, cgOut, cgOut, pgw + grp * cgOut * kg * 4);
    return get(pgw, total);
  });
});
