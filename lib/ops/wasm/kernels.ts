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
 * RoIAlign (average) has its own kernels in `roi.ts`, batch normalization and the per-channel
 * affine theirs in `batch_norm.ts`. The other ops' kernels (pooling, interpolation, RoIPool,
 * RoIAlign's max mode) are not written for wasm: they run the reference loops by the registry's
 * fallback rule, and `kernelTable()` notes it.
 */
import type { TypedArray } from '../../tensor/index.js';
import { conv2dBackwardInput, conv2dBackwardWeight, conv2dForward, type ConvGeometry } from '../conv.js';
import { matmulKernel, matmulTransposedKernel } from '../matmul.js';
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

matmulTransposedKernel.register('wasm', (a: TypedArray, b: TypedArray, n: number, k: number, m: number, transA: boolean, transB: boolean) => {
  if (!isF32(a) || !isF32(b)) {
    // Float64 (gradchecks): the reference product of the operands transposed in memory.
    const at = transA ? transposed(a, k, n) : a;
    const bt = transB ? transposed(b, m, k) : b;
    return matmulKernel.for('reference')(at, bt, n, k, m);
  }
  if (n * m === 0) return new Float32Array(n * m);
  return withArena((alloc) => {
    const pa = alloc(n * k);
    const pb = alloc(k * m);
    const pc = alloc(n * m);
    put(pa, a);
    put(pb, b);
    // A(i, p) is a[p n + i] when transposed, B(p, j) is b[j k + p]: the GEMM reads them through its strides.
    parallelGemm({
      m: n, n: m, k,
      a: pa, sar: transA ? 1 : k, sac: transA ? n : 1,
      b: pb, sbr: transB ? 1 : m, sbc: transB ? k : 1,
      c: pc, ldc: m, beta: 0,
    });
    return get(pc, n * m);
  });
});

/** The transpose of a row-major `rows x cols` matrix (float64 path only). */
function transposed(x: TypedArray, rows: number, cols: number): TypedArray {
  const out = new (x.constructor as new (n: number) => TypedArray)(x.length);
  for (let i = 0; i < rows; i++) for (let j = 0; j < cols; j++) out[j * rows + i] = x[i * cols + j]!;
  return out;
}

/** Whether im2col is the identity (1x1 kernel, stride 1, no padding, same size). */
function pointwise(g: ConvGeometry): boolean {
  return g.kernelHeight === 1 && g.kernelWidth === 1 && g.strideH === 1 && g.strideW === 1 && g.padH === 0 && g.padW === 0 &&
    g.inHeight === g.outHeight && g.inWidth === g.outWidth;
}

/**
 * Columns one product should have when small planes are batched: enough that the product's
 * fixed costs (waking the workers, packing A, the edge tiles) are spread over several images,
 * few enough that col (K_g x columns: 2.3 MB for the heads' 3x3 convolutions) stays in the
 * outer cache (2048 measured no faster, im2col then streams col through memory). The weight
 * gradient sums over these columns in float32 (then into float64), so they also bound its
 * float32 chains.
 */
const BATCH_COLUMNS = 1024;

/**
 * How the `N` images are cut into products: `images` per product (several when one image's
 * plane `P` is small: the heads' 14x14 and 7x7 RoI batches), each over `rows` output rows at a
 * time (fewer than `H_out` only for a single large image whose col would pass {@link COL_FLOATS}).
 * Depends on the sizes alone, never on the thread count.
 */
function plan(kg: number, g: ConvGeometry, columns: number): { images: number; rows: number } {
  const P = g.outHeight * g.outWidth;
  const perImage = Math.max(1, kg) * P;
  if (P >= columns || g.batch <= 1 || 2 * perImage > COL_FLOATS) {
    return { images: 1, rows: Math.max(1, Math.min(g.outHeight, Math.floor(COL_FLOATS / Math.max(1, kg * g.outWidth)))) };
  }
  // Even batches of at most `columns` columns (and at most COL_FLOATS floats of col).
  const most = Math.max(1, Math.min(Math.floor(columns / P), Math.floor(COL_FLOATS / perImage)));
  const products = Math.ceil(g.batch / most);
  return { images: Math.ceil(g.batch / products), rows: g.outHeight };
}

/** The scalars im2col/col2im take after the channel count, for output rows [h0, h1). */
function geometry(g: ConvGeometry, h0: number, h1: number): [number, number, number, number, number, number, number, number, number, number, number, number, number] {
  return [g.inHeight, g.inWidth, g.kernelHeight, g.kernelWidth, g.strideH, g.strideW, g.padH, g.padW, g.dilationH, g.dilationW, g.outWidth, h0, h1];
}

/**
 * im2col (`toColumns`) or col2im of output rows [h0, h1) of `images` consecutive images
 * (`channels` channels at `x`, images `imageStride` floats apart), image i's columns at
 * `col + 4 i (h1 - h0) W_out`, rows of col `ldcol` floats apart; split between the threads.
 */
