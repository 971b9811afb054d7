/**
 * Mask R-CNN (He, Gkioxari, Dollár, Girshick, ICCV 2017), torchvision's `MaskRCNN` /
 * `GeneralizedRCNN`: transform -> backbone (ResNet + FPN) -> RPN -> RoI heads -> postprocess.
 * Training returns the five loss terms L = L_cls + L_box + L_mask + the RPN's
 * (`loss_objectness`, `loss_rpn_box_reg`); evaluation returns each image's boxes, labels,
 * scores and pasted mask probabilities. With `{trace: true}` every intermediate is returned by
 * the names of the golden fixtures, one typed list in `trace.ts` ({@link TRACE_STAGES}:
 * `transform.images`, `backbone.body.0..3` = C2..C5, `fpn.0..3`, `fpn.pool` = P2..P6, `rpn.*`,
 * `roi_heads.*`, `output.*`). State-dict keys are
 * torchvision's, so a torchvision state dict saved as safetensors loads by name.
 *
 * @module
 */
import { Tensor } from '../../tensor/index.js';
import { Module, ResNet, resnetFpnBackbone, type BackboneWithFPN } from '../../nn/index.js';
import { normKind, type MaskRCNNConfig } from './config.js';
import { GeneralizedRCNNTransform } from './transform.js';
import type { Detections, ImageList, Target } from './types.js';
import { StageClock, TraceRecorder, type LossTerm, type Trace } from './trace.js';
import { RegionProposalNetwork } from './rpn.js';
import { RoIHeads, type RoIHeadModules, type RoIHeadsOptions } from './roi_heads.js';

/**
 * Options of {@link MaskRCNN}'s constructor. Like torchvision's `MaskRCNN(box_head=...,
 * box_predictor=..., mask_head=..., mask_predictor=...)`, `boxHead`, `boxPredictor`, `maskHead`
 * and `maskPredictor` replace the modules the config would build (they keep the state-dict names
 * `roi_heads.box_head.*`, ...); see {@link RoIHeadModules} for what each must compute.
 */
export interface MaskRCNNOptions extends Partial<RoIHeadModules> {
  /** Draw initial weights (default `true`); `false` for weights loaded next. */
  initialize?: boolean;
  /** A prebuilt backbone (default: the config's ResNet-FPN). */
  backbone?: BackboneWithFPN;
  /** RoIPool / single-level pooling, for the ablations. */
  pooler?: RoIHeadsOptions['pooler'];
}

/** Options of {@link MaskRCNN.forward}. */
export interface MaskRCNNForwardOptions {
  /** Collect every intermediate by name in the result's `trace`. */
  trace?: boolean;
  /**
   * Fill this record with the milliseconds each stage took ({@link TIMED_STAGES}: `transform`,
   * `backbone.body`, `backbone.fpn`, `rpn`, `roi_heads`, `postprocess`), for benchmarks and the
   * progress view.
   */
  timings?: Record<string, number>;
}

/** What {@link MaskRCNN.forward} returns. */
export interface MaskRCNNOutput {
  /** Training: the five loss terms by torchvision's names. */
  losses: Record<string, Tensor>;
  /** Evaluation: each image's detections in its original coordinates (masks `[D, 1, H, W]` probabilities). */
  detections: Detections[];
  /** With `trace: true`: every intermediate by its {@link TraceKey} (empty otherwise). */
  trace: Trace;
}

/** Builds the config's ResNet-FPN backbone (torchvision's `resnet_fpn_backbone`, frozen batch norm). */
export function buildBackbone(config: MaskRCNNConfig, initialize = true): BackboneWithFPN {
  const b = config.backbone;
  const resnet = new ResNet({ block: b.block, layers: b.blocksPerStage, stemChannels: b.stemChannels, widths: b.widths, norm: b.norm, numClasses: null, initialize });
  return resnetFpnBackbone(resnet, { returnedLayers: [1, 2, 3, 4], outChannels: b.fpnChannels, norm: normKind(b.fpnNorm, 'backbone.fpnNorm'), trainableLayers: b.trainableLayers, initialize });
}

