// %% [markdown]
// # 10. COCO evaluation
//
// Every accuracy number in the Mask R-CNN paper (He et al., ICCV 2017, arXiv 1703.06870,
// section 4) is COCO's: "AP (averaged over IoU thresholds), AP50, AP75, and APS, APM, APL (AP at
// different scales)", for boxes ("AP^bb") and for masks. Those are defined by the COCO detection
// evaluation (Lin et al., *Microsoft COCO: Common Objects in Context*, ECCV 2014, and the
// evaluation page of cocodataset.org) and implemented by `pycocotools`' `COCOeval`; this
// project's evaluator reproduces `pycocotools` number for number. This chapter builds the
// evaluation up from its parts:
//
// 1. how masks are stored: **polygons and run-length encoding (RLE)**, and the mask IoU;
// 2. the **two JSON files**: the ground truth and the results;
// 3. **matching** at ten IoU thresholds, **crowd** regions, and precision at 101 recall points;
// 4. the **12 numbers** (AP and AR by threshold, object size and number of detections) of the
//    zoo model, and its **precision-recall curves**;
// 5. the evaluator against **pycocotools' own numbers**.
//
// The code: {@link rleEncode}, {@link rleDecode}, {@link rleMerge}, {@link rleIou},
// {@link rleFromPolygons} and {@link bboxIou} (`lib/maskrcnn/data/rle.ts`); {@link parseCoco}
// and {@link loadResults}; {@link cocoEvaluate} and {@link evaluateModel}.

// %%
import {
  AREA_LABELS, AREA_RANGES, IOU_THRESHOLDS, MAX_DETS, RECALL_THRESHOLDS, STAT_NAMES, bboxIou, cocoEvaluate, evaluateModel, formatSummary,
  generateShapes, loadResults, loadWeights, parseCoco, readZooEntry, rleArea, rleDecode, rleEncode, rleFromPolygons, rleIou, rleMerge,
  rleToBbox, rleUncompress, shapesDetectionDataset, zooWeightsPath, type CocoEvalReport, type CocoResult, type IouType,
} from '../lib/index.js';
import { VAL_SEED_OFFSET } from '../lib/maskrcnn/cli/shapes.js';
import { readFileSync } from 'node:fs';
import { showSvg, showMarkdown, markdownTable, check, fixed } from '../tools/notebooks/display.js';
import { lineChartSvg } from '../lib/index.js';

// %% [markdown]
// ## Run-length encoding, by hand
//
// A binary mask is stored as the lengths of its runs: zeros, ones, zeros, ... (the first run
// counts zeros and is 0 when the mask starts with a one). COCO reads the pixels **column by
// column** (Fortran order), not row by row. A 3x4 mask:
//
// ```
// 0 1 1 0
// 0 1 1 0
// 0 0 1 0
// ```
//
// Column by column: `000 | 110 | 111 | 000`, so the runs are 3 zeros, 2 ones, 1 zero, 3 ones,
// 3 zeros: `[3, 2, 1, 3, 3]`. The area is the sum of the odd-indexed runs, 2 + 3 = 5; the box is
// columns 1..2 and rows 0..2, `[x, y, w, h] = [1, 0, 2, 3]`. Read row by row instead, the same
// mask would give the runs `[1, 2, 2, 2, 3, 1, 1]`.
//
// In files the counts are usually compressed into a string: from the fourth run on, each count
// is stored as the difference from the count two places before (`3 - 2 = 1`, `3 - 1 = 2`), and
// each number is written in 5-bit groups as characters from `'0'` (48) on. Small non-negative
// numbers are one character, `48 + x`: `"32112"`.

