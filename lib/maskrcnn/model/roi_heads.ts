/**
 * The RoI heads (Mask R-CNN paper section 3; torchvision `roi_heads.py`): the box branch (Fast
 * R-CNN: RoIAlign 7x7 -> two fc layers -> class logits and per-class box deltas) and the mask
 * branch (RoIAlign 14x14 -> 4 x conv3x3 -> deconv 2x2 s2 -> 1x1 to K x 28x28 logits), their
 * training targets and losses (spec point 12: the classifier's cross-entropy, smooth-L1 on the
 * ground-truth class's deltas, per-pixel sigmoid BCE on the ground-truth class's mask only:
 * "L_mask is only defined on the k-th mask", section 3), and the inference post-processing
 * (spec point 10: per-class decode, score > 0.05, per-class NMS 0.5, top-k). Pasting the masks
 * into the image (spec point 11) is the transform's postprocess: `pasteMasksInImage` in
 * `transform.ts`.
 *
 * The four learned modules (box head, box predictor, mask head, mask predictor) can be passed in
 * as {@link RoIHeadsOptions} (torchvision's `box_head`, ..., `mask_predictor`), typed by what the
 * heads need of each ({@link BoxHead}, {@link BoxPredictor}, {@link MaskHead},
 * {@link MaskPredictor}); otherwise {@link buildRoIHeadModules} builds them from the config.
 *
 * The paper's Table 2 ablations are switches of {@link RoiHeadsConfig}: the pooler (RoIAlign
 * avg / max, RoIWarp, RoIPool) and its levels (FPN, or one map of stride 16 / 32), the mask head
 * (FCN or MLP), the mask loss (per-class sigmoid or per-pixel softmax) and class-agnostic masks.
 *
 * @module
 */
import { Tensor, concat, gather, indexSelect, noGrad, zeros, sigmoid } from '../../tensor/index.js';
import { roiAlign } from '../../ops/index.js';
import {
  Module,
  type TensorModule,
  Linear,
  Conv2d,
  ConvTranspose2d,
  ReLU,
  Sequential,
  Conv2dNormActivation,
  chainFusingRelu,
  crossEntropy,
  smoothL1,
  binaryCrossEntropyWithLogits,
  init,
} from '../../nn/index.js';
import { BoxCoder } from './box_coder.js';
import { boxIou, clipBoxesToImage, removeSmallBoxes, batchedNms } from './box_ops.js';
import { Matcher } from './matcher.js';
import { BalancedPositiveNegativeSampler } from './balanced_sampler.js';
import { MultiScaleRoIAlign, type MultiScaleRoIAlignOptions } from './poolers.js';
import { normKind, type RoiHeadsConfig } from './config.js';
import type { Detections, Target } from './types.js';
import type { TraceRecorder } from './trace.js';

/** torchvision's `TwoMLPHead`: flatten, `fc6` + ReLU, `fc7` + ReLU. */
export class TwoMLPHead extends Module {
  /** First fully connected layer. */
  readonly fc6: Linear;
  /** Second fully connected layer. */
  readonly fc7: Linear;
  /** `inChannels` = C x 7 x 7 pooled features to `representationSize` (1024). */
  constructor(inChannels: number, representationSize: number, options: { initialize?: boolean } = {}) {
    super();
    this.fc6 = this.registerModule('fc6', new Linear(inChannels, representationSize, options));
    this.fc7 = this.registerModule('fc7', new Linear(representationSize, representationSize, options));
  }
  /** `[K, C, 7, 7]` -> `[K, representationSize]`. */
  forward(x: Tensor): Tensor {
    return this.fc7.forward(this.fc6.forward(x.flatten(1)).relu()).relu();
  }
}

/** torchvision's `FastRCNNPredictor`: `cls_score` (K logits) and `bbox_pred` (4K deltas). */
export class FastRCNNPredictor extends Module {
  /** Class logits. */
  readonly cls_score: Linear;
  /** Per-class box deltas. */
  readonly bbox_pred: Linear;
  /** From `inChannels` features to `numClasses` (with background). */
  constructor(inChannels: number, numClasses: number, options: { initialize?: boolean } = {}) {
    super();
    this.cls_score = this.registerModule('cls_score', new Linear(inChannels, numClasses, options));
    this.bbox_pred = this.registerModule('bbox_pred', new Linear(inChannels, 4 * numClasses, options));
  }
  /** Class logits `[K, numClasses]` and deltas `[K, 4 numClasses]`. */
  forward(x: Tensor): BoxPredictions {
    const flat = x.ndim === 4 ? x.flatten(1) : x;
    return { classLogits: this.cls_score.forward(flat), boxRegression: this.bbox_pred.forward(flat) };
  }
}

