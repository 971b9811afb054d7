import test from 'tape';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { SafetensorsFile } from '../../lib/nn/index.js';
import { withBackend } from '../../lib/ops/index.js';
import { runModelParity, loadFixtureBackbone } from '../../tools/parity/model.js';
import { formatLine } from '../../tools/parity/harness.js';

const dir = fileURLToPath(new URL('../fixtures/model/', import.meta.url));
const meta = JSON.parse(readFileSync(`${dir}model_meta.json`, 'utf8')) as {
  seed: number;
  num_parameters: number;
  num_buffer_values: number;
  weights: { keys: Array<[string, number[], string]> };
};

test('model fixture: torchvision weights (safetensors written by Python) load into the backbone by key name, strictly', (t) => {
  t.equal(meta.num_parameters, 1094295, 'the tiny Mask R-CNN of the spec (1,094,295 trainable parameters)');
  const backbone = loadFixtureBackbone(dir); // throws on any missing / unexpected backbone.* key or shape mismatch
  const want = meta.weights.keys.filter(([k]) => k.startsWith('backbone.')).map(([k, shape]) => [k.slice('backbone.'.length), shape]);
  t.deepEqual([...backbone.stateDict()].map(([k, v]) => [k, [...v.shape]]), want, 'every backbone key and shape, in torchvision order');
  const buffers = backbone.namedBuffers().reduce((n, [, b]) => n + b.size, 0);
  t.equal(buffers, meta.num_buffer_values, 'FrozenBatchNorm2d weight/bias/running_mean/running_var are buffers (2,880 values)');
  const file = SafetensorsFile.open(`${dir}weights.safetensors`);
  t.equal(file.metadata?.['seed'], String(meta.seed), '__metadata__ carries the seed');
  file.close();
  t.end();
});

test('model fixture parity (reference backend): transform.images -> backbone.body.0..3 -> fpn.0..3, fpn.pool on the random and shapes runs', (t) => {
  const lines = withBackend('reference', () => runModelParity(dir, { runs: ['random', 'shapes'], stages: ['backbone.body', 'fpn'], endToEnd: false }));
  for (const line of lines) t.equal(line.status, 'PASS', formatLine(line));
  t.equal(lines.length, 18, '9 golden tensors per run compared');
  t.end();
});
