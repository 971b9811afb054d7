/**
 * Reference kernels of RoIPool and RoIAlign (Mask R-CNN, section 3 and Figure 3): plain loops
 * over RoIs, channels, bins and, for RoIAlign, the sample points of each bin. They implement
 * torchvision 0.14's CPU kernels' semantics (`roi_pool_kernel.cpp`, `roi_align_kernel.cpp`):
 * the geometry they read (RoIPool's rounded bins, RoIAlign's sample coordinates) comes from
 * `roiPoolGeometry` / `roiAlignGeometry` in `../roi.ts`, where each formula is written out.
 *
 * They compute in the input's precision (float64 inputs stay float64, for gradchecks).
 */
import type { TypedArray } from '../../tensor/index.js';
import {
  bilinearAxis,
  roiAlignBackward,
  roiAlignForward,
  roiAlignMaxBackward,
  roiAlignMaxForward,
  roiPoolBackward,
  roiPoolForward,
  type RoiAlignGeometry,
  type RoiDims,
  type RoiPoolGeometry,
} from '../roi.js';
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
 * The bilinear taps of a run of sample coordinates along one axis (torchvision's `pre_calc`,
 * kept separable): for sample `j`, `low[j]`/`high[j]` are the two cells it falls between and
 * `frac[j]` its fraction towards `high`; `low[j] = -1` marks a sample outside `[-1, size]`.
 */
interface AxisTaps {
  low: Int32Array;
  high: Int32Array;
  frac: Float64Array;
}

function axisTaps(coords: Float64Array, offset: number, n: number, size: number): AxisTaps {
  const taps = { low: new Int32Array(n), high: new Int32Array(n), frac: new Float64Array(n) };
  for (let j = 0; j < n; j++) {
    const a = bilinearAxis(coords[offset + j]!, size);
    taps.low[j] = a === null ? -1 : a.low;
    taps.high[j] = a === null ? -1 : a.high;
    taps.frac[j] = a === null ? 0 : a.frac;
  }
  return taps;
}

/** The sample rows and columns of RoI `k`, as bilinear taps, and its grid. */
function roiTaps(d: RoiDims, g: RoiAlignGeometry, k: number) {
  const gridH = Math.max(g.gridH[k]!, 0);
  const gridW = Math.max(g.gridW[k]!, 0);
  return {
    gridH,
    gridW,
    rows: axisTaps(g.sampleY, g.sampleOffsetY[k]!, d.PH * gridH, d.H),
    cols: axisTaps(g.sampleX, g.sampleOffsetX[k]!, d.PW * gridW, d.W),
  };
}

/**
 * The bilinear interpolation of one sample: with `v = y - y_low` and `u = x - x_low`,
 * `f(y, x) = (1-v)(1-u) f1 + (1-v) u f2 + v (1-u) f3 + v u f4` for the four neighbours
 * f1 = (y_low, x_low), f2 = (y_low, x_high), f3 = (y_high, x_low), f4 = (y_high, x_high).
 */
function bilinear(input: TypedArray, plane: number, W: number, rows: AxisTaps, r: number, cols: AxisTaps, q: number): number {
  if (rows.low[r]! < 0 || cols.low[q]! < 0) return 0; // outside the map: reads 0
  const v = rows.frac[r]!;
  const u = cols.frac[q]!;
  const top = plane + rows.low[r]! * W;
  const bottom = plane + rows.high[r]! * W;
  const [xLow, xHigh] = [cols.low[q]!, cols.high[q]!];
  return (1 - v) * (1 - u) * input[top + xLow]! + (1 - v) * u * input[top + xHigh]! + v * (1 - u) * input[bottom + xLow]! + v * u * input[bottom + xHigh]!;
}

/** The transpose of {@link bilinear}: adds `g` times each neighbour's weight into `grad`. */
function bilinearBackward(grad: TypedArray, plane: number, W: number, rows: AxisTaps, r: number, cols: AxisTaps, q: number, g: number): void {
  if (rows.low[r]! < 0 || cols.low[q]! < 0) return;
  const v = rows.frac[r]!;
  const u = cols.frac[q]!;
  const top = plane + rows.low[r]! * W;
  const bottom = plane + rows.high[r]! * W;
  const [xLow, xHigh] = [cols.low[q]!, cols.high[q]!];
  grad[top + xLow] += g * (1 - v) * (1 - u);
  grad[top + xHigh] += g * (1 - v) * u;
  grad[bottom + xLow] += g * v * (1 - u);
  grad[bottom + xHigh] += g * v * u;
}

