import test from 'tape';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CocoDetectionDataset, SafetensorsFile, evaluateModel, loadWeights, readZooEntry, weightsSourcePath, writeShapes, zooWeightsPath } from '../../../lib/index.js';
import { VAL_SEED_OFFSET } from '../../../lib/maskrcnn/cli/shapes.js';
import { describeBackend } from '../../../lib/ops/index.js';

test('model zoo: the shapes detector loads and measures the accuracy recorded when it was made', (t) => {
  const entry = readZooEntry('shapes');
  const path = zooWeightsPath('shapes');
  t.ok(statSync(path).size < 10 * 1024 * 1024, `weights file under 10 MB (${(statSync(path).size / 1024 / 1024).toFixed(2)} MB)`);
  const file = SafetensorsFile.open(path);
  const dtypes = new Set([...file.header.entries.values()].map((e) => e.dtype));
  file.close();
  t.ok(dtypes.has('F16') && !dtypes.has('F32'), `float tensors stored as float16 (${[...dtypes].join(', ')})`);
  t.ok(entry.commands.length >= 2 && entry.commands.some((c) => /maskrcnn(\.js)? train /.test(c)), 'the commands that made it are recorded');

  // The validation split it was measured on, regenerated exactly (the generator is seeded).
  const dir = mkdtempSync(join(tmpdir(), 'zoo-test-'));
  try {
    writeShapes(join(dir, 'val'), { count: entry.validation.images, seed: entry.validation.seed + VAL_SEED_OFFSET, size: entry.validation.size });
    const val = CocoDetectionDataset.fromDirectory(join(dir, 'val'), { contiguousLabels: true });
    const { model } = loadWeights(path);
    const e = evaluateModel(model, val);
    const names = ['AP', 'AP50', 'AP75'];
    for (const kind of ['bbox', 'segm'] as const) {
      const recorded = entry.metrics.stored[kind];
      const measured = e[kind].stats;
      for (let k = 0; k < 3; k++) {
        t.ok(Math.abs(measured[k]! - recorded[k]!) <= 0.005, `${kind} ${names[k]} ${measured[k]!.toFixed(3)} equals the recorded ${recorded[k]!.toFixed(3)} (within 0.005; ${describeBackend()})`);
      }
      const f32 = entry.metrics.float32[kind];
      t.ok(Math.abs(recorded[1]! - f32[1]!) <= 0.01 && Math.abs(recorded[0]! - f32[0]!) <= 0.01, `${kind}: float16 storage loses nothing measurable (AP ${recorded[0]!.toFixed(3)} vs float32 ${f32[0]!.toFixed(3)})`);
    }
    t.ok(e.segm.stats[1]! >= 0.9, `a detector that works: segm AP50 ${e.segm.stats[1]!.toFixed(3)} >= 0.9`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  t.end();
});

test('model zoo: an unknown model is named', (t) => {
  t.throws(() => readZooEntry('no-such-model'), /model zoo: no model 'no-such-model'/);
  t.end();
});

test('weightsSourcePath: zoo:NAME names the zoo model\'s file, anything else is a path (issue 20)', (t) => {
  t.equal(weightsSourcePath('zoo:shapes'), zooWeightsPath('shapes'), 'zoo:shapes is the shapes model\'s weights file');
  t.equal(weightsSourcePath('run/model.safetensors'), 'run/model.safetensors', 'a path is returned as it is');
  t.throws(() => weightsSourcePath('zoo:no-such-model'), /model zoo: no model 'no-such-model'/, 'an unknown zoo model is named');
  t.end();
});
