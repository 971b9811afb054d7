import test from 'tape';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runTrain } from '../../../lib/maskrcnn/cli/train.js';
import { runDemo } from '../../../lib/maskrcnn/cli/demo.js';
import { MaskRCNN, shapesConfig, writeShapes, TRAIN_FILES, type MaskRCNNConfig } from '../../../lib/maskrcnn/index.js';
import { loadCheckpoint } from '../../../lib/nn/index.js';
import { manualSeed } from '../../../lib/tensor/index.js';
import { runCaptured } from './capture.js';
import { main } from '../../../lib/maskrcnn/cli/main.js';

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
  t.match(badSteps.err, /--lr-steps must be comma-separated integers, got '5,x' \(item 2 is 'x'\)/, 'a bad --lr-steps value is named');
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
  const timed = await runCaptured(runTrain, ['--data', data, '--out', join(dir, 'timed'), '--minutes', '0.02', '--iterations', '12', '--batch-size', '1', '--eval-limit', '1']);
  t.equal(timed.code, 0, `--minutes: exit code 0 ${timed.err}`);
  t.match(timed.out, /training for 1s \(at most 12 iterations\)/, 'says it trains to a time budget, with --iterations as the most');
  const n = Number(/trained (\d+) iterations/.exec(timed.out)?.[1]);
  t.ok(n >= 1 && n <= 12, `trained ${n} iterations, at most 12`);
  const stepsToo = await runCaptured(runTrain, ['--data', data, '--out', join(dir, 'timed2'), '--minutes', '1', '--lr-steps', '5']);
  t.equal(stepsToo.code, 2, '--minutes with --lr-steps exits 2');
  t.match(stepsToo.err, /--minutes places the learning-rate step at 80% of the planned iterations: leave out --lr-steps/, 'saying why');
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
  writeFileSync(join(dir, 'a-file'), 'x');
  const underFile = await runCaptured(main, ['demo', '--out', join(dir, 'a-file', 'demo'), '--iterations', '1', '--train', '1', '--val', '1']);
  t.equal(underFile.code, 1, 'an --out folder that cannot be made: exit 1');
  t.match(underFile.err, /^maskrcnn demo: cannot create .*a-file\/demo\/data\/train\/images: .*a-file is a file, not a folder$/, 'names the folder and why, with one prefix');
  const bad = await runCaptured(runDemo, ['--iterations', '0']);
  t.equal(bad.code, 2, 'a bad --iterations exits 2');
  t.match(bad.err, /--iterations must be an integer in 1\.\./, 'naming the flag');
  const both = await runCaptured(runDemo, ['--iterations', '5', '--minutes', '1']);
  t.equal(both.code, 2, '--minutes with --iterations exits 2');
  t.match(both.err, /give --minutes or --iterations, not both/, 'saying why');
  const none = await runCaptured(main, ['demo', '--out', join(dir, 'none'), '--minutes', '0.2', '--train', '1', '--val', '1']);
  t.equal(none.code, 1, 'a budget that leaves no training time exits 1');
  t.match(none.err, /^maskrcnn demo: --minutes 0\.2 leaves no time for training \(the data took .*, and 20 s are kept for evaluation and pictures\)/, 'saying where the time went');
  t.end();
});

test('cli demo --minutes: training takes what the budget leaves and plans its iterations', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'cli-demo-budget-'));
  // 0.4 min = 24 s: the data's second or so, 20 s kept for evaluation and pictures, about 3 s of training.
  const r = await runCaptured(runDemo, ['--out', dir, '--minutes', '0.4', '--train', '4', '--val', '2']);
  t.equal(r.code, 0, `exit code 0 ${r.err}`);
  t.match(r.out, /\[2\/4\] training for \d+\.\d s \(what 0\.4 min leave after the data and 20 s for evaluation and pictures\)/, 'the training budget is stated');
  t.match(r.out, /training for \d+s \(at most 4000 iterations\)/, 'the trainer says it trains to a budget');
  const done = /training: (\d+) iterations/.exec(r.out);
  t.ok(done !== null && Number(done[1]) >= 1 && Number(done[1]) < 4000, `the summary gives the iterations the budget allowed (${done?.[1]})`);
  t.end();
});

