/**
 * Reference kernels of conv2d (and, through them, of convTranspose2d): direct loops over the
 * convolution formula, in the input's precision (float64 inputs stay float64, for gradchecks).
 *
 *     out[n][c_out][h_out][w_out] = bias[c_out]
 *         + sum_{c_in, kh, kw} weight[c_out][c_in][kh][kw] * input[n][g Cg_in + c_in][h_in][w_in]
 *     with h_in = h_out s_h - p_h + kh d_h,  w_in = w_out s_w - p_w + kw d_w,
 *          g = floor(c_out / Cg_out) the group, Cg_in = C_in / groups, Cg_out = C_out / groups,
 *
 * taps outside the input reading the zero padding. This is `torch.nn.functional.conv2d`
 * (torch 1.13's `aten/src/ATen/native/Convolution.cpp` semantics); see `../conv.ts` for how the
 * transposed convolution is the same three kernels.
 *
 * Sums are accumulated in float64 and rounded once to the input's precision at the end, so
 * that this backend is the accurate oracle the others are compared with.
 *
 * All three kernels share one loop nest: for every (n, c_out, c_in, kh, kw) the pairs
 * (h_out, w_out) <-> (h_in, w_in) it links, walked row by row so that the innermost loop runs
 * along a row of the output and of the input. They differ only in which array is written:
 * - forward:         out[h_out][w_out]      += weight * input[h_in][w_in]
 * - backward input:  gradIn[h_in][w_in]     += weight * gradOut[h_out][w_out]   (the same links, the arrow reversed)
 * - backward weight: gradWeight[kh][kw]     += gradOut[h_out][w_out] * input[h_in][w_in]
 *
 * {@link conv2dIm2col} is the same forward written the way fast libraries compute it (im2col +
 * a matrix product), for study.
 */
import type { TypedArray } from '../../tensor/index.js';
import { conv2dBackwardInput, conv2dBackwardWeight, conv2dForward, type ConvGeometry } from '../conv.js';
import { like } from './util.js';

/**
 * The output columns `w_out` whose tap at `offset = kw d` reads inside the input row, i.e.
 * `0 <= w_in = w_out s - p + kw d < W`: from `ceil((p - kw d) / s)` (at least 0) to
 * `floor((W - 1 + p - kw d) / s)` (at most `W_out - 1`). Outside that range the tap reads
 * the zero padding, so the inner loops skip it instead of testing every column.
 */
function validColumns(wOutSize: number, wIn: number, stride: number, pad: number, offset: number): [first: number, last: number] {
  const first = Math.max(0, Math.ceil((pad - offset) / stride));
  const last = Math.min(wOutSize - 1, Math.floor((wIn - 1 + pad - offset) / stride));
  return [first, last];
}

/** The float64 accumulator `acc` rounded to the precision of `x` (a copy of the same type as `x`). */
function rounded(x: TypedArray, acc: Float64Array): TypedArray {
  const out = like(x, acc.length);
  out.set(acc);
  return out;
}

/** out = bias + C_w(input): the conv2d forward, `[N, C_out, H_out, W_out]`. */
export function conv2dForwardReference(input: TypedArray, weight: TypedArray, bias: TypedArray | null, g: ConvGeometry): TypedArray {
  const { batch, inChannels, inHeight, inWidth, outChannels, outHeight, outWidth, kernelHeight, kernelWidth } = g;
  const cgIn = inChannels / g.groups;
  const cgOut = outChannels / g.groups;
  const out = new Float64Array(batch * outChannels * outHeight * outWidth);
  for (let n = 0; n < batch; n++) {
    for (let cOut = 0; cOut < outChannels; cOut++) {
      const group = Math.floor(cOut / cgOut);
      const outPlane = (n * outChannels + cOut) * outHeight * outWidth;
      if (bias !== null) out.fill(bias[cOut]!, outPlane, outPlane + outHeight * outWidth);
      for (let cIn = 0; cIn < cgIn; cIn++) {
        const inPlane = (n * inChannels + group * cgIn + cIn) * inHeight * inWidth;
        for (let kh = 0; kh < kernelHeight; kh++) {
          for (let kw = 0; kw < kernelWidth; kw++) {
            const w = weight[((cOut * cgIn + cIn) * kernelHeight + kh) * kernelWidth + kw]!;
            const [first, last] = validColumns(outWidth, inWidth, g.strideW, g.padW, kw * g.dilationW);
            for (let hOut = 0; hOut < outHeight; hOut++) {
              const hIn = hOut * g.strideH - g.padH + kh * g.dilationH;
              if (hIn < 0 || hIn >= inHeight) continue; // zero padding
              const outRow = outPlane + hOut * outWidth;
              const inRow = inPlane + hIn * inWidth - g.padW + kw * g.dilationW; // + w_out * s_w gives w_in
              for (let wOut = first; wOut <= last; wOut++) out[outRow + wOut] += w * input[inRow + wOut * g.strideW]!;
            }
          }
        }
      }
    }
  }
  return rounded(input, out);
}

