import test from 'tape';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runEval } from '../../../lib/maskrcnn/cli/eval.js';
import { rleFromBbox } from '../../../lib/maskrcnn/data/rle.js';
import { existsSync, readFileSync } from 'node:fs';
import { manualSeed } from '../../../lib/tensor/index.js';
import { MaskRCNN } from '../../../lib/maskrcnn/model/mask_rcnn.js';
import { shapesConfig } from '../../../lib/maskrcnn/model/config.js';
import { writeShapes } from '../../../lib/maskrcnn/data/index.js';
import { saveWeights } from '../../../lib/maskrcnn/model/weights.js';
import { runCaptured, type CommandRun } from './capture.js';

const capture = (argv: string[]): Promise<CommandRun> => runCaptured(runEval, argv);

function fixture(): { dir: string; gt: string; bbox: string; segm: string } {
  const dir = mkdtempSync(join(tmpdir(), 'eval-cli-'));
  const gt = join(dir, 'gt.json');
  const boxes: [number, number, number, number][] = [
    [0, 0, 20, 20],
    [40, 40, 50, 50],
    [10, 60, 30, 30],
  ];
  writeFileSync(
    gt,
    JSON.stringify({
      images: [{ id: 1, width: 100, height: 100, file_name: 'a.png' }],
      categories: [
        { id: 1, name: 'square' },
        { id: 2, name: 'circle' },
      ],
      annotations: boxes.map((b, i) => ({
        id: i + 1,
        image_id: 1,
        category_id: 1,
        bbox: b,
        area: b[2] * b[3],
        iscrowd: 0,
        segmentation: [[b[0], b[1], b[0] + b[2], b[1], b[0] + b[2], b[1] + b[3], b[0], b[1] + b[3]]],
      })),
    }),
  );
  const bbox = join(dir, 'bbox.json');
  writeFileSync(bbox, JSON.stringify(boxes.map((b, i) => ({ image_id: 1, category_id: 1, bbox: b, score: 0.9 - i / 10 }))));
  const segm = join(dir, 'segm.json');
  writeFileSync(segm, JSON.stringify(boxes.map((b, i) => ({ image_id: 1, category_id: 1, segmentation: rleFromBbox(b, 100, 100), score: 0.9 - i / 10 }))));
  return { dir, gt, bbox, segm };
}

test('maskrcnn eval --json prints one JSON object with 12 stats and per-category stats', async (t) => {
  const f = fixture();
  try {
    const r = await capture(['--gt', f.gt, '--dt', f.bbox, '--json']);
    t.equal(r.code, 0, 'exit 0');
    const parsed = JSON.parse(r.out) as { iouType: string; stats: number[]; perCategory: { categoryId: number; ap: number; stats: number[] }[] };
    t.equal(parsed.iouType, 'bbox', 'bbox by default for box results');
    t.equal(parsed.stats.length, 12, '12 stats');
    t.equal(parsed.stats[0], 1, 'perfect detections: AP 1');
    t.deepEqual(parsed.perCategory.map((c) => [c.categoryId, c.ap, c.stats.length]), [[1, 1, 12], [2, -1, 12]], 'per category');
    const s = await capture(['--gt', f.gt, '--dt', f.segm, '--json']);
    t.equal((JSON.parse(s.out) as { iouType: string }).iouType, 'segm', 'segm by default when results have segmentation');
    const forced = await capture(['--gt', f.gt, '--dt', f.bbox, '--iou-type=segm', '--json']);
    t.equal((JSON.parse(forced.out) as { iouType: string; stats: number[] }).stats[0], 1, '--iou-type=segm on box results (box polygons)');
  } finally {
    rmSync(f.dir, { recursive: true, force: true });
  }
  t.end();
});

