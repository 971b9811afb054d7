/**
 * The detector's configuration: every number of Mask R-CNN (He et al., ICCV 2017, sections 3
 * and 3.1; torchvision's `maskrcnn_resnet50_fpn` defaults) in one plain object, plus the
 * `shapes` preset (the same architecture, small enough to train on a laptop CPU) and the
 * reader of a model fixture's `model_meta.json` config.
 *
 * @module
 */
import { briefJson } from '../../util/limits.js';

/** The backbone: a ResNet body (C2..C5) and its FPN (P2..P6). */
export interface BackboneConfig {
  /** `'bottleneck'` (ResNet-50/101) or `'basic'` (ResNet-18/34 and the tiny fixture). */
  block: 'basic' | 'bottleneck';
  /** Residual blocks per stage (ResNet-50: `[3, 4, 6, 3]`). */
  blocksPerStage: [number, number, number, number];
  /** Stem width (64 in every torchvision ResNet). */
  stemChannels: number;
  /** Base width of each stage (64, 128, 256, 512; bottleneck outputs are 4x). */
  widths: [number, number, number, number];
  /** How many stages from the top are trained (torchvision: 3 with pretrained weights). */
  trainableLayers: number;
  /**
   * The ResNet's normalization: `'frozen'` (torchvision's FrozenBatchNorm2d, fixed statistics:
   * the paper's choice when fine-tuning from ImageNet weights) or `'batch'` (trainable
   * BatchNorm2d with batch statistics: what training from scratch needs, He et al.,
   * "Rethinking ImageNet Pre-training", 2019).
   */
  norm: 'frozen' | 'batch';
  /** FPN width (256 in the paper). */
  fpnChannels: number;
  /**
   * Norm after each FPN convolution: `'none'` (the paper and torchvision's default) or
   * `'batch'` (BatchNorm2d, torchvision's `norm_layer`; what training from scratch needs).
   */
  fpnNorm: HeadNorm;
}

/** A norm inside the FPN or a head: none, or BatchNorm2d with batch statistics. */
export type HeadNorm = 'none' | 'batch';

/** The layer norm of a config's {@link HeadNorm} (`null` for `'none'`), rejecting other values by field name. */
export function normKind(norm: HeadNorm, field: string): 'batch' | null {
  if (norm === 'none') return null;
  if (norm === 'batch') return 'batch';
  throw new Error(`MaskRCNN: config ${field} should be 'none' or 'batch', got ${JSON.stringify(norm)}`);
}


/** GeneralizedRCNNTransform: normalisation, resizing and batching (oracle spec point 8). */
export interface TransformConfig {
  /** Target length of the shorter side (800). */
  minSize: number;
  /** Cap on the longer side (1333). */
  maxSize: number;
  /** Per-channel mean subtracted after scaling to [0, 1] (ImageNet's). */
  imageMean: [number, number, number];
  /** Per-channel standard deviation (ImageNet's). */
  imageStd: [number, number, number];
  /** The batch is zero-padded bottom/right to a multiple of this (32). */
  sizeDivisible: number;
}

/** The region proposal network (paper section 3.1; Ren et al. 2015). */
export interface RpnConfig {
  /** Anchor sizes per pyramid level P2..P6 (32, 64, 128, 256, 512). */
  anchorSizes: number[][];
  /** Aspect ratios h/w per level (0.5, 1, 2). */
  aspectRatios: number[][];
  /** Top-n proposals per level before NMS, training (2000). */
  preNmsTopNTrain: number;
  /** Top-n proposals per level before NMS, testing (1000). */
  preNmsTopNTest: number;
  /** Proposals kept per image after NMS, training (2000). */
  postNmsTopNTrain: number;
  /** Proposals kept per image after NMS, testing (1000). */
  postNmsTopNTest: number;
  /** IoU threshold of the proposal NMS (0.7). */
  nmsThresh: number;
  /** Anchors with IoU >= this are positive (0.7). */
  fgIouThresh: number;
  /** Anchors with IoU < this are negative (0.3). */
  bgIouThresh: number;
  /** Anchors sampled per image for the loss (256). */
  batchSizePerImage: number;
  /** Fraction of positives in the sample (0.5). */
  positiveFraction: number;
  /** Proposals scoring below this (after sigmoid) are dropped (0). */
  scoreThresh: number;
  /** Proposals narrower or shorter than this are dropped (1e-3). */
  minSize: number;
  /** Box coder weights (1, 1, 1, 1). */
  boxCoderWeights: [number, number, number, number];
  /** Smooth-L1 beta of the RPN box loss (1/9). */
  smoothL1Beta: number;
}

