import test from 'tape';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Tensor } from '../../lib/tensor/index.js';
import { loadSafetensors, saveSafetensors } from '../../lib/nn/index.js';
import { configFromFixture, loadTorchvision, type FixtureConfigJson } from '../../lib/maskrcnn/index.js';

const dir = fileURLToPath(new URL('../fixtures/model/', import.meta.url));
const weights = join(dir, 'weights.safetensors');
const config = () => configFromFixture((JSON.parse(readFileSync(join(dir, 'model_meta.json'), 'utf8')) as { config: FixtureConfigJson }).config);

test('loadTorchvision: the fixture\'s torchvision state dict loads strictly, in eval mode, every tensor copied', (t) => {
  const model = loadTorchvision(weights, { config: config() });
  t.equal(model.training, false, 'evaluation mode');
  const file = loadSafetensors(weights);
  const state = model.stateDict();
  let same = 0;
  for (const [k, v] of state) {
    const want = file.tensors.get(k);
    if (want !== undefined && want.data.every((x, i) => x === v.data[i])) same++;
  }
  t.equal(same, state.size, `all ${state.size} tensors equal the file's`);
  t.end();
});

test('loadTorchvision: a missing and an unexpected key are both named; a missing file is explained', (t) => {
  const tmp = mkdtempSync(join(tmpdir(), 'weights-test-'));
  try {
    const tensors = new Map(loadSafetensors(weights).tensors);
    const missing = 'roi_heads.mask_predictor.conv5_mask.weight';
    tensors.delete(missing);
    tensors.set('rpn.head.conv.0.bias', new Tensor(new Float32Array(3), [3])); // torchvision < 0.13's RPN key
    const path = join(tmp, 'bad.safetensors');
    saveSafetensors(path, tensors);
    try {
      loadTorchvision(path, { config: config() });
      t.fail('should throw');
    } catch (error) {
      const m = (error as Error).message;
      t.ok(m.startsWith('loadTorchvision: '), 'names the function');
      t.ok(/Missing key\(s\): .*roi_heads\.mask_predictor\.conv5_mask\.weight/.test(m), 'names the missing key');
      t.ok(/Unexpected key\(s\): .*rpn\.head\.conv\.0\.bias/.test(m), 'names the unexpected key');
    }
    try {
      loadTorchvision(join(tmp, 'nope.safetensors'));
      t.fail('should throw');
    } catch (error) {
      t.ok(/does not exist .*convert_torchvision\.py/.test((error as Error).message), (error as Error).message);
    }
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
  t.end();
});
