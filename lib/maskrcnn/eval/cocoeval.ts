/**
 * COCO detection evaluation with the semantics of pycocotools' `COCOeval` (bbox and segm).
 *
 * The three stages are pycocotools' own:
 * 1. **evaluate**: for every image, category and area range, match the (at most 100) detections,
 *    best score first, to the ground truths at each of the 10 IoU thresholds
 *    ({@link evaluateImage});
 * 2. **accumulate**: for every category, area range and detection limit (1, 10, 100), pool the
 *    matches of all images, rank them by score and compute the precision at 101 recall points
 *    ({@link accumulateCategory});
 * 3. **summarize**: the 12 familiar numbers (AP, AP50, AP75, APs, APm, APl, AR1, AR10, AR100,
 *    ARs, ARm, ARl) as means over the defined (`> -1`) entries ({@link summarize}).
 *
 * Every pycocotools detail that moves a number is reproduced and commented where it happens:
 * the thresholds are `np.linspace`'s exact doubles (0.8999999999999999, 0.35000000000000003,
 * ...), area ranges use the ground truth's `area` field with inclusive ends, crowd regions are
 * matched by intersection over the detection's area and can absorb any number of detections,
 * an IoU tie goes to the later ground truth, sorting is stable, precision is
 * `tp / ((fp + tp) + eps)`, recall thresholds are looked up with `searchsorted(..., 'left')`,
 * and the means use numpy's pairwise summation.
 *
 * @module
 */
import { annToRle, type CocoAnnotation, type CocoDataset } from '../data/coco.js';
import { type PreparedRle, prepareRle, preparedRleIou, bboxIou } from '../data/rle.js';
import { type CocoDetection } from './results.js';

/** What is compared: boxes or masks. */
export type IouType = 'bbox' | 'segm';

/** `np.linspace(.5, .95, 10)`, the IoU thresholds, as the exact doubles numpy produces. */
export const IOU_THRESHOLDS: readonly number[] = Object.freeze([
  0.5, 0.55, 0.6, 0.65, 0.7, 0.75, 0.8, 0.85, 0.8999999999999999, 0.95,
]);

/**
 * `np.linspace(0, 1, 101)`, the recall thresholds, as the exact doubles numpy produces. Element
 * k is `k * 0.01`, which is larger than `k / 100` for k = 35, 41, 47, 57, 69, 70, 82, 83, 94,
 * 95: a recall of exactly 0.35 does not reach threshold 35.
 */
export const RECALL_THRESHOLDS: readonly number[] = Object.freeze([
  0, 0.01, 0.02, 0.03, 0.04, 0.05, 0.06, 0.07, 0.08, 0.09, 0.1, 0.11, 0.12, 0.13, 0.14, 0.15, 0.16, 0.17, 0.18,
  0.19, 0.2, 0.21, 0.22, 0.23, 0.24, 0.25, 0.26, 0.27, 0.28, 0.29, 0.3, 0.31, 0.32, 0.33, 0.34,
  0.35000000000000003, 0.36, 0.37, 0.38, 0.39, 0.4, 0.41000000000000003, 0.42, 0.43, 0.44, 0.45, 0.46,
  0.47000000000000003, 0.48, 0.49, 0.5, 0.51, 0.52, 0.53, 0.54, 0.55, 0.56, 0.5700000000000001, 0.58, 0.59, 0.6,
  0.61, 0.62, 0.63, 0.64, 0.65, 0.66, 0.67, 0.68, 0.6900000000000001, 0.7000000000000001, 0.71, 0.72, 0.73, 0.74,
  0.75, 0.76, 0.77, 0.78, 0.79, 0.8, 0.81, 0.8200000000000001, 0.8300000000000001, 0.84, 0.85, 0.86, 0.87, 0.88,
  0.89, 0.9, 0.91, 0.92, 0.93, 0.9400000000000001, 0.9500000000000001, 0.96, 0.97, 0.98, 0.99, 1,
]);

/** The detection limits per image, `[1, 10, 100]`. */
export const MAX_DETS: readonly number[] = Object.freeze([1, 10, 100]);

/** Area ranges `[lo, hi]` (both ends inclusive) on the ground truth's `area` field. */
export const AREA_RANGES: readonly (readonly [number, number])[] = Object.freeze([
  [0, 1e10],
  [0, 32 ** 2],
  [32 ** 2, 96 ** 2],
  [96 ** 2, 1e10],
] as const);

/** Names of {@link AREA_RANGES}, in the same order. */
export const AREA_LABELS: readonly string[] = Object.freeze(['all', 'small', 'medium', 'large']);

