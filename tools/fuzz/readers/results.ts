/**
 * Fuzzed reader: COCO detection results, read as `maskrcnn eval` reads them: `readResults`
 * (which calls `loadResults`) against the COCO seed as ground truth, then `cocoEvaluate` for
 * bbox and segm. An error must name the results file or the evaluation.
 *
 * Oracle (certainly invalid): not JSON or nested deeper than the shared limit; not an array;
 * an entry that is not an object, whose `image_id` is not a ground-truth image, whose
 * `category_id` is not a safe integer, whose score is not a finite number; in the bbox branch
 * (the first entry has a non-empty bbox) an entry without a 4-finite-number bbox of
 * non-negative size; in the segmentation branch an entry without a segmentation, or with a bbox
 * (other than `[]`) that is not such a box; any segmentation that is not a valid polygon list
 * or an RLE of its image's size with counts summing to its pixels; a first entry with neither.
 * An empty list may be valid (an evaluation of nothing: AP 0).
 */
import { basename } from 'node:path';
import { cocoEvaluate, readCoco, readResults, rleEncode, type CocoDataset } from '../../../lib/index.js';
import { type JsonLike, RawJson, deepJson } from '../mutate.js';
import { bboxProblem, brief, isFin, isObj, jsonTextProblem, polygonsProblem, rleProblem } from '../oracle.js';
import { type FuzzCase, type FuzzReader, makeCase, writeSeed } from '../spec.js';
import { cocoSeed } from './coco.js';
import { type DocMutator, generateJsonDoc, withValue } from './json_doc.js';

/** Image id -> [height, width] of the seed ground truth. */
const SIZES = new Map<number, [number, number]>([
  [1, [64, 64]],
  [2, [40, 48]],
]);

/** Why a results document is certainly invalid (see the module comment), or null. */
export function resultsProblem(bytes: Uint8Array): string | null {
  const text = new TextDecoder().decode(bytes);
  const bad = jsonTextProblem(text);
  if (bad !== null) return bad;
  const list = JSON.parse(text) as unknown;
  if (!Array.isArray(list)) return 'the results are not an array';
  if (list.length === 0) return null;
  const first = list[0] as unknown;
  const bboxBranch = isObj(first) && 'bbox' in first && !(Array.isArray(first.bbox) && first.bbox.length === 0);
  for (let i = 0; i < list.length; i++) {
    const r = list[i] as unknown;
    if (!isObj(r)) return `result ${i} is ${brief(r)}`;
    const size = SIZES.get(r.image_id as number);
    if (typeof r.image_id !== 'number' || size === undefined) return `result ${i} has image_id ${brief(r.image_id)}`;
    if (!Number.isSafeInteger(r.category_id)) return `result ${i} has category_id ${brief(r.category_id)}`;
    if (!isFin(r.score)) return `result ${i} has score ${brief(r.score)}`;
    if (bboxBranch || (r.bbox !== undefined && !(Array.isArray(r.bbox) && r.bbox.length === 0))) {
      const box = bboxProblem(r.bbox);
      if (box !== null) return `result ${i}: ${box}`;
    }
    if (!bboxBranch && !('segmentation' in r)) return `result ${i} has no segmentation (segmentation branch)`;
    if ('segmentation' in r) {
      const s = Array.isArray(r.segmentation) ? polygonsProblem(r.segmentation) : rleProblem(r.segmentation, size[0], size[1]);
      if (s !== null) return `result ${i}: ${s}`;
    }
  }
  return null;
}

