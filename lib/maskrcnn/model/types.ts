/**
 * The detector's shared data types: a training {@link Target}, a transformed {@link ImageList}
 * and one image's {@link Detections}. The transform, the RPN, the RoI heads and the model all
 * speak them, so they live here rather than in any one stage (which made `transform.ts` and
 * `roi_heads.ts` import each other).
 *
 * @module
 */
import type { Tensor } from '../../tensor/index.js';

/** A training target of one image (the data loader's form). */
export interface Target {
  /** Ground-truth boxes `[G, 4]` `(x1, y1, x2, y2)` in pixels. */
  boxes: Tensor;
  /** Class of each box `[G]` (int32, 1..K-1). */
  labels: Tensor;
  /** Instance masks `[G, H, W]` (0/1). */
  masks: Tensor;
}

/** The transformed batch. */
export interface ImageList {
  /** The padded batch `[N, 3, H_pad, W_pad]`. */
  tensors: Tensor;
  /** Each image's resized (unpadded) size `[h, w]`. */
  imageSizes: Array<[number, number]>;
}

/** One image's detections (in the resized image's or in the original image's coordinates). */
export interface Detections {
  /** Boxes `[D, 4]`. */
  boxes: Tensor;
  /** Class of each detection `[D]` (int32). */
  labels: Tensor;
  /** Class probability `[D]`. */
  scores: Tensor;
  /** Mask probabilities: `[D, 1, 28, 28]` from the RoI heads, `[D, 1, H, W]` after `GeneralizedRCNNTransform.postprocess`. */
  masks?: Tensor;
}
