import test from 'tape';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  ABLATION_TABLES, PAPER_SWITCHES, ablationTableMarkdown, generateShapes, runAblation, shapesDetectionDataset, switchesKey,
  type AblationReport, type AblationRunResult,
} from '../../../lib/maskrcnn/index.js';
import { runAblate } from '../../../lib/maskrcnn/cli/ablate.js';
import { tinyConfig } from '../../fixtures/train/tiny_run.js';

test('ablation tables: every variant is a distinct switch set, one reference row per table, the paper\'s numbers as printed', (t) => {
  for (const table of Object.values(ABLATION_TABLES)) {
    const keys = table.variants.map((v) => switchesKey(v.switches));
    t.equal(new Set(keys).size, keys.length, `${table.id}: ${keys.join(' | ')}`);
    t.equal(table.variants.filter((v) => v.reference).length, 1, `${table.id}: one reference row`);
  }
  t.equal(switchesKey({}), 'roi_align.fpn.fcn.sigmoid.specific', "the paper's choices");
  t.deepEqual(PAPER_SWITCHES, { pooler: 'roi_align', poolerLevels: 'fpn', maskHead: 'fcn', maskLoss: 'sigmoid', classAgnosticMask: false });
  const d = ABLATION_TABLES['2d'].variants;
  t.deepEqual([d[1]!.paper.AP - d[0]!.paper.AP, d[1]!.paper.AP75! - d[0]!.paper.AP75!, d[1]!.paper.APbb! - d[0]!.paper.APbb!].map((v) => Number(v.toFixed(1))), [7.3, 10.5, 5.8], "Table 2d's gaps as the study notes quote them (+7.3 AP, +10.5 AP75, +5.8 box AP)");
  const b = ABLATION_TABLES['2b'].variants;
  t.equal(Number((b[1]!.paper.AP - b[0]!.paper.AP).toFixed(1)), 5.5, 'Table 2b: sigmoid over softmax +5.5 AP');
  t.end();
});

test('ablation table Markdown: the paper\'s layout, deltas from the paper\'s choice, and the measured sign compared with the paper\'s', (t) => {
  const run = (switches: object, segm: [number, number, number], seed = 0): AblationRunResult => ({ key: switchesKey(switches), seed, iterations: 10, trainSeconds: 1, segm, bbox: [0.5, 0.7, 0.4] });
  const runs = [run({ pooler: 'roi_pool', poolerLevels: 'stride32' }, [0.2, 0.5, 0.1]), run({ pooler: 'roi_pool', poolerLevels: 'stride32' }, [0.3, 0.5, 0.1], 1), run({ poolerLevels: 'stride32' }, [0.4, 0.6, 0.3])];
  const md = ablationTableMarkdown(ABLATION_TABLES['2d'], runs);
  t.ok(md.includes('| RoIPool | 25.0 ± 7.1 | 50.0 ± 0.0 | 10.0 ± 0.0 | 50.0 ± 0.0 | 70.0 ± 0.0 | 40.0 ± 0.0 | 23.6 | -15.0 | -7.3 | yes |'), 'RoIPool row: mean ± std of two seeds, our delta and the paper\'s, same sign');
  t.ok(md.includes('| RoIAlign | 40.0 | 60.0 | 30.0 | 50.0 | 70.0 | 40.0 | 30.9 |  |  |  |'), 'the reference row');
  const flipped = ablationTableMarkdown(ABLATION_TABLES['2b'], [run({ maskLoss: 'softmax' }, [0.5, 0.6, 0.4]), run({}, [0.4, 0.6, 0.3])]);
  t.ok(flipped.includes('| softmax | 50.0 | 60.0 | 40.0 | 24.8 | +10.0 | -5.5 | no |'), 'a gap of the opposite sign is reported as such');
  const tie = ablationTableMarkdown(ABLATION_TABLES['agnostic'], [run({ classAgnosticMask: true }, [0.4, 0.6, 0.3]), run({}, [0.4, 0.6, 0.3])]);
  t.ok(tie.includes('| +0.0 | -0.6 | within noise |'), 'an equal result is not counted as a disagreement');
  t.ok(ablationTableMarkdown(ABLATION_TABLES['2e'], []).includes('| MLP (fc, fc, fc) | not run | not run | not run | 31.5 |'), 'rows not yet run say so');
  t.end();
});