// %%
const A = [
  0, 1, 1, 0,
  0, 1, 1, 0,
  0, 0, 1, 0,
];
const rleA = rleEncode(A, 3, 4);
const runsA = rleUncompress(rleA).counts;
console.log(`rleEncode: ${JSON.stringify(rleA)}; runs ${JSON.stringify(runsA)}; area ${rleArea(rleA)}; bbox ${JSON.stringify(rleToBbox(rleA))}`);
check('runs, column-major', runsA, [3, 2, 1, 3, 3], 0);
check('the compressed string is "32112"', [...rleA.counts].map((c) => c.charCodeAt(0)), [...'32112'].map((c) => c.charCodeAt(0)), 0);
check('area = 2 + 3', rleArea(rleA), 5, 0);
check('bbox [x, y, w, h]', rleToBbox(rleA), [1, 0, 2, 3], 0);
const transposed = Array.from({ length: 12 }, (_, i) => A[(i % 3) * 4 + Math.floor(i / 3)]!); // 4x3: A's rows become columns
const rowMajor = rleEncode(transposed, 4, 3);
check('read row by row, the runs would be [1, 2, 2, 2, 3, 1, 1]', rleUncompress(rowMajor).counts, [1, 2, 2, 2, 3, 1, 1], 0);
check('rleDecode gives the mask back (row-major)', rleDecode(rleA), A, 0);

// %% [markdown]
// ## Merge and IoU
//
// A second mask B, 2x2 in the top right corner. By hand: A and B share the pixels (row 0,
// column 2) and (row 1, column 2): intersection 2, union 5 + 4 - 2 = 7, IoU 2/7. If B is a
// **crowd** region (`iscrowd: 1`), COCO divides by the detection's own area instead of the
// union: 2 / 5 = 0.4, so a detection lying entirely inside a crowd region has IoU 1 with it,
// however large the region.

// %%
const B = [
  0, 0, 1, 1,
  0, 0, 1, 1,
  0, 0, 0, 0,
];
const rleB = rleEncode(B, 3, 4);
const union = rleMerge([rleA, rleB]);
const inter = rleMerge([rleA, rleB], true);
const iouAB = rleIou([rleA], [rleB])[0]![0]!;
const crowdIou = rleIou([rleA], [rleB], [1])[0]![0]!;
console.log(`union ${rleArea(union)} pixels, intersection ${rleArea(inter)} pixels, IoU ${fixed(iouAB)}, IoU with B a crowd region ${fixed(crowdIou)}`);
check('merge: union 7, intersection 2', [rleArea(union), rleArea(inter)], [7, 2], 0);
check('mask IoU = 2/7', iouAB, 2 / 7, 1e-15);
check('crowd IoU = intersection / area(detection) = 2/5', crowdIou, 0.4, 1e-15);

// %% [markdown]
// Boxes `[x, y, w, h]` follow the same rules: `[0, 0, 10, 10]` and `[5, 0, 10, 10]` overlap by
// 50 of 150 pixels (IoU 1/3), or 50 of the detection's 100 against a crowd box (0.5); boxes that
// only touch have IoU 0.

// %%
const boxIous = bboxIou([[0, 0, 10, 10]], [[5, 0, 10, 10], [10, 0, 10, 10]]);
const boxCrowd = bboxIou([[0, 0, 10, 10]], [[5, 0, 10, 10]], [1]);
console.log(`box IoUs: ${boxIous[0]!.map((v) => fixed(v)).join(', ')}; against a crowd box ${fixed(boxCrowd[0]![0]!)}`);
check('box IoU 50 / 150, touching boxes 0', boxIous[0]!, [1 / 3, 0], 1e-15);
check('box IoU against a crowd box 50 / 100', boxCrowd[0]![0]!, 0.5, 1e-15);

// %% [markdown]
// ## Polygons
//
// Most COCO objects are annotated as polygons `[x1, y1, x2, y2, ...]` in pixel coordinates,
// and turned into RLE before any IoU. The rasteriser is pycocotools' (`rleFrPoly`), not a
// pixel-centre test: a pixel's integer coordinate is its top-left corner, so the square with
// corners (0, 0) and (10, 10) covers pixels 0..9 (100 pixels), and the same square shifted by
// half a pixel covers pixels 1..10. An object in several parts is the union of its polygons.