/** The RoI heads: box branch and mask branch. */
export interface RoiHeadsConfig {
  /** RoIAlign output of the box branch (7). */
  boxRoiOutputSize: number;
  /** RoIAlign output of the mask branch (14). */
  maskRoiOutputSize: number;
  /** Sample points per bin axis in MultiScaleRoIAlign (2). */
  samplingRatio: number;
  /** The FPN level mapper's canonical RoI size, pooled from P4 (224, FPN paper Eq. 1). */
  canonicalScale: number;
  /** Width of the two fully connected layers of the box head (1024). */
  representationSize: number;
  /** Detections need a class probability above this (0.05). */
  boxScoreThresh: number;
  /** Per-class NMS threshold of the detections (0.5). */
  boxNmsThresh: number;
  /** Detections kept per image (100). */
  boxDetectionsPerImg: number;
  /** Proposals with IoU >= this are foreground (0.5). */
  boxFgIouThresh: number;
  /** Proposals with IoU < this are background (0.5). */
  boxBgIouThresh: number;
  /** RoIs sampled per image (512). */
  boxBatchSizePerImage: number;
  /** Fraction of positive RoIs (0.25). */
  boxPositiveFraction: number;
  /** Box coder weights of the box head (10, 10, 5, 5). */
  bboxRegWeights: [number, number, number, number];
  /** Channels of the mask head's 3x3 convolutions (4 x 256). */
  maskHeadLayers: number[];
  /** Norm after each of those convolutions (`'none'`, the paper's; `'batch'` from scratch). */
  maskHeadNorm: HeadNorm;
  /** Dilation of those convolutions (1). */
  maskHeadDilation: number;
  /** Channels of the mask predictor's deconvolution (256). */
  maskDimReduced: number;
  /** Side of the predicted masks (28). */
  maskResolution: number;
  /** Probability threshold applied to the pasted masks by users of the output (0.5). */
  maskThreshold: number;
  /** Smooth-L1 beta of the box loss (1/9). */
  smoothL1Beta: number;
  /**
   * How both heads pool RoI features (paper Table 2c/2d): `'roi_align'` (the paper's: bilinear
   * samples, averaged), `'roi_align_max'` (the same samples, max-pooled), `'roi_warp'` /
   * `'roi_warp_max'` (the RoI rounded to the feature grid, then bilinear samples, averaged or
   * max-pooled) or `'roi_pool'` (Fast R-CNN: RoI and bins rounded, max).
   */
  pooler: RoiPoolerKind;
  /**
   * Which feature maps RoIs are pooled from: `'fpn'` (the paper's FPN model: each RoI from the
   * level its size maps to), or every RoI from the one map of stride 16 or 32 (`'stride16'`,
   * `'stride32'`: P4 or P5, the role C4 and C5 play in Table 2c and 2d).
   */
  poolerLevels: 'fpn' | 'stride16' | 'stride32';
  /** The mask head: `'fcn'` (the paper's four 3x3 convolutions) or `'mlp'` (Table 2e: fully connected layers). */
  maskHead: 'fcn' | 'mlp';
  /**
   * The mask loss (Table 2b): `'sigmoid'` (the paper's: a binary loss on the ground-truth class's
   * mask only) or `'softmax'` (FCN's: a softmax over the classes at every pixel, background = class 0).
   */
  maskLoss: 'sigmoid' | 'softmax';
  /** One mask for every class instead of one per class (section 4.2: "nearly as effective"). */
  classAgnosticMask: boolean;
}

