/**
 * RoIPool and RoIAlign: the two ways of cutting a fixed-size feature (7x7 for the box head,
 * 14x14 for the mask head) out of a feature map for every region of interest. The comparison
 * of the two is the heart of the Mask R-CNN paper (He, Gkioxari, Dollár, Girshick, ICCV 2017,
 * section 3, "RoIAlign", and Figure 3).
 *
 * - **RoIPool** (Fast R-CNN) *quantizes twice*: it rounds the box, scaled to feature
 *   coordinates, to whole cells (`round(x1 * spatialScale)`), and it splits that cell range into
 *   `PH x PW` bins whose edges are rounded again (`floor` / `ceil`); each bin is max-pooled. The
 *   pooled feature is misaligned with the box by up to half a cell of the feature map (16 pixels
 *   of the image at stride 32), harmless for classification but bad for pixel-accurate masks.
 * - **RoIAlign** quantizes nothing: the box keeps its continuous coordinates `x1 * spatialScale`,
 *   each bin is `roi_height / PH` by `roi_width / PW` cells, and inside each bin a regular
 *   `gridH x gridW` grid of sample points is read by **bilinear interpolation** from the four
 *   nearest cells, then averaged (or max-pooled).
 *
 * Both follow torchvision 0.14 exactly (the oracle spec, points 1 and 2), including its corner
 * cases, so that torchvision weights and fixtures agree with this code:
 *
 * - RoIAlign, `aligned: false` (what Mask R-CNN was trained with, torchvision's default): the
 *   box is scaled without an offset and its width and height are clamped to at least one cell.
 *   `aligned: true` subtracts half a cell after scaling (pixel centres sit at +0.5) and does not
 *   clamp. Bin size = roi / PH; grid = `samplingRatio` if > 0, else `ceil(roi_h / PH)`
 *   (adaptive); sample `y = y1 + ph * bin_h + (iy + 0.5) * bin_h / grid_h`. A sample with
 *   `y < -1` or `y > H` (or the same for x) reads 0 but still counts in the average; `y` in
 *   `[-1, 0]` is clamped to 0; `y >= H - 1` snaps to row `H - 1`. The average divides by
 *   `max(grid_h * grid_w, 1)`.
 * - RoIPool: `roi_start = round(x1 * spatialScale)` with C's `round()` (halves away from zero)
 *   on float32 values; width `x2 - x1 + 1` cells (inclusive), at least 1; bin `ph` covers cells
 *   `floor(ph * bin_h) .. ceil((ph + 1) * bin_h) - 1` offset by the start and clipped to the map;
 *   an empty bin gives 0 and no gradient; the first maximum in row-major order (strict `>`) takes
 *   the whole gradient.
 * - Reversed boxes (`x2 < x1`) are accepted, as torchvision accepts them: RoIPool's width clamps
 *   to one cell (a 1x1 region at the rounded `(x1, y1)`), RoIAlign with `aligned: false` clamps to
 *   one cell starting at `x1`, and with `aligned: true` the bin size is negative (samples walk
 *   backwards from `x1`, and with the adaptive grid `ceil` of a negative size gives no samples:
 *   output 0).
 *
 * The split of the work: this file computes the *geometry* (where RoIPool's quantized bins are,
 * where RoIAlign's sample points are, in torchvision's float32 arithmetic), validates, and wires
 * the differentiable ops; the kernels (`reference/roi.ts`: plain loops; `gpu/roi.ts`: gpu.js)
 * read the feature map at those places. The inspection functions {@link inspectRoiPool} and
 * {@link inspectRoiAlign} open one bin of one RoI for notebooks and the course.
 */
import { Tensor, defineOp, type TypedArray } from '../tensor/index.js';
import { Kernel } from './backend.js';
import { checkRank } from './checks.js';

// ---------------------------------------------------------------------------------------------
// Sizes and geometry
// ---------------------------------------------------------------------------------------------

/**
 * The sizes a RoI kernel works with: the feature map `[N, C, H, W]`, the number of RoIs `K`
 * and the pooled output `PH x PW` (output `[K, C, PH, PW]`).
 */
export interface RoiDims {
  /** Images in the batch. */
  readonly N: number;
  /** Channels. */
  readonly C: number;
  /** Feature-map height. */
  readonly H: number;
  /** Feature-map width. */
  readonly W: number;
  /** Number of RoIs. */
  readonly K: number;
  /** Pooled height. */
  readonly PH: number;
  /** Pooled width. */
  readonly PW: number;
}