// %%
const square = rleFromPolygons([[0, 0, 10, 0, 10, 10, 0, 10]], 12, 12);
const shifted = rleFromPolygons([[0.5, 0.5, 10.5, 0.5, 10.5, 10.5, 0.5, 10.5]], 12, 12);
const twoParts = rleFromPolygons([[0, 0, 4, 0, 4, 4, 0, 4], [2, 2, 6, 2, 6, 6, 2, 6]], 12, 12);
console.log(`square (0,0)-(10,10): area ${rleArea(square)}, bbox ${JSON.stringify(rleToBbox(square))}`);
console.log(`shifted by 0.5: area ${rleArea(shifted)}, bbox ${JSON.stringify(rleToBbox(shifted))}`);
console.log(`two overlapping 4x4 parts: area ${rleArea(twoParts)} (16 + 16 - 4)`);
check('square: pixels 0..9', [rleArea(square), ...rleToBbox(square)], [100, 0, 0, 10, 10], 0);
check('shifted square: pixels 1..10', [rleArea(shifted), ...rleToBbox(shifted)], [100, 1, 1, 10, 10], 0);
check('parts are unioned: 16 + 16 - 4', rleArea(twoParts), 28, 0);

// %% [markdown]
// ## The two JSON files
//
// The **ground truth** is a COCO instance file: `images` (id, size), `categories`, and
// `annotations`, each with an `image_id`, a `category_id`, a `bbox` `[x, y, w, h]`, an `area`
// (the evaluator's size ranges read this field), `iscrowd`, and a `segmentation` (polygons, or
// an RLE for crowd regions). The **results** are a flat list of detections:
// `image_id`, `category_id`, `score`, and a `bbox` (box results) or a `segmentation` (an RLE;
// mask results). A tiny example: one square of 20x20 pixels, one crowd region, and three
// detections: one inside the crowd region (the highest score), one on the square with IoU exactly
// 0.8, and one on empty background.

// %%
const gtJson = {
  images: [{ id: 1, width: 64, height: 64, file_name: 'toy.png' }],
  categories: [{ id: 1, name: 'square' }],
  annotations: [
    { id: 1, image_id: 1, category_id: 1, bbox: [10, 10, 20, 20], area: 400, iscrowd: 0, segmentation: [[10, 10, 30, 10, 30, 30, 10, 30]] },
    { id: 2, image_id: 1, category_id: 1, bbox: [40, 40, 16, 16], area: 256, iscrowd: 1, segmentation: rleUncompress(rleFromPolygons([[40, 40, 56, 40, 56, 56, 40, 56]], 64, 64)) },
  ],
};
const resultsJson: CocoResult[] = [
  { image_id: 1, category_id: 1, bbox: [42, 42, 10, 10], score: 0.95 },
  { image_id: 1, category_id: 1, bbox: [10, 10, 20, 16], score: 0.9 },
  { image_id: 1, category_id: 1, bbox: [0, 40, 10, 10], score: 0.3 },
];
const lines = (list: readonly unknown[], indent = '    ') => list.map((x) => `${indent}${JSON.stringify(x)}`).join(',\n');
console.log(`ground truth:\n{\n  "images": [\n${lines(gtJson.images)}\n  ],\n  "categories": [\n${lines(gtJson.categories)}\n  ],\n  "annotations": [\n${lines(gtJson.annotations)}\n  ]\n}`);
console.log(`results:\n[\n${lines(resultsJson, '  ')}\n]`);
const toyGt = parseCoco(gtJson);
const toyBoxIou = bboxIou([resultsJson[1]!.bbox!], [gtJson.annotations[0]!.bbox]);
check('the second detection overlaps the square with IoU 320 / 400 = 0.8', toyBoxIou[0]![0]!, 0.8, 0);