/** The box predictor's outputs. */
export interface BoxPredictions {
  /** Class logits `[K, numClasses]`. */
  classLogits: Tensor;
  /** Per-class deltas `[K, 4 numClasses]`. */
  boxRegression: Tensor;
}

/** What {@link RoIHeads.forward} returns. */
export interface RoIHeadsOutput {
  /** Evaluation: each image's detections (resized-image coordinates, `[D, 1, 28, 28]` mask probabilities). */
  detections: Detections[];
  /** Training: `loss_classifier`, `loss_box_reg`, `loss_mask`. */
  losses: Record<string, Tensor>;
}

/**
 * torchvision's `MaskRCNNHeads`: 3x3 convolutions with ReLU (keys `0.0.weight`, `1.0.weight`, ...),
 * each followed by a norm when one is given (torchvision's `norm_layer`: keys `0.1.weight`, ...;
 * the convolutions then have no bias).
 */
export class MaskRCNNHeads extends Sequential {
  /** `layers[i]` channels each, from `inChannels`, with `dilation` and an optional norm. */
  constructor(inChannels: number, layers: readonly number[], dilation = 1, options: { initialize?: boolean; norm?: 'batch' | null } = {}) {
    let c = inChannels;
    super(
      layers.map((out) => {
        const m = new Conv2dNormActivation(c, out, 3, { dilation, activation: true, norm: options.norm ?? null, initialize: options.initialize ?? true });
        c = out;
        return m;
      }),
    );
    if (options.initialize ?? true) kaimingFanOutRelu(this);
  }
}

/** torchvision's mask head and predictor initialisation: He normal (fan out, ReLU) weights, zero biases. */
function kaimingFanOutRelu(module: Module): void {
  for (const m of module.modules()) {
    if (m instanceof Conv2d || m instanceof ConvTranspose2d) {
      init.kaimingNormal(m.weight, { mode: 'fanOut', nonlinearity: 'relu' });
      if (m.bias !== null) init.zeros(m.bias);
    }
  }
}

/** torchvision's `MaskRCNNPredictor`: `conv5_mask` (deconv 2x2 s2), ReLU, `mask_fcn_logits` (1x1 to K). */
export class MaskRCNNPredictor extends Sequential {
  /** From `inChannels` through `dimReduced` to `numClasses` mask logits. */
  constructor(inChannels: number, dimReduced: number, numClasses: number, options: { initialize?: boolean } = {}) {
    super({
      conv5_mask: new ConvTranspose2d(inChannels, dimReduced, 2, { stride: 2, initialize: options.initialize ?? true }),
      relu: new ReLU(),
      mask_fcn_logits: new Conv2d(dimReduced, numClasses, 1, { initialize: options.initialize ?? true }),
    });
    if (options.initialize ?? true) kaimingFanOutRelu(this);
  }

  /** The three layers, the deconvolution and its ReLU as one fused op unless hooked ({@link chainFusingRelu}). */
  override forward(x: Tensor): Tensor {
    return chainFusingRelu([this.at(0), this.at(1), this.at(2)], x);
  }
}

/**
 * The mask predictor of the MLP mask head (paper Table 2e, "MLP": fully connected layers in place
 * of the FCN; the paper's is fc 1024 -> fc 1024 -> fc 80 x 28 x 28 on the pooled RoI features,
 * here the last fc after a {@link TwoMLPHead}): `mask_fc_logits` maps each RoI's vector to
 * `numClasses` masks of `resolution x resolution` logits. Unlike the FCN, every output pixel has
 * its own weights over the whole RoI, so the mask loses the convolution's spatial layout.
 */