/**
 * Where RoIPool reads, for every RoI: torchvision's quantization (oracle spec point 2). All
 * cell indices are integers; bin `ph` of RoI `k` covers rows `hstart[k*PH+ph] .. hend[k*PH+ph]-1`
 * (empty when `hend <= hstart`), bin `pw` columns `wstart[k*PW+pw] .. wend[k*PW+pw]-1`.
 */
export interface RoiPoolGeometry {
  /** `[K]` the image each RoI belongs to. */
  readonly batchIndex: Int32Array;
  /** `[K]` `round(y1 * spatialScale)`: the first row of the quantized region (may lie outside the map). */
  readonly roiStartH: Int32Array;
  /** `[K]` `round(x1 * spatialScale)`. */
  readonly roiStartW: Int32Array;
  /** `[K]` `round(y2 * spatialScale)`: the last row, inclusive. */
  readonly roiEndH: Int32Array;
  /** `[K]` `round(x2 * spatialScale)`. */
  readonly roiEndW: Int32Array;
  /** `[K]` `max(roiEndH - roiStartH + 1, 1) / PH` (a float32 value for float32 inputs). */
  readonly binSizeH: Float64Array;
  /** `[K]` `max(roiEndW - roiStartW + 1, 1) / PW`. */
  readonly binSizeW: Float64Array;
  /** `[K*PH]` first row of each bin, clipped to `[0, H]`. */
  readonly hstart: Int32Array;
  /** `[K*PH]` one past the last row of each bin, clipped to `[0, H]`. */
  readonly hend: Int32Array;
  /** `[K*PW]` first column of each bin, clipped to `[0, W]`. */
  readonly wstart: Int32Array;
  /** `[K*PW]` one past the last column of each bin, clipped to `[0, W]`. */
  readonly wend: Int32Array;
}

/**
 * Where RoIAlign samples, for every RoI (oracle spec point 1). The sample rows of RoI `k` are
 * `sampleY[sampleOffsetY[k] + ph * gridH[k] + iy]` for bin row `ph` and grid row `iy` (and
 * likewise for columns): the paper's "regularly sampled locations in each RoI bin", in feature
 * coordinates, computed in torchvision's float32 arithmetic for float32 inputs.
 */
export interface RoiAlignGeometry {
  /** `[K]` the image each RoI belongs to. */
  readonly batchIndex: Int32Array;
  /** `[K]` `y1 * spatialScale` (minus 0.5 when aligned): the continuous top of the RoI. */
  readonly roiStartH: Float64Array;
  /** `[K]` `x1 * spatialScale` (minus 0.5 when aligned). */
  readonly roiStartW: Float64Array;
  /** `[K]` `roiEndH - roiStartH`, clamped to >= 1 when not aligned. */
  readonly roiHeight: Float64Array;
  /** `[K]` `roiEndW - roiStartW`, clamped to >= 1 when not aligned. */
  readonly roiWidth: Float64Array;
  /** `[K]` `roiHeight / PH`. */
  readonly binSizeH: Float64Array;
  /** `[K]` `roiWidth / PW`. */
  readonly binSizeW: Float64Array;
  /** `[K]` sample rows per bin: `samplingRatio` if > 0, else `ceil(roiHeight / PH)` (0 or less: no samples). */
  readonly gridH: Int32Array;
  /** `[K]` sample columns per bin. */
  readonly gridW: Int32Array;
  /** `[K]` the divisor of the average: `max(gridH * gridW, 1)`. */
  readonly count: Int32Array;
  /** `[K]` where RoI `k`'s `PH * max(gridH, 0)` sample rows start in {@link RoiAlignGeometry.sampleY}. */
  readonly sampleOffsetY: Int32Array;
  /** `[K]` where RoI `k`'s `PW * max(gridW, 0)` sample columns start in {@link RoiAlignGeometry.sampleX}. */
  readonly sampleOffsetX: Int32Array;
  /** The y coordinate of every sample row of every RoI. */
  readonly sampleY: Float64Array;
  /** The x coordinate of every sample column of every RoI. */
  readonly sampleX: Float64Array;
}

/** C's `round()`: halves go away from zero (`round(2.5) = 3`, `round(-2.5) = -3`), unlike `Math.round`. */
export function roundHalfAwayFromZero(v: number): number {
  const t = Math.trunc(v);
  return Math.abs(v - t) >= 0.5 ? t + Math.sign(v) : t;
}