/**
 * Validates training targets as torchvision's `GeneralizedRCNN.forward` does: boxes `[G, 4]`
 * with positive width and height (torchvision's message: "All bounding boxes should have positive
 * height and width"; a NaN coordinate fails too), one label per box, masks `[G, H, W]` of the
 * image's size. Boxes reaching outside the image are valid and are not clipped (torchvision
 * neither clips nor rejects them); an image with no boxes (`[0, 4]`) is valid and trains on
 * background only.
 */
export function checkTargets(images: readonly Tensor[], targets: readonly Target[]): void {
  if (targets.length !== images.length) throw new Error(`MaskRCNN: ${images.length} images but ${targets.length} targets`);
  targets.forEach((t, i) => {
    const b = t.boxes;
    if (b.ndim !== 2 || b.shape[1] !== 4) throw new Error(`MaskRCNN: Expected target boxes to be a tensor of shape [N, 4], got [${b.shape}] (target ${i}).`);
    const g = b.shape[0]!;
    for (let k = 0; k < g; k++) {
      if (!(b.data[4 * k + 2]! > b.data[4 * k]!) || !(b.data[4 * k + 3]! > b.data[4 * k + 1]!)) {
        throw new Error(
          `MaskRCNN: All bounding boxes should have positive height and width. Found invalid box [${Array.from(b.data.subarray(4 * k, 4 * k + 4)).join(', ')}] for target at index ${i} (box ${k}).`,
        );
      }
    }
    if (t.labels.ndim !== 1 || t.labels.shape[0] !== g) throw new Error(`MaskRCNN: target ${i} has ${g} boxes but ${t.labels.shape.length === 1 ? t.labels.shape[0] : `[${t.labels.shape}]`} labels`);
    const img = images[i];
    const m = t.masks;
    if (m.ndim !== 3 || m.shape[0] !== g) throw new Error(`MaskRCNN: target ${i} has ${g} boxes but masks [${m.shape}] (expected [${g}, H, W])`);
    if (img !== undefined && img.ndim === 3 && (m.shape[1] !== img.shape[1] || m.shape[2] !== img.shape[2])) {
      throw new Error(`MaskRCNN: target ${i} has masks [${m.shape}] but image ${i} is [${img.shape}]: masks must have the image's height and width`);
    }
  });
}

/**
 * Throws when a loss term is NaN or infinite, naming the training iteration and the term
 * (`training diverged at iteration 17: loss_box_reg is NaN (loss_classifier 0.52, ...)`), so that
 * a training loop stops at the first bad step instead of writing NaN weights.
 */
export function checkFiniteLosses(losses: Readonly<Record<string, Tensor>>, iteration: number): void {
  for (const [name, value] of Object.entries(losses)) {
    if (value.size !== 1) throw new Error(`checkFiniteLosses: iteration ${iteration}: ${name} is not a scalar ([${value.shape}])`);
    const v = value.data[0]!;
    if (!Number.isFinite(v)) {
      const all = Object.entries(losses)
        .map(([k, t]) => `${k} ${t.size === 1 ? Number(t.data[0]).toPrecision(4) : '?'}`)
        .join(', ');
      throw new Error(`training diverged at iteration ${iteration}: ${name} is ${v} (${all})`);
    }
  }
}

/** The whole detector. */
export class MaskRCNN extends Module {
  /** Normalise, resize, batch; map results back. */
  readonly transform: GeneralizedRCNNTransform;
  /** ResNet body and FPN. */
  readonly backbone: BackboneWithFPN;
  /** Region proposal network. */
  readonly rpn: RegionProposalNetwork;
  /** Box and mask heads. */
  readonly roi_heads: RoIHeads;

