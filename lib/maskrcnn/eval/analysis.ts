/**
 * Error analysis on top of the COCO evaluator ({@link cocoEvaluate}): what the 12 summary numbers
 * hide.
 *
 * - **Per-class AP** ({@link perClassAp}): AP, AP50 and AP75 of each category, read from the
 *   evaluator's own precision table as pycocotools users do
 *   (`precision[:, :, k, area=all, maxDets=100]`, mean over the entries `> -1`).
 * - **Precision-recall curves** ({@link prCurves}, {@link prCurvesSvg}): the same table's 101
 *   recall points, per class and overall, at IoU 0.5 and averaged over 0.50:0.95.
 * - **Confusion matrix** at IoU 0.5 ({@link confusionMatrix}): which class each detection was
 *   matched to, which detections matched nothing, which ground truths were missed.
 * - **TIDE** ({@link tideAnalysis}): the six error types of Bolya et al. (ECCV 2020) and the AP50
 *   each one costs, measured by fixing it with an oracle and evaluating again.
 *
 * {@link analyzeErrors} runs all four for one evaluation; {@link writeAnalysis} writes them as
 * Markdown, CSV and SVG files.
 *
 * @module
 */
import { join } from 'node:path';
import { annToRle, type CocoAnnotation, type CocoDataset, type CocoSegmentation } from '../data/coco.js';
import { bboxIou, prepareRle, preparedRleIou, rleArea } from '../data/rle.js';
import { heatmapSvg, lineChartSvg, type LineSeries } from '../viz/plot.js';
import { makeDirectory, writeFileAtomic } from '../../util/atomic_write.js';
import { argsortDescending, cocoEvaluate, formatFixed3, numpySum, type CocoEvalReport, type IouType } from './cocoeval.js';
import { type CocoDetection } from './results.js';

// ----------------------------------------------------------------------------- per-class AP

/** One category's AP numbers (all areas, 100 detections per image); -1 where undefined (no ground truth). */
export interface ClassAp {
  /** The category id. */
  categoryId: number;
  /** Its name in the ground truth. */
  name: string;
  /** AP @[.50:.95]. */
  ap: number;
  /** AP at IoU 0.5. */
  ap50: number;
  /** AP at IoU 0.75. */
  ap75: number;
}

/** Index of the area range 'all' and of the largest detection limit, or an error naming what is missing. */
function allAreaMaxDets(report: CocoEvalReport): { a: number; m: number } {
  const a = report.params.areaRngLbl.indexOf('all');
  const m = report.params.maxDets.length - 1;
  if (a < 0) throw new Error(`error analysis: the evaluation has no area range 'all' (has ${report.params.areaRngLbl.join(', ')})`);
  return { a, m };
}

/** Index of the IoU threshold equal to `thr` (by float equality, like pycocotools), or an error. */
function iouIndex(report: CocoEvalReport, thr: number): number {
  const t = report.params.iouThrs.indexOf(thr);
  if (t < 0) throw new Error(`error analysis: the evaluation has no IoU threshold ${thr} (has ${report.params.iouThrs.join(', ')})`);
  return t;
}

/** numpy `mean(s[s > -1])` over `values`, -1 when none is defined. */
function meanDefined(values: readonly number[]): number {
  const kept = values.filter((v) => v > -1);
  return kept.length === 0 ? -1 : numpySum(kept) / kept.length;
}

/**
 * AP, AP50 and AP75 of every evaluated category, from the report's precision table
 * `[T][R][K][A][M]` at area 'all' and 100 detections: for category k, the mean of the entries
 * `> -1` of `precision[:, :, k, all, 100]` (AP), of `precision[t50, :, k, all, 100]` (AP50) and
 * of `precision[t75, :, k, all, 100]` (AP75), summed in numpy's order, as
 * `np.mean(s[s > -1])` on pycocotools' `eval['precision']`.
 *
 * @param report - the evaluator's report.
 * @returns one row per category, in the report's category order (ascending id).
 */
export function perClassAp(report: CocoEvalReport): ClassAp[] {
  const acc = report.accumulation;
  const [T, R, K, A, M] = acc.counts;
  const { a, m } = allAreaMaxDets(report);
  const t50 = iouIndex(report, 0.5);
  const t75 = iouIndex(report, 0.75);
  const at = (t: number, r: number, k: number): number => acc.precision[(((t * R + r) * K + k) * A + a) * M + m]!;
  const names = new Map(report.perCategory.map((c) => [c.categoryId, c.name]));
  return report.params.catIds.map((categoryId, k) => {
    const all: number[] = [];
    for (let t = 0; t < T; t++) for (let r = 0; r < R; r++) all.push(at(t, r, k));
    const one = (t: number): number => meanDefined(Array.from({ length: R }, (_, r) => at(t, r, k)));
    return { categoryId, name: names.get(categoryId) ?? String(categoryId), ap: meanDefined(all), ap50: one(t50), ap75: one(t75) };
  });
}

// ----------------------------------------------------------------------------- PR curves

/** Which IoU a {@link PrCurves} is at: 0.5, or the mean over the thresholds 0.50:0.95. */
export type PrIou = 'iou50' | 'iou50-95';

/** One precision-recall curve: precision at each of the report's recall thresholds. */
export interface PrCurve {
  /** The category id, or null for the curve over all categories. */
  categoryId: number | null;
  /** The category's name, or 'all'. */
  name: string;
  /** Precision at each recall threshold; -1 everywhere when undefined (no ground truth). */
  precision: number[];
  /** Its mean over the recall thresholds: the AP this curve stands for (-1 when undefined). */
  ap: number;
}

