import test from 'tape';
import { checkConfig, defaultConfig, estimateParameters, shapesConfig, MaskRCNN, readConfigJson, type MaskRCNNConfig } from '../../../lib/maskrcnn/index.js';

test('config: the paper\'s numbers are the defaults (ResNet-50-FPN, sections 3 and 3.1)', (t) => {
  const c = defaultConfig();
  t.deepEqual([c.backbone.block, c.backbone.blocksPerStage, c.backbone.fpnChannels], ['bottleneck', [3, 4, 6, 3], 256], 'ResNet-50 body, FPN 256');
  t.deepEqual([c.transform.minSize, c.transform.maxSize, c.transform.sizeDivisible], [800, 1333, 32], 'short side 800, max 1333, pad to 32');
  t.deepEqual(c.rpn.anchorSizes, [[32], [64], [128], [256], [512]], 'anchors 32..512 on P2..P6');
  t.deepEqual(c.rpn.aspectRatios, Array(5).fill([0.5, 1, 2]), 'ratios 0.5, 1, 2 on every level');
  t.deepEqual([c.rpn.preNmsTopNTrain, c.rpn.postNmsTopNTrain, c.rpn.preNmsTopNTest, c.rpn.postNmsTopNTest], [2000, 2000, 1000, 1000], 'RPN proposals');
  t.deepEqual([c.rpn.nmsThresh, c.rpn.fgIouThresh, c.rpn.bgIouThresh, c.rpn.batchSizePerImage, c.rpn.positiveFraction], [0.7, 0.7, 0.3, 256, 0.5], 'RPN NMS, IoU, sampling');
  t.deepEqual([c.roiHeads.boxBatchSizePerImage, c.roiHeads.boxPositiveFraction, c.roiHeads.boxFgIouThresh], [512, 0.25, 0.5], '512 RoIs at 25% positives, IoU 0.5');
  t.deepEqual([c.roiHeads.boxRoiOutputSize, c.roiHeads.maskRoiOutputSize, c.roiHeads.samplingRatio], [7, 14, 2], 'RoIAlign 7x7 and 14x14, sampling ratio 2');
  t.equal(c.roiHeads.canonicalScale, 224, 'FPN level mapper: a 224x224 RoI is pooled from P4 (FPN Eq. 1)');
  t.equal(c.roiHeads.representationSize, 1024, 'box head 2 x fc1024');
  t.deepEqual([c.roiHeads.maskHeadLayers, c.roiHeads.maskDimReduced, c.roiHeads.maskResolution], [[256, 256, 256, 256], 256, 28], 'mask head 4 x conv 256 -> deconv -> 28x28');
  t.deepEqual([c.roiHeads.boxScoreThresh, c.roiHeads.boxNmsThresh, c.roiHeads.boxDetectionsPerImg, c.roiHeads.maskThreshold], [0.05, 0.5, 100, 0.5], 'score 0.05, NMS 0.5, 100 detections, mask threshold 0.5');
  t.deepEqual([c.rpn.boxCoderWeights, c.roiHeads.bboxRegWeights], [[1, 1, 1, 1], [10, 10, 5, 5]], 'box coder weights');
  t.deepEqual([c.optimizer.lr, c.optimizer.momentum, c.optimizer.weightDecay], [0.02, 0.9, 1e-4], 'SGD 0.02, momentum 0.9, weight decay 1e-4');
  const s = shapesConfig();
  t.deepEqual([s.transform.minSize, s.rpn.anchorSizes[0], s.rpn.anchorSizes[4], s.backbone.fpnChannels, s.roiHeads.boxBatchSizePerImage], [128, [8], [128], 64, 32], 'shapes preset');
  t.deepEqual([s.roiHeads.maskHeadLayers, s.roiHeads.maskDimReduced], [[64, 64], 64], 'shapes preset: mask head 2 x conv 64 -> deconv (half the paper\'s depth: as accurate on shapes, half the cost)');
  t.equal(s.backbone.norm, 'batch', 'shapes preset: trainable BatchNorm (it trains from scratch)');
  t.equal(defaultConfig().backbone.norm, 'frozen', 'paper config: FrozenBatchNorm2d, as torchvision');
  t.deepEqual([c.backbone.fpnNorm, c.roiHeads.maskHeadNorm, c.optimizer.kind], ['none', 'none', 'sgd'], 'paper config: no norm in the FPN or the mask head, momentum SGD');
  t.deepEqual([s.backbone.fpnNorm, s.roiHeads.maskHeadNorm, s.optimizer.kind, s.optimizer.lr, s.optimizer.weightDecay], ['batch', 'batch', 'adamw', 1e-3, 0.05], 'shapes preset: BatchNorm in the FPN and mask head, AdamW 1e-3 (from scratch)');
  t.end();
});