// %% [markdown]
// ## Matching, thresholds, and the 101 recall points
//
// For each image and category, the detections are taken best score first (at most 100), and
// each is matched to the unmatched ground truth it overlaps most, if that IoU reaches the
// threshold t. This is done at **ten thresholds**, t = 0.50, 0.55, ..., 0.95 (`np.linspace`'s
// doubles: the ninth is 0.8999999999999999). A detection matched to a crowd region is
// **ignored**: neither a true nor a false positive (and a crowd region can absorb any number of
// detections). The remaining detections of all images are ranked by score; walking down the
// ranking gives a precision (true positives / detections so far) and a recall (true positives /
// ground truths) at each rank. The precision is made non-increasing from the right (the best
// precision at this recall or any higher one), then read at **101 recall points** 0, 0.01, ...,
// 1; AP is their mean, 0 where the recall is never reached. All of this is done per category,
// and the reported AP is the mean over the categories (and, for plain "AP", over the ten
// thresholds).
//
// In the example: the square is matched at the seven thresholds up to 0.8 and missed at 0.85,
// 0.9 and 0.95; the crowd detection is ignored at every threshold.

// %%
const toyReport = cocoEvaluate(toyGt, loadResults(toyGt, resultsJson), { iouType: 'bbox', keepEvalImages: true });
const toyImage = toyReport.evalImgs![0]!; // category 1, area 'all', image 1
const D = toyImage.dtIds.length;
const statusAt = (t: number, d: number): string => (toyImage.dtIgnore[t * D + d] ? 'ignored' : toyImage.dtMatches[t * D + d] ? `matches GT ${toyImage.dtMatches[t * D + d]}` : 'false positive');
showMarkdown(markdownTable(
  ['detection (score)', ...IOU_THRESHOLDS.map((t) => `t = ${fixed(t, 2)}`)],
  toyImage.dtIds.map((id, d) => [`${id} (${toyImage.dtScores[d]})`, ...IOU_THRESHOLDS.map((_, t) => statusAt(t, d))]),
));
console.log(`IoU thresholds: ${IOU_THRESHOLDS.length}, from ${IOU_THRESHOLDS[0]} to ${IOU_THRESHOLDS[IOU_THRESHOLDS.length - 1]}; the ninth is ${IOU_THRESHOLDS[8]}`);
console.log(`recall points: ${RECALL_THRESHOLDS.length}; the 36th is ${RECALL_THRESHOLDS[35]}, so a recall of exactly 0.35 does not reach it`);
check('ten IoU thresholds .50:.05:.95', IOU_THRESHOLDS, Array.from({ length: 10 }, (_, k) => 0.5 + 0.05 * k), 1e-15);
check('101 recall points 0:.01:1', RECALL_THRESHOLDS, Array.from({ length: 101 }, (_, k) => k / 100), 1e-15);
check('np.linspace quirks: 0.8999999999999999 and 0.35000000000000003', [IOU_THRESHOLDS[8]! < 0.9 ? 1 : 0, RECALL_THRESHOLDS[35]! > 0.35 ? 1 : 0], [1, 1], 0);
check('matched at 7 thresholds (IoU 0.8 >= t), ignored in the crowd at all 10', [
  IOU_THRESHOLDS.filter((_, t) => toyImage.dtMatches[t * D + 1] === 1).length,
  IOU_THRESHOLDS.filter((_, t) => toyImage.dtIgnore[t * D + 0] === 1).length,
], [7, 10], 0);

// %% [markdown]
// The 12 numbers follow by hand. At each of the 7 thresholds where the square is found, the
// first counted detection is a true positive: precision 1 at every recall point (COCO computes
// `tp / (tp + fp + eps)`, so 1 shows as 0.9999999999999998). At the other 3, precision is 0.
// AP = 7/10 = 0.7, AP50 = AP75 = 1. The square's area, 400, is under 32^2: it is a *small*
// object, and no ground truth is medium or large, so those entries are -1 (undefined). AR is the
// recall averaged over the thresholds (0.7), with at most 1, 10 or 100 detections per image:
// with one, only the crowd detection is taken and it is ignored, so AR1 = 0.
//
// Without the crowd annotation, the best-scoring detection becomes a false positive ranked
// first, and every precision halves: AP 0.35.

