/**
 * Golden check of the COCO evaluator (parseCoco -> loadResults -> cocoEvaluate) against the real
 * pycocotools COCOeval. The fixtures test/fixtures/coco/eval_*.json come from
 * tools/oracle/gen_coco.py (see its header for the venv); each holds a ground truth, results
 * lists and, per evaluation, COCOeval's 12 stats, the per-category AP and 12 stats, the whole
 * recall table and a subset of the per-image match tables (evalImgs).
 *
 * Compared exactly: recall tables, match tables (dtIds, gtIds, dtMatches, gtMatches, dtIgnore,
 * gtIgnore, dtScores), the number of non-empty evalImgs and the printed 12-line summary; the
 * stats and per-category numbers within 1e-12 (numpy's pairwise mean), and the stats exactly
 * where numpy 1.x and 2.x agree (at most 8 categories).
 */
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import test from 'tape';
import { parseCoco, type CocoDataset } from '../../../lib/maskrcnn/data/coco.js';
import { cocoEvaluate, formatSummary, type CocoEvalReport, type EvalImage, type IouType } from '../../../lib/maskrcnn/eval/cocoeval.js';
import { loadResults } from '../../../lib/maskrcnn/eval/results.js';
import { assertSameNumbers } from '../../helpers.js';

interface FixtureEvalImg {
  imageId: number;
  categoryId: number;
  area: number;
  dtIds: number[];
  gtIds: number[];
  dtMatches: number[][];
  gtMatches: number[][];
  dtIgnore: number[][];
  gtIgnore: number[];
  dtScores: number[];
}
interface FixtureEval {
  results: string;
  iouType: IouType;
  stats: number[];
  summary: string;
  perCategory: { categoryId: number; ap: number; stats: number[] }[];
  recall: number[];
  counts: number[];
  nonNullEvalImgs: number;
  evalImgs: FixtureEvalImg[];
}
interface EvalFixture {
  name: string;
  description: string;
  seed: number;
  pycocotools: string;
  numpy: string;
  gt: unknown;
  results: Record<string, unknown[]>;
  evals: FixtureEval[];
}

const dir = fileURLToPath(new URL('../../fixtures/coco', import.meta.url));
const files = readdirSync(dir)
  .filter((f) => /^eval_.*\.json$/.test(f))
  .sort();

/** Within 1e-12 (the tolerance COCO_SPEC allows for numpy's summation order), and -1 exactly. */
function closeNumbers(t: test.Test, actual: readonly number[], expected: readonly number[], message: string): void {
  if (actual.length !== expected.length) {
    t.fail(`${message}: length ${actual.length}, expected ${expected.length}`);
    return;
  }
  for (let i = 0; i < expected.length; i++) {
    const a = actual[i]!;
    const e = expected[i]!;
    const ok = e === -1 ? a === -1 : Math.abs(a - e) <= 1e-12;
    if (!ok) {
      t.fail(`${message}: element ${i} is ${a}, expected ${e} (diff ${a - e})`);
      return;
    }
  }
  t.pass(message);
}

test('pycocotools parity: fixtures present', (t) => {
  t.ok(files.length >= 5, `${files.length} evaluation fixtures in ${dir}`);
  t.end();
});

for (const file of files) {
  const fx = JSON.parse(readFileSync(join(dir, file), 'utf8')) as EvalFixture;
  test(`pycocotools parity: ${fx.name} (${fx.description})`, (t) => {
    let gt: CocoDataset;
    try {
      gt = parseCoco(fx.gt, { source: file });
    } catch (error) {
      t.fail(`${fx.name}: parseCoco throws where pycocotools evaluates: ${(error as Error).message}`);
      t.end();
      return;
    }
    for (const ev of fx.evals) {
      const what = `${fx.name} ${ev.results} results, ${ev.iouType}`;
      let report: CocoEvalReport;
      try {
        const dets = loadResults(gt, fx.results[ev.results], { source: `${file} ${ev.results}` });
        report = cocoEvaluate(gt, dets, { iouType: ev.iouType, keepEvalImages: true });
      } catch (error) {
        t.fail(`${what}: throws where pycocotools evaluates: ${(error as Error).message}`);
        continue;
      }
      const { params } = report;
      closeNumbers(t, report.stats, ev.stats, `${what}: 12 stats within 1e-12`);
      // numpy 2.x sums the flattened table pairwise in one piece, numpy 1.x in 8192-element
      // chunks (what numpySum reproduces): up to 8 categories (8080 entries) both agree exactly
      if (params.catIds.length <= 8) assertSameNumbers(t, report.stats, ev.stats, `${what}: 12 stats exactly`);
      t.equal(formatSummary(report.stats), ev.summary, `${what}: the printed summary, character for character`);
      assertSameNumbers(
        t,
        report.perCategory.map((c) => c.categoryId),
        ev.perCategory.map((c) => c.categoryId),
        `${what}: category order`,
      );
      closeNumbers(
        t,
        report.perCategory.map((c) => c.ap),
        ev.perCategory.map((c) => c.ap),
        `${what}: per-category AP (mean of precision[:, :, k, all, 100] > -1)`,
      );
      closeNumbers(
        t,
        report.perCategory.flatMap((c) => c.stats),
        ev.perCategory.flatMap((c) => c.stats),
        `${what}: per-category 12 stats`,
      );
      assertSameNumbers(t, report.accumulation.counts, ev.counts, `${what}: [T, R, K, A, M]`);
      assertSameNumbers(t, report.accumulation.recall, ev.recall, `${what}: recall table [T][K][A][M]`);

      const imgs = report.evalImgs ?? [];
      t.equal(imgs.filter((e) => e !== null).length, ev.nonNullEvalImgs, `${what}: number of non-empty evalImgs`);
      const I = params.imgIds.length;
      const A = params.areaRng.length;
      let bad = 0;
      for (const want of ev.evalImgs) {
        const k = params.catIds.indexOf(want.categoryId);
        const i = params.imgIds.indexOf(want.imageId);
        const got: EvalImage | null | undefined = k >= 0 && i >= 0 ? imgs[(k * A + want.area) * I + i] : undefined;
        const where = `${what}: evalImg image ${want.imageId} category ${want.categoryId} area ${params.areaRngLbl[want.area]}`;
        if (got === null || got === undefined) {
          t.fail(`${where}: missing`);
          bad++;
          continue;
        }
        const problems: string[] = [];
        const cmp = (name: string, a: ArrayLike<number>, b: ArrayLike<number>): void => {
          if (a.length !== b.length) {
            problems.push(`${name}: length ${a.length} vs ${b.length}`);
            return;
          }
          for (let j = 0; j < b.length; j++) {
            if (a[j] !== b[j]) {
              problems.push(`${name}[${j}] = ${a[j]}, pycocotools ${b[j]}`);
              return;
            }
          }
        };
        cmp('dtIds', got.dtIds, want.dtIds);
        cmp('gtIds', got.gtIds, want.gtIds);
        cmp('dtMatches', got.dtMatches, want.dtMatches.flat());
        cmp('gtMatches', got.gtMatches, want.gtMatches.flat());
        cmp('dtIgnore', got.dtIgnore, want.dtIgnore.flat());
        cmp('gtIgnore', got.gtIgnore, want.gtIgnore);
        cmp('dtScores', got.dtScores, want.dtScores);
        if (problems.length > 0) {
          t.fail(`${where}: ${problems.join('; ')}`);
          bad++;
        }
      }
      if (bad === 0) t.pass(`${what}: ${ev.evalImgs.length} match tables identical`);
    }
    t.end();
  });
}