test('config: a configuration written before the norm and optimizer fields existed still reads, as what it was', (t) => {
  const old = JSON.parse(JSON.stringify(shapesConfig())) as Record<string, Record<string, unknown>>;
  delete old['backbone']!['fpnNorm'];
  delete old['roiHeads']!['maskHeadNorm'];
  delete old['optimizer']!['kind'];
  const read = readConfigJson(old);
  t.deepEqual([read.backbone.fpnNorm, read.roiHeads.maskHeadNorm, read.optimizer.kind], ['none', 'none', 'sgd'], 'filled with what older files were trained with');
  t.equal(read.backbone.widths[0], 16, 'the rest kept');
  const bad = JSON.parse(JSON.stringify(shapesConfig())) as Record<string, Record<string, unknown>>;
  bad['roiHeads']!['maskHeadNorm'] = 'group';
  t.throws(() => readConfigJson(bad), /config\.roiHeads\.maskHeadNorm should be one of 'none', 'batch', got "group"/, 'an unknown norm is named');
  const model = new MaskRCNN(shapesConfig());
  const keys = [...model.stateDict().keys()];
  t.ok(keys.includes('backbone.fpn.inner_blocks.0.1.running_mean') && keys.includes('roi_heads.mask_head.1.1.weight'), 'BatchNorm keys as torchvision names them (norm_layer: child 1)');
  t.notOk(keys.includes('roi_heads.mask_head.0.0.bias'), 'a convolution followed by a norm has no bias');
  t.equal(model.parameters().reduce((n, p) => n + p.size, 0), 1_475_895, 'parameters of the torchvision twin with norm_layer=BatchNorm2d in the FPN and mask head');
  t.end();
});

