/**
 * Reference kernels of 2-D max pooling: a loop over each output element's window (forward) and
 * a scatter of each output gradient onto its window's argmax (backward).
 *
 * Semantics are PyTorch's CPU kernel (`aten/src/ATen/native/cpu/MaxPoolKernel.cpp`, torch 1.13):
 * the window is clipped to the input (padding is -inf, so it can never win), scanned row by row,
 * and the running maximum is replaced when `value > max || isNaN(value)`: the first maximum wins
 * a tie, and a NaN wins over everything (the last NaN of the window).
 */
import type { TypedArray } from '../../tensor/index.js';
import { maxPool2dBackward, maxPool2dForward, type MaxPool2dGeometry } from '../pool.js';
import { like } from './util.js';

maxPool2dForward.register('reference', (x: TypedArray, g: MaxPool2dGeometry) => {
  const { planes, inHeight: H, inWidth: W, outHeight: H_out, outWidth: W_out } = g;
  const { kernelH: kH, kernelW: kW, strideH: sH, strideW: sW, padH: pH, padW: pW } = g;
  const y = like(x, planes * H_out * W_out);
  const argmax = new Int32Array(planes * H_out * W_out);
  for (let p = 0; p < planes; p++) {
    const plane = p * H * W; // x[p] starts here
    for (let oh = 0; oh < H_out; oh++) {
      // The window's rows oh*sH - pH .. oh*sH - pH + kH - 1, clipped to the input [0, H).
      const h0 = oh * sH - pH;
      const hStart = Math.max(h0, 0);
      const hEnd = Math.min(h0 + kH, H);
      for (let ow = 0; ow < W_out; ow++) {
        const w0 = ow * sW - pW;
        const wStart = Math.max(w0, 0);
        const wEnd = Math.min(w0 + kW, W);
        let max = -Infinity;
        let best = hStart * W + wStart; // PyTorch's initial index (kept if every value is -inf)
        for (let ih = hStart; ih < hEnd; ih++) {
          for (let iw = wStart; iw < wEnd; iw++) {
            const v = x[plane + ih * W + iw]!;
            if (v > max || Number.isNaN(v)) {
              max = v;
              best = ih * W + iw;
            }
          }
        }
        const o = (p * H_out + oh) * W_out + ow;
        y[o] = max;
        argmax[o] = best;
      }
    }
  }
  return { output: y, argmax };
});

maxPool2dBackward.register('reference', (gradOutput: TypedArray, argmax: Int32Array, g: MaxPool2dGeometry) => {
  const { planes, inHeight: H, inWidth: W, outHeight: H_out, outWidth: W_out } = g;
  const gradInput = like(gradOutput, planes * H * W);
  // dL/dx[p, argmax[p, o]] += dL/dy[p, o]: only the winner of each window receives the gradient.
  for (let p = 0; p < planes; p++) {
    for (let o = p * H_out * W_out; o < (p + 1) * H_out * W_out; o++) {
      gradInput[p * H * W + argmax[o]!] += gradOutput[o]!;
    }
  }
  return gradInput;
});
