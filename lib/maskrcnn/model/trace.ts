/**
 * The detector's trace as one typed list: every stage {@link MaskRCNN.forward} records with
 * `{trace: true}`, by the name of the golden fixtures (torchvision's attribute paths), with the
 * section of the paper it computes. A key is a stage, `train.` in front when a training pass made
 * it (the RPN's and RoI heads' stages; see {@link TRACE_STAGES}'s `when`), and `.i` behind for a
 * stage kept per image (`rpn.proposals.0`), per feature level (`fpn.pool`) or per loss term
 * (`loss.loss_mask`). {@link TraceKey} spells every key as a type, so that a reader's
 * `trace.get('train.roi_heads.labels.0')` is checked by the compiler and a renamed stage fails to
 * compile wherever it is read; {@link TraceRecorder} writes the keys, and
 * {@link StageClock} times the coarse stages ({@link TIMED_STAGES}).
 *
 * Papers: Mask R-CNN (He et al., ICCV 2017, arXiv 1703.06870), FPN (Lin et al., CVPR 2017,
 * arXiv 1612.03144), Faster R-CNN (Ren et al., NeurIPS 2015, arXiv 1506.01497).
 *
 * @module
 */
import { Tensor } from '../../tensor/index.js';

/**
 * How a stage's tensors are keyed: `'one'` one tensor for the batch, `'image'` one per image
 * (`.0`, `.1`, ...), `'level'` one per feature level (`.0` ... or `.pool`), `'loss'` one per loss
 * term (`.loss_mask`).
 */
export type TraceIndexing = 'one' | 'image' | 'level' | 'loss';

/**
 * When a stage is recorded: `'always'` in both modes under the same key, `'both'` in both modes
 * (`train.` in front in training), `'train'` only in training (always `train.`), `'eval'` only
 * in evaluation.
 */
export type TraceWhen = 'always' | 'both' | 'train' | 'eval';

/** How one stage is keyed and when it is recorded (a value of {@link TRACE_STAGES}). */
export interface TraceStageInfo<I extends TraceIndexing = TraceIndexing, W extends TraceWhen = TraceWhen> {
  /** See {@link TraceIndexing}. */
  readonly index: I;
  /** See {@link TraceWhen}. */
  readonly when: W;
}

/** A stage's {@link TraceStageInfo}, its literal types kept (they make {@link TraceKey}). */
function stage<I extends TraceIndexing, W extends TraceWhen>(index: I, when: W): TraceStageInfo<I, W> {
  return Object.freeze({ index, when });
}

/**
 * Every stage of the trace in the order of a forward pass, with its keying and when it is
 * recorded. The names are the golden fixtures' (`tools/oracle/gen_model.py`, torchvision's
 * attribute paths), which `npm run parity` checks against this list.
 *
 * @namespace
 */
