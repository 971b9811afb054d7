/**
 * The region proposal network (Faster R-CNN, Ren et al. 2015; Mask R-CNN paper section 3.1;
 * torchvision `rpn.py`). A 3x3 convolution and two sibling 1x1 convolutions slide over every FPN
 * level and predict, for each of the A anchors of every location, an objectness logit and four
 * box deltas. Proposals are the decoded anchors, filtered (oracle spec point 9): the top
 * `preNmsTopN` logits per level and image, sigmoid, clipped to the image, boxes smaller than
 * `minSize` dropped, NMS 0.7 per level, the first `postNmsTopN` kept. In training the anchors are
 * matched to the ground truth (IoU >= 0.7 positive, < 0.3 negative, plus each GT box's best
 * anchors), sampled (256 at 50% positives) and scored with the losses of spec point 12.
 *
 * @module
 */
import { Tensor, concat, indexSelect, noGrad } from '../../tensor/index.js';
import { Module, Conv2d, Conv2dNormActivation, Sequential, binaryCrossEntropyWithLogits, smoothL1, init } from '../../nn/index.js';
import { AnchorGenerator } from './anchor_utils.js';
import { BoxCoder } from './box_coder.js';
import { boxIou, clipBoxesToImage, removeSmallBoxes, batchedNms } from './box_ops.js';
import { Matcher } from './matcher.js';
import { BalancedPositiveNegativeSampler } from './balanced_sampler.js';
import type { RpnConfig } from './config.js';
import type { ImageList, Target } from './types.js';
import type { TraceRecorder } from './trace.js';

/** The RPN head's two outputs (per level, or flattened). */
export interface HeadOutputs<T> {
  /** Objectness logits. */
  objectness: T;
  /** Box deltas. */
  bboxDeltas: T;
}

/** Each image's proposals. */
export interface Proposals {
  /** Boxes `[P_i, 4]`. */
  boxes: Tensor[];
  /** Objectness probabilities `[P_i]`. */
  scores: Tensor[];
}

/** Each image's anchor targets. */
export interface AnchorTargets {
  /** 1 positive, 0 negative, -1 ignored `[T]`. */
  labels: Tensor[];
  /** The matched GT box of every anchor `[T, 4]`. */
  matchedGtBoxes: Tensor[];
}

/** RPNHead: `conv` (3x3 + ReLU), `cls_logits` (1x1 to A), `bbox_pred` (1x1 to 4A); torchvision keys `conv.0.0.weight`, ... */
export class RPNHead extends Module {
  /** The shared 3x3 convolution with ReLU (`conv.0.0`). */
  readonly conv: Sequential;
  /** Objectness logits, one per anchor. */
  readonly cls_logits: Conv2d;
  /** Box deltas, four per anchor. */
  readonly bbox_pred: Conv2d;

  /** A head for `inChannels`-channel levels with `numAnchors` anchors per location. */
  constructor(inChannels: number, numAnchors: number, options: { initialize?: boolean } = {}) {
    super();
    const initialize = options.initialize ?? true;
    this.conv = this.registerModule('conv', new Sequential([new Conv2dNormActivation(inChannels, inChannels, 3, { activation: true, initialize })]));
    this.cls_logits = this.registerModule('cls_logits', new Conv2d(inChannels, numAnchors, 1, { initialize }));
    this.bbox_pred = this.registerModule('bbox_pred', new Conv2d(inChannels, 4 * numAnchors, 1, { initialize }));
    // torchvision's RPNHead: every convolution starts from N(0, 0.01^2) with zero bias, so the
    // initial objectness is ~0.5 everywhere and the initial deltas are ~0 (anchors as proposals).
    if (initialize) {
      for (const m of this.modules()) {
        if (m instanceof Conv2d) {
          init.normal(m.weight, 0, 0.01);
          if (m.bias !== null) init.zeros(m.bias);
        }
      }
    }
  }

