/**
 * The picture a user looks at after `maskrcnn predict`: the image with each detection's mask
 * blended in its class colour, its box outline, and a `name 0.93` label above the box. Small
 * images (the 128 px shapes) are enlarged by an integer factor first (nearest neighbour, so
 * every input pixel becomes a `scale` x `scale` block) so that the 3x5 bitmap font is readable.
 * The pixels depend only on the inputs (no randomness, no fonts from the system).
 *
 * @module
 */
import type { Tensor } from '../../tensor/index.js';
import type { Detections } from '../model/types.js';
import { Canvas, classColor, type VizColor } from './viz.js';
import { textWidth } from './font.js';

/** Options of {@link drawDetections}. */
export interface DrawDetectionsOptions {
  /** Class names by label (index 0 = background); default the label number. */
  classes?: readonly string[];
  /** Draw the detections whose score is at least this (default 0.5). */
  scoreThreshold?: number;
  /** Mask probabilities at or above this are mask pixels (default 0.5, the paper's). */
  maskThreshold?: number;
  /** Opacity of the mask colour (default 0.45). */
  alpha?: number;
  /**
   * Integer enlargement of the image (default: the smallest that makes the long side at least
   * {@link OVERLAY_MIN_SIDE} pixels; 1 for images that are already that large).
   */
  scale?: number;
  /** Pixel size of the font (default: 1 per 256 px of the long side of the drawing, 1..3). */
  textScale?: number;
}

/** The long side, in pixels, that {@link drawDetections} enlarges small images to by default. */
export const OVERLAY_MIN_SIDE = 384;

/**
 * Draws `detections` (in the coordinates of `image`, as {@link MaskRCNN.forward} returns them)
 * on `image` (`[3, H, W]`, values in [0, 1]). Detections are drawn from the lowest score to the
 * highest, so the best one ends on top: first every mask, then every box outline, then every
 * label (on a strip of the class colour above the box, or inside the box at the top edge).
 * Throws naming the tensor whose shape does not fit.
 */
export function drawDetections(image: Tensor, detections: Detections, options: DrawDetectionsOptions = {}): Canvas {
  if (image.ndim !== 3 || image.shape[0] !== 3) throw new Error(`drawDetections: the image must be [3, H, W], got [${image.shape}]`);
  const [, h, w] = image.shape as [number, number, number];
  const { boxes, labels, scores, masks } = detections;
  const n = scores.shape[0] ?? 0;
  if (scores.ndim !== 1) throw new Error(`drawDetections: scores must be [D], got [${scores.shape}]`);
  if (boxes.ndim !== 2 || boxes.shape[0] !== n || boxes.shape[1] !== 4) throw new Error(`drawDetections: boxes [${boxes.shape}] do not fit ${n} detections (expected [${n}, 4])`);
  if (labels.ndim !== 1 || labels.shape[0] !== n) throw new Error(`drawDetections: labels [${labels.shape}] do not fit ${n} detections (expected [${n}])`);
  if (masks !== undefined && (masks.ndim !== 4 || masks.shape[0] !== n || masks.shape[1] !== 1 || masks.shape[2] !== h || masks.shape[3] !== w)) {
    throw new Error(`drawDetections: masks [${masks.shape}] do not fit ${n} detections on a ${h}x${w} image (expected [${n}, 1, ${h}, ${w}])`);
  }
  const threshold = options.scoreThreshold ?? 0.5;
  const maskThreshold = options.maskThreshold ?? 0.5;
  const alpha = options.alpha ?? 0.45;
  const scale = options.scale ?? Math.max(1, Math.ceil(OVERLAY_MIN_SIDE / Math.max(h, w)));
  if (!Number.isInteger(scale) || scale < 1 || scale > 64) throw new Error(`drawDetections: scale must be an integer in 1..64, got ${scale}`);
  const textScale = options.textScale ?? Math.max(1, Math.min(3, Math.round(Math.max(h, w) * scale / 256)));

  const canvas = enlarge(Canvas.fromImage(image), scale);
  // Lowest score first: the best detection is drawn last, on top.
  const order: number[] = [];
  for (let d = 0; d < n; d++) if (scores.data[d]! >= threshold) order.push(d);
  order.sort((a, b) => scores.data[a]! - scores.data[b]! || b - a);
  const colorOf = (d: number): VizColor => classColor(labels.data[d]!);

  if (masks !== undefined) {
    const hw = h * w;
    for (const d of order) {
      const color = colorOf(d);
      const mask = masks.data.subarray(d * hw, (d + 1) * hw);
      for (let y = 0; y < h; y++) {
        for (let x = 0; x < w; x++) {
          if (mask[y * w + x]! >= maskThreshold) canvas.fillRect(x * scale, y * scale, (x + 1) * scale, (y + 1) * scale, color, alpha);
        }
      }
    }
  }
  const thickness = Math.max(1, Math.round(scale / 2));
  const scaled = (d: number): number[] => Array.from(boxes.data.subarray(4 * d, 4 * d + 4), (v) => v * scale);
  for (const d of order) canvas.drawBox(scaled(d), colorOf(d), thickness);
  for (const d of order) {
    const label = labels.data[d]!;
    const text = `${options.classes?.[label] ?? String(label)} ${scores.data[d]!.toFixed(2)}`;
    const [x1, y1] = scaled(d) as [number, number];
    const color = colorOf(d);
    const stripH = 5 * textScale + 2 * textScale;
    const stripW = textWidth(text, textScale) + 2 * textScale;
    const x = Math.min(Math.max(0, Math.round(x1)), Math.max(0, canvas.width - stripW));
    const y = Math.round(y1) - stripH >= 0 ? Math.round(y1) - stripH : Math.max(0, Math.round(y1));
    canvas.fillRect(x, y, x + stripW, y + stripH, color, 0.85);
    canvas.text(x + textScale, y + textScale, text, textColorOn(color), textScale);
  }
  return canvas;
}

/** Black or white, whichever reads better on `color` (by its luma). */
function textColorOn(color: VizColor): VizColor {
  const luma = 0.299 * color[0] + 0.587 * color[1] + 0.114 * color[2];
  return luma > 140 ? [0, 0, 0] : [255, 255, 255];
}

/** `canvas` enlarged `scale` times (an integer), each pixel a `scale` x `scale` block (nearest neighbour). */
export function enlarge(canvas: Canvas, scale: number): Canvas {
  if (scale === 1) return canvas;
  const out = new Canvas(canvas.width * scale, canvas.height * scale);
  for (let y = 0; y < out.height; y++) {
    const src = Math.floor(y / scale) * canvas.width;
    for (let x = 0; x < out.width; x++) {
      const i = 4 * (src + Math.floor(x / scale));
      out.data.set(canvas.data.subarray(i, i + 4), 4 * (y * out.width + x));
    }
  }
  return out;
}