export const TRACE_STAGES = Object.freeze({
  /** Each input image `[3, H, W]` in [0, 1] as given to `forward`. */
  'input.image': stage('image', 'always'),
  /** The normalised, resized, zero-padded batch `[N, 3, H_pad, W_pad]` (§3.1 "Implementation Details": shorter side 800; torchvision's `GeneralizedRCNNTransform`). */
  'transform.images': stage('one', 'always'),
  /** Each image's resized (unpadded) `[h, w]`, `[N, 2]` int32. */
  'transform.image_sizes': stage('one', 'always'),
  /** Training: each image's ground-truth boxes in resized pixels `[G, 4]`. */
  'transform.target_boxes': stage('image', 'train'),
  /** Training: each image's ground-truth masks resized with the image `[G, H, W]`. */
  'transform.target_masks': stage('image', 'train'),
  /** C2..C5: the ResNet stages' outputs, levels `0..3` (§3 "Network Architecture", ResNet-FPN backbone). */
  'backbone.body': stage('level', 'always'),
  /** P2..P6: the feature pyramid, levels `0..3` and `pool` (FPN §3, top-down pathway and lateral connections; P6 by max-pooling P5, FPN §4.1). */
  fpn: stage('level', 'always'),
  /** The RPN head's objectness logits per level `[N, A, H_l, W_l]` (Faster R-CNN §3.1; FPN §4.1). */
  'rpn.head.objectness': stage('level', 'both'),
  /** The RPN head's box deltas per level `[N, 4A, H_l, W_l]` (Faster R-CNN §3.1). */
  'rpn.head.bbox_deltas': stage('level', 'both'),
  /** Each image's anchors of every level `[sum A*H_l*W_l, 4]` (Faster R-CNN §3.1.1 "Anchors"; FPN §4.1: one size per level, 3 ratios). */
  'rpn.anchors': stage('image', 'both'),
  /** Anchors per level `[L]` int32. */
  'rpn.num_anchors_per_level': stage('one', 'both'),
  /** Objectness logits of every anchor, levels concatenated `[N, T]`. */
  'rpn.objectness_flat': stage('one', 'both'),
  /** Box deltas of every anchor `[N*T, 4]`. */
  'rpn.bbox_deltas_flat': stage('one', 'both'),
  /** Every anchor decoded by its deltas `[N, T, 4]` (Faster R-CNN §3.1.2, box parametrisation). */
  'rpn.decoded_proposals': stage('one', 'both'),
  /** Each image's proposals after the per-level top-k, clipping and NMS `[P, 4]` (§3.1 "Inference": 1000 proposals; FPN §4.1). */
  'rpn.proposals': stage('image', 'both'),
  /** Their objectness probabilities `[P]`. */
  'rpn.proposal_scores': stage('image', 'both'),
  /** Training: each anchor's label, 1 / 0 / -1 ignored, after sampling `[T]` (Faster R-CNN §3.1.2: IoU > 0.7 positive, < 0.3 negative; §3.1.3: 256 anchors). */
  'rpn.anchor_labels': stage('image', 'train'),
  /** Training: the ground-truth box each anchor is matched to `[T, 4]`. */
  'rpn.matched_gt_boxes': stage('image', 'train'),
  /** Training: the sampled RoIs, proposals plus ground truth `[R, 4]` (§3.1 "Training": 512 RoIs, 25% positive at IoU >= 0.5). */
  'roi_heads.proposals_with_gt': stage('image', 'train'),
  /** Training: the ground-truth index each sampled RoI matches `[R]`. */
  'roi_heads.matched_idxs': stage('image', 'train'),
  /** Training: each sampled RoI's class, 0 for background `[R]`. */
  'roi_heads.labels': stage('image', 'train'),
  /** Training: each sampled RoI's box regression target `[R, 4]` (weights 10, 10, 5, 5). */
  'roi_heads.regression_targets': stage('image', 'train'),
  /** The box branch's RoIAlign features `[R, C, 7, 7]` (§3 "RoIAlign"; FPN §4.2, Eq. 1 level mapper). */
  'roi_heads.box_roi_pool': stage('one', 'both'),
  /** The box head's features `[R, 1024]` (two fully connected layers, §3 "Network Architecture"). */
  'roi_heads.box_head': stage('one', 'both'),
  /** Class logits `[R, K]` (L_cls, §3). */
  'roi_heads.class_logits': stage('one', 'both'),
  /** Per-class box deltas `[R, 4K]` (L_box, §3). */
  'roi_heads.box_regression': stage('one', 'both'),
  /** Evaluation: every RoI's per-class boxes decoded `[R, K, 4]`. */
  'roi_heads.pred_boxes_decoded': stage('one', 'eval'),
  /** Evaluation: class probabilities `[R, K]`. */
  'roi_heads.pred_scores_softmax': stage('one', 'eval'),
  /** Evaluation: each image's detections after per-class NMS, boxes `[D, 4]` (§3.1 "Inference": top 100). */
  'roi_heads.detections.boxes': stage('image', 'eval'),
  /** Evaluation: their scores `[D]`. */
  'roi_heads.detections.scores': stage('image', 'eval'),
  /** Evaluation: their classes `[D]`. */
  'roi_heads.detections.labels': stage('image', 'eval'),
  /** Evaluation: each detection's mask probabilities of its class `[D, 1, 28, 28]` (§3.1 "Inference"). */
  'roi_heads.detections.mask_probs': stage('image', 'eval'),
  /** The mask branch's RoIAlign features `[R, C, 14, 14]` (§3 "RoIAlign"; positives in training, detections in evaluation). */
  'roi_heads.mask_roi_pool': stage('one', 'both'),
  /** The mask head's features after its convolutions and deconvolution `[R, 256, 28, 28]` (§3 "Network Architecture", Figure 4). */
  'roi_heads.mask_head': stage('one', 'both'),
  /** Mask logits, one 28x28 map per class `[R, K, 28, 28]` (§3 "Mask Representation"). */
  'roi_heads.mask_logits': stage('one', 'both'),
  /** Training: the positives' mask targets cut out by RoIAlign `[P, 28, 28]` (§3: L_mask is defined on positive RoIs). */
  'roi_heads.mask_targets': stage('one', 'train'),
  /** Training: the class whose mask logits L_mask reads, per positive `[P]` (§3: per-class binary loss). */
  'roi_heads.mask_target_labels': stage('one', 'train'),
  /** Training: the five loss terms, scalars (§3: L = L_cls + L_box + L_mask, plus the RPN's two). */
  loss: stage('loss', 'always'),
  /** Evaluation: each image's boxes in its original pixels `[D, 4]`. */
  'output.boxes': stage('image', 'eval'),
  /** Evaluation: their classes `[D]`. */
  'output.labels': stage('image', 'eval'),
  /** Evaluation: their scores `[D]`. */
  'output.scores': stage('image', 'eval'),
  /** Evaluation: the masks pasted into the original image, probabilities `[D, 1, H, W]` (§3.1 "Inference": resized to the box, binarized at 0.5 by the reader). */
  'output.masks': stage('image', 'eval'),
});