  /** Objectness `[N, A, H, W]` and deltas `[N, 4A, H, W]` of each level. */
  forward(features: readonly Tensor[]): HeadOutputs<Tensor[]> {
    const objectness: Tensor[] = [];
    const bboxDeltas: Tensor[] = [];
    for (const x of features) {
      const t = this.conv.forward(x);
      objectness.push(this.cls_logits.forward(t));
      bboxDeltas.push(this.bbox_pred.forward(t));
    }
    return { objectness, bboxDeltas };
  }
}

/**
 * Flattens the head's outputs in anchor order (torchvision `concat_box_prediction_layers`):
 * objectness `[N, A, H, W]` -> `[N, H, W, A]`, deltas `[N, 4A, H, W]` -> `[N, H, W, A, 4]`, levels
 * concatenated: `[N, T]` and `[N, T, 4]`.
 */
export function concatBoxPredictionLayers(objectness: readonly Tensor[], bboxDeltas: readonly Tensor[]): HeadOutputs<Tensor> {
  const obj = objectness.map((o) => o.permute(0, 2, 3, 1).reshape(o.shape[0]!, -1));
  const del = bboxDeltas.map((d) => {
    const [n, a4, h, w] = d.shape as [number, number, number, number];
    return d.reshape(n, a4 / 4, 4, h, w).permute(0, 3, 4, 1, 2).reshape(n, -1, 4);
  });
  return { objectness: concat(obj, 1), bboxDeltas: concat(del, 1) };
}

/** The order of the RPN's top-k: larger logit first, then smaller index. */
const byLogit = (logits: ArrayLike<number>) => (a: number, b: number): number => logits[b]! - logits[a]! || a - b;

/**
 * The indices `offset..offset+count-1` of the `k` largest `logits` among them, largest first
 * (ties by index): the first `k` of all of them sorted, found without sorting all of them. The
 * `k`-th largest value is read off a numeric sort of a copy; the indices above it, and the
 * first ones equal to it, are the top `k`, and only those are sorted. A NaN logit (which the
 * comparison does not order consistently) falls back to sorting everything.
 */
export function topIndices(logits: Float32Array | Float64Array | Int32Array, offset: number, count: number, k: number): number[] {
  const level = logits.subarray(offset, offset + count);
  const all = (): number[] => Array.from({ length: count }, (_, j) => offset + j).sort(byLogit(logits)).slice(0, k);
  if (k >= count || k <= 0 || level.some((v) => v !== v)) return all();
  const kth = level.slice().sort()[count - k]!; // ascending: the k-th largest
  const top: number[] = [];
  let ties = k;
  for (let j = 0; j < count; j++) if (level[j]! > kth) ties--;
  for (let j = 0; j < count; j++) {
    const v = level[j]!;
    if (v > kth) top.push(offset + j);
    else if (v === kth && ties > 0) {
      top.push(offset + j);
      ties--;
    }
  }
  return top.sort(byLogit(logits));
}

/** What {@link RegionProposalNetwork.forward} returns. */
export interface RpnOutput {
  /** Proposals of each image `[P_i, 4]`. */
  boxes: Tensor[];
  /** Their objectness probabilities `[P_i]`. */
  scores: Tensor[];
  /** Training only: `loss_objectness` and `loss_rpn_box_reg`. */
  losses: Record<string, Tensor>;
}

/** torchvision's `RegionProposalNetwork`: head, anchors, proposal filtering, targets and losses. */
export class RegionProposalNetwork extends Module {
  /** The convolutional head. */
  readonly head: RPNHead;
  /** The anchors of every level. */
  readonly anchorGenerator: AnchorGenerator;
  /** Box coder with weights (1, 1, 1, 1). */
  readonly boxCoder: BoxCoder;
  /** IoU 0.7 / 0.3 with low-quality matches. */
  readonly proposalMatcher: Matcher;
  /** 256 anchors at 50% positives. */
  readonly fgBgSampler: BalancedPositiveNegativeSampler;