/**
 * gradInput = C_w^T(gradOut): every output pixel sends `weight * gradOut` back to each input
 * pixel it read, `[N, C_in, H, W]`. (This is also the forward of convTranspose2d.)
 */
export function conv2dBackwardInputReference(gradOut: TypedArray, weight: TypedArray, g: ConvGeometry): TypedArray {
  const { batch, inChannels, inHeight, inWidth, outChannels, outHeight, outWidth, kernelHeight, kernelWidth } = g;
  const cgIn = inChannels / g.groups;
  const cgOut = outChannels / g.groups;
  const gradIn = new Float64Array(batch * inChannels * inHeight * inWidth);
  for (let n = 0; n < batch; n++) {
    for (let cOut = 0; cOut < outChannels; cOut++) {
      const group = Math.floor(cOut / cgOut);
      const outPlane = (n * outChannels + cOut) * outHeight * outWidth;
      for (let cIn = 0; cIn < cgIn; cIn++) {
        const inPlane = (n * inChannels + group * cgIn + cIn) * inHeight * inWidth;
        for (let kh = 0; kh < kernelHeight; kh++) {
          for (let kw = 0; kw < kernelWidth; kw++) {
            const w = weight[((cOut * cgIn + cIn) * kernelHeight + kh) * kernelWidth + kw]!;
            const [first, last] = validColumns(outWidth, inWidth, g.strideW, g.padW, kw * g.dilationW);
            for (let hOut = 0; hOut < outHeight; hOut++) {
              const hIn = hOut * g.strideH - g.padH + kh * g.dilationH;
              if (hIn < 0 || hIn >= inHeight) continue;
              const outRow = outPlane + hOut * outWidth;
              const inRow = inPlane + hIn * inWidth - g.padW + kw * g.dilationW;
              for (let wOut = first; wOut <= last; wOut++) gradIn[inRow + wOut * g.strideW] += w * gradOut[outRow + wOut]!;
            }
          }
        }
      }
    }
  }
  return rounded(gradOut, gradIn);
}

/**
 * gradWeight[c_out][c_in][kh][kw] = sum over n, h_out, w_out of gradOut[n][c_out][h_out][w_out]
 * times the input pixel that tap (kh, kw) read there, `[C_out, C_in / groups, kH, kW]`.
 */
export function conv2dBackwardWeightReference(input: TypedArray, gradOut: TypedArray, g: ConvGeometry): TypedArray {
  const { batch, inChannels, inHeight, inWidth, outChannels, outHeight, outWidth, kernelHeight, kernelWidth } = g;
  const cgIn = inChannels / g.groups;
  const cgOut = outChannels / g.groups;
  const gradWeight = new Float64Array(outChannels * cgIn * kernelHeight * kernelWidth);
  for (let n = 0; n < batch; n++) {
    for (let cOut = 0; cOut < outChannels; cOut++) {
      const group = Math.floor(cOut / cgOut);
      const outPlane = (n * outChannels + cOut) * outHeight * outWidth;
      for (let cIn = 0; cIn < cgIn; cIn++) {
        const inPlane = (n * inChannels + group * cgIn + cIn) * inHeight * inWidth;
        for (let kh = 0; kh < kernelHeight; kh++) {
          for (let kw = 0; kw < kernelWidth; kw++) {
            const [first, last] = validColumns(outWidth, inWidth, g.strideW, g.padW, kw * g.dilationW);
            let sum = 0;
            for (let hOut = 0; hOut < outHeight; hOut++) {
              const hIn = hOut * g.strideH - g.padH + kh * g.dilationH;
              if (hIn < 0 || hIn >= inHeight) continue;
              const outRow = outPlane + hOut * outWidth;
              const inRow = inPlane + hIn * inWidth - g.padW + kw * g.dilationW;
              for (let wOut = first; wOut <= last; wOut++) sum += gradOut[outRow + wOut]! * input[inRow + wOut * g.strideW]!;
            }
            gradWeight[((cOut * cgIn + cIn) * kernelHeight + kh) * kernelWidth + kw] += sum;
          }
        }
      }
    }
  }
  return rounded(input, gradWeight);
}

