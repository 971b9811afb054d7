import test from 'tape';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Generator, Tensor, full, manualSeed } from '../../../lib/tensor/index.js';
import { SafetensorsFile, loadCheckpoint, loadSafetensors, saveSafetensors, type SafetensorsInput } from '../../../lib/nn/index.js';
import {
  MaskRCNN, generateShapes, shapesConfig, shapesDetectionDataset, train, loadWeights, formatEvalRecord, TRAIN_FILES,
  type EvalRecord, type IterationRecord, type TrainOptions, type WeightsReport,
} from '../../../lib/maskrcnn/index.js';
import { assertThrowsMessage } from '../../helpers.js';
import { options, tinyConfig } from '../../fixtures/train/tiny_run.js';

const valSet = shapesDetectionDataset(generateShapes({ count: 2, size: 64, seed: 4, startImageId: 100 }), { contiguousLabels: true });

function trainRecords(path: string): IterationRecord[] {
  return readFileSync(path, 'utf8')
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => JSON.parse(l) as IterationRecord)
    .filter((r) => r.type === 'train');
}

/** A record without its timings: what must be identical between runs. */
function numbers(r: IterationRecord): unknown {
  return { iteration: r.iteration, epoch: r.epoch, lr: r.lr, loss: r.loss, losses: r.losses, gradNorm: r.gradNorm };
}

test('train: the loss of a short run on tiny shapes images goes down, and the run writes its files', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'train-'));
  const result = train(options(dir, { iterations: 24, checkpointEvery: 100, warmupIterations: 3, lrSteps: [20], val: valSet, skipFinalEval: false }));
  const losses = result.records.map((r) => r.loss);
  t.equal(losses.length, 24, '24 iterations recorded');
  const mean = (xs: number[]): number => xs.reduce((a, b) => a + b, 0) / xs.length;
  const first = mean(losses.slice(0, 4));
  const last = mean(losses.slice(-4));
  t.ok(last < 0.75 * first, `mean loss of the last 4 iterations ${last.toFixed(3)} < 0.75 x the first 4's ${first.toFixed(3)}`);
  t.ok(losses.every(Number.isFinite), 'every loss finite');
  t.deepEqual(Object.keys(result.records[0]!.losses).sort(), ['loss_box_reg', 'loss_classifier', 'loss_mask', 'loss_objectness', 'loss_rpn_box_reg'], 'the five loss terms are logged');
  for (const f of Object.values(TRAIN_FILES)) t.ok(existsSync(join(dir, f)), `${f} written`);
  t.ok(readFileSync(join(dir, TRAIN_FILES.plot), 'utf8').startsWith('<svg'), 'the loss curve is an SVG');
  const lrs = result.records.map((r) => r.lr);
  t.ok(lrs[0]! < lrs[3]! && Math.abs(lrs[5]! - 0.02) < 1e-12 && Math.abs(lrs[23]! - 0.002) < 1e-12, `warmup then step decay: lr ${lrs[0]!.toExponential(2)} -> ${lrs[5]} -> ${lrs[23]}`);
  t.equal(result.evaluation?.bbox.stats.length, 12, 'the final evaluation has the 12 bbox numbers');
  t.equal(result.evaluation?.segm.stats.length, 12, 'and the 12 segm numbers');
  const { model, classes } = loadWeights(join(dir, TRAIN_FILES.weights));
  t.deepEqual(classes, ['__background__', 'square', 'circle', 'triangle'], 'the weights file keeps the class names');
  const a = model.stateDict();
  const b = result.model.stateDict();
  t.ok([...a].every(([k, v]) => v.data.every((x, i) => x === b.get(k)!.data[i])), 'the weights file holds the trained weights exactly');
  t.end();
});

test('train --eval-every: a model that detects nothing evaluates to AP 0 and training continues', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'train-nodet-'));
  const config = tinyConfig();
  // no class score exceeds 1, so every evaluation sees an empty detection list
  config.roiHeads = { ...config.roiHeads, boxScoreThresh: 1 };
  const evals: EvalRecord[] = [];
  const result = train(options(dir, { config, iterations: 4, evalEvery: 2, val: valSet, skipFinalEval: false, reporter: { evaluation: (r) => evals.push(r) } }));
  t.equal(result.iteration, 4, 'all 4 iterations ran');
  t.deepEqual(evals.map((r) => [r.iteration, r.detections]), [[2, 0], [4, 0]], 'evaluated after iteration 2 and at the end, 0 detections each');
  for (const r of evals) {
    t.deepEqual([r.bbox[0], r.bbox[1], r.segm[0], r.segm[1], r.bbox[8]], [0, 0, 0, 0, 0], `eval @ ${r.iteration}: AP, AP50 and AR100 are 0 (ground truth, no detections)`);
  }
  t.match(formatEvalRecord(evals[0]!), /^eval @ 2 \(2 images, 0 detections, /, 'the summary line says 0 detections');
  const logged = readFileSync(join(dir, TRAIN_FILES.log), 'utf8').split('\n').filter((l) => l.includes('"eval"'));
  t.equal(logged.length, 2, 'both evaluations are in the log');
  t.ok(existsSync(join(dir, TRAIN_FILES.weights)), 'the final weights were written');
  t.end();
});