export class MaskMLPPredictor extends Module {
  /** The last fully connected layer, to `numClasses x resolution^2` logits. */
  readonly mask_fc_logits: Linear;
  /** From `inFeatures` to `numClasses` masks of side `resolution`. */
  constructor(
    inFeatures: number,
    /** Mask channels (classes with background, or 1 for class-agnostic masks). */
    readonly numClasses: number,
    /** Side of each mask (28). */
    readonly resolution: number,
    options: { initialize?: boolean } = {},
  ) {
    super();
    this.mask_fc_logits = this.registerModule('mask_fc_logits', new Linear(inFeatures, numClasses * resolution * resolution, options));
  }
  /** `[R, inFeatures]` -> `[R, numClasses, resolution, resolution]` logits. */
  forward(x: Tensor): Tensor {
    return this.mask_fc_logits.forward(x).reshape(-1, this.numClasses, this.resolution, this.resolution);
  }
}

/** The pooler options a heads configuration asks for (paper Table 2c/2d switches). */
export function poolerOptionsOf(config: Pick<RoiHeadsConfig, 'pooler' | 'poolerLevels' | 'canonicalScale'>): MultiScaleRoIAlignOptions {
  const method = ({ roi_align: 'align', roi_align_max: 'align', roi_warp: 'warp', roi_warp_max: 'warp', roi_pool: 'pool' } as const)[config.pooler];
  if (method === undefined) throw new Error(`RoIHeads: unknown pooler '${String(config.pooler)}' (roi_align, roi_align_max, roi_warp, roi_warp_max or roi_pool)`);
  const mode = config.pooler === 'roi_align_max' || config.pooler === 'roi_warp_max' ? 'max' : 'avg';
  const out: MultiScaleRoIAlignOptions = { method, mode, canonicalScale: config.canonicalScale };
  if (config.poolerLevels === 'stride16') out.singleLevel = '2';
  else if (config.poolerLevels === 'stride32') out.singleLevel = '3';
  else if (config.poolerLevels !== 'fpn') throw new Error(`RoIHeads: unknown poolerLevels '${String(config.poolerLevels)}' (fpn, stride16 or stride32)`);
  return out;
}

/** The RoI-head training samples of each image (torchvision `select_training_samples`). */
export interface TrainingSamples {
  /** Sampled proposals (ground truth appended) `[R_i, 4]`. */
  proposals: Tensor[];
  /** Matched GT index of each `[R_i]` (int32; 0 for background). */
  matchedIdxs: Tensor[];
  /** Class label of each (0 background) `[R_i]` (int32). */
  labels: Tensor[];
  /** Box regression targets `[R_i, 4]`. */
  regressionTargets: Tensor[];
}

/** A box head: pooled RoI features `[R, C, h, w]` to one vector per RoI `[R, D]` (torchvision's `box_head`; default {@link TwoMLPHead}). */
export type BoxHead = TensorModule;

/** A box predictor: `[R, D]` to class logits `[R, K]` and per-class deltas `[R, 4K]` (torchvision's `box_predictor`; default {@link FastRCNNPredictor}). */
export interface BoxPredictor extends Module {
  /** Class logits and box deltas of each RoI. */
  forward(x: Tensor): BoxPredictions;
}

/**
 * A mask head: pooled RoI features `[R, C, 14, 14]` to features of any shape with `R` rows that
 * its mask predictor reads (torchvision's `mask_head`; default {@link MaskRCNNHeads}, or a
 * {@link TwoMLPHead} for the MLP head, which flattens inside).
 */
export type MaskHead = TensorModule;

/**
 * A mask predictor: the mask head's features to mask logits `[R, K, M, M]` (or `[R, 1, M, M]`
 * with `classAgnosticMask`; M = 28) (torchvision's `mask_predictor`; default
 * {@link MaskRCNNPredictor}, or {@link MaskMLPPredictor} for the MLP head).
 */
export type MaskPredictor = TensorModule;

/** The four learned modules of the RoI heads, by torchvision's names (their state-dict prefixes). */
export interface RoIHeadModules {
  /** `roi_heads.box_head.*`. */
  boxHead: BoxHead;
  /** `roi_heads.box_predictor.*`. */
  boxPredictor: BoxPredictor;
  /** `roi_heads.mask_head.*`. */
  maskHead: MaskHead;
  /** `roi_heads.mask_predictor.*`. */
  maskPredictor: MaskPredictor;
}