/**
 * The conv2d forward as fast libraries compute it (for study; the registered kernel is
 * {@link conv2dForwardReference}). For each image and group, im2col copies every receptive
 * field into a column: `cols[(c_in, kh, kw)][(h_out, w_out)]`, a `[Cg_in kH kW, H_out W_out]`
 * matrix (zeros where a tap falls in the padding). The convolution is then one matrix product
 * per group, `out[Cg_out, H_out W_out] = weight[Cg_out, Cg_in kH kW] x cols`, plus the bias:
 * all the work of a convolution is a GEMM, which is what the `wasm` backend makes fast.
 */
export function conv2dIm2col(input: TypedArray, weight: TypedArray, bias: TypedArray | null, g: ConvGeometry): TypedArray {
  const { batch, inChannels, inHeight, inWidth, outChannels, outHeight, outWidth, kernelHeight, kernelWidth } = g;
  const cgIn = inChannels / g.groups;
  const cgOut = outChannels / g.groups;
  const rows = cgIn * kernelHeight * kernelWidth; // one row per (c_in, kh, kw)
  const positions = outHeight * outWidth; // one column per (h_out, w_out)
  const cols = like(input, rows * positions);
  const out = like(input, batch * outChannels * positions);
  for (let n = 0; n < batch; n++) {
    for (let group = 0; group < g.groups; group++) {
      // im2col: cols[row][position] = input[n][group Cg_in + c_in][h_in][w_in] (0 in the padding).
      for (let cIn = 0; cIn < cgIn; cIn++) {
        const inPlane = (n * inChannels + group * cgIn + cIn) * inHeight * inWidth;
        for (let kh = 0; kh < kernelHeight; kh++) {
          for (let kw = 0; kw < kernelWidth; kw++) {
            const row = (cIn * kernelHeight + kh) * kernelWidth + kw;
            for (let hOut = 0; hOut < outHeight; hOut++) {
              const hIn = hOut * g.strideH - g.padH + kh * g.dilationH;
              for (let wOut = 0; wOut < outWidth; wOut++) {
                const wIn = wOut * g.strideW - g.padW + kw * g.dilationW;
                const inside = hIn >= 0 && hIn < inHeight && wIn >= 0 && wIn < inWidth;
                cols[row * positions + hOut * outWidth + wOut] = inside ? input[inPlane + hIn * inWidth + wIn]! : 0;
              }
            }
          }
        }
      }
      // GEMM: out[c_out][position] = bias[c_out] + sum_row weight[c_out][row] * cols[row][position].
      for (let c = 0; c < cgOut; c++) {
        const cOut = group * cgOut + c;
        const outPlane = (n * outChannels + cOut) * positions;
        if (bias !== null) out.fill(bias[cOut]!, outPlane, outPlane + positions);
        for (let row = 0; row < rows; row++) {
          const w = weight[cOut * rows + row]!;
          for (let p = 0; p < positions; p++) out[outPlane + p] += w * cols[row * positions + p]!;
        }
      }
    }
  }
  return out;
}

conv2dForward.register('reference', conv2dForwardReference);
conv2dBackwardInput.register('reference', conv2dBackwardInputReference);
conv2dBackwardWeight.register('reference', conv2dBackwardWeightReference);
