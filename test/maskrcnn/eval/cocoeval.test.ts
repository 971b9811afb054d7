import test from 'tape';
import { parseCoco, type CocoAnnotation, type CocoDataset } from '../../../lib/maskrcnn/data/coco.js';
import { rleEncode, rleFromBbox } from '../../../lib/maskrcnn/data/rle.js';
import {
  AREA_RANGES,
  EPS,
  IOU_THRESHOLDS,
  MAX_DETS,
  RECALL_THRESHOLDS,
  argsortDescending,
  cocoEvaluate,
  evaluateImage,
  formatFixed3,
  formatSummary,
  numpySum,
  type CocoEvalReport,
  type IouType,
} from '../../../lib/maskrcnn/eval/cocoeval.js';
import { loadResults, type CocoResult } from '../../../lib/maskrcnn/eval/results.js';

type Box = [number, number, number, number];

let nextId = 1;
/** A ground-truth box with its polygon; `area` defaults to w*h. */
function gt(imageId: number, categoryId: number, bbox: Box, extra: Partial<CocoAnnotation> = {}): CocoAnnotation {
  const [x, y, w, h] = bbox;
  return {
    id: nextId++,
    image_id: imageId,
    category_id: categoryId,
    bbox,
    area: w * h,
    iscrowd: 0,
    segmentation: [[x, y, x + w, y, x + w, y + h, x, y + h]],
    ...extra,
  };
}

function dataset(images: number[], annotations: CocoAnnotation[], size = 400): CocoDataset {
  return parseCoco({
    images: images.map((id) => ({ id, width: size, height: size })),
    categories: [
      { id: 1, name: 'one' },
      { id: 2, name: 'two' },
      { id: 3, name: 'three' },
    ],
    annotations,
  });
}

function det(imageId: number, categoryId: number, bbox: Box, score: number): CocoResult {
  return { image_id: imageId, category_id: categoryId, bbox, score };
}

function evaluate(g: CocoDataset, results: CocoResult[], iouType: IouType = 'bbox'): CocoEvalReport {
  return cocoEvaluate(g, loadResults(g, results), { iouType });
}

function close(t: test.Test, actual: number, expected: number, message: string, tol = 1e-12): void {
  t.ok(Math.abs(actual - expected) <= tol, `${message} (${actual} vs ${expected})`);
}

function statsClose(t: test.Test, actual: number[], expected: number[], message: string): void {
  const ok = actual.length === 12 && actual.every((v, i) => Math.abs(v - expected[i]!) <= 1e-12);
  t.ok(ok, `${message}: [${actual.map((v) => v.toFixed(6)).join(', ')}]`);
}

/** Deterministic pseudo-random numbers in [0, 1) (LCG). */
function lcg(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 4294967296;
  };
}

test('thresholds are numpy linspace doubles (0.8999999999999999, 0.35000000000000003, ...)', (t) => {
  const step = (0.95 - 0.5) / 9;
  t.deepEqual(IOU_THRESHOLDS, [...Array.from({ length: 9 }, (_, k) => k * step + 0.5), 0.95], 'iouThrs = k*step + start, last = stop');
  t.equal(IOU_THRESHOLDS[8], 0.8999999999999999, 'the ninth threshold');
  t.equal(RECALL_THRESHOLDS.length, 101, '101 recall thresholds');
  t.ok(RECALL_THRESHOLDS.every((v, k) => v === (k === 100 ? 1 : k * 0.01)), 'recThrs[k] = k * 0.01');
  const above = RECALL_THRESHOLDS.flatMap((v, k) => (v > k / 100 ? [k] : []));
  t.deepEqual(above, [35, 41, 47, 57, 69, 70, 82, 83, 94, 95], 'the ten thresholds above k/100');
  t.deepEqual(MAX_DETS, [1, 10, 100], 'maxDets');
  t.deepEqual(AREA_RANGES, [[0, 1e10], [0, 1024], [1024, 9216], [9216, 1e10]], 'area ranges');
  t.equal(EPS, 2 ** -52, 'eps = np.spacing(1)');
  t.equal(1 / (0 + 1 + EPS), 0.9999999999999998, 'tp=1, fp=0 gives 0.9999999999999998');
  t.end();
});

