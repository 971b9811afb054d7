import test from 'tape';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadCheckpoint } from '../../../lib/nn/index.js';
import { BUDGET_FIRST_PLAN, planIterations, train, TRAIN_FILES, type IterationRecord, type TrainReporter } from '../../../lib/maskrcnn/index.js';
import { assertThrowsMessage } from '../../helpers.js';
import { options } from '../../fixtures/train/tiny_run.js';

const base = { iteration: 100, elapsedSeconds: 30, budgetSeconds: 600, secondsPerIteration: 0.3, maxIterations: 5000, lrStepFraction: 0.8, lrStep: 4000 };

test('planIterations: the iterations that fit the seconds left, the step at 80% while it is ahead, fixed once taken', (t) => {
  // 570 s left at 0.3 s: 1900 more iterations, 2000 in all; the step at 0.8 x 2000.
  t.deepEqual(planIterations(base), { iterations: 2000, lrStep: 1600 });
  t.deepEqual(planIterations({ ...base, maxIterations: 1500 }), { iterations: 1500, lrStep: 1200 }, 'at most maxIterations');
  t.deepEqual(planIterations({ ...base, secondsPerIteration: 0.38 }), { iterations: 1600, lrStep: 1280 }, 'slower: 570 / 0.38 = 1500 more');
  t.deepEqual(planIterations({ ...base, lrStep: 90 }), { iterations: 2000, lrStep: 90 }, 'a step already taken (90 <= 100) stays');
  t.deepEqual(planIterations({ ...base, lrStep: 100 }), { iterations: 2000, lrStep: 100 }, 'a step taken at this very iteration stays');
  t.deepEqual(planIterations({ ...base, elapsedSeconds: 700 }), { iterations: 100, lrStep: 100 }, 'the budget spent: stop now');
  t.deepEqual(planIterations({ ...base, iteration: 1590, elapsedSeconds: 597 }), { iterations: 1600, lrStep: 1591 }, 'a step still ahead is never placed in the past');
  assertThrowsMessage(t, () => planIterations({ ...base, secondsPerIteration: 0 }), 'secondsPerIteration must be a positive number, got 0', 'no speed');
  assertThrowsMessage(t, () => planIterations({ ...base, lrStepFraction: 1.5 }), 'lrStepFraction must be in (0, 1], got 1.5', 'a fraction above 1');
  t.end();
});

function trainRecords(dir: string): IterationRecord[] {
  return readFileSync(join(dir, TRAIN_FILES.log), 'utf8')
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => JSON.parse(l) as IterationRecord)
    .filter((r) => r.type === 'train');
}

test('train with timeBudgetSeconds: plans after the first iterations, ends at the plan, the step moved with it', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'train-budget-'));
  const plans: Array<{ iteration: number; iterations: number; lrSteps: number[]; first: boolean }> = [];
  const reporter: TrainReporter = { plan: (p) => plans.push(p) };
  const result = train(options(dir, { iterations: 100_000, timeBudgetSeconds: 2, warmupIterations: 2, reporter }));
  t.ok(plans.length >= 1 && plans[0]!.first && plans[0]!.iteration === BUDGET_FIRST_PLAN, `first plan after ${BUDGET_FIRST_PLAN} iterations: ${JSON.stringify(plans[0])}`);
  const last = plans.at(-1)!;
  t.equal(result.iteration, last.iterations, `ran the planned ${last.iterations} iterations, not the maximum of 100000`);
  const records = trainRecords(dir);
  t.deepEqual(records.map((r) => r.iteration), Array.from({ length: result.iteration }, (_, i) => i + 1), 'the log has every iteration once');
  const step = last.lrSteps[0]!;
  t.ok(step <= last.iterations && step !== 80_000, `the learning-rate step moved with the plan (x0.1 at ${step} of ${last.iterations}, not at 80% of the maximum)`);
  const extra = loadCheckpoint(join(dir, TRAIN_FILES.checkpoint), {}).extra as { plannedIterations: number; hyper: { lrSteps: number[] } };
  t.deepEqual([extra.plannedIterations, extra.hyper.lrSteps], [result.iteration, [step]], 'the checkpoint records the plan: its length and its step');
  t.end();
});

test('train with timeBudgetSeconds: a stopped run resumes with its plan, and bad budgets are named', (t) => {
  // A budget far beyond the run and at most 14 iterations: the plan at iteration 10 is 14
  // iterations with the step at floor(0.8 x 14) = 11, whatever this machine's speed.
  const dir = mkdtempSync(join(tmpdir(), 'train-budget-resume-'));
  const run = { iterations: 14, timeBudgetSeconds: 1000, warmupIterations: 2, checkpointEvery: 12 };
  const first = train(options(dir, { ...run, stopAfter: 12 }));
  t.equal(first.iteration, 12, 'stopped after 12 iterations (a checkpoint there)');
  const saved = loadCheckpoint(join(dir, TRAIN_FILES.checkpoint), {}).extra as { plannedIterations: number; hyper: { lrSteps: number[] } };
  t.deepEqual([saved.plannedIterations, saved.hyper.lrSteps], [14, [11]], 'the checkpoint holds the plan made at iteration 10: 14 iterations, x0.1 at 11');
  const plans: number[] = [];
  const resumed = train(options(dir, { ...run, resume: true, reporter: { plan: (p) => plans.push(p.iterations) } }));
  t.equal(resumed.iteration, 14, 'the resumed run ends at the plan');
  const records = trainRecords(dir);
  t.deepEqual(records.map((r) => r.iteration), Array.from({ length: 14 }, (_, i) => i + 1), 'iterations 1..14 once each across the resume');
  t.deepEqual(records.slice(9).map((r) => Number(r.lr.toPrecision(6))), [0.02, 0.02, 0.002, 0.002, 0.002], 'lr 0.02 up to iteration 11, then 0.002 (the step at 11 kept across the resume)');
  assertThrowsMessage(t, () => train(options(mkdtempSync(join(tmpdir(), 'train-budget-bad-')), { timeBudgetSeconds: 0 })), 'train: timeBudgetSeconds must be a positive number of seconds, got 0', 'a zero budget');
  assertThrowsMessage(t, () => train(options(mkdtempSync(join(tmpdir(), 'train-budget-bad-')), { timeBudgetSeconds: 5, lrSteps: [3] })), 'train: give lrSteps or timeBudgetSeconds, not both', 'a budget with explicit steps');
  t.end();
});