/**
 * The heads' modules as `config` describes them, for `channels`-channel features and
 * `numClasses` classes (with background): the box branch's {@link TwoMLPHead} and
 * {@link FastRCNNPredictor}; the mask branch's {@link MaskRCNNHeads} and {@link MaskRCNNPredictor}
 * (`maskHead: 'fcn'`) or {@link TwoMLPHead} and {@link MaskMLPPredictor} (`maskHead: 'mlp'`),
 * with one mask channel when `classAgnosticMask`. Modules given in `options` are returned as
 * they are and not built (so they draw no initial weights), the others are built in the order
 * box head, box predictor, mask head, mask predictor.
 */
export function buildRoIHeadModules(
  config: RoiHeadsConfig,
  channels: number,
  numClasses: number,
  options: { initialize?: boolean } & Partial<RoIHeadModules> = {},
): RoIHeadModules {
  const init = { initialize: options.initialize ?? true };
  const maskChannels = config.classAgnosticMask ? 1 : numClasses;
  const boxHead = options.boxHead ?? new TwoMLPHead(channels * config.boxRoiOutputSize ** 2, config.representationSize, init);
  const boxPredictor = options.boxPredictor ?? new FastRCNNPredictor(config.representationSize, numClasses, init);
  if (options.maskHead !== undefined && options.maskPredictor !== undefined) return { boxHead, boxPredictor, maskHead: options.maskHead, maskPredictor: options.maskPredictor };
  if (config.maskHead === 'mlp') {
    const maskHead = options.maskHead ?? new TwoMLPHead(channels * config.maskRoiOutputSize ** 2, config.representationSize, init);
    const maskPredictor = options.maskPredictor ?? new MaskMLPPredictor(config.representationSize, maskChannels, config.maskResolution, init);
    return { boxHead, boxPredictor, maskHead, maskPredictor };
  }
  if (config.maskHead === 'fcn') {
    const maskHead = options.maskHead ?? new MaskRCNNHeads(channels, config.maskHeadLayers, config.maskHeadDilation, { ...init, norm: normKind(config.maskHeadNorm, 'roiHeads.maskHeadNorm') });
    const last = config.maskHeadLayers[config.maskHeadLayers.length - 1] ?? channels;
    const maskPredictor = options.maskPredictor ?? new MaskRCNNPredictor(last, config.maskDimReduced, maskChannels, init);
    return { boxHead, boxPredictor, maskHead, maskPredictor };
  }
  throw new Error(`RoIHeads: unknown maskHead '${String(config.maskHead)}' (fcn or mlp)`);
}

/** Options of {@link RoIHeads}. */
export interface RoIHeadsOptions extends Partial<RoIHeadModules> {
  /** Skip the default initial weights (for weights that are loaded next). */
  initialize?: boolean;
  /** Pooling method / single level, for the ablations. */
  pooler?: MultiScaleRoIAlignOptions;
}

/** `[a, b, ...]` for error messages. */
const shapeOf = (x: Tensor): string => `[${x.shape.join(', ')}]`;

/**
 * torchvision's `RoIHeads` with the mask branch. Its four learned modules are the config's
 * ({@link buildRoIHeadModules}) unless given in {@link RoIHeadsOptions} (torchvision's
 * `box_head`, `box_predictor`, `mask_head`, `mask_predictor`); their outputs' shapes are checked
 * on every forward, and a wrong one is reported with the module's name.
 */
export class RoIHeads extends Module {
  /** RoIAlign 7x7 from P2..P5. */
  readonly boxRoiPool: MultiScaleRoIAlign;
  /** The two fc layers (by default a {@link TwoMLPHead}). */
  readonly box_head: BoxHead;
  /** Class logits and box deltas (by default a {@link FastRCNNPredictor}). */
  readonly box_predictor: BoxPredictor;
  /** RoIAlign 14x14 from P2..P5. */
  readonly maskRoiPool: MultiScaleRoIAlign;
  /** The four 3x3 convolutions (or, with `maskHead: 'mlp'`, two fully connected layers). */
  readonly mask_head: MaskHead;
  /** Deconvolution and per-class logits (or, with `maskHead: 'mlp'`, one fully connected layer to them). */
  readonly mask_predictor: MaskPredictor;
  /** Channels of the mask logits: `numClasses`, or 1 for class-agnostic masks. */
  readonly maskChannels: number;
  /** Box coder (10, 10, 5, 5). */
  readonly boxCoder: BoxCoder;
  /** IoU 0.5 / 0.5, no low-quality matches. */
  readonly proposalMatcher: Matcher;
  /** 512 RoIs at 25% positives. */
  readonly fgBgSampler: BalancedPositiveNegativeSampler;

