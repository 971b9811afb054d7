import test from 'tape';
import { type BenchResult, INFERENCE_STAGES, TRAIN_STEP_STAGES, benchCaseName, benchDetector, formatBenchTable, median } from '../../../lib/maskrcnn/train/bench.js';

// Tiny images and one run: the test checks what the benchmark reports, not how fast it is.
const tiny = { preset: 'shapes', runs: 1, warmup: 0, imageSize: [64, 64] } as const;

test('benchDetector inference: every stage timed, stages sum to at most the total, images/s from the median', (t) => {
  const r = benchDetector({ ...tiny, mode: 'inference' });
  t.equal(r.name, 'maskrcnn_shapes_64_inference', 'case name');
  t.deepEqual(Object.keys(r.stageMs), [...INFERENCE_STAGES], 'the inference stages, in order');
  for (const s of INFERENCE_STAGES) t.ok(r.stageMs[s]! > 0, `${s}: ${r.stageMs[s]!.toFixed(2)} ms > 0`);
  const sum = Object.values(r.stageMs).reduce((a, b) => a + b, 0);
  t.ok(sum <= r.medianMs + 1e-9, `stages ${sum.toFixed(2)} ms <= total ${r.medianMs.toFixed(2)} ms`);
  t.equal(r.runMs.length, 1, 'one timed run');
  t.ok(Math.abs(r.imagesPerSecond - 1000 / r.medianMs) < 1e-9, 'images/s = 1000 / median ms for one image');
  t.deepEqual(r.inputSize, [64, 64], 'shapes images at their own size (no resize)');
  t.ok(r.detectionsPerImage > 0, `the mask branch ran on ${r.detectionsPerImage} detections`);
  t.ok(/^wasm|^reference|^gpu/.test(r.backendDescription), `backend described: ${r.backendDescription}`);
  t.ok(/random initialisation/.test(r.weights), 'says the weights are random');
  t.end();
});

test('benchDetector train-step: forward stages, backward and optimizer.step timed; the step changes the loss', (t) => {
  const r = benchDetector({ ...tiny, mode: 'train-step', runs: 2, batchSize: 2 });
  t.equal(r.name, 'maskrcnn_shapes_64_train_step', 'case name');
  t.deepEqual(Object.keys(r.stageMs), [...TRAIN_STEP_STAGES], 'the training stages, in order');
  for (const s of TRAIN_STEP_STAGES) t.ok(r.stageMs[s]! > 0, `${s}: ${r.stageMs[s]!.toFixed(2)} ms > 0`);
  r.runMs.forEach((total, i) => {
    const sum = TRAIN_STEP_STAGES.reduce((a, s) => a + r.stageRunMs[s]![i]!, 0);
    t.ok(sum <= total + 1e-9, `run ${i}: stages ${sum.toFixed(2)} ms <= total ${total.toFixed(2)} ms`);
  });
  t.equal(r.losses.length, 2, 'one loss per timed run');
  t.ok(r.losses.every(Number.isFinite) && r.losses[0] !== r.losses[1], `SGD moved the weights: loss ${r.losses.map((l) => l.toFixed(4)).join(' -> ')}`);
  t.ok(Math.abs(r.imagesPerSecond - 2000 / r.medianMs) < 1e-9, 'images/s counts both images');
  t.end();
});

test('benchDetector bad options name the option', (t) => {
  t.throws(() => benchDetector({ preset: 'paper', mode: 'train-step' }), /shapes preset only/, 'paper train-step');
  t.throws(() => benchDetector({ ...tiny, mode: 'train-step', imageSize: [64, 96] }), /square images.*\[64, 96\]/, 'non-square train-step');
  t.throws(() => benchDetector({ ...tiny, mode: 'inference', runs: 0 }), /runs must be an integer >= 1, got 0/, 'runs 0');
  t.throws(() => benchDetector({ ...tiny, mode: 'inference', imageSize: [8, 64] }), /imageSize must be two integers in 16\.\.4096/, 'image too small');
  t.end();
});

test('formatBenchTable, benchCaseName and median', (t) => {
  t.equal(benchCaseName('paper', 'inference', [800, 1088]), 'maskrcnn_paper_r50fpn_800x1088_inference');
  t.equal(benchCaseName('shapes', 'train-step', [128, 128]), 'maskrcnn_shapes_128_train_step');
  t.equal(median([3, 1, 2]), 2);
  t.equal(median([4, 1, 2, 3]), 2.5);
  const stageMs = { transform: 1, 'backbone.body': 2, 'backbone.fpn': 3, rpn: 4, roi_heads: 5, postprocess: 6 };
  const base: Omit<BenchResult, 'name'> = {
    preset: 'shapes', mode: 'inference', backend: 'wasm', backendDescription: 'wasm: x', batchSize: 1, imageSize: [64, 64], inputSize: [64, 64],
    warmup: 0, runMs: [25], medianMs: 25, stageMs, stageRunMs: {}, imagesPerSecond: 40, detectionsPerImage: 1, losses: [], parameters: 1, buildMs: 1, weights: 'random',
  };
  const table = formatBenchTable([{ ...base, name: 'a', stageMs: { ...stageMs } }, { ...base, name: 'b', mode: 'train-step', stageMs: { transform: 1, backward: 10 } }]);
  const lines = table.split('\n');
  t.equal(lines.length, 4, 'header, rule, one row per result');
  t.ok(lines[0]!.includes('backward ms') && lines[0]!.includes('postprocess ms'), 'stage columns are the union');
  t.ok(lines[2]!.startsWith('a | wasm | 64x64 | 1 | 1 | 25.0 | 40.0 | 1.00 (4%)'), `row a: ${lines[2]}`);
  t.ok(lines[2]!.endsWith('| 6.00 (24%) | - | 4.00'), `row a: postprocess, no backward, 4 ms outside the stages: ${lines[2]}`);
  t.ok(lines[3]!.includes('| - |') && lines[3]!.includes('10.0 (40%)'), `row b: ${lines[3]}`);
  t.end();
});