/** `np.spacing(1)`, added to `tp + fp` in the precision's denominator. */
export const EPS = 2.220446049250313e-16;

/** Evaluation parameters (pycocotools `Params` for bbox/segm). */
export interface CocoEvalParams {
  /** Boxes or masks. */
  iouType: IouType;
  /** Image ids, ascending and unique (default: every ground-truth image). */
  imgIds: number[];
  /** Category ids, ascending and unique (default: every ground-truth category). */
  catIds: number[];
  /** IoU thresholds ({@link IOU_THRESHOLDS}). */
  iouThrs: readonly number[];
  /** Recall thresholds ({@link RECALL_THRESHOLDS}). */
  recThrs: readonly number[];
  /** Area ranges ({@link AREA_RANGES}). */
  areaRng: readonly (readonly [number, number])[];
  /** Their labels ({@link AREA_LABELS}). */
  areaRngLbl: readonly string[];
  /** Detection limits, ascending ({@link MAX_DETS}). */
  maxDets: readonly number[];
}

/** Options for {@link cocoEvaluate}. */
export interface CocoEvalOptions {
  /** `'bbox'` or `'segm'`. */
  iouType: IouType;
  /** Evaluate only these images (default: all ground-truth images). */
  imgIds?: readonly number[];
  /** Evaluate only these categories (default: all ground-truth categories). */
  catIds?: readonly number[];
  /** Keep every per-image result in the report's `evalImgs` (memory grows with the data). */
  keepEvalImages?: boolean;
}

/**
 * The matching of one image, category and area range (pycocotools' `evaluateImg` result).
 * Matrices are row-major `[T][D]` or `[T][G]` with `T` IoU thresholds.
 */
export interface EvalImage {
  /** The image. */
  imageId: number;
  /** The category. */
  categoryId: number;
  /** The area range `[lo, hi]`. */
  areaRng: readonly [number, number];
  /** The detection limit used (100). */
  maxDet: number;
  /** Detection ids, best score first (at most `maxDet`). */
  dtIds: number[];
  /** Ground-truth ids, non-ignored first (stable). */
  gtIds: number[];
  /** `[T][D]`: id of the matched ground truth, 0 when unmatched. */
  dtMatches: Float64Array;
  /** `[T][G]`: id of the matched detection, 0 when unmatched. */
  gtMatches: Float64Array;
  /** Detection scores, descending. */
  dtScores: Float64Array;
  /** Per ground truth: 1 if ignored (crowd, or area out of range). */
  gtIgnore: Uint8Array;
  /** `[T][D]`: 1 if the detection is ignored at that threshold. */
  dtIgnore: Uint8Array;
}

/** Precision and recall tables (pycocotools `eval`), flattened in C order. */
export interface Accumulation {
  /** `[T, R, K, A, M]`. */
  counts: [number, number, number, number, number];
  /** `[T][R][K][A][M]` precision at each recall threshold, -1 where undefined. */
  precision: Float64Array;
  /** `[T][K][A][M]` final recall, -1 where undefined. */
  recall: Float64Array;
  /** `[T][R][K][A][M]` score of the detection where each recall threshold is reached. */
  scores: Float64Array;
}

/** One category's row in a {@link CocoEvalReport}. */
export interface CategoryStats {
  /** The category id. */
  categoryId: number;
  /** Its name in the ground truth. */
  name: string;
  /** AP @[.50:.95], all areas, 100 detections (= `stats[0]`); -1 when undefined. */
  ap: number;
  /** The 12 summary numbers restricted to this category. */
  stats: number[];
}

/** Everything {@link cocoEvaluate} computes. */
export interface CocoEvalReport {
  /** The parameters used. */
  params: CocoEvalParams;
  /** The precision, recall and score tables. */
  accumulation: Accumulation;
  /** The 12 summary numbers (see {@link STAT_NAMES}). */
  stats: number[];
  /** Per-category summaries, in ascending category id. */
  perCategory: CategoryStats[];
  /**
   * Detections whose category the ground truth does not have: pycocotools ignores them, and
   * so does this evaluator, but it counts them (a results file with another label set, e.g.
   * contiguous labels 1..80 against COCO's ids 1..90, shows up here instead of as a silent
   * low AP). `ids` ascending.
   */
  unknownCategories: {
    /** How many detections name a category the ground truth lacks. */
    detections: number;
    /** Those category ids, ascending. */
    ids: number[];
  };
  /** The per-image matches, when `keepEvalImages` was set (`[K][A][I]` flattened; null when empty). */
  evalImgs?: (EvalImage | null)[];
}

