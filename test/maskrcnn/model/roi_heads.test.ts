import test from 'tape';
import { Tensor, tensor, randn, Generator, manualSeed, noGrad } from '../../../lib/tensor/index.js';
import { roiAlign, roiPool, roiWarp } from '../../../lib/ops/index.js';
import {
  RoIHeads, MaskRCNN, MaskMLPPredictor, TwoMLPHead, poolerOptionsOf, shapesConfig, generateShapes, shapesDetectionDataset,
  readConfigJson, buildRoIHeadModules, MaskRCNNHeads, MaskRCNNPredictor, FastRCNNPredictor, TraceRecorder, type RoiHeadsConfig, type Target,
} from '../../../lib/maskrcnn/index.js';
import { assertClose, assertThrowsMessage } from '../../helpers.js';

const G = new Generator(11);
const heads = (over: Partial<RoiHeadsConfig> = {}, numClasses = 4): RoIHeads => new RoIHeads({ ...shapesConfig(numClasses).roiHeads, ...over }, 8, numClasses);

/** One 16x16 image with one 8x8 square of class 2 and one proposal on it. */
function maskCase(): { proposals: Tensor[]; targets: Target[]; matched: Tensor[] } {
  const masks = new Float32Array(16 * 16);
  for (let y = 4; y < 12; y++) for (let x = 4; x < 12; x++) masks[y * 16 + x] = 1;
  return {
    proposals: [tensor([[2, 2, 14, 14]])],
    targets: [{ boxes: tensor([[4, 4, 12, 12]]), labels: new Tensor(Int32Array.from([2]), [1]), masks: new Tensor(masks, [1, 16, 16]) }],
    matched: [new Tensor(Int32Array.from([0]), [1])],
  };
}

test('mask loss, softmax (Table 2b): the mean over pixels of -log softmax(logits)[class], class = GT label where the target >= 0.5, else background 0', (t) => {
  const h = heads({ maskLoss: 'softmax' });
  const { proposals, targets, matched } = maskCase();
  const logits = randn([1, 4, 28, 28], { generator: G });
  const trace = new TraceRecorder(true);
  const loss = h.maskrcnnLoss(logits, proposals, targets, matched, trace).item();
  const tgt = trace.tensors.get('train.roi_heads.mask_targets')!.data;
  let sum = 0;
  let foreground = 0;
  for (let p = 0; p < 28 * 28; p++) {
    const cls = tgt[p]! >= 0.5 ? 2 : 0;
    if (cls === 2) foreground++;
    let denom = 0;
    for (let c = 0; c < 4; c++) denom += Math.exp(logits.data[c * 784 + p]!);
    sum += -(logits.data[cls * 784 + p]! - Math.log(denom));
  }
  t.ok(foreground > 100 && foreground < 784, `${foreground} of 784 target pixels are the square's class`);
  assertClose(t, loss, sum / 784, 'closed form', 1e-5);
  const sig = heads().maskrcnnLoss(logits, proposals, targets, matched).item();
  t.notEqual(loss, sig, `differs from the sigmoid loss (${loss.toFixed(4)} vs ${sig.toFixed(4)})`);
  t.end();
});

test('class-agnostic masks: one mask channel, the loss reads it for every class, inference returns it', (t) => {
  const h = heads({ classAgnosticMask: true });
  t.equal(h.maskChannels, 1, 'one mask channel');
  const x = randn([3, 8, 14, 14], { generator: G });
  t.deepEqual(h.mask_predictor.forward(h.mask_head.forward(x)).shape, [3, 1, 28, 28], 'mask logits [R, 1, 28, 28]');
  const { proposals, targets, matched } = maskCase();
  const logits = randn([1, 1, 28, 28], { generator: G });
  const trace = new TraceRecorder(true);
  const loss = h.maskrcnnLoss(logits, proposals, targets, matched, trace).item();
  const tgt = trace.tensors.get('train.roi_heads.mask_targets')!.data;
  let sum = 0;
  for (let p = 0; p < 784; p++) {
    const z = logits.data[p]!;
    sum += Math.max(z, 0) - z * tgt[p]! + Math.log1p(Math.exp(-Math.abs(z)));
  }
  assertClose(t, loss, sum / 784, 'BCE with logits on channel 0, by hand', 1e-5);
  assertThrowsMessage(t, () => heads({ classAgnosticMask: true, maskLoss: 'softmax' }), "maskLoss 'softmax' competes the classes at each pixel", 'softmax needs per-class masks');
  t.end();
});

