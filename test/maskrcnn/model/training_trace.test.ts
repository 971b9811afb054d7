import test from 'tape';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Tensor, defaultGenerator, manualSeed, noGrad } from '../../../lib/tensor/index.js';
import { generateShapes, loadWeights, shapesDetectionDataset, traceTraining, writeInspection, zooWeightsPath } from '../../../lib/maskrcnn/index.js';

/** Every parameter and buffer of a model, copied, by name. */
const snapshot = (named: ReadonlyMap<string, Tensor>): Map<string, number[]> => new Map([...named].map(([k, v]) => [k, Array.from(v.data, Number)]));
const changed = (a: Map<string, number[]>, b: Map<string, number[]>): string[] => [...a.keys()].filter((k) => a.get(k)!.some((v, i) => v !== b.get(k)![i]));

// The zoo's shapes model: trainable BatchNorm in the backbone, the FPN and the mask head.
const sample = shapesDetectionDataset(generateShapes({ count: 1, seed: 3 }), { contiguousLabels: true }).get(0);

test('traceTraining: the training-mode trace of a BatchNorm model, with the model, its mode and the random stream as they were', (t) => {
  const { model } = loadWeights(zooWeightsPath('shapes'));
  // Without the restore, a training-mode pass moves BatchNorm's running statistics (the test can fail).
  const other = loadWeights(zooWeightsPath('shapes')).model;
  const before = snapshot(other.stateDict());
  other.train();
  manualSeed(5);
  const reference = noGrad(() => other.forward([sample.image], [sample.target], { trace: true })).trace;
  const moved = changed(before, snapshot(other.stateDict()));
  t.ok(moved.some((k) => k.endsWith('running_mean')) && moved.some((k) => k.endsWith('num_batches_tracked')), `a plain training-mode pass changes ${moved.length} buffers (e.g. ${moved[0]})`);

  const state = snapshot(model.stateDict());
  manualSeed(123);
  const rng = defaultGenerator.getState();
  const trace = traceTraining(model, [sample.image], [sample.target], { seed: 5 });
  t.deepEqual(changed(state, snapshot(model.stateDict())), [], 'no parameter or buffer changed');
  t.equal(model.training, false, 'the model is back in evaluation mode');
  t.deepEqual(defaultGenerator.getState(), rng, 'the global random stream is where it was');
  for (const name of ['loss.loss_classifier', 'loss.loss_box_reg', 'loss.loss_mask', 'loss.loss_objectness'] as const) {
    t.equal(trace.get(name)!.data[0], reference.get(name)!.data[0], `${name} equals a plain training pass with the same seed (${trace.get(name)!.data[0]!.toFixed(5)})`);
  }
  t.deepEqual(Array.from(trace.get('train.roi_heads.labels.0')!.data), Array.from(reference.get('train.roi_heads.labels.0')!.data), 'the same RoIs are sampled');
  model.train();
  traceTraining(model, [sample.image], [sample.target]);
  t.equal(model.training, true, 'a model in training mode stays in training mode');
  t.end();
});

test('writeInspection with a target leaves the model as it was (it runs the training pass through traceTraining)', (t) => {
  const { model } = loadWeights(zooWeightsPath('shapes'));
  const state = snapshot(model.stateDict());
  const dir = mkdtempSync(join(tmpdir(), 'training-trace-'));
  try {
    writeInspection(model, sample.image, dir, { target: sample.target });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  t.deepEqual(changed(state, snapshot(model.stateDict())), [], 'no parameter or buffer changed');
  t.end();
});