/** `Math.fround` for float32 inputs (torchvision computes the geometry in the input's type), identity for float64. */
function rounding(float32: boolean): (v: number) => number {
  return float32 ? Math.fround : (v: number) => v;
}

/**
 * RoIPool's quantization for `K` RoIs (`rois`: `[K, 5]` rows `[batchIndex, x1, y1, x2, y2]` in
 * image coordinates), as torchvision's `roi_pool` computes it. `float32` selects float32
 * arithmetic (torchvision's for float32 inputs); the results are whole cells either way.
 */
export function roiPoolGeometry(rois: ArrayLike<number>, d: Pick<RoiDims, 'H' | 'W' | 'K' | 'PH' | 'PW'>, spatialScale: number, float32 = true): RoiPoolGeometry {
  const { H, W, K, PH, PW } = d;
  const f = rounding(float32);
  const scale = f(spatialScale);
  const g = {
    batchIndex: new Int32Array(K),
    roiStartH: new Int32Array(K),
    roiStartW: new Int32Array(K),
    roiEndH: new Int32Array(K),
    roiEndW: new Int32Array(K),
    binSizeH: new Float64Array(K),
    binSizeW: new Float64Array(K),
    hstart: new Int32Array(K * PH),
    hend: new Int32Array(K * PH),
    wstart: new Int32Array(K * PW),
    wend: new Int32Array(K * PW),
  };
  const clip = (v: number, hi: number) => Math.min(Math.max(v, 0), hi);
  for (let k = 0; k < K; k++) {
    g.batchIndex[k] = rois[k * 5]!;
    // First quantization: the box, scaled to the feature map, rounded to whole cells.
    const roiStartW = roundHalfAwayFromZero(f(f(rois[k * 5 + 1]!) * scale));
    const roiStartH = roundHalfAwayFromZero(f(f(rois[k * 5 + 2]!) * scale));
    const roiEndW = roundHalfAwayFromZero(f(f(rois[k * 5 + 3]!) * scale));
    const roiEndH = roundHalfAwayFromZero(f(f(rois[k * 5 + 4]!) * scale));
    // Inclusive cell counts; a malformed (reversed) box becomes one cell.
    const roiWidth = Math.max(roiEndW - roiStartW + 1, 1);
    const roiHeight = Math.max(roiEndH - roiStartH + 1, 1);
    const binSizeH = f(roiHeight / PH);
    const binSizeW = f(roiWidth / PW);
    g.roiStartH[k] = roiStartH;
    g.roiStartW[k] = roiStartW;
    g.roiEndH[k] = roiEndH;
    g.roiEndW[k] = roiEndW;
    g.binSizeH[k] = binSizeH;
    g.binSizeW[k] = binSizeW;
    // Second quantization: bin edges rounded outwards, offset by the start, clipped to the map.
    for (let ph = 0; ph < PH; ph++) {
      g.hstart[k * PH + ph] = clip(Math.floor(f(ph * binSizeH)) + roiStartH, H);
      g.hend[k * PH + ph] = clip(Math.ceil(f((ph + 1) * binSizeH)) + roiStartH, H);
    }
    for (let pw = 0; pw < PW; pw++) {
      g.wstart[k * PW + pw] = clip(Math.floor(f(pw * binSizeW)) + roiStartW, W);
      g.wend[k * PW + pw] = clip(Math.ceil(f((pw + 1) * binSizeW)) + roiStartW, W);
    }
  }
  return g;
}

/** Options of {@link roiAlignGeometry}. */
export interface RoiAlignGeometryOptions {
  /** Feature-map cells per image pixel (1/stride). */
  spatialScale: number;
  /** Samples per bin along each axis; <= 0 means adaptive, `ceil(roi / output)`. */
  samplingRatio: number;
  /** Whether to shift the box by -0.5 cell (pixel centres) and skip the >= 1 clamp. */
  aligned: boolean;
}

/**
 * RoIAlign's sampling grid for `K` RoIs (`rois`: `[K, 5]` rows `[batchIndex, x1, y1, x2, y2]` in
 * image coordinates): the continuous box, the bin size, the grid and every sample coordinate,
 * in torchvision's float32 arithmetic when `float32` is true (the default).
 */