  /** The heads for `channels`-channel FPN levels and `numClasses` classes (with background). */
  constructor(
    /** The heads' numbers. */
    readonly config: RoiHeadsConfig,
    channels: number,
    /** Classes with background. */
    readonly numClasses: number,
    options: RoIHeadsOptions = {},
  ) {
    super();
    const names = ['0', '1', '2', '3'];
    const pooler = { ...poolerOptionsOf(config), ...options.pooler };
    this.boxRoiPool = new MultiScaleRoIAlign(names, config.boxRoiOutputSize, config.samplingRatio, pooler);
    this.maskRoiPool = new MultiScaleRoIAlign(names, config.maskRoiOutputSize, config.samplingRatio, pooler);
    if (config.maskLoss !== 'sigmoid' && config.maskLoss !== 'softmax') throw new Error(`RoIHeads: unknown maskLoss '${String(config.maskLoss)}' (sigmoid or softmax)`);
    if (config.maskLoss === 'softmax' && config.classAgnosticMask) throw new Error("RoIHeads: maskLoss 'softmax' competes the classes at each pixel, so it needs per-class masks (classAgnosticMask false)");
    this.maskChannels = config.classAgnosticMask ? 1 : numClasses;
    const modules = buildRoIHeadModules(config, channels, numClasses, options);
    this.box_head = this.registerModule('box_head', modules.boxHead);
    this.box_predictor = this.registerModule('box_predictor', modules.boxPredictor);
    this.mask_head = this.registerModule('mask_head', modules.maskHead);
    this.mask_predictor = this.registerModule('mask_predictor', modules.maskPredictor);
    this.boxCoder = new BoxCoder(config.bboxRegWeights);
    this.proposalMatcher = new Matcher(config.boxFgIouThresh, config.boxBgIouThresh, false);
    this.fgBgSampler = new BalancedPositiveNegativeSampler(config.boxBatchSizePerImage, config.boxPositiveFraction);
  }

  /** Appends the GT boxes to the proposals, matches, samples and encodes targets. */
  selectTrainingSamples(proposals: readonly Tensor[], targets: readonly Target[]): TrainingSamples {
    const out: TrainingSamples = { proposals: [], matchedIdxs: [], labels: [], regressionTargets: [] };
    proposals.forEach((p, i) => {
      const gt = targets[i]!;
      const withGt = concat([p, gt.boxes.to('float32')], 0);
      const r = withGt.shape[0]!;
      const g = gt.boxes.shape[0]!;
      const matched = new Int32Array(r);
      const labels = new Int32Array(r);
      if (g > 0) {
        const m = this.proposalMatcher.forward(boxIou(gt.boxes, withGt)).data;
        for (let j = 0; j < r; j++) {
          matched[j] = Math.max(m[j]!, 0);
          labels[j] = m[j] === -1 ? 0 : m[j] === -2 ? -1 : gt.labels.data[matched[j]!]!;
        }
      }
      const sampled = this.fgBgSampler.forward([new Tensor(labels, [r])])[0]!;
      const keep: number[] = [];
      for (let j = 0; j < r; j++) if (sampled.positive[j] || sampled.negative[j]) keep.push(j);
      const props = indexSelect(withGt, 0, keep);
      const mIdx = new Tensor(Int32Array.from(keep, (j) => matched[j]!), [keep.length]);
      const gtBoxes = g > 0 ? indexSelect(gt.boxes.to('float32'), 0, mIdx) : zeros([keep.length, 4]);
      out.proposals.push(props);
      out.matchedIdxs.push(mIdx);
      out.labels.push(new Tensor(Int32Array.from(keep, (j) => labels[j]!), [keep.length]));
      out.regressionTargets.push(this.boxCoder.encode(gtBoxes, props));
    });
    return out;
  }

