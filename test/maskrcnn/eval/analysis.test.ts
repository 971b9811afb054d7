/**
 * Error analysis (lib/maskrcnn/eval/analysis.ts): per-class AP against pycocotools' per-category
 * numbers on the committed COCO fixtures (test/fixtures/coco/eval_*.json, from
 * tools/oracle/gen_coco.py: `precision[:, :, k, all, 100]` means, and AP50/AP75 from the same
 * slices), PR curves equal to the evaluator's precision table, and the confusion matrix and
 * TIDE breakdown on hand-made cases whose every error is known.
 */
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import test from 'tape';
import { parseCoco, type CocoDataset } from '../../../lib/maskrcnn/data/coco.js';
import {
  analysisJson,
  analysisSummary,
  analyzeErrors,
  confusionCsv,
  confusionMarkdown,
  confusionMatrix,
  confusionTotals,
  perClassAp,
  prCurves,
  prCurvesSvg,
  tideAnalysis,
  tideMarkdown,
  writeAnalysis,
} from '../../../lib/maskrcnn/eval/analysis.js';
import { cocoEvaluate, type IouType } from '../../../lib/maskrcnn/eval/cocoeval.js';
import { loadResults, type CocoDetection } from '../../../lib/maskrcnn/eval/results.js';
import { assertSameNumbers } from '../../helpers.js';

interface EvalFixture {
  name: string;
  gt: unknown;
  results: Record<string, unknown[]>;
  evals: { results: string; iouType: IouType; stats: number[]; perCategory: { categoryId: number; ap: number; stats: number[] }[] }[];
}

const fixtureDir = fileURLToPath(new URL('../../fixtures/coco', import.meta.url));
const fixtureFiles = readdirSync(fixtureDir)
  .filter((f) => /^eval_.*\.json$/.test(f))
  .sort();

/** Within 1e-12 (numpy's summation order), -1 exactly. */
function close(actual: readonly number[], expected: readonly number[]): string | undefined {
  if (actual.length !== expected.length) return `length ${actual.length}, expected ${expected.length}`;
  for (let i = 0; i < expected.length; i++) {
    const a = actual[i]!;
    const e = expected[i]!;
    if (e === -1 ? a !== -1 : !(Math.abs(a - e) <= 1e-12)) return `element ${i} is ${a}, expected ${e}`;
  }
  return undefined;
}

test('per-class AP, AP50, AP75 equal pycocotools per-category numbers on every COCO fixture', (t) => {
  t.ok(fixtureFiles.length >= 5, `${fixtureFiles.length} fixtures`);
  for (const file of fixtureFiles) {
    const fx = JSON.parse(readFileSync(join(fixtureDir, file), 'utf8')) as EvalFixture;
    const gt = parseCoco(fx.gt, { source: file });
    for (const ev of fx.evals) {
      const what = `${fx.name} ${ev.results} ${ev.iouType}`;
      const report = cocoEvaluate(gt, loadResults(gt, fx.results[ev.results], { source: file }), { iouType: ev.iouType });
      const rows = perClassAp(report);
      t.deepEqual(
        rows.map((r) => r.categoryId),
        ev.perCategory.map((c) => c.categoryId),
        `${what}: category order`,
      );
      for (const [field, pick] of [
        ['AP', (c: EvalFixture['evals'][number]['perCategory'][number]) => c.ap],
        ['AP50', (c: EvalFixture['evals'][number]['perCategory'][number]) => c.stats[1]!],
        ['AP75', (c: EvalFixture['evals'][number]['perCategory'][number]) => c.stats[2]!],
      ] as const) {
        const mine = rows.map((r) => (field === 'AP' ? r.ap : field === 'AP50' ? r.ap50 : r.ap75));
        const problem = close(mine, ev.perCategory.map(pick));
        t.equal(problem, undefined, `${what}: per-class ${field} within 1e-12 of pycocotools`);
      }
      // and exactly the evaluator's own per-category summary (same table, same summation)
      assertSameNumbers(
        t,
        rows.flatMap((r) => [r.ap, r.ap50, r.ap75]),
        report.perCategory.flatMap((c) => [c.ap, c.stats[1]!, c.stats[2]!]),
        `${what}: equal to the evaluator's perCategory stats`,
      );
    }
  }
  t.end();
});