export function roiAlignGeometry(rois: ArrayLike<number>, d: Pick<RoiDims, 'K' | 'PH' | 'PW'>, options: RoiAlignGeometryOptions, float32 = true): RoiAlignGeometry {
  const { K, PH, PW } = d;
  const f = rounding(float32);
  const scale = f(options.spatialScale);
  const offset = options.aligned ? 0.5 : 0;
  const g = {
    batchIndex: new Int32Array(K),
    roiStartH: new Float64Array(K),
    roiStartW: new Float64Array(K),
    roiHeight: new Float64Array(K),
    roiWidth: new Float64Array(K),
    binSizeH: new Float64Array(K),
    binSizeW: new Float64Array(K),
    gridH: new Int32Array(K),
    gridW: new Int32Array(K),
    count: new Int32Array(K),
    sampleOffsetY: new Int32Array(K),
    sampleOffsetX: new Int32Array(K),
  };
  let rows = 0;
  let cols = 0;
  for (let k = 0; k < K; k++) {
    g.batchIndex[k] = rois[k * 5]!;
    // No quantization: the box in continuous feature coordinates.
    const roiStartW = f(f(f(rois[k * 5 + 1]!) * scale) - offset);
    const roiStartH = f(f(f(rois[k * 5 + 2]!) * scale) - offset);
    const roiEndW = f(f(f(rois[k * 5 + 3]!) * scale) - offset);
    const roiEndH = f(f(f(rois[k * 5 + 4]!) * scale) - offset);
    let roiWidth = f(roiEndW - roiStartW);
    let roiHeight = f(roiEndH - roiStartH);
    if (!options.aligned) {
      // The legacy (Mask R-CNN) behaviour: force malformed RoIs to be at least 1x1 cell.
      roiWidth = Math.max(roiWidth, 1);
      roiHeight = Math.max(roiHeight, 1);
    }
    const binSizeH = f(roiHeight / PH);
    const binSizeW = f(roiWidth / PW);
    // The grid: samplingRatio x samplingRatio points per bin, or adaptive (about one per cell).
    const gridH = options.samplingRatio > 0 ? options.samplingRatio : Math.ceil(binSizeH);
    const gridW = options.samplingRatio > 0 ? options.samplingRatio : Math.ceil(binSizeW);
    g.roiStartH[k] = roiStartH;
    g.roiStartW[k] = roiStartW;
    g.roiHeight[k] = roiHeight;
    g.roiWidth[k] = roiWidth;
    g.binSizeH[k] = binSizeH;
    g.binSizeW[k] = binSizeW;
    g.gridH[k] = gridH;
    g.gridW[k] = gridW;
    g.count[k] = Math.max(gridH * gridW, 1);
    g.sampleOffsetY[k] = rows;
    g.sampleOffsetX[k] = cols;
    rows += PH * Math.max(gridH, 0);
    cols += PW * Math.max(gridW, 0);
  }
  const sampleY = new Float64Array(rows);
  const sampleX = new Float64Array(cols);
  for (let k = 0; k < K; k++) {
    const gridH = Math.max(g.gridH[k]!, 0);
    const gridW = Math.max(g.gridW[k]!, 0);
    const [y1, x1, binH, binW] = [g.roiStartH[k]!, g.roiStartW[k]!, g.binSizeH[k]!, g.binSizeW[k]!];
    // y = y1 + ph * bin_h + (iy + 0.5) * bin_h / grid_h: the centres of a regular grid in the bin.
    for (let ph = 0; ph < PH; ph++) {
      for (let iy = 0; iy < gridH; iy++) {
        sampleY[g.sampleOffsetY[k]! + ph * gridH + iy] = f(f(y1 + f(ph * binH)) + f(f((iy + 0.5) * binH) / gridH));
      }
    }
    for (let pw = 0; pw < PW; pw++) {
      for (let ix = 0; ix < gridW; ix++) {
        sampleX[g.sampleOffsetX[k]! + pw * gridW + ix] = f(f(x1 + f(pw * binW)) + f(f((ix + 0.5) * binW) / gridW));
      }
    }
  }
  return { ...g, sampleY, sampleX };
}

/** One axis of a bilinear interpolation: the two cells a coordinate falls between and its fraction. */
export interface BilinearAxis {
  /** The lower cell (`y_low`), after clamping and snapping. */
  low: number;
  /** The upper cell (`y_high`); equals `low` at the last row. */
  high: number;
  /** The fraction towards `high` (`ly = y - y_low`; the course's `v` for y, `u` for x); `1 - frac` goes to `low`. */
  frac: number;
}