test('perfect detections give 1.0 for bbox and segm (every area range has 2+ ground truths)', (t) => {
  nextId = 1;
  const anns = [
    gt(1, 1, [0, 0, 10, 10]),
    gt(1, 1, [20, 0, 10, 10]),
    gt(1, 1, [0, 50, 40, 40]),
    gt(1, 1, [50, 50, 40, 40]),
    gt(1, 1, [100, 100, 100, 100]),
    gt(2, 1, [0, 100, 99, 99]),
    gt(2, 2, [200, 200, 150, 150]),
    gt(2, 2, [10, 10, 120, 120]),
  ];
  const g = dataset([1, 2, 3], anns);
  const results = anns.map((a, i) => det(a.image_id, a.category_id, a.bbox, 0.5 + i / 100));
  // AR1 keeps one detection per image: category 1 finds 2 of its 6, category 2 1 of its 2.
  const expected = [1, 1, 1, 1, 1, 1, (2 / 6 + 1 / 2) / 2, 1, 1, 1, 1, 1];
  const bbox = evaluate(g, results, 'bbox');
  statsClose(t, bbox.stats, expected, 'bbox stats 1 (AR1 = 5/12)');
  // segm: detections as compressed RLE masks of the same boxes
  const segmResults: CocoResult[] = anns.map((a, i) => ({
    image_id: a.image_id,
    category_id: a.category_id,
    score: 0.5 + i / 100,
    segmentation: rleFromBbox(a.bbox, 400, 400),
  }));
  const segm = evaluate(g, segmResults, 'segm');
  statsClose(t, segm.stats, expected, 'segm stats 1 (AR1 = 5/12)');
  t.deepEqual(segm.stats.filter((_, i) => i !== 6), Array<number>(11).fill(1), 'exactly 1');
  t.deepEqual(segm.perCategory.map((c) => c.ap), [1, 1, -1], 'per-category AP; category 3 has no ground truth: -1');
  t.end();
});

test('a known TP/FP mix: precision and recall by hand', (t) => {
  nextId = 1;
  // 3 large ground truths; detections best-first: TP (GT1), FP, TP (GT2); GT3 missed.
  const anns = [gt(1, 1, [0, 0, 100, 100]), gt(1, 1, [200, 0, 100, 100]), gt(1, 1, [0, 200, 100, 100])];
  const g = dataset([1], anns);
  const results = [det(1, 1, [0, 0, 100, 100], 0.9), det(1, 1, [200, 200, 100, 100], 0.8), det(1, 1, [200, 0, 100, 100], 0.7)];
  const r = evaluate(g, results);
  // tp = [1,1,2], fp = [0,1,1]; rc = [1/3,1/3,2/3]; pr = [1/(1+eps), 1/2, 2/3] -> monotone
  // [1/(1+eps), 2/3, 2/3]. recThrs 0..0.33 -> pr[0] (34 points), 0.34..0.66 -> 2/3 (33 points),
  // 0.67..1 -> 0. AP = (34 * 0.9999999999999998 + 33 * 2/3) / 101 ~ 56/101.
  const [T, R, K, A, M] = r.accumulation.counts;
  t.deepEqual([T, R, K, A, M], [10, 101, 3, 4, 3], 'table dimensions');
  const p = (tt: number, rr: number): number => r.accumulation.precision[(((tt * R + rr) * K + 0) * A + 0) * M + 2]!;
  t.equal(p(0, 0), 0.9999999999999998, 'precision at recall 0: 1/(1+eps)');
  t.equal(p(0, 33), 0.9999999999999998, 'precision at recall 0.33');
  t.equal(p(0, 34), 2 / 3, 'precision at recall 0.34');
  t.equal(p(9, 66), 2 / 3, 'precision at recall 0.66 (IoU 0.95)');
  t.equal(p(0, 67), 0, 'recall 0.67 is never reached: 0');
  const ap = (34 * 0.9999999999999998 + 33 * (2 / 3)) / 101;
  statsClose(t, r.stats, [ap, ap, ap, -1, -1, ap, 1 / 3, 2 / 3, 2 / 3, -1, -1, 2 / 3], 'the 12 stats');
  close(t, r.stats[0]!, 56 / 101, 'AP ~ 56/101', 1e-15);
  t.end();
});

test('one ground truth, one perfect detection: AP is exactly 0.9999999999999998 (the eps)', (t) => {
  nextId = 1;
  const g = dataset([1], [gt(1, 1, [10, 10, 100, 100])]);
  const r = evaluate(g, [det(1, 1, [10, 10, 100, 100], 1)]);
  const defined = Array.from(r.accumulation.precision).filter((v) => v > -1);
  t.ok(defined.length > 0 && defined.every((v) => v === 0.9999999999999998), 'every defined precision is 1/(1+eps)');
  t.equal(r.stats[0], 0.9999999999999998, 'AP');
  t.equal(r.stats[5], 0.9999999999999998, 'AP large');
  t.equal(r.stats[8], 1, 'AR100 is exactly 1');
  t.end();
});

