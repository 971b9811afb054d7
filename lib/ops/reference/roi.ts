/**
 * Reference kernels of RoIPool and RoIAlign (Mask R-CNN, section 3 and Figure 3): plain loops
 * over RoIs, channels, bins and, for RoIAlign, the sample points of each bin. They implement
 * torchvision 0.14's CPU kernels' semantics (`roi_pool_kernel.cpp`, `roi_align_kernel.cpp`):
 * the geometry they read (RoIPool's rounded bins, RoIAlign's sample coordinates) comes from
 * `roiPoolGeometry` / `roiAlignGeometry` in `../roi_geometry.ts`, where each formula is written out.
 *
 * They compute in the input's precision (float64 inputs stay float64, for gradchecks).
 */
import type { TypedArray } from '../../tensor/index.js';
import { roiAlignBackward, roiAlignForward, roiAlignMaxBackward, roiAlignMaxForward, roiPoolBackward, roiPoolForward } from '../roi.js';
import { bilinearAxis, type RoiAlignGeometry, type RoiDims, type RoiPoolGeometry } from '../roi_geometry.js';
import { like } from './util.js';

/** torchvision starts its running max at `-FLT_MAX` (so a bin of -Infinity or NaN values has no argmax). */
const FLT_MAX = 3.4028234663852886e38;

// ---------------------------------------------------------------------------------------------
// RoIPool: a max over each quantized bin
// ---------------------------------------------------------------------------------------------

function roiPoolForwardReference(input: TypedArray, d: RoiDims, g: RoiPoolGeometry): { output: TypedArray; argmax: Int32Array } {
  const { C, H, W, K, PH, PW } = d;
  const output = like(input, K * C * PH * PW);
  const argmax = new Int32Array(K * C * PH * PW).fill(-1);
  for (let k = 0; k < K; k++) {
    const n = g.batchIndex[k]!;
    for (let c = 0; c < C; c++) {
      const plane = (n * C + c) * H * W;
      for (let ph = 0; ph < PH; ph++) {
        const hstart = g.hstart[k * PH + ph]!;
        const hend = g.hend[k * PH + ph]!;
        for (let pw = 0; pw < PW; pw++) {
          const wstart = g.wstart[k * PW + pw]!;
          const wend = g.wend[k * PW + pw]!;
          const o = ((k * C + c) * PH + ph) * PW + pw;
          // An empty bin (clipped away) outputs 0 and has no argmax.
          if (hend <= hstart || wend <= wstart) continue;
          let max = -FLT_MAX;
          let at = -1;
          for (let h = hstart; h < hend; h++) {
            for (let w = wstart; w < wend; w++) {
              const v = input[plane + h * W + w]!;
              // Strict '>': the first maximum in row-major order wins.
              if (v > max) {
                max = v;
                at = h * W + w;
              }
            }
          }
          output[o] = max;
          argmax[o] = at;
        }
      }
    }
  }
  return { output, argmax };
}

function roiPoolBackwardReference(gradOutput: TypedArray, argmax: Int32Array, d: RoiDims, g: RoiPoolGeometry): TypedArray {
  const { N, C, H, W, K, PH, PW } = d;
  const gradInput = like(gradOutput, N * C * H * W);
  for (let k = 0; k < K; k++) {
    const n = g.batchIndex[k]!;
    for (let c = 0; c < C; c++) {
      const plane = (n * C + c) * H * W;
      for (let p = 0; p < PH * PW; p++) {
        const o = (k * C + c) * PH * PW + p;
        // The max is a selection: its whole gradient goes to the selected cell.
        if (argmax[o]! >= 0) gradInput[plane + argmax[o]!] += gradOutput[o]!;
      }
    }
  }
  return gradInput;
}

roiPoolForward.register('reference', roiPoolForwardReference);
roiPoolBackward.register('reference', roiPoolBackwardReference);

// ---------------------------------------------------------------------------------------------
// RoIAlign: bilinear samples on a regular grid in each bin, averaged (or max-pooled)
// ---------------------------------------------------------------------------------------------

