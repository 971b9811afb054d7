import test from 'tape';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Tensor } from '../../lib/tensor/index.js';
import { loadSafetensors, saveSafetensors, type SafetensorsInput } from '../../lib/nn/index.js';
import {
  MaskRCNN, WEIGHTS_CLASSES_KEY, WEIGHTS_CONFIG_KEY, configFromFixture, loadTorchvision, loadWeights, saveWeights, shapesConfig, type FixtureConfigJson,
} from '../../lib/maskrcnn/index.js';
import { assertThrowsMessage } from '../helpers.js';

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

test('loadWeights: relabelled dtypes, NaN weights, absurd or corrupt configurations and bad class names are named before a model is built (issue 18)', (t) => {
  const tmp = mkdtempSync(join(tmpdir(), 'weights-hostile-'));
  t.teardown(() => rmSync(tmp, { recursive: true, force: true }));
  const good = join(tmp, 'good.safetensors');
  const classes = ['__background__', 'square', 'circle', 'triangle'];
  saveWeights(good, new MaskRCNN(shapesConfig(4)), { classes });
  t.deepEqual(loadWeights(good).classes, classes, 'the untouched file loads');
  const file = loadSafetensors(good);
  let n = 0;
  /** The good file with its tensors and metadata changed by `edit`. */
  const variant = (edit: (tensors: Map<string, SafetensorsInput>, meta: Record<string, string>) => void): string => {
    const tensors = new Map<string, SafetensorsInput>([...file.tensors].map(([k, v]) => [k, { tensor: new Tensor(v.data.slice(), [...v.shape], v.dtype), dtype: file.dtypes.get(k)! }]));
    const meta = { ...file.metadata! };
    edit(tensors, meta);
    const path = join(tmp, `variant${n++}.safetensors`);
    saveSafetensors(path, tensors, { metadata: meta });
    return path;
  };
  const key = 'roi_heads.box_predictor.cls_score.weight';
  const tensorOf = (tensors: Map<string, SafetensorsInput>, k: string): Tensor => (tensors.get(k) as { tensor: Tensor }).tensor;
  const config = (change: (c: Record<string, Record<string, unknown>>) => void) => (_t: Map<string, SafetensorsInput>, meta: Record<string, string>): void => {
    const c = JSON.parse(meta[WEIGHTS_CONFIG_KEY]!) as Record<string, Record<string, unknown>>;
    change(c);
    meta[WEIGHTS_CONFIG_KEY] = JSON.stringify(c);
  };
  const cases: Array<[string, string, string]> = [
    ['a float tensor relabelled I32', variant((tensors) => {
      const w = tensorOf(tensors, key);
      tensors.set(key, { tensor: new Tensor(new Int32Array(w.data.buffer.slice(0)), [...w.shape], 'int32'), dtype: 'I32' });
    }), `tensor '${key}' is stored as I32 but the model's float32 tensor needs a float type`],
    ['an integer buffer stored as F32', variant((tensors) => {
      const k = [...tensors.keys()].find((x) => x.endsWith('num_batches_tracked'))!;
      tensors.set(k, { tensor: new Tensor(new Float32Array([3]), [], 'float32'), dtype: 'F32' });
    }), "num_batches_tracked' is stored as F32 but the model's int32 tensor needs an integer type"],
    ['a NaN weight', variant((tensors) => (tensorOf(tensors, key).data[5] = NaN)), `tensor '${key}' holds NaN at element 5`],
    ['blocksPerStage [1, 1e8, 1, 1]', variant(config((c) => (c['backbone']!['blocksPerStage'] = [1, 1e8, 1, 1]))), "bad 'maskrcnn.config' entry: config.backbone.blocksPerStage[1] should be an integer in 1..100, got 100000000"],
    ['fpnChannels 1e9', variant(config((c) => (c['backbone']!['fpnChannels'] = 1e9))), 'config.backbone.fpnChannels should be an integer in 1..4096'],
    ['configuration JSON cut short', variant((_t, meta) => (meta[WEIGHTS_CONFIG_KEY] = meta[WEIGHTS_CONFIG_KEY]!.slice(0, 30))), "metadata 'maskrcnn.config': not valid JSON"],
    ['configuration nested 100,000 deep', variant((_t, meta) => (meta[WEIGHTS_CONFIG_KEY] = '['.repeat(100_000) + ']'.repeat(100_000))), "metadata 'maskrcnn.config': JSON nests deeper than 64 levels"],
    ['a null class name', variant((_t, meta) => (meta[WEIGHTS_CLASSES_KEY] = JSON.stringify(['__background__', null, 'circle', 'triangle']))), "'maskrcnn.classes': class name 1 should be a non-empty string, got null"],
    ['an object class name', variant((_t, meta) => (meta[WEIGHTS_CLASSES_KEY] = JSON.stringify(['__background__', 'square', { a: 1 }, 'triangle']))), 'class name 2 should be a non-empty string, got {"a":1}'],
    ['too few class names', variant((_t, meta) => (meta[WEIGHTS_CLASSES_KEY] = JSON.stringify(['__background__']))), '1 class names for a model with 4 classes'],
  ];
  for (const [label, path, message] of cases) {
    assertThrowsMessage(t, () => loadWeights(path), [`loadWeights: ${path}`, message], label);
  }
  const nan = cases[2]![1];
  t.ok(Number.isNaN(loadWeights(nan, { allowNonFinite: true }).model.stateDict().get(key)!.data[5]!), 'allowNonFinite: true loads the NaN weight as it is');
  assertThrowsMessage(t, () => saveWeights(join(tmp, 'x.safetensors'), new MaskRCNN(shapesConfig(4)), { classes: ['__background__', '', 'circle', 'triangle'] }), "saveWeights: class name 1 should be a non-empty string, got \"\"", 'saveWeights refuses an empty class name');
  t.end();
});