/** A stage of the trace (a key of {@link TRACE_STAGES}). */
export type TraceStage = keyof typeof TRACE_STAGES;

/** The five loss terms, in torchvision's order (L = L_cls + L_box + L_mask plus the RPN's objectness and box terms). */
export const LOSS_TERMS = Object.freeze(['loss_objectness', 'loss_rpn_box_reg', 'loss_classifier', 'loss_box_reg', 'loss_mask'] as const);

/** One of {@link LOSS_TERMS}. */
export type LossTerm = (typeof LOSS_TERMS)[number];

/** A feature level's key: `0`, `1`, ... or `pool` (P6). */
export type FeatureLevel = `${number}` | 'pool';

/** How `stage`'s tensors are keyed ({@link TraceIndexing}). */
export type TraceIndexingOf<S extends TraceStage> = (typeof TRACE_STAGES)[S]['index'];
/** When `stage` is recorded ({@link TraceWhen}). */
export type TraceWhenOf<S extends TraceStage> = (typeof TRACE_STAGES)[S]['when'];
/** The end of a key: `.0` (image), `.0` or `.pool` (level), `.loss_mask` (loss term), or nothing. */
export type TraceKeySuffix<I extends TraceIndexing> = I extends 'image' ? `.${number}` : I extends 'level' ? `.${FeatureLevel}` : I extends 'loss' ? `.${LossTerm}` : '';
/** The start of a key: `train.` for a training pass's stage, or nothing. */
export type TraceKeyPrefix<W extends TraceWhen> = W extends 'both' ? '' | 'train.' : W extends 'train' ? 'train.' : '';
/** The keys of one stage. */
export type TraceKeyOf<S extends TraceStage> = S extends TraceStage ? `${TraceKeyPrefix<TraceWhenOf<S>>}${S}${TraceKeySuffix<TraceIndexingOf<S>>}` : never;

/** Every key a trace may hold (`transform.images`, `train.rpn.anchors.0`, `fpn.pool`, `loss.loss_mask`, ...). */
export type TraceKey = TraceKeyOf<TraceStage>;

/** A trace: every traced tensor by its {@link TraceKey}. */
export type Trace = Map<TraceKey, Tensor>;

/** The index a stage's key takes: none, an image, a feature level or a loss term. */
export type TraceIndex<S extends TraceStage> = TraceIndexingOf<S> extends 'one' ? [] : TraceIndexingOf<S> extends 'image' ? [image: number] : TraceIndexingOf<S> extends 'level' ? [level: number | FeatureLevel] : [term: LossTerm];

/**
 * The key of `stage` in a trace of a training (`training`) or evaluation pass: `train.` in
 * front of a training pass's RPN and RoI-head stages, `.index` behind a per-image, per-level
 * or per-term stage (`traceKey('rpn.proposals', true, 0)` is `train.rpn.proposals.0`).
 */
export function traceKey<S extends TraceStage>(stage: S, training: boolean, ...index: TraceIndex<S>): TraceKey {
  const { when }: TraceStageInfo = TRACE_STAGES[stage];
  const prefix = when === 'train' || (when === 'both' && training) ? 'train.' : '';
  return `${prefix}${stage}${index.length === 0 ? '' : `.${index[0]}`}` as TraceKey;
}

