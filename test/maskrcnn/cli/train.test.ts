import test from 'tape';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runTrain } from '../../../lib/maskrcnn/cli/train.js';
import { runDemo } from '../../../lib/maskrcnn/cli/demo.js';
import { writeShapes, TRAIN_FILES } from '../../../lib/maskrcnn/index.js';
import { runCaptured } from './capture.js';

test('cli train: --help, bad flags and missing files are named', async (t) => {
  const help = await runCaptured(runTrain, ['--help']);
  t.equal(help.code, 0, '--help exits 0');
  t.match(help.out, /--resume/, 'and documents --resume');
  const unknown = await runCaptured(runTrain, ['--data', 'x', '--out', 'y', '--frobnicate']);
  t.equal(unknown.code, 2, 'an unknown flag exits 2');
  t.match(unknown.err, /unknown option '--frobnicate'/, 'naming it');
  const missing = await runCaptured(runTrain, ['--out', 'y']);
  t.match(missing.err, /--data is required/, 'a missing --data is named');
  const noDir = await runCaptured(runTrain, ['--data', '/nonexistent/shapes', '--out', 'y']);
  t.equal(noDir.code, 2, 'a missing data folder exits 2');
  t.match(noDir.err, /--data \/nonexistent\/shapes: no such folder/, 'naming the folder');
  const dir = mkdtempSync(join(tmpdir(), 'cli-train-bad-'));
  writeShapes(join(dir, 'data', 'train'), { count: 2, size: 32, seed: 1 });
  const badIters = await runCaptured(runTrain, ['--data', join(dir, 'data'), '--out', join(dir, 'run'), '--iterations', 'ten']);
  t.match(badIters.err, /--iterations must be an integer, got 'ten'/, 'a bad --iterations value is named');
  const badSteps = await runCaptured(runTrain, ['--data', join(dir, 'data'), '--out', join(dir, 'run'), '--lr-steps', '5,x']);
  t.match(badSteps.err, /--lr-steps must be comma-separated iteration numbers, got '5,x'/, 'a bad --lr-steps value is named');
  const badBackend = await runCaptured(runTrain, ['--data', join(dir, 'data'), '--out', join(dir, 'run'), '--backend', 'cuda']);
  t.equal(badBackend.code, 2, 'an unknown --backend exits 2');
  t.match(badBackend.err, /--backend must be one of wasm, reference, gpu, got 'cuda'/, 'naming the choices');
  const both = await runCaptured(runTrain, ['--data', join(dir, 'data'), '--out', join(dir, 'run'), '--resume', '--overwrite']);
  t.match(both.err, /--resume and --overwrite contradict each other/, '--resume with --overwrite is refused');
  t.end();
});

test('cli train: trains, refuses to overwrite, resumes to more iterations', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'cli-train-'));
  const data = join(dir, 'data');
  writeShapes(join(data, 'train'), { count: 4, size: 64, seed: 1 });
  writeShapes(join(data, 'val'), { count: 1, size: 64, seed: 2, startImageId: 10 });
  const out = join(dir, 'run');
  const first = await runCaptured(runTrain, ['--data', data, '--out', out, '--iterations', '2', '--batch-size', '1', '--checkpoint-every', '1', '--eval-limit', '1']);
  t.equal(first.code, 0, `exit code 0 ${first.err}`);
  t.match(first.out, /4 training images, 1 validation images, 3 classes \(square, circle, triangle\)/, 'it describes the data');
  t.match(first.out, /Average Precision {2}\(AP\) @\[ IoU=0\.50:0\.95 \| area= {3}all \| maxDets=100 \]/, 'and prints the COCO summary');
  for (const f of Object.values(TRAIN_FILES)) t.ok(existsSync(join(out, f)), `${f} written`);
  const again = await runCaptured(runTrain, ['--data', data, '--out', out, '--iterations', '2']);
  t.equal(again.code, 2, 'a second run into the same folder exits 2');
  t.match(again.err, /already holds checkpoint\.safetensors: pass --resume/, 'and says how to continue');
  const resumed = await runCaptured(runTrain, ['--data', data, '--out', out, '--iterations', '3', '--resume']);
  t.equal(resumed.code, 0, 'resuming to 3 iterations exits 0');
  t.match(resumed.out, /trained 3 iterations/, 'and reaches iteration 3');
  const log = readFileSync(join(out, TRAIN_FILES.log), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { type: string; iteration: number });
  t.deepEqual(log.filter((r) => r.type === 'train').map((r) => r.iteration), [1, 2, 3], 'the log has iterations 1, 2, 3 once each');
  t.end();
});

test('cli demo: the whole pipeline on a tiny budget writes everything it lists', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'cli-demo-'));
  const r = await runCaptured(runDemo, ['--out', dir, '--iterations', '2', '--train', '4', '--val', '2']);
  t.equal(r.code, 0, `exit code 0 ${r.err}`);
  for (const step of ['[1/4]', '[2/4]', '[3/4]', '[4/4]']) t.ok(r.out.includes(step), `step ${step} reported`);
  t.match(r.out, /goal segm AP50 >= 0\.9 within 10 minutes: (met|not met) \(AP50 \d\.\d{3}/, 'the goal line states the measured AP50');
  for (const f of ['data/train/annotations.json', 'data/val/annotations.json', 'run/model.safetensors', 'run/loss_curve.svg', 'predictions/results.json', 'predictions/000005.png', 'inspect/index.html']) {
    t.ok(existsSync(join(dir, f)), `${f} exists`);
  }
  const bad = await runCaptured(runDemo, ['--iterations', '0']);
  t.equal(bad.code, 2, 'a bad --iterations exits 2');
  t.match(bad.err, /--iterations must be an integer in 1\.\./, 'naming the flag');
  t.end();
});