  /** Classifier (cross-entropy) and box (smooth-L1 on the GT class, / number of RoIs) losses. */
  fastrcnnLoss(classLogits: Tensor, boxRegression: Tensor, labels: readonly Tensor[], regressionTargets: readonly Tensor[]): Record<string, Tensor> {
    const lab = concat([...labels], 0);
    const tgt = concat([...regressionTargets], 0);
    const pos: number[] = [];
    const cols: number[] = [];
    for (let i = 0; i < lab.size; i++) {
      if (lab.data[i]! > 0) {
        pos.push(i);
        for (let c = 0; c < 4; c++) cols.push(4 * lab.data[i]! + c);
      }
    }
    const classification = crossEntropy(classLogits, lab);
    const posReg = indexSelect(boxRegression, 0, pos);
    const picked = gather(posReg, 1, new Tensor(Int32Array.from(cols), [pos.length, 4]));
    const box = smoothL1(picked, indexSelect(tgt, 0, pos), { beta: this.config.smoothL1Beta, reduction: 'sum' }).div(Math.max(lab.size, 1));
    return { loss_classifier: classification, loss_box_reg: box };
  }

  /** Detections of each image from the box branch (spec point 10). */
  postprocessDetections(classLogits: Tensor, boxRegression: Tensor, proposals: readonly Tensor[], imageSizes: ReadonlyArray<readonly [number, number]>, trace?: TraceRecorder): Detections[] {
    const k = this.numClasses;
    const predBoxes = this.boxCoder.decode(boxRegression.detach(), concat([...proposals], 0));
    const predScores = classLogits.detach().softmax(-1);
    trace?.set('roi_heads.pred_boxes_decoded', predBoxes);
    trace?.set('roi_heads.pred_scores_softmax', predScores);
    const result: Detections[] = [];
    let offset = 0;
    proposals.forEach((p, i) => {
      const n = p.shape[0]!;
      const boxes = clipBoxesToImage(predBoxes.narrow(0, offset, n).reshape(-1, 4), imageSizes[i]!);
      const scores = predScores.narrow(0, offset, n).data;
      offset += n;
      // Drop the background column, flatten proposal-major, threshold.
      const cand: number[] = [];
      for (let r = 0; r < n; r++) for (let c = 1; c < k; c++) if (scores[r * k + c]! > this.config.boxScoreThresh) cand.push(r * k + c);
      const cb = indexSelect(boxes, 0, cand);
      const small = Array.from(removeSmallBoxes(cb, 1e-2));
      const sb = indexSelect(cb, 0, small);
      const idx = small.map((j) => cand[j]!);
      const ss = new Tensor(Float32Array.from(idx, (j) => scores[j]!), [idx.length]);
      const labels = idx.map((j) => j % k);
      const keep = Array.from(batchedNms(sb, ss, labels, this.config.boxNmsThresh, this.config.boxDetectionsPerImg).data);
      result.push({
        boxes: indexSelect(sb, 0, keep),
        scores: indexSelect(ss, 0, keep),
        labels: new Tensor(Int32Array.from(keep, (j) => labels[j]!), [keep.length]),
      });
    });
    return result;
  }

  /** The mask branch's logits `[R, K, 28, 28]` for `boxes` of each image. */
  maskForward(features: ReadonlyMap<string, Tensor>, boxes: readonly Tensor[], imageSizes: ReadonlyArray<readonly [number, number]>, trace?: TraceRecorder): Tensor {
    const pooled = this.maskRoiPool.forward(features, boxes, imageSizes).features;
    const head = this.mask_head.forward(pooled);
    const r = pooled.shape[0]!;
    if (head.shape[0] !== r) throw new Error(`RoIHeads: the mask head (${this.mask_head.constructor.name}) returned ${shapeOf(head)} for ${r} pooled RoIs ${shapeOf(pooled)}; expected ${r} rows`);
    const logits = this.mask_predictor.forward(head);
    const [lr, lc, lh, lw] = logits.shape;
    if (logits.ndim !== 4 || lr !== r || lc !== this.maskChannels || lh !== lw) {
      throw new Error(
        `RoIHeads: the mask predictor (${this.mask_predictor.constructor.name}) returned ${shapeOf(logits)} from the mask head's ${shapeOf(head)}; expected [${r}, ${this.maskChannels}, M, M] ` +
          `(${this.maskChannels === 1 ? 'one class-agnostic mask' : `${this.maskChannels} classes with background`}, square M x M masks)`,
      );
    }
    trace?.set('roi_heads.mask_roi_pool', pooled);
    trace?.set('roi_heads.mask_head', head);
    trace?.set('roi_heads.mask_logits', logits);
    return logits;
  }