test('train: a resumed run continues exactly where it stopped (bit-identical losses)', (t) => {
  const whole = mkdtempSync(join(tmpdir(), 'train-whole-'));
  const reference = train(options(whole)).records.map(numbers);
  // Killed after iteration 4: the checkpoint is from iteration 3, the log already has 4.
  const split = mkdtempSync(join(tmpdir(), 'train-split-'));
  const first = train(options(split, { stopAfter: 4 }));
  t.equal(first.iteration, 4, 'the first call stopped after 4 iterations');
  t.equal(trainRecords(join(split, TRAIN_FILES.log)).length, 4, 'its log has 4 iterations');
  t.equal((loadCheckpoint(join(split, TRAIN_FILES.checkpoint), {}).extra as { iteration: number }).iteration, 3, 'its checkpoint is from iteration 3');
  assertThrowsMessage(t, () => train(options(split)), 'exists: pass resume', 'a fresh run refuses to overwrite the checkpoint');
  const second = train(options(split, { resume: true }));
  t.deepEqual(second.records.map((r) => r.iteration), [4, 5, 6], 'the resume redid iteration 4, then 5 and 6');
  t.deepEqual(trainRecords(join(split, TRAIN_FILES.log)).map(numbers), reference, 'the log of the interrupted run equals the uninterrupted one, losses and gradient norms bit for bit');
  const wa = loadWeights(join(whole, TRAIN_FILES.weights)).model.stateDict();
  const wb = loadWeights(join(split, TRAIN_FILES.weights)).model.stateDict();
  t.ok([...wa].every(([k, v]) => v.data.every((x, i) => Object.is(x, wb.get(k)!.data[i]))), 'and the final weights are identical');
  assertThrowsMessage(t, () => train(options(mkdtempSync(join(tmpdir(), 'train-none-')), { resume: true })), 'does not exist (nothing to resume)', 'resume without a checkpoint names the missing file');
  t.end();
});

test('train: a NaN loss stops training naming the iteration and the term, keeping the last good checkpoint', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'train-nan-'));
  const hook: TrainOptions['lossHook'] = (losses, iteration) =>
    iteration === 5 ? { ...losses, loss_mask: losses['loss_mask']!.mul(new Tensor(new Float32Array([NaN]), [])) } : losses;
  assertThrowsMessage(t, () => train(options(dir, { lossHook: hook })), 'training diverged at iteration 5: loss_mask is NaN', 'the error names iteration 5 and loss_mask');
  const extra = loadCheckpoint(join(dir, TRAIN_FILES.checkpoint), {}).extra as { iteration: number };
  t.equal(extra.iteration, 3, 'the checkpoint on disk is the last good one (iteration 3)');
  t.notOk(existsSync(join(dir, TRAIN_FILES.weights)), 'no final weights were written');
  const records = trainRecords(join(dir, TRAIN_FILES.log));
  t.deepEqual(records.map((r) => r.iteration), [1, 2, 3, 4], 'the log ends with the last good iteration');
  t.ok(records.every((r) => Number.isFinite(r.loss)), 'and holds no NaN');
  const infinite: TrainOptions['lossHook'] = (losses, iteration) => (iteration === 2 ? { ...losses, loss_objectness: full([], Infinity) } : losses);
  assertThrowsMessage(t, () => train(options(mkdtempSync(join(tmpdir(), 'train-inf-')), { lossHook: infinite })), 'iteration 2: loss_objectness is Infinity', 'an infinite term is caught too');
  t.end();
});