/** A key taken apart by {@link parseTraceKey}. */
export interface ParsedTraceKey {
  /** The stage. */
  stage: TraceStage;
  /** The index after the stage (`'0'`, `'pool'`, `'loss_mask'`), `''` for a stage kept once. */
  index: string;
  /** Whether the key carries the `train.` prefix. */
  training: boolean;
}

/** Takes a key apart into its stage, index and mode; `undefined` when it is not a {@link TraceKey}. */
export function parseTraceKey(key: string): ParsedTraceKey | undefined {
  const training = key.startsWith('train.');
  const rest = training ? key.slice(6) : key;
  for (const stage of Object.keys(TRACE_STAGES) as TraceStage[]) {
    const info: TraceStageInfo = TRACE_STAGES[stage];
    if (training !== (info.when === 'train' || (info.when === 'both' && training))) continue;
    if (info.index === 'one') {
      if (rest === stage) return { stage, index: '', training };
      continue;
    }
    if (!rest.startsWith(`${stage}.`)) continue;
    const index = rest.slice(stage.length + 1);
    const ok = info.index === 'image' ? /^\d+$/.test(index) : info.index === 'level' ? /^(\d+|pool)$/.test(index) : (LOSS_TERMS as readonly string[]).includes(index);
    if (ok) return { stage, index, training };
  }
  return undefined;
}

/** Whether `trace` comes from a training pass (it holds the loss terms). */
export function isTrainingTrace(trace: ReadonlyMap<TraceKey, Tensor>): boolean {
  for (const key of trace.keys()) if (key.startsWith('loss.')) return true;
  return false;
}

/** The keys of one stage in `trace`, in insertion order (the FPN levels `fpn.0` ... `fpn.pool`, the RPN head's levels, ...). */
export function stageKeys(trace: ReadonlyMap<TraceKey, Tensor>, stage: TraceStage): TraceKey[] {
  return [...trace.keys()].filter((k) => parseTraceKey(k)?.stage === stage);
}

/**
 * Records a forward pass's stages into a {@link Trace} under their keys (the mode decides the
 * `train.` prefix). The model hands one to the RPN and the RoI heads, so that every stage is
 * written once, by its typed name.
 */
export class TraceRecorder {
  /** The trace written so far. */
  readonly tensors: Trace = new Map();

  /** A recorder for a training (`true`) or evaluation pass. */
  constructor(
    /** Whether the pass trains (decides the `train.` prefix). */
    readonly training: boolean,
  ) {}

  /** Records `tensor` as `stage` (with its image, level or term). */
  set<S extends TraceStage>(stage: S, tensor: Tensor, ...index: TraceIndex<S>): void {
    this.tensors.set(traceKey(stage, this.training, ...index), tensor);
  }

  /** Records one tensor per image (an array) or per level (a map by level name) as `stage`. */
  setEach(stage: TraceStage, tensors: readonly Tensor[] | ReadonlyMap<string, Tensor>): void {
    const entries: Iterable<readonly [string | number, Tensor]> = Array.isArray(tensors) ? tensors.map((t, i) => [i, t] as const) : (tensors as ReadonlyMap<string, Tensor>).entries();
    const info: TraceStageInfo = TRACE_STAGES[stage];
    if (info.index !== 'image' && info.index !== 'level') throw new Error(`TraceRecorder.setEach: stage '${stage}' is kept ${info.index === 'one' ? 'once' : 'per loss term'}, not per image or level`);
    for (const [i, t] of entries) this.tensors.set(traceKey(stage as 'fpn', this.training, i as FeatureLevel), t);
  }
}

/**
 * The coarse stages {@link MaskRCNN.forward} times through its `timings` option, in order
 * (`postprocess` in evaluation only).
 */
export const TIMED_STAGES = Object.freeze(['transform', 'backbone.body', 'backbone.fpn', 'rpn', 'roi_heads', 'postprocess'] as const);

/** One of {@link TIMED_STAGES}. */
export type TimedStage = (typeof TIMED_STAGES)[number];

/** Adds each stage's milliseconds into a `timings` record (nothing when there is none). */
export class StageClock {
  /** A clock that adds into `timings` (or does nothing). */
  constructor(
    /** The record to add into, by stage. */
    readonly timings?: Record<string, number>,
  ) {}

  /** Runs `fn`, adding its milliseconds to `stage`. */
  time<T>(stage: TimedStage, fn: () => T): T {
    if (this.timings === undefined) return fn();
    const start = performance.now();
    const out = fn();
    this.timings[stage] = (this.timings[stage] ?? 0) + (performance.now() - start);
    return out;
  }
}