/** The RoI feature extractors the heads can use (paper Table 2c). */
export type RoiPoolerKind = 'roi_align' | 'roi_align_max' | 'roi_warp' | 'roi_warp_max' | 'roi_pool';

/** Everything that defines a Mask R-CNN. */
export interface MaskRCNNConfig {
  /** Classes including background (COCO: 91 in torchvision's numbering). */
  numClasses: number;
  /** The ResNet-FPN backbone. */
  backbone: BackboneConfig;
  /** Resizing and normalisation. */
  transform: TransformConfig;
  /** The region proposal network. */
  rpn: RpnConfig;
  /** The box and mask heads. */
  roiHeads: RoiHeadsConfig;
  /** SGD: learning rate 0.02 (16 images per batch), momentum 0.9, weight decay 1e-4, /10 steps. */
  optimizer: {
    /**
     * `'sgd'` (the paper's momentum SGD with L2 weight decay) or `'adamw'` (AdamW, Loshchilov &
     * Hutter 2019: decoupled weight decay; `momentum` is Adam's first beta).
     */
    kind: 'sgd' | 'adamw';
    /** Learning rate. */
    lr: number;
    /** SGD momentum. */
    momentum: number;
    /** L2 weight decay. */
    weightDecay: number;
    /** Factor of each learning-rate step. */
    lrDecay: number;
  };
}

const RATIOS = [0.5, 1, 2];

/**
 * The paper's Mask R-CNN with ResNet-50-FPN (torchvision `maskrcnn_resnet50_fpn`): short side
 * 800, max 1333; anchors 32..512 on P2..P6 x ratios 0.5/1/2; RPN 2000/2000 (train) and
 * 1000/1000 (test) proposals, NMS 0.7, IoU 0.7/0.3, 256 anchors at 50% positives; 512 RoIs at
 * 25% positives, IoU 0.5; RoIAlign 7x7 / 14x14 with 2x2 samples; box head 2 x fc1024; mask head
 * 4 x conv3x3(256) -> deconv 2x2 s2 -> 1x1 to K x 28x28; score 0.05, NMS 0.5, 100 detections.
 */
export function defaultConfig(numClasses = 91): MaskRCNNConfig {
  return {
    numClasses,
    backbone: { block: 'bottleneck', blocksPerStage: [3, 4, 6, 3], stemChannels: 64, widths: [64, 128, 256, 512], trainableLayers: 3, norm: 'frozen', fpnChannels: 256, fpnNorm: 'none' },
    transform: { minSize: 800, maxSize: 1333, imageMean: [0.485, 0.456, 0.406], imageStd: [0.229, 0.224, 0.225], sizeDivisible: 32 },
    rpn: {
      anchorSizes: [[32], [64], [128], [256], [512]],
      aspectRatios: [RATIOS, RATIOS, RATIOS, RATIOS, RATIOS].map((r) => [...r]),
      preNmsTopNTrain: 2000,
      preNmsTopNTest: 1000,
      postNmsTopNTrain: 2000,
      postNmsTopNTest: 1000,
      nmsThresh: 0.7,
      fgIouThresh: 0.7,
      bgIouThresh: 0.3,
      batchSizePerImage: 256,
      positiveFraction: 0.5,
      scoreThresh: 0,
      minSize: 1e-3,
      boxCoderWeights: [1, 1, 1, 1],
      smoothL1Beta: 1 / 9,
    },
    roiHeads: {
      boxRoiOutputSize: 7,
      maskRoiOutputSize: 14,
      samplingRatio: 2,
      canonicalScale: 224,
      representationSize: 1024,
      boxScoreThresh: 0.05,
      boxNmsThresh: 0.5,
      boxDetectionsPerImg: 100,
      boxFgIouThresh: 0.5,
      boxBgIouThresh: 0.5,
      boxBatchSizePerImage: 512,
      boxPositiveFraction: 0.25,
      bboxRegWeights: [10, 10, 5, 5],
      maskHeadLayers: [256, 256, 256, 256],
      maskHeadNorm: 'none',
      maskHeadDilation: 1,
      maskDimReduced: 256,
      maskResolution: 28,
      maskThreshold: 0.5,
      smoothL1Beta: 1 / 9,
      pooler: 'roi_align',
      poolerLevels: 'fpn',
      maskHead: 'fcn',
      maskLoss: 'sigmoid',
      classAgnosticMask: false,
    },
    optimizer: { kind: 'sgd', lr: 0.02, momentum: 0.9, weightDecay: 1e-4, lrDecay: 0.1 },
  };
}