test('train: bad options are named', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'train-bad-'));
  assertThrowsMessage(t, () => train(options(dir, { iterations: 0 })), 'iterations must be a positive integer, got 0', 'iterations 0');
  assertThrowsMessage(t, () => train(options(dir, { lr: -1 })), 'lr must be a positive number, got -1', 'negative lr');
  assertThrowsMessage(t, () => train(options(dir, { config: shapesConfig(7) })), '3 categories but the config 6 classes', 'a config with the wrong number of classes');
  writeFileSync(join(dir, TRAIN_FILES.checkpoint), 'not a checkpoint');
  assertThrowsMessage(t, () => train(options(dir, { resume: true })), 'checkpoint.safetensors', 'a corrupt checkpoint names the file');
  t.end();
});

test('train --resume: a tampered checkpoint is named field by field before anything trains (issue 18)', (t) => {
  const base = mkdtempSync(join(tmpdir(), 'train-tamper-'));
  train(options(base, { stopAfter: 3 }));
  const source = loadSafetensors(join(base, TRAIN_FILES.checkpoint));
  let n = 0;
  /** A copy of the run whose checkpoint's `extra` (or whole metadata) is changed by `edit`. */
  const tampered = (edit: (extra: Record<string, unknown>, meta: Record<string, string>) => void): string => {
    const dir = mkdtempSync(join(tmpdir(), `train-tamper-${n++}-`));
    const meta = { ...source.metadata! };
    const extra = JSON.parse(meta['extra']!) as Record<string, unknown>;
    edit(extra, meta);
    if (meta['extra'] === source.metadata!['extra']) meta['extra'] = JSON.stringify(extra);
    const tensors = new Map<string, SafetensorsInput>([...source.tensors].map(([k, v]) => [k, { tensor: v, dtype: source.dtypes.get(k)! }]));
    saveSafetensors(join(dir, TRAIN_FILES.checkpoint), tensors, { metadata: meta });
    writeFileSync(join(dir, TRAIN_FILES.log), readFileSync(join(base, TRAIN_FILES.log)));
    return dir;
  };
  const cases: Array<[string, string, string]> = [
    ['iteration -5', tampered((e) => (e['iteration'] = -5)), 'iteration should be an integer >= 0, got -5'],
    ['iteration 2.5', tampered((e) => (e['iteration'] = 2.5)), 'iteration should be an integer >= 0, got 2.5'],
    ['iteration beyond the run', tampered((e) => (e['iteration'] = 99)), 'the checkpoint is at iteration 99, beyond the 6 iterations asked for'],
    ['iteration and scheduler disagree', tampered((e) => (e['iteration'] = 2)), 'the scheduler has taken 3 steps but the checkpoint says iteration 2'],
    ['generator state too short', tampered((e) => (e['rng'] = [1, 2, 3])), "rng should be the generator's state"],
    ['generator state all zero', tampered((e) => (e['rng'] = [0, 0, 0, 0, null])), "rng should be the generator's state (four 32-bit integers, not all 0, then null or a number), got [0,0,0,0,null]"],
    ['generator word not a 32-bit integer', tampered((e) => (e['rng'] = [1, -2, 3, 4, null])), "rng should be the generator's state"],
    ['a NaN learning rate (JSON null)', tampered((e) => ((e['hyper'] as Record<string, unknown>)['lr'] = null)), 'hyper: lr must be a positive number, got null'],
    ['lr steps with a hole', tampered((e) => ((e['hyper'] as Record<string, unknown>)['lrSteps'] = [1, null])), 'hyper: lrSteps must be a list of iteration numbers'],
    ['a null class name', tampered((e) => (e['classes'] = ['__background__', null, 'circle', 'triangle'])), 'classes: class name 1 should be a non-empty string, got null'],
    ['blocksPerStage [1, 1e8, 1, 1]', tampered((e) => ((e['config'] as Record<string, Record<string, unknown>>)['backbone']!['blocksPerStage'] = [1, 1e8, 1, 1])), 'config.backbone.blocksPerStage[1] should be an integer in 1..100, got 100000000'],
    ['a base learning rate other than hyper.lr', tampered((_e, meta) => (meta['scheduler'] = meta['scheduler']!.replace(/"baseLrs":\[[^\]]*\]/, '"baseLrs":[4294967296]'))), "the scheduler's base learning rate of group 0 is 4294967296 but hyper.lr is 0.02"],
    ['a weight decay other than hyper.weightDecay', tampered((_e, meta) => (meta['optimizer'] = meta['optimizer']!.replace(/"weightDecay":[^,}]+/, '"weightDecay":5'))), "group 0's weightDecay is 5 but hyper.weightDecay is 0.05"],
    ['a step count beyond the iteration', tampered((_e, meta) => (meta['optimizer'] = meta['optimizer']!.replace(/"step":3/g, '"step":1000000000'))), 'an optimiser step count is 1000000000, beyond iteration 3'],
    ['extra not an object', tampered((_e, meta) => (meta['extra'] = '"hello"')), 'is not a training checkpoint of this trainer'],
    ['extra cut short', tampered((_e, meta) => (meta['extra'] = meta['extra']!.slice(0, 40))), "metadata 'extra': not valid JSON"],
  ];
  for (const [label, dir, message] of cases) {
    assertThrowsMessage(t, () => train(options(dir, { resume: true })), [join(dir, TRAIN_FILES.checkpoint), message], label);
    t.equal(trainRecords(join(dir, TRAIN_FILES.log)).length, 3, `${label}: nothing trained, the log untouched`);
  }
  t.end();
});

