/**
 * Box utilities of the detector (torchvision `ops/boxes.py`, oracle spec point 3): IoU,
 * clipping, small-box removal, non-maximum suppression and its per-category form. Boxes are
 * `[N, 4]` float32 tensors `(x1, y1, x2, y2)` in pixels, width `x2 - x1` (no +1).
 *
 * Arithmetic is done in float32 exactly as torch does it (`Math.fround` after every operation),
 * so that IoUs, and the decisions taken on them, are bit-identical to torchvision's.
 * NMS is a sequential greedy loop over a score-sorted list with data-dependent output size,
 * not a dense kernel, so it lives here rather than in `lib/ops`.
 *
 * @module
 */
import { Tensor } from '../../tensor/index.js';

const f = Math.fround;

function checkBoxes(op: string, boxes: Tensor): void {
  if (boxes.ndim !== 2 || boxes.shape[1] !== 4) throw new Error(`${op}: boxes must be [N, 4], got [${boxes.shape}]`);
}

/** The float32 area `(x2 - x1) * (y2 - y1)` of every box `[N, 4]` (torchvision `box_area`). */
export function boxArea(boxes: Tensor): Float32Array {
  checkBoxes('boxArea', boxes);
  const b = boxes.data;
  const n = boxes.shape[0]!;
  const area = new Float32Array(n);
  for (let i = 0; i < n; i++) area[i] = f(f(b[4 * i + 2]! - b[4 * i]!) * f(b[4 * i + 3]! - b[4 * i + 1]!));
  return area;
}

/**
 * Intersection over union of every pair: `iou[i, j] = |A_i ∩ B_j| / |A_i ∪ B_j|`, `[N, M]`
 * float32 (torchvision `box_iou`; 0/0 gives NaN, as there).
 */
export function boxIou(boxes1: Tensor, boxes2: Tensor): Tensor {
  checkBoxes('boxIou', boxes1);
  checkBoxes('boxIou', boxes2);
  const a = boxes1.data;
  const b = boxes2.data;
  const n = boxes1.shape[0]!;
  const m = boxes2.shape[0]!;
  const area1 = boxArea(boxes1);
  const area2 = boxArea(boxes2);
  const iou = new Float32Array(n * m);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < m; j++) {
      const w = Math.max(f(Math.min(a[4 * i + 2]!, b[4 * j + 2]!) - Math.max(a[4 * i]!, b[4 * j]!)), 0);
      const h = Math.max(f(Math.min(a[4 * i + 3]!, b[4 * j + 3]!) - Math.max(a[4 * i + 1]!, b[4 * j + 1]!)), 0);
      const inter = f(w * h);
      iou[i * m + j] = f(inter / f(f(area1[i]! + area2[j]!) - inter));
    }
  }
  return new Tensor(iou, [n, m]);
}

/** Clamps every box to the image `[0, width] x [0, height]` (torchvision `clip_boxes_to_image`). */
export function clipBoxesToImage(boxes: Tensor, sizeHw: readonly [number, number]): Tensor {
  checkBoxes('clipBoxesToImage', boxes);
  const [h, w] = sizeHw;
  const out = new Float32Array(boxes.data);
  for (let i = 0; i < out.length; i += 4) {
    out[i] = Math.min(Math.max(out[i]!, 0), w);
    out[i + 1] = Math.min(Math.max(out[i + 1]!, 0), h);
    out[i + 2] = Math.min(Math.max(out[i + 2]!, 0), w);
    out[i + 3] = Math.min(Math.max(out[i + 3]!, 0), h);
  }
  return new Tensor(out, [boxes.shape[0]!, 4]);
}

/** Indices of the boxes whose width and height are both `>= minSize` (torchvision `remove_small_boxes`). */
export function removeSmallBoxes(boxes: Tensor, minSize: number): Int32Array {
  checkBoxes('removeSmallBoxes', boxes);
  const b = boxes.data;
  const keep: number[] = [];
  for (let i = 0; i < boxes.shape[0]!; i++) {
    if (f(b[4 * i + 2]! - b[4 * i]!) >= minSize && f(b[4 * i + 3]! - b[4 * i + 1]!) >= minSize) keep.push(i);
  }
  return Int32Array.from(keep);
}

/** Indices `0..n-1` sorted by decreasing score (ties keep index order). */
function byScore(scores: ArrayLike<number>, indices: readonly number[]): number[] {
  return [...indices].sort((i, j) => scores[j]! - scores[i]! || i - j);
}

/**
 * Greedy NMS over `order` (already sorted by decreasing score); returns the kept indices, at
 * most `maxKeep` of them (the first `maxKeep` of the full result: the loop stops there). The
 * boxes are first gathered in score order into contiguous float32 columns with their areas, so
 * the inner loop reads memory in sequence (the arithmetic, in float32, is unchanged). With a
 * threshold >= 0, a pair that does not overlap (width or height of the intersection not > 0,
 * so an IoU of 0 or NaN) can never suppress, and is skipped before the division.
 */