test('cli train: option values are checked strictly, dash values get the --flag=value hint, errors carry one prefix, an impossible --out ends (issue 18)', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'cli-train-strict-'));
  const data = join(dir, 'data');
  writeShapes(join(data, 'train'), { count: 2, size: 32, seed: 1 });
  const base = ['--data', data, '--out', join(dir, 'run')];
  const usage: Array<[string[], RegExp, string]> = [
    [['--seed', '-1'], /--seed -1: a value that starts with a dash must be written --seed=-1/, '--seed -1 gets the --seed=-1 hint'],
    [['--lr', '-0.1'], /--lr -0\.1: a value that starts with a dash must be written --lr=-0\.1/, '--lr -0.1 too'],
    [['--seed', '--lr', '0.1'], /--seed needs a value \(got the flag --lr after it\)/, 'a forgotten value is named as such'],
    [['--lr-steps', '1,,2'], /--lr-steps must be comma-separated integers, got '1,,2' \(item 2 is empty\)/, '--lr-steps 1,,2 (today [1, 0, 2])'],
    [['--lr-steps', '5,'], /item 2 is empty/, 'a trailing comma'],
    [['--lr-steps', '1.5'], /item 1 is '1\.5'/, 'a fractional step'],
    [['--lr-steps=-3'], /--lr-steps items must be integers in 0\.\.100000000, got -3/, 'a negative step'],
    [['--lr', 'NaN'], /--lr must be a decimal number, got 'NaN'/, '--lr NaN'],
    [['--lr', '0x10'], /--lr must be a decimal number, got '0x10'/, 'a hexadecimal --lr'],
    [['--lr', ' 1'], /--lr must be a decimal number, got ' 1'/, 'a value with a blank'],
    [['--lr', 'Infinity'], /--lr must be a decimal number, got 'Infinity'/, '--lr Infinity'],
    [['--lr=0'], /--lr must be in \[1e-12, 10\], got 0/, '--lr 0'],
    [['--clip-grad-norm=-1'], /--clip-grad-norm must be in \[0, 1000000000000\], got -1/, 'a negative --clip-grad-norm'],
    [['--batch-size', '1.5'], /--batch-size must be an integer, got '1\.5'/, 'a fractional --batch-size'],
    [['--iterations=-3'], /--iterations must be an integer in 1\.\.100000000, got -3/, 'negative --iterations'],
    [['--seed', '1e3'], /--seed must be an integer, got '1e3'/, 'a seed in exponent notation'],
  ];
  for (const [extra, message, label] of usage) {
    const r = await runCaptured(main, ['train', ...base, ...extra]);
    t.ok(r.code === 2 && message.test(r.err) && !/maskrcnn train: train:/.test(r.err), `${label} (exit ${r.code}: ${r.err.split('\n')[0]})`);
  }
  const resume = await runCaptured(main, ['train', ...base, '--resume', '--iterations', '1']);
  t.equal(resume.code, 1, '--resume without a checkpoint exits 1');
  t.match(resume.err, /^maskrcnn train: --resume: .*checkpoint\.safetensors does not exist \(nothing to resume\)$/, `one prefix, not 'maskrcnn train: train: ' (${resume.err})`);
  // Node 20's recursive mkdirSync never returns for /proc/nope/x: the real executable, guarded by a timeout.
  if (existsSync('/proc/self')) {
    const bin = fileURLToPath(new URL('../../../bin/maskrcnn.js', import.meta.url));
    const r = spawnSync(process.execPath, [bin, 'train', '--data', data, '--out', '/proc/nope/x', '--iterations', '1'], { encoding: 'utf8', timeout: 60_000 });
    t.equal(r.signal, null, '--out /proc/nope/x ends (no endless mkdir)');
    t.equal(r.status, 1, 'with exit code 1');
    t.match(r.stderr, /^maskrcnn train: cannot create \/proc\/nope\/x: ENOENT/m, `and a clear error (${r.stderr.trim().split('\n').pop()})`);
  }
  t.end();
});