/** Short names of the 12 summary numbers, in order. */
export const STAT_NAMES: readonly string[] = Object.freeze([
  'AP',
  'AP50',
  'AP75',
  'APs',
  'APm',
  'APl',
  'AR1',
  'AR10',
  'AR100',
  'ARs',
  'ARm',
  'ARl',
]);

/**
 * The default parameters for a ground truth: all its images and categories (sorted, unique)
 * and pycocotools' thresholds, ranges and limits.
 *
 * @param gt - the ground truth.
 * @param iouType - boxes or masks.
 * @returns the parameters.
 */
export function defaultParams(gt: CocoDataset, iouType: IouType): CocoEvalParams {
  const unique = (v: number[]): number[] => [...new Set(v)].sort((a, b) => a - b);
  return {
    iouType,
    imgIds: unique(gt.images.map((im) => im.id)),
    catIds: unique(gt.categories.map((c) => c.id)),
    iouThrs: IOU_THRESHOLDS,
    recThrs: RECALL_THRESHOLDS,
    areaRng: AREA_RANGES,
    areaRngLbl: AREA_LABELS,
    maxDets: MAX_DETS,
  };
}

/**
 * Indices that sort `scores` descending, stably (numpy's `argsort(-scores, kind='mergesort')`:
 * equal scores keep their order).
 *
 * @param scores - the scores.
 * @returns the permutation.
 */
export function argsortDescending(scores: ArrayLike<number>): number[] {
  const idx = Array.from({ length: scores.length }, (_, i) => i);
  // Array.prototype.sort is stable (ES2019); compare explicitly so that infinities cannot make NaN.
  idx.sort((i, j) => {
    const a = scores[i]!;
    const b = scores[j]!;
    return a > b ? -1 : a < b ? 1 : 0;
  });
  return idx;
}

/**
 * The IoU matrix `[D][G]` between one image-category's detections (already sorted by score and
 * cut to `maxDets`) and its ground truths in file order, as pycocotools' `computeIoU`.
 */
type IouMatrix = { d: number; g: number; values: Float64Array };

/**
 * Matches one image-category's detections to its ground truths in one area range, exactly as
 * pycocotools' `evaluateImg`.
 *
 * - A ground truth is ignored if it is a crowd region or its `area` is outside `[lo, hi]`;
 *   ignored ones are moved (stably) to the end.
 * - At each threshold `t`, each detection (best score first) starts with
 *   `best = min(t, 1 - 1e-10)` and scans the ground truths: it skips those already matched
 *   (unless crowd), stops at the first ignored one once it holds a non-ignored match, skips
 *   those with `iou < best`, and otherwise takes the ground truth and raises `best` to its IoU
 *   (so a tie goes to the later ground truth).
 * - A detection matched to an ignored ground truth is ignored; so is an unmatched detection
 *   whose own `area` is outside the range. "Matched" means the stored ground-truth id is not 0,
 *   exactly as pycocotools tests it.
 *
 * @param imageId - the image.
 * @param categoryId - the category.
 * @param gts - its ground truths, in file order.
 * @param dts - its detections sorted by descending score, at most `maxDet`.
 * @param ious - `ious[d][g]` for `dts` x `gts` (file order); may be empty if either list is.
 * @param areaRng - the area range.
 * @param maxDet - the detection limit (recorded in the result).
 * @param iouThrs - the thresholds (default {@link IOU_THRESHOLDS}).
 * @returns the matches, or null when there is neither a ground truth nor a detection.
 */
export function evaluateImage(
  imageId: number,
  categoryId: number,
  gts: readonly { id: number; area: number; iscrowd: number | boolean }[],
  dts: readonly { id: number; area: number; score: number }[],
  ious: readonly (readonly number[])[],
  areaRng: readonly [number, number],
  maxDet: number,
  iouThrs: readonly number[] = IOU_THRESHOLDS,
): EvalImage | null {
  const G = gts.length;
  const D0 = dts.length;
  if (G === 0 && D0 === 0) return null;
  const flat = new Float64Array(D0 * G);
  if (ious.length > 0) {
    for (let d = 0; d < D0; d++) for (let g = 0; g < G; g++) flat[d * G + g] = ious[d]![g]!;
  }
  return matchImage(imageId, categoryId, gts, dts, { d: ious.length > 0 ? D0 : 0, g: G, values: flat }, areaRng, maxDet, iouThrs);
}

