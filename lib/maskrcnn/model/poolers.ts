/**
 * RoI feature extraction over the feature pyramid (torchvision `poolers.MultiScaleRoIAlign`,
 * oracle spec point 6; FPN paper eq. 1): each RoI is pooled from the level
 *
 *   k = floor(4 + log2(sqrt(w h) / 224) + 1e-6), clamped to [2, 5]
 *
 * (a 224x224 RoI, ImageNet's canonical size, reads P4), with RoIAlign (paper section 3:
 * 7x7 for boxes, 14x14 for masks, 2x2 samples per bin). Each level's scale is inferred as
 * `2^round(log2(feature height / largest image height))`. For the ablations the pooler can use
 * RoIPool (Fast R-CNN's quantised pooling) or RoIWarp instead, max instead of average (paper
 * Table 2c), or a single level (Table 2d's large stride).
 *
 * @module
 */
import { Tensor, concat, indexSelect, zeros } from '../../tensor/index.js';
import { roiAlign, roiPool, roiWarp } from '../../ops/index.js';
import { roundHalfToEven } from './anchor_utils.js';

const f = Math.fround;

/**
 * The FPN level index (`level - kMin`) of every box `[N, 4]` (torchvision `LevelMapper`, in
 * float32 as torch computes it).
 */
export function mapLevels(boxes: Tensor, kMin = 2, kMax = 5, canonicalScale = 224, canonicalLevel = 4, eps = 1e-6): Int32Array {
  const n = boxes.shape[0]!;
  const b = boxes.data;
  const levels = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    const area = f(f(b[4 * i + 2]! - b[4 * i]!) * f(b[4 * i + 3]! - b[4 * i + 1]!));
    const s = f(Math.sqrt(area));
    const k = Math.floor(f(f(canonicalLevel + f(Math.log2(f(s / canonicalScale)))) + f(eps)));
    levels[i] = Math.min(Math.max(k, kMin), kMax) - kMin;
  }
  return levels;
}

/** How {@link MultiScaleRoIAlign} pools. */
export interface MultiScaleRoIAlignOptions {
  /**
   * `'align'` (RoIAlign, default), or for the ablations (paper Table 2c) `'pool'` (RoIPool) or
   * `'warp'` (RoIWarp: the RoI rounded to the grid, then bilinear samples).
   */
  method?: 'align' | 'pool' | 'warp';
  /** How RoIAlign and RoIWarp combine a bin's samples: `'avg'` (default, the paper's) or `'max'`. */
  mode?: 'avg' | 'max';
  /** Pool every RoI from this one feature map name instead of mapping it to a level. */
  singleLevel?: string;
  /**
   * The level mapper's canonical RoI size, read from P4 (default 224, ImageNet's image size, as
   * torchvision and the FPN paper's Eq. 1); a preset whose images and anchors are scaled by
   * `s` scales it by `s` too.
   */
  canonicalScale?: number;
}

/** What {@link MultiScaleRoIAlign.forward} returns. */
export interface PooledRois {
  /** The pooled features `[K, C, S, S]`, rows in the order of the concatenated boxes. */
  features: Tensor;
  /** The level index of each RoI `[K]` (0 = the first feature map). */
  levels: Int32Array;
  /** The inferred scale of each feature map used. */
  scales: number[];
}

/** torchvision's `MultiScaleRoIAlign(featmap_names, output_size, sampling_ratio)`. */
export class MultiScaleRoIAlign {
  /** Pools from `featmapNames` (e.g. `'0'..'3'` = P2..P5) to `outputSize` squares with `samplingRatio` samples per bin axis. */
  constructor(
    /** The feature maps pooled from, finest first. */
    readonly featmapNames: readonly string[],
    /** Side of the pooled square. */
    readonly outputSize: number,
    /** Samples per bin axis. */
    readonly samplingRatio: number,
    /** Pooling method and single level. */
    readonly options: MultiScaleRoIAlignOptions = {},
  ) {}