function greedyNms(b: ArrayLike<number>, order: readonly number[], iouThreshold: number, maxKeep = Infinity): number[] {
  const n = order.length;
  const x1 = new Float32Array(n);
  const y1 = new Float32Array(n);
  const x2 = new Float32Array(n);
  const y2 = new Float32Array(n);
  const area = new Float32Array(n);
  for (let a = 0; a < n; a++) {
    const i = order[a]!;
    x1[a] = b[4 * i]!;
    y1[a] = b[4 * i + 1]!;
    x2[a] = b[4 * i + 2]!;
    y2[a] = b[4 * i + 3]!;
    area[a] = f(f(x2[a]! - x1[a]!) * f(y2[a]! - y1[a]!));
  }
  const keep: number[] = [];
  const suppressed = new Uint8Array(n);
  const skipDisjoint = iouThreshold >= 0;
  for (let a = 0; a < n && keep.length < maxKeep; a++) {
    if (suppressed[a]) continue;
    keep.push(order[a]!);
    if (keep.length >= maxKeep) break;
    const ax1 = x1[a]!;
    const ay1 = y1[a]!;
    const ax2 = x2[a]!;
    const ay2 = y2[a]!;
    const areaI = area[a]!;
    for (let c = a + 1; c < n; c++) {
      if (suppressed[c]) continue;
      const iw = f(Math.min(ax2, x2[c]!) - Math.max(ax1, x1[c]!));
      if (skipDisjoint && !(iw > 0)) continue;
      const ih = f(Math.min(ay2, y2[c]!) - Math.max(ay1, y1[c]!));
      if (skipDisjoint && !(ih > 0)) continue;
      const w = Math.max(0, iw);
      const h = Math.max(0, ih);
      const inter = f(w * h);
      const iou = f(inter / f(f(areaI + area[c]!) - inter));
      if (iou > iouThreshold) suppressed[c] = 1; // strict; NaN (0/0) never suppresses
    }
  }
  return keep;
}

function checkScores(op: string, boxes: Tensor, scores: Tensor): void {
  checkBoxes(op, boxes);
  if (scores.ndim !== 1 || scores.shape[0] !== boxes.shape[0]) throw new Error(`${op}: scores must be [${boxes.shape[0]}], got [${scores.shape}]`);
}

/**
 * Non-maximum suppression: visit boxes by decreasing score, keep a box unless it overlaps a
 * kept one with IoU `> iouThreshold`. Returns the kept indices (int32 `[M]`) by decreasing score
 * (torchvision `nms`).
 */
export function nms(boxes: Tensor, scores: Tensor, iouThreshold: number): Tensor {
  checkScores('nms', boxes, scores);
  const order = byScore(scores.data, Array.from({ length: boxes.shape[0]! }, (_, i) => i));
  return intTensor(greedyNms(boxes.data, order, iouThreshold));
}

function intTensor(values: readonly number[]): Tensor {
  return new Tensor(Int32Array.from(values), [values.length]);
}

/**
 * NMS within each category `idxs[i]` (boxes of different categories never suppress each other);
 * the kept indices of all categories, by decreasing score (torchvision `batched_nms`).
 * With `topK`, only the first `topK` of them (the same as slicing the full result, as the RPN
 * and the box post-processing do, but faster: a category's NMS stops after `topK` kept boxes,
 * since a box it would keep later is outranked by `topK` boxes already kept).
 */
export function batchedNms(boxes: Tensor, scores: Tensor, idxs: Tensor | ArrayLike<number>, iouThreshold: number, topK = Infinity): Tensor {
  checkScores('batchedNms', boxes, scores);
  const cats = idxs instanceof Tensor ? idxs.data : idxs;
  if (cats.length !== boxes.shape[0]) throw new Error(`batchedNms: idxs must have ${boxes.shape[0]} entries, got ${cats.length}`);
  const groups = new Map<number, number[]>();
  for (let i = 0; i < cats.length; i++) {
    const g = groups.get(cats[i]!) ?? [];
    g.push(i);
    groups.set(cats[i]!, g);
  }
  const kept: number[] = [];
  // The early stop relies on one order of the scores; a NaN score (which the comparison of
  // byScore does not order consistently) runs every category to the end instead.
  const stopAt = scores.data.some((v) => v !== v) ? Infinity : topK;
  for (const members of groups.values()) {
    for (const i of greedyNms(boxes.data, byScore(scores.data, members), iouThreshold, stopAt)) kept.push(i);
  }
  const sorted = byScore(scores.data, kept);
  return intTensor(sorted.length > topK ? sorted.slice(0, topK) : sorted);
}
