/**
 * Detection results in COCO's results format, loaded the way pycocotools' `COCO.loadRes` does.
 *
 * A results file is a JSON array of `{image_id, category_id, score, bbox?, segmentation?}`.
 * Loading turns each entry into a detection with `id = index + 1`, `iscrowd = 0` and an `area`
 * whose rule depends on the branch chosen by the **first** entry (see {@link loadResults}).
 *
 * @module
 */
import { readFileSync } from 'node:fs';
import { annToRle, segmentationProblem, type CocoDataset, type CocoSegmentation } from '../data/coco.js';
import { checkValueDepth, parseJson } from '../../util/limits.js';
import { writeFileAtomic } from '../../util/atomic_write.js';
import { type Bbox, type CompressedRle, rleArea, rleToBbox } from '../data/rle.js';
import { boxProblem, describe, isFiniteNumber, isObject } from '../data/json_checks.js';

/** One entry of a results file, as a detector writes it. */
export interface CocoResult {
  /** The image (must be one of the ground truth's images). */
  image_id: number;
  /** The predicted category (entries of categories unknown to the ground truth are ignored). */
  category_id: number;
  /** Confidence; detections are ranked by it. */
  score: number;
  /** Box `[x, y, width, height]` (bbox results). */
  bbox?: number[];
  /** Mask, usually a compressed RLE (segm results). */
  segmentation?: CocoSegmentation;
  /** Other fields are kept. */
  [field: string]: unknown;
}

/** A loaded detection: a result with the fields `loadRes` adds. */
export interface CocoDetection {
  /** `index + 1` in the results list. */
  id: number;
  /** The image. */
  image_id: number;
  /** The predicted category. */
  category_id: number;
  /** Confidence. */
  score: number;
  /** The box: given, or the mask's `toBbox` for segmentation-only results. */
  bbox: Bbox;
  /**
   * Area used to ignore unmatched detections outside an area range: `w*h` of the box in the
   * bbox branch (even when a segmentation is also given), the mask's pixel count in the
   * segmentation branch.
   */
  area: number;
  /** Always 0. */
  iscrowd: 0;
  /** The mask: given, or the box polygon `[[x1,y1,x1,y2,x2,y2,x2,y1]]` for bbox results. */
  segmentation?: CocoSegmentation;
}

/** Options for {@link loadResults}. */
export interface LoadResultsOptions {
  /** Names the input (usually the file path) at the start of error messages. */
  source?: string;
}

/**
 * Loads detection results against a ground truth with pycocotools `loadRes` semantics.
 *
 * The branch is chosen by the first entry only:
 * - **bbox branch** (the first entry has a non-empty `bbox`): every entry needs a 4-number
 *   `bbox`; `area = w*h`; an entry without `segmentation` gets the box polygon
 *   `[[x1,y1,x1,y2,x2,y2,x2,y1]]`; an entry with one keeps it (so segm evaluation uses the
 *   mask but the area is still the box's).
 * - **segmentation branch** (otherwise, if the first entry has `segmentation`): every entry
 *   needs a `segmentation`; `area` is its pixel count and a missing `bbox` becomes the mask's
 *   `toBbox`.
 *
 * Every `image_id` must be a ground-truth image (pycocotools asserts this). A `category_id`
 * must be a positive integer; entries of a category the ground truth does not have are kept,
 * and the evaluator ignores them as pycocotools does and counts them in its report
 * (`unknownCategories`). Boxes must be 4 finite numbers with width and height not negative,
 * scores finite, and segmentations valid (see `segmentationProblem`), checked before anything
 * is rasterised. The nesting depth is checked before parsing (text) or any walk (an array).
 * An empty list loads as no detections (pycocotools' `loadRes` crashes on it; its evaluator
 * gives AP 0 for no detections). Where pycocotools crashes on missing fields this throws a
 * clear error. Unlike pycocotools, the segmentation branch also accepts uncompressed RLE and
 * polygons (rasterised at the image size), which pycocotools' `area` cannot read.
 *
 * @param gt - the ground truth (for image ids and sizes).
 * @param input - the results: JSON text or an already-parsed array.
 * @param options - `source` names the input in errors.
 * @returns the detections, in input order.
 * @throws an Error naming the source, the JSON path (`results[12].bbox[2]`) and what was wrong.
 */