test('recall of exactly 0.35 does not reach recall threshold 0.35000000000000003', (t) => {
  nextId = 1;
  const anns = Array.from({ length: 20 }, (_, i) => gt(1, 1, [(i % 5) * 20, Math.floor(i / 5) * 20, 10, 10]));
  const g = dataset([1], anns);
  const results = anns.slice(0, 7).map((a, i) => det(1, 1, a.bbox, 1 - i / 100));
  const r = evaluate(g, results);
  t.equal(r.stats[8], 0.35, 'AR100 = 7/20 = 0.35');
  t.equal(r.stats[0], 35 / 101, 'AP = 35/101: thresholds 0..0.34 reached, 0.35000000000000003 not (36/101 otherwise)');
  t.end();
});

test('crowd regions: detections inside are ignored, not false positives', (t) => {
  nextId = 1;
  const anns = [gt(1, 1, [0, 0, 50, 50]), gt(1, 1, [300, 300, 50, 50]), gt(1, 1, [100, 100, 150, 150], { iscrowd: 1 })];
  const results = [
    det(1, 1, [0, 0, 50, 50], 0.9),
    det(1, 1, [110, 110, 20, 20], 0.85),
    det(1, 1, [150, 150, 30, 30], 0.8),
    det(1, 1, [300, 300, 50, 50], 0.7),
  ];
  const crowd = evaluate(dataset([1], anns), results);
  t.deepEqual(crowd.stats.slice(0, 3), [1, 1, 1], 'crowd absorbs both detections: AP 1');
  t.equal(crowd.stats[8], 1, 'AR 1: the crowd region is not a ground truth to find');
  nextId = 1;
  const notCrowd = [gt(1, 1, [0, 0, 50, 50]), gt(1, 1, [300, 300, 50, 50]), gt(1, 1, [100, 100, 150, 150])];
  const plain = evaluate(dataset([1], notCrowd), results);
  t.ok(plain.stats[0]! < 0.7, `as a regular ground truth the two become false positives (AP ${plain.stats[0]!.toFixed(3)})`);
  // an 'ignore' field in the file is overwritten by iscrowd (pycocotools)
  nextId = 1;
  const flagged = [gt(1, 1, [0, 0, 50, 50], { ignore: 1 }), gt(1, 1, [300, 300, 50, 50]), gt(1, 1, [100, 100, 150, 150], { iscrowd: 1, ignore: 0 })];
  t.deepEqual(evaluate(dataset([1], flagged), results).stats, crowd.stats, "a file's 'ignore' field changes nothing");
  // segm: the crowd RLE (uncompressed, as in COCO files) is used with its own size
  nextId = 1;
  const mask = new Uint8Array(400 * 400);
  for (let y = 100; y < 250; y++) for (let x = 100; x < 250; x++) mask[y * 400 + x] = 1;
  const un = { size: [400, 400] as [number, number], counts: [] as number[] };
  let prev = 0;
  let run = 0;
  for (let x = 0; x < 400; x++) {
    for (let y = 0; y < 400; y++) {
      const v = mask[y * 400 + x]!;
      if (v !== prev) {
        un.counts.push(run);
        run = 0;
        prev = v;
      }
      run++;
    }
  }
  un.counts.push(run);
  const segAnns = [gt(1, 1, [0, 0, 50, 50]), gt(1, 1, [300, 300, 50, 50]), gt(1, 1, [100, 100, 150, 150], { iscrowd: 1, segmentation: un })];
  t.deepEqual(evaluate(dataset([1], segAnns), results, 'segm').stats.slice(0, 3), [1, 1, 1], 'segm with an uncompressed crowd RLE');
  t.end();
});