function matchImage(
  imageId: number,
  categoryId: number,
  gts: readonly { id: number; area: number; iscrowd: number | boolean }[],
  dtsSorted: readonly { id: number; area: number; score: number }[],
  ious: IouMatrix,
  areaRng: readonly [number, number],
  maxDet: number,
  iouThrs: readonly number[],
): EvalImage {
  const [lo, hi] = areaRng;
  const G = gts.length;
  // ignore flag: crowd, or area outside the range (inclusive ends)
  const ignoreFile = gts.map((g) => (g.iscrowd || g.area < lo || g.area > hi ? 1 : 0));
  // stable sort: non-ignored first
  const gtind: number[] = [];
  for (let g = 0; g < G; g++) if (!ignoreFile[g]) gtind.push(g);
  for (let g = 0; g < G; g++) if (ignoreFile[g]) gtind.push(g);
  const dts = dtsSorted.slice(0, maxDet);
  const D = dts.length;
  const T = iouThrs.length;
  const gtIg = new Uint8Array(G);
  const crowd = new Uint8Array(G);
  const gtIds: number[] = new Array(G);
  for (let j = 0; j < G; j++) {
    const g = gts[gtind[j]!]!;
    gtIg[j] = ignoreFile[gtind[j]!]!;
    crowd[j] = g.iscrowd ? 1 : 0;
    gtIds[j] = g.id;
  }
  const gtm = new Float64Array(T * G);
  const dtm = new Float64Array(T * D);
  const dtIg = new Uint8Array(T * D);
  if (ious.d > 0 && ious.g > 0) {
    const iou = ious.values;
    for (let t = 0; t < T; t++) {
      for (let d = 0; d < D; d++) {
        let best = Math.min(iouThrs[t]!, 1 - 1e-10);
        let m = -1;
        for (let j = 0; j < G; j++) {
          // already matched and not a crowd region: unavailable
          if (gtm[t * G + j]! > 0 && !crowd[j]) continue;
          // holding a regular match and reaching the ignored ones: stop
          if (m > -1 && gtIg[m] === 0 && gtIg[j] === 1) break;
          const v = iou[d * ious.g + gtind[j]!]!;
          if (v < best) continue;
          best = v;
          m = j;
        }
        if (m === -1) continue;
        dtIg[t * D + d] = gtIg[m]!;
        dtm[t * D + d] = gtIds[m]!;
        gtm[t * G + m] = dts[d]!.id;
      }
    }
  }
  // unmatched detections outside the area range are ignored (matched means gt id != 0)
  for (let d = 0; d < D; d++) {
    const out = dts[d]!.area < lo || dts[d]!.area > hi;
    if (!out) continue;
    for (let t = 0; t < T; t++) if (dtm[t * D + d] === 0) dtIg[t * D + d] = 1;
  }
  return {
    imageId,
    categoryId,
    areaRng,
    maxDet,
    dtIds: dts.map((d) => d.id),
    gtIds,
    dtMatches: dtm,
    gtMatches: gtm,
    dtScores: Float64Array.from(dts, (d) => d.score),
    gtIgnore: gtIg,
    dtIgnore: dtIg,
  };
}

/**
 * Accumulates one category and area range over all images (pycocotools `accumulate`'s inner
 * loop), writing `precision`, `recall` and `scores` for each detection limit in `maxDets`.
 *
 * For each limit m: take each image's first m detections, concatenate them in image order, rank
 * them by descending score (stable: ties keep image order, then rank within the image); count
 * `npig`, the non-ignored ground truths. Over the non-ignored detections take cumulative sums
 * of true and false positives; `recall = tp / npig`, `precision = tp / ((fp + tp) + eps)`,
 * made non-increasing from the right; the precision at recall threshold r is the precision at
 * the first rank whose recall is `>= r` (`searchsorted` left), 0 beyond the last. Entries stay
 * -1 when no image has a ground truth or a detection, or when `npig` is 0.
 *
 * @param evalImgs - the category's results for one area range, in image order (nulls skipped).
 * @param params - thresholds and limits.
 * @param out - the tables to fill.
 * @param k - the category's index.
 * @param a - the area range's index.
 */