test('cli train --weights: fine-tunes a torchvision-style file and a zoo model, prints what it loaded, records the source; contradictions are named (issue 20)', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'cli-train-ft-'));
  const data = join(dir, 'data');
  writeShapes(join(data, 'train'), { count: 2, size: 32, seed: 1 });
  manualSeed(5);
  const coco = join(dir, 'coco91.safetensors');
  new MaskRCNN(shapesConfig(91)).saveSafetensors(coco);
  const out = join(dir, 'run');
  const base = ['--data', data, '--iterations', '1', '--batch-size', '1'];
  const r = await runCaptured(runTrain, [...base, '--out', out, '--weights', coco, '--config', 'shapes', '--trainable-layers', '0', '--image-size', '64']);
  t.equal(r.code, 0, `exit code 0 ${r.err}`);
  t.match(r.out, /weights: loaded \d+ tensors from .*coco91\.safetensors: backbone\.body \d+, backbone\.fpn \d+, rpn\.head \d+, roi_heads\.box_head \d+/, 'it prints what it loaded, by module');
  t.match(r.out, /the file has 91 classes, the data 4 \(background included\): re-initialised roi_heads\.box_predictor\.cls_score\.weight, .*roi_heads\.mask_predictor\.mask_fcn_logits\.bias/, 'and which predictors it re-initialised');
  t.match(r.out, /parameters: \d+ trainable, \d+ frozen: backbone\.body \(\d+ tensors\)/, 'and what is frozen');
  const extra = loadCheckpoint(join(out, TRAIN_FILES.checkpoint), {}).extra as { hyper: { weights: string }; config: MaskRCNNConfig };
  t.equal(extra.hyper.weights, coco, 'the checkpoint records the weights file');
  t.deepEqual([extra.config.transform.minSize, extra.config.transform.maxSize, extra.config.backbone.trainableLayers], [64, 107, 0], '--image-size 64: min 64, max round(64 x 1333 / 800) = 107; trainable layers 0');
  const other = await runCaptured(main, ['train', ...base, '--out', out, '--iterations', '2', '--resume', '--weights', join(dir, 'other.safetensors')]);
  t.equal(other.code, 1, 'a resume with another --weights exits 1');
  t.match(other.err, /started from .*coco91\.safetensors, not from .*other\.safetensors/, 'naming both');
  const resumed = await runCaptured(runTrain, [...base, '--out', out, '--iterations', '2', '--resume']);
  t.equal(resumed.code, 0, `a resume without --weights continues (${resumed.err})`);

  const zoo = await runCaptured(runTrain, [...base, '--out', join(dir, 'zoo'), '--weights', 'zoo:shapes', '--heads-only', '--image-size', '64']);
  t.equal(zoo.code, 0, `--weights zoo:shapes --heads-only exits 0 ${zoo.err}`);
  t.match(zoo.out, /fine-tuning from zoo:shapes \(heads only: backbone body and FPN frozen\)/, 'it says what it fine-tunes and freezes');
  t.match(zoo.out, /frozen: backbone\.body \(\d+ tensors\), backbone\.fpn \(\d+ tensors\)/, 'body and FPN frozen');
  t.doesNotMatch(zoo.out, /re-initialised/, 'the zoo model has the data\'s 4 classes: nothing re-initialised');
  const usage: Array<[string[], RegExp, string]> = [
    [['--weights', coco, '--heads-only', '--trainable-layers', '2'], /--heads-only freezes the whole backbone: leave out --trainable-layers/, '--heads-only with --trainable-layers'],
    [['--weights', 'zoo:shapes', '--config', 'paper'], /--weights zoo:shapes carries its own configuration .*leave out --config/, '--config with a file that has its own'],
    [['--weights', join(dir, 'nope.safetensors')], /--weights .*nope\.safetensors: no such file/, 'a missing --weights file'],
    [['--weights', 'zoo:nope'], /--weights zoo:nope: model zoo: no model 'nope'/, 'an unknown zoo model'],
    [['--trainable-layers', '6'], /--trainable-layers must be an integer in 0\.\.5, got 6/, '--trainable-layers 6'],
    [['--image-size', '0'], /--image-size must be an integer in 1\.\.8192, got 0/, '--image-size 0'],
  ];
  for (const [extraArgs, message, label] of usage) {
    const u = await runCaptured(main, ['train', ...base, '--out', join(dir, 'usage'), ...extraArgs]);
    t.ok(u.code === 2 && message.test(u.err), `${label} (exit ${u.code}: ${u.err.split('\n')[0]})`);
  }
  const bad = await runCaptured(main, ['train', ...base, '--out', join(dir, 'paper'), '--weights', coco]);
  t.equal(bad.code, 1, 'a shapes-sized torchvision-style file against the default paper architecture exits 1');
  t.match(bad.err, /'backbone\.body\.conv1\.weight' is \[16, 3, 7, 7\] in the file but \[64, 3, 7, 7\] in the model/, 'naming the first tensor and both shapes');
  t.end();
});
