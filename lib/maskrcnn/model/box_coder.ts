/**
 * The box coder (R-CNN's box parameterisation, Girshick et al. 2014, appendix C; torchvision
 * `_utils.BoxCoder`, oracle spec point 4). A box is regressed from a reference box `P` (an
 * anchor or a proposal) as
 *
 *   t_x = w_x (G_x - P_x) / P_w,  t_y = w_y (G_y - P_y) / P_h,
 *   t_w = w_w log(G_w / P_w),     t_h = w_h log(G_h / P_h),
 *
 * with centres `x1 + 0.5 w` and widths `x2 - x1` (no +1). The RPN uses weights (1, 1, 1, 1), the
 * box head (10, 10, 5, 5). Decoding clamps `t_w / w_w` and `t_h / w_h` from above at
 * `log(1000 / 16)` so that `exp` cannot blow up. Float32 throughout, as torch computes.
 *
 * @module
 */
import { Tensor } from '../../tensor/index.js';

const f = Math.fround;

/** `log(1000 / 16)`: the largest log-scale change decoding allows. */
export const BBOX_XFORM_CLIP = Math.log(1000 / 16);

/** Encodes ground-truth boxes against reference boxes and decodes regressions back to boxes. */
export class BoxCoder {
  /** The weights `(w_x, w_y, w_w, w_h)` as float32. */
  readonly weights: [number, number, number, number];
  /** The clamp of the decoded log-scales (float32). */
  readonly bboxXformClip: number;

  /** A coder with `weights` (RPN: 1,1,1,1; box head: 10,10,5,5). */
  constructor(weights: readonly [number, number, number, number], bboxXformClip = BBOX_XFORM_CLIP) {
    this.weights = weights.map((w) => f(w)) as [number, number, number, number];
    this.bboxXformClip = f(bboxXformClip);
  }

  /**
   * Regression targets `[N, 4]` of ground-truth boxes `referenceBoxes` `[N, 4]` relative to
   * `proposals` `[N, 4]` (row i against row i).
   */
  encode(referenceBoxes: Tensor, proposals: Tensor): Tensor {
    if (referenceBoxes.ndim !== 2 || referenceBoxes.shape[1] !== 4 || referenceBoxes.shape.join() !== proposals.shape.join()) {
      throw new Error(`BoxCoder.encode: expected two [N, 4] tensors, got [${referenceBoxes.shape}] and [${proposals.shape}]`);
    }
    const g = referenceBoxes.data;
    const p = proposals.data;
    const [wx, wy, ww, wh] = this.weights;
    const out = new Float32Array(g.length);
    for (let i = 0; i < g.length; i += 4) {
      const pw = f(p[i + 2]! - p[i]!);
      const ph = f(p[i + 3]! - p[i + 1]!);
      const px = f(p[i]! + f(0.5 * pw));
      const py = f(p[i + 1]! + f(0.5 * ph));
      const gw = f(g[i + 2]! - g[i]!);
      const gh = f(g[i + 3]! - g[i + 1]!);
      const gx = f(g[i]! + f(0.5 * gw));
      const gy = f(g[i + 1]! + f(0.5 * gh));
      out[i] = f(f(wx * f(gx - px)) / pw);
      out[i + 1] = f(f(wy * f(gy - py)) / ph);
      out[i + 2] = f(ww * f(Math.log(f(gw / pw))));
      out[i + 3] = f(wh * f(Math.log(f(gh / ph))));
    }
    return new Tensor(out, [g.length / 4, 4]);
  }

  /**
   * Applies regressions `relCodes` `[N, 4K]` (K boxes per row, e.g. one per class) to the
   * reference `boxes` `[N, 4]`; returns `[N, K, 4]` boxes (torchvision `decode`).
   */
  decode(relCodes: Tensor, boxes: Tensor): Tensor {
    const n = boxes.shape[0]!;
    if (boxes.ndim !== 2 || boxes.shape[1] !== 4) throw new Error(`BoxCoder.decode: boxes must be [N, 4], got [${boxes.shape}]`);
    const perRow = relCodes.ndim === 2 ? relCodes.shape[1]! : -1;
    if (relCodes.ndim !== 2 || relCodes.shape[0] !== n || perRow % 4 !== 0) {
      throw new Error(`BoxCoder.decode: rel_codes must be [${n}, 4K], got [${relCodes.shape}] for boxes [${boxes.shape}]`);
    }
    const k = perRow / 4;
    const d = relCodes.data;
    const b = boxes.data;
    const [wx, wy, ww, wh] = this.weights;
    const clip = this.bboxXformClip;
    const out = new Float32Array(n * perRow);
    for (let i = 0; i < n; i++) {
      const w = f(b[4 * i + 2]! - b[4 * i]!);
      const h = f(b[4 * i + 3]! - b[4 * i + 1]!);
      const cx = f(b[4 * i]! + f(0.5 * w));
      const cy = f(b[4 * i + 1]! + f(0.5 * h));
      for (let c = 0; c < k; c++) {
        const o = i * perRow + 4 * c;
        const dx = f(d[o]! / wx);
        const dy = f(d[o + 1]! / wy);
        const dw = Math.min(f(d[o + 2]! / ww), clip);
        const dh = Math.min(f(d[o + 3]! / wh), clip);
        const pcx = f(f(dx * w) + cx);
        const pcy = f(f(dy * h) + cy);
        const pw = f(f(Math.exp(dw)) * w);
        const ph = f(f(Math.exp(dh)) * h);
        const hw = f(0.5 * pw);
        const hh = f(0.5 * ph);
        out[o] = f(pcx - hw);
        out[o + 1] = f(pcy - hh);
        out[o + 2] = f(pcx + hw);
        out[o + 3] = f(pcy + hh);
      }
    }
    return new Tensor(out, [n, k, 4]);
  }
}