export function loadResults(gt: CocoDataset, input: string | unknown, options: LoadResultsOptions = {}): CocoDetection[] {
  const prefix = options.source !== undefined ? `${options.source}: ` : '';
  const fail = (message: string): never => {
    throw new Error(`${prefix}${message}`);
  };
  const what = options.source ?? 'results';
  const anns: unknown = typeof input === 'string' ? parseJson(input, what) : input;
  if (typeof input !== 'string') checkValueDepth(input, what);
  if (!Array.isArray(anns)) return fail(`results must be a JSON array of objects, got ${describe(anns)}`);
  // An empty list is a valid evaluation (a model that detects nothing): COCOeval then gives AP 0
  // wherever there is ground truth. pycocotools' loadRes crashes on it (it reads anns[0]).
  if (anns.length === 0) return [];
  const images = new Map(gt.images.map((im) => [im.id, im]));
  const list = anns as unknown[];
  for (let i = 0; i < list.length; i++) {
    const r = list[i];
    const where = `results[${i}]`;
    if (!isObject(r)) return fail(`${where} must be an object, got ${describe(r)}`);
    if (typeof r.image_id !== 'number' || !images.has(r.image_id)) {
      fail(`${where}.image_id is ${describe(r.image_id)}: no image of the ground truth has that id (results do not correspond to this dataset)`);
    }
    if (!Number.isSafeInteger(r.category_id) || (r.category_id as number) <= 0) {
      fail(`${where}.category_id must be a positive integer, got ${describe(r.category_id)}`);
    }
    if (!isFiniteNumber(r.score)) fail(`${where}.score must be a finite number, got ${describe(r.score)}`);
  }
  const first = list[0] as Record<string, unknown>;
  const bboxBranch = 'bbox' in first && !(Array.isArray(first.bbox) && first.bbox.length === 0);
  if (!bboxBranch && !('segmentation' in first)) {
    fail('results[0] has neither a bbox nor a segmentation (only bbox and segm results are supported)');
  }
  const out: CocoDetection[] = new Array(list.length);
  for (let i = 0; i < list.length; i++) {
    const r = list[i] as Record<string, unknown>;
    const where = `results[${i}]`;
    const imageId = r.image_id as number;
    const categoryId = r.category_id as number;
    const score = r.score as number;
    const given = r.bbox;
    const hasSegm = r.segmentation !== undefined;
    if (hasSegm) {
      const problem = segmentationProblem(r.segmentation, `${where}.segmentation`);
      if (problem !== undefined) fail(problem);
    }
    if (bboxBranch) {
      const problem = boxProblem(given, `${where}.bbox`);
      if (problem !== undefined) fail(problem);
      const [x, y, w, h] = given as Bbox;
      // a bbox result without a mask gets the box polygon [[x1,y1,x1,y2,x2,y2,x2,y1]]
      const segmentation = hasSegm ? (r.segmentation as CocoSegmentation) : [[x, y, x, y + h, x + w, y + h, x + w, y]];
      out[i] = { id: i + 1, image_id: imageId, category_id: categoryId, score, bbox: [x, y, w, h], area: w * h, iscrowd: 0, segmentation };
      continue;
    }
    if (!hasSegm) fail(`${where} has no segmentation (results[0] has one and no bbox, so all must)`);
    let rle: CompressedRle;
    try {
      rle = annToRle({ segmentation: r.segmentation }, images.get(imageId)!);
    } catch (error) {
      return fail(`${where}: ${(error as Error).message.replace(/^annotation \S+: /, '')}`);
    }
    let bbox: Bbox;
    // pycocotools keeps a given box (even `[]`, which segm evaluation never reads); an empty
    // one is replaced here by the mask's box, so that every loaded detection has a real box.
    const emptyBox = Array.isArray(given) && given.length === 0;
    if ((given !== undefined || 'bbox' in r) && !emptyBox) {
      const problem = boxProblem(given, `${where}.bbox`);
      if (problem !== undefined) fail(problem);
      bbox = (given as Bbox).slice() as Bbox;
    } else bbox = rleToBbox(rle);
    out[i] = { id: i + 1, image_id: imageId, category_id: categoryId, score, bbox, area: rleArea(rle), iscrowd: 0, segmentation: r.segmentation as CocoSegmentation };
  }
  return out;
}

/**
 * Reads a results file and loads it with {@link loadResults}.
 *
 * @param path - the results JSON file.
 * @param gt - the ground truth.
 * @returns the detections.
 */
export function readResults(path: string, gt: CocoDataset): CocoDetection[] {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    throw new Error(`cannot read results file ${path}: ${(error as Error).message}`);
  }
  return loadResults(gt, text, { source: path });
}

/**
 * Writes detection results as a COCO results JSON array, atomically (temporary file in the
 * same directory, then rename). Each entry needs `image_id`, `category_id`, a finite `score`
 * and a `bbox` (4 finite numbers, width and height not negative) or a valid `segmentation`;
 * a bad entry is an error naming it and nothing is written.
 *
 * @param path - destination file.
 * @param results - the entries to write.
 */
export function writeResults(path: string, results: readonly CocoResult[]): void {
  checkValueDepth(results, `writeResults: ${path}`);
  results.forEach((r, i) => {
    const where = `writeResults: results[${i}]`;
    if (!isObject(r)) throw new Error(`${where} must be an object, got ${describe(r)}`);
    if (typeof r.image_id !== 'number' || typeof r.category_id !== 'number') {
      throw new Error(`${where} needs numeric image_id and category_id`);
    }
    if (!isFiniteNumber(r.score)) throw new Error(`${where}.score must be a finite number, got ${describe(r.score)}`);
    if (r.bbox === undefined && r.segmentation === undefined) throw new Error(`${where} has neither a bbox nor a segmentation`);
    const problem =
      (r.bbox !== undefined ? boxProblem(r.bbox, `${where}.bbox`) : undefined) ??
      (r.segmentation !== undefined ? segmentationProblem(r.segmentation, `${where}.segmentation`) : undefined);
    if (problem !== undefined) throw new Error(problem);
  });
  writeFileAtomic(path, JSON.stringify(results), 'writeResults');
}