/** The precision-recall curves of one evaluation at one IoU setting. */
export interface PrCurves {
  /** 'iou50' or 'iou50-95'. */
  iou: PrIou;
  /** The recall thresholds (pycocotools' 101 points 0, 0.01, ..., 1). */
  recall: number[];
  /** The curve over all categories. */
  overall: PrCurve;
  /** One curve per category, in the report's category order. */
  perClass: PrCurve[];
}

/**
 * The precision-recall curves of an evaluation, straight from its precision table at area 'all'
 * and 100 detections per image: class k's curve at IoU 0.5 is `precision[t50, :, k, all, 100]`
 * itself; at 'iou50-95' each recall point is the mean over the IoU thresholds (entries `> -1`).
 * The overall curve is, at each recall point, the mean over the categories (and thresholds) of
 * the entries `> -1`, so its mean over the recall points is AP50 (or AP) up to rounding.
 *
 * @param report - the evaluator's report.
 * @param iou - 'iou50' or 'iou50-95'.
 * @returns the curves.
 */
export function prCurves(report: CocoEvalReport, iou: PrIou): PrCurves {
  if (iou !== 'iou50' && iou !== 'iou50-95') throw new Error(`prCurves: iou must be 'iou50' or 'iou50-95', got ${JSON.stringify(iou)}`);
  const acc = report.accumulation;
  const [T, R, K, A, M] = acc.counts;
  const { a, m } = allAreaMaxDets(report);
  const ts = iou === 'iou50' ? [iouIndex(report, 0.5)] : Array.from({ length: T }, (_, t) => t);
  const at = (t: number, r: number, k: number): number => acc.precision[(((t * R + r) * K + k) * A + a) * M + m]!;
  const names = new Map(report.perCategory.map((c) => [c.categoryId, c.name]));
  const curve = (ks: readonly number[], categoryId: number | null, name: string): PrCurve => {
    const precision = Array.from({ length: R }, (_, r) => meanDefined(ts.flatMap((t) => ks.map((k) => at(t, r, k)))));
    return { categoryId, name, precision, ap: meanDefined(precision) };
  };
  const perClass = report.params.catIds.map((id, k) => curve([k], id, names.get(id) ?? String(id)));
  const overall = curve(
    Array.from({ length: K }, (_, k) => k),
    null,
    'all',
  );
  return { iou, recall: [...report.params.recThrs], overall, perClass };
}

/**
 * One SVG with every category's precision-recall curve (thin, coloured) and the overall curve
 * (thick, black), recall on x and precision on y, each legend entry with its AP. Categories
 * without ground truth are left out.
 *
 * @param curves - from {@link prCurves}.
 * @param title - the chart's title.
 * @returns the SVG text.
 */
export function prCurvesSvg(curves: PrCurves, title: string): string {
  const line = (c: PrCurve, extra: Partial<LineSeries> = {}): LineSeries => ({
    name: `${c.name} (AP ${formatFixed3(c.ap)})`,
    points: curves.recall.map((r, i) => [r, c.precision[i]!] as const),
    ...extra,
  });
  const series: LineSeries[] = [];
  if (curves.overall.ap > -1) series.push(line(curves.overall, { color: '#000', width: 3 }));
  for (const c of curves.perClass) if (c.ap > -1) series.push(line(c));
  return lineChartSvg(series, { title, xLabel: 'recall', yLabel: 'precision', xRange: [0, 1], yRange: [0, 1] });
}

// ----------------------------------------------------------------------------- shared matching data

/** One image's ground truths and detections (cut to 100 per category, best score first) and their IoUs. */
interface ImageData {
  gts: CocoAnnotation[];
  /** Detections sorted by descending score (stable in file order). */
  dts: CocoDetection[];
  /** `[D][G]` IoU; for a crowd ground truth, intersection over the detection's area. */
  iou: number[][];
}

/** A detection limit per image and category, as the evaluator's largest. */
const MAX_DETS_PER_CATEGORY = 100;

/**
 * Groups ground truths and detections by image (only the report's images and categories), keeps
 * each image-category's best `maxDet` detections as the evaluator does, and computes the
 * class-agnostic IoU matrix of each image.
 */
function imageData(gt: CocoDataset, detections: readonly CocoDetection[], iouType: IouType, imgIds: readonly number[], catIds: readonly number[], maxDet: number): ImageData[] {
  const images = new Map(gt.images.map((im) => [im.id, im]));
  const cats = new Set(catIds);
  const gtBy = new Map<number, CocoAnnotation[]>();
  for (const g of gt.annotations) {
    if (!cats.has(g.category_id)) continue;
    let list = gtBy.get(g.image_id);
    if (list === undefined) gtBy.set(g.image_id, (list = []));
    list.push(g);
  }
  const dtBy = new Map<number, CocoDetection[]>();
  for (const d of detections) {
    if (!cats.has(d.category_id)) continue;
    let list = dtBy.get(d.image_id);
    if (list === undefined) dtBy.set(d.image_id, (list = []));
    list.push(d);
  }
  const out: ImageData[] = [];
  for (const imgId of imgIds) {
    const image = images.get(imgId);
    if (image === undefined) throw new Error(`error analysis: image ${imgId} is not in the ground truth`);
    const gts = gtBy.get(imgId) ?? [];
    const all = dtBy.get(imgId) ?? [];
    // the evaluator's cut: the best maxDet of each category (stable), then all of them by score
    const byCat = new Map<number, CocoDetection[]>();
    for (const d of all) {
      let list = byCat.get(d.category_id);
      if (list === undefined) byCat.set(d.category_id, (list = []));
      list.push(d);
    }
    const kept = new Set<CocoDetection>();
    for (const list of byCat.values()) for (const i of argsortDescending(list.map((d) => d.score)).slice(0, maxDet)) kept.add(list[i]!);
    const inFileOrder = all.filter((d) => kept.has(d));
    const dts = argsortDescending(inFileOrder.map((d) => d.score)).map((i) => inFileOrder[i]!);
    let iou: number[][] = [];
    if (gts.length > 0 && dts.length > 0) {
      const crowd = gts.map((g) => g.iscrowd);
      if (iouType === 'bbox') {
        iou = bboxIou(
          dts.map((d) => [...d.bbox]),
          gts.map((g) => [...g.bbox]),
          crowd,
        );
      } else {
        const gRles = gts.map((g) => prepareRle(annToRle(g, image), `annotation ${g.id}`));
        const dRles = dts.map((d) => {
          if (d.segmentation === undefined) throw new Error(`error analysis: detection ${d.id} (results[${d.id - 1}]) has no segmentation for segm analysis`);
          return prepareRle(annToRle({ segmentation: d.segmentation }, image), `results[${d.id - 1}].segmentation`);
        });
        iou = preparedRleIou(dRles, gRles, crowd);
      }
    }
    out.push({ gts, dts, iou });
  }
  return out;
}