function columns(toColumns: boolean, x: number, channels: number, g: ConvGeometry, h0: number, h1: number, col: number, ldcol: number, images = 1, imageStride = 0): void {
  parallelColumns(toColumns, { x, channels, geometry: geometry(g, h0, h1), col, ldcol, images, imageStride, colOffset: (h1 - h0) * g.outWidth });
}

/**
 * The sizes every conv kernel derives from its geometry: channels per group in and out
 * (`cgIn`, `cgOut`), the GEMM's reduction length per group `kg = cgIn kH kW`, and the input
 * and output plane sizes (`inPlane`, `P`).
 */
function groupDims(g: ConvGeometry): { cgIn: number; cgOut: number; kg: number; inPlane: number; P: number } {
  const cgIn = g.inChannels / g.groups;
  return { cgIn, cgOut: g.outChannels / g.groups, kg: cgIn * g.kernelHeight * g.kernelWidth, inPlane: g.inHeight * g.inWidth, P: g.outHeight * g.outWidth };
}

conv2dForward.register('wasm', (input: TypedArray, weight: TypedArray, bias: TypedArray | null, g: ConvGeometry) => {
  if (!isF32(input)) return conv2dForwardReference(input, weight, bias, g);
  const { cgIn, cgOut, kg, inPlane, P } = groupDims(g);
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
    const { images, rows } = plan(kg, g, BATCH_COLUMNS);
    const pcol = direct && images === 1 ? 0 : alloc(kg * images * rows * g.outWidth);
    const pc = images === 1 ? 0 : alloc(cgOut * images * P);
    for (let n0 = 0; n0 < g.batch; n0 += images) {
      const nb = Math.min(images, g.batch - n0);
      if (images === 1) e.fillRows(pout + n0 * g.outChannels * P * 4, pbias, g.outChannels, P, bias !== null ? 1 : 0);
      for (let grp = 0; grp < g.groups; grp++) {
        const x = px + ((n0 * g.inChannels + grp * cgIn) * inPlane) * 4;
        const out = pout + ((n0 * g.outChannels + grp * cgOut) * P) * 4;
        const w = pw + grp * cgOut * kg * 4;
        if (images > 1) {
          // nb images in one product: col [K_g, nb P] (image i's columns i P..), C [C_out/g, nb P]
          // starting from the bias, then scattered to the images' planes.
          const cols = nb * P;
          if (direct) e.copyBlocks(x, g.inChannels * inPlane, inPlane, pcol, P, cols, nb, cgIn, P);
          else columns(true, x, cgIn, g, 0, g.outHeight, pcol, cols, nb, g.inChannels * inPlane);
          e.fillRows(pc, pbias + grp * cgOut * 4, cgOut, cols, bias !== null ? 1 : 0);
          parallelGemm({ m: cgOut, n: cols, k: kg, a: w, sar: kg, sac: 1, b: pcol, sbr: cols, sbc: 1, c: pc, ldc: cols, beta: 1 });
          e.copyBlocks(pc, P, cols, out, g.outChannels * P, P, nb, cgOut, P);
          continue;
        }
        if (direct) {
          parallelGemm({ m: cgOut, n: P, k: kg, a: w, sar: kg, sac: 1, b: x, sbr: P, sbc: 1, c: out, ldc: P, beta: 1 });
          continue;
        }
        for (let h0 = 0; h0 < g.outHeight; h0 += rows) {
          const h1 = Math.min(g.outHeight, h0 + rows);
          const cols = (h1 - h0) * g.outWidth;
          columns(true, x, cgIn, g, h0, h1, pcol, cols);
          parallelGemm({ m: cgOut, n: cols, k: kg, a: w, sar: kg, sac: 1, b: pcol, sbr: cols, sbc: 1, c: out + h0 * g.outWidth * 4, ldc: P, beta: 1 });
        }
      }
    }
    return get(pout, total);
  });
});