/**
 * torchvision's `pre_calc`: for every sample point of RoI `k`, in the order bin `(ph, pw)`, then
 * grid row `iy`, then grid column `ix`, the offsets of its four neighbours in a feature plane
 * and their bilinear weights. They are the same for every channel, so they are computed once
 * per RoI. With `v = y - y_low` and `u = x - x_low`, the sample's value is
 * `f(y, x) = (1-v)(1-u) f1 + (1-v) u f2 + v (1-u) f3 + v u f4` for the neighbours
 * f1 = (y_low, x_low), f2 = (y_low, x_high), f3 = (y_high, x_low), f4 = (y_high, x_high).
 * A sample outside the map gets four zero weights (it reads 0).
 */
interface SampleTable {
  /** Samples per bin, `gridH * gridW` (0 when the grid is empty). */
  perBin: number;
  /** `[PH * PW * perBin * 4]` plane offsets `y * W + x` of f1, f2, f3, f4. */
  offsets: Int32Array;
  /** `[PH * PW * perBin * 4]` the weights w1, w2, w3, w4. */
  weights: Float64Array;
}

function sampleTable(d: RoiDims, g: RoiAlignGeometry, k: number): SampleTable {
  const { H, W, PH, PW } = d;
  const gridH = Math.max(g.gridH[k]!, 0);
  const gridW = Math.max(g.gridW[k]!, 0);
  const perBin = gridH * gridW;
  // The taps of every sample row and every sample column (bilinear weights are separable).
  const rows = [...Array(PH * gridH).keys()].map((j) => bilinearAxis(g.sampleY[g.sampleOffsetY[k]! + j]!, H));
  const cols = [...Array(PW * gridW).keys()].map((j) => bilinearAxis(g.sampleX[g.sampleOffsetX[k]! + j]!, W));
  const offsets = new Int32Array(PH * PW * perBin * 4);
  const weights = new Float64Array(PH * PW * perBin * 4);
  let s = 0;
  for (let ph = 0; ph < PH; ph++) {
    for (let pw = 0; pw < PW; pw++) {
      for (let iy = 0; iy < gridH; iy++) {
        const ay = rows[ph * gridH + iy]!;
        for (let ix = 0; ix < gridW; ix++, s += 4) {
          const ax = cols[pw * gridW + ix]!;
          if (ay === null || ax === null) continue; // outside the map: weights stay 0
          const [v, u] = [ay.frac, ax.frac];
          offsets[s] = ay.low * W + ax.low; // f1
          offsets[s + 1] = ay.low * W + ax.high; // f2
          offsets[s + 2] = ay.high * W + ax.low; // f3
          offsets[s + 3] = ay.high * W + ax.high; // f4
          weights[s] = (1 - v) * (1 - u);
          weights[s + 1] = (1 - v) * u;
          weights[s + 2] = v * (1 - u);
          weights[s + 3] = v * u;
        }
      }
    }
  }
  return { perBin, offsets, weights };
}

/** The bilinear interpolation of sample `s` (index into the table, in samples) in the plane starting at `plane`. */
function interpolate(input: TypedArray, plane: number, t: SampleTable, s: number): number {
  const o = t.offsets;
  const w = t.weights;
  const i = s * 4;
  return w[i]! * input[plane + o[i]!]! + w[i + 1]! * input[plane + o[i + 1]!]! + w[i + 2]! * input[plane + o[i + 2]!]! + w[i + 3]! * input[plane + o[i + 3]!]!;
}

/** The transpose of {@link interpolate}: adds `g` times each neighbour's weight into `grad`. */
function interpolateBackward(grad: TypedArray, plane: number, t: SampleTable, s: number, g: number): void {
  const o = t.offsets;
  const w = t.weights;
  const i = s * 4;
  grad[plane + o[i]!] += g * w[i]!;
  grad[plane + o[i + 1]!] += g * w[i + 1]!;
  grad[plane + o[i + 2]!] += g * w[i + 2]!;
  grad[plane + o[i + 3]!] += g * w[i + 3]!;
}

