import test from 'tape';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Tensor } from '../../../lib/tensor/index.js';
import { loadSafetensors, saveSafetensors, type SafetensorsInput } from '../../../lib/nn/index.js';
import {
  MaskRCNN, PREDICTOR_PREFIXES, WEIGHTS_CLASSES_KEY, WEIGHTS_CONFIG_KEY, configFromFixture, loadPretrained, loadTorchvision, loadWeights, readWeightsConfig, saveWeights, shapesConfig,
  type FixtureConfigJson,
} from '../../../lib/maskrcnn/index.js';
import { manualSeed } from '../../../lib/tensor/index.js';
import { assertThrowsMessage } from '../../helpers.js';

const dir = fileURLToPath(new URL('../../fixtures/model/', import.meta.url));
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

test('loadPretrained: another class count re-initialises exactly the predictors, the same count loads everything, a body shape mismatch is named (issue 20)', (t) => {
  const tmp = mkdtempSync(join(tmpdir(), 'pretrained-'));
  try {
    // A torchvision-style state dict (no metadata, torchvision key names) of a 91-class detector.
    manualSeed(11);
    const source = new MaskRCNN(shapesConfig(91));
    const coco = join(tmp, 'coco91.safetensors');
    source.saveSafetensors(coco);
    t.deepEqual(readWeightsConfig(coco), { prefix: '' }, 'a torchvision state dict carries no configuration');
    const file = loadSafetensors(coco).tensors;
    manualSeed(12);
    const model = new MaskRCNN(shapesConfig(4));
    const fresh = new Map([...model.stateDict()].map(([k, v]) => [k, Float32Array.from(v.data)]));
    const load = loadPretrained(model, coco);
    const predictorKeys = [...model.stateDict().keys()].filter((k) => PREDICTOR_PREFIXES.some((p) => k.startsWith(p)));
    t.deepEqual(load.reinitialized, predictorKeys, `re-initialised: ${load.reinitialized.join(', ')}`);
    t.deepEqual(load.reinitialized.sort(), [
      'roi_heads.box_predictor.bbox_pred.bias', 'roi_heads.box_predictor.bbox_pred.weight', 'roi_heads.box_predictor.cls_score.bias', 'roi_heads.box_predictor.cls_score.weight',
      'roi_heads.mask_predictor.mask_fcn_logits.bias', 'roi_heads.mask_predictor.mask_fcn_logits.weight',
    ], 'the box predictor and the mask predictor\'s last convolution');
    t.equal(load.fileClasses, 91, 'the file\'s class count is read from cls_score');
    t.equal(load.loaded.length + load.reinitialized.length, model.stateDict().size, 'every other tensor is loaded');
    const state = model.stateDict();
    t.ok(load.loaded.every((k) => state.get(k)!.data.every((x, i) => x === file.get(k)!.data[i])), 'the loaded tensors equal the file\'s (conv5_mask included)');
    t.ok(load.reinitialized.every((k) => state.get(k)!.data.every((x, i) => x === fresh.get(k)![i])), 'the predictors keep the model\'s fresh initial weights');
    t.deepEqual(state.get('roi_heads.box_predictor.cls_score.weight')!.shape, [4, 256], 'cls_score has the new class count');
    t.deepEqual(state.get('roi_heads.mask_predictor.mask_fcn_logits.weight')!.shape, [4, 64, 1, 1], 'and mask_fcn_logits');

    // The same class count: everything loads, from a weights file written by train (config in its metadata).
    const own = join(tmp, 'own.safetensors');
    saveWeights(own, model, { classes: ['__background__', 'a', 'b', 'c'] });
    t.equal(readWeightsConfig(own).config?.numClasses, 4, 'a project weights file carries its configuration');
    const again = new MaskRCNN(shapesConfig(4));
    const all = loadPretrained(again, own);
    t.deepEqual([all.reinitialized, all.loaded.length], [[], again.stateDict().size], 'the same class count loads every tensor');

    // A body tensor of another shape: an error naming the key and both shapes.
    const bad = new Map(file);
    bad.set('backbone.body.layer1.0.conv1.weight', new Tensor(new Float32Array(16 * 8 * 9), [16, 8, 3, 3]));
    const badPath = join(tmp, 'bad.safetensors');
    saveSafetensors(badPath, bad);
    assertThrowsMessage(
      t,
      () => loadPretrained(new MaskRCNN(shapesConfig(4)), badPath, { what: 'train: weights' }),
      ['train: weights: ', "'backbone.body.layer1.0.conv1.weight' is [16, 8, 3, 3] in the file but [16, 16, 3, 3] in the model"],
      'a body shape mismatch names the key and both shapes',
    );
    const missing = new Map(file);
    missing.delete('rpn.head.conv.0.0.weight');
    saveSafetensors(badPath, missing);
    assertThrowsMessage(t, () => loadPretrained(new MaskRCNN(shapesConfig(4)), badPath), ['Missing key(s): rpn.head.conv.0.0.weight'], 'a key the file lacks is named');
    assertThrowsMessage(t, () => loadPretrained(new MaskRCNN(shapesConfig(4)), join(tmp, 'nope.safetensors')), 'nope.safetensors does not exist', 'a missing file is named');
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
  t.end();
});

test('loadPretrained: the state dict torchvision itself wrote (the fixture, 4 classes) fine-tunes to 3 classes: only the predictors start afresh (issue 20)', (t) => {
  const c = config();
  t.equal(c.numClasses, 4, 'the fixture has 4 classes');
  const model = new MaskRCNN({ ...c, numClasses: 3 });
  const load = loadPretrained(model, weights);
  t.equal(load.fileClasses, 4, 'the file\'s class count');
  t.equal(load.reinitialized.length, 6, `six predictor tensors re-initialised: ${load.reinitialized.join(', ')}`);
  const file = loadSafetensors(weights).tensors;
  const state = model.stateDict();
  t.ok(load.loaded.every((k) => state.get(k)!.data.every((x, i) => x === file.get(k)!.data[i])), `the other ${load.loaded.length} tensors equal torchvision's`);
  t.end();
});