/**
 * The `shapes` preset: the paper's architecture made trainable on a laptop CPU for the synthetic
 * shapes dataset (4 classes with background): 128x128 images, anchors 8..128, a narrow
 * BasicBlock ResNet (widths 16..128), FPN 64, fewer proposals, 32 RoIs per image and a mask head
 * of two 3x3 convolutions of 64 (the paper: 512 RoIs, four convolutions of 256). It trains from
 * random weights, so the ResNet's norm is trainable BatchNorm (batch statistics) rather than the
 * frozen statistics of a pretrained backbone, and the FPN and the mask head have BatchNorm too
 * (torchvision's `norm_layer`); the optimizer is AdamW, lr 1e-3, weight decay 0.05, at 4 images
 * per batch. Each choice was measured on the torchvision twin (`tools/twin/twin_shapes.py`,
 * segm AP50 on the shapes validation split after 1000 iterations of 4 images, issue 14): AdamW
 * with the norms learns about twice as fast per image as the SGD 0.01 recipe it replaced;
 * 32 RoIs instead of 64 (0.831 against 0.852) and two mask convolutions instead of four (0.839)
 * learn about as much per iteration while a training step costs about half as much here, so
 * more iterations fit in the demo's 10 minutes. The zoo model `shapes` was trained with the
 * earlier 64 RoIs and four convolutions; its weights file carries that configuration.
 */
export function shapesConfig(numClasses = 4): MaskRCNNConfig {
  const c = defaultConfig(numClasses);
  c.backbone = { block: 'basic', blocksPerStage: [1, 1, 1, 1], stemChannels: 16, widths: [16, 32, 64, 128], trainableLayers: 5, norm: 'batch', fpnChannels: 64, fpnNorm: 'batch' };
  c.transform = { ...c.transform, minSize: 128, maxSize: 128 };
  c.rpn = {
    ...c.rpn,
    anchorSizes: [[8], [16], [32], [64], [128]],
    preNmsTopNTrain: 600,
    preNmsTopNTest: 300,
    postNmsTopNTrain: 300,
    postNmsTopNTest: 100,
    batchSizePerImage: 128,
  };
  c.roiHeads = {
    ...c.roiHeads,
    representationSize: 256,
    boxDetectionsPerImg: 20,
    boxBatchSizePerImage: 32,
    maskHeadLayers: [64, 64],
    maskHeadNorm: 'batch',
    maskDimReduced: 64,
  };
  c.optimizer = { kind: 'adamw', lr: 1e-3, momentum: 0.9, weightDecay: 0.05, lrDecay: 0.1 };
  return c;
}

/**
 * Fields added to {@link MaskRCNNConfig} after weights files and checkpoints were first written,
 * with the values that reproduce what those files were trained with: a configuration read from
 * an older file gets them (see {@link upgradeConfigJson}), so it still loads and means the same.
 */
const ADDED_FIELDS: ReadonlyArray<readonly [section: 'backbone' | 'roiHeads' | 'optimizer', key: string, value: unknown]> = [
  ['backbone', 'fpnNorm', 'none'],
  ['roiHeads', 'maskHeadNorm', 'none'],
  ['optimizer', 'kind', 'sgd'],
  ['roiHeads', 'pooler', 'roi_align'],
  ['roiHeads', 'poolerLevels', 'fpn'],
  ['roiHeads', 'maskHead', 'fcn'],
  ['roiHeads', 'maskLoss', 'sigmoid'],
  ['roiHeads', 'classAgnosticMask', false],
];