// %%
const expectedToy = [0.7, 1, 1, 0.7, -1, -1, 0, 0.7, 0.7, 0.7, -1, -1];
const noCrowdGt = parseCoco({ ...gtJson, annotations: gtJson.annotations.filter((a) => a.iscrowd === 0) });
const noCrowd = cocoEvaluate(noCrowdGt, loadResults(noCrowdGt, resultsJson), { iouType: 'bbox' });
showMarkdown(markdownTable(['', ...STAT_NAMES], [
  ['with the crowd region', ...toyReport.stats.map((v) => fixed(v, 3))],
  ['without it', ...noCrowd.stats.map((v) => fixed(v, 3))],
]));
check('the example by hand, with the crowd region', toyReport.stats, expectedToy, 1e-12);
check('the example by hand, without it', noCrowd.stats, [0.35, 0.5, 0.5, 0.35, -1, -1, 0, 0.7, 0.7, 0.7, -1, -1], 1e-12);

// %% [markdown]
// ## Object sizes and detection limits
//
// The size ranges are on the ground truth's `area` field: small below 32^2 = 1024 pixels,
// medium from 32^2 to 96^2 = 9216, large above (both ends inclusive: an area of exactly 1024 is
// small and medium). AR is reported with at most 1, 10 and 100 detections per image.

// %%
showMarkdown(markdownTable(['range', 'area from', 'area to'], AREA_LABELS.map((l, i) => [l, AREA_RANGES[i]![0], AREA_RANGES[i]![1]])));
check('small < 32^2, medium to 96^2, large above', AREA_RANGES.slice(1).flat(), [0, 1024, 1024, 9216, 9216, 1e10], 0);
check('maxDets 1, 10, 100', MAX_DETS, [1, 10, 100], 0);

// %% [markdown]
// ## The zoo model's 12 numbers
//
// The zoo model on its 100 validation images (regenerated from the seed recorded in
// `zoo/shapes/zoo.json`), evaluated for boxes and for masks by {@link evaluateModel}: each image
// through the detector, the detections written as COCO results (boxes as `[x, y, w, h]`, masks
// thresholded at 0.5 and run-length encoded), then {@link cocoEvaluate}. First the split's
// objects by size and its crowd regions.

// %%
const entry = readZooEntry('shapes');
const { model } = loadWeights(zooWeightsPath('shapes'));
const val = shapesDetectionDataset(
  generateShapes({ count: entry.validation.images, seed: entry.validation.seed + VAL_SEED_OFFSET, size: entry.validation.size }),
  { contiguousLabels: true },
);
const objects = val.coco.annotations.filter((a) => !a.iscrowd);
const crowds = val.coco.annotations.filter((a) => a.iscrowd);
const inRange = (lo: number, hi: number) => objects.filter((a) => a.area >= lo && a.area <= hi).length;
console.log(`${val.length} images, ${objects.length} objects, ${crowds.length} crowd regions`);
console.log(`objects by area: small ${inRange(0, 1024)}, medium ${inRange(1024, 9216)}, large ${inRange(9216, 1e10)}; largest ${Math.max(...objects.map((a) => a.area))} pixels`);
check('no object is large (so APl and ARl are -1)', inRange(9216, 1e10), 0, 0);

// %%
const evaluation = evaluateModel(model, val);
for (const kind of ['bbox', 'segm'] as const) console.log(`${kind}:\n${formatSummary(evaluation[kind].stats)}`);

// %% [markdown]
// Against the numbers recorded when the model was made (`zoo/shapes/zoo.json`, `metrics.stored`),
// at the model zoo test's tolerance of 0.005 (different backends round differently):

// %%
const recorded = entry.metrics.stored;
showMarkdown(markdownTable(['', 'bbox measured', 'bbox recorded', 'segm measured', 'segm recorded'],
  STAT_NAMES.map((name, i) => [name, fixed(evaluation.bbox.stats[i]!, 3), fixed(recorded.bbox[i]!, 3), fixed(evaluation.segm.stats[i]!, 3), fixed(recorded.segm[i]!, 3)])));