function seeds(): JsonLike[] {
  const disk = (h: number, w: number, cx: number, cy: number, r: number): string => {
    const m = new Uint8Array(h * w);
    for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) m[y * w + x] = (x - cx) ** 2 + (y - cy) ** 2 < r * r ? 1 : 0;
    return rleEncode(m, h, w).counts;
  };
  const bbox: JsonLike = [
    { image_id: 1, category_id: 1, bbox: [9.5, 11, 21, 29.5], score: 0.9 },
    { image_id: 1, category_id: 2, bbox: [34, 10, 20, 20], score: 0.8, segmentation: { size: [64, 64], counts: disk(64, 64, 44, 20, 10) } },
    { image_id: 2, category_id: 3, bbox: [5, 5, 20, 25], score: 0.4 },
    { image_id: 2, category_id: 7, bbox: [0, 0, 4, 4], score: 0.1 },
  ];
  const segm: JsonLike = [
    { image_id: 1, category_id: 2, segmentation: { size: [64, 64], counts: disk(64, 64, 44, 20, 9) }, score: 0.7 },
    { image_id: 2, category_id: 1, segmentation: [[31, 21, 47, 21, 47, 39, 31, 39]], score: 0.6 },
    { image_id: 2, category_id: 3, segmentation: { size: [40, 48], counts: disk(40, 48, 12, 18, 6) }, bbox: [], score: 0.3 },
  ];
  return [bbox, segm];
}

const TARGETED: Readonly<Record<string, DocMutator>> = {
  negativeBox(doc, rng) {
    const list = doc as unknown as Array<Record<string, JsonLike>>;
    const r = list[rng.int(list.length)]!;
    r.bbox = [1, 1, rng.pick([-5, -0.5, 3]), rng.pick([-5, 4, -1e308])];
    return `result bbox = ${JSON.stringify(r.bbox)}`;
  },
  giantRle(doc, rng) {
    const list = doc as unknown as Array<Record<string, JsonLike>>;
    const [h, w] = rng.pick([[40000, 40000], [100000, 65536], [65536, 65536]] as const);
    list[rng.int(list.length)]!.segmentation = { size: [h, w], counts: [0, h * w] };
    return `a segmentation of size [${h}, ${w}]`;
  },
  score(doc, rng) {
    const list = doc as unknown as Array<Record<string, JsonLike>>;
    const v = rng.pick([NaN, Infinity, -1, 1e308, '0.5']);
    list[rng.int(list.length)]!.score = v;
    return `a score = ${String(v)}`;
  },
};

/** The results reader. */
export const resultsReader: FuzzReader = {
  name: 'results',
  title: 'COCO results (`loadResults`)',
  prepare(dir) {
    const gtPath = writeSeed(dir, 'gt.json', JSON.stringify(cocoSeed(`${dir}/images`)));
    return { gtPath, seeds: seeds() };
  },
  seeds(ctx) {
    return (ctx.seeds as JsonLike[]).map((s, i) => makeCase(`seed:${i}`, `seed-${i}.json`, JSON.stringify(s), 'seed', `seed ${i}`, resultsProblem));
  },
  generate(ctx, rng, index) {
    return generateJsonDoc('results', index, ctx.seeds as JsonLike[], TARGETED, rng, resultsProblem);
  },
  regressions(ctx): FuzzCase[] {
    const [bbox, segm] = ctx.seeds as JsonLike[];
    const r = (name: string, doc: JsonLike, at: Array<string | number>, value: JsonLike, note: string): FuzzCase =>
      makeCase(`regression:${name}`, `${name}.json`, withValue(doc!, at, value), 'regression', note, resultsProblem);
    return [
      r('results-deep-segmentation', segm!, [0, 'segmentation'], new RawJson(deepJson(100_000, 'array')), 'a segmentation nested 100,000 deep (stack overflow)'),
      r('results-negative-box', bbox!, [0, 'bbox'], [10, 10, -5, -3], 'a box with negative width and height (negative area)'),
    ];
  },
  run(path, ctx) {
    const gt = (gtCache ??= readCoco(ctx.gtPath as string));
    const detections = readResults(path, gt);
    cocoEvaluate(gt, detections, { iouType: 'bbox' });
    cocoEvaluate(gt, detections, { iouType: 'segm' });
    return null;
  },
  names: (path) => [basename(path), 'cocoEvaluate', 'evaluat'],
};

let gtCache: CocoDataset | undefined;