test('train --resume: a log with lines that are not records of this trainer is named by line; a line cut by a kill is dropped', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'train-log-'));
  train(options(dir, { stopAfter: 3 }));
  const log = join(dir, TRAIN_FILES.log);
  const good = readFileSync(log, 'utf8');
  const lines = good.trim().split('\n');
  for (const [label, text, message] of [
    ['a null line', `${lines[0]}\nnull\n${lines.slice(1).join('\n')}\n`, 'line 2 is not a training or evaluation record of this trainer: null'],
    ['a record without its losses', `${lines[0]}\n${JSON.stringify({ type: 'train', iteration: 2 })}\n`, 'line 2 is not a training or evaluation record'],
    ['an evaluation with 3 numbers', `${good}${JSON.stringify({ type: 'eval', iteration: 3, images: 1, bbox: [1, 2, 3], segm: [1, 2, 3], seconds: 1 })}\n`, 'line 4 is not a training or evaluation record'],
    ['a line nested 100,000 deep', `${lines[0]}\n${'['.repeat(100_000)}\n`, 'line 2: JSON nests deeper than 64 levels'],
  ] as const) {
    writeFileSync(log, text);
    assertThrowsMessage(t, () => train(options(dir, { resume: true })), [`train: ${log}: `, message], label);
  }
  writeFileSync(log, `${good}{"type":"train","itera`);
  t.equal(train(options(dir, { resume: true })).iteration, 6, 'a last line cut short by a kill is dropped and the run resumes');
  t.deepEqual(trainRecords(log).map((r) => r.iteration), [1, 2, 3, 4, 5, 6], 'and the log is whole again');
  t.end();
});

test('train: class names and the configuration are checked at the start, not after the run (issue 18)', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'train-start-'));
  const names = ['__background__', null, { a: 1 }, 'triangle'] as unknown as string[];
  assertThrowsMessage(t, () => train(options(dir, { classes: names })), 'train: class name 1 should be a non-empty string, got null', 'a null class name');
  t.notOk(existsSync(join(dir, TRAIN_FILES.checkpoint)), 'and nothing was trained');
  const huge = tinyConfig();
  huge.backbone.fpnChannels = 1e9;
  assertThrowsMessage(t, () => train(options(dir, { config: huge })), 'train: config.backbone.fpnChannels should be an integer in 1..4096, got 1000000000', 'fpnChannels 1e9');
  const file = join(dir, 'a-file');
  writeFileSync(file, 'x');
  assertThrowsMessage(t, () => train(options(join(file, 'run'))), `train: cannot create ${join(file, 'run')}: ${file} is a file, not a folder`, 'an output folder under a file');
  t.end();
});

test('train: a checkpoint being written when the process is killed never appears truncated under its real name', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'train-kill-'));
  const path = join(dir, TRAIN_FILES.checkpoint);
  const child = fileURLToPath(new URL('../../fixtures/train/checkpoint_writer.ts', import.meta.url));
  // The child writes 48 MB checkpoints in a loop (every value = the round number) and says when each starts.
  const proc = spawn(process.execPath, ['--import', 'tsx', child, path], { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  let watcher: ReturnType<typeof setInterval> | undefined;
  await new Promise<void>((resolve) => {
    proc.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      if (/begin 2\n/.test(out) && watcher === undefined) {
        // Kill as soon as the temporary file of checkpoint 2 exists: mid-write.
        watcher = setInterval(() => {
          if (readdirSync(dir).some((f) => f.endsWith('.tmp'))) {
            clearInterval(watcher);
            proc.kill('SIGKILL');
          }
        }, 1);
      }
    });
    proc.on('exit', () => {
      clearInterval(watcher);
      resolve();
    });
  });
  t.ok(/end 1\n/.test(out) && /begin 2\n/.test(out) && !/end 2\n/.test(out), 'the child was killed while writing checkpoint 2');
  const leftovers = readdirSync(dir).filter((f) => f.endsWith('.tmp'));
  t.ok(leftovers.length === 1, `the interrupted write was in its temporary file (${leftovers.join(', ')})`);
  const file = SafetensorsFile.open(path);
  const w = file.read('model.weight');
  file.close();
  t.ok(w.size === 12 * 1024 * 1024 && w.data.every((x) => x === 1), 'the checkpoint under the real name is checkpoint 1, whole');
  t.end();
});