check('bbox: the 12 numbers recorded in zoo.json', evaluation.bbox.stats, recorded.bbox, 0.005);
check('segm: the 12 numbers recorded in zoo.json', evaluation.segm.stats, recorded.segm, 0.005);

// %% [markdown]
// Per class (`perCategory`): the summary AP is the mean of these three, up to the order in which
// numpy adds.

// %%
showMarkdown(markdownTable(['class', 'bbox AP', 'segm AP', 'bbox AP50', 'segm AP50'], evaluation.bbox.perCategory.map((c, k) => [
  c.name, fixed(c.ap, 3), fixed(evaluation.segm.perCategory[k]!.ap, 3), fixed(c.stats[1]!, 3), fixed(evaluation.segm.perCategory[k]!.stats[1]!, 3),
])));
for (const kind of ['bbox', 'segm'] as const) {
  const perClass = evaluation[kind].perCategory.map((c) => c.ap);
  check(`${kind}: AP = mean of the per-class APs`, perClass.reduce((a, b) => a + b, 0) / perClass.length, evaluation[kind].stats[0]!, 1e-12);
}

// %% [markdown]
// ## Precision-recall curves
//
// The accumulated table `precision[t][r][k][a][m]` holds, for IoU threshold t, recall point r,
// category k, area range a and detection limit m, the (interpolated) precision. Averaged over
// the categories, one row per threshold is a precision-recall curve; AP50 and AP75 are the means
// of the curves at t = 0.5 and 0.75, over the 101 recall points. A curve stays high while the
// detections ranked first are right, falls as false positives mix in, and a class's precision is
// 0 beyond the last recall it reaches (objects never found at that threshold); the stricter
// threshold falls earlier.

// %%
/** The category-mean precision at each of the 101 recall points, at IoU threshold `t` (area 'all', 100 detections). */
function prCurve(report: CocoEvalReport, t: number): Array<[number, number]> {
  const [, R, K, A, M] = report.accumulation.counts;
  const ti = IOU_THRESHOLDS.indexOf(t);
  return RECALL_THRESHOLDS.map((recall, r) => {
    let sum = 0;
    for (let k = 0; k < K; k++) sum += report.accumulation.precision[(((ti * R + r) * K + k) * A + 0) * M + (M - 1)]!;
    return [recall, sum / K];
  });
}
const mean = (curve: Array<[number, number]>) => curve.reduce((s, [, p]) => s + p, 0) / curve.length;
for (const kind of ['bbox', 'segm'] as const) {
  const report = evaluation[kind];
  const at50 = prCurve(report, 0.5);
  const at75 = prCurve(report, 0.75);
  showSvg(lineChartSvg(
    [
      { name: `IoU 0.50 (AP50 ${fixed(mean(at50), 3)})`, points: at50, color: '#1f77b4' },
      { name: `IoU 0.75 (AP75 ${fixed(mean(at75), 3)})`, points: at75, color: '#d62728' },
    ],
    { title: `Zoo model, ${kind}: precision at the 101 recall points (mean of 3 classes)`, xLabel: 'recall', yLabel: 'precision', xRange: [0, 1], yRange: [0, 1] },
  ), `${kind} precision-recall curves at IoU 0.5 and 0.75`);
  console.log(`${kind}: curve means ${fixed(mean(at50), 6)} and ${fixed(mean(at75), 6)}; AP50 ${fixed(report.stats[1]!, 6)}, AP75 ${fixed(report.stats[2]!, 6)}`);
  check(`${kind}: AP50 and AP75 are the means of their curves`, [mean(at50), mean(at75)], [report.stats[1]!, report.stats[2]!], 1e-12);
  check(`${kind}: the curves never rise`, [at50, at75].flatMap((c) => c.slice(1).map(([, p], i) => (p <= c[i]![1] ? 0 : 1))), new Array(200).fill(0), 0);
}