test('evaluateImage: ties go to the later ground truth; regular matches never switch to crowd', (t) => {
  const area = 5000;
  const gts = [
    { id: 11, area, iscrowd: 0 },
    { id: 12, area, iscrowd: 0 },
  ];
  const one = [{ id: 1, area, score: 1 }];
  const tie = evaluateImage(1, 1, gts, one, [[0.7, 0.7]], [0, 1e10], 100)!;
  t.equal(tie.dtMatches[0], 12, 'IoU tie at t=0.5 -> the later ground truth');
  t.equal(tie.gtMatches[0 * 2 + 1], 1, 'and the later ground truth records the detection');
  t.equal(tie.dtMatches[4], 12, 't=0.7: 0.7 >= 0.7 still matches');
  t.equal(tie.dtMatches[5], 0, 't=0.75: no match');
  // regular first, crowd second: with IoU 0.6 to the regular and 1.0 to the crowd, the scan
  // stops at the crowd while it holds the regular match (t <= 0.6); above, it takes the crowd.
  const crowd = evaluateImage(1, 1, [{ id: 21, area, iscrowd: 0 }, { id: 22, area, iscrowd: 1 }], one, [[0.6, 1.0]], [0, 1e10], 100)!;
  t.deepEqual(Array.from(crowd.dtMatches), [21, 21, 21, 22, 22, 22, 22, 22, 22, 22], 'matched ids per threshold');
  t.deepEqual(Array.from(crowd.dtIgnore), [0, 0, 0, 1, 1, 1, 1, 1, 1, 1], 'matched to the crowd -> ignored');
  // a crowd region absorbs any number of detections; a regular one only one
  const two = [
    { id: 1, area, score: 0.9 },
    { id: 2, area, score: 0.8 },
  ];
  const absorb = evaluateImage(1, 1, [{ id: 31, area, iscrowd: 1 }], two, [[1], [1]], [0, 1e10], 100)!;
  t.deepEqual([absorb.dtMatches[0], absorb.dtMatches[1]], [31, 31], 'both detections matched to the crowd');
  const once = evaluateImage(1, 1, [{ id: 41, area, iscrowd: 0 }], two, [[0.9], [0.9]], [0, 1e10], 100)!;
  t.deepEqual([once.dtMatches[0], once.dtMatches[1]], [41, 0], 'a regular ground truth matches once');
  // ignored ground truths are sorted last (stably)
  const order = evaluateImage(1, 1, [{ id: 51, area, iscrowd: 1 }, { id: 52, area, iscrowd: 0 }, { id: 53, area: 10, iscrowd: 0 }], one, [[0, 0, 0]], [1024, 9216], 100)!;
  t.deepEqual(order.gtIds, [52, 51, 53], 'non-ignored first, then file order');
  t.deepEqual(Array.from(order.gtIgnore), [0, 1, 1], 'ignore flags: crowd, area out of range');
  t.equal(evaluateImage(1, 1, [], [], [], [0, 1e10], 100), null, 'no ground truth and no detection -> null');
  t.end();
});

test('evaluateImage: area rules for detections; the maxDet cut', (t) => {
  const gts = [{ id: 1, area: 2000, iscrowd: 0 }];
  const dts = [
    { id: 1, area: 50, score: 0.9 }, // unmatched, small: ignored in the medium range
    { id: 2, area: 2000, score: 0.8 }, // unmatched, medium: a false positive
    { id: 3, area: 20000, score: 0.7 }, // matches the medium ground truth although its own area is large
  ];
  const e = evaluateImage(1, 1, gts, dts, [[0], [0], [0.9]], [1024, 9216], 100)!;
  t.deepEqual([e.dtIgnore[0], e.dtIgnore[1], e.dtIgnore[2]], [1, 0, 0], 'only unmatched out-of-range detections are ignored');
  t.equal(e.dtMatches[2], 1, 'the large detection matched');
  const outGt = evaluateImage(1, 1, [{ id: 7, area: 50, iscrowd: 0 }], [{ id: 1, area: 2000, score: 1 }], [[0.9]], [1024, 9216], 100)!;
  t.equal(outGt.dtIgnore[0], 1, 'a detection matched to an out-of-range ground truth is ignored');
  const many = Array.from({ length: 101 }, (_, i) => ({ id: i + 1, area: 100, score: 1 - i / 1000 }));
  const cut = evaluateImage(1, 1, [], many, [], [0, 1e10], 100)!;
  t.equal(cut.dtIds.length, 100, 'at most maxDet detections kept');
  t.equal(cut.dtIds[99], 100, 'the lowest-scored one is dropped');
  t.end();
});