/**
 * Kill-safety as a loop over random kill moments. A child process (test/fixtures/train/
 * kill_target.ts) trains the tiny run with a checkpoint after every iteration, resuming when
 * its folder holds a checkpoint; it is SIGKILLed at a seeded random moment after it starts
 * training, then restarted, and so on. After each kill: the checkpoint on disk (if one was
 * written yet) must open and load, and a temporary file left behind means the kill landed in
 * the middle of a write. When a child finishes its run, and after the last kill (finished by a
 * resume in this process), the log must equal an uninterrupted run's bit for bit, and the final
 * weights too.
 *
 * `KILL_LOOPS=N` sets the number of kills (default 4, about 30 s on two busy cores);
 * `KILL_SEED=S` the seed of the kill moments (default 18).
 */
test('train: SIGKILL at random moments (seeded): every checkpoint left on disk loads, and the resumed runs are bit-identical to an uninterrupted one', async (t) => {
  const kills = Number(process.env['KILL_LOOPS'] ?? 4);
  const seed = Number(process.env['KILL_SEED'] ?? 18);
  if (!Number.isSafeInteger(kills) || kills < 1 || !Number.isSafeInteger(seed)) throw new Error(`KILL_LOOPS and KILL_SEED must be integers (KILL_LOOPS >= 1), got ${kills} and ${seed}`);
  const iterations = 8;
  const each = { iterations, checkpointEvery: 1 };
  const reference = train(options(mkdtempSync(join(tmpdir(), 'train-kills-ref-')), each));
  const want = reference.records.map(numbers);
  const wantWeights = reference.model.stateDict();
  const child = fileURLToPath(new URL('../../fixtures/train/kill_target.ts', import.meta.url));
  const generator = new Generator(seed);
  // Measured from the children's progress as they run.
  let secondsPerIteration = 0.5;
  let secondsPerWrite = 0.05;
  const counts = { kills: 0, midWrite: 0, midCheckpoint: 0, beforeFirstCheckpoint: 0, finished: 0, runs: 1 };
  const problems: string[] = [];
  /** Compares a finished run's log and weights with the uninterrupted run's. */
  const compare = (dir: string, label: string): void => {
    const got = trainRecords(join(dir, TRAIN_FILES.log)).map(numbers);
    if (JSON.stringify(got) !== JSON.stringify(want)) problems.push(`${label}: the log differs from the uninterrupted run's`);
    const weights = loadWeights(join(dir, TRAIN_FILES.weights)).model.stateDict();
    if (![...wantWeights].every(([k, v]) => v.data.every((x, i) => Object.is(x, weights.get(k)!.data[i])))) problems.push(`${label}: the final weights differ`);
  };
  let dir = mkdtempSync(join(tmpdir(), 'train-kills-'));
  while (counts.kills < kills) {
    const proc = spawn(process.execPath, ['--import', 'tsx', child, dir, String(iterations)], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    let timer: ReturnType<typeof setTimeout> | undefined;
    let started = 0;
    let killedAt = '';
    let lastIteration = 0;
    const killAt = (delay: number, what: string): void => {
      timer = setTimeout(() => {
        killedAt = `${what} + ${delay.toFixed(0)} ms (an iteration takes ${(secondsPerIteration * 1000).toFixed(0)} ms, a checkpoint write ${(secondsPerWrite * 1000).toFixed(0)} ms), after '${out.trim().split('\n').pop()}'`;
        proc.kill('SIGKILL');
      }, delay);
    };
    // Odd kills: a moment anywhere in the next three iterations. Even kills: a moment in the
    // checkpoint that follows a random iteration (it starts when 'iteration N' is printed, with
    // copies of the state, then the file is written, and ends at 'checkpoint N'; the moment is
    // drawn from the last three quarters of that interval), where a kill is most dangerous.
    const nearWrite = counts.kills % 2 === 1;
    const target = 1 + Math.floor(generator.uniform() * iterations);
    const fraction = generator.uniform();
    const code = await new Promise<number | null>((resolve) => {
      proc.stdout.on('data', (d: Buffer) => {
        const now = performance.now();
        for (const line of d.toString().split('\n')) {
          if (line === '') continue;
          out += `${line}\n`;
          const [word, n] = line.split(' ');
          if (word === 'start' && started === 0) {
            started = now;
            if (!nearWrite) killAt(fraction * 3 * secondsPerIteration * 1000, 'start');
          } else if (word === 'iteration') {
            lastIteration = now;
            const done = Number(n) - Number(/^start (\d+)$/m.exec(out)![1]);
            secondsPerIteration = (now - started) / 1000 / done;
            if (nearWrite && timer === undefined && Number(n) >= Math.min(target, iterations)) killAt((0.25 + 0.75 * fraction) * secondsPerWrite * 1000, `iteration ${n}`);
          } else if (word === 'checkpoint' && lastIteration > 0) {
            secondsPerWrite = (now - lastIteration) / 1000;
          }
        }
      });
      proc.on('exit', (exitCode) => {
        clearTimeout(timer);
        resolve(exitCode);
      });
    });
    if (code === 0) {
      counts.finished++;
      compare(dir, `run ${counts.runs} (finished by a child)`);
      dir = mkdtempSync(join(tmpdir(), 'train-kills-'));
      counts.runs++;
      continue;
    }
    if (killedAt === '') {
      problems.push(`the child failed on its own (exit ${code}): ${out.slice(-300)}`);
      break;
    }
    counts.kills++;
    const leftovers = readdirSync(dir).filter((f) => f.endsWith('.tmp'));
    if (leftovers.length > 0) counts.midWrite++;
    t.comment(`kill ${counts.kills}: ${killedAt}; left ${leftovers.length > 0 ? leftovers.join(', ') : 'no temporary file'}`);
    if (leftovers.some((f) => f.startsWith(`.${TRAIN_FILES.checkpoint}.`))) counts.midCheckpoint++;
    const path = join(dir, TRAIN_FILES.checkpoint);
    if (!existsSync(path)) {
      counts.beforeFirstCheckpoint++;
      continue;
    }
    try {
      const extra = loadCheckpoint(path, {}).extra as { iteration: number };
      loadSafetensors(path); // every tensor reads
      if (!(extra.iteration >= 1 && extra.iteration <= iterations)) problems.push(`kill ${counts.kills} (${killedAt}): checkpoint iteration ${extra.iteration}`);
    } catch (error) {
      problems.push(`kill ${counts.kills} (${killedAt}, leftovers ${leftovers.join(', ')}): the checkpoint does not load: ${(error as Error).message}`);
    }
  }
  // The last run interrupted: finish it here, as a user would with --resume.
  const resume = existsSync(join(dir, TRAIN_FILES.checkpoint));
  train(options(dir, { ...each, resume }));
  compare(dir, `run ${counts.runs} (finished by a resume in the test)`);
  t.deepEqual(problems, [], `${counts.kills} kills (seed ${seed}): ${counts.midWrite} mid-write (${counts.midCheckpoint} of a checkpoint), ${counts.beforeFirstCheckpoint} before the first checkpoint; ${counts.runs} runs, ${counts.finished} finished by a child; every checkpoint loaded and every run equals the uninterrupted one`);
  t.end();
});

test('train: a resume removes the temporary files of writes that a kill interrupted', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'train-leftover-'));
  train(options(dir, { stopAfter: 3 }));
  const stale = join(dir, `.${TRAIN_FILES.checkpoint}.12345.0.tmp`);
  writeFileSync(stale, 'half a checkpoint');
  const other = join(dir, 'notes.tmp');
  writeFileSync(other, 'not ours');
  train(options(dir, { resume: true }));
  t.notOk(existsSync(stale), 'the leftover temporary checkpoint is gone');
  t.ok(existsSync(other), "files that are not the trainer's are left alone");
  t.end();
});