test('checkConfig: real models pass (ResNet-50/101/152-FPN at 1333 px, COCO, shapes); absurd sizes are named before any model is built (issue 18)', (t) => {
  const r101 = defaultConfig(91);
  r101.backbone.blocksPerStage = [3, 4, 23, 3];
  const r152 = defaultConfig(91);
  r152.backbone.blocksPerStage = [3, 8, 36, 3];
  r152.transform = { ...r152.transform, minSize: 1333, maxSize: 2000 };
  for (const [label, c] of [['ResNet-50-FPN', defaultConfig()], ['ResNet-101-FPN', r101], ['ResNet-152-FPN, 2000 px', r152], ['shapes', shapesConfig()]] as const) {
    t.doesNotThrow(() => checkConfig(c), `${label} passes`);
  }
  t.ok(estimateParameters(defaultConfig()) > 40e6 && estimateParameters(defaultConfig()) < 50e6, `ResNet-50-FPN Mask R-CNN: about ${(estimateParameters(defaultConfig()) / 1e6).toFixed(1)} M parameters (torchvision: 44.4 M)`);
  const shapesParameters = estimateParameters(shapesConfig());
  t.ok(Math.abs(shapesParameters / 1_475_895 - 1) < 0.05, `shapes: about ${shapesParameters} parameters (the model: 1,475,895)`);
  const cases: Array<[string, (c: MaskRCNNConfig) => void, string]> = [
    ['blocksPerStage [1, 1e8, 1, 1] (1.5 GiB)', (c) => (c.backbone.blocksPerStage = [1, 1e8, 1, 1]), 'config.backbone.blocksPerStage[1] should be an integer in 1..100, got 100000000'],
    ['fpnChannels 1e9 (a RangeError today)', (c) => (c.backbone.fpnChannels = 1e9), 'config.backbone.fpnChannels should be an integer in 1..4096, got 1000000000'],
    ['a negative width', (c) => (c.backbone.widths = [16, -32, 64, 128]), 'config.backbone.widths[1] should be an integer in 1..4096, got -32'],
    ['a NaN size (JSON null)', (c) => ((c.transform as unknown as Record<string, unknown>)['minSize'] = null), 'config.transform.minSize should be an integer in 1..8192, got null'],
    ['a fractional count', (c) => (c.roiHeads.boxBatchSizePerImage = 63.5), 'config.roiHeads.boxBatchSizePerImage should be an integer in 1..1000000, got 63.5'],
    ['100,000 detections to the mask head (18 GB at ResNet-50-FPN widths)', (c) => (c.roiHeads.boxDetectionsPerImg = 1e5), 'config.roiHeads.boxDetectionsPerImg should be an integer in 1..1000, got 100000'],
    ['a 16384-wide box head (2 GB of parameters)', (c) => {
      c.backbone.fpnChannels = 256;
      c.roiHeads.representationSize = 16384;
    }, 'config: the model would have about'],
    ['an absurd anchor size', (c) => (c.rpn.anchorSizes = [[8], [16], [32], [64], [1e12]]), 'config.rpn.anchorSizes[4][0] should be a number in [0.001, 100000], got 1000000000000'],
    ['a zero aspect ratio', (c) => (c.rpn.aspectRatios[2] = [0, 1, 2]), 'config.rpn.aspectRatios[2][0] should be a number in [0.001, 1000], got 0'],
    ['four pyramid levels of anchors', (c) => (c.rpn.anchorSizes = [[8], [16], [32], [64]]), 'config.rpn.anchorSizes should have 5 entries, got 4'],
    ['an empty level', (c) => (c.rpn.anchorSizes = [[8], [], [32], [64], [128]]), 'config.rpn.anchorSizes[1] should have 1 to 64 entries, got 0'],
    ['uneven anchors per level', (c) => (c.rpn.anchorSizes = [[8, 12], [16], [32], [64], [128]]), 'every level needs the same number of anchors (sizes x ratios), got 6, 3, 3, 3, 3'],
    ['an IoU threshold above 1', (c) => (c.rpn.fgIouThresh = 7), 'config.rpn.fgIouThresh should be a number in [0, 1], got 7'],
    ['background above foreground IoU', (c) => (c.roiHeads.boxBgIouThresh = 0.8), 'config.roiHeads.boxBgIouThresh (0.8) should not exceed config.roiHeads.boxFgIouThresh (0.5)'],
    ['minSize above maxSize', (c) => (c.transform.minSize = 256), 'config.transform.minSize (256) should not exceed config.transform.maxSize (128)'],
    ['one class (no foreground)', (c) => (c.numClasses = 1), 'config.numClasses should be an integer in 2..100000, got 1'],
    ['an infinite learning rate', (c) => (c.optimizer.lr = Infinity), 'config.optimizer.lr should be a number in [1e-12, 10], got Infinity'],
    ['a zero image std', (c) => (c.transform.imageStd = [0.2, 0, 0.2]), 'config.transform.imageStd[1] should be a number in [0.000001, 1000000], got 0'],
    ['every size at its limit: too many parameters', (c) => {
      c.backbone.widths = [4096, 4096, 4096, 4096];
      c.backbone.blocksPerStage = [100, 100, 100, 100];
    }, 'config: the model would have about'],
  ];
  for (const [label, change, message] of cases) {
    const c = shapesConfig();
    change(c);
    t.throws(() => checkConfig(c), (e: Error) => e.message.includes(message), `${label}: ${message}`);
    const json = JSON.parse(JSON.stringify(c)) as unknown;
    t.throws(() => readConfigJson(json), (e: Error) => e.message.startsWith('config'), `${label}: readConfigJson (weights files, checkpoints) checks it too`);
  }
  t.end();
});