// %% [markdown]
// ## Crowd regions on the zoo model
//
// The validation split has crowd regions (a cluster of tiny shapes of one class, annotated as
// one RLE with `iscrowd: 1`, as COCO annotates a crowd of people). A detection on a crowd region
// is ignored. How many of the zoo model's box detections are absorbed that way (at IoU 0.5,
// counting every image and class), and what the numbers would be if the crowd annotations were
// simply removed, so that those detections count as false positives:

// %%
const boxResults = evaluation.results.map(({ segmentation: _s, ...r }) => r);
const withCrowd = cocoEvaluate(val.coco, loadResults(val.coco, boxResults), { iouType: 'bbox', keepEvalImages: true });
const [, , nCats, nAreas] = withCrowd.accumulation.counts;
const I = withCrowd.params.imgIds.length;
let absorbed = 0;
const absorbedScores: number[] = [];
for (let k = 0; k < nCats; k++) {
  for (let i = 0; i < I; i++) {
    const e = withCrowd.evalImgs![(k * nAreas + 0) * I + i]; // area range 'all'
    if (!e) continue;
    e.dtIds.forEach((_, d) => {
      if (e.dtIgnore[d] && e.dtMatches[d]) (absorbed++, absorbedScores.push(e.dtScores[d]!)); // threshold 0.5 is row 0
    });
  }
}
const withoutCrowd = parseCoco({ ...val.coco, annotations: objects });
const noCrowdBbox = cocoEvaluate(withoutCrowd, loadResults(withoutCrowd, boxResults), { iouType: 'bbox' });
console.log(`${absorbed} of ${boxResults.length} box detections lie on a crowd region at IoU 0.5; their best score is ${fixed(Math.max(0, ...absorbedScores), 3)}`);
showMarkdown(markdownTable(['bbox', 'AP', 'AP50', 'AP75'], [
  ['crowd regions ignored (COCO)', ...withCrowd.stats.slice(0, 3).map((v) => fixed(v, 6))],
  ['crowd annotations removed', ...noCrowdBbox.stats.slice(0, 3).map((v) => fixed(v, 6))],
]));
check('the same evaluation as above', withCrowd.stats, evaluation.bbox.stats, 0);
check('removing the crowd regions cannot raise AP50', noCrowdBbox.stats[1]! <= withCrowd.stats[1]! ? 1 : 0, 1, 0);

// %% [markdown]
// ## The evaluator against pycocotools
//
// The evaluator's tests compare it with the real `pycocotools` on fixtures written by
// `tools/oracle/gen_coco.py` (`test/fixtures/coco/eval_*.json`: a ground truth, results, and
// the numbers `COCOeval` printed). One of them, run here: recalls of exactly 0.35, 0.7 and 0.57
// and box IoUs exactly at the thresholds, the places where the `np.linspace` doubles above
// matter.

// %%
const fixture = JSON.parse(readFileSync(new URL('../test/fixtures/coco/eval_recall.json', import.meta.url), 'utf8')) as {
  description: string; pycocotools: string; gt: unknown; results: Record<string, unknown[]>;
  evals: Array<{ results: string; iouType: IouType; stats: number[]; summary: string }>;
};
const fixtureGt = parseCoco(fixture.gt);
console.log(`${fixture.description}; pycocotools ${fixture.pycocotools}`);
for (const e of fixture.evals) {
  const ours = cocoEvaluate(fixtureGt, loadResults(fixtureGt, fixture.results[e.results]), { iouType: e.iouType });
  showMarkdown(`**${e.iouType}** (results: \`${e.results}\`)\n\n` + markdownTable(['', ...STAT_NAMES], [
    ['pycocotools', ...e.stats.map((v) => fixed(v, 6))],
    ['this project', ...ours.stats.map((v) => fixed(v, 6))],
  ]));
  check(`eval_recall ${e.iouType}: the 12 numbers equal pycocotools'`, ours.stats, e.stats, 1e-12);
  check(`eval_recall ${e.iouType}: the printed summary is pycocotools', character for character`, formatSummary(ours.stats) === e.summary ? 1 : 0, 1, 0);
}