/**
 * The best ground truth for detection `d` among those `eligible`, as the evaluator picks: the
 * largest IoU `>= thr`, a tie going to the later ground truth. Returns -1 when none.
 */
function bestMatch(data: ImageData, d: number, thr: number, eligible: (g: number) => boolean): number {
  let best = Math.min(thr, 1 - 1e-10);
  let m = -1;
  for (let g = 0; g < data.gts.length; g++) {
    if (!eligible(g)) continue;
    const v = data.iou[d]![g]!;
    if (v < best) continue;
    best = v;
    m = g;
  }
  return m;
}

/**
 * COCO's matching of one image at threshold `thr`: each detection, best score first, takes the
 * unmatched non-crowd ground truth of its own class with the largest IoU `>= thr`; detections
 * left over that overlap a crowd region of their class by `>= thr` (intersection over the
 * detection's area) are ignored. Returns, per detection, the matched ground-truth index (-1
 * none) and whether it is ignored, and per ground truth the matching detection (-1 none).
 */
function cocoMatch(data: ImageData, thr: number, isKept: (d: number) => boolean = () => true): { dtGt: number[]; dtIgnored: boolean[]; gtDt: number[] } {
  const D = data.dts.length;
  const G = data.gts.length;
  const dtGt = new Array<number>(D).fill(-1);
  const dtIgnored = new Array<boolean>(D).fill(false);
  const gtDt = new Array<number>(G).fill(-1);
  for (let d = 0; d < D; d++) {
    if (!isKept(d)) continue;
    const cat = data.dts[d]!.category_id;
    const g = bestMatch(data, d, thr, (j) => data.gts[j]!.category_id === cat && !data.gts[j]!.iscrowd && gtDt[j] === -1);
    if (g >= 0) {
      dtGt[d] = g;
      gtDt[g] = d;
      continue;
    }
    dtIgnored[d] = bestMatch(data, d, thr, (j) => data.gts[j]!.category_id === cat && data.gts[j]!.iscrowd === 1) >= 0;
  }
  return { dtGt, dtIgnored, gtDt };
}

// ----------------------------------------------------------------------------- confusion matrix

/** Options of {@link confusionMatrix}. */
export interface ConfusionOptions {
  /** IoU a match needs (default 0.5). */
  iouThreshold?: number;
  /** Detections scoring below this are left out (default 0.5). */
  scoreThreshold?: number;
}

/**
 * Counts of detections against ground truth. Rows: the K ground-truth classes, then
 * `'duplicate'` and `'background'`; columns: the K predicted classes, then `'missed'`.
 * `counts[i][j]` (i, j < K): detections of class j matched to a ground truth of class i (the
 * diagonal is correct detections); row `'duplicate'`: detections overlapping an already matched
 * ground truth by `>= iouThreshold`; row `'background'`: detections overlapping no ground truth
 * by `>= iouThreshold`; column `'missed'`: ground truths no detection matched.
 */
export interface ConfusionMatrix {
  /** The K category ids, ascending. */
  categoryIds: number[];
  /** Row labels: the K class names, 'duplicate', 'background'. */
  rowLabels: string[];
  /** Column labels: the K class names, 'missed'. */
  columnLabels: string[];
  /** `(K + 2) x (K + 1)` counts. */
  counts: number[][];
  /** The IoU a match needed. */
  iouThreshold: number;
  /** The score a detection needed to be counted. */
  scoreThreshold: number;
  /** Detections absorbed by crowd regions (ignored, as the evaluator ignores them). */
  ignored: number;
}

/**
 * The confusion matrix of `detections` against `gt` at IoU 0.5 (see {@link ConfusionMatrix}).
 *
 * Matching rule, per image, over the detections scoring `>= scoreThreshold` among each
 * image-category's best 100 (the evaluator's cut):
 * 1. COCO's own matching at `iouThreshold`: each detection, best score first, takes the
 *    unmatched non-crowd ground truth **of its class** with the largest IoU (ties to the later
 *    one). So the diagonal is exactly the evaluator's true positives at IoU 0.5 above the score
 *    threshold. Unmatched detections that a crowd region of their class absorbs are ignored.
 * 2. Class-agnostic: each detection still unmatched, best score first, takes the unmatched
 *    non-crowd ground truth **of any class** with the largest IoU `>= iouThreshold`: an
 *    off-diagonal cell (right place, wrong class).
 * 3. A detection still unmatched is a `'duplicate'` if it overlaps some (matched) ground truth
 *    by `>= iouThreshold`, else `'background'`.
 * 4. Ground truths left unmatched are `'missed'` in their row.
 *
 * @param gt - the ground truth.
 * @param detections - the detections (from `loadResults`).
 * @param report - the evaluation of those detections (its iouType, images and categories are used).
 * @param options - thresholds.
 * @returns the matrix.
 */