test("PR curves are the evaluator's precision table; their means are AP50 and AP", (t) => {
  const fx = JSON.parse(readFileSync(join(fixtureDir, 'eval_random.json'), 'utf8')) as EvalFixture;
  const gt = parseCoco(fx.gt);
  const ev = fx.evals[0]!;
  const report = cocoEvaluate(gt, loadResults(gt, fx.results[ev.results]), { iouType: ev.iouType });
  const [T, R, K, A, M] = report.accumulation.counts;
  const a = report.params.areaRngLbl.indexOf('all');
  const m = M - 1;
  const slice = (t0: number, k: number): number[] => Array.from({ length: R }, (_, r) => report.accumulation.precision[(((t0 * R + r) * K + k) * A + a) * M + m]!);
  const c50 = prCurves(report, 'iou50');
  const cAll = prCurves(report, 'iou50-95');
  t.equal(c50.recall.length, 101, '101 recall points');
  t.equal(c50.perClass.length, K, 'one curve per category');
  for (let k = 0; k < K; k++) assertSameNumbers(t, c50.perClass[k]!.precision, slice(0, k), `class ${report.params.catIds[k]}: precision[0.5, :, k, all, 100] itself`);
  const rows = perClassAp(report);
  t.equal(close(c50.perClass.map((c) => c.ap), rows.map((r) => r.ap50)), undefined, 'each IoU-0.5 curve averages to the class AP50');
  t.equal(close(cAll.perClass.map((c) => c.ap), rows.map((r) => r.ap)), undefined, 'each 0.50:0.95 curve averages to the class AP');
  for (let r = 0; r < R; r += 25) {
    const k = 0;
    const vals = Array.from({ length: T }, (_, t0) => slice(t0, k)[r]!).filter((v) => v > -1);
    const want = vals.length === 0 ? -1 : vals.reduce((s, v) => s + v, 0) / vals.length;
    t.ok(Math.abs(cAll.perClass[k]!.precision[r]! - want) <= 1e-12, `0.50:0.95 curve at recall ${c50.recall[r]} is the mean over thresholds`);
  }
  // a category's slice is all -1 or all defined, so the mean of the per-point means is the mean of all
  t.ok(report.perCategory.some((c) => c.ap === -1), 'the fixture has a category without ground truth (left out of the overall curve)');
  t.ok(Math.abs(c50.overall.ap - report.stats[1]!) <= 1e-12, `overall IoU-0.5 curve averages to AP50 (${c50.overall.ap} vs ${report.stats[1]})`);
  t.ok(Math.abs(cAll.overall.ap - report.stats[0]!) <= 1e-12, `overall 0.50:0.95 curve averages to AP (${cAll.overall.ap} vs ${report.stats[0]})`);
  const svg = prCurvesSvg(c50, 'bbox PR');
  t.ok(svg.startsWith('<svg') && svg.includes('all (AP ') && (svg.match(/<path /g) ?? []).length >= 2, 'SVG with the overall curve and class curves');
  t.throws(() => prCurves(report, 'iou75' as never), /iou must be 'iou50' or 'iou50-95', got "iou75"/, 'a wrong IoU setting is named');
  t.end();
});

const box = (x: number, y: number, w: number, h: number): [number, number, number, number] => [x, y, w, h];

/** Two 100x100 images, classes cat (1) and dog (2); ground truths given as [image, category, box]. */
function dataset(gts: [number, number, [number, number, number, number]][]): CocoDataset {
  return parseCoco({
    images: [
      { id: 1, width: 100, height: 100, file_name: '1.png' },
      { id: 2, width: 100, height: 100, file_name: '2.png' },
    ],
    categories: [
      { id: 1, name: 'cat' },
      { id: 2, name: 'dog' },
    ],
    annotations: gts.map(([image_id, category_id, b], i) => {
      const [x, y, w, h] = b;
      return { id: i + 1, image_id, category_id, bbox: b, area: w * h, iscrowd: 0, segmentation: [[x, y, x + w, y, x + w, y + h, x, y + h]] };
    }),
  });
}

function dets(gt: CocoDataset, list: [number, number, [number, number, number, number], number][]): CocoDetection[] {
  return loadResults(
    gt,
    list.map(([image_id, category_id, bbox, score]) => ({ image_id, category_id, bbox, score })),
  );
}