test('MLP mask head (Table 2e): fc layers from the pooled 14x14 features to K x 28 x 28 logits, with its own parameter names', (t) => {
  const h = heads({ maskHead: 'mlp' });
  t.ok(h.mask_head instanceof TwoMLPHead && h.mask_predictor instanceof MaskMLPPredictor, 'a TwoMLPHead and a MaskMLPPredictor');
  const names = [...h.namedParameters()].map(([n]) => n).filter((n) => n.startsWith('mask_'));
  t.deepEqual(names, ['mask_head.fc6.weight', 'mask_head.fc6.bias', 'mask_head.fc7.weight', 'mask_head.fc7.bias', 'mask_predictor.mask_fc_logits.weight', 'mask_predictor.mask_fc_logits.bias']);
  const x = randn([2, 8, 14, 14], { generator: G });
  t.deepEqual(h.mask_predictor.forward(h.mask_head.forward(x)).shape, [2, 4, 28, 28], 'logits [R, K, 28, 28]');
  t.deepEqual(h.mask_head.parameters()[0]!.shape, [256, 8 * 14 * 14], 'fc6 reads the whole 14x14 RoI');
  t.end();
});

test('poolers (Table 2c/2d): each switch pools with the op it names, from the level it names', (t) => {
  t.deepEqual(poolerOptionsOf({ pooler: 'roi_align', poolerLevels: 'fpn', canonicalScale: 224 }), { method: 'align', mode: 'avg', canonicalScale: 224 });
  t.deepEqual(poolerOptionsOf({ pooler: 'roi_align_max', poolerLevels: 'stride32', canonicalScale: 56 }), { method: 'align', mode: 'max', canonicalScale: 56, singleLevel: '3' });
  t.deepEqual(poolerOptionsOf({ pooler: 'roi_pool', poolerLevels: 'stride16', canonicalScale: 224 }), { method: 'pool', mode: 'avg', canonicalScale: 224, singleLevel: '2' });
  // Four maps of strides 4..32 of a 64x64 image; one box pooled by each variant from P5 only.
  const features = new Map(['0', '1', '2', '3'].map((n, i) => [n, randn([1, 8, 16 >> i, 16 >> i], { generator: G })] as const));
  const boxes = [tensor([[5.3, 7.1, 40.2, 51.9]])];
  const rois = tensor([[0, 5.3, 7.1, 40.2, 51.9]]);
  const p5 = features.get('3')!;
  const want = {
    roi_align: roiAlign(p5, rois, { outputSize: 7, spatialScale: 1 / 32, samplingRatio: 2 }),
    roi_align_max: roiAlign(p5, rois, { outputSize: 7, spatialScale: 1 / 32, samplingRatio: 2, mode: 'max' }),
    roi_warp: roiWarp(p5, rois, { outputSize: 7, spatialScale: 1 / 32, samplingRatio: 2 }),
    roi_warp_max: roiWarp(p5, rois, { outputSize: 7, spatialScale: 1 / 32, samplingRatio: 2, mode: 'max' }),
    roi_pool: roiPool(p5, rois, { outputSize: 7, spatialScale: 1 / 32 }),
  };
  for (const [pooler, expected] of Object.entries(want)) {
    const h = heads({ pooler: pooler as RoiHeadsConfig['pooler'], poolerLevels: 'stride32' });
    assertClose(t, h.boxRoiPool.forward(features, boxes, [[64, 64]]).features, expected, `${pooler} from P5`, 1e-6);
  }
  t.end();
});