test('maskrcnn eval --analysis DIR writes per-class AP, confusion, TIDE and PR files and prints a summary', async (t) => {
  const f = fixture();
  try {
    const dir = join(f.dir, 'analysis');
    const plain = await capture(['--gt', f.gt, '--dt', f.bbox]);
    const r = await capture(['--gt', f.gt, '--dt', f.bbox, '--analysis', dir]);
    t.equal(r.code, 0, `exit 0 ${r.err}`);
    t.ok(r.out.startsWith(`${plain.out}\n\nerror analysis (bbox):`), 'the usual report unchanged, then the analysis summary');
    t.ok(r.out.includes('confusion @IoU 0.5 (score >= 0.5): 3 correct, 0 wrong class, 0 duplicate, 0 background, 0 missed'), 'confusion totals');
    t.ok(r.out.includes(`analysis -> ${dir}`), 'names the folder');
    for (const file of ['per_class.md', 'confusion.md', 'confusion_bbox.csv', 'confusion_bbox.svg', 'tide.md', 'pr_bbox_iou50.svg', 'pr_bbox_iou50-95.svg']) {
      t.ok(existsSync(join(dir, file)), `${file} written`);
    }
    t.ok(readFileSync(join(dir, 'per_class.md'), 'utf8').includes('| 1 | square | 1.000 | 1.000 | 1.000 |'), 'per_class.md row');
    t.equal(readFileSync(join(dir, 'confusion_bbox.csv'), 'utf8').split('\n')[1], 'square,3,0,0', 'confusion CSV row');
    const j = await capture(['--gt', f.gt, '--dt', f.segm, '--json', '--analysis', dir]);
    t.equal(j.code, 0, '--json exit 0');
    const parsed = JSON.parse(j.out) as { analysis: { perClass: { name: string; ap50: number }[]; tide: { ap50: number; allFixedAp50: number }; confusion: { counts: number[][] } } };
    t.deepEqual(parsed.analysis.perClass.map((c) => [c.name, c.ap50]), [['square', 1], ['circle', -1]], '--json: per-class AP50');
    t.deepEqual([parsed.analysis.tide.ap50, parsed.analysis.tide.allFixedAp50], [1, 1], '--json: TIDE numbers');
    t.ok(existsSync(join(dir, 'pr_segm_iou50.svg')), 'segm files');
    const noAnalysis = JSON.parse((await capture(['--gt', f.gt, '--dt', f.bbox, '--json'])).out) as Record<string, unknown>;
    t.notOk('analysis' in noAnalysis, 'no analysis key without --analysis');
    const missing = await capture(['--gt', f.gt, '--dt', f.bbox, '--analysis']);
    t.equal(missing.code, 2, '--analysis without a folder: exit 2');
    t.match(missing.err, /--analysis needs a value/, 'names the flag');
    const onFile = await capture(['--gt', f.gt, '--dt', f.bbox, '--analysis', join(f.gt, 'sub')]);
    t.equal(onFile.code, 1, '--analysis under a file: exit 1');
    t.match(onFile.err, /cannot create .*gt\.json.* is a file/, 'says why');
  } finally {
    rmSync(f.dir, { recursive: true, force: true });
  }
  t.end();
});

test('maskrcnn eval prints the pycocotools summary table', async (t) => {
  const f = fixture();
  try {
    const r = await capture(['--gt', f.gt, '--dt', f.segm, '--iou-type', 'segm']);
    t.equal(r.code, 0, 'exit 0');
    const lines = r.out.split('\n');
    t.equal(lines[0], 'Evaluate annotation type *segm*', 'header');
    t.equal(lines[1], ' Average Precision  (AP) @[ IoU=0.50:0.95 | area=   all | maxDets=100 ] = 1.000', 'first line');
    t.equal(lines[12], ' Average Recall     (AR) @[ IoU=0.50:0.95 | area= large | maxDets=100 ] = -1.000', 'twelfth line');
    t.ok(lines.some((l) => /^\s+1\s+square\s+1\.000$/.test(l)), 'per-category AP line');
  } finally {
    rmSync(f.dir, { recursive: true, force: true });
  }
  t.end();
});