test('area ranges use the ground truth area field; area 1024 is both small and medium', (t) => {
  nextId = 1;
  const anns = [gt(1, 1, [0, 0, 32, 32]), gt(1, 1, [100, 0, 32, 32])];
  t.equal(anns[0]!.area, 1024, 'area 1024');
  const r = evaluate(dataset([1], anns), anns.map((a, i) => det(1, 1, a.bbox, 0.9 - i / 10)));
  t.deepEqual([r.stats[3], r.stats[4], r.stats[5]], [1, 1, -1], 'APs = APm = 1, APl = -1');
  t.deepEqual([r.stats[9], r.stats[10], r.stats[11]], [1, 1, -1], 'ARs = ARm = 1, ARl = -1');
  nextId = 1;
  // a 10x10 box whose area field says 5000: it is medium, for bbox and segm alike
  const field = [gt(1, 1, [0, 0, 10, 10], { area: 5000 }), gt(1, 1, [50, 0, 10, 10], { area: 5000 })];
  for (const iouType of ['bbox', 'segm'] as const) {
    const f = evaluate(dataset([1], field), field.map((a, i) => det(1, 1, a.bbox, 0.9 - i / 10)), iouType);
    t.deepEqual([f.stats[3], f.stats[4], f.stats[5]], [-1, 1, -1], `${iouType}: the area field decides (medium)`);
  }
  nextId = 1;
  // an unmatched small detection on top is a false positive for 'all' but ignored for 'medium'
  const med = [gt(1, 1, [0, 0, 45, 45]), gt(1, 1, [100, 100, 45, 45])];
  const withFp = [det(1, 1, [300, 300, 5, 5], 0.99), ...med.map((a, i) => det(1, 1, a.bbox, 0.9 - i / 10))];
  const m = evaluate(dataset([1], med), withFp);
  t.ok(m.stats[0]! < 1, `'all' counts the small false positive (AP ${m.stats[0]!.toFixed(3)})`);
  t.equal(m.stats[4], 1, "'medium' ignores it: APm = 1");
  t.equal(m.stats[3], -1, "'small' has no ground truth: -1");
  t.end();
});

test('maxDets 1/10/100 and the per-image cut at 100', (t) => {
  nextId = 1;
  const anns = [gt(1, 1, [0, 0, 50, 50]), gt(1, 1, [100, 0, 50, 50])];
  const r = evaluate(dataset([1], anns), [det(1, 1, [300, 300, 50, 50], 0.9), det(1, 1, [0, 0, 50, 50], 0.8), det(1, 1, [100, 0, 50, 50], 0.7)]);
  t.deepEqual([r.stats[6], r.stats[7], r.stats[8]], [0, 1, 1], 'AR1 = 0 (the top detection is a false positive), AR10 = AR100 = 1');
  nextId = 1;
  const single = [gt(1, 1, [0, 0, 10, 10])];
  const fps = (n: number): CocoResult[] => Array.from({ length: n }, (_, i) => det(1, 1, [200 + (i % 10) * 15, 200 + Math.floor(i / 10) * 15, 10, 10], 0.9 - i / 10000));
  const keep = evaluate(dataset([1], single), [...fps(99), det(1, 1, [0, 0, 10, 10], 0.1)]);
  const drop = evaluate(dataset([1], single), [...fps(100), det(1, 1, [0, 0, 10, 10], 0.1)]);
  t.equal(keep.stats[8], 1, '99 false positives + the match: found at 100');
  t.equal(drop.stats[8], 0, '100 higher-scored false positives push the match past 100');
  t.end();
});

test('-1 for categories without ground truth; 0 with ground truth but no detections', (t) => {
  nextId = 1;
  const anns = [gt(1, 1, [0, 0, 50, 50]), gt(1, 1, [100, 0, 50, 50]), gt(2, 2, [0, 0, 50, 50])];
  const results = [det(1, 1, [0, 0, 50, 50], 0.9), det(1, 1, [100, 0, 50, 50], 0.8), det(2, 3, [0, 0, 50, 50], 0.9), det(2, 99, [0, 0, 50, 50], 0.9)];
  const r = evaluate(dataset([1, 2], anns), results);
  const [c1, c2, c3] = r.perCategory;
  t.equal(c1!.ap, 1, 'category 1: found');
  t.equal(c2!.ap, 0, 'category 2: ground truth, no detection -> 0');
  t.deepEqual(c2!.stats.slice(6, 9), [0, 0, 0], 'its recalls are 0');
  t.deepEqual(c3!.stats, Array<number>(12).fill(-1), 'category 3: detections but no ground truth -> all -1');
  t.equal(r.stats[0], 0.5, 'AP is the mean over defined categories (1 and 0)');
  t.equal(r.stats[3], -1, 'no small ground truth anywhere: -1');
  const mean = (r.perCategory.map((c) => c.ap).filter((v) => v > -1) as number[]).reduce((a, b) => a + b, 0) / 2;
  close(t, r.stats[0]!, mean, 'stats[0] = mean of per-category AP');
  t.deepEqual(r.stats, evaluate(dataset([1, 2], anns), results.slice(0, 3)).stats, 'an unknown category (99) is ignored, as pycocotools does');
  t.deepEqual(r.unknownCategories, { detections: 1, ids: [99] }, 'and counted in the report');
  t.deepEqual(evaluate(dataset([1, 2], anns), results.slice(0, 3)).unknownCategories, { detections: 0, ids: [] }, 'none counted when every category is known');
  t.end();
});