/**
 * Fills the fields that a configuration JSON written before they existed lacks (FPN and mask
 * head norms: none; optimizer: SGD; the paper's RoIAlign over FPN levels, FCN mask head, per-class
 * sigmoid masks), returning a new object; anything else is left for the
 * strict check of the reader. Non-objects are returned unchanged.
 */
export function upgradeConfigJson(value: unknown): unknown {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return value;
  const out: Record<string, unknown> = { ...(value as Record<string, unknown>) };
  for (const [section, key, fill] of ADDED_FIELDS) {
    const s = out[section];
    if (typeof s === 'object' && s !== null && !Array.isArray(s) && !(key in s)) out[section] = { ...(s as Record<string, unknown>), [key]: fill };
  }
  return out;
}

/**
 * The most parameters {@link checkConfig} lets a configuration build (2^28, 1 GiB of float32):
 * ResNet-101-FPN Mask R-CNN has about 63 million.
 */
export const MAX_CONFIG_PARAMETERS = 2 ** 28;

/**
 * Ranges of the configuration's numbers: `[path, kind, min, max]` (`int`: a safe integer).
 * The counts that multiply activation memory per image (proposals kept, RoIs sampled,
 * detections sent to the mask head, pooled sizes) stay within 5-10x of torchvision's defaults,
 * so that no single field can make one forward pass need tens of gigabytes.
 */
const CONFIG_RANGES: ReadonlyArray<readonly [path: string, kind: 'int' | 'number', min: number, max: number]> = [
  ['numClasses', 'int', 2, 100_000],
  ['backbone.blocksPerStage[]', 'int', 1, 100],
  ['backbone.stemChannels', 'int', 1, 4096],
  ['backbone.widths[]', 'int', 1, 4096],
  ['backbone.trainableLayers', 'int', 0, 5],
  ['backbone.fpnChannels', 'int', 1, 4096],
  ['transform.minSize', 'int', 1, 8192],
  ['transform.maxSize', 'int', 1, 8192],
  ['transform.imageMean[]', 'number', -1e6, 1e6],
  ['transform.imageStd[]', 'number', 1e-6, 1e6],
  ['transform.sizeDivisible', 'int', 1, 1024],
  ['rpn.anchorSizes[][]', 'number', 1e-3, 1e5],
  ['rpn.aspectRatios[][]', 'number', 1e-3, 1e3],
  ['rpn.preNmsTopNTrain', 'int', 1, 1e6],
  ['rpn.preNmsTopNTest', 'int', 1, 1e6],
  ['rpn.postNmsTopNTrain', 'int', 1, 10_000],
  ['rpn.postNmsTopNTest', 'int', 1, 10_000],
  ['rpn.nmsThresh', 'number', 0, 1],
  ['rpn.fgIouThresh', 'number', 0, 1],
  ['rpn.bgIouThresh', 'number', 0, 1],
  ['rpn.batchSizePerImage', 'int', 1, 1e6],
  ['rpn.positiveFraction', 'number', 0, 1],
  ['rpn.scoreThresh', 'number', 0, 1],
  ['rpn.minSize', 'number', 0, 1e5],
  ['rpn.boxCoderWeights[]', 'number', 1e-6, 1e6],
  ['rpn.smoothL1Beta', 'number', 0, 1e6],
  ['roiHeads.boxRoiOutputSize', 'int', 1, 32],
  ['roiHeads.maskRoiOutputSize', 'int', 1, 64],
  ['roiHeads.samplingRatio', 'int', -1, 64],
  ['roiHeads.canonicalScale', 'number', 1e-3, 1e5],
  ['roiHeads.representationSize', 'int', 1, 16384],
  ['roiHeads.boxScoreThresh', 'number', 0, 1],
  ['roiHeads.boxNmsThresh', 'number', 0, 1],
  ['roiHeads.boxDetectionsPerImg', 'int', 1, 1000],
  ['roiHeads.boxFgIouThresh', 'number', 0, 1],
  ['roiHeads.boxBgIouThresh', 'number', 0, 1],
  // The sampler keeps at most the proposals (<= postNmsTopNTrain) and ground-truth boxes there are, so a
  // large value costs nothing; the torchvision parity fixture uses 1e6 to keep every RoI.
  ['roiHeads.boxBatchSizePerImage', 'int', 1, 1e6],
  ['roiHeads.boxPositiveFraction', 'number', 0, 1],
  ['roiHeads.bboxRegWeights[]', 'number', 1e-6, 1e6],
  ['roiHeads.maskHeadLayers[]', 'int', 1, 4096],
  ['roiHeads.maskHeadDilation', 'int', 1, 64],
  ['roiHeads.maskDimReduced', 'int', 1, 4096],
  ['roiHeads.maskResolution', 'int', 1, 1024],
  ['roiHeads.maskThreshold', 'number', 0, 1],
  ['roiHeads.smoothL1Beta', 'number', 0, 1e6],
  ['optimizer.lr', 'number', 1e-12, 10],
  ['optimizer.momentum', 'number', 0, 0.999999],
  ['optimizer.weightDecay', 'number', 0, 10],
  ['optimizer.lrDecay', 'number', 1e-12, 1],
];