export function accumulateCategory(
  evalImgs: readonly (EvalImage | null)[],
  params: Pick<CocoEvalParams, 'iouThrs' | 'recThrs' | 'maxDets'>,
  out: Accumulation,
  k: number,
  a: number,
): void {
  const [T, R, K, A, M] = out.counts;
  const E = evalImgs.filter((e): e is EvalImage => e !== null);
  if (E.length === 0) return;
  let npig = 0;
  for (const e of E) for (let g = 0; g < e.gtIgnore.length; g++) if (e.gtIgnore[g] === 0) npig++;
  const recThrs = Float64Array.from(params.recThrs);
  for (let m = 0; m < params.maxDets.length; m++) {
    if (npig === 0) break;
    const maxDet = params.maxDets[m]!;
    // concatenate each image's first maxDet detections, in image order
    let n = 0;
    for (const e of E) n += Math.min(maxDet, e.dtScores.length);
    const scores = new Float64Array(n);
    let p = 0;
    for (const e of E) {
      const take = Math.min(maxDet, e.dtScores.length);
      for (let d = 0; d < take; d++) scores[p++] = e.dtScores[d]!;
    }
    const order = argsortDescending(scores);
    // status in ranked order, per threshold: 0 ignored, 1 true positive, 2 false positive
    const where = new Int32Array(n); // position of ranked detection i in the concatenation
    for (let i = 0; i < n; i++) where[i] = order[i]!;
    const status = new Uint8Array(T * n);
    p = 0;
    const rankOf = new Int32Array(n); // concatenation position -> rank
    for (let i = 0; i < n; i++) rankOf[where[i]!] = i;
    for (const e of E) {
      const D = e.dtScores.length;
      const take = Math.min(maxDet, D);
      for (let d = 0; d < take; d++, p++) {
        const i = rankOf[p]!;
        for (let t = 0; t < T; t++) {
          // "matched" means a non-zero ground-truth id, exactly as numpy's truth test on dtm
          status[t * n + i] = e.dtIgnore[t * D + d] !== 0 ? 0 : e.dtMatches[t * D + d] !== 0 ? 1 : 2;
        }
      }
    }
    const rc = new Float64Array(n);
    const pr = new Float64Array(n);
    for (let t = 0; t < T; t++) {
      // cumulative sums over the non-ignored detections
      let tp = 0;
      let fp = 0;
      for (let i = 0; i < n; i++) {
        const st = status[t * n + i]!;
        if (st === 1) tp++;
        else if (st === 2) fp++;
        rc[i] = tp / npig;
        pr[i] = tp / (fp + tp + EPS); // (fp + tp) + eps, left to right as numpy
      }
      out.recall[((t * K + k) * A + a) * M + m] = n > 0 ? rc[n - 1]! : 0;
      // precision made non-increasing from the right
      for (let i = n - 1; i > 0; i--) if (pr[i]! > pr[i - 1]!) pr[i - 1] = pr[i]!;
      // searchsorted(rc, recThrs, 'left'): first index with rc[i] >= thr; past the end -> 0
      let idx = 0;
      for (let r = 0; r < R; r++) {
        const thr = recThrs[r]!;
        while (idx < n && rc[idx]! < thr) idx++;
        const at = (((t * R + r) * K + k) * A + a) * M + m;
        if (idx < n) {
          out.precision[at] = pr[idx]!;
          out.scores[at] = scores[where[idx]!]!;
        } else {
          out.precision[at] = 0;
          out.scores[at] = 0;
        }
      }
    }
  }
}

/**
 * Sum of `values` as numpy's `np.add.reduce` computes it for a contiguous float64 array: in
 * chunks of 8192 (the iterator's buffer), each summed pairwise (8 accumulators for blocks of up
 * to 128 numbers, halving recursively above).
 *
 * Checked bit for bit against numpy 1.24. numpy 2.x no longer cuts a contiguous reduction into
 * 8192-element chunks, so for more than 8192 values (e.g. 80 categories: 80,800 precision
 * entries) its last bit can differ (about 1e-16).
 *
 * @param values - the numbers.
 * @returns their sum, rounded the way numpy rounds it.
 */
export function numpySum(values: ArrayLike<number>): number {
  let total = 0;
  for (let start = 0; start < values.length; start += 8192) {
    total += pairwiseSum(values, start, Math.min(8192, values.length - start));
  }
  return total;
}

function pairwiseSum(a: ArrayLike<number>, lo: number, n: number): number {
  if (n < 8) {
    let res = -0;
    for (let i = 0; i < n; i++) res += a[lo + i]!;
    return res;
  }
  if (n <= 128) {
    const r = [a[lo]!, a[lo + 1]!, a[lo + 2]!, a[lo + 3]!, a[lo + 4]!, a[lo + 5]!, a[lo + 6]!, a[lo + 7]!];
    let i = 8;
    for (; i < n - (n % 8); i += 8) {
      for (let j = 0; j < 8; j++) r[j] += a[lo + i + j]!;
    }
    // numpy: ((r0 + r1) + (r2 + r3)) + ((r4 + r5) + (r6 + r7))
    const left = r[0]! + r[1]! + (r[2]! + r[3]!);
    const right = r[4]! + r[5]! + (r[6]! + r[7]!);
    let res = left + right;
    for (; i < n; i++) res += a[lo + i]!;
    return res;
  }
  let n2 = Math.floor(n / 2);
  n2 -= n2 % 8;
  return pairwiseSum(a, lo, n2) + pairwiseSum(a, lo + n2, n - n2);
}