test('every ablation variant trains a step (finite losses, gradients reach the mask head) and predicts', (t) => {
  const data = shapesDetectionDataset(generateShapes({ count: 1, size: 64, seed: 5 }), { contiguousLabels: true });
  const item = data.get(0);
  const variants: Array<Partial<RoiHeadsConfig>> = [
    { pooler: 'roi_pool' }, { pooler: 'roi_warp' }, { pooler: 'roi_align_max' }, { poolerLevels: 'stride32' },
    { maskLoss: 'softmax' }, { maskHead: 'mlp' }, { classAgnosticMask: true },
  ];
  for (const v of variants) {
    const c = shapesConfig(4);
    c.transform = { ...c.transform, minSize: 64, maxSize: 64 };
    c.roiHeads = { ...c.roiHeads, ...v, boxBatchSizePerImage: 16 };
    const model = new MaskRCNN(c);
    model.train();
    const { losses } = model.forward([item.image], [item.target]);
    const total = Object.values(losses).reduce((a, b) => a.add(b));
    total.backward();
    const grad = model.roi_heads.mask_predictor.parameters()[0]!.grad;
    t.ok(Number.isFinite(total.item()) && grad !== null, `${JSON.stringify(v)}: loss ${total.item().toFixed(3)}, mask predictor gradient ${grad === null ? 'missing' : 'present'}`);
    model.eval();
    const det = model.forward([item.image]).detections[0]!;
    const m = det.masks;
    t.ok(m === undefined || m.data.every((p) => p >= 0 && p <= 1), `${JSON.stringify(v)}: ${det.boxes.shape[0]} detections, mask probabilities in [0, 1]`);
  }
  t.end();
});

test('configuration: files written before the switches existed read as the paper\'s choices; unknown values are named', (t) => {
  const old = JSON.parse(JSON.stringify(shapesConfig(4))) as { roiHeads: Record<string, unknown> };
  for (const k of ['pooler', 'poolerLevels', 'maskHead', 'maskLoss', 'classAgnosticMask']) delete old.roiHeads[k];
  const r = readConfigJson(old).roiHeads;
  t.deepEqual([r.pooler, r.poolerLevels, r.maskHead, r.maskLoss, r.classAgnosticMask], ['roi_align', 'fpn', 'fcn', 'sigmoid', false]);
  const bad = JSON.parse(JSON.stringify(shapesConfig(4))) as { roiHeads: Record<string, unknown> };
  bad.roiHeads['pooler'] = 'roi_magic';
  assertThrowsMessage(t, () => readConfigJson(bad), "config.roiHeads.pooler should be one of 'roi_align', 'roi_align_max', 'roi_warp', 'roi_warp_max', 'roi_pool', got \"roi_magic\"", 'unknown pooler named');
  t.end();
});

/** The shapes config at 64x64 with few RoIs, and one training image. */
function smallCase(): { config: ReturnType<typeof shapesConfig>; item: ReturnType<ReturnType<typeof shapesDetectionDataset>['get']> } {
  const config = shapesConfig(4);
  config.transform = { ...config.transform, minSize: 64, maxSize: 64 };
  config.roiHeads = { ...config.roiHeads, boxBatchSizePerImage: 16 };
  const item = shapesDetectionDataset(generateShapes({ count: 1, size: 64, seed: 5 }), { contiguousLabels: true }).get(0);
  return { config, item };
}

test('heads passed in (torchvision\'s mask_head / mask_predictor): a 1-conv mask head trains a step and predicts masks of the right shape, under the usual state-dict names', (t) => {
  const { config, item } = smallCase();
  const c = config.backbone.fpnChannels;
  const model = new MaskRCNN(config, { maskHead: new MaskRCNNHeads(c, [16]), maskPredictor: new MaskRCNNPredictor(16, 8, 4) });
  const maskKeys = [...model.stateDict().keys()].filter((k) => k.startsWith('roi_heads.mask_'));
  t.deepEqual(maskKeys, [
    'roi_heads.mask_head.0.0.weight', 'roi_heads.mask_head.0.0.bias',
    'roi_heads.mask_predictor.conv5_mask.weight', 'roi_heads.mask_predictor.conv5_mask.bias',
    'roi_heads.mask_predictor.mask_fcn_logits.weight', 'roi_heads.mask_predictor.mask_fcn_logits.bias',
  ], 'one conv in the mask head, the predictor under its usual names');
  t.deepEqual(model.roi_heads.mask_head.parameters()[0]!.shape, [16, c, 3, 3], 'the head given, not the config\'s');
  model.train();
  const { losses } = model.forward([item.image], [item.target]);
  const total = Object.values(losses).reduce((a, b) => a.add(b));
  t.ok(Object.values(losses).every((l) => Number.isFinite(l.item())), `finite losses (${Object.entries(losses).map(([k, v]) => `${k} ${v.item().toFixed(3)}`).join(', ')})`);
  total.backward();
  t.ok(model.roi_heads.mask_head.parameters()[0]!.grad !== null, 'the gradient reaches the given mask head');
  model.eval();
  const features = new Map(['0', '1', '2', '3'].map((n, i) => [n, randn([1, c, 16 >> i, 16 >> i], { generator: G })] as const));
  const logits = noGrad(() => model.roi_heads.maskForward(features, [tensor([[4, 4, 40, 40], [10, 12, 30, 50]])], [[64, 64]]));
  t.deepEqual(logits.shape, [2, 4, 28, 28], 'mask logits [R, K, 28, 28]');
  const det = noGrad(() => model.forward([item.image]).detections[0]!);
  const d = det.boxes.shape[0]!;
  t.deepEqual(det.masks?.shape, [d, 1, 64, 64], `${d} detections, masks [D, 1, H, W]`);
  t.end();
});