/** A torchvision-style state dict (no metadata, torchvision key names) of the tiny config with `numClasses` classes. */
function pretrainedFile(dir: string, numClasses: number): string {
  manualSeed(21);
  const path = join(dir, `pretrained-${numClasses}.safetensors`);
  new MaskRCNN({ ...tinyConfig(), numClasses }).saveSafetensors(path);
  return path;
}

/** Whether every tensor of `state` whose key starts with one of `prefixes` equals the file's (`same`) or none does. */
function compare(state: Map<string, Tensor>, file: Map<string, Tensor>, prefixes: string[]): { same: string[]; changed: string[] } {
  const same: string[] = [];
  const changed: string[] = [];
  for (const [k, v] of state) {
    if (!prefixes.some((p) => k.startsWith(p)) || k.endsWith('num_batches_tracked')) continue;
    (v.data.every((x, i) => x === file.get(k)!.data[i]) ? same : changed).push(k);
  }
  return { same, changed };
}

test('train --weights: fine-tuning a 91-class torchvision-style state dict on 4 classes re-initialises the predictors and loads the rest (issue 20)', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'train-ft-'));
  const weights = pretrainedFile(dir, 91);
  const file = loadSafetensors(weights).tensors;
  let report: WeightsReport | undefined;
  let parameters: { trainable: number; frozen: number } | undefined;
  const result = train(options(join(dir, 'run'), { weights, iterations: 2, reporter: { weights: (r) => (report = r), start: (info) => (parameters = info.parameters) } }));
  t.ok(result.records.every((r) => Number.isFinite(r.loss)), `finite losses ${result.records.map((r) => r.loss.toFixed(3)).join(', ')}`);
  t.deepEqual(report?.reinitialized.slice().sort(), [
    'roi_heads.box_predictor.bbox_pred.bias', 'roi_heads.box_predictor.bbox_pred.weight', 'roi_heads.box_predictor.cls_score.bias', 'roi_heads.box_predictor.cls_score.weight',
    'roi_heads.mask_predictor.mask_fcn_logits.bias', 'roi_heads.mask_predictor.mask_fcn_logits.weight',
  ], 'the reporter names the re-initialised predictors');
  t.deepEqual([report?.fileClasses, report?.numClasses, report?.path], [91, 4, weights], 'and the class counts and file');
  t.equal(report!.loaded.length + report!.reinitialized.length, result.model.stateDict().size, 'everything else was loaded');
  t.deepEqual(parameters?.frozen, 0, 'the shapes preset trains every layer');
  const state = result.model.stateDict();
  t.deepEqual(state.get('roi_heads.box_predictor.cls_score.weight')!.shape, [4, 256], 'cls_score is [4, 256]');
  t.deepEqual(state.get('roi_heads.box_predictor.bbox_pred.weight')!.shape, [16, 256], 'bbox_pred is [16, 256]');
  t.deepEqual(state.get('roi_heads.mask_predictor.mask_fcn_logits.weight')!.shape, [4, 64, 1, 1], 'mask_fcn_logits has 4 channels');
  const extra = loadCheckpoint(join(dir, 'run', TRAIN_FILES.checkpoint), {}).extra as { hyper: { weights: string; headsOnly: boolean } };
  t.deepEqual([extra.hyper.weights, extra.hyper.headsOnly], [weights, false], 'the checkpoint records the weights source');

  // Before any step (stopAfter 0: the model as built and loaded) the backbone, RPN and heads equal the file's.
  const zero = train(options(join(dir, 'zero'), { weights, iterations: 1, stopAfter: 0 }));
  const start = compare(zero.model.stateDict(), file, ['backbone.', 'rpn.', 'roi_heads.box_head.', 'roi_heads.mask_head.']);
  t.deepEqual([start.changed, start.same.length > 0], [[], true], `before any step, all ${start.same.length} backbone, RPN and head tensors equal the file's`);

  // The same class count loads everything.
  let same: WeightsReport | undefined;
  train(options(join(dir, 'same'), { weights: pretrainedFile(dir, 4), iterations: 1, reporter: { weights: (r) => (same = r) } }));
  t.deepEqual([same?.reinitialized, same?.fileClasses], [[], 4], 'a 4-class file re-initialises nothing');
  let fromCheckpoint: WeightsReport | undefined;
  const checkpoint = join(dir, 'run', TRAIN_FILES.checkpoint);
  train(options(join(dir, 'checkpoint'), { weights: checkpoint, iterations: 1, reporter: { weights: (r) => (fromCheckpoint = r) } }));
  t.deepEqual([fromCheckpoint?.reinitialized, fromCheckpoint?.loaded.length], [[], result.model.stateDict().size], 'a checkpoint of this trainer (tensors under model.) loads everything too');

  // A body tensor of another shape is an error naming the key and both shapes.
  const bad = new Map(file);
  bad.set('backbone.body.layer2.0.conv1.weight', new Tensor(new Float32Array(32 * 8 * 9), [32, 8, 3, 3]));
  saveSafetensors(join(dir, 'bad.safetensors'), bad as Map<string, SafetensorsInput>);
  assertThrowsMessage(
    t,
    () => train(options(join(dir, 'bad'), { weights: join(dir, 'bad.safetensors') })),
    ["train: weights: ", "'backbone.body.layer2.0.conv1.weight' is [32, 8, 3, 3] in the file but [32, 16, 3, 3] in the model"],
    'a backbone shape mismatch names the key and both shapes',
  );
  t.end();
});

