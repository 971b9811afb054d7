/**
 * The matcher (torchvision `_utils.Matcher`): assigns each prediction (anchor or proposal) the
 * ground-truth box it overlaps most, or marks it background / ignored (oracle spec point 12).
 * For a `[G, P]` IoU matrix, prediction `p` gets `argmax_g IoU[g, p]` when that IoU is
 * `>= high`, `BELOW_LOW_THRESHOLD` (-1) when `< low`, `BETWEEN_THRESHOLDS` (-2) in between.
 * With low-quality matches (the RPN), every prediction tied for some GT box's best IoU keeps
 * its argmax match even below `high`, so that every GT box has at least one anchor.
 *
 * @module
 */
import { Tensor } from '../../tensor/index.js';

/** Match value of a prediction below the low threshold (background). */
export const BELOW_LOW_THRESHOLD = -1;
/** Match value of a prediction between the thresholds (ignored). */
export const BETWEEN_THRESHOLDS = -2;

/** torchvision's `Matcher(high_threshold, low_threshold, allow_low_quality_matches)`. */
export class Matcher {
  /** `high`: IoU from which a match is foreground; `low`: below it background; `allowLowQualityMatches`: see the file comment. */
  constructor(
    /** IoU from which a prediction is foreground. */
    readonly highThreshold: number,
    /** IoU below which a prediction is background. */
    readonly lowThreshold: number,
    /** Keep each GT box's best predictions (the RPN). */
    readonly allowLowQualityMatches = false,
  ) {
    if (lowThreshold > highThreshold) throw new Error(`Matcher: low threshold ${lowThreshold} exceeds high threshold ${highThreshold}`);
  }

  /** The matches `[P]` (int32: GT index, -1 or -2) of an IoU matrix `[G, P]` with `G >= 1`. */
  forward(matchQualityMatrix: Tensor): Tensor {
    if (matchQualityMatrix.ndim !== 2) throw new Error(`Matcher: match_quality_matrix must be [G, P], got [${matchQualityMatrix.shape}]`);
    const [g, p] = matchQualityMatrix.shape as [number, number];
    if (g === 0) throw new Error(`Matcher: no ground-truth boxes available (match_quality_matrix [${g}, ${p}])`);
    const q = matchQualityMatrix.data;
    const matches = new Int32Array(p);
    const allMatches = new Int32Array(p);
    for (let j = 0; j < p; j++) {
      let best = q[j]!;
      let arg = 0;
      for (let i = 1; i < g; i++) {
        if (q[i * p + j]! > best) {
          best = q[i * p + j]!;
          arg = i;
        }
      }
      allMatches[j] = arg;
      matches[j] = best < this.lowThreshold ? BELOW_LOW_THRESHOLD : best < this.highThreshold ? BETWEEN_THRESHOLDS : arg;
    }
    if (this.allowLowQualityMatches) {
      for (let i = 0; i < g; i++) {
        let highest = -Infinity;
        for (let j = 0; j < p; j++) highest = Math.max(highest, q[i * p + j]!);
        for (let j = 0; j < p; j++) if (q[i * p + j] === highest) matches[j] = allMatches[j]!;
      }
    }
    return new Tensor(matches, [p]);
  }
}