function roiAlignForwardReference(input: TypedArray, d: RoiDims, g: RoiAlignGeometry): TypedArray {
  const { C, H, W, K, PH, PW } = d;
  const output = like(input, K * C * PH * PW);
  for (let k = 0; k < K; k++) {
    const n = g.batchIndex[k]!;
    const count = g.count[k]!;
    const { gridH, gridW, rows, cols } = roiTaps(d, g, k);
    for (let c = 0; c < C; c++) {
      const plane = (n * C + c) * H * W;
      for (let ph = 0; ph < PH; ph++) {
        for (let pw = 0; pw < PW; pw++) {
          // output = (1 / count) * sum over the grid of the bilinearly interpolated samples.
          let sum = 0;
          for (let iy = 0; iy < gridH; iy++) {
            for (let ix = 0; ix < gridW; ix++) {
              sum += bilinear(input, plane, W, rows, ph * gridH + iy, cols, pw * gridW + ix);
            }
          }
          output[((k * C + c) * PH + ph) * PW + pw] = sum / count;
        }
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
    const { gridH, gridW, rows, cols } = roiTaps(d, g, k);
    for (let c = 0; c < C; c++) {
      const plane = (n * C + c) * H * W;
      for (let ph = 0; ph < PH; ph++) {
        for (let pw = 0; pw < PW; pw++) {
          // Each sample got weight 1/count in the average: scatter that share of the bin's
          // gradient into the sample's four neighbours with its bilinear weights.
          const share = gradOutput[((k * C + c) * PH + ph) * PW + pw]! / count;
          for (let iy = 0; iy < gridH; iy++) {
            for (let ix = 0; ix < gridW; ix++) {
              bilinearBackward(gradInput, plane, W, rows, ph * gridH + iy, cols, pw * gridW + ix, share);
            }
          }
        }
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
    const { gridH, gridW, rows, cols } = roiTaps(d, g, k);
    for (let c = 0; c < C; c++) {
      const plane = (n * C + c) * H * W;
      for (let ph = 0; ph < PH; ph++) {
        for (let pw = 0; pw < PW; pw++) {
          // output = the largest bilinearly interpolated sample (a sample outside reads 0);
          // a bin without samples outputs 0.
          let max = 0;
          let at = -1;
          for (let iy = 0; iy < gridH; iy++) {
            for (let ix = 0; ix < gridW; ix++) {
              const value = bilinear(input, plane, W, rows, ph * gridH + iy, cols, pw * gridW + ix);
              if (at < 0 || value > max) {
                max = value;
                at = iy * gridW + ix;
              }
            }
          }
          const o = ((k * C + c) * PH + ph) * PW + pw;
          output[o] = max;
          argmax[o] = at;
        }
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
    const { gridH, gridW, rows, cols } = roiTaps(d, g, k);
    for (let c = 0; c < C; c++) {
      const plane = (n * C + c) * H * W;
      for (let ph = 0; ph < PH; ph++) {
        for (let pw = 0; pw < PW; pw++) {
          const o = ((k * C + c) * PH + ph) * PW + pw;
          const a = argmax[o]!;
          if (a < 0) continue;
          // The winning sample's value is bilinear in the input: its four neighbours share the
          // bin's gradient with the bilinear weights.
          const iy = Math.floor(a / gridW);
          const ix = a - iy * gridW;
          bilinearBackward(gradInput, plane, W, rows, ph * gridH + iy, cols, pw * gridW + ix, gradOutput[o]!);
        }
      }
    }
  }
  return gradInput;
}

roiAlignForward.register('reference', roiAlignForwardReference);
roiAlignBackward.register('reference', roiAlignBackwardReference);
roiAlignMaxForward.register('reference', roiAlignMaxForwardReference);
roiAlignMaxBackward.register('reference', roiAlignMaxBackwardReference);