  /** The scale `2^round(log2(size / image size))` of a feature map (torchvision `_infer_scale`). */
  static inferScale(featureHw: readonly [number, number], originalHw: readonly [number, number]): number {
    const scales = [0, 1].map((d) => 2 ** roundHalfToEven(f(Math.log2(f(featureHw[d]! / originalHw[d]!)))));
    if (scales[0] !== scales[1]) throw new Error(`MultiScaleRoIAlign: feature map [${featureHw}] has different scales for height and width of image [${originalHw}]`);
    return scales[0]!;
  }

  /** Pools `boxes[i]` (image i's boxes `[K_i, 4]`) from `features` (NCHW maps by name). */
  forward(features: ReadonlyMap<string, Tensor>, boxes: readonly Tensor[], imageSizes: ReadonlyArray<readonly [number, number]>): PooledRois {
    const names = this.options.singleLevel !== undefined ? [this.options.singleLevel] : this.featmapNames;
    const maps = names.map((n) => {
      const m = features.get(n);
      if (m === undefined) throw new Error(`MultiScaleRoIAlign: no feature map '${n}' (have ${[...features.keys()].join(', ')})`);
      return m;
    });
    const originalHw: [number, number] = [Math.max(...imageSizes.map((s) => s[0])), Math.max(...imageSizes.map((s) => s[1]))];
    const scales = maps.map((m) => MultiScaleRoIAlign.inferScale([m.shape[2]!, m.shape[3]!], originalHw));
    // convert_to_roi_format: [batch index, x1, y1, x2, y2] rows, images in order.
    const k = boxes.reduce((s, b) => s + b.shape[0]!, 0);
    const rois = new Float32Array(5 * k);
    const all = new Float32Array(4 * k);
    let r = 0;
    boxes.forEach((b, i) => {
      for (let j = 0; j < b.shape[0]!; j++, r++) {
        rois[5 * r] = i;
        for (let c = 0; c < 4; c++) rois[5 * r + 1 + c] = all[4 * r + c] = b.data[4 * j + c]!;
      }
    });
    const c = maps[0]!.shape[1]!;
    const s = this.outputSize;
    const kMin = Math.round(-Math.log2(scales[0]!));
    const kMax = Math.round(-Math.log2(scales[scales.length - 1]!));
    const levels = maps.length === 1 ? new Int32Array(k) : mapLevels(new Tensor(all, [k, 4]), kMin, kMax, this.options.canonicalScale ?? 224);
    if (k === 0) return { features: zeros([0, c, s, s]), levels, scales };
    const method = this.options.method ?? 'align';
    const align = { samplingRatio: this.samplingRatio, aligned: false, mode: this.options.mode ?? 'avg' } as const;
    const pool = (input: Tensor, roisL: Tensor, scale: number): Tensor =>
      method === 'pool'
        ? roiPool(input, roisL, { outputSize: s, spatialScale: scale })
        : (method === 'warp' ? roiWarp : roiAlign)(input, roisL, { outputSize: s, spatialScale: scale, ...align });
    const parts: Tensor[] = [];
    const order: number[] = [];
    maps.forEach((m, l) => {
      const rows: number[] = [];
      for (let i = 0; i < k; i++) if (levels[i] === l) rows.push(i);
      if (rows.length === 0) return;
      const roisL = new Float32Array(5 * rows.length);
      rows.forEach((i, j) => roisL.set(rois.subarray(5 * i, 5 * i + 5), 5 * j));
      parts.push(pool(m, new Tensor(roisL, [rows.length, 5]), scales[l]!));
      order.push(...rows);
    });
    // Rows are grouped by level; put them back in box order.
    const inverse = new Int32Array(k);
    order.forEach((row, j) => (inverse[row] = j));
    const grouped = parts.length === 1 ? parts[0]! : concat(parts, 0);
    return { features: indexSelect(grouped, 0, new Tensor(inverse, [k])), levels, scales };
  }
}
