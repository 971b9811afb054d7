/**
 * torchvision's `GeneralizedRCNNTransform` (oracle spec point 8): what happens to the images
 * before the backbone sees them, and to the detections after the heads.
 *
 * 1. normalise: `(x - mean) / std` per channel (ImageNet statistics; images in [0, 1]);
 * 2. resize bilinearly (`align_corners=False`) by `scale = min(minSize / short side,
 *    maxSize / long side)`, computed in float32; the output is `floor(side * scale)` and the
 *    kernel samples with `in / out` (`recompute_scale_factor=True`). Training targets follow:
 *    boxes times `out / in` per axis, masks resized by nearest neighbour;
 * 3. batch: zero-pad bottom and right to the largest height and width, rounded up to a multiple
 *    of 32 (so that every FPN level's stride divides the batch).
 *
 * `postprocess` maps detections back: boxes times `original / resized` per axis, mask
 * probabilities pasted into an image of the original size ({@link pasteMasksInImage}, spec
 * point 11: torchvision keeps `paste_masks_in_image` in `roi_heads.py`, but its only caller is
 * this postprocess, so here it sits with it). The shared types are in `types.ts`.
 *
 * @module
 */
import { Tensor, pad } from '../../tensor/index.js';
import { interpolate } from '../../ops/index.js';
import type { TransformConfig } from './config.js';
import type { Detections, ImageList, Target } from './types.js';

const f = Math.fround;

/** One resized image and its target. */
export interface Resized {
  /** The resized image `[3, h, w]`. */
  image: Tensor;
  /** Its resized target (when one was given). */
  target?: Target;
}

/** What {@link GeneralizedRCNNTransform.forward} returns. */
export interface TransformOutput {
  /** The padded batch and the resized sizes. */
  images: ImageList;
  /** The resized targets (when targets were given). */
  targets?: Target[];
}

/** The float32 resize factor torchvision computes for an `h x w` image. */
export function resizeScale(h: number, w: number, minSize: number, maxSize: number): number {
  return Math.min(f(minSize / f(Math.min(h, w))), f(maxSize / f(Math.max(h, w))));
}

/** Multiplies boxes `[N, 4]` by `to / from` per axis (float32; torchvision `resize_boxes`). */
export function resizeBoxes(boxes: Tensor, fromHw: readonly [number, number], toHw: readonly [number, number]): Tensor {
  const rh = f(f(toHw[0]) / f(fromHw[0]));
  const rw = f(f(toHw[1]) / f(fromHw[1]));
  const out = new Float32Array(boxes.size);
  for (let i = 0; i < out.length; i += 4) {
    out[i] = f(boxes.data[i]! * rw);
    out[i + 1] = f(boxes.data[i + 1]! * rh);
    out[i + 2] = f(boxes.data[i + 2]! * rw);
    out[i + 3] = f(boxes.data[i + 3]! * rh);
  }
  return new Tensor(out, [boxes.shape[0]!, 4]);
}

/**
 * Pastes mask probabilities `[D, 1, M, M]` into `[D, 1, H, W]` images at `boxes` (torchvision
 * `paste_masks_in_image`, spec point 11): pad the mask by one cell, enlarge the box about its
 * centre by `(M + 2) / M`, truncate it to integers, resize the mask bilinearly to the box's
 * `x2 - x1 + 1` by `y2 - y1 + 1` pixels and copy the part inside the image.
 */
export function pasteMasksInImage(masks: Tensor, boxes: Tensor, imageHw: readonly [number, number], padding = 1): Tensor {
  const d = masks.shape[0]!;
  const m = masks.shape[3]!;
  const [imH, imW] = imageHw;
  const out = new Float32Array(d * imH * imW);
  if (d === 0) return new Tensor(out, [0, 1, imH, imW]);
  const scale = f((m + 2 * padding) / m);
  const padded = masks.to('float32').detach();
  for (let i = 0; i < d; i++) {
    const b = boxes.data.subarray(4 * i, 4 * i + 4);
    const wHalf = f(f(f(b[2]! - b[0]!) * 0.5) * scale);
    const hHalf = f(f(f(b[3]! - b[1]!) * 0.5) * scale);
    const xc = f(f(b[2]! + b[0]!) * 0.5);
    const yc = f(f(b[3]! + b[1]!) * 0.5);
    const x0 = Math.trunc(f(xc - wHalf));
    const x1 = Math.trunc(f(xc + wHalf));
    const y0 = Math.trunc(f(yc - hHalf));
    const y1 = Math.trunc(f(yc + hHalf));
    const w = Math.max(x1 - x0 + 1, 1);
    const h = Math.max(y1 - y0 + 1, 1);
    // The padded M+2 square mask, resized to the box.
    const one = padded.narrow(0, i, 1);
    const withBorder = pad(one.reshape(1, 1, m, m), [padding, padding, padding, padding]);
    const resized = interpolate(withBorder, { size: [h, w], mode: 'bilinear' }).data;
    const ya = Math.max(y0, 0);
    const yb = Math.min(y1 + 1, imH);
    const xa = Math.max(x0, 0);
    const xb = Math.min(x1 + 1, imW);
    for (let y = ya; y < yb; y++) for (let x = xa; x < xb; x++) out[(i * imH + y) * imW + x] = resized[(y - y0) * w + (x - x0)]!;
  }
  return new Tensor(out, [d, 1, imH, imW]);
}