test('no detections at all: AP and AR 0 where there is ground truth, -1 where an area range has none', (t) => {
  nextId = 1;
  // ground truth of category 1 only, all medium-sized (32^2 < area <= 96^2)
  const g = dataset([1, 2], [gt(1, 1, [0, 0, 50, 50]), gt(2, 1, [10, 10, 40, 60])]);
  for (const iouType of ['bbox', 'segm'] as const) {
    const r = cocoEvaluate(g, loadResults(g, []), { iouType });
    // AP, AP50, AP75, APs, APm, APl, AR1, AR10, AR100, ARs, ARm, ARl
    t.deepEqual(r.stats, [0, 0, 0, -1, 0, -1, 0, 0, 0, -1, 0, -1], `${iouType}: 0 with ground truth, -1 for the empty small and large ranges`);
    t.deepEqual(r.perCategory.map((c) => c.ap), [0, -1, -1], `${iouType}: category 1 has ground truth (0); 2 and 3 have none (-1)`);
  }
  t.end();
});

test('matching id quirk: a ground truth with id 0 counts as unmatched (pycocotools tests dtm != 0)', (t) => {
  const g = parseCoco({
    images: [{ id: 1, width: 100, height: 100 }],
    categories: [{ id: 1, name: 'a' }],
    annotations: [{ id: 0, image_id: 1, category_id: 1, bbox: [0, 0, 50, 50], area: 2500, iscrowd: 0 }],
  });
  const r = evaluate(g, [det(1, 1, [0, 0, 50, 50], 1)]);
  t.equal(r.stats[0], 0, 'AP 0, as pycocotools gives');
  t.end();
});

test('bbox results evaluated as segm use their box polygon; a mask of another size never matches', (t) => {
  nextId = 1;
  const anns = [gt(1, 1, [10, 10, 60, 60]), gt(1, 1, [100, 100, 60, 60])];
  const g = dataset([1], anns);
  const r = evaluate(g, anns.map((a, i) => det(1, 1, a.bbox, 0.9 - i / 10)), 'segm');
  t.deepEqual(r.stats.slice(0, 3), [1, 1, 1], 'box polygons rasterise like the ground-truth polygons');
  // a detection mask of size 300x300 over a 400x400 image: IoU -1 -> unmatched
  const wrong: CocoResult[] = [
    { image_id: 1, category_id: 1, score: 0.9, segmentation: rleFromBbox([10, 10, 60, 60], 300, 300) },
    { image_id: 1, category_id: 1, score: 0.8, segmentation: rleFromBbox([100, 100, 60, 60], 400, 400) },
  ];
  const w = evaluate(g, wrong, 'segm');
  t.equal(w.stats[8], 0.5, 'only the correctly sized mask is found');
  t.end();
});

test('segm: polygons vs RLE masks, partial overlap', (t) => {
  nextId = 1;
  const anns = [gt(1, 1, [0, 0, 20, 10]), gt(1, 1, [50, 50, 10, 10])];
  const g = dataset([1], anns, 100);
  // mask covering the left 14 of the 20 columns of the first box: IoU 140/200 = 0.7
  const m = new Uint8Array(100 * 100);
  for (let y = 0; y < 10; y++) for (let x = 0; x < 14; x++) m[y * 100 + x] = 1;
  const results: CocoResult[] = [
    { image_id: 1, category_id: 1, score: 0.9, segmentation: rleEncode(m, 100, 100) },
    { image_id: 1, category_id: 1, score: 0.8, segmentation: rleFromBbox([50, 50, 10, 10], 100, 100) },
  ];
  const r = evaluate(g, results, 'segm');
  // thresholds 0.5..0.7 (5 of 10): both matched -> AP 1; above: only the second -> rc 0 then 0.5
  // with pr [0, 0.5]: monotone [0.5, 0.5]: recall points 0..0.5 (51) at 0.5 -> AP 25.5/101.
  const expected = (5 * 1 + 5 * ((51 * 0.5) / 101)) / 10;
  close(t, r.stats[0]!, expected, 'AP from 5 thresholds at 1 and 5 at 25.5/101');
  t.equal(r.stats[1], 1, 'AP50 = 1');
  close(t, r.stats[2]!, (51 * 0.5) / 101, 'AP75 = 25.5/101');
  t.end();
});

