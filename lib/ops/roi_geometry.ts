/**
 * The geometry of RoIPool and RoIAlign (Mask R-CNN, He, Gkioxari, Dollár, Girshick, ICCV 2017,
 * section 3, "RoIAlign", and Figure 3): *where* each op reads the feature map. RoIPool's
 * quantized bins (Fast R-CNN's two roundings), RoIAlign's continuous bins and their regular grid
 * of sample points, one axis of a bilinear interpolation, and RoIWarp's rounded box, all in
 * torchvision's float32 arithmetic. The ops (`roi.ts`), every backend's kernels
 * (`reference/roi.ts`, `gpu/roi.ts`, `wasm/roi.ts`) and the course inspection (`roi_inspect.ts`)
 * read these numbers instead of recomputing them.
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
 */

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

/** `Math.fround` for float32 inputs (torchvision computes the geometry in the input's type), identity for float64. *//**
 * `Math.fround` for float32 inputs (torchvision computes the geometry in the input's type),
 * identity for float64: the rounding every geometry formula here applies after each operation.
 */
export function roiRounding(float32: boolean): (v: number) => number {
  return float32 ? Math.fround : (v: number) => v;
}

/**
 * RoIPool's quantization for `K` RoIs (`rois`: `[K, 5]` rows `[batchIndex, x1, y1, x2, y2]` in
 * image coordinates), as torchvision's `roi_pool` computes it. `float32` selects float32
 * arithmetic (torchvision's for float32 inputs); the results are whole cells either way.
 */
export function roiPoolGeometry(rois: ArrayLike<number>, d: Pick<RoiDims, 'H' | 'W' | 'K' | 'PH' | 'PW'>, spatialScale: number, float32 = true): RoiPoolGeometry {
  const { H, W, K, PH, PW } = d;
  const f = roiRounding(float32);
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
  const f = roiRounding(float32);
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


/**
 * The RoI that {@link roiWarp} samples: `[batchIndex, x1, y1, x2, y2]` with each corner rounded
 * to the feature grid (`round(x * spatialScale) / spatialScale`, RoIPool's rounding, in float32
 * unless `float32` is false), in image coordinates.
 */
export function roiWarpBox(roi: ArrayLike<number>, spatialScale: number, float32 = true): number[] {
  const f = roiRounding(float32);
  const scale = f(spatialScale);
  return [roi[0]!, ...[1, 2, 3, 4].map((c) => roundHalfAwayFromZero(f(roi[c]! * scale)) / spatialScale)];
}
