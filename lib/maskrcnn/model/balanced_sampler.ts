/**
 * The balanced positive/negative sampler (torchvision `_utils.BalancedPositiveNegativeSampler`):
 * from the labelled predictions of one image (label >= 1 positive, 0 negative, -1 ignored) it
 * draws at most `batchSizePerImage * positiveFraction` positives at random and fills the rest
 * of the batch with random negatives. The RPN uses 256 anchors at 50% positives, the box head 512
 * RoIs at 25%.
 *
 * @module
 */
import { Generator, Tensor, randperm } from '../../tensor/index.js';

/** The sampled positives and negatives of one image, as masks over its predictions. */
export interface SampledMasks {
  /** 1 where the prediction is a sampled positive. */
  positive: Uint8Array;
  /** 1 where the prediction is a sampled negative. */
  negative: Uint8Array;
}

/** torchvision's `BalancedPositiveNegativeSampler(batch_size_per_image, positive_fraction)`. */
export class BalancedPositiveNegativeSampler {
  /** `batchSizePerImage` predictions per image, `positiveFraction` of them positive at most. */
  constructor(
    /** Predictions sampled per image. */
    readonly batchSizePerImage: number,
    /** Largest fraction of positives. */
    readonly positiveFraction: number,
    /** The random stream of the draws (default: the global one). */
    readonly generator?: Generator,
  ) {}

  /** Samples each image's labels `[P_i]` (int32 or float: >= 1 positive, 0 negative, -1 ignored). */
  forward(labels: readonly Tensor[]): SampledMasks[] {
    return labels.map((l) => {
      const pos: number[] = [];
      const neg: number[] = [];
      for (let i = 0; i < l.size; i++) {
        if (l.data[i]! >= 1) pos.push(i);
        else if (l.data[i] === 0) neg.push(i);
      }
      const numPos = Math.min(Math.floor(this.batchSizePerImage * this.positiveFraction), pos.length);
      const numNeg = Math.min(this.batchSizePerImage - numPos, neg.length);
      const positive = new Uint8Array(l.size);
      const negative = new Uint8Array(l.size);
      const pick = (from: number[], k: number, into: Uint8Array): void => {
        if (k === from.length) {
          for (const i of from) into[i] = 1;
          return;
        }
        const perm = randperm(from.length, this.generator ? { generator: this.generator } : {}).data;
        for (let i = 0; i < k; i++) into[from[perm[i]!]!] = 1;
      };
      pick(pos, numPos, positive);
      pick(neg, numNeg, negative);
      return { positive, negative };
    });
  }
}
