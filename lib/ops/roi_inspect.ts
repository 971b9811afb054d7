/**
 * Inspection of RoIPool and RoIAlign for notebooks and the course (Mask R-CNN, section 3 and
 * Figure 3): {@link inspectRoiPool} and {@link inspectRoiAlign} open one bin of one RoI as plain
 * JSON-able objects: the box in feature coordinates, RoIPool's two quantizations or RoIAlign's
 * sample points with their four neighbours and bilinear weights, and the bin's output, computed
 * from the same geometry (`roi_geometry.ts`) the ops' kernels read, so they agree with
 * {@link roiPool} and {@link roiAlign} exactly.
 */
import { Tensor } from '../tensor/index.js';
import { checkRoiInputs, outputSizeOf, roiAlignSettings, spatialScaleOf } from './checks.js';
import type { RoiPoolOptions } from './roi.js';
import { bilinearAxis, roiAlignGeometry, roiPoolGeometry, roiRounding } from './roi_geometry.js';

// ---------------------------------------------------------------------------------------------
// Inspection: one bin of one RoI, as plain JSON-able objects
// ---------------------------------------------------------------------------------------------

/** One RoI for the inspection functions: `[batchIndex, x1, y1, x2, y2]` in image coordinates, as numbers or a 5-element tensor. */
export type RoiLike = readonly number[] | Tensor;

/** A cell of the feature map. */
export interface CellPosition {
  /** Row. */
  y: number;
  /** Column. */
  x: number;
}

/** A box in feature-map coordinates. */
export interface FeatureBox {
  /** Left. */
  x1: number;
  /** Top. */
  y1: number;
  /** Right. */
  x2: number;
  /** Bottom. */
  y2: number;
}

/** Options of {@link inspectRoiPool}. */
export interface InspectRoiPoolOptions extends RoiPoolOptions {
  /** Which channel's values to report (default 0). */
  channel?: number;
}

/** One bin of RoIPool, opened up ({@link inspectRoiPool}). */
export interface RoiPoolInspection {
  /** The RoI as given, `[batchIndex, x1, y1, x2, y2]` in image coordinates. */
  roi: number[];
  /** The scale used. */
  spatialScale: number;
  /** `[PH, PW]`. */
  outputSize: [number, number];
  /** The channel whose values are reported. */
  channel: number;
  /** The bin `[ph, pw]`. */
  bin: [number, number];
  /** The box scaled to the feature map before any rounding: `[x1, y1, x2, y2] * spatialScale`. */
  scaled: FeatureBox;
  /** First quantization: `round(x1 * spatialScale)` (C rounding), the region's first column. */
  roiStartW: number;
  /** `round(y1 * spatialScale)`, the region's first row. */
  roiStartH: number;
  /** `round(x2 * spatialScale)`, the region's last column (inclusive). */
  roiEndW: number;
  /** `round(y2 * spatialScale)`, the region's last row (inclusive). */
  roiEndH: number;
  /** `max(roiEndW - roiStartW + 1, 1)` cells. */
  roiWidth: number;
  /** `max(roiEndH - roiStartH + 1, 1)` cells. */
  roiHeight: number;
  /** `roiHeight / PH`. */
  binSizeH: number;
  /** `roiWidth / PW`. */
  binSizeW: number;
  /** Second quantization: the bin's rows `hstart .. hend - 1`, clipped to the map. */
  hstart: number;
  /** One past the bin's last row. */
  hend: number;
  /** The bin's first column. */
  wstart: number;
  /** One past the bin's last column. */
  wend: number;
  /** True when clipping left the bin without cells (output 0, no gradient). */
  empty: boolean;
  /** The bin's cells, row by row: `values[i][j] = input[n, channel, hstart + i, wstart + j]`. */
  values: number[][];
  /** The bin's output: the maximum (0 when empty). */
  max: number;
  /** Where the maximum is (the first one in row-major order), `null` when empty. */
  argmax: CellPosition | null;
}

function roiArray(op: string, roi: RoiLike): number[] {
  const r = roi instanceof Tensor ? Array.from(roi.data) : [...roi];
  if (r.length !== 5) throw new Error(`${op}: roi must be [batchIndex, x1, y1, x2, y2], got ${r.length} numbers`);
  return r;
}

function binOf(op: string, bin: readonly [number, number], PH: number, PW: number): [number, number] {
  const [ph, pw] = bin;
  if (!Number.isInteger(ph) || !Number.isInteger(pw) || ph < 0 || ph >= PH || pw < 0 || pw >= PW) {
    throw new Error(`${op}: bin must be [ph, pw] with 0 <= ph < ${PH} and 0 <= pw < ${PW}, got ${JSON.stringify(bin)}`);
  }
  return [ph, pw];
}