  /** An RPN over `inChannels`-channel FPN levels with the numbers of `config`. */
  constructor(
    /** The RPN's numbers. */
    readonly config: RpnConfig,
    inChannels: number,
    options: { initialize?: boolean } = {},
  ) {
    super();
    this.anchorGenerator = new AnchorGenerator(config.anchorSizes, config.aspectRatios);
    const a = this.anchorGenerator.numAnchorsPerLocation();
    if (a.some((n) => n !== a[0])) throw new Error(`RegionProposalNetwork: every level needs the same number of anchors per location, got ${a}`);
    this.head = this.registerModule('head', new RPNHead(inChannels, a[0]!, options));
    this.boxCoder = new BoxCoder(config.boxCoderWeights);
    this.proposalMatcher = new Matcher(config.fgIouThresh, config.bgIouThresh, true);
    this.fgBgSampler = new BalancedPositiveNegativeSampler(config.batchSizePerImage, config.positiveFraction);
  }

  /**
   * Proposal selection (spec point 9) for flattened logits `[N, T]` and decoded boxes `[N, T, 4]`:
   * returns each image's proposals and probabilities.
   */
  filterProposals(
    proposals: Tensor,
    objectness: Tensor,
    imageSizes: ReadonlyArray<readonly [number, number]>,
    numAnchorsPerLevel: readonly number[],
  ): Proposals {
    const [n, t] = objectness.shape as [number, number];
    const preNms = this.training ? this.config.preNmsTopNTrain : this.config.preNmsTopNTest;
    const postNms = this.training ? this.config.postNmsTopNTrain : this.config.postNmsTopNTest;
    const boxes: Tensor[] = [];
    const scores: Tensor[] = [];
    for (let i = 0; i < n; i++) {
      const logits = objectness.data.subarray(i * t, (i + 1) * t);
      const picked: number[] = [];
      const levels: number[] = [];
      let offset = 0;
      numAnchorsPerLevel.forEach((count, l) => {
        const k = Math.min(preNms, count);
        for (const j of topIndices(logits, offset, count, k)) {
          picked.push(j);
          levels.push(l);
        }
        offset += count;
      });
      const b = new Float32Array(4 * picked.length);
      const s = new Float32Array(picked.length);
      picked.forEach((j, r) => {
        b.set(proposals.data.subarray((i * t + j) * 4, (i * t + j) * 4 + 4), 4 * r);
        s[r] = 1 / (1 + Math.exp(-logits[j]!));
      });
      const clipped = clipBoxesToImage(new Tensor(b, [picked.length, 4]), imageSizes[i]!);
      let keep = Array.from(removeSmallBoxes(clipped, this.config.minSize));
      keep = keep.filter((j) => s[j]! >= this.config.scoreThresh);
      const kb = indexSelect(clipped, 0, keep);
      const ks = new Tensor(Float32Array.from(keep, (j) => s[j]!), [keep.length]);
      const kept = Array.from(batchedNms(kb, ks, keep.map((j) => levels[j]!), this.config.nmsThresh, postNms).data);
      boxes.push(indexSelect(kb, 0, kept));
      scores.push(indexSelect(ks, 0, kept));
    }
    return { boxes, scores };
  }

  /**
   * Anchor labels (1 positive, 0 negative, -1 ignored) and the matched GT box of every anchor,
   * per image (torchvision `assign_targets_to_anchors`).
   */
  assignTargetsToAnchors(anchors: readonly Tensor[], targets: readonly Target[]): AnchorTargets {
    const labels: Tensor[] = [];
    const matchedGtBoxes: Tensor[] = [];
    anchors.forEach((a, i) => {
      const gt = targets[i]!.boxes;
      const p = a.shape[0]!;
      const lab = new Float32Array(p);
      const matched = new Float32Array(4 * p);
      if (gt.shape[0]! > 0) {
        const m = this.proposalMatcher.forward(boxIou(gt, a)).data;
        for (let j = 0; j < p; j++) {
          const g = Math.max(m[j]!, 0);
          matched.set(gt.data.subarray(4 * g, 4 * g + 4), 4 * j);
          lab[j] = m[j]! >= 0 ? 1 : m[j] === -1 ? 0 : -1;
        }
      }
      labels.push(new Tensor(lab, [p]));
      matchedGtBoxes.push(new Tensor(matched, [p, 4]));
    });
    return { labels, matchedGtBoxes };
  }