  /**
   * The mask loss (spec point 12): GT masks cut out by RoIAlign (adaptive sampling, scale 1) to
   * 28x28 at each positive proposal, BCE-with-logits against the logits of the GT class only
   * (channel 0 for class-agnostic masks). With `maskLoss: 'softmax'` (Table 2b) instead: a
   * softmax over all the classes' logits at each pixel, cross-entropy against the GT class where
   * the target is >= 0.5 and against the background channel 0 elsewhere. With `trace`: `train.roi_heads.mask_targets` `[P, 28, 28]` (the fractional targets,
   * positives of all images in order) and `train.roi_heads.mask_target_labels` `[P]` (the GT
   * class whose logits the loss reads).
   */
  maskrcnnLoss(maskLogits: Tensor, proposals: readonly Tensor[], targets: readonly Target[], matchedIdxs: readonly Tensor[], trace?: TraceRecorder): Tensor {
    const m = maskLogits.shape[3]!;
    const targetsPerImage: Tensor[] = [];
    const labels: number[] = [];
    proposals.forEach((p, i) => {
      const idx = matchedIdxs[i]!;
      for (let j = 0; j < idx.size; j++) labels.push(targets[i]!.labels.data[idx.data[j]!]!);
      if (p.shape[0] === 0) return;
      const rois = new Float32Array(5 * p.shape[0]!);
      for (let j = 0; j < p.shape[0]!; j++) {
        rois[5 * j] = idx.data[j]!;
        rois.set(p.data.subarray(4 * j, 4 * j + 4), 5 * j + 1);
      }
      const gtMasks = targets[i]!.masks.to('float32').unsqueeze(1);
      targetsPerImage.push(noGrad(() => roiAlign(gtMasks, new Tensor(rois, [p.shape[0]!, 5]), { outputSize: m, spatialScale: 1 })).squeeze(1));
    });
    if (labels.length === 0) {
      trace?.set('roi_heads.mask_targets', new Tensor(new Float32Array(0), [0, m, m]));
      trace?.set('roi_heads.mask_target_labels', new Tensor(new Int32Array(0), [0]));
      return maskLogits.sum().mul(0);
    }
    const maskTargets = concat(targetsPerImage, 0);
    trace?.set('roi_heads.mask_targets', maskTargets);
    trace?.set('roi_heads.mask_target_labels', new Tensor(Int32Array.from(labels), [labels.length]));
    const r = labels.length;
    if (this.config.maskLoss === 'softmax') {
      const pixelClass = new Int32Array(r * m * m);
      for (let j = 0; j < r * m * m; j++) pixelClass[j] = maskTargets.data[j]! >= 0.5 ? labels[Math.floor(j / (m * m))]! : 0;
      return crossEntropy(maskLogits, new Tensor(pixelClass, [r, m, m]));
    }
    const index = new Int32Array(r * m * m);
    if (this.maskChannels > 1) for (let j = 0; j < r; j++) index.fill(labels[j]!, j * m * m, (j + 1) * m * m);
    const picked = gather(maskLogits, 1, new Tensor(index, [r, 1, m, m])).squeeze(1);
    return binaryCrossEntropyWithLogits(picked, maskTargets);
  }