function channelOf(op: string, channel: number | undefined, C: number): number {
  const c = channel ?? 0;
  if (!Number.isInteger(c) || c < 0 || c >= C) throw new Error(`${op}: channel must be an integer in 0..${C - 1}, got ${channel}`);
  return c;
}

/**
 * Opens one bin of RoIPool for one RoI: the box scaled to the feature map, its quantized region
 * (`roiStart`/`roiEnd` in cells), the bin's cells (`hstart..hend`, `wstart..wend`), their
 * values in `channel`, and the maximum with its position: what {@link roiPool} outputs there.
 */
export function inspectRoiPool(input: Tensor, roi: RoiLike, options: InspectRoiPoolOptions, bin: readonly [number, number]): RoiPoolInspection {
  const op = 'inspectRoiPool';
  const r = roiArray(op, roi);
  const rois = new Tensor(Float64Array.from(r), [1, 5]);
  checkRoiInputs(op, input, rois);
  const [PH, PW] = outputSizeOf(op, options.outputSize);
  const spatialScale = spatialScaleOf(op, options.spatialScale);
  const [ph, pw] = binOf(op, bin, PH, PW);
  const [, C, H, W] = input.shape as [number, number, number, number];
  const channel = channelOf(op, options.channel, C);
  const float32 = input.dtype !== 'float64';
  const f = roiRounding(float32);
  const g = roiPoolGeometry(float32 ? Float32Array.from(r) : r, { H, W, K: 1, PH, PW }, spatialScale, float32);
  const [hstart, hend, wstart, wend] = [g.hstart[ph]!, g.hend[ph]!, g.wstart[pw]!, g.wend[pw]!];
  const plane = (r[0]! * C + channel) * H * W;
  const values: number[][] = [];
  let max = 0;
  let argmax: CellPosition | null = null;
  for (let h = hstart; h < hend; h++) {
    const row: number[] = [];
    for (let w = wstart; w < wend; w++) {
      const v = input.data[plane + h * W + w]!;
      row.push(v);
      if (argmax === null || v > max) {
        max = v;
        argmax = { y: h, x: w };
      }
    }
    values.push(row);
  }
  const scale = f(spatialScale);
  return {
    roi: r,
    spatialScale,
    outputSize: [PH, PW],
    channel,
    bin: [ph, pw],
    scaled: { x1: f(f(r[1]!) * scale), y1: f(f(r[2]!) * scale), x2: f(f(r[3]!) * scale), y2: f(f(r[4]!) * scale) },
    roiStartW: g.roiStartW[0]!,
    roiStartH: g.roiStartH[0]!,
    roiEndW: g.roiEndW[0]!,
    roiEndH: g.roiEndH[0]!,
    roiWidth: Math.max(g.roiEndW[0]! - g.roiStartW[0]! + 1, 1),
    roiHeight: Math.max(g.roiEndH[0]! - g.roiStartH[0]! + 1, 1),
    binSizeH: g.binSizeH[0]!,
    binSizeW: g.binSizeW[0]!,
    hstart,
    hend,
    wstart,
    wend,
    empty: hend <= hstart || wend <= wstart,
    values,
    max,
    argmax,
  };
}

/** Options of {@link inspectRoiAlign}. */
export interface InspectRoiAlignOptions {
  /** The pooled size `PH x PW`. */
  outputSize: number | readonly [number, number];
  /** Feature-map cells per image pixel (default 1). */
  spatialScale?: number;
  /** Samples per bin along each axis (default -1: adaptive). */
  samplingRatio?: number;
  /** Half-cell offset (default false). */
  aligned?: boolean;
  /** Which channel's values to report (default 0). */
  channel?: number;
}