test('confusion matrix: one correct per image, a wrong class, a duplicate, a background detection and a missed ground truth', (t) => {
  // image 1: cat a, dog b; image 2: cat c, dog d (missed)
  const gt = dataset([
    [1, 1, box(0, 0, 20, 20)],
    [1, 2, box(50, 50, 20, 20)],
    [2, 1, box(10, 10, 30, 30)],
    [2, 2, box(60, 60, 20, 20)],
  ]);
  const detections = dets(gt, [
    [1, 1, box(0, 0, 20, 20), 0.9], // correct (cat on cat a)
    [1, 1, box(1, 0, 20, 20), 0.8], // duplicate of cat a (IoU 0.905)
    [1, 1, box(50, 50, 20, 20), 0.7], // a cat on dog b: wrong class
    [2, 2, box(80, 0, 15, 15), 0.95], // background
    [2, 1, box(10, 10, 30, 30), 0.6], // correct (cat on cat c)
    [2, 1, box(0, 80, 10, 10), 0.3], // below the score threshold: left out
  ]);
  const report = cocoEvaluate(gt, detections, { iouType: 'bbox' });
  const cm = confusionMatrix(gt, detections, report);
  t.deepEqual(cm.rowLabels, ['cat', 'dog', 'duplicate', 'background'], 'rows');
  t.deepEqual(cm.columnLabels, ['cat', 'dog', 'missed'], 'columns');
  t.deepEqual(
    cm.counts,
    [
      [2, 0, 0],
      [1, 0, 1],
      [1, 0, 0],
      [0, 1, 0],
    ],
    'counts: cat 2 correct; dog b taken by a cat, dog d missed; one duplicate cat; one background dog',
  );
  t.deepEqual(confusionTotals(cm), { correct: 2, wrongClass: 1, duplicate: 1, background: 1, missed: 1 }, 'totals');
  t.equal(confusionCsv(cm), 'gt \\ predicted,cat,dog,missed\ncat,2,0,0\ndog,1,0,1\nduplicate,1,0,\nbackground,0,1,\n', 'CSV');
  t.ok(confusionMarkdown(cm).includes('| cat | **2** | 0 | 0 |'), 'Markdown table with a bold diagonal');
  const low = confusionMatrix(gt, detections, report, { scoreThreshold: 0 });
  t.equal(low.counts[3]![0], 1, 'score threshold 0: the low-scoring cat counts as background');
  // a correct detection is never taken by a higher-scoring wrong-class one: COCO's matching first
  const gt2 = dataset([[1, 1, box(0, 0, 20, 20)]]);
  const d2 = dets(gt2, [
    [1, 2, box(0, 0, 20, 20), 0.9],
    [1, 1, box(0, 0, 20, 20), 0.8],
  ]);
  const cm2 = confusionMatrix(gt2, d2, cocoEvaluate(gt2, d2, { iouType: 'bbox' }));
  t.deepEqual(cm2.counts, [
    [1, 0, 0],
    [0, 0, 0],
    [0, 1, 0],
    [0, 0, 0],
  ], 'the cat is correct; the dog on the same place is a duplicate');
  t.end();
});

/** The TIDE case: each of the six error types exactly once. */
function tideCase(): { gt: CocoDataset; detections: CocoDetection[] } {
  const gt = dataset([
    [1, 1, box(0, 0, 20, 20)], // 1: cat a, detected
    [1, 2, box(50, 50, 20, 20)], // 2: dog b, only a cat on it (cls)
    [1, 1, box(0, 60, 20, 20)], // 3: cat e, only a shifted cat (loc)
    [2, 1, box(10, 10, 30, 30)], // 4: cat c, detected
    [2, 2, box(60, 60, 20, 20)], // 5: dog d, missed
  ]);
  const detections = dets(gt, [
    [1, 1, box(0, 0, 20, 20), 0.9], // id 1: TP on a
    [1, 1, box(1, 0, 20, 20), 0.8], // id 2: dupe of a
    [1, 1, box(50, 50, 20, 20), 0.7], // id 3: cls on dog b
    [1, 1, box(0, 70, 20, 20), 0.6], // id 4: loc on cat e (IoU 1/3)
    [2, 2, box(80, 0, 15, 15), 0.95], // id 5: bkg
    [2, 1, box(10, 10, 30, 30), 0.5], // id 6: TP on c
    [2, 1, box(70, 70, 20, 20), 0.4], // id 7: both (IoU 1/7 with dog d)
  ]);
  return { gt, detections };
}