/** numpy `mean(s[s > -1])`, or -1 when no entry is defined. */
function meanDefined(values: number[]): number {
  const kept = values.filter((v) => v > -1);
  if (kept.length === 0) return -1;
  return numpySum(kept) / kept.length;
}

/**
 * The 12 COCO summary numbers from the accumulated tables, as pycocotools' `summarize` for
 * bbox/segm: AP @[.50:.95], AP50, AP75, AP small/medium/large (100 detections), AR with 1, 10
 * and 100 detections, AR small/medium/large. Each is the mean of the table entries `> -1`
 * (numpy's summation order: thresholds, then recall points, then categories), or -1 if none.
 *
 * @param acc - the tables.
 * @param params - the parameters they were computed with.
 * @param categoryIndex - restrict to one category's index (for per-category numbers).
 * @returns the 12 numbers.
 */
export function summarize(acc: Accumulation, params: CocoEvalParams, categoryIndex?: number): number[] {
  const [T, R, K, A, M] = acc.counts;
  const ks = categoryIndex === undefined ? Array.from({ length: K }, (_, k) => k) : [categoryIndex];
  const areaIndex = (label: string): number => params.areaRngLbl.indexOf(label);
  const mIndex = (maxDet: number): number => params.maxDets.indexOf(maxDet);
  const ap = (iouThr: number | undefined, area: string, maxDet: number): number => {
    const a = areaIndex(area);
    const m = mIndex(maxDet);
    // AP50/AP75 pick thresholds by float equality, like np.where(iouThr == p.iouThrs)
    const ts = iouThr === undefined ? Array.from({ length: T }, (_, t) => t) : params.iouThrs.flatMap((v, t) => (v === iouThr ? [t] : []));
    const values: number[] = [];
    if (a >= 0 && m >= 0) {
      for (const t of ts) for (let r = 0; r < R; r++) for (const k of ks) values.push(acc.precision[(((t * R + r) * K + k) * A + a) * M + m]!);
    }
    return meanDefined(values);
  };
  const ar = (area: string, maxDet: number): number => {
    const a = areaIndex(area);
    const m = mIndex(maxDet);
    const values: number[] = [];
    if (a >= 0 && m >= 0) {
      for (let t = 0; t < T; t++) for (const k of ks) values.push(acc.recall[((t * K + k) * A + a) * M + m]!);
    }
    return meanDefined(values);
  };
  const md = params.maxDets;
  return [
    ap(undefined, 'all', md[md.length - 1]!),
    ap(0.5, 'all', md[2]!),
    ap(0.75, 'all', md[2]!),
    ap(undefined, 'small', md[2]!),
    ap(undefined, 'medium', md[2]!),
    ap(undefined, 'large', md[2]!),
    ar('all', md[0]!),
    ar('all', md[1]!),
    ar('all', md[2]!),
    ar('small', md[2]!),
    ar('medium', md[2]!),
    ar('large', md[2]!),
  ];
}

/**
 * Python's `'{:0.3f}'.format(x)`: like `toFixed(3)`, but an exact tie rounds half to even
 * (`toFixed` rounds it up). Ties at 3 decimals happen exactly for x = odd/16, e.g. 0.5625.
 *
 * @param x - the number.
 * @returns x with 3 decimals.
 */
export function formatFixed3(x: number): string {
  const y = x * 16; // exact
  if (Number.isInteger(y) && y % 2 !== 0) {
    const mag = Math.abs(x) * 1000; // exact: odd * 62.5
    let n = Math.floor(mag);
    if (n % 2 !== 0) n += 1;
    const s = (n / 1000).toFixed(3);
    return x < 0 ? `-${s}` : s;
  }
  return x.toFixed(3);
}

/**
 * The 12-line table pycocotools' `summarize()` prints, character for character, e.g.
 * ` Average Precision  (AP) @[ IoU=0.50:0.95 | area=   all | maxDets=100 ] = 0.503`.
 *
 * @param stats - the 12 numbers from {@link summarize}.
 * @param params - thresholds, labels and limits (default: pycocotools').
 * @returns the lines joined with `\n`.
 */