test('maskrcnn eval: usage errors and missing files give a non-zero exit and name the problem', async (t) => {
  const f = fixture();
  try {
    const help = await capture(['--help']);
    t.equal(help.code, 0, '--help exits 0');
    t.match(help.out, /usage: maskrcnn eval --gt/, 'help text');
    const bad = await capture(['--gt', f.gt, '--dt', f.bbox, '--bogus']);
    t.notEqual(bad.code, 0, 'unknown flag: non-zero');
    t.match(bad.err, /unknown option '--bogus'/, 'names the flag');
    const missing = await capture(['--gt', f.gt]);
    t.notEqual(missing.code, 0, 'missing --dt: non-zero');
    t.match(missing.err, /missing --dt/, 'says what is missing');
    const noValue = await capture(['--gt', f.gt, '--dt']);
    t.match(noValue.err, /option --dt needs a value/, 'flag without value');
    const type = await capture(['--gt', f.gt, '--dt', f.bbox, '--iou-type', 'keypoints']);
    t.notEqual(type.code, 0, 'bad iou type: non-zero');
    t.match(type.err, /--iou-type must be 'bbox' or 'segm', got 'keypoints'/, 'names the value');
    const nofile = await capture(['--gt', join(f.dir, 'nope.json'), '--dt', f.bbox]);
    t.equal(nofile.code, 1, 'missing gt file: exit 1');
    t.match(nofile.err, /cannot read COCO file .*nope\.json/, 'names the file');
    const nodt = await capture(['--gt', f.gt, '--dt', join(f.dir, 'gone.json')]);
    t.equal(nodt.code, 1, 'missing results file: exit 1');
    t.match(nodt.err, /cannot read results file .*gone\.json/, 'names the file');
  } finally {
    rmSync(f.dir, { recursive: true, force: true });
  }
  t.end();
});

test('maskrcnn eval: a results file holding [] evaluates to zeros and says 0 detections; unknown categories and deep files are reported', async (t) => {
  const f = fixture();
  try {
    const path = join(f.dir, 'empty.json');
    writeFileSync(path, '[]');
    const table = await capture(['--gt', f.gt, '--dt', path]);
    t.equal(table.code, 0, `exit 0 ${table.err}`);
    const lines = table.out.split('\n');
    t.match(lines[0]!, /empty\.json holds 0 detections: every AP and AR is 0 where there is ground truth/, 'first line says 0 detections');
    t.equal(lines[1], 'Evaluate annotation type *bbox*', 'bbox by default (no first result to look at)');
    t.equal(lines[2], ' Average Precision  (AP) @[ IoU=0.50:0.95 | area=   all | maxDets=100 ] = 0.000', 'AP 0');
    const json = await capture(['--gt', f.gt, '--dt', path, '--iou-type', 'segm', '--json']);
    t.equal(json.code, 0, '--json: exit 0');
    const parsed = JSON.parse(json.out) as { iouType: string; stats: number[]; perCategory: { ap: number }[] };
    // the fixture's three squares are 400, 2500 and 900 pixels: small and medium (AP 0); no large one (-1)
    t.deepEqual(parsed.stats, [0, 0, 0, 0, 0, -1, 0, 0, 0, 0, 0, -1], '--json: stdout is only the JSON, zeros and -1s');
    t.deepEqual(parsed.perCategory.map((c) => c.ap), [0, -1], 'per category: 0 with ground truth, -1 without');
    t.match(json.err, /note: .*empty\.json holds 0 detections/, '--json: the note goes to stderr');
    const other = join(f.dir, 'other.json');
    writeFileSync(other, JSON.stringify([{ image_id: 1, category_id: 1, bbox: [0, 0, 20, 20], score: 0.9 }, { image_id: 1, category_id: 42, bbox: [0, 0, 20, 20], score: 0.8 }]));
    const unknown = await capture(['--gt', f.gt, '--dt', other]);
    t.equal(unknown.code, 0, 'unknown category ids: exit 0 (pycocotools ignores them)');
    t.match(unknown.out, /other\.json: 1 of 2 detections have category ids the ground truth does not have \(42\); they are ignored, as pycocotools does/, 'but they are counted and reported');
    const far = join(f.dir, 'far.json');
    writeFileSync(far, JSON.stringify([{ image_id: 1, category_id: 1, bbox: [0, 0, 20, 20], score: 0.9, segmentation: [[0, 0, 2e7, 0, 2e7, 20]] }]));
    const farRun = await capture(['--gt', f.gt, '--dt', far, '--iou-type', 'segm']);
    t.equal(farRun.code, 1, 'a polygon too large to rasterise: exit 1');
    t.match(farRun.err, /^maskrcnn eval: .*far\.json against .*gt\.json: cocoEvaluate: results\[0\]\.segmentation: rleFromPolygons: polygon coordinates are too large to rasterise/, 'names both files and the result');
    const deep = join(f.dir, 'deep.json');
    writeFileSync(deep, '['.repeat(100000) + ']'.repeat(100000));
    const nested = await capture(['--gt', f.gt, '--dt', deep]);
    t.equal(nested.code, 1, 'a results file nested 100,000 deep: exit 1');
    t.match(nested.err, /^maskrcnn eval: .*deep\.json \(results file\): JSON nests deeper than 64 levels/, 'a clean error naming the file, no stack overflow');
  } finally {
    rmSync(f.dir, { recursive: true, force: true });
  }
  t.end();
});