test('TIDE: each error type lands in its bucket; the oracle fixes are what the evaluator says', (t) => {
  const { gt, detections } = tideCase();
  const report = cocoEvaluate(gt, detections, { iouType: 'bbox' });
  const tide = tideAnalysis(gt, detections, report);
  const byDet = new Map(tide.errors.filter((e) => e.detectionId !== undefined).map((e) => [e.detectionId!, e.type]));
  t.deepEqual(
    [2, 3, 4, 5, 7].map((id) => byDet.get(id)),
    ['dupe', 'cls', 'loc', 'bkg', 'both'],
    'detections 2..7: dupe, cls, loc, bkg, both',
  );
  t.notOk(byDet.has(1) || byDet.has(6), 'true positives carry no error');
  t.deepEqual(
    tide.errors.filter((e) => e.type === 'miss').map((e) => e.gtId),
    [5],
    'only dog d is missed (dog b and cat e are claimed by the cls and loc errors)',
  );
  for (const type of ['cls', 'loc', 'both', 'dupe', 'bkg', 'miss'] as const) t.equal(tide.main[type].count, 1, `one ${type} error`);
  t.equal(tide.ap50, report.stats[1], "AP50 is the evaluator's");
  const ap50 = (d: CocoDetection[], g: CocoDataset = gt): number => cocoEvaluate(g, d, { iouType: 'bbox' }).stats[1]!;
  const without = (...ids: number[]): CocoDetection[] => detections.filter((d) => !ids.includes(d.id));
  t.equal(tide.main.bkg.fixedAp50, ap50(without(5)), 'bkg fix: the background detection removed');
  t.equal(tide.main.dupe.fixedAp50, ap50(without(2)), 'dupe fix: the duplicate removed');
  t.equal(tide.main.both.fixedAp50, ap50(without(7)), 'both fix: removed');
  t.equal(
    tide.main.cls.fixedAp50,
    ap50(detections.map((d) => (d.id === 3 ? { ...d, category_id: 2 } : d))),
    'cls fix: the cat on dog b becomes a dog',
  );
  t.equal(
    tide.main.loc.fixedAp50,
    ap50(detections.map((d) => (d.id === 4 ? { ...d, bbox: box(0, 60, 20, 20) } : d))),
    'loc fix: the shifted cat moved onto cat e',
  );
  t.equal(tide.main.miss.fixedAp50, ap50(detections, { ...gt, annotations: gt.annotations.filter((a) => a.id !== 5) }), 'miss fix: dog d removed from the ground truth');
  for (const type of ['cls', 'loc', 'both', 'dupe', 'bkg', 'miss'] as const) {
    const e = tide.main[type];
    t.equal(e.dAp50, Math.max(e.fixedAp50 - tide.ap50, 0), `${type}: dAP50 ${e.dAp50.toFixed(3)} is the gain (clamped at 0, as TIDE)`);
  }
  // cat: TP 0.9, dupe 0.8, cls 0.7, loc 0.6, TP 0.5, both 0.4 over 3 cat GTs; dog: one bkg detection, no TP
  t.ok(tide.main.cls.dAp50 > 0 && tide.main.loc.dAp50 > 0 && tide.main.dupe.dAp50 > 0, 'fixing cls, loc or dupe raises AP50');
  t.equal(tide.main.both.dAp50, 0, 'the both error scores below every true positive: removing it changes nothing');
  t.equal(tide.main.bkg.dAp50, 0, 'removing the background dog cannot help: no dog is ever detected');
  t.equal(tide.main.miss.dAp50, 0, 'removing missed dog d leaves dog b undetected: dog AP50 stays 0');
  t.equal(tide.special.fp.count, 5, 'five false positives');
  t.equal(tide.special.fp.fixedAp50, ap50(without(2, 3, 4, 5, 7)), 'FP fix: every false positive removed');
  t.equal(tide.special.fn.count, 3, 'three unmatched ground truths (b, e, d)');
  t.equal(tide.allFixedAp50, 1, 'all six types fixed: AP50 1');
  t.ok(tideMarkdown(tide).includes('| cls (classification) | 1 |'), 'Markdown table');
  t.end();
});