/** Lengths of the configuration's lists: `[path, min, max]`. */
const CONFIG_LENGTHS: ReadonlyArray<readonly [path: string, min: number, max: number]> = [
  ['backbone.blocksPerStage', 4, 4],
  ['backbone.widths', 4, 4],
  ['transform.imageMean', 3, 3],
  ['transform.imageStd', 3, 3],
  ['rpn.anchorSizes', 5, 5],
  ['rpn.anchorSizes[]', 1, 64],
  ['rpn.aspectRatios', 5, 5],
  ['rpn.aspectRatios[]', 1, 64],
  ['rpn.boxCoderWeights', 4, 4],
  ['roiHeads.bboxRegWeights', 4, 4],
  ['roiHeads.maskHeadLayers', 0, 64],
];

/** The values at `path` (`a.b[]` walks every item of the list `a.b`), each with its concrete path. */
function valuesAt(config: unknown, path: string): Array<[string, unknown]> {
  let out: Array<[string, unknown]> = [['config', config]];
  for (const part of path.split('.')) {
    const key = part.replace(/(\[\])+$/, '');
    const depth = (part.length - key.length) / 2;
    out = out.map(([p, v]) => [`${p}.${key}`, v !== null && typeof v === 'object' ? (v as Record<string, unknown>)[key] : undefined]);
    for (let d = 0; d < depth; d++) {
      out = out.flatMap(([p, v]) => (Array.isArray(v) ? v.map((item, i): [string, unknown] => [`${p}[${i}]`, item]) : [[p, v]]));
    }
  }
  return out;
}

/** A rough count of the parameters a configuration builds (the body, FPN, RPN head, box and mask heads). */
export function estimateParameters(c: MaskRCNNConfig): number {
  const b = c.backbone;
  const expansion = b.block === 'bottleneck' ? 4 : 1;
  let n = 3 * b.stemChannels * 49;
  let inChannels = b.stemChannels;
  const stageOut: number[] = [];
  for (let s = 0; s < 4; s++) {
    const w = b.widths[s]!;
    const out = w * expansion;
    for (let k = 0; k < b.blocksPerStage[s]!; k++) {
      const cin = k === 0 ? inChannels : out;
      n += b.block === 'bottleneck' ? cin * w + w * w * 9 + w * out : cin * w * 9 + w * w * 9;
      if (k === 0 && cin !== out) n += cin * out;
    }
    inChannels = out;
    stageOut.push(out);
  }
  const f = b.fpnChannels;
  for (const cin of stageOut) n += cin * f + f * f * 9;
  const anchors = c.rpn.anchorSizes[0]!.length * c.rpn.aspectRatios[0]!.length;
  n += f * f * 9 + f * anchors * 5;
  const h = c.roiHeads;
  const rep = h.representationSize;
  n += f * h.boxRoiOutputSize ** 2 * rep + rep * rep + rep * c.numClasses * 5;
  let prev = f;
  for (const l of h.maskHeadLayers) {
    n += prev * l * 9;
    prev = l;
  }
  n += prev * h.maskDimReduced * 4 + h.maskDimReduced * c.numClasses;
  return n;
}