/** The stage that prepares images (and training targets) for the network. */
export class GeneralizedRCNNTransform {
  /** The transform's numbers (sizes, mean, std, divisibility). */
  constructor(
    /** Sizes, mean, std, divisibility. */
    readonly config: TransformConfig,
  ) {}

  /** `(x - mean) / std` per channel of one `[3, H, W]` image (float32). */
  normalize(image: Tensor): Tensor {
    const [c, h, w] = image.shape as [number, number, number];
    const out = new Float32Array(image.size);
    for (let k = 0; k < c; k++) {
      const m = f(this.config.imageMean[k]!);
      const s = f(this.config.imageStd[k]!);
      for (let i = k * h * w; i < (k + 1) * h * w; i++) out[i] = f(f(image.data[i]! - m) / s);
    }
    return new Tensor(out, [c, h, w]);
  }

  /** Resizes one normalised image `[3, H, W]` (and its target) as torchvision does. */
  resize(image: Tensor, target?: Target): Resized {
    const [, h, w] = image.shape as [number, number, number];
    const scale = resizeScale(h, w, this.config.minSize, this.config.maxSize);
    const resized = interpolate(image.unsqueeze(0), { scaleFactor: scale, mode: 'bilinear', recomputeScaleFactor: true }).squeeze(0);
    if (target === undefined) return { image: resized };
    const size: [number, number] = [resized.shape[1]!, resized.shape[2]!];
    const g = target.masks.shape[0]!;
    let masks = target.masks;
    if (g > 0) {
      const m = interpolate(target.masks.to('float32').unsqueeze(1), { scaleFactor: scale, mode: 'nearest', recomputeScaleFactor: true });
      masks = m.squeeze(1).to('int32');
    } else {
      masks = new Tensor(new Int32Array(0), [0, size[0], size[1]]);
    }
    return { image: resized, target: { boxes: resizeBoxes(target.boxes, [h, w], size), labels: target.labels, masks } };
  }

  /** Zero-pads the images bottom/right to one size divisible by `sizeDivisible` and stacks them. */
  batchImages(images: readonly Tensor[]): Tensor {
    const d = this.config.sizeDivisible;
    const hp = Math.ceil(Math.max(...images.map((i) => i.shape[1]!)) / d) * d;
    const wp = Math.ceil(Math.max(...images.map((i) => i.shape[2]!)) / d) * d;
    const out = new Float32Array(images.length * 3 * hp * wp);
    images.forEach((img, n) => {
      const [c, h, w] = img.shape as [number, number, number];
      for (let k = 0; k < c; k++) for (let y = 0; y < h; y++) out.set(img.data.subarray((k * h + y) * w, (k * h + y + 1) * w), ((n * 3 + k) * hp + y) * wp);
    });
    return new Tensor(out, [images.length, 3, hp, wp]);
  }

  /** Normalises, resizes and batches `images` (each `[3, H, W]` in [0, 1]); resizes the targets with them. */
  forward(images: readonly Tensor[], targets?: readonly Target[]): TransformOutput {
    if (images.length === 0) throw new Error('GeneralizedRCNNTransform: no images');
    images.forEach((img, i) => {
      if (img.ndim !== 3 || img.shape[0] !== 3) throw new Error(`GeneralizedRCNNTransform: image ${i} must be [3, H, W], got [${img.shape}]`);
      if (img.shape[1] === 0 || img.shape[2] === 0) throw new Error(`GeneralizedRCNNTransform: image ${i} is empty ([${img.shape}])`);
    });
    if (targets !== undefined && targets.length !== images.length) throw new Error(`GeneralizedRCNNTransform: ${images.length} images but ${targets.length} targets`);
    const resized = images.map((img, i) => this.resize(this.normalize(img.to('float32')), targets?.[i]));
    const list: ImageList = {
      tensors: this.batchImages(resized.map((r) => r.image)),
      imageSizes: resized.map((r) => [r.image.shape[1]!, r.image.shape[2]!]),
    };
    return targets === undefined ? { images: list } : { images: list, targets: resized.map((r) => r.target!) };
  }

  /** Maps each image's detections from the resized image back to the original (boxes rescaled, masks pasted). */
  postprocess(result: readonly Detections[], imageSizes: ReadonlyArray<readonly [number, number]>, originalSizes: ReadonlyArray<readonly [number, number]>): Detections[] {
    return result.map((r, i) => {
      const boxes = resizeBoxes(r.boxes, imageSizes[i]!, originalSizes[i]!);
      const out: Detections = { boxes, labels: r.labels, scores: r.scores };
      if (r.masks !== undefined) out.masks = pasteMasksInImage(r.masks, boxes, originalSizes[i]!);
      return out;
    });
  }
}