test('train --trainable-layers 0 and --heads-only: the frozen parts (BatchNorm statistics included) stay the file\'s after steps, the rest trains (issue 20)', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'train-freeze-'));
  const weights = pretrainedFile(dir, 4);
  const file = loadSafetensors(weights).tensors;
  const config = tinyConfig();
  config.backbone = { ...config.backbone, trainableLayers: 0 };
  let frozen: Record<string, number> = {};
  const body = train(options(join(dir, 'body'), { config, weights, iterations: 2, reporter: { start: (info) => (frozen = info.parameters.frozenGroups) } }));
  t.deepEqual(Object.keys(frozen), ['backbone.body'], 'trainable layers 0 freezes the ResNet body only');
  const b = compare(body.model.stateDict(), file, ['backbone.body.']);
  t.deepEqual([b.changed, b.same.length], [[], [...file.keys()].filter((k) => k.startsWith('backbone.body.') && !k.endsWith('num_batches_tracked')).length], 'every body tensor, running statistics included, is unchanged after 2 steps');
  const f = compare(body.model.stateDict(), file, ['backbone.fpn.', 'rpn.', 'roi_heads.']);
  t.ok(f.changed.includes('backbone.fpn.inner_blocks.0.0.weight') && f.changed.includes('roi_heads.box_predictor.cls_score.weight') && f.changed.includes('rpn.head.conv.0.0.weight'), 'the FPN, the RPN and the heads changed');

  let headsFrozen: Record<string, number> = {};
  const heads = train(options(join(dir, 'heads'), { weights, headsOnly: true, iterations: 2, reporter: { start: (info) => (headsFrozen = info.parameters.frozenGroups) } }));
  t.deepEqual(Object.keys(headsFrozen).sort(), ['backbone.body', 'backbone.fpn'], 'heads only freezes the body and the FPN');
  const h = compare(heads.model.stateDict(), file, ['backbone.']);
  t.deepEqual(h.changed, [], `all ${h.same.length} backbone tensors (body and FPN) are unchanged after 2 steps`);
  const r = compare(heads.model.stateDict(), file, ['rpn.', 'roi_heads.']);
  t.ok(r.changed.includes('rpn.head.cls_logits.weight') && r.changed.includes('roi_heads.box_head.fc6.weight') && r.changed.includes('roi_heads.mask_predictor.mask_fcn_logits.weight'), 'the RPN and the RoI heads changed');
  const extra = loadCheckpoint(join(dir, 'heads', TRAIN_FILES.checkpoint), {}).extra as { hyper: { headsOnly: boolean } };
  t.equal(extra.hyper.headsOnly, true, 'heads only is recorded in the checkpoint');
  t.end();
});