/**
 * Range-checks a configuration (from code, a weights file or a checkpoint) before any model is
 * built from it: every count a positive integer within limits generous for real models (ResNet-
 * 101/152, 1333-pixel images, COCO's classes), every threshold in [0, 1], every list of the
 * right length, anchors positive, and at most {@link MAX_CONFIG_PARAMETERS} parameters. The
 * error names the field, its value and the allowed range (`config.backbone.fpnChannels should
 * be an integer in 1..4096, got 1000000000`). Field types are {@link readConfigJson}'s check.
 */
export function checkConfig(config: MaskRCNNConfig): void {
  for (const [path, min, max] of CONFIG_LENGTHS) {
    for (const [where, v] of valuesAt(config, path)) {
      if (!Array.isArray(v)) throw new Error(`${where} should be a list, got ${briefJson(v)}`);
      if (v.length < min || v.length > max) throw new Error(`${where} should have ${min === max ? min : `${min} to ${max}`} entries, got ${v.length}`);
    }
  }
  for (const [path, kind, min, max] of CONFIG_RANGES) {
    for (const [where, v] of valuesAt(config, path)) {
      const ok = typeof v === 'number' && (kind === 'int' ? Number.isSafeInteger(v) : Number.isFinite(v)) && v >= min && v <= max;
      if (!ok) throw new Error(`${where} should be ${kind === 'int' ? 'an integer' : 'a number'} in ${kind === 'int' ? `${min}..${max}` : `[${min}, ${max}]`}, got ${typeof v === 'number' ? v : briefJson(v)}`);
    }
  }
  const pairs: ReadonlyArray<readonly [low: string, high: string, a: number, b: number]> = [
    ['transform.minSize', 'transform.maxSize', config.transform.minSize, config.transform.maxSize],
    ['rpn.bgIouThresh', 'rpn.fgIouThresh', config.rpn.bgIouThresh, config.rpn.fgIouThresh],
    ['roiHeads.boxBgIouThresh', 'roiHeads.boxFgIouThresh', config.roiHeads.boxBgIouThresh, config.roiHeads.boxFgIouThresh],
  ];
  for (const [low, high, a, b] of pairs) if (a > b) throw new Error(`config.${low} (${a}) should not exceed config.${high} (${b})`);
  const anchors = config.rpn.anchorSizes.map((s, i) => s.length * config.rpn.aspectRatios[i]!.length);
  if (anchors.some((a) => a !== anchors[0])) throw new Error(`config.rpn: every level needs the same number of anchors (sizes x ratios), got ${anchors.join(', ')}`);
  const parameters = estimateParameters(config);
  if (parameters > MAX_CONFIG_PARAMETERS) {
    throw new Error(`config: the model would have about ${parameters.toExponential(2)} parameters, more than the limit of ${MAX_CONFIG_PARAMETERS} (check backbone.blocksPerStage, widths, fpnChannels, roiHeads.representationSize)`);
  }
}

/** The `config` object of a model fixture's `model_meta.json` (oracle spec, "Model fixtures"). */
export interface FixtureConfigJson {
  /** ResNet body. */
  backbone: {
    /** `BasicBlock` or `Bottleneck`. */
    block: string;
    /** Stem width. */
    stem_channels: number;
    /** Stage widths. */
    widths: number[];
    /** Blocks per stage. */
    blocks_per_stage: number[];
  };
  /** FPN. */
  fpn: {
    /** FPN width. */
    out_channels: number;
  };
  /** Classes with background. */
  num_classes: number;
  /** Transform. */
  transform: {
    /** Short side target. */
    min_size: number;
    /** Long side cap. */
    max_size: number;
    /** Channel means. */
    image_mean: number[];
    /** Channel standard deviations. */
    image_std: number[];
    /** Padding multiple. */
    size_divisible: number;
  };
  /** RPN (snake_case, torchvision's argument names). */
  rpn: Record<string, unknown>;
  /** RoI heads (snake_case). */
  roi_heads: Record<string, unknown>;
}