export function formatSummary(
  stats: readonly number[],
  params: Pick<CocoEvalParams, 'iouThrs' | 'maxDets'> = { iouThrs: IOU_THRESHOLDS, maxDets: MAX_DETS },
): string {
  if (stats.length !== 12) throw new Error(`formatSummary: expected 12 stats, got ${stats.length}`);
  const f2 = (v: number): string => v.toFixed(2);
  const md = params.maxDets;
  const allIou = `${f2(params.iouThrs[0]!)}:${f2(params.iouThrs[params.iouThrs.length - 1]!)}`;
  const rows: [boolean, string, string, number][] = [
    [true, allIou, 'all', md[md.length - 1]!],
    [true, f2(0.5), 'all', md[2]!],
    [true, f2(0.75), 'all', md[2]!],
    [true, allIou, 'small', md[2]!],
    [true, allIou, 'medium', md[2]!],
    [true, allIou, 'large', md[2]!],
    [false, allIou, 'all', md[0]!],
    [false, allIou, 'all', md[1]!],
    [false, allIou, 'all', md[2]!],
    [false, allIou, 'small', md[2]!],
    [false, allIou, 'medium', md[2]!],
    [false, allIou, 'large', md[2]!],
  ];
  return rows
    .map(([isAp, iou, area, maxDet], i) => {
      const title = (isAp ? 'Average Precision' : 'Average Recall').padEnd(18);
      const type = isAp ? '(AP)' : '(AR)';
      return ` ${title} ${type} @[ IoU=${iou.padEnd(9)} | area=${area.padStart(6)} | maxDets=${String(maxDet).padStart(3)} ] = ${formatFixed3(stats[i]!)}`;
    })
    .join('\n');
}

/** A detection's mask; errors name the result by its index in the results list. */
function detectionMask(d: CocoDetection, image: { height: number; width: number }): PreparedRle {
  const where = `results[${d.id - 1}].segmentation`;
  try {
    return prepareRle(annToRle({ segmentation: d.segmentation }, image), where);
  } catch (error) {
    throw new Error(`cocoEvaluate: ${where}: ${(error as Error).message.replace(/^annotation \S+: /, '')}`);
  }
}

/** A ground truth with what matching needs, plus its mask when evaluating segm. */
interface GtItem {
  id: number;
  area: number;
  iscrowd: number;
  bbox: readonly number[];
  rle?: PreparedRle;
}

/** A detection with what matching needs, plus its mask when evaluating segm. */
interface DtItem {
  id: number;
  area: number;
  score: number;
  bbox: readonly number[];
  rle?: PreparedRle;
}

/**
 * Runs the whole COCO evaluation (evaluate, accumulate, summarize) of `detections` against
 * `gt`, with pycocotools' semantics, and also computes the 12 numbers per category.
 *
 * Work is streamed per category, so memory stays proportional to one category's matches
 * (unless `keepEvalImages` is set).
 *
 * @param gt - the validated ground truth (from `parseCoco` or `readCoco`).
 * @param detections - loaded detections (from `loadResults` or `readResults`).
 * @param options - `iouType` and optional image/category subsets.
 * @returns stats, per-category stats and the precision/recall tables.
 */