function roiAlignForwardReference(input: TypedArray, d: RoiDims, g: RoiAlignGeometry): TypedArray {
  const { C, H, W, K, PH, PW } = d;
  const output = like(input, K * C * PH * PW);
  for (let k = 0; k < K; k++) {
    const n = g.batchIndex[k]!;
    const count = g.count[k]!;
    const table = sampleTable(d, g, k);
    for (let c = 0; c < C; c++) {
      const plane = (n * C + c) * H * W;
      for (let bin = 0; bin < PH * PW; bin++) {
        // output = (1 / count) * sum over the bin's grid of the bilinearly interpolated samples.
        let sum = 0;
        for (let s = bin * table.perBin; s < (bin + 1) * table.perBin; s++) sum += interpolate(input, plane, table, s);
        output[(k * C + c) * PH * PW + bin] = sum / count;
      }
    }
  }
  return output;
}

function roiAlignBackwardReference(gradOutput: TypedArray, d: RoiDims, g: RoiAlignGeometry): TypedArray {
  const { N, C, H, W, K, PH, PW } = d;
  const gradInput = like(gradOutput, N * C * H * W);
  for (let k = 0; k < K; k++) {
    const n = g.batchIndex[k]!;
    const count = g.count[k]!;
    const table = sampleTable(d, g, k);
    for (let c = 0; c < C; c++) {
      const plane = (n * C + c) * H * W;
      for (let bin = 0; bin < PH * PW; bin++) {
        // Each sample got weight 1/count in the average: scatter that share of the bin's
        // gradient into the sample's four neighbours with its bilinear weights.
        const share = gradOutput[(k * C + c) * PH * PW + bin]! / count;
        for (let s = bin * table.perBin; s < (bin + 1) * table.perBin; s++) interpolateBackward(gradInput, plane, table, s, share);
      }
    }
  }
  return gradInput;
}

function roiAlignMaxForwardReference(input: TypedArray, d: RoiDims, g: RoiAlignGeometry): { output: TypedArray; argmax: Int32Array } {
  const { C, H, W, K, PH, PW } = d;
  const output = like(input, K * C * PH * PW);
  const argmax = new Int32Array(K * C * PH * PW).fill(-1);
  for (let k = 0; k < K; k++) {
    const n = g.batchIndex[k]!;
    const table = sampleTable(d, g, k);
    for (let c = 0; c < C; c++) {
      const plane = (n * C + c) * H * W;
      for (let bin = 0; bin < PH * PW; bin++) {
        // output = the largest bilinearly interpolated sample (a sample outside reads 0), the
        // first one in grid order on ties; a bin without samples outputs 0.
        let max = 0;
        let at = -1;
        for (let j = 0; j < table.perBin; j++) {
          const value = interpolate(input, plane, table, bin * table.perBin + j);
          if (at < 0 || value > max) {
            max = value;
            at = j; // = iy * gridW + ix
          }
        }
        output[(k * C + c) * PH * PW + bin] = max;
        argmax[(k * C + c) * PH * PW + bin] = at;
      }
    }
  }
  return { output, argmax };
}

function roiAlignMaxBackwardReference(gradOutput: TypedArray, argmax: Int32Array, d: RoiDims, g: RoiAlignGeometry): TypedArray {
  const { N, C, H, W, K, PH, PW } = d;
  const gradInput = like(gradOutput, N * C * H * W);
  for (let k = 0; k < K; k++) {
    const n = g.batchIndex[k]!;
    const table = sampleTable(d, g, k);
    for (let c = 0; c < C; c++) {
      const plane = (n * C + c) * H * W;
      for (let bin = 0; bin < PH * PW; bin++) {
        const o = (k * C + c) * PH * PW + bin;
        // The winning sample's value is bilinear in the input: its four neighbours share the
        // bin's gradient with the bilinear weights.
        if (argmax[o]! >= 0) interpolateBackward(gradInput, plane, table, bin * table.perBin + argmax[o]!, gradOutput[o]!);
      }
    }
  }
  return gradInput;
}

roiAlignForward.register('reference', roiAlignForwardReference);
roiAlignBackward.register('reference', roiAlignBackwardReference);
roiAlignMaxForward.register('reference', roiAlignMaxForwardReference);
roiAlignMaxBackward.register('reference', roiAlignMaxBackwardReference);