/**
 * torchvision's `bilinear_interpolate`, one axis at a time (the weights of a 2-D sample are
 * the products of its two axes'): `null` when the coordinate is outside `[-1, size]` (the sample
 * reads 0); a coordinate in `[-1, 0]` is clamped to 0; one at or beyond `size - 1` snaps to the
 * last cell with fraction 0.
 */
export function bilinearAxis(coord: number, size: number): BilinearAxis | null {
  if (coord < -1 || coord > size) return null;
  const y = coord <= 0 ? 0 : coord;
  const low = Math.floor(y);
  if (low >= size - 1) return { low: size - 1, high: size - 1, frac: 0 };
  return { low, high: low + 1, frac: y - low };
}

// ---------------------------------------------------------------------------------------------
// Kernel slots
// ---------------------------------------------------------------------------------------------

/** What a max-pooling forward kernel returns: the pooled values and where each came from. */
export interface PooledWithArgmax {
  /** `[K, C, PH, PW]` the pooled values. */
  output: TypedArray;
  /** `[K, C, PH, PW]` the position of each value's source (-1: none); see the kernel's type. */
  argmax: Int32Array;
}

/**
 * RoIPool forward: `output [K, C, PH, PW]` (the max of each bin, 0 for an empty bin) and
 * `argmax` (same size: the position `h * W + w` of the maximum in its `(n, c)` plane, -1 for an
 * empty bin).
 */
export type RoiPoolForwardKernel = (input: TypedArray, d: RoiDims, g: RoiPoolGeometry) => PooledWithArgmax;
/** RoIPool backward: `grad_input [N, C, H, W]`, each bin's gradient sent to its argmax cell. */
export type RoiPoolBackwardKernel = (gradOutput: TypedArray, argmax: Int32Array, d: RoiDims, g: RoiPoolGeometry) => TypedArray;
/** RoIAlign forward (average): `output [K, C, PH, PW]`. */
export type RoiAlignForwardKernel = (input: TypedArray, d: RoiDims, g: RoiAlignGeometry) => TypedArray;
/** RoIAlign backward (average): `grad_input [N, C, H, W]`. */
export type RoiAlignBackwardKernel = (gradOutput: TypedArray, d: RoiDims, g: RoiAlignGeometry) => TypedArray;
/**
 * RoIAlign forward (max): `output [K, C, PH, PW]` and `argmax` (same size: the winning sample
 * `iy * gridW + ix` of the bin, -1 when the bin has no samples).
 */
export type RoiAlignMaxForwardKernel = (input: TypedArray, d: RoiDims, g: RoiAlignGeometry) => PooledWithArgmax;
/** RoIAlign backward (max): `grad_input [N, C, H, W]`, each bin's gradient to its winning sample's four neighbours. */
export type RoiAlignMaxBackwardKernel = (gradOutput: TypedArray, argmax: Int32Array, d: RoiDims, g: RoiAlignGeometry) => TypedArray;

/** RoIPool's max over each quantized bin. */
export const roiPoolForward = new Kernel<RoiPoolForwardKernel>('roiPool.forward');
/** RoIPool's gradient: to the argmax cell of each bin. */
export const roiPoolBackward = new Kernel<RoiPoolBackwardKernel>('roiPool.backward');
/** RoIAlign's bilinear sampling and average. */
export const roiAlignForward = new Kernel<RoiAlignForwardKernel>('roiAlign.forward');
/** RoIAlign's gradient: each sample's bilinear weights, times the bin's gradient / count. */
export const roiAlignBackward = new Kernel<RoiAlignBackwardKernel>('roiAlign.backward');
/** RoIAlign (max mode): bilinear sampling and a max. */
export const roiAlignMaxForward = new Kernel<RoiAlignMaxForwardKernel>('roiAlign.maxForward');
/** RoIAlign (max mode) gradient: to the winning sample's four neighbours. */
export const roiAlignMaxBackward = new Kernel<RoiAlignMaxBackwardKernel>('roiAlign.maxBackward');

// ---------------------------------------------------------------------------------------------
// Validation
// ---------------------------------------------------------------------------------------------

const fmt = (shape: readonly number[]) => `[${shape.join(',')}]`;

