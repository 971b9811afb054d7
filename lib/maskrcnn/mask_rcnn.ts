/**
 * Mask R-CNN (He, Gkioxari, Dollár, Girshick, ICCV 2017), torchvision's `MaskRCNN` /
 * `GeneralizedRCNN`: transform -> backbone (ResNet + FPN) -> RPN -> RoI heads -> postprocess.
 * Training returns the five loss terms L = L_cls + L_box + L_mask + the RPN's
 * (`loss_objectness`, `loss_rpn_box_reg`); evaluation returns each image's boxes, labels,
 * scores and pasted mask probabilities. With `{trace: true}` every intermediate is returned by
 * the names of the golden fixtures (`transform.images`, `backbone.body.0..3` = C2..C5,
 * `fpn.0..3`, `fpn.pool` = P2..P6, `rpn.*`, `roi_heads.*`, `output.*`). State-dict keys are
 * torchvision's, so a torchvision state dict saved as safetensors loads by name.
 *
 * @module
 */
import { Tensor } from '../tensor/index.js';
import { Module, ResNet, resnetFpnBackbone, type BackboneWithFPN } from '../nn/index.js';
import { normKind, type MaskRCNNConfig } from './config.js';
import { GeneralizedRCNNTransform } from './transform.js';
import type { Detections, Target } from './types.js';
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
   * Fill this record with the milliseconds each stage took (`transform`, `backbone.body`,
   * `backbone.fpn`, `rpn`, `roi_heads`, `postprocess`), for benchmarks and the progress view.
   */
  timings?: Record<string, number>;
}

/** What {@link MaskRCNN.forward} returns. */
export interface MaskRCNNOutput {
  /** Training: the five loss terms by torchvision's names. */
  losses: Record<string, Tensor>;
  /** Evaluation: each image's detections in its original coordinates (masks `[D, 1, H, W]` probabilities). */
  detections: Detections[];
  /** With `trace: true`: every intermediate by the golden fixtures' names. */
  trace: Map<string, Tensor>;
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
   * the losses, in evaluation mode the detections.
   */
  forward(images: readonly Tensor[], targets?: readonly Target[], options: MaskRCNNForwardOptions = {}): MaskRCNNOutput {
    const trace = new Map<string, Tensor>();
    const tr = options.trace ? trace : undefined;
    if (this.training && targets === undefined) throw new Error('MaskRCNN: targets are required in training mode (call eval() for inference)');
    if (targets !== undefined) checkTargets(images, targets);
    const originalSizes = images.map((img) => [img.shape[1]!, img.shape[2]!] as [number, number]);
    const timings = options.timings;
    let clock = performance.now();
    const lap = (stage: string): void => {
      if (timings === undefined) return;
      const now = performance.now();
      timings[stage] = (timings[stage] ?? 0) + (now - clock);
      clock = now;
    };
    const { images: list, targets: tTargets } = this.transform.forward(images, this.training ? targets : undefined);
    lap('transform');
    if (tr) {
      images.forEach((img, i) => tr.set(`input.image.${i}`, img));
      tr.set('transform.images', list.tensors);
      tr.set('transform.image_sizes', new Tensor(Int32Array.from(list.imageSizes.flat()), [list.imageSizes.length, 2]));
      tTargets?.forEach((t, i) => {
        tr.set(`train.transform.target_boxes.${i}`, t.boxes);
        tr.set(`train.transform.target_masks.${i}`, t.masks);
      });
    }
    const body = this.backbone.body.forward(list.tensors);
    lap('backbone.body');
    const features = this.backbone.fpn.forward(body);
    lap('backbone.fpn');
    if (tr) {
      for (const [k, v] of body) tr.set(`backbone.body.${k}`, v);
      for (const [k, v] of features) tr.set(`fpn.${k}`, v);
    }
    const rpnTrace = tr ? new Map<string, Tensor>() : undefined;
    const rpn = this.rpn.forward(list, features, tTargets, rpnTrace);
    lap('rpn');
    const roiTrace = tr ? new Map<string, Tensor>() : undefined;
    const heads = this.roi_heads.forward(features, rpn.boxes, list.imageSizes, tTargets, roiTrace);
    lap('roi_heads');
    const prefix = this.training ? 'train.' : '';
    if (tr) {
      for (const [k, v] of rpnTrace!) tr.set(`${prefix}rpn.${k}`, v);
      for (const [k, v] of roiTrace!) tr.set(`${prefix}roi_heads.${k}`, v);
    }
    if (this.training) {
      const losses = { ...rpn.losses, ...heads.losses };
      if (tr) for (const [k, v] of Object.entries(losses)) tr.set(`loss.${k}`, v);
      return { losses, detections: [], trace };
    }
    const detections = this.transform.postprocess(heads.detections, list.imageSizes, originalSizes);
    lap('postprocess');
    if (tr) {
      detections.forEach((d, i) => {
        tr.set(`output.boxes.${i}`, d.boxes);
        tr.set(`output.labels.${i}`, d.labels);
        tr.set(`output.scores.${i}`, d.scores);
        if (d.masks) tr.set(`output.masks.${i}`, d.masks);
      });
    }
    return { losses: {}, detections, trace };
  }
}