conv2dBackwardInput.register('wasm', (gradOutput: TypedArray, weight: TypedArray, g: ConvGeometry) => {
  if (!isF32(gradOutput)) return conv2dBackwardInputReference(gradOutput, weight, g);
  const { cgIn, cgOut, kg, inPlane, P } = groupDims(g);
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
    const { images, rows } = plan(kg, g, BATCH_COLUMNS);
    const pcol = direct && images === 1 ? 0 : alloc(kg * images * rows * g.outWidth);
    const pb = images === 1 ? 0 : alloc(cgOut * images * P);
    // A = W_g^T [K_g, C_out/g], transposed once so that packing reads it row by row.
    const pwt = alloc(weight.length);
    for (let grp = 0; grp < g.groups; grp++) e.transpose(pw + grp * cgOut * kg * 4, cgOut, kg, kg, pwt + grp * cgOut * kg * 4);
    // Zero gradIn (col2im accumulates into it; a direct product overwrites it).
    if (!direct) e.fillRows(pin, 0, 1, total, 0);
    for (let n0 = 0; n0 < g.batch; n0 += images) {
      const nb = Math.min(images, g.batch - n0);
      for (let grp = 0; grp < g.groups; grp++) {
        const gin = pin + ((n0 * g.inChannels + grp * cgIn) * inPlane) * 4;
        const go = pgo + ((n0 * g.outChannels + grp * cgOut) * P) * 4;
        const wt = pwt + grp * cgOut * kg * 4;
        if (images > 1) {
          // nb images in one product: gradOut gathered to [C_out/g, nb P], col = W_g^T gradOut
          // [K_g, nb P], then col2im per image (or, 1x1, col scattered to the images' planes).
          const cols = nb * P;
          e.copyBlocks(go, g.outChannels * P, P, pb, P, cols, nb, cgOut, P);
          parallelGemm({ m: kg, n: cols, k: cgOut, a: wt, sar: cgOut, sac: 1, b: pb, sbr: cols, sbc: 1, c: pcol, ldc: cols, beta: 0 });
          if (direct) e.copyBlocks(pcol, P, cols, gin, g.inChannels * inPlane, inPlane, nb, cgIn, P);
          else columns(false, gin, cgIn, g, 0, g.outHeight, pcol, cols, nb, g.inChannels * inPlane);
          continue;
        }
        if (direct) {
          parallelGemm({ m: kg, n: P, k: cgOut, a: wt, sar: cgOut, sac: 1, b: go, sbr: P, sbc: 1, c: gin, ldc: P, beta: 0 });
          continue;
        }
        for (let h0 = 0; h0 < g.outHeight; h0 += rows) {
          const h1 = Math.min(g.outHeight, h0 + rows);
          const cols = (h1 - h0) * g.outWidth;
          parallelGemm({ m: kg, n: cols, k: cgOut, a: wt, sar: cgOut, sac: 1, b: go + h0 * g.outWidth * 4, sbr: P, sbc: 1, c: pcol, ldc: cols, beta: 0 });
          columns(false, gin, cgIn, g, h0, h1, pcol, cols);
        }
      }
    }
    return get(pin, total);
  });
});

conv2dBackwardWeight.register('wasm', (input: TypedArray, gradOutput: TypedArray, g: ConvGeometry) => {
  if (!isF32(input)) return conv2dBackwardWeightReference(input, gradOutput, g);
  const { cgIn, cgOut, kg, inPlane, P } = groupDims(g);
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
    // for the heads): each chunk's product (a batch of small images, or rows of one image: at
    // most BATCH_COLUMNS or COL_FLOATS / K_g terms, summed by the GEMM's two-level
    // blocks) is computed on its own and added into a float64 sum, in a fixed order, so the
    // long outer sum adds no float32 rounding. The chunks depend on the sizes alone.
    const pgwt = alloc(total);
    const ppart = alloc(total);
    const pacc = alloc(2 * total);
    put(px, input);
    put(pgo, gradOutput);
    e.fillRows(pacc, 0, 1, 2 * total, 0);
    const direct = pointwise(g);
    const { images, rows } = plan(kg, g, BATCH_COLUMNS);
    const pcol = direct && images === 1 ? 0 : alloc(kg * images * rows * g.outWidth);
    const pgot = alloc(cgOut * images * rows * g.outWidth);
    for (let n0 = 0; n0 < g.batch; n0 += images) {
      const nb = Math.min(images, g.batch - n0);
      for (let grp = 0; grp < g.groups; grp++) {
        const x = px + ((n0 * g.inChannels + grp * cgIn) * inPlane) * 4;
        const go = pgo + ((n0 * g.outChannels + grp * cgOut) * P) * 4;
        if (images > 1) {
          // nb images in one product: col [K_g, nb P], gradOut^T [nb P, C_out/g] (image by image).
          const cols = nb * P;
          if (direct) e.copyBlocks(x, g.inChannels * inPlane, inPlane, pcol, P, cols, nb, cgIn, P);
          else columns(true, x, cgIn, g, 0, g.outHeight, pcol, cols, nb, g.inChannels * inPlane);
          for (let i = 0; i < nb; i++) e.transpose(go + i * g.outChannels * P * 4, cgOut, P, P, pgot + i * P * cgOut * 4);
          parallelGemm({ m: kg, n: cgOut, k: cols, a: pcol, sar: cols, sac: 1, b: pgot, sbr: cgOut, sbc: 1, c: ppart, ldc: cgOut, beta: 0 });
          e.accumulateF64(pacc + grp * cgOut * kg * 8, ppart, cgOut * kg);
          continue;
        }
        for (let h0 = 0; h0 < g.outHeight; h0 += rows) {
          const h1 = Math.min(g.outHeight, h0 + rows);
          const cols = (h1 - h0) * g.outWidth;
          const col = direct ? x + h0 * g.outWidth * 4 : pcol;
          if (!direct) columns(true, x, cgIn, g, h0, h1, pcol, cols);
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
