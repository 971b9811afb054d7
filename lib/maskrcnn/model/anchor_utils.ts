/**
 * The anchor generator (Faster R-CNN's anchors on every FPN level; torchvision
 * `anchor_utils.AnchorGenerator`, oracle spec point 5). Each level `l` has cell anchors of its
 * sizes x aspect ratios (`r = h / w`, `h = s sqrt(r)`, `w = s / sqrt(r)`, rounded half to even
 * as `torch.round` does, centred on 0), repeated at every feature-map cell's top-left corner
 * `(x * stride_w, y * stride_h)` with `stride = padded image size // feature size`.
 * Order: level, then y, then x, then cell anchor (ratios outer, sizes inner), which is the
 * order the RPN head's outputs are flattened in.
 *
 * @module
 */
import { Tensor } from '../../tensor/index.js';

const f = Math.fround;

/** `torch.round`: to the nearest integer, halves to even (12.5 -> 12, 13.5 -> 14). */
export function roundHalfToEven(v: number): number {
  const r = Math.round(v);
  return Math.abs(v - Math.trunc(v)) === 0.5 ? 2 * Math.round(v / 2) : r;
}

/** The cell anchors `[A, 4]` of one level: for each ratio (outer) and size (inner), `round([-w, -h, w, h] / 2)`. */
export function generateCellAnchors(sizes: readonly number[], aspectRatios: readonly number[]): Tensor {
  const out: number[] = [];
  for (const r of aspectRatios) {
    const hRatio = f(Math.sqrt(f(r)));
    const wRatio = f(1 / hRatio);
    for (const s of sizes) {
      const w = f(wRatio * f(s));
      const h = f(hRatio * f(s));
      out.push(roundHalfToEven(f(-w / 2)), roundHalfToEven(f(-h / 2)), roundHalfToEven(f(w / 2)), roundHalfToEven(f(h / 2)));
    }
  }
  return new Tensor(Float32Array.from(out), [out.length / 4, 4]);
}

/** torchvision's `AnchorGenerator`: one set of sizes and aspect ratios per feature level. */
export class AnchorGenerator {
  /** The cell anchors of each level. */
  readonly cellAnchors: Tensor[];

  /** `sizes[l]` and `aspectRatios[l]` for each level l (the paper: `[[32], ..., [512]]` x `[0.5, 1, 2]`). */
  constructor(
    /** Anchor sizes of each level. */
    readonly sizes: readonly (readonly number[])[],
    /** Aspect ratios (h / w) of each level. */
    readonly aspectRatios: readonly (readonly number[])[],
  ) {
    if (sizes.length !== aspectRatios.length) throw new Error(`AnchorGenerator: ${sizes.length} levels of sizes but ${aspectRatios.length} of aspect ratios`);
    this.cellAnchors = sizes.map((s, l) => generateCellAnchors(s, aspectRatios[l]!));
  }

  /** Anchors per location on each level (`sizes x ratios`, 3 in the paper). */
  numAnchorsPerLocation(): number[] {
    return this.cellAnchors.map((c) => c.shape[0]!);
  }

  /** Anchors `[sum_l H_l W_l A_l, 4]` for an image padded to `imageSizeHw` with feature maps of `featureSizesHw`. */
  gridAnchors(imageSizeHw: readonly [number, number], featureSizesHw: readonly (readonly [number, number])[]): Tensor {
    if (featureSizesHw.length !== this.cellAnchors.length) {
      throw new Error(`AnchorGenerator: ${featureSizesHw.length} feature maps but anchors for ${this.cellAnchors.length} levels`);
    }
    const out: number[] = [];
    featureSizesHw.forEach(([fh, fw], l) => {
      const strideH = Math.floor(imageSizeHw[0] / fh);
      const strideW = Math.floor(imageSizeHw[1] / fw);
      const cell = this.cellAnchors[l]!.data;
      for (let y = 0; y < fh; y++) {
        for (let x = 0; x < fw; x++) {
          const sx = x * strideW;
          const sy = y * strideH;
          for (let a = 0; a < cell.length; a += 4) out.push(sx + cell[a]!, sy + cell[a + 1]!, sx + cell[a + 2]!, sy + cell[a + 3]!);
        }
      }
    });
    return new Tensor(Float32Array.from(out), [out.length / 4, 4]);
  }

  /** The anchors of each image of a batch (they are the same for every image: one padded size). */
  forward(batchSizeHw: readonly [number, number], numImages: number, featureSizesHw: readonly (readonly [number, number])[]): Tensor[] {
    const anchors = this.gridAnchors(batchSizeHw, featureSizesHw);
    return Array.from({ length: numImages }, () => anchors);
  }
}