export function confusionMatrix(gt: CocoDataset, detections: readonly CocoDetection[], report: CocoEvalReport, options: ConfusionOptions = {}): ConfusionMatrix {
  const iouThreshold = options.iouThreshold ?? 0.5;
  const scoreThreshold = options.scoreThreshold ?? 0.5;
  const catIds = report.params.catIds;
  const K = catIds.length;
  const kOf = new Map(catIds.map((id, k) => [id, k]));
  const counts = Array.from({ length: K + 2 }, () => new Array<number>(K + 1).fill(0));
  let ignored = 0;
  const maxDet = report.params.maxDets[report.params.maxDets.length - 1] ?? MAX_DETS_PER_CATEGORY;
  for (const data of imageData(gt, detections, report.params.iouType, report.params.imgIds, catIds, maxDet)) {
    const kept = (d: number): boolean => data.dts[d]!.score >= scoreThreshold;
    const { dtGt, dtIgnored, gtDt } = cocoMatch(data, iouThreshold, kept);
    for (let d = 0; d < data.dts.length; d++) {
      if (!kept(d)) continue;
      const p = kOf.get(data.dts[d]!.category_id)!;
      if (dtGt[d]! >= 0) {
        counts[kOf.get(data.gts[dtGt[d]!]!.category_id)!]![p]!++;
        continue;
      }
      if (dtIgnored[d]) {
        ignored++;
        continue;
      }
      const g = bestMatch(data, d, iouThreshold, (j) => !data.gts[j]!.iscrowd && gtDt[j] === -1);
      if (g >= 0) {
        gtDt[g] = d;
        counts[kOf.get(data.gts[g]!.category_id)!]![p]!++;
        continue;
      }
      const overlaps = bestMatch(data, d, iouThreshold, (j) => !data.gts[j]!.iscrowd) >= 0;
      counts[overlaps ? K : K + 1]![p]!++;
    }
    data.gts.forEach((g, j) => {
      if (!g.iscrowd && gtDt[j] === -1) counts[kOf.get(g.category_id)!]![K]!++;
    });
  }
  const names = new Map(report.perCategory.map((c) => [c.categoryId, c.name]));
  const classNames = catIds.map((id) => names.get(id) ?? String(id));
  return {
    categoryIds: [...catIds],
    rowLabels: [...classNames, 'duplicate', 'background'],
    columnLabels: [...classNames, 'missed'],
    counts,
    iouThreshold,
    scoreThreshold,
    ignored,
  };
}

/** Totals of a confusion matrix: correct (diagonal), wrong class (off-diagonal), duplicate, background, missed. */
export function confusionTotals(cm: ConfusionMatrix): {
  /** Detections of the right class matched to a ground truth (the diagonal). */
  correct: number;
  /** Detections matched to a ground truth of another class. */
  wrongClass: number;
  /** Detections overlapping an already matched ground truth. */
  duplicate: number;
  /** Detections overlapping no ground truth. */
  background: number;
  /** Ground truths no detection matched. */
  missed: number;
} {
  const K = cm.categoryIds.length;
  let correct = 0;
  let wrongClass = 0;
  let missed = 0;
  for (let i = 0; i < K; i++) {
    for (let j = 0; j < K; j++) {
      if (i === j) correct += cm.counts[i]![j]!;
      else wrongClass += cm.counts[i]![j]!;
    }
    missed += cm.counts[i]![K]!;
  }
  const sum = (row: number[]): number => row.slice(0, K).reduce((s, v) => s + v, 0);
  return { correct, wrongClass, duplicate: sum(cm.counts[K]!), background: sum(cm.counts[K + 1]!), missed };
}