/** Reads `outputSize` (an integer or `[PH, PW]`, each >= 1). */
function outputSizeOf(op: string, value: number | readonly number[] | undefined): [number, number] {
  if (value === undefined) throw new Error(`${op}: outputSize is required (an integer or [PH, PW])`);
  const v = typeof value === 'number' ? [value, value] : [...value];
  if (v.length !== 2 || v.some((x) => !Number.isInteger(x) || x < 1)) {
    throw new Error(`${op}: outputSize must be a positive integer or a pair of them, got ${JSON.stringify(value)}`);
  }
  return v as [number, number];
}

function spatialScaleOf(op: string, value: number | undefined): number {
  const s = value ?? 1;
  if (typeof s !== 'number' || !Number.isFinite(s) || s <= 0) throw new Error(`${op}: spatialScale must be a positive finite number, got ${value}`);
  return s;
}

/** Checks input `[N, C, H, W]` and rois `[K, 5]` (integer batch indices in range, finite coordinates). */
function checkInputs(op: string, input: Tensor, rois: Tensor): void {
  checkRank(op, 'input', input, 4);
  const [N, , H, W] = input.shape as [number, number, number, number];
  if (H === 0 || W === 0) throw new Error(`${op}: input must have a non-empty spatial size, got shape ${fmt(input.shape)}`);
  if (rois.ndim !== 2 || rois.shape[1] !== 5) {
    throw new Error(`${op}: rois must be [K, 5] rows [batchIndex, x1, y1, x2, y2], got shape ${fmt(rois.shape)}`);
  }
  if (rois.dtype === 'int32') throw new Error(`${op}: rois must be a floating tensor, got int32`);
  const r = rois.data;
  for (let k = 0; k < rois.shape[0]!; k++) {
    const b = r[k * 5]!;
    if (!Number.isInteger(b) || b < 0 || b >= N) {
      throw new Error(`${op}: rois[${k}] has batch index ${b}, but input ${fmt(input.shape)} has images 0..${N - 1} (batch indices must be integers in range)`);
    }
    for (let j = 1; j < 5; j++) {
      if (!Number.isFinite(r[k * 5 + j]!)) {
        throw new Error(`${op}: rois[${k}] has a non-finite coordinate: [${Array.from(r.subarray(k * 5, k * 5 + 5)).join(', ')}]`);
      }
    }
  }
}

function dimsOf(input: Tensor, rois: Tensor, PH: number, PW: number): RoiDims {
  const [N, C, H, W] = input.shape as [number, number, number, number];
  return { N, C, H, W, K: rois.shape[0]!, PH, PW };
}

/** A gradient in the dtype of the tensor it belongs to (gpu kernels compute in float32). */
function gradient(data: TypedArray, like: Tensor): Tensor {
  const t = new Tensor(data, like.shape);
  return t.dtype === like.dtype ? t : t.to(like.dtype);
}

// ---------------------------------------------------------------------------------------------
// RoIPool
// ---------------------------------------------------------------------------------------------

/** Options of {@link roiPool}. */
export interface RoiPoolOptions {
  /** The pooled size `PH x PW` (an integer for a square). */
  outputSize: number | readonly [number, number];
  /** Feature-map cells per image pixel, i.e. 1/stride (default 1). */
  spatialScale?: number;
}

const roiPoolOp = defineOp<[Tensor, Tensor, RoiDims, RoiPoolGeometry], Int32Array>({
  name: 'roiPool',
  forward: (ctx, input: Tensor, _rois: Tensor, d: RoiDims, g: RoiPoolGeometry) => {
    const { output, argmax } = roiPoolForward.for()(input.data, d, g);
    ctx.save(argmax);
    return new Tensor(output, [d.K, d.C, d.PH, d.PW]);
  },
  backward: (grad, { args: [input, , d, g], saved: argmax, needsInputGrad }) => [
    needsInputGrad[0] ? gradient(roiPoolBackward.for()(grad.data, argmax, d, g), input) : null,
    null,
    null,
    null,
  ],
});

/**
 * RoIPool (Fast R-CNN; torchvision's `roi_pool`): max-pools each RoI's quantized region of
 * `input [N, C, H, W]` into `PH x PW` bins. `rois` is `[K, 5]` with rows
 * `[batchIndex, x1, y1, x2, y2]` in image coordinates; the output is `[K, C, PH, PW]`.
 *
 * @example
 * ```ts
 * const pooled = roiPool(features, tensor([[0, 10, 10, 124, 124]]), { outputSize: 2, spatialScale: 1 / 32 });
 * ```
 */