export function cocoEvaluate(gt: CocoDataset, detections: readonly CocoDetection[], options: CocoEvalOptions): CocoEvalReport {
  const { iouType } = options;
  if (iouType !== 'bbox' && iouType !== 'segm') {
    throw new Error(`cocoEvaluate: iouType must be 'bbox' or 'segm', got ${JSON.stringify(iouType)}`);
  }
  const params = defaultParams(gt, iouType);
  if (options.imgIds !== undefined) params.imgIds = [...new Set(options.imgIds)].sort((a, b) => a - b);
  if (options.catIds !== undefined) params.catIds = [...new Set(options.catIds)].sort((a, b) => a - b);
  const images = new Map(gt.images.map((im) => [im.id, im]));
  for (const id of params.imgIds) if (!images.has(id)) throw new Error(`cocoEvaluate: image ${id} is not in the ground truth`);
  const T = params.iouThrs.length;
  const R = params.recThrs.length;
  const K = params.catIds.length;
  const A = params.areaRng.length;
  const M = params.maxDets.length;
  const I = params.imgIds.length;
  const maxDet = params.maxDets[M - 1]!;
  const acc: Accumulation = {
    counts: [T, R, K, A, M],
    precision: new Float64Array(T * R * K * A * M).fill(-1),
    recall: new Float64Array(T * K * A * M).fill(-1),
    scores: new Float64Array(T * R * K * A * M).fill(-1),
  };
  const imgPos = new Map(params.imgIds.map((id, i) => [id, i]));
  const catPos = new Map(params.catIds.map((id, k) => [id, k]));

  // group ground truths and detections by category, then image (file order within each)
  const gtBy: Map<number, CocoAnnotation[]>[] = Array.from({ length: K }, () => new Map());
  for (const ann of gt.annotations) {
    const k = catPos.get(ann.category_id);
    if (k === undefined || !imgPos.has(ann.image_id)) continue;
    const m = gtBy[k]!;
    let list = m.get(ann.image_id);
    if (list === undefined) m.set(ann.image_id, (list = []));
    list.push(ann);
  }
  const dtBy: Map<number, CocoDetection[]>[] = Array.from({ length: K }, () => new Map());
  const gtCategories = new Set(gt.categories.map((c) => c.id));
  const unknownCategories = { detections: 0, ids: new Set<number>() };
  for (const det of detections) {
    if (!gtCategories.has(det.category_id)) {
      unknownCategories.detections++;
      unknownCategories.ids.add(det.category_id);
    }
    const k = catPos.get(det.category_id);
    if (k === undefined || !imgPos.has(det.image_id)) continue; // unknown categories are ignored
    const m = dtBy[k]!;
    let list = m.get(det.image_id);
    if (list === undefined) m.set(det.image_id, (list = []));
    list.push(det);
  }

  const evalImgsAll: (EvalImage | null)[] | undefined = options.keepEvalImages ? new Array(K * A * I).fill(null) : undefined;
  for (let k = 0; k < K; k++) {
    const catId = params.catIds[k]!;
    const perArea: (EvalImage | null)[][] = Array.from({ length: A }, () => new Array<EvalImage | null>(I).fill(null));
    for (let i = 0; i < I; i++) {
      const imgId = params.imgIds[i]!;
      const gtList = gtBy[k]!.get(imgId) ?? [];
      const dtAll = dtBy[k]!.get(imgId) ?? [];
      if (gtList.length === 0 && dtAll.length === 0) continue;
      const image = images.get(imgId)!;
      const order = argsortDescending(dtAll.map((d) => d.score));
      const dtSorted = order.slice(0, maxDet).map((j) => dtAll[j]!);
      const gItems: GtItem[] = gtList.map((g) => ({ id: g.id, area: g.area, iscrowd: g.iscrowd ? 1 : 0, bbox: g.bbox }));
      const dItems: DtItem[] = dtSorted.map((d) => ({ id: d.id, area: d.area, score: d.score, bbox: d.bbox }));
      // computeIoU: [D][G], detections sorted and cut to maxDet, ground truths in file order
      let ious: IouMatrix = { d: 0, g: 0, values: new Float64Array(0) };
      if (gItems.length > 0 && dItems.length > 0) {
        const crowd = gItems.map((g) => g.iscrowd);
        let rows: number[][];
        if (iouType === 'bbox') {
          rows = bboxIou(
            dItems.map((d) => d.bbox as number[]),
            gItems.map((g) => g.bbox as number[]),
            crowd,
          );
        } else {
          const gRles = gtList.map((g) => prepareRle(annToRle(g, image), `annotation ${g.id}`));
          const dRles = dtSorted.map((d) => detectionMask(d, image));
          rows = preparedRleIou(dRles, gRles, crowd);
        }
        const values = new Float64Array(dItems.length * gItems.length);
        rows.forEach((row, d) => row.forEach((v, g) => (values[d * gItems.length + g] = v)));
        ious = { d: dItems.length, g: gItems.length, values };
      }
      for (let a = 0; a < A; a++) {
        const e = matchImage(imgId, catId, gItems, dItems, ious, params.areaRng[a]!, maxDet, params.iouThrs);
        perArea[a]![i] = e;
        if (evalImgsAll) evalImgsAll[(k * A + a) * I + i] = e;
      }
    }
    for (let a = 0; a < A; a++) accumulateCategory(perArea[a]!, params, acc, k, a);
  }

  const stats = summarize(acc, params);
  const names = new Map(gt.categories.map((c) => [c.id, c.name]));
  const perCategory = params.catIds.map((categoryId, k) => {
    const s = summarize(acc, params, k);
    return { categoryId, name: names.get(categoryId) ?? '', ap: s[0]!, stats: s };
  });
  const unknown = { detections: unknownCategories.detections, ids: [...unknownCategories.ids].sort((a, b) => a - b) };
  const report: CocoEvalReport = { params, accumulation: acc, stats, perCategory, unknownCategories: unknown };
  if (evalImgsAll) report.evalImgs = evalImgsAll;
  return report;
}