/** One sample point of a RoIAlign bin ({@link RoiAlignInspection.samples}). */
export interface RoiAlignSample {
  /** Grid row within the bin. */
  iy: number;
  /** Grid column within the bin. */
  ix: number;
  /** The sample's y in feature coordinates, `y1 + ph * binSizeH + (iy + 0.5) * binSizeH / gridH`. */
  y: number;
  /** The sample's x in feature coordinates. */
  x: number;
  /** False when the sample lies outside `[-1, H] x [-1, W]`: it reads 0 (but still counts in the average). */
  inside: boolean;
  /** The row above (`y_low`, after clamping to 0 and snapping to `H - 1`). */
  yLow: number;
  /** The row below (`y_high`). */
  yHigh: number;
  /** The column left (`x_low`). */
  xLow: number;
  /** The column right (`x_high`). */
  xHigh: number;
  /** `u = x - xLow`: the horizontal fraction (torchvision's `lx`). */
  u: number;
  /** `v = y - yLow`: the vertical fraction (torchvision's `ly`). */
  v: number;
  /** `f1 = input[yLow, xLow]` (top left). */
  f1: number;
  /** `f2 = input[yLow, xHigh]` (top right). */
  f2: number;
  /** `f3 = input[yHigh, xLow]` (bottom left). */
  f3: number;
  /** `f4 = input[yHigh, xHigh]` (bottom right). */
  f4: number;
  /** `w1 = (1 - u)(1 - v)`, the weight of f1. */
  w1: number;
  /** `w2 = u (1 - v)`, the weight of f2. */
  w2: number;
  /** `w3 = (1 - u) v`, the weight of f3. */
  w3: number;
  /** `w4 = u v`, the weight of f4. */
  w4: number;
  /** The interpolated value `w1 f1 + w2 f2 + w3 f3 + w4 f4` (0 outside). */
  value: number;
}

/** One bin of RoIAlign, opened up ({@link inspectRoiAlign}). */
export interface RoiAlignInspection {
  /** The RoI as given, `[batchIndex, x1, y1, x2, y2]` in image coordinates. */
  roi: number[];
  /** The scale used. */
  spatialScale: number;
  /** `[PH, PW]`. */
  outputSize: [number, number];
  /** The sampling ratio asked for (<= 0: adaptive). */
  samplingRatio: number;
  /** Whether the half-cell offset was applied. */
  aligned: boolean;
  /** The channel whose values are reported. */
  channel: number;
  /** The bin `[ph, pw]`. */
  bin: [number, number];
  /** The continuous RoI in feature coordinates (no rounding): `x1 * spatialScale` (- 0.5 if aligned). */
  roiStartW: number;
  /** `y1 * spatialScale` (- 0.5 if aligned). */
  roiStartH: number;
  /** `x2 * spatialScale` (- 0.5 if aligned). */
  roiEndW: number;
  /** `y2 * spatialScale` (- 0.5 if aligned). */
  roiEndH: number;
  /** `roiEndW - roiStartW` (at least 1 when not aligned). */
  roiWidth: number;
  /** `roiEndH - roiStartH` (at least 1 when not aligned). */
  roiHeight: number;
  /** `roiHeight / PH`. */
  binSizeH: number;
  /** `roiWidth / PW`. */
  binSizeW: number;
  /** Sample rows in the bin. */
  gridH: number;
  /** Sample columns in the bin. */
  gridW: number;
  /** The divisor of the average, `max(gridH * gridW, 1)`. */
  count: number;
  /** The bin's extent in feature coordinates: `[roiStartH + ph * binSizeH, + binSizeH)`. */
  binStartH: number;
  /** `roiStartW + pw * binSizeW`. */
  binStartW: number;
  /** Every sample point of the bin, row-major (`iy`, then `ix`). */
  samples: RoiAlignSample[];
  /** The bin's output in `'avg'` mode: `sum(sample values) / count`. */
  output: number;
  /** The bin's output in `'max'` mode: the largest sample value (0 when there are no samples). */
  max: number;
  /** Index into `samples` of the first largest sample (-1 when there are none). */
  argmax: number;
}

/**
 * Opens one bin of RoIAlign for one RoI: the continuous RoI in feature coordinates, the bin size,
 * the sampling grid, and every sample point with its four neighbours (positions and values
 * f1..f4), its bilinear weights and its value; then the bin's output, as {@link roiAlign}
 * computes it (average and max).
 */