test('stats do not depend on image order or on result order (ties within an image kept)', (t) => {
  const rand = lcg(2024);
  nextId = 1;
  const anns: CocoAnnotation[] = [];
  const results: CocoResult[] = [];
  const images = [3, 8, 1, 5, 12, 7];
  for (const im of images) {
    for (let n = 0; n < 8; n++) {
      const cat = 1 + Math.floor(rand() * 3);
      const w = 8 + Math.floor(rand() * 120);
      const h = 8 + Math.floor(rand() * 120);
      const box: Box = [Math.floor(rand() * 250), Math.floor(rand() * 250), w, h];
      anns.push(gt(im, cat, box, { iscrowd: rand() < 0.1 ? 1 : 0 }));
      if (rand() < 0.8) {
        const j = (): number => (rand() - 0.5) * 0.3;
        const jittered: Box = [box[0] + j() * w, box[1] + j() * h, w * (1 + j()), h * (1 + j())];
        results.push(det(im, rand() < 0.9 ? cat : 1 + Math.floor(rand() * 3), jittered, Math.round(rand() * 5) / 5));
      }
      if (rand() < 0.4) results.push(det(im, cat, [rand() * 300, rand() * 300, 5 + rand() * 80, 5 + rand() * 80], Math.round(rand() * 5) / 5));
    }
  }
  const base = evaluate(dataset(images, anns), results);
  t.ok(base.stats[0]! > 0 && base.stats[0]! < 1, `a non-trivial AP (${base.stats[0]!.toFixed(4)})`);

  /** Shuffles `items` but keeps the relative order of items with the same key. */
  function shuffleKeeping<T>(items: T[], key: (x: T) => string): T[] {
    const order = items.map((_, i) => i);
    for (let i = order.length - 1; i > 0; i--) {
      const j = Math.floor(rand() * (i + 1));
      [order[i], order[j]] = [order[j]!, order[i]!];
    }
    const shuffled = order.map((i) => items[i]!);
    const groups = new Map<string, T[]>();
    for (const x of items) groups.set(key(x), [...(groups.get(key(x)) ?? []), x]);
    const used = new Map<string, number>();
    return shuffled.map((x) => {
      const k = key(x);
      const n = used.get(k) ?? 0;
      used.set(k, n + 1);
      return groups.get(k)![n]!;
    });
  }
  for (let trial = 0; trial < 3; trial++) {
    // results: order matters only among equal scores in the same image and category
    const res2 = shuffleKeeping(results, (r) => `${r.image_id}|${r.category_id}|${r.score}`);
    // ground truth: images in any order; annotations keep their order within image and category
    const anns2 = shuffleKeeping(anns, (a) => `${a.image_id}|${a.category_id}`);
    const g2 = parseCoco({ ...dataset(images, anns2), images: shuffleKeeping(dataset(images, anns).images, (im) => String(im.id)) });
    const other = evaluate(g2, res2);
    t.deepEqual(other.stats, base.stats, `trial ${trial}: identical stats`);
    t.deepEqual(
      other.perCategory.map((c) => c.stats),
      base.perCategory.map((c) => c.stats),
      `trial ${trial}: identical per-category stats`,
    );
  }
  t.end();
});

test('argsortDescending is stable; numpySum reproduces numpy pairwise summation', (t) => {
  t.deepEqual(argsortDescending([0.5, 0.9, 0.5, 0.9, 1]), [4, 1, 3, 0, 2], 'ties keep their order');
  t.deepEqual(argsortDescending([Infinity, -Infinity, Infinity]), [0, 2, 1], 'infinities');
  // numpy: 8 accumulators for n <= 128: r0 = 1e16 + 1 (rounds to 1e16), r1..r7 = 2; then
  // ((r0 + r1) + (r2 + r3)) + ((r4 + r5) + (r6 + r7)) = 1e16 + 14. Left to right gives 1e16.
  const v = [1e16, ...Array<number>(15).fill(1)];
  t.equal(numpySum(v), 1e16 + 14, 'pairwise: 1e16 + 14');
  t.equal(v.reduce((a, b) => a + b, 0), 1e16, 'naive: 1e16');
  t.equal(numpySum([0.1, 0.2, 0.3]), 0.1 + 0.2 + 0.3, 'fewer than 8: left to right');
  t.equal(numpySum([]), 0, 'empty');
  const big = Array.from({ length: 20000 }, (_, i) => 1 / (i + 1));
  close(t, numpySum(big), big.reduce((a, b) => a + b, 0), 'blocks of 8192, recursive halves', 1e-12);
  t.end();
});

