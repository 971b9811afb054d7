/**
 * Reference kernels of nearest and bilinear (`align_corners=False`) resizing: the per-axis source
 * tables of `../interpolate.ts` (PyTorch's index arithmetic, float32 scales), a gather for the forward
 * and a scatter for the backward, as PyTorch's CPU kernels do
 * (`aten/src/ATen/native/cpu/UpSampleKernel.cpp`, torch 1.13).
 *
 * Values are computed in the input's precision (float64 inputs stay float64, for gradchecks); the
 * source indices and weights are always the ones PyTorch computes for float32 tensors.
 */
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
import { like } from './util.js';

/** Whether the column table is the exact doubling `src_w[ow] = floor(ow / 2)` (FPN's 2x upsampling). */
function isDoubling(srcW: ArrayLike<number>, W: number, W_out: number): boolean {
  if (W_out !== 2 * W) return false;
  for (let ow = 0; ow < W_out; ow++) if (srcW[ow] !== ow >> 1) return false;
  return true;
}

// Nearest: y[p, oh, ow] = x[p, src_h[oh], src_w[ow]].
interpolateNearestForward.register('reference', (x: TypedArray, g: InterpolateGeometry) => {
  const { planes, inHeight: H, inWidth: W, outHeight: H_out, outWidth: W_out } = g;
  const srcH = nearestSourceIndices(H, H_out, g.scaleH);
  const srcW = nearestSourceIndices(W, W_out, g.scaleW);
  const y = like(x, planes * H_out * W_out);
  const double = isDoubling(srcW, W, W_out);
  let o = 0;
  for (let p = 0; p < planes; p++) {
    for (let oh = 0; oh < H_out; oh++) {
      if (oh > 0 && srcH[oh] === srcH[oh - 1]) {
        // The same source row as the output row before: a copy of that row.
        for (let ow = 0; ow < W_out; ow++, o++) y[o] = y[o - W_out]!;
        continue;
      }
      const row = (p * H + srcH[oh]!) * W;
      if (double) {
        for (let w = 0; w < W; w++) {
          const v = x[row + w]!;
          y[o++] = v;
          y[o++] = v;
        }
      } else for (let ow = 0; ow < W_out; ow++) y[o++] = x[row + srcW[ow]!]!;
    }
  }
  return y;
});

// dL/dx[p, src_h[oh], src_w[ow]] += dL/dy[p, oh, ow]: every output copied one input element.
interpolateNearestBackward.register('reference', (gradOutput: TypedArray, g: InterpolateGeometry) => {
  const { planes, inHeight: H, inWidth: W, outHeight: H_out, outWidth: W_out } = g;
  const srcH = nearestSourceIndices(H, H_out, g.scaleH);
  const srcW = nearestSourceIndices(W, W_out, g.scaleW);
  const gradInput = like(gradOutput, planes * H * W);
  let o = 0;
  if (gradInput instanceof Float32Array && isDoubling(srcW, W, W_out)) {
    // Each output column pair (2w, 2w + 1) reads column w: the same two float32 additions, in
    // the same order, as the general loop below, without the index table.
    for (let p = 0; p < planes; p++) {
      for (let oh = 0; oh < H_out; oh++) {
        const row = (p * H + srcH[oh]!) * W;
        for (let w = 0; w < W; w++, o += 2) {
          gradInput[row + w] = Math.fround(Math.fround(gradInput[row + w]! + gradOutput[o]!) + gradOutput[o + 1]!);
        }
      }
    }
    return gradInput;
  }
  for (let p = 0; p < planes; p++) {
    for (let oh = 0; oh < H_out; oh++) {
      const row = (p * H + srcH[oh]!) * W;
      for (let ow = 0; ow < W_out; ow++) gradInput[row + srcW[ow]!] += gradOutput[o++]!;
    }
  }
  return gradInput;
});

// Bilinear: y[p, oh, ow] = lh0 (lw0 x[h0, w0] + lw1 x[h0, w1]) + lh1 (lw0 x[h1, w0] + lw1 x[h1, w1])
// with (h0, h1, lh0, lh1) the row table at oh and (w0, w1, lw0, lw1) the column table at ow.
interpolateBilinearForward.register('reference', (x: TypedArray, g: InterpolateGeometry) => {
  const { planes, inHeight: H, inWidth: W, outHeight: H_out, outWidth: W_out } = g;
  const rows = linearSourceTable(H, H_out, g.scaleH);
  const cols = linearSourceTable(W, W_out, g.scaleW);
  const y = like(x, planes * H_out * W_out);
  let o = 0;
  for (let p = 0; p < planes; p++) {
    for (let oh = 0; oh < H_out; oh++) {
      const row0 = (p * H + rows.index0[oh]!) * W;
      const row1 = (p * H + rows.index1[oh]!) * W;
      const lh0 = rows.lambda0[oh]!;
      const lh1 = rows.lambda1[oh]!;
      for (let ow = 0; ow < W_out; ow++) {
        const w0 = cols.index0[ow]!;
        const w1 = cols.index1[ow]!;
        const lw0 = cols.lambda0[ow]!;
        const lw1 = cols.lambda1[ow]!;
        y[o++] = lh0 * (lw0 * x[row0 + w0]! + lw1 * x[row0 + w1]!) + lh1 * (lw0 * x[row1 + w0]! + lw1 * x[row1 + w1]!);
      }
    }
  }
  return y;
});

// The transpose: each output gradient is split over its four source elements with the same
// weights, dL/dx[h_i, w_j] += lh_i * lw_j * dL/dy[oh, ow] (PyTorch's order: (0,0), (0,1), (1,0), (1,1)).
interpolateBilinearBackward.register('reference', (gradOutput: TypedArray, g: InterpolateGeometry) => {
  const { planes, inHeight: H, inWidth: W, outHeight: H_out, outWidth: W_out } = g;
  const rows = linearSourceTable(H, H_out, g.scaleH);
  const cols = linearSourceTable(W, W_out, g.scaleW);
  const gradInput = like(gradOutput, planes * H * W);
  let o = 0;
  for (let p = 0; p < planes; p++) {
    for (let oh = 0; oh < H_out; oh++) {
      const row0 = (p * H + rows.index0[oh]!) * W;
      const row1 = (p * H + rows.index1[oh]!) * W;
      const lh0 = rows.lambda0[oh]!;
      const lh1 = rows.lambda1[oh]!;
      for (let ow = 0; ow < W_out; ow++) {
        const w0 = cols.index0[ow]!;
        const w1 = cols.index1[ow]!;
        const lw0 = cols.lambda0[ow]!;
        const lw1 = cols.lambda1[ow]!;
        const dy = gradOutput[o++]!;
        gradInput[row0 + w0] += lh0 * lw0 * dy;
        gradInput[row0 + w1] += lh0 * lw1 * dy;
        gradInput[row1 + w0] += lh1 * lw0 * dy;
        gradInput[row1 + w1] += lh1 * lw1 * dy;
      }
    }
  }
  return gradInput;
});