export function inspectRoiAlign(input: Tensor, roi: RoiLike, options: InspectRoiAlignOptions, bin: readonly [number, number]): RoiAlignInspection {
  const op = 'inspectRoiAlign';
  const r = roiArray(op, roi);
  const rois = new Tensor(Float64Array.from(r), [1, 5]);
  checkRoiInputs(op, input, rois);
  const [PH, PW] = outputSizeOf(op, options.outputSize);
  const spatialScale = spatialScaleOf(op, options.spatialScale);
  const { samplingRatio, aligned } = roiAlignSettings(op, options);
  const [ph, pw] = binOf(op, bin, PH, PW);
  const [, C, H, W] = input.shape as [number, number, number, number];
  const channel = channelOf(op, options.channel, C);
  const float32 = input.dtype !== 'float64';
  const f = roiRounding(float32);
  const g = roiAlignGeometry(float32 ? Float32Array.from(r) : r, { K: 1, PH, PW }, { spatialScale, samplingRatio, aligned }, float32);
  const gridH = g.gridH[0]!;
  const gridW = g.gridW[0]!;
  const plane = (r[0]! * C + channel) * H * W;
  const at = (y: number, x: number) => input.data[plane + y * W + x]!;
  const samples: RoiAlignSample[] = [];
  let sum = 0;
  let max = 0;
  let argmax = -1;
  for (let iy = 0; iy < gridH; iy++) {
    const y = g.sampleY[ph * gridH + iy]!;
    for (let ix = 0; ix < gridW; ix++) {
      const x = g.sampleX[pw * gridW + ix]!;
      const ay = bilinearAxis(y, H);
      const ax = bilinearAxis(x, W);
      let s: RoiAlignSample;
      if (ay === null || ax === null) {
        s = { iy, ix, y, x, inside: false, yLow: -1, yHigh: -1, xLow: -1, xHigh: -1, u: 0, v: 0, f1: 0, f2: 0, f3: 0, f4: 0, w1: 0, w2: 0, w3: 0, w4: 0, value: 0 };
      } else {
        const [u, v] = [ax.frac, ay.frac];
        const [f1, f2, f3, f4] = [at(ay.low, ax.low), at(ay.low, ax.high), at(ay.high, ax.low), at(ay.high, ax.high)];
        const [w1, w2, w3, w4] = [(1 - u) * (1 - v), u * (1 - v), (1 - u) * v, u * v];
        const value = w1 * f1 + w2 * f2 + w3 * f3 + w4 * f4;
        s = { iy, ix, y, x, inside: true, yLow: ay.low, yHigh: ay.high, xLow: ax.low, xHigh: ax.high, u, v, f1, f2, f3, f4, w1, w2, w3, w4, value };
      }
      sum += s.value;
      if (argmax < 0 || s.value > max) {
        max = s.value;
        argmax = samples.length;
      }
      samples.push(s);
    }
  }
  const [y1, x1] = [g.roiStartH[0]!, g.roiStartW[0]!];
  const offset = aligned ? 0.5 : 0;
  const scale = f(spatialScale);
  return {
    roi: r,
    spatialScale,
    outputSize: [PH, PW],
    samplingRatio,
    aligned,
    channel,
    bin: [ph, pw],
    roiStartW: x1,
    roiStartH: y1,
    roiEndW: f(f(f(r[3]!) * scale) - offset),
    roiEndH: f(f(f(r[4]!) * scale) - offset),
    roiWidth: g.roiWidth[0]!,
    roiHeight: g.roiHeight[0]!,
    binSizeH: g.binSizeH[0]!,
    binSizeW: g.binSizeW[0]!,
    gridH,
    gridW,
    count: g.count[0]!,
    binStartH: f(y1 + f(ph * g.binSizeH[0]!)),
    binStartW: f(x1 + f(pw * g.binSizeW[0]!)),
    samples,
    output: sum / g.count[0]!,
    max,
    argmax,
  };
}

/** The shape of {@link ROI_WORKED_EXAMPLE}. */
export interface RoiWorkedExample {
  /** The 6x6 feature map, row by row (one channel of one image). */
  feature: ReadonlyArray<readonly number[]>;
  /** The RoI `[batchIndex, x1, y1, x2, y2]` in image pixels. */
  roi: readonly number[];
  /** Feature cells per image pixel: 1/32 (stride 32). */
  spatialScale: number;
}

/**
 * The course's worked example of RoIPool and RoIAlign (chapter 3, its tests, and the lab's
 * RoIAlign explorer): a 6x6 feature map of stride 32, `torch.manual_seed(0);
 * torch.randn(1, 1, 6, 6)` rounded to 4 decimals, and the RoI `[batchIndex, x1, y1, x2, y2] =
 * [0, 10, 10, 124, 124]` in image pixels.
 */
export const ROI_WORKED_EXAMPLE: Readonly<RoiWorkedExample> = Object.freeze({
  feature: Object.freeze([
    [-1.5256, -0.7502, -0.654, -1.6095, -0.1002, -0.6092],
    [-0.9798, -1.6091, -0.7121, 0.3037, -0.7773, -0.2515],
    [-0.2223, 1.6871, 0.2284, 0.4676, -0.697, -1.1608],
    [0.6995, 0.1991, 0.1991, 0.0457, 0.153, -0.4757],
    [-1.8821, -0.7765, 2.0242, -0.0865, 2.3571, -1.0373],
    [1.5748, -0.6298, 2.407, 0.2786, 0.2468, 1.1843],
  ].map((row) => Object.freeze(row))),
  roi: Object.freeze([0, 10, 10, 124, 124]),
  spatialScale: 1 / 32,
});