  /**
   * The RPN losses (spec point 12): BCE-with-logits over the sampled anchors (mean) and smooth-L1
   * (beta 1/9) over the positive anchors' deltas, summed and divided by the number sampled.
   */
  computeLoss(objectness: Tensor, bboxDeltas: Tensor, labels: readonly Tensor[], regressionTargets: readonly Tensor[]): Record<string, Tensor> {
    const sampled = this.fgBgSampler.forward(labels);
    const t = labels[0]!.size;
    const pos: number[] = [];
    const all: number[] = [];
    sampled.forEach(({ positive, negative }, i) => {
      for (let j = 0; j < t; j++) if (positive[j]) pos.push(i * t + j);
      for (let j = 0; j < t; j++) if (positive[j] || negative[j]) all.push(i * t + j);
    });
    const flatLabels = concat([...labels], 0);
    const flatTargets = concat([...regressionTargets], 0);
    const deltas = bboxDeltas.reshape(-1, 4);
    const boxLoss = smoothL1(indexSelect(deltas, 0, pos), indexSelect(flatTargets, 0, pos), { beta: this.config.smoothL1Beta, reduction: 'sum' }).div(Math.max(all.length, 1));
    const objLoss = binaryCrossEntropyWithLogits(indexSelect(objectness.reshape(-1), 0, all), indexSelect(flatLabels, 0, all));
    return { loss_objectness: objLoss, loss_rpn_box_reg: boxLoss };
  }

  /**
   * Proposals for a batch (and, with targets, the losses). `trace` records the `rpn.*` stages
   * of {@link TRACE_STAGES} (`rpn.head.objectness.l`, `rpn.anchors.i`, `rpn.proposals.i`, ...).
   */
  forward(images: ImageList, features: ReadonlyMap<string, Tensor>, targets?: readonly Target[], trace?: TraceRecorder): RpnOutput {
    const maps = [...features.values()];
    const { objectness: objL, bboxDeltas: delL } = this.head.forward(maps);
    const n = images.tensors.shape[0]!;
    const padded: [number, number] = [images.tensors.shape[2]!, images.tensors.shape[3]!];
    const anchors = this.anchorGenerator.forward(padded, n, maps.map((m) => [m.shape[2]!, m.shape[3]!] as [number, number]));
    const numAnchorsPerLevel = objL.map((o) => o.shape[1]! * o.shape[2]! * o.shape[3]!);
    const { objectness, bboxDeltas } = concatBoxPredictionLayers(objL, delL);
    const t = objectness.shape[1]!;
    const decoded = noGrad(() => {
      const anchorsCat = concat([...anchors], 0);
      return this.boxCoder.decode(bboxDeltas.detach().reshape(-1, 4), anchorsCat).reshape(n, t, 4);
    });
    const { boxes, scores } = noGrad(() => this.filterProposals(decoded, objectness.detach(), images.imageSizes, numAnchorsPerLevel));
    if (trace) {
      trace.setEach('rpn.head.objectness', objL);
      trace.setEach('rpn.head.bbox_deltas', delL);
      trace.setEach('rpn.anchors', anchors);
      trace.set('rpn.num_anchors_per_level', new Tensor(Int32Array.from(numAnchorsPerLevel), [numAnchorsPerLevel.length]));
      trace.set('rpn.objectness_flat', objectness);
      trace.set('rpn.bbox_deltas_flat', bboxDeltas);
      trace.set('rpn.decoded_proposals', decoded);
      trace.setEach('rpn.proposals', boxes);
      trace.setEach('rpn.proposal_scores', scores);
    }
    const losses: Record<string, Tensor> = {};
    if (this.training) {
      if (targets === undefined) throw new Error('RegionProposalNetwork: targets are required in training mode');
      const { labels, matchedGtBoxes } = this.assignTargetsToAnchors(anchors, targets);
      const regressionTargets = matchedGtBoxes.map((m, i) => this.boxCoder.encode(m, anchors[i]!));
      if (trace) {
        trace.setEach('rpn.anchor_labels', labels);
        trace.setEach('rpn.matched_gt_boxes', matchedGtBoxes);
      }
      Object.assign(losses, this.computeLoss(objectness, bboxDeltas, labels, regressionTargets));
    }
    return { boxes, scores, losses };
  }
}