test('runAblation: a tiny Table 2d end to end (2 variants, 3 iterations), files written, and a second call resumes instead of retraining', (t) => {
  const out = mkdtempSync(join(tmpdir(), 'ablate-'));
  const trainSet = shapesDetectionDataset(generateShapes({ count: 6, size: 64, seed: 3 }), { contiguousLabels: true });
  const valSet = shapesDetectionDataset(generateShapes({ count: 2, size: 64, seed: 4, startImageId: 100 }), { contiguousLabels: true });
  const lines: string[] = [];
  const options = { tables: ['2d' as const], config: tinyConfig(), train: trainSet, val: valSet, outDir: out, iterations: 3, batchSize: 2, log: (l: string) => lines.push(l) };
  const report = runAblation(options);
  t.equal(report.runs.length, 2, 'two runs');
  t.deepEqual(report.runs.map((r) => r.key).sort(), ['roi_align.stride32.fcn.sigmoid.specific', 'roi_pool.stride32.fcn.sigmoid.specific']);
  t.ok(report.runs.every((r) => r.segm.every(Number.isFinite) && r.bbox.every(Number.isFinite)), `finite COCO numbers: ${report.runs.map((r) => r.segm[0].toFixed(3)).join(', ')}`);
  for (const f of ['ablation.md', 'ablation.json', 'table-2d.svg']) t.ok(existsSync(join(out, f)), `${f} written`);
  t.ok(readFileSync(join(out, 'ablation.md'), 'utf8').includes('RoIAlign vs. RoIPool at stride 32 (Table 2d)'), 'the table in the Markdown');
  t.ok(readFileSync(join(out, 'table-2d.svg'), 'utf8').startsWith('<svg'), 'the chart is an SVG');
  lines.length = 0;
  const again = runAblation(options);
  t.equal(lines.filter((l) => l.includes('done earlier')).length, 2, 'both runs read back, none retrained');
  t.deepEqual(again.runs, report.runs, 'the same results');
  lines.length = 0;
  const partial = runAblation({ ...options, tables: ['2d', 'agnostic'], reportOnly: true });
  t.deepEqual(partial.runs, report.runs, 'report only: the finished runs, nothing trained');
  t.equal(lines.filter((l) => l.endsWith('not run yet')).length, 2, "the class-agnostic table's two runs are named as not run");
  t.ok(readFileSync(join(out, 'ablation.md'), 'utf8').includes('| class-agnostic | not run | not run | not run |'), 'and its rows say so in the Markdown');
  t.end();
});

test("the course's ablation chapter prints exactly the tables of its measured file (docs/course/ablation/ablation.json)", (t) => {
  const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
  const report = JSON.parse(readFileSync(join(root, 'docs', 'course', 'ablation', 'ablation.json'), 'utf8')) as AblationReport;
  const chapter = readFileSync(join(root, 'docs', 'course', 'ablations.md'), 'utf8');
  t.ok(report.runs.length > 0, `${report.runs.length} runs in the file`);
  for (const id of report.tables) {
    // The chapter gives each table its own heading; the rest (setting line and rows) is the tool's.
    const body = ablationTableMarkdown(ABLATION_TABLES[id], report.runs).split('\n').slice(1).join('\n').trim();
    t.ok(chapter.includes(body), `table ${id}: the chapter's rows are the file's`);
  }
  t.end();
});

test('maskrcnn ablate: bad tables and contradictory options are usage errors', async (t) => {
  const errors: string[] = [];
  const original = console.error;
  console.error = (m: string) => errors.push(m);
  try {
    t.equal(await runAblate(['--table', '2z', '--out', join(tmpdir(), 'x')]), 2, 'exit code 2');
    t.ok(errors[0]!.startsWith("maskrcnn ablate: --table: unknown table '2z' (2b, 2c, 2d, 2e, agnostic or all)"), errors[0]!.split('\n')[0]);
    t.equal(await runAblate(['--table', '2d', '--out', join(tmpdir(), 'x'), '--minutes', '1', '--iterations', '5']), 2);
    t.ok(errors[1]!.startsWith('maskrcnn ablate: give --minutes or --iterations, not both'), errors[1]!.split('\n')[0]);
  } finally {
    console.error = original;
  }
  t.end();
});