test('train --weights --resume: a resumed fine-tuning run continues exactly, without the weights file; another weights source is refused (issue 20)', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'train-ft-resume-'));
  const weights = pretrainedFile(dir, 91);
  const reference = train(options(join(dir, 'whole'), { weights, headsOnly: true })).records.map(numbers);
  const split = join(dir, 'split');
  train(options(split, { weights, headsOnly: true, stopAfter: 4 }));
  assertThrowsMessage(t, () => train(options(split, { resume: true, weights: pretrainedFile(mkdtempSync(join(tmpdir(), 'train-ft-other-')), 91) })), ['started from ' + weights, 'leave weights out'], 'a resume with another weights file is refused, naming both');
  const moved = weights + '.moved';
  renameSync(weights, moved);
  const second = train(options(split, { resume: true }));
  t.deepEqual(second.records.map((r) => r.iteration), [4, 5, 6], 'the resume (the weights file gone) redid iteration 4, then 5 and 6');
  t.deepEqual(trainRecords(join(split, TRAIN_FILES.log)).map(numbers), reference, 'the interrupted fine-tuning run equals the uninterrupted one bit for bit');
  renameSync(moved, weights);
  const third = train(options(split, { resume: true, iterations: 7, weights }));
  t.equal(third.iteration, 7, 'a resume given the same weights source goes on');
  t.end();
});