test('TIDE and confusion on a perfect detection set: AP50 1, nothing to fix; crowd regions absorb detections', (t) => {
  const { gt } = tideCase();
  const perfect = dets(
    gt,
    gt.annotations.map((a, i) => [a.image_id, a.category_id, a.bbox as [number, number, number, number], 0.9 - i / 100]),
  );
  const report = cocoEvaluate(gt, perfect, { iouType: 'bbox' });
  const tide = tideAnalysis(gt, perfect, report);
  t.equal(tide.ap50, 1, 'AP50 1');
  t.equal(tide.errors.length, 0, 'no errors');
  for (const type of ['cls', 'loc', 'both', 'dupe', 'bkg', 'miss'] as const) t.equal(tide.main[type].dAp50, 0, `${type}: dAP50 0`);
  t.equal(tide.allFixedAp50, 1, 'fixed AP50 of a perfect set is 1');
  t.deepEqual(confusionTotals(confusionMatrix(gt, perfect, report)), { correct: 5, wrongClass: 0, duplicate: 0, background: 0, missed: 0 }, 'confusion: all correct');

  const crowd = parseCoco({
    images: [{ id: 1, width: 100, height: 100, file_name: '1.png' }],
    categories: [{ id: 1, name: 'cat' }],
    annotations: [
      { id: 1, image_id: 1, category_id: 1, bbox: [0, 0, 20, 20], area: 400, iscrowd: 0 },
      { id: 2, image_id: 1, category_id: 1, bbox: [40, 40, 50, 50], area: 2500, iscrowd: 1 },
    ],
  });
  const cd = dets(crowd, [
    [1, 1, box(0, 0, 20, 20), 0.9],
    [1, 1, box(50, 50, 10, 10), 0.8], // inside the crowd region: ignored, as the evaluator does
  ]);
  const cr = cocoEvaluate(crowd, cd, { iouType: 'bbox' });
  const ct = tideAnalysis(crowd, cd, cr);
  t.equal(ct.errors.length, 0, 'a detection inside a crowd region is no error');
  const ccm = confusionMatrix(crowd, cd, cr);
  t.equal(ccm.ignored, 1, 'the confusion matrix counts it as ignored');
  t.equal(confusionTotals(ccm).background, 0, 'not background');
  t.end();
});

test('analyzeErrors on masks, writeAnalysis files, summary and JSON', (t) => {
  const { gt, detections } = tideCase();
  const segm = loadResults(
    gt,
    detections.map((d) => ({ image_id: d.image_id, category_id: d.category_id, score: d.score, segmentation: d.segmentation })),
  );
  const report = cocoEvaluate(gt, segm, { iouType: 'segm' });
  const analysis = analyzeErrors(gt, segm, report);
  t.equal(analysis.iouType, 'segm', 'segm');
  t.deepEqual(
    TIDE_TYPES.map((type) => analysis.tide.main[type].count),
    [1, 1, 1, 1, 1, 1],
    'the box polygons as masks give the same six errors',
  );
  t.equal(analysis.tide.allFixedAp50, 1, 'segm: all fixed gives AP50 1 (masks moved onto the ground truth)');
  const dir = mkdtempSync(join(tmpdir(), 'analysis-'));
  try {
    const out = join(dir, 'nested', 'analysis');
    const written = writeAnalysis(out, [analysis]).map((p) => p.slice(out.length + 1));
    t.deepEqual(
      written.sort(),
      ['confusion.md', 'confusion_segm.csv', 'confusion_segm.svg', 'per_class.md', 'pr_segm_iou50-95.svg', 'pr_segm_iou50.svg', 'tide.md'],
      'the files, in a folder created on the way',
    );
    const perClass = readFileSync(join(out, 'per_class.md'), 'utf8');
    t.ok(perClass.startsWith('# Per-class AP') && perClass.includes('## segm') && /\| 1 \| cat \| \d\.\d{3} \| \d\.\d{3} \| \d\.\d{3} \|/.test(perClass), 'per_class.md has a row per class');
    t.ok(readFileSync(join(out, 'tide.md'), 'utf8').includes('| miss (missed) | 1 |'), 'tide.md');
    t.ok(readFileSync(join(out, 'confusion_segm.svg'), 'utf8').startsWith('<svg'), 'heat map');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  const summary = analysisSummary([analysis]);
  t.ok(summary.startsWith('error analysis (segm):') && summary.includes('TIDE dAP50') && summary.includes('2 missed'), `summary:\n${summary}`);
  const json = JSON.parse(JSON.stringify(analysisJson(analysis))) as { perClass: unknown[]; tide: { main: { cls: { count: number } }; errors?: unknown }; pr: { iou50: { overall: { precision: number[] } } } };
  t.equal(json.perClass.length, 2, 'JSON: per class');
  t.equal(json.tide.main.cls.count, 1, 'JSON: TIDE counts');
  t.equal(json.tide.errors, undefined, 'JSON: without the error list');
  t.equal(json.pr.iou50.overall.precision.length, 101, 'JSON: PR curves');
  t.end();
});

const TIDE_TYPES = ['cls', 'loc', 'both', 'dupe', 'bkg', 'miss'] as const;
