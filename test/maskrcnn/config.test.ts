import test from 'tape';
import { defaultConfig, shapesConfig } from '../../lib/maskrcnn/index.js';

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
  t.deepEqual([s.transform.minSize, s.rpn.anchorSizes[0], s.rpn.anchorSizes[4], s.backbone.fpnChannels, s.roiHeads.boxBatchSizePerImage], [128, [8], [128], 64, 64], 'shapes preset');
  t.equal(s.backbone.norm, 'batch', 'shapes preset: trainable BatchNorm (it trains from scratch)');
  t.equal(defaultConfig().backbone.norm, 'frozen', 'paper config: FrozenBatchNorm2d, as torchvision');
  t.end();
});