export function roiPool(input: Tensor, rois: Tensor, options: RoiPoolOptions): Tensor {
  const op = 'roiPool';
  checkInputs(op, input, rois);
  const [PH, PW] = outputSizeOf(op, options.outputSize);
  const spatialScale = spatialScaleOf(op, options.spatialScale);
  const d = dimsOf(input, rois, PH, PW);
  const g = roiPoolGeometry(rois.data, d, spatialScale, input.dtype !== 'float64');
  return roiPoolOp(input, rois, d, g);
}

// ---------------------------------------------------------------------------------------------
// RoIAlign
// ---------------------------------------------------------------------------------------------

/** Options of {@link roiAlign}. */
export interface RoiAlignOptions {
  /** The pooled size `PH x PW` (an integer for a square): 7 for the box head, 14 for the mask head. */
  outputSize: number | readonly [number, number];
  /** Feature-map cells per image pixel, i.e. 1/stride (default 1). */
  spatialScale?: number;
  /**
   * Sample points per bin along each axis (default -1: adaptive, `ceil(roi / output)` per axis,
   * torchvision.ops.roi_align's default; torchvision's MultiScaleRoIAlign uses 2, the paper 2x2
   * = four points).
   */
  samplingRatio?: number;
  /**
   * `false` (default, what Mask R-CNN and torchvision's detection models use): scale the box
   * as is and clamp it to at least 1x1 cell. `true`: shift by -0.5 cell so that pixel centres
   * line up (Detectron2's `ROIAlignV2`).
   */
  aligned?: boolean;
  /**
   * How a bin's samples are combined: `'avg'` (default; torchvision) or `'max'`: the maximum of
   * the bin's bilinearly interpolated sample values (a sample outside the map reads 0, as in the
   * average), whose gradient goes to the first maximal sample's four neighbours with its
   * bilinear weights (torchvision 0.14 has no max mode; this is the paper's "max" aggregation
   * as mmcv and Detectron compute it).
   */
  mode?: 'avg' | 'max';
}

const roiAlignAvgOp = defineOp({
  name: 'roiAlign',
  forward: (_ctx, input: Tensor, _rois: Tensor, d: RoiDims, g: RoiAlignGeometry) =>
    new Tensor(roiAlignForward.for()(input.data, d, g), [d.K, d.C, d.PH, d.PW]),
  backward: (grad, { args: [input, , d, g], needsInputGrad }) => [
    needsInputGrad[0] ? gradient(roiAlignBackward.for()(grad.data, d, g), input) : null,
    null,
    null,
    null,
  ],
});

const roiAlignMaxOp = defineOp<[Tensor, Tensor, RoiDims, RoiAlignGeometry], Int32Array>({
  name: 'roiAlignMax',
  forward: (ctx, input: Tensor, _rois: Tensor, d: RoiDims, g: RoiAlignGeometry) => {
    const { output, argmax } = roiAlignMaxForward.for()(input.data, d, g);
    ctx.save(argmax);
    return new Tensor(output, [d.K, d.C, d.PH, d.PW]);
  },
  backward: (grad, { args: [input, , d, g], saved: argmax, needsInputGrad }) => [
    needsInputGrad[0] ? gradient(roiAlignMaxBackward.for()(grad.data, argmax, d, g), input) : null,
    null,
    null,
    null,
  ],
});

/**
 * RoIAlign (Mask R-CNN, section 3; torchvision's `roi_align`): for each RoI, samples
 * `input [N, C, H, W]` by bilinear interpolation on a regular grid in each of `PH x PW` bins,
 * without quantizing the box, and averages (or max-pools) each bin. `rois` is `[K, 5]` with rows
 * `[batchIndex, x1, y1, x2, y2]` in image coordinates; the output is `[K, C, PH, PW]`.
 *
 * @example
 * ```ts
 * // The box head's pooler on a stride-16 map, as torchvision's MultiScaleRoIAlign calls it:
 * const boxFeatures = roiAlign(p4, rois, { outputSize: 7, spatialScale: 1 / 16, samplingRatio: 2 });
 * ```
 */