  /** A Mask R-CNN with `config`'s numbers. */
  constructor(
    /** The detector's numbers. */
    readonly config: MaskRCNNConfig,
    options: MaskRCNNOptions = {},
  ) {
    super();
    const initialize = options.initialize ?? true;
    this.transform = new GeneralizedRCNNTransform(config.transform);
    this.backbone = this.registerModule('backbone', options.backbone ?? buildBackbone(config, initialize));
    this.rpn = this.registerModule('rpn', new RegionProposalNetwork(config.rpn, this.backbone.outChannels, { initialize }));
    const { backbone: _backbone, ...headOptions } = options;
    this.roi_heads = this.registerModule('roi_heads', new RoIHeads(config.roiHeads, this.backbone.outChannels, config.numClasses, { ...headOptions, initialize }));
  }

  /**
   * Runs the detector on `images` (each `[3, H, W]` in [0, 1]): in training mode (with targets)
   * the losses, in evaluation mode the detections. The paper's steps, each timed
   * ({@link StageClock}) and traced ({@link TraceRecorder}) by its name in `trace.ts`.
   */
  forward(images: readonly Tensor[], targets?: readonly Target[], options: MaskRCNNForwardOptions = {}): MaskRCNNOutput {
    if (this.training && targets === undefined) throw new Error('MaskRCNN: targets are required in training mode (call eval() for inference)');
    if (targets !== undefined) checkTargets(images, targets);
    const clock = new StageClock(options.timings);
    const tr = options.trace ? new TraceRecorder(this.training) : undefined;
    // Normalise, resize and batch the images (and their targets).
    const { images: list, targets: tTargets } = clock.time('transform', () => this.transform.forward(images, this.training ? targets : undefined));
    if (tr) traceTransform(tr, images, list, tTargets);
    // Backbone: ResNet C2..C5, then the FPN's P2..P6.
    const body = clock.time('backbone.body', () => this.backbone.body.forward(list.tensors));
    const features = clock.time('backbone.fpn', () => this.backbone.fpn.forward(body));
    tr?.setEach('backbone.body', body);
    tr?.setEach('fpn', features);
    // RPN: anchors, objectness and deltas, proposals.
    const rpn = clock.time('rpn', () => this.rpn.forward(list, features, tTargets, tr));
    // RoI heads: RoIAlign, box and mask branches.
    const heads = clock.time('roi_heads', () => this.roi_heads.forward(features, rpn.boxes, list.imageSizes, tTargets, tr));
    const trace: Trace = tr?.tensors ?? new Map();
    if (this.training) {
      // L = L_cls + L_box + L_mask, plus the RPN's two terms.
      const losses = { ...rpn.losses, ...heads.losses };
      if (tr) for (const [k, v] of Object.entries(losses)) tr.set('loss', v, k as LossTerm);
      return { losses, detections: [], trace };
    }
    // Map boxes back to the original images and paste the masks.
    const originalSizes = images.map((img) => [img.shape[1]!, img.shape[2]!] as [number, number]);
    const detections = clock.time('postprocess', () => this.transform.postprocess(heads.detections, list.imageSizes, originalSizes));
    if (tr) traceDetections(tr, detections);
    return { losses: {}, detections, trace };
  }
}

/** Traces the input images, the transformed batch and (training) the transformed targets. */
function traceTransform(tr: TraceRecorder, images: readonly Tensor[], list: ImageList, targets: readonly Target[] | undefined): void {
  tr.setEach('input.image', images);
  tr.set('transform.images', list.tensors);
  tr.set('transform.image_sizes', new Tensor(Int32Array.from(list.imageSizes.flat()), [list.imageSizes.length, 2]));
  targets?.forEach((t, i) => {
    tr.set('transform.target_boxes', t.boxes, i);
    tr.set('transform.target_masks', t.masks, i);
  });
}

/** Traces each image's final detections (`output.*`). */
function traceDetections(tr: TraceRecorder, detections: readonly Detections[]): void {
  detections.forEach((d, i) => {
    tr.set('output.boxes', d.boxes, i);
    tr.set('output.labels', d.labels, i);
    tr.set('output.scores', d.scores, i);
    if (d.masks) tr.set('output.masks', d.masks, i);
  });
}