test('heads passed in: a box or mask predictor of the wrong number of classes is named with the shapes', (t) => {
  const { config, item } = smallCase();
  const wrongBox = new MaskRCNN(config, { boxPredictor: new FastRCNNPredictor(config.roiHeads.representationSize, 3) });
  wrongBox.train();
  assertThrowsMessage(
    t,
    () => wrongBox.forward([item.image], [item.target]),
    ['RoIHeads: the box predictor (FastRCNNPredictor) returned class logits [16, 3] and box regression [16, 12]', 'expected [16, 4] and [16, 16] (4 classes with background)'],
    'a box predictor for 3 classes in a 4-class model',
  );
  const last = config.roiHeads.maskHeadLayers[config.roiHeads.maskHeadLayers.length - 1]!;
  const wrongMask = new MaskRCNN(config, { maskPredictor: new MaskRCNNPredictor(last, 8, 2) });
  wrongMask.train();
  assertThrowsMessage(t, () => wrongMask.forward([item.image], [item.target]), ['RoIHeads: the mask predictor (MaskRCNNPredictor) returned [', ', 2, 28, 28]', ', 4, M, M]'], 'a mask predictor for 2 classes');
  t.end();
});

test('heads passed in: the config\'s own modules passed explicitly give the same state-dict keys, weights and outputs', (t) => {
  for (const over of [{}, { maskHead: 'mlp' as const }, { classAgnosticMask: true }]) {
    const cfg = { ...shapesConfig(4).roiHeads, ...over };
    manualSeed(3);
    const fromConfig = new RoIHeads(cfg, 8, 4);
    manualSeed(3);
    const given = new RoIHeads(cfg, 8, 4, buildRoIHeadModules(cfg, 8, 4));
    const a = fromConfig.stateDict();
    const b = given.stateDict();
    t.deepEqual([...b.keys()], [...a.keys()], `${JSON.stringify(over)}: the same keys in the same order`);
    t.ok([...a].every(([k, v]) => v.data.every((x, i) => x === b.get(k)!.data[i])), `${JSON.stringify(over)}: the same initial weights (seed 3)`);
    fromConfig.eval();
    given.eval();
    const features = new Map(['0', '1', '2', '3'].map((n, i) => [n, randn([1, 8, 16 >> i, 16 >> i], { generator: new Generator(i) })] as const));
    const proposals = [tensor([[4, 4, 40, 40], [10, 12, 30, 50], [0, 0, 63, 63]])];
    const da = noGrad(() => fromConfig.forward(features, proposals, [[64, 64]]).detections[0]!);
    const db = noGrad(() => given.forward(features, proposals, [[64, 64]]).detections[0]!);
    assertClose(t, db.scores, da.scores, `${JSON.stringify(over)}: the same scores (${da.scores.size})`, 0);
    assertClose(t, db.masks!, da.masks!, `${JSON.stringify(over)}: the same masks`, 0);
  }
  const { config, item } = smallCase();
  const model = new MaskRCNN(config);
  const explicit = new MaskRCNN(config, buildRoIHeadModules(config.roiHeads, config.backbone.fpnChannels, config.numClasses));
  t.deepEqual([...explicit.stateDict().keys()], [...model.stateDict().keys()], 'MaskRCNN: the same state-dict keys');
  explicit.loadStateDict(model.stateDict());
  model.eval();
  explicit.eval();
  const ta = noGrad(() => model.forward([item.image], undefined, { trace: true }).trace);
  const tb = noGrad(() => explicit.forward([item.image], undefined, { trace: true }).trace);
  for (const k of ['roi_heads.class_logits', 'roi_heads.mask_logits'] as const) assertClose(t, tb.get(k)!, ta.get(k)!, `MaskRCNN with the same weights: the same ${k}`, 0);
  t.end();
});