/** Builds a {@link MaskRCNNConfig} from a fixture's `model_meta.json` `config` (the tiny torchvision model). */
export function configFromFixture(json: FixtureConfigJson): MaskRCNNConfig {
  const c = defaultConfig(json.num_classes);
  const r = json.rpn as Record<string, number & number[] & number[][]>;
  const h = json.roi_heads as Record<string, number & number[]>;
  const block = json.backbone.block === 'BasicBlock' ? 'basic' : json.backbone.block === 'Bottleneck' ? 'bottleneck' : null;
  if (block === null) throw new Error(`configFromFixture: unknown block '${json.backbone.block}'`);
  c.backbone = {
    block,
    blocksPerStage: json.backbone.blocks_per_stage as [number, number, number, number],
    stemChannels: json.backbone.stem_channels,
    widths: json.backbone.widths as [number, number, number, number],
    trainableLayers: 5,
    norm: 'frozen',
    fpnChannels: json.fpn.out_channels,
    fpnNorm: 'none',
  };
  const t = json.transform;
  c.transform = {
    minSize: t.min_size,
    maxSize: t.max_size,
    imageMean: t.image_mean as [number, number, number],
    imageStd: t.image_std as [number, number, number],
    sizeDivisible: t.size_divisible,
  };
  c.rpn = {
    anchorSizes: r['anchor_sizes'],
    aspectRatios: r['aspect_ratios'],
    preNmsTopNTrain: r['pre_nms_top_n_train'],
    preNmsTopNTest: r['pre_nms_top_n_test'],
    postNmsTopNTrain: r['post_nms_top_n_train'],
    postNmsTopNTest: r['post_nms_top_n_test'],
    nmsThresh: r['nms_thresh'],
    fgIouThresh: r['fg_iou_thresh'],
    bgIouThresh: r['bg_iou_thresh'],
    batchSizePerImage: r['batch_size_per_image'],
    positiveFraction: r['positive_fraction'],
    scoreThresh: r['score_thresh'],
    minSize: r['min_size'],
    boxCoderWeights: r['box_coder_weights'] as unknown as [number, number, number, number],
    smoothL1Beta: r['smooth_l1_beta'] ?? 1 / 9,
  };
  c.roiHeads = {
    boxRoiOutputSize: h['box_roi_output_size'],
    maskRoiOutputSize: h['mask_roi_output_size'],
    samplingRatio: h['sampling_ratio'],
    canonicalScale: 224,
    representationSize: h['representation_size'],
    boxScoreThresh: h['box_score_thresh'],
    boxNmsThresh: h['box_nms_thresh'],
    boxDetectionsPerImg: h['box_detections_per_img'],
    boxFgIouThresh: h['box_fg_iou_thresh'],
    boxBgIouThresh: h['box_bg_iou_thresh'],
    boxBatchSizePerImage: h['box_batch_size_per_image'],
    boxPositiveFraction: h['box_positive_fraction'],
    bboxRegWeights: h['bbox_reg_weights'] as unknown as [number, number, number, number],
    maskHeadLayers: h['mask_head_layers'],
    maskHeadNorm: 'none',
    maskHeadDilation: h['mask_head_dilation'],
    maskDimReduced: h['mask_dim_reduced'],
    maskResolution: h['mask_resolution'] ?? 28,
    maskThreshold: 0.5,
    smoothL1Beta: h['smooth_l1_beta'] ?? 1 / 9,
    pooler: 'roi_align',
    poolerLevels: 'fpn',
    maskHead: 'fcn',
    maskLoss: 'sigmoid',
    classAgnosticMask: false,
  };
  return c;
}