test('maskrcnn eval --weights --data: runs the model, prints 12 numbers for bbox and for segm, writes --out', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'eval-cli-model-'));
  try {
    manualSeed(0);
    const weights = join(dir, 'model.safetensors');
    saveWeights(weights, new MaskRCNN(shapesConfig(4)), { classes: ['__background__', 'square', 'circle', 'triangle'] });
    const data = join(dir, 'data');
    writeShapes(data, { count: 2, size: 64 });
    const out = join(dir, 'results.json');
    const r = await capture(['--weights', weights, '--data', data, '--out', out]);
    t.equal(r.code, 0, `exit 0 ${r.err}`);
    t.match(r.out, /^2 images, \d+ detections/, 'first line: images and detections');
    for (const iouType of ['bbox', 'segm']) {
      const start = r.out.indexOf(`Evaluate annotation type *${iouType}*`);
      t.ok(start >= 0, `${iouType} header`);
      const numbers = r.out.slice(start).split('\n').slice(1, 13).map((l) => /= (-?\d\.\d{3})$/.exec(l)?.[1]);
      t.equal(numbers.filter((x) => x !== undefined).length, 12, `${iouType}: 12 numbers`);
      t.ok(numbers.every((x) => Number(x) >= -1 && Number(x) <= 1), `${iouType}: each in [-1, 1]`);
    }
    t.ok(existsSync(out), '--out written');
    const results = JSON.parse(readFileSync(out, 'utf8')) as { image_id: number; category_id: number }[];
    t.ok(results.every((x) => [1, 2].includes(x.image_id) && [1, 2, 3].includes(x.category_id)), 'COCO image and category ids of the dataset');
    const analysisDir = join(dir, 'analysis');
    const json = await capture(['--weights', weights, '--data', data, '--limit', '1', '--json', '--analysis', analysisDir]);
    t.equal(json.code, 0, '--json exit 0');
    const parsed = JSON.parse(json.out) as { images: number; bbox: { stats: number[]; analysis?: { perClass: unknown[] } }; segm: { stats: number[]; analysis?: { perClass: unknown[] } } };
    t.deepEqual([parsed.images, parsed.bbox.stats.length, parsed.segm.stats.length], [1, 12, 12], '--limit 1: one image, 12 stats each');
    t.deepEqual([parsed.bbox.analysis?.perClass.length, parsed.segm.analysis?.perClass.length], [3, 3], '--analysis: per-class AP of the 3 classes for bbox and segm');
    t.ok(['pr_bbox_iou50.svg', 'pr_segm_iou50.svg', 'confusion_bbox.csv', 'confusion_segm.csv', 'tide.md'].every((f) => existsSync(join(analysisDir, f))), '--analysis: files for both IoU types');

    const noData = await capture(['--weights', weights]);
    t.equal(noData.code, 2, 'missing --data: exit 2');
    t.match(noData.err, /--data is required/, 'names the flag');
    const gone = await capture(['--weights', join(dir, 'nope.safetensors'), '--data', data]);
    t.equal(gone.code, 2, 'nonexistent weights: exit 2');
    t.match(gone.err, /--weights .*nope\.safetensors: no such file/, 'names the file');
    const noAnn = await capture(['--weights', weights, '--data', join(data, 'images')]);
    t.equal(noAnn.code, 2, 'folder without annotations.json: exit 2');
    t.match(noAnn.err, /--data .*annotations\.json: no such file/, 'names the file');
    const mixed = await capture(['--weights', weights, '--data', data, '--gt', out]);
    t.equal(mixed.code, 2, '--gt with --weights: exit 2');
    t.match(mixed.err, /--gt cannot be combined with --weights/, 'explains');
    const limit = await capture(['--weights', weights, '--data', data, '--limit', '0']);
    t.match(limit.err, /--limit must be an integer in 1\.\./, 'bad --limit');
    const orphan = await capture(['--gt', out, '--dt', out, '--data', data]);
    t.equal(orphan.code, 2, '--data without --weights: exit 2');
    t.match(orphan.err, /--data needs --weights/, 'explains');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  t.end();
});