/** A CSV field, quoted when it holds a comma, quote or line break. */
function csvField(s: string): string {
  return /[",\n\r]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

/** A Markdown table cell (pipes escaped). */
function mdCell(s: string): string {
  return s.replace(/\|/g, '\\|');
}

/**
 * The confusion matrix as CSV: a header `gt \ predicted,<classes>,missed`, then one line per row
 * label with its counts (the cell of 'duplicate'/'background' x 'missed' is empty).
 *
 * @param cm - the matrix.
 * @returns the CSV text (ending with a line break).
 */
export function confusionCsv(cm: ConfusionMatrix): string {
  const K = cm.categoryIds.length;
  const lines = [['gt \\ predicted', ...cm.columnLabels].map(csvField).join(',')];
  cm.rowLabels.forEach((label, i) => {
    const cells = cm.counts[i]!.map((v, j) => (i >= K && j === K ? '' : String(v)));
    lines.push([csvField(label), ...cells].join(','));
  });
  return lines.join('\n') + '\n';
}

/**
 * The confusion matrix as a Markdown table (rows: ground truth, columns: predicted), without a
 * title.
 *
 * @param cm - the matrix.
 * @returns the table's lines joined with line breaks.
 */
export function confusionMarkdown(cm: ConfusionMatrix): string {
  const K = cm.categoryIds.length;
  const lines = [`| gt \\ predicted | ${cm.columnLabels.map(mdCell).join(' | ')} |`, `|---|${cm.columnLabels.map(() => '---:').join('|')}|`];
  cm.rowLabels.forEach((label, i) => {
    const cells = cm.counts[i]!.map((v, j) => (i >= K && j === K ? '' : i === j ? `**${v}**` : String(v)));
    lines.push(`| ${mdCell(label)} | ${cells.join(' | ')} |`);
  });
  return lines.join('\n');
}

/**
 * The confusion matrix as an SVG heat map.
 *
 * @param cm - the matrix.
 * @param title - the chart's title.
 * @returns the SVG text.
 */
export function confusionSvg(cm: ConfusionMatrix, title: string): string {
  const K = cm.categoryIds.length;
  const values = cm.counts.map((row, i) => row.map((v, j) => (i >= K && j === K ? NaN : v)));
  return heatmapSvg(cm.rowLabels, cm.columnLabels, values, { title, rowTitle: 'ground truth', columnTitle: 'predicted' });
}

// ----------------------------------------------------------------------------- TIDE

/**
 * The six main error types of TIDE (Bolya, Foley, Hays, Hoffman, "TIDE: A General Toolbox for
 * Identifying Object Detection Errors", ECCV 2020, section 2.2), with the foreground threshold
 * t_f = 0.5 and the background threshold t_b = 0.1. For a false positive whose largest IoU with
 * a ground truth is IoU_max:
 * - `cls` (classification): IoU_max >= t_f with a ground truth of another class;
 * - `loc` (localisation): t_b <= IoU_max <= t_f with a ground truth of its class;
 * - `both`: t_b <= IoU_max < t_f with a ground truth of another class (none of the others);
 * - `dupe` (duplicate): IoU_max >= t_f with a ground truth of its class that a higher-scoring
 *   detection already matched;
 * - `bkg` (background): IoU_max < t_b (up to t_b inclusive, as TIDE's code) with every ground truth;
 * - `miss` (missed): a ground truth no detection matched and no `cls` or `loc` error claims.
 */
export type TideErrorType = 'cls' | 'loc' | 'both' | 'dupe' | 'bkg' | 'miss';

/** The six {@link TideErrorType}s in TIDE's order. */
export const TIDE_ERROR_TYPES: readonly TideErrorType[] = Object.freeze(['cls', 'loc', 'both', 'dupe', 'bkg', 'miss'] as const);

/** One error found by {@link tideAnalysis}. */
export interface TideError {
  /** Its type. */
  type: TideErrorType;
  /** The image. */
  imageId: number;
  /** The detection's id (results index + 1); absent for `miss`. */
  detectionId?: number;
  /** The ground truth involved (the missed one, or the one a `cls`/`loc` error would match). */
  gtId?: number;
}

/** What fixing one error type does to AP50. */
export interface TideFix {
  /** How many errors of this kind there are. */
  count: number;
  /** AP50 with these errors fixed by the oracle. */
  fixedAp50: number;
  /** `max(fixedAp50 - ap50, 0)`, TIDE's dAP (it clamps small negative changes to 0). */
  dAp50: number;
}

/** The TIDE breakdown of one evaluation. */
export interface TideReport {
  /** 'bbox' or 'segm'. */
  iouType: IouType;
  /** t_f, 0.5. */
  foregroundIou: number;
  /** t_b, 0.1. */
  backgroundIou: number;
  /** The evaluator's AP50 of the detections as they are. */
  ap50: number;
  /** Per error type: count and the AP50 its oracle fix gains. */
  main: Record<TideErrorType, TideFix>;
  /** TIDE's special errors: every false positive removed (`fp`), every missed ground truth removed (`fn`). */
  special: {
    /** Every false positive removed. */
    fp: TideFix;
    /** Every false negative (missed ground truth) recovered. */
    fn: TideFix;
  };
  /** AP50 with all six error types fixed at once (1 when every category keeps a ground truth). */
  allFixedAp50: number;
  /** Every error, in image order and then detection score order. */
  errors: TideError[];
}

/** Options of {@link tideAnalysis}. */
export interface TideOptions {
  /** t_f (default 0.5). */
  foregroundIou?: number;
  /** t_b (default 0.1). */
  backgroundIou?: number;
}

/** A detection's geometry replaced by a ground truth's, for the oracle's fixes. */
function moveOnto(d: CocoDetection, g: CocoAnnotation, categoryId: number, iouType: IouType, image: { height: number; width: number }): CocoDetection {
  const moved: CocoDetection = { ...d, category_id: categoryId, bbox: [...g.bbox] as CocoDetection['bbox'] };
  if (iouType === 'segm') {
    const rle = annToRle(g, image);
    moved.segmentation = rle as CocoSegmentation;
    moved.area = rleArea(rle);
  } else {
    moved.area = g.bbox[2] * g.bbox[3];
  }
  return moved;
}

/**
 * TIDE's error breakdown at AP50 (see {@link TideErrorType} for the definitions).
 *
 * Matching follows TIDE: per image, detections best score first take the unmatched non-crowd
 * ground truth of their class with the largest IoU `>= t_f` (the evaluator's matching at IoU
 * 0.5, over each image-category's best 100 detections); leftover detections inside a crowd
 * region of their class are ignored. Each remaining false positive is tested in TIDE's order:
 * `loc`, then `cls`, then `dupe`, then `bkg`, else `both`. Ground truths left unmatched and not
 * claimed by a `cls`/`loc` error on them are `miss`.
 *
 * Oracle fixes (TIDE's): a `cls` or `loc` error on a ground truth nobody matched becomes a true
 * positive (its class set to the ground truth's, its box or mask set to the ground truth's, its
 * score kept), only the highest-scoring such error per ground truth, the others removed; `both`,
 * `dupe` and `bkg` errors are removed; `miss` ground truths are removed from the ground truth.
 * Each type is fixed alone and AP50 recomputed with {@link cocoEvaluate} on the same images and
 * categories; dAP is the gain. The special `fp` fix removes every false positive, `fn` every
 * unmatched ground truth.
 *
 * @param gt - the ground truth.
 * @param detections - the detections (from `loadResults`).
 * @param report - their evaluation (its iouType, images, categories and AP50 are used).
 * @param options - thresholds.
 * @returns the breakdown.
 */
export function tideAnalysis(gt: CocoDataset, detections: readonly CocoDetection[], report: CocoEvalReport, options: TideOptions = {}): TideReport {
  const tf = options.foregroundIou ?? 0.5;
  const tb = options.backgroundIou ?? 0.1;
  const { iouType, imgIds, catIds } = report.params;
  const maxDet = report.params.maxDets[report.params.maxDets.length - 1] ?? MAX_DETS_PER_CATEGORY;
  const images = new Map(gt.images.map((im) => [im.id, im]));
  const errors: TideError[] = [];
  /** Per detection id: its error and, for cls/loc, the ground truth it would match. */
  const dtError = new Map<number, { type: TideErrorType; gt?: CocoAnnotation }>();
  /** Per ground-truth id: the highest-scoring cls/loc error on it while unmatched (TIDE's BestGTMatch). */
  const bestFixer = new Map<number, { score: number; detectionId: number }>();
  const missed = new Set<number>();
  const unmatchedGt = new Set<number>();
  const falsePositives = new Set<number>();
  for (const [i, data] of imageData(gt, detections, iouType, imgIds, catIds, maxDet).entries()) {
    const imageId = imgIds[i]!;
    const { dtGt, dtIgnored, gtDt } = cocoMatch(data, tf);
    const regular = data.gts.map((g) => !g.iscrowd);
    const usable = new Array<boolean>(data.gts.length).fill(false);
    const argmax = (d: number, eligible: (g: number) => boolean): number => {
      let m = -1;
      for (let g = 0; g < data.gts.length; g++) if (eligible(g) && (m === -1 || data.iou[d]![g]! > data.iou[d]![m]!)) m = g;
      return m;
    };
    for (let d = 0; d < data.dts.length; d++) {
      if (dtGt[d]! >= 0 || dtIgnored[d]) continue;
      const det = data.dts[d]!;
      falsePositives.add(det.id);
      const add = (type: TideErrorType, g?: number): void => {
        const gtAnn = g === undefined ? undefined : data.gts[g]!;
        errors.push({ type, imageId, detectionId: det.id, ...(gtAnn ? { gtId: gtAnn.id } : {}) });
        dtError.set(det.id, gtAnn ? { type, gt: gtAnn } : { type });
        if ((type === 'cls' || type === 'loc') && g !== undefined && gtDt[g] === -1) {
          usable[g] = true;
          const best = bestFixer.get(gtAnn!.id);
          if (best === undefined || best.score < det.score) bestFixer.set(gtAnn!.id, { score: det.score, detectionId: det.id });
        }
      };
      const iou = (g: number): number => (g === -1 ? 0 : data.iou[d]![g]!);
      if (!regular.some(Boolean)) {
        add('bkg');
        continue;
      }
      const same = argmax(d, (g) => regular[g]! && data.gts[g]!.category_id === det.category_id);
      if (same !== -1 && iou(same) >= tb && iou(same) <= tf) {
        add('loc', same);
        continue;
      }
      const other = argmax(d, (g) => regular[g]! && data.gts[g]!.category_id !== det.category_id);
      if (other !== -1 && iou(other) >= tf) {
        add('cls', other);
        continue;
      }
      const used = argmax(d, (g) => regular[g]! && data.gts[g]!.category_id === det.category_id && gtDt[g] !== -1);
      if (used !== -1 && iou(used) >= tf) {
        add('dupe', used);
        continue;
      }
      const any = argmax(d, (g) => regular[g]!);
      if (iou(any) <= tb) {
        add('bkg');
        continue;
      }
      add('both');
    }
    data.gts.forEach((g, j) => {
      if (!regular[j] || gtDt[j] !== -1) return;
      unmatchedGt.add(g.id);
      if (!usable[j]) {
        missed.add(g.id);
        errors.push({ type: 'miss', imageId, gtId: g.id });
      }
    });
  }

  const evaluate = (dts: readonly CocoDetection[], removeGt: ReadonlySet<number>): number => {
    const g2: CocoDataset = removeGt.size === 0 ? gt : { ...gt, annotations: gt.annotations.filter((a) => !removeGt.has(a.id)) };
    return cocoEvaluate(g2, dts, { iouType, imgIds, catIds }).stats[1]!;
  };
  /** The detections with the errors of `types` fixed. */
  const fixed = (types: ReadonlySet<TideErrorType>): CocoDetection[] => {
    const out: CocoDetection[] = [];
    for (const d of detections) {
      const e = dtError.get(d.id);
      if (e === undefined || !types.has(e.type)) {
        out.push(d);
        continue;
      }
      if ((e.type === 'cls' || e.type === 'loc') && e.gt !== undefined && bestFixer.get(e.gt.id)?.detectionId === d.id) {
        out.push(moveOnto(d, e.gt, e.type === 'cls' ? e.gt.category_id : d.category_id, iouType, images.get(d.image_id)!));
      }
      // otherwise suppressed
    }
    return out;
  };
  const ap50 = report.stats[1]!;
  const fix = (count: number, fixedAp50: number): TideFix => ({ count, fixedAp50, dAp50: Math.max(fixedAp50 - ap50, 0) });
  const countOf = (type: TideErrorType): number => errors.filter((e) => e.type === type).length;
  const main = {} as Record<TideErrorType, TideFix>;
  const none = new Set<number>();
  for (const type of TIDE_ERROR_TYPES) {
    const value = type === 'miss' ? evaluate(detections, missed) : evaluate(fixed(new Set([type])), none);
    main[type] = fix(countOf(type), value);
  }
  const special = {
    fp: fix(
      falsePositives.size,
      evaluate(
        detections.filter((d) => !falsePositives.has(d.id)),
        none,
      ),
    ),
    fn: fix(unmatchedGt.size, evaluate(detections, unmatchedGt)),
  };
  const allFixedAp50 = evaluate(fixed(new Set(TIDE_ERROR_TYPES)), missed);
  return { iouType, foregroundIou: tf, backgroundIou: tb, ap50, main, special, allFixedAp50, errors };
}

/** Long names of the TIDE error types, for tables. */
const TIDE_NAMES: Record<TideErrorType, string> = {
  cls: 'classification',
  loc: 'localisation',
  both: 'cls and loc',
  dupe: 'duplicate',
  bkg: 'background',
  miss: 'missed',
};

/**
 * The TIDE breakdown as Markdown: AP50, then one table row per error type (count, AP50 fixed,
 * dAP50), then the special fp/fn rows.
 *
 * @param tide - from {@link tideAnalysis}.
 * @returns the Markdown text (without a title).
 */
export function tideMarkdown(tide: TideReport): string {
  const f = formatFixed3;
  const lines = [
    `AP50 = ${f(tide.ap50)} (t_f = ${tide.foregroundIou}, t_b = ${tide.backgroundIou}); all six error types fixed: AP50 = ${f(tide.allFixedAp50)}`,
    '',
    '| error | count | AP50 fixed | dAP50 |',
    '|---|---:|---:|---:|',
  ];
  for (const type of TIDE_ERROR_TYPES) {
    const e = tide.main[type];
    lines.push(`| ${type} (${TIDE_NAMES[type]}) | ${e.count} | ${f(e.fixedAp50)} | ${f(e.dAp50)} |`);
  }
  lines.push(`| FP (every false positive removed) | ${tide.special.fp.count} | ${f(tide.special.fp.fixedAp50)} | ${f(tide.special.fp.dAp50)} |`);
  lines.push(`| FN (every missed ground truth removed) | ${tide.special.fn.count} | ${f(tide.special.fn.fixedAp50)} | ${f(tide.special.fn.dAp50)} |`);
  return lines.join('\n');
}

// ----------------------------------------------------------------------------- all together

/** Everything {@link analyzeErrors} computes for one evaluation. */
export interface ErrorAnalysis {
  /** 'bbox' or 'segm'. */
  iouType: IouType;
  /** The evaluation's AP, AP50 and AP75 over all categories (its stats[0..2]). */
  overall: {
    /** AP at IoU 0.50:0.95. */
    ap: number;
    /** AP at IoU 0.50. */
    ap50: number;
    /** AP at IoU 0.75. */
    ap75: number;
  };
  /** Per-category AP, AP50, AP75. */
  perClass: ClassAp[];
  /** Precision-recall curves at IoU 0.5 and averaged over 0.50:0.95. */
  pr: Record<PrIou, PrCurves>;
  /** The confusion matrix at IoU 0.5. */
  confusion: ConfusionMatrix;
  /** The TIDE breakdown at AP50. */
  tide: TideReport;
}

/** Options of {@link analyzeErrors}. */
export interface AnalyzeOptions {
  /** Options of the confusion matrix. */
  confusion?: ConfusionOptions;
  /** Options of the TIDE breakdown. */
  tide?: TideOptions;
}

/**
 * Per-class AP, PR curves, confusion matrix and TIDE breakdown of one evaluation.
 *
 * @param gt - the ground truth the report was computed on.
 * @param detections - the detections it evaluated (from `loadResults`).
 * @param report - the report of `cocoEvaluate(gt, detections, ...)`.
 * @param options - thresholds.
 * @returns the analysis.
 */
export function analyzeErrors(gt: CocoDataset, detections: readonly CocoDetection[], report: CocoEvalReport, options: AnalyzeOptions = {}): ErrorAnalysis {
  return {
    iouType: report.params.iouType,
    overall: { ap: report.stats[0]!, ap50: report.stats[1]!, ap75: report.stats[2]! },
    perClass: perClassAp(report),
    pr: { iou50: prCurves(report, 'iou50'), 'iou50-95': prCurves(report, 'iou50-95') },
    confusion: confusionMatrix(gt, detections, report, options.confusion),
    tide: tideAnalysis(gt, detections, report, options.tide),
  };
}

/**
 * The analysis as plain JSON (what `maskrcnn eval --json --analysis` prints): per-class AP,
 * overall numbers, PR curves (101 precisions each), the confusion matrix and the TIDE numbers
 * (without the list of individual errors).
 *
 * @param analysis - from {@link analyzeErrors}.
 * @returns a JSON-serialisable object.
 */
export function analysisJson(analysis: ErrorAnalysis): Record<string, unknown> {
  const { errors: _errors, ...tide } = analysis.tide;
  const curves = (c: PrCurves): Record<string, unknown> => ({ recall: c.recall, overall: c.overall, perClass: c.perClass });
  return {
    overall: analysis.overall,
    perClass: analysis.perClass,
    pr: { iou50: curves(analysis.pr.iou50), 'iou50-95': curves(analysis.pr['iou50-95']) },
    confusion: analysis.confusion,
    tide,
  };
}

/** Per-class AP of one analysis as a Markdown table with an 'all' row. */
function perClassMarkdown(a: ErrorAnalysis): string {
  const f = formatFixed3;
  const lines = ['| id | class | AP | AP50 | AP75 |', '|---:|---|---:|---:|---:|'];
  for (const c of a.perClass) lines.push(`| ${c.categoryId} | ${mdCell(c.name)} | ${f(c.ap)} | ${f(c.ap50)} | ${f(c.ap75)} |`);
  lines.push(`| | **all** | ${f(a.overall.ap)} | ${f(a.overall.ap50)} | ${f(a.overall.ap75)} |`);
  return lines.join('\n');
}

/**
 * Writes the analyses (one per IoU type) into `dir` (created if missing), each file atomically:
 * `per_class.md`, `confusion.md`, `tide.md` (one section per IoU type), and per IoU type
 * `confusion_<type>.csv`, `confusion_<type>.svg`, `pr_<type>_iou50.svg` and
 * `pr_<type>_iou50-95.svg` (every class's PR curve and the overall one in one chart).
 *
 * @param dir - the output folder.
 * @param analyses - from {@link analyzeErrors}.
 * @returns the paths written.
 */
export function writeAnalysis(dir: string, analyses: readonly ErrorAnalysis[]): string[] {
  makeDirectory(dir, 'writeAnalysis');
  const written: string[] = [];
  const write = (name: string, text: string): void => {
    const path = join(dir, name);
    writeFileAtomic(path, text, 'writeAnalysis');
    written.push(path);
  };
  const sections = (title: string, intro: string, body: (a: ErrorAnalysis) => string): string =>
    [`# ${title}`, '', intro, '', ...analyses.flatMap((a) => [`## ${a.iouType}`, '', body(a), ''])].join('\n');
  write(
    'per_class.md',
    sections('Per-class AP', "AP @[.50:.95], AP50 and AP75 per category (area all, 100 detections per image), from the evaluator's precision table; -1.000: no ground truth.", perClassMarkdown),
  );
  const first = analyses[0]?.confusion;
  write(
    'confusion.md',
    sections(
      'Confusion matrix',
      `Detections scoring >= ${first?.scoreThreshold ?? 0.5} against ground truth at IoU ${first?.iouThreshold ?? 0.5}. Rows: ground-truth class, then 'duplicate' (overlaps an already matched ground truth) and 'background' (overlaps none); columns: predicted class, then 'missed' (ground truths no detection matched). The diagonal (bold) is COCO's true positives; off-diagonal cells are detections matched class-agnostically after COCO's own matching.`,
      (a) => `${confusionMarkdown(a.confusion)}${a.confusion.ignored > 0 ? `\n\n${a.confusion.ignored} detections fell in crowd regions (ignored).` : ''}`,
    ),
  );
  write(
    'tide.md',
    sections(
      'TIDE error breakdown',
      "Bolya et al., ECCV 2020: each false positive or missed ground truth at IoU 0.5 gets one error type; dAP50 is the AP50 gained by fixing only that type with an oracle (recomputed by the evaluator). cls: right place, wrong class (IoU >= 0.5 with another class); loc: right class, IoU in [0.1, 0.5]; both: wrong class and IoU in [0.1, 0.5); dupe: a second detection of a matched ground truth; bkg: IoU <= 0.1 with everything; miss: a ground truth nothing detected.",
      (a) => tideMarkdown(a.tide),
    ),
  );
  for (const a of analyses) {
    write(`confusion_${a.iouType}.csv`, confusionCsv(a.confusion));
    write(`confusion_${a.iouType}.svg`, confusionSvg(a.confusion, `${a.iouType} confusion matrix (IoU ${a.confusion.iouThreshold}, score >= ${a.confusion.scoreThreshold})`));
    write(`pr_${a.iouType}_iou50.svg`, prCurvesSvg(a.pr.iou50, `${a.iouType} precision-recall at IoU 0.5`));
    write(`pr_${a.iouType}_iou50-95.svg`, prCurvesSvg(a.pr['iou50-95'], `${a.iouType} precision-recall, mean over IoU 0.50:0.95`));
  }
  return written;
}

/**
 * A compact text summary of the analyses: per IoU type, the three weakest classes by AP, the
 * confusion totals and TIDE's dAP50 per error type.
 *
 * @param analyses - from {@link analyzeErrors}.
 * @returns the lines joined with line breaks.
 */
export function analysisSummary(analyses: readonly ErrorAnalysis[]): string {
  const f = formatFixed3;
  const lines: string[] = [];
  for (const a of analyses) {
    const weakest = a.perClass
      .filter((c) => c.ap > -1)
      .sort((x, y) => x.ap - y.ap)
      .slice(0, 3)
      .map((c) => `${c.name} ${f(c.ap)}`);
    const t = confusionTotals(a.confusion);
    lines.push(`error analysis (${a.iouType}):`);
    lines.push(`  weakest classes by AP: ${weakest.length > 0 ? weakest.join(', ') : '(none with ground truth)'}`);
    lines.push(
      `  confusion @IoU ${a.confusion.iouThreshold} (score >= ${a.confusion.scoreThreshold}): ${t.correct} correct, ${t.wrongClass} wrong class, ${t.duplicate} duplicate, ${t.background} background, ${t.missed} missed`,
    );
    lines.push(`  TIDE dAP50 (AP50 ${f(a.tide.ap50)}): ${TIDE_ERROR_TYPES.map((type) => `${type} ${f(a.tide.main[type].dAp50)}`).join('  ')}  |  FP ${f(a.tide.special.fp.dAp50)}  FN ${f(a.tide.special.fn.dAp50)}`);
  }
  return lines.join('\n');
}