test('formatSummary prints the pycocotools table; formatFixed3 rounds ties to even', (t) => {
  const stats = [0.5, 0.75, 0.5625, -1, 0.0625, 0.1875, 0.3125, 1, 0.123456, 0.9999, 0.0004, 0.0005];
  const expected = [
    ' Average Precision  (AP) @[ IoU=0.50:0.95 | area=   all | maxDets=100 ] = 0.500',
    ' Average Precision  (AP) @[ IoU=0.50      | area=   all | maxDets=100 ] = 0.750',
    ' Average Precision  (AP) @[ IoU=0.75      | area=   all | maxDets=100 ] = 0.562',
    ' Average Precision  (AP) @[ IoU=0.50:0.95 | area= small | maxDets=100 ] = -1.000',
    ' Average Precision  (AP) @[ IoU=0.50:0.95 | area=medium | maxDets=100 ] = 0.062',
    ' Average Precision  (AP) @[ IoU=0.50:0.95 | area= large | maxDets=100 ] = 0.188',
    ' Average Recall     (AR) @[ IoU=0.50:0.95 | area=   all | maxDets=  1 ] = 0.312',
    ' Average Recall     (AR) @[ IoU=0.50:0.95 | area=   all | maxDets= 10 ] = 1.000',
    ' Average Recall     (AR) @[ IoU=0.50:0.95 | area=   all | maxDets=100 ] = 0.123',
    ' Average Recall     (AR) @[ IoU=0.50:0.95 | area= small | maxDets=100 ] = 1.000',
    ' Average Recall     (AR) @[ IoU=0.50:0.95 | area=medium | maxDets=100 ] = 0.000',
    ' Average Recall     (AR) @[ IoU=0.50:0.95 | area= large | maxDets=100 ] = 0.001',
  ];
  t.equal(formatSummary(stats), expected.join('\n'), '12 lines, character for character');
  t.equal(formatFixed3(0.0005), '0.001', '0.0005 is not an exact tie (binary value above): up');
  t.equal(formatFixed3(-0.5625), '-0.562', 'negative tie');
  t.equal(formatFixed3(0.9375), '0.938', '937.5 -> 938 (even)');
  try {
    formatSummary([1, 2]);
    t.fail('short stats accepted');
  } catch (error) {
    t.match((error as Error).message, /expected 12 stats, got 2/, 'needs 12 stats');
  }
  t.end();
});

test('cocoEvaluate: keepEvalImages, image and category subsets, bad iouType', (t) => {
  nextId = 1;
  const anns = [gt(1, 1, [0, 0, 50, 50]), gt(2, 2, [0, 0, 50, 50])];
  const g = dataset([1, 2, 3], anns);
  const dts = loadResults(g, [det(1, 1, [0, 0, 50, 50], 0.9), det(2, 2, [0, 0, 50, 50], 0.9)]);
  const r = cocoEvaluate(g, dts, { iouType: 'bbox', keepEvalImages: true });
  t.equal(r.evalImgs!.length, 3 * 4 * 3, '[K][A][I] slots');
  t.equal(r.evalImgs!.filter((e) => e !== null).length, 2 * 4, 'one image per category with data, 4 area ranges');
  const first = r.evalImgs![0]!;
  t.deepEqual([first.imageId, first.categoryId, first.gtIds[0], first.dtIds[0]], [1, 1, 1, 1], 'first entry: image 1, category 1');
  const sub = cocoEvaluate(g, dts, { iouType: 'bbox', catIds: [2] });
  t.deepEqual(sub.perCategory.map((c) => c.categoryId), [2], 'category subset');
  const imgs = cocoEvaluate(g, dts, { iouType: 'bbox', imgIds: [2, 3] });
  t.deepEqual(imgs.perCategory.map((c) => c.ap), [-1, 0.9999999999999998, -1], 'image subset drops image 1');
  try {
    cocoEvaluate(g, dts, { iouType: 'keypoints' as IouType });
    t.fail('bad iouType accepted');
  } catch (error) {
    t.match((error as Error).message, /iouType must be 'bbox' or 'segm'/, 'bad iouType');
  }
  t.end();
});

test('equal scores across images are ranked by image id, not by file order', (t) => {
  nextId = 1;
  // image 1 and image 2 each have one GT; both detections score 0.5; image 1's is a false
  // positive, image 2's a true positive. Ties are ranked by image id: FP first, then TP, so
  // pr = [0, 1/2], rc = [0, 1/2] -> AP = 51 * 0.5 / 101 per threshold.
  const anns = [gt(1, 1, [0, 0, 50, 50]), gt(2, 1, [0, 0, 50, 50])];
  const results = [det(2, 1, [0, 0, 50, 50], 0.5), det(1, 1, [200, 200, 50, 50], 0.5)];
  const r = evaluate(dataset([2, 1], anns), results);
  close(t, r.stats[0]!, (51 * 0.5) / 101, 'AP = 25.5/101 (the false positive ranks first)');
  t.end();
});