  /**
   * Runs the heads: in training the losses (`loss_classifier`, `loss_box_reg`, `loss_mask`), in
   * evaluation each image's detections with `[D, 1, 28, 28]` mask probabilities.
   */
  forward(
    features: ReadonlyMap<string, Tensor>,
    proposals: readonly Tensor[],
    imageSizes: ReadonlyArray<readonly [number, number]>,
    targets?: readonly Target[],
    trace?: TraceRecorder,
  ): RoIHeadsOutput {
    let props = [...proposals];
    let samples: TrainingSamples | null = null;
    if (this.training) {
      if (targets === undefined) throw new Error('RoIHeads: targets are required in training mode');
      samples = this.selectTrainingSamples(proposals, targets);
      props = samples.proposals;
      if (trace) {
        trace.setEach('roi_heads.proposals_with_gt', samples.proposals);
        trace.setEach('roi_heads.matched_idxs', samples.matchedIdxs);
        trace.setEach('roi_heads.labels', samples.labels);
        trace.setEach('roi_heads.regression_targets', samples.regressionTargets);
      }
    }
    const pooled = this.boxRoiPool.forward(features, props, imageSizes).features;
    const boxFeatures = this.box_head.forward(pooled);
    const r = pooled.shape[0]!;
    if (boxFeatures.ndim !== 2 || boxFeatures.shape[0] !== r) throw new Error(`RoIHeads: the box head (${this.box_head.constructor.name}) returned ${shapeOf(boxFeatures)} for pooled RoIs ${shapeOf(pooled)}; expected [${r}, D]`);
    const { classLogits, boxRegression } = this.box_predictor.forward(boxFeatures);
    const k = this.numClasses;
    if (classLogits.ndim !== 2 || classLogits.shape[0] !== r || classLogits.shape[1] !== k || boxRegression.ndim !== 2 || boxRegression.shape[0] !== r || boxRegression.shape[1] !== 4 * k) {
      throw new Error(
        `RoIHeads: the box predictor (${this.box_predictor.constructor.name}) returned class logits ${shapeOf(classLogits)} and box regression ${shapeOf(boxRegression)} ` +
          `from the box head's ${shapeOf(boxFeatures)}; expected [${r}, ${k}] and [${r}, ${4 * k}] (${k} classes with background)`,
      );
    }
    trace?.set('roi_heads.box_roi_pool', pooled);
    trace?.set('roi_heads.box_head', boxFeatures);
    trace?.set('roi_heads.class_logits', classLogits);
    trace?.set('roi_heads.box_regression', boxRegression);
    const losses: Record<string, Tensor> = {};
    if (samples !== null) {
      Object.assign(losses, this.fastrcnnLoss(classLogits, boxRegression, samples.labels, samples.regressionTargets));
      const posProps: Tensor[] = [];
      const posIdx: Tensor[] = [];
      samples.labels.forEach((l, i) => {
        const pos: number[] = [];
        for (let j = 0; j < l.size; j++) if (l.data[j]! > 0) pos.push(j);
        posProps.push(indexSelect(samples!.proposals[i]!, 0, pos));
        posIdx.push(indexSelect(samples!.matchedIdxs[i]!, 0, pos));
      });
      const logits = this.maskForward(features, posProps, imageSizes, trace);
      losses['loss_mask'] = this.maskrcnnLoss(logits, posProps, targets!, posIdx, trace);
      return { detections: [], losses };
    }
    const detections = noGrad(() => this.postprocessDetections(classLogits, boxRegression, props, imageSizes, trace));
    const logits = noGrad(() => this.maskForward(features, detections.map((d) => d.boxes), imageSizes, trace));
    let offset = 0;
    detections.forEach((d, i) => {
      const n = d.boxes.shape[0]!;
      const own = logits.narrow(0, offset, n);
      const probs = noGrad(() => (this.config.maskLoss === 'softmax' ? own.softmax(1) : sigmoid(own)));
      const hw = logits.shape[2]! * logits.shape[3]!;
      const index = new Int32Array(n * hw);
      if (this.maskChannels > 1) for (let j = 0; j < n; j++) index.fill(d.labels.data[j]!, j * hw, (j + 1) * hw);
      d.masks = gather(probs, 1, new Tensor(index, [n, 1, logits.shape[2]!, logits.shape[3]!]));
      offset += n;
      if (trace) {
        trace.set('roi_heads.detections.boxes', d.boxes, i);
        trace.set('roi_heads.detections.scores', d.scores, i);
        trace.set('roi_heads.detections.labels', d.labels, i);
        trace.set('roi_heads.detections.mask_probs', d.masks, i);
      }
    });
    return { detections, losses };
  }
}