export function roiAlign(input: Tensor, rois: Tensor, options: RoiAlignOptions): Tensor {
  const op = 'roiAlign';
  checkInputs(op, input, rois);
  const [PH, PW] = outputSizeOf(op, options.outputSize);
  const spatialScale = spatialScaleOf(op, options.spatialScale);
  const { samplingRatio, aligned, mode } = alignSettings(op, options);
  const d = dimsOf(input, rois, PH, PW);
  const g = roiAlignGeometry(rois.data, d, { spatialScale, samplingRatio, aligned }, input.dtype !== 'float64');
  return mode === 'max' ? roiAlignMaxOp(input, rois, d, g) : roiAlignAvgOp(input, rois, d, g);
}

/**
 * RoIWarp (Dai et al., "Instance-aware Semantic Segmentation via Multi-task Network Cascades",
 * 2016, as Mask R-CNN's Table 2c describes it: bilinear sampling, but the RoI quantized): each
 * box corner is first rounded to the feature grid as RoIPool's first rounding does
 * (`round(x * spatialScale)`, half away from zero), then the quantized box is sampled by
 * {@link roiAlign} (bilinear, `aligned = false`, avg or max). So RoIWarp differs from RoIAlign
 * only by that rounding, and from RoIPool only by interpolating instead of rounding the bins:
 * the pair isolates the paper's two sources of misalignment. Gradients flow to `input` (the
 * rounding is not differentiable and the boxes get none, as with the other poolers).
 */
export function roiWarp(input: Tensor, rois: Tensor, options: RoiAlignOptions): Tensor {
  const op = 'roiWarp';
  checkInputs(op, input, rois);
  const spatialScale = spatialScaleOf(op, options.spatialScale);
  if (options.aligned === true) throw new Error(`${op}: the RoI is quantized to whole cells, so aligned (a half-cell shift) does not apply`);
  const q = rois.dtype === 'float64' ? new Float64Array(rois.size) : new Float32Array(rois.size);
  for (let k = 0; k < rois.shape[0]!; k++) q.set(roiWarpBox(rois.data.subarray(5 * k, 5 * k + 5), spatialScale, input.dtype !== 'float64'), 5 * k);
  return roiAlign(input, new Tensor(q, [rois.shape[0]!, 5]), { ...options, aligned: false });
}

/**
 * The RoI that {@link roiWarp} samples: `[batchIndex, x1, y1, x2, y2]` with each corner rounded
 * to the feature grid (`round(x * spatialScale) / spatialScale`, RoIPool's rounding, in float32
 * unless `float32` is false), in image coordinates.
 */
export function roiWarpBox(roi: ArrayLike<number>, spatialScale: number, float32 = true): number[] {
  const f = rounding(float32);
  const scale = f(spatialScale);
  return [roi[0]!, ...[1, 2, 3, 4].map((c) => roundHalfAwayFromZero(f(roi[c]! * scale)) / spatialScale)];
}

function alignSettings(op: string, options: Partial<RoiAlignOptions>): { samplingRatio: number; aligned: boolean; mode: 'avg' | 'max' } {
  const samplingRatio = options.samplingRatio ?? -1;
  if (!Number.isInteger(samplingRatio)) throw new Error(`${op}: samplingRatio must be an integer (<= 0 for adaptive), got ${samplingRatio}`);
  const aligned = options.aligned ?? false;
  if (typeof aligned !== 'boolean') throw new Error(`${op}: aligned must be a boolean, got ${JSON.stringify(aligned)}`);
  const mode = options.mode ?? 'avg';
  if (mode !== 'avg' && mode !== 'max') throw new Error(`${op}: mode must be 'avg' or 'max', got ${JSON.stringify(mode)}`);
  return { samplingRatio, aligned, mode };
}

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
  checkInputs(op, input, rois);
  const [PH, PW] = outputSizeOf(op, options.outputSize);
  const spatialScale = spatialScaleOf(op, options.spatialScale);
  const [ph, pw] = binOf(op, bin, PH, PW);
  const [, C, H, W] = input.shape as [number, number, number, number];
  const channel = channelOf(op, options.channel, C);
  const float32 = input.dtype !== 'float64';
  const f = rounding(float32);
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
  checkInputs(op, input, rois);
  const [PH, PW] = outputSizeOf(op, options.outputSize);
  const spatialScale = spatialScaleOf(op, options.spatialScale);
  const { samplingRatio, aligned } = alignSettings(op, options);
  const [ph, pw] = binOf(op, bin, PH, PW);
  const [, C, H, W] = input.shape as [number, number, number, number];
  const channel = channelOf(op, options.channel, C);
  const float32 = input.dtype !== 'float64';
  const f = rounding(float32);
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
