/**
 * Drawing the detector's stages to PNG, from the trace of {@link MaskRCNN.forward} with
 * `{trace: true}` (DESIGN.md, "Inspection is the product"): the anchors at one location, the
 * RPN's targets, the proposals before and after NMS, the sampled RoIs (positives and negatives),
 * the final detections with their class colour, label, score bar and mask, and grids of heat
 * maps (RoI features, mask logits, mask targets).
 *
 * The pieces: a {@link Canvas} (RGBA pixels; boxes, filled rectangles, lines, discs, mask
 * overlays, text in the bitmap fonts of `font.ts`; PNG out through `encodePng` / `writePng`, atomic), {@link drawBoxes},
 * {@link heatmapGrid}, and {@link renderTrace}, which picks the tensors of one view out of a trace.
 *
 * Pixel convention: a box `[x1, y1, x2, y2]` (continuous pixel coordinates, as the detector's)
 * covers the pixels `round(x1) <= x < round(x2)`, `round(y1) <= y < round(y2)`; its outline is
 * drawn on the border pixels of that rectangle, `thickness` pixels inward.
 *
 * @module
 */
import { Tensor } from '../../tensor/index.js';
import { encodePng, writePng } from '../data/png.js';
import { type BitmapFont, FONT_3X5, textWidth } from './font.js';
import { isTrainingTrace, stageKeys, traceKey, type TraceIndex, type TraceKey, type TraceStage } from '../model/trace.js';

/** An RGB colour, 0..255 per channel. */
export type VizColor = readonly [number, number, number];

/** The colours of the views (positive / negative samples, anchors, proposals, ground truth). */
export const VIZ_COLORS = {
  /** Positive anchors and RoIs (foreground). */
  positive: [40, 220, 60] as VizColor,
  /** Negative anchors and RoIs (background). */
  negative: [230, 50, 50] as VizColor,
  /** Anchors. */
  anchor: [255, 200, 0] as VizColor,
  /** Proposals. */
  proposal: [0, 200, 255] as VizColor,
  /** Ground-truth boxes (the RPN targets view). */
  groundTruth: [255, 255, 255] as VizColor,
  /** Text. */
  text: [255, 255, 255] as VizColor,
  /** Background of text labels, score bars and heat-map grids. */
  background: [24, 24, 24] as VizColor,
} as const;

/** Twelve well-separated hues; class k gets `PALETTE[k % 12]` (class 0, background, gray). */
const PALETTE: VizColor[] = [
  [230, 25, 75], [60, 180, 75], [255, 225, 25], [0, 130, 200], [245, 130, 48], [145, 30, 180],
  [70, 240, 240], [240, 50, 230], [210, 245, 60], [250, 190, 190], [0, 128, 128], [170, 110, 40],
];

/** The colour of class `label` (the same in every view): gray for background (0), else a palette hue. */
export function classColor(label: number): VizColor {
  if (label <= 0) return [128, 128, 128];
  return PALETTE[(label - 1) % PALETTE.length]!;
}

/** An RGBA raster to draw on (opaque), written out as PNG. */
export class Canvas {
  /** The pixels: RGBA, row-major, 8 bits per sample. */
  readonly data: Uint8Array;

  /** A `width` x `height` canvas filled with `background`. */
  constructor(
    /** Width in pixels. */
    readonly width: number,
    /** Height in pixels. */
    readonly height: number,
    background: VizColor = [0, 0, 0],
  ) {
    if (!Number.isInteger(width) || !Number.isInteger(height) || width < 1 || height < 1) {
      throw new Error(`Canvas: width and height must be positive integers, got ${width}x${height}`);
    }
    this.data = new Uint8Array(width * height * 4);
    for (let i = 0; i < width * height; i++) this.data.set([background[0], background[1], background[2], 255], 4 * i);
  }

  /**
   * A canvas showing `image`: `[3, H, W]` (RGB) or `[1, H, W]` / `[H, W]` (gray), values in [0, 1]
   * (clamped), or normalised values given `mean` and `std` per channel (the detector's
   * `transform.images`: pixel = value * std + mean).
   */
  static fromImage(image: Tensor, options: { mean?: readonly number[]; std?: readonly number[] } = {}): Canvas {
    const shape = image.ndim === 2 ? [1, ...image.shape] : image.shape;
    if (shape.length !== 3 || (shape[0] !== 1 && shape[0] !== 3)) {
      throw new Error(`Canvas.fromImage: the image must be [3, H, W], [1, H, W] or [H, W], got [${image.shape}]`);
    }
    const [c, h, w] = shape as [number, number, number];
    const canvas = new Canvas(w, h);
    const plane = h * w;
    for (let p = 0; p < plane; p++) {
      for (let k = 0; k < 3; k++) {
        const ch = c === 1 ? 0 : k;
        const v = image.data[ch * plane + p]! * (options.std?.[ch] ?? 1) + (options.mean?.[ch] ?? 0);
        canvas.data[4 * p + k] = Math.min(255, Math.max(0, Math.round(v * 255)));
      }
    }
    return canvas;
  }

  /** The RGB colour of pixel (x, y). */
  pixel(x: number, y: number): VizColor {
    const i = 4 * (y * this.width + x);
    return [this.data[i]!, this.data[i + 1]!, this.data[i + 2]!];
  }

  /** Blends `color` over pixel (x, y) (integers) with opacity `alpha`; pixels off the canvas are skipped. */
  plot(x: number, y: number, color: VizColor, alpha = 1): void {
    if (x < 0 || y < 0 || x >= this.width || y >= this.height) return;
    const i = 4 * (y * this.width + x);
    for (let k = 0; k < 3; k++) this.data[i + k] = Math.round(this.data[i + k]! * (1 - alpha) + color[k]! * alpha);
  }

  /** Fills the pixels `x0 <= x < x1`, `y0 <= y < y1` (rounded), clipped to the canvas. */
  fillRect(x0: number, y0: number, x1: number, y1: number, color: VizColor, alpha = 1): void {
    const xa = Math.max(Math.round(x0), 0);
    const xb = Math.min(Math.round(x1), this.width);
    for (let y = Math.max(Math.round(y0), 0); y < Math.min(Math.round(y1), this.height); y++) {
      for (let x = xa; x < xb; x++) this.plot(x, y, color, alpha);
    }
  }

  /** The outline of box `[x1, y1, x2, y2]` (see the file comment for which pixels), `thickness` pixels inward. */
  drawBox(box: ArrayLike<number>, color: VizColor, thickness = 1, alpha = 1): void {
    const x0 = Math.round(box[0]!);
    const y0 = Math.round(box[1]!);
    const x1 = Math.max(Math.round(box[2]!), x0 + 1);
    const y1 = Math.max(Math.round(box[3]!), y0 + 1);
    const t = Math.max(1, Math.round(thickness));
    this.fillRect(x0, y0, x1, Math.min(y0 + t, y1), color, alpha); // top
    this.fillRect(x0, Math.max(y1 - t, y0 + t), x1, y1, color, alpha); // bottom
    this.fillRect(x0, y0 + t, Math.min(x0 + t, x1), y1 - t, color, alpha); // left
    this.fillRect(Math.max(x1 - t, x0 + t), y0 + t, x1, y1 - t, color, alpha); // right
  }

  /**
   * Overlays a mask: where `mask[y, x] >= threshold` (a `[H, W]` or `[1, H, W]` tensor of the
   * canvas's size, e.g. pasted mask probabilities), `color` is blended in with opacity `alpha`.
   */
  overlayMask(mask: Tensor, color: VizColor, alpha = 0.45, threshold = 0.5): void {
    const hw = mask.shape.slice(-2);
    if (mask.size !== this.width * this.height || hw[0] !== this.height || hw[1] !== this.width) {
      throw new Error(`Canvas.overlayMask: the mask [${mask.shape}] must be [${this.height}, ${this.width}] (the canvas's size)`);
    }
    for (let p = 0; p < mask.size; p++) {
      if (mask.data[p]! >= threshold) this.plot(p % this.width, Math.floor(p / this.width), color, alpha);
    }
  }

  /**
   * Writes `s` in `font` (default the 3x5 one, which upper-cases) with its top-left corner at
   * (x, y), each font cell `scale` x `scale` pixels; returns the width drawn ({@link textWidth}).
   */
  text(x: number, y: number, s: string, color: VizColor, scale = 1, font: BitmapFont = FONT_3X5): number {
    let cx = Math.round(x);
    for (const ch of font.upperCaseOnly ? s.toUpperCase() : s) {
      const glyph = font.glyphs[ch];
      // A descender starts two cells lower and hangs below the line.
      const top = Math.round(y) + (font.descenders.includes(ch) ? 2 * scale : 0);
      if (glyph !== undefined) {
        glyph.forEach((row, gy) => {
          for (let gx = 0; gx < font.width; gx++) {
            if (row[gx] === '#') this.fillRect(cx + gx * scale, top + gy * scale, cx + (gx + 1) * scale, top + (gy + 1) * scale, color);
          }
        });
      }
      cx += font.advance * scale;
    }
    return textWidth(s, scale, font);
  }

  /** Text centred on (cx, cy). */
  centredText(cx: number, cy: number, s: string, color: VizColor, scale = 1, font: BitmapFont = FONT_3X5): void {
    this.text(cx - textWidth(s, scale, font) / 2, cy - (font.height * scale) / 2, s, color, scale, font);
  }

  /** A straight line `thickness` pixels wide from (x0, y0) to (x1, y1); `dash` = [on, off] lengths in pixels for a dashed one. */
  line(x0: number, y0: number, x1: number, y1: number, color: VizColor, thickness = 1, dash?: readonly [number, number]): void {
    const length = Math.hypot(x1 - x0, y1 - y0);
    const steps = Math.max(Math.ceil(length * 2), 1);
    const half = (thickness - 1) / 2;
    for (let s = 0; s <= steps; s++) {
      const t = s / steps;
      if (dash !== undefined && (t * length) % (dash[0] + dash[1]) >= dash[0]) continue;
      const x = x0 + (x1 - x0) * t;
      const y = y0 + (y1 - y0) * t;
      this.fillRect(x - half, y - half, x + half + 1, y + half + 1, color);
    }
  }

  /**
   * The outline of the rectangle with corners (x0, y0) and (x1, y1) in continuous coordinates,
   * as four {@link Canvas.line}s centred on its edges (a figure's shape; a detection's box is
   * {@link Canvas.drawBox}, on the border pixels of the box).
   */
  strokeRect(x0: number, y0: number, x1: number, y1: number, color: VizColor, thickness = 1, dash?: readonly [number, number]): void {
    this.line(x0, y0, x1, y0, color, thickness, dash);
    this.line(x1, y0, x1, y1, color, thickness, dash);
    this.line(x1, y1, x0, y1, color, thickness, dash);
    this.line(x0, y1, x0, y0, color, thickness, dash);
  }

  /** A filled disc of radius r centred on (cx, cy), or a ring `thickness` wide when given. */
  disc(cx: number, cy: number, r: number, color: VizColor, thickness?: number): void {
    const inner = thickness === undefined ? -1 : r - thickness;
    for (let y = Math.floor(cy - r); y <= Math.ceil(cy + r); y++) {
      for (let x = Math.floor(cx - r); x <= Math.ceil(cx + r); x++) {
        const d = Math.hypot(x - cx, y - cy);
        if (d <= r && d > inner) this.plot(x, y, color);
      }
    }
  }

  /** Copies `other` onto this canvas with its top-left corner at (x, y) (clipped). */
  paste(other: Canvas, x: number, y: number): void {
    for (let j = 0; j < other.height; j++) {
      for (let i = 0; i < other.width; i++) {
        const k = 4 * (j * other.width + i);
        this.plot(x + i, y + j, [other.data[k]!, other.data[k + 1]!, other.data[k + 2]!]);
      }
    }
  }

  /** The canvas as PNG bytes (RGBA, 8 bits). */
  toPng(): Buffer {
    return encodePng({ width: this.width, height: this.height, channels: 4, data: this.data });
  }

  /** Writes the canvas to `path` as PNG, atomically (temp file, fsync, rename). */
  save(path: string): void {
    writePng(path, { width: this.width, height: this.height, channels: 4, data: this.data });
  }
}

/** How {@link drawBoxes} draws each box. */
export interface BoxStyle {
  /** One colour for every box (default {@link VIZ_COLORS}.proposal). */
  color?: VizColor;
  /** A colour per box (overrides `color`). */
  colors?: readonly VizColor[];
  /** Outline thickness in pixels (default 1). */
  thickness?: number;
  /** A text label per box, written above its top-left corner. */
  labels?: readonly string[];
  /** A score in [0, 1] per box, drawn as a bar (filled in proportion) above the box. */
  scores?: ArrayLike<number>;
  /** Draw at most this many boxes, the first ones (default all). */
  maxBoxes?: number;
  /** Outline opacity (default 1). */
  alpha?: number;
}

/** Length in pixels of a full score bar. */
const SCORE_BAR = 24;

/**
 * Draws `boxes` (`[B, 4]`, x1 y1 x2 y2) on `target` (a canvas, drawn on in place, or an image
 * tensor for {@link Canvas.fromImage}), each with its colour, optional label and score bar.
 */
export function drawBoxes(target: Canvas | Tensor, boxes: Tensor, style: BoxStyle = {}): Canvas {
  const canvas = target instanceof Canvas ? target : Canvas.fromImage(target);
  if (boxes.ndim !== 2 || boxes.shape[1] !== 4) throw new Error(`drawBoxes: boxes must be [B, 4], got [${boxes.shape}]`);
  const n = Math.min(boxes.shape[0]!, style.maxBoxes ?? Infinity);
  for (let j = 0; j < n; j++) {
    const box = boxes.data.subarray(4 * j, 4 * j + 4);
    const color = style.colors?.[j] ?? style.color ?? VIZ_COLORS.proposal;
    canvas.drawBox(box, color, style.thickness ?? 1, style.alpha ?? 1);
    // Annotations sit on a dark strip above the box (inside it when the box touches the top).
    const label = style.labels?.[j];
    const score = style.scores?.[j];
    if (label === undefined && score === undefined) continue;
    const x = Math.round(box[0]!);
    const width = Math.max(label !== undefined ? textWidth(label) + 2 : 0, score !== undefined ? SCORE_BAR + 2 : 0);
    const height = (label !== undefined ? 6 : 0) + (score !== undefined ? 3 : 0) + 1;
    const y = Math.round(box[1]!) - height >= 0 ? Math.round(box[1]!) - height : Math.round(box[1]!);
    canvas.fillRect(x, y, x + width, y + height, VIZ_COLORS.background, 0.8);
    let yy = y + 1;
    if (label !== undefined) {
      canvas.text(x + 1, yy, label, VIZ_COLORS.text);
      yy += 6;
    }
    if (score !== undefined) {
      const s = Math.min(1, Math.max(0, score));
      canvas.fillRect(x + 1, yy, x + 1 + Math.round(SCORE_BAR * s), yy + 2, color);
    }
  }
  return canvas;
}

/** Options of {@link heatmapGrid}. */
export interface HeatmapGridOptions {
  /** Cells per row (default `ceil(sqrt(N))`). */
  columns?: number;
  /** Pixels per map cell (default 4). */
  scale?: number;
  /** Pixels between cells (default 1). */
  gap?: number;
  /** The values mapped to the ends of the colour scale (default: each map's own min and max). */
  range?: readonly [number, number];
  /** Draw at most this many maps (default 64). */
  maxMaps?: number;
}

/** The viridis colour scale at five stops, interpolated linearly. */
const VIRIDIS: VizColor[] = [[68, 1, 84], [59, 82, 139], [33, 145, 140], [94, 201, 98], [253, 231, 37]];

/** The colour of `t` in [0, 1] on the viridis scale (low = dark purple, high = yellow). */
export function heatColor(t: number): VizColor {
  const u = Math.min(1, Math.max(0, Number.isNaN(t) ? 0 : t)) * (VIRIDIS.length - 1);
  const i = Math.min(Math.floor(u), VIRIDIS.length - 2);
  const f = u - i;
  const a = VIRIDIS[i]!;
  const b = VIRIDIS[i + 1]!;
  return [Math.round(a[0] + (b[0] - a[0]) * f), Math.round(a[1] + (b[1] - a[1]) * f), Math.round(a[2] + (b[2] - a[2]) * f)];
}

/** Options of {@link divergingColor}. */
export interface DivergingColorOptions {
  /** The colour of the most negative values (default pure blue). */
  negative?: VizColor;
  /** The colour of the most positive values (default pure red). */
  positive?: VizColor;
  /** How far towards those colours the extremes go, 0..1 (default 1: all the way). */
  strength?: number;
}

/**
 * The colour of a signed value on a diverging scale: white at 0, blended towards `positive`
 * (or `negative`) in proportion to `|v| / vmax` (clamped at 1); a non-finite value is grey.
 * Feature maps, kernels and the course's figures use it, where the sign matters.
 */
export function divergingColor(v: number, vmax: number, options: DivergingColorOptions = {}): VizColor {
  if (!Number.isFinite(v)) return [200, 200, 200];
  const t = Math.min(Math.abs(v) / vmax, 1) * (options.strength ?? 1);
  const target = v < 0 ? (options.negative ?? [0, 0, 255]) : (options.positive ?? [255, 0, 0]);
  return [Math.round(255 * (1 - t) + target[0] * t), Math.round(255 * (1 - t) + target[1] * t), Math.round(255 * (1 - t) + target[2] * t)];
}

/**
 * A heat map of a small 2-D array of signed values: `cell` x `cell` pixels per value coloured by
 * {@link divergingColor} (white 0, red positive, blue negative, scaled by the largest |value|),
 * with a one-pixel grey grid on the cells' top and left edges.
 */
export function divergingHeatmap(rows: readonly (readonly number[])[], cell = 24): Canvas {
  const h = rows.length;
  const w = rows[0]?.length ?? 0;
  const vmax = Math.max(1e-12, ...rows.flat().map(Math.abs));
  const canvas = new Canvas(Math.max(1, w * cell), Math.max(1, h * cell), [255, 255, 255]);
  for (let r = 0; r < h; r++) {
    for (let c = 0; c < w; c++) {
      canvas.fillRect(c * cell, r * cell, (c + 1) * cell, (r + 1) * cell, divergingColor(rows[r]![c]!, vmax));
      canvas.fillRect(c * cell, r * cell, (c + 1) * cell, r * cell + 1, [200, 200, 200]);
      canvas.fillRect(c * cell, r * cell, c * cell + 1, (r + 1) * cell, [200, 200, 200]);
    }
  }
  return canvas;
}

/**
 * A grid of heat maps: `maps` is `[N, H, W]` (or `[N, 1, H, W]`); map n fills cell n (row-major),
 * each value a `scale` x `scale` square coloured by {@link heatColor} on `range` (default per map).
 */
export function heatmapGrid(maps: Tensor, options: HeatmapGridOptions = {}): Canvas {
  const shape = maps.ndim === 4 && maps.shape[1] === 1 ? [maps.shape[0]!, maps.shape[2]!, maps.shape[3]!] : maps.shape;
  if (shape.length !== 3) throw new Error(`heatmapGrid: maps must be [N, H, W] or [N, 1, H, W], got [${maps.shape}]`);
  const [total, h, w] = shape as [number, number, number];
  const n = Math.min(total, options.maxMaps ?? 64);
  const scale = options.scale ?? 4;
  const gap = options.gap ?? 1;
  const columns = Math.max(1, options.columns ?? Math.ceil(Math.sqrt(Math.max(n, 1))));
  const rows = Math.max(1, Math.ceil(n / columns));
  const canvas = new Canvas(columns * (w * scale + gap) + gap, rows * (h * scale + gap) + gap, VIZ_COLORS.background);
  for (let m = 0; m < n; m++) {
    const values = maps.data.subarray(m * h * w, (m + 1) * h * w);
    let [lo, hi] = options.range ?? [Infinity, -Infinity];
    if (options.range === undefined) for (const v of values) if (!Number.isNaN(v)) [lo, hi] = [Math.min(lo, v), Math.max(hi, v)];
    const span = hi > lo ? hi - lo : 1;
    const x0 = gap + (m % columns) * (w * scale + gap);
    const y0 = gap + Math.floor(m / columns) * (h * scale + gap);
    for (let y = 0; y < h; y++) {
      for (let x = 0; x < w; x++) canvas.fillRect(x0 + x * scale, y0 + y * scale, x0 + (x + 1) * scale, y0 + (y + 1) * scale, heatColor((values[y * w + x]! - lo) / span));
    }
  }
  return canvas;
}

/**
 * The views {@link renderTrace} draws: on the resized, padded image (`transform.images`)
 * `anchors` (every anchor of every level at the location nearest a point), `rpn_targets`
 * (positive anchors and the GT boxes they match; training trace), `proposals_before_nms` (the
 * decoded anchors with the highest objectness), `proposals` (after NMS), `sampled_rois`
 * (positives and negatives; training trace); on the original image `detections` (boxes, label,
 * score bar, masks); heat-map grids `roi_features` (the box branch's RoIAlign output, mean over
 * channels), `mask_logits` (each RoI's logits of its class), `mask_logits_per_class` (every
 * class's logits of one RoI) and `mask_targets` (training trace); `rpn_objectness` (the RPN's
 * objectness probability, one map per anchor of a location, on one FPN level) and
 * `fpn_features` (the first channels of one FPN level, P2..P6).
 */
export type TraceView =
  | 'anchors'
  | 'rpn_targets'
  | 'proposals_before_nms'
  | 'proposals'
  | 'sampled_rois'
  | 'detections'
  | 'roi_features'
  | 'mask_logits'
  | 'mask_logits_per_class'
  | 'mask_targets'
  | 'rpn_objectness'
  | 'fpn_features';

/** Options of {@link renderTrace}. */
export interface RenderTraceOptions {
  /** Which image of the batch (default 0). */
  image?: number;
  /** At most this many boxes (default 100; `anchors` draws every level's anchors at one location). */
  maxBoxes?: number;
  /** The point whose nearest anchor location `anchors` shows, in resized-image pixels (default the image centre). */
  at?: readonly [number, number];
  /** Mean and std of the normalisation, to show `transform.images` (default ImageNet's, torchvision's). */
  imageMean?: readonly number[];
  /** See `imageMean`. */
  imageStd?: readonly number[];
  /** Class names by label for `detections` (default the label number). */
  classNames?: readonly string[];
  /** Mask threshold and opacity of `detections` (defaults 0.5 and 0.45). */
  maskThreshold?: number;
  /** See `maskThreshold`. */
  maskAlpha?: number;
  /** The RoI whose per-class logits `mask_logits_per_class` shows (default 0). */
  roi?: number;
  /** The FPN level of `rpn_objectness` and `fpn_features`: 0 = P2 ... 4 = P6 (default 0). */
  level?: number;
  /** Heat-map grid options. */
  grid?: HeatmapGridOptions;
}

const IMAGENET_MEAN = [0.485, 0.456, 0.406];
const IMAGENET_STD = [0.229, 0.224, 0.225];

/**
 * Draws one view of a trace (see {@link TraceView}) from {@link MaskRCNN.forward}`(images,
 * targets, {trace: true})`. Works on an evaluation trace and on a training trace (one with the
 * loss terms, whose RPN and RoI-head tensors are named `train.*`; {@link traceKey}). Throws naming
 * the missing tensor when the trace lacks what the view needs (e.g. `sampled_rois` from an
 * evaluation trace).
 */
export function renderTrace(trace: ReadonlyMap<TraceKey, Tensor>, view: TraceView, options: RenderTraceOptions = {}): Canvas {
  const i = options.image ?? 0;
  const maxBoxes = options.maxBoxes ?? 100;
  const training = isTrainingTrace(trace);
  const key = <S extends TraceStage>(stage: S, ...index: TraceIndex<S>): TraceKey => traceKey(stage, training, ...index);
  const get = <S extends TraceStage>(stage: S, ...index: TraceIndex<S>): Tensor => {
    const name = key(stage, ...index);
    const t = trace.get(name);
    if (t === undefined) throw new Error(`renderTrace: view '${view}' needs '${name}', which the trace does not have`);
    return t;
  };
  const resized = (): Canvas => {
    const batch = get('transform.images');
    const [, c, h, w] = batch.shape as [number, number, number, number];
    const img = new Tensor(batch.data.subarray(i * c * h * w, (i + 1) * c * h * w), [c, h, w]);
    return Canvas.fromImage(img, { mean: options.imageMean ?? IMAGENET_MEAN, std: options.imageStd ?? IMAGENET_STD });
  };
  switch (view) {
    case 'anchors': {
      const anchors = get('rpn.anchors', i);
      const counts = Array.from(get('rpn.num_anchors_per_level').data);
      const canvas = resized();
      const sizes = get('transform.image_sizes');
      const [px, py] = options.at ?? [sizes.data[2 * i + 1]! / 2, sizes.data[2 * i]! / 2];
      // Per level: the location whose anchors' centre is nearest (px, py); all its anchors (one per ratio and size).
      const rows: number[] = [];
      const levels: number[] = [];
      let start = 0;
      counts.forEach((count, l) => {
        let best = Infinity;
        for (let a = start; a < start + count; a++) {
          const d = Math.hypot((anchors.data[4 * a]! + anchors.data[4 * a + 2]!) / 2 - px, (anchors.data[4 * a + 1]! + anchors.data[4 * a + 3]!) / 2 - py);
          if (d < best - 1e-6) {
            best = d;
          }
        }
        for (let a = start; a < start + count; a++) {
          const d = Math.hypot((anchors.data[4 * a]! + anchors.data[4 * a + 2]!) / 2 - px, (anchors.data[4 * a + 1]! + anchors.data[4 * a + 3]!) / 2 - py);
          if (Math.abs(d - best) <= 1e-6 && rows.length < 4 * maxBoxes) {
            rows.push(a);
            levels.push(l);
          }
        }
        start += count;
      });
      return drawBoxes(canvas, takeBoxes(anchors, rows), { colors: levels.map((l) => classColor(l + 1)) });
    }
    case 'rpn_targets': {
      const anchors = get('rpn.anchors', i);
      const labels = get('rpn.anchor_labels', i);
      const matched = get('rpn.matched_gt_boxes', i);
      const positives: number[] = [];
      for (let a = 0; a < labels.size && positives.length < maxBoxes; a++) if (labels.data[a]! === 1) positives.push(a);
      const canvas = drawBoxes(resized(), takeBoxes(anchors, positives), { color: VIZ_COLORS.positive });
      return drawBoxes(canvas, takeBoxes(matched, positives), { color: VIZ_COLORS.groundTruth, thickness: 2 });
    }
    case 'proposals_before_nms': {
      const decoded = get('rpn.decoded_proposals');
      const objectness = get('rpn.objectness_flat');
      const a = objectness.shape[1]!;
      const scores = objectness.data.subarray(i * a, (i + 1) * a);
      const order = Array.from({ length: a }, (_, j) => j).sort((p, q) => scores[q]! - scores[p]!).slice(0, maxBoxes);
      const boxes = new Tensor(decoded.data.subarray(i * a * 4, (i + 1) * a * 4), [a, 4]);
      return drawBoxes(resized(), takeBoxes(boxes, order), { color: VIZ_COLORS.proposal, scores: order.map((j) => 1 / (1 + Math.exp(-scores[j]!))) });
    }
    case 'proposals': {
      const boxes = get('rpn.proposals', i);
      return drawBoxes(resized(), boxes, { color: VIZ_COLORS.proposal, maxBoxes });
    }
    case 'sampled_rois': {
      const boxes = get('roi_heads.proposals_with_gt', i);
      const labels = get('roi_heads.labels', i);
      // Negatives first, so that positives are drawn on top.
      const neg: number[] = [];
      const pos: number[] = [];
      for (let j = 0; j < labels.size; j++) (labels.data[j]! > 0 ? pos : neg).push(j);
      const canvas = drawBoxes(resized(), takeBoxes(boxes, neg.slice(0, maxBoxes)), { color: VIZ_COLORS.negative });
      return drawBoxes(canvas, takeBoxes(boxes, pos.slice(0, maxBoxes)), { color: VIZ_COLORS.positive });
    }
    case 'detections': {
      const canvas = Canvas.fromImage(get('input.image', i));
      const boxes = get('output.boxes', i);
      const labels = get('output.labels', i);
      const scores = get('output.scores', i);
      const masks = trace.get(key('output.masks', i));
      const n = Math.min(boxes.shape[0]!, maxBoxes);
      const colors = Array.from(labels.data.subarray(0, n), (l) => classColor(l));
      if (masks !== undefined) {
        const hw = masks.shape[2]! * masks.shape[3]!;
        for (let d = n - 1; d >= 0; d--) {
          canvas.overlayMask(new Tensor(masks.data.subarray(d * hw, (d + 1) * hw), [masks.shape[2]!, masks.shape[3]!]), colors[d]!, options.maskAlpha ?? 0.45, options.maskThreshold ?? 0.5);
        }
      }
      const names = Array.from(labels.data.subarray(0, n), (l, d) => `${options.classNames?.[l] ?? l} ${scores.data[d]!.toFixed(2)}`);
      return drawBoxes(canvas, boxes, { colors, labels: names, scores: scores.data, maxBoxes: n, thickness: 2 });
    }
    case 'roi_features': {
      const pooled = get('roi_heads.box_roi_pool');
      const [r, c, h, w] = pooled.shape as [number, number, number, number];
      const mean = new Float32Array(r * h * w);
      for (let j = 0; j < r; j++) {
        for (let ch = 0; ch < c; ch++) {
          for (let p = 0; p < h * w; p++) mean[j * h * w + p]! += pooled.data[(j * c + ch) * h * w + p]! / c;
        }
      }
      return heatmapGrid(new Tensor(mean, [r, h, w]), options.grid);
    }
    case 'mask_logits': {
      const logits = get('roi_heads.mask_logits');
      const [r, k, h, w] = logits.shape as [number, number, number, number];
      // Each RoI's class: the detections' labels (evaluation) or the GT labels the loss reads (training).
      const labels: number[] = training ? Array.from(get('roi_heads.mask_target_labels').data) : stageKeys(trace, 'roi_heads.detections.labels').flatMap((k) => Array.from(trace.get(k)!.data));
      const picked = new Float32Array(r * h * w);
      for (let j = 0; j < r; j++) {
        const cls = Math.min(k - 1, Math.max(0, labels[j] ?? 0));
        picked.set(logits.data.subarray((j * k + cls) * h * w, (j * k + cls + 1) * h * w), j * h * w);
      }
      return heatmapGrid(new Tensor(picked, [r, h, w]), options.grid);
    }
    case 'mask_logits_per_class': {
      const logits = get('roi_heads.mask_logits');
      const [r, k, h, w] = logits.shape as [number, number, number, number];
      const j = options.roi ?? 0;
      if (j < 0 || j >= r) throw new Error(`renderTrace: roi ${j} is out of range: the trace has ${r} mask RoIs`);
      return heatmapGrid(new Tensor(logits.data.subarray(j * k * h * w, (j + 1) * k * h * w), [k, h, w]), { columns: k, ...options.grid });
    }
    case 'mask_targets':
      return heatmapGrid(get('roi_heads.mask_targets'), { range: [0, 1], ...options.grid });
    case 'rpn_objectness': {
      const level = options.level ?? 0;
      const logits = get('rpn.head.objectness', level);
      const [, a, h, w] = logits.shape as [number, number, number, number];
      const probs = new Float32Array(a * h * w);
      for (let p = 0; p < probs.length; p++) probs[p] = 1 / (1 + Math.exp(-logits.data[i * a * h * w + p]!));
      return heatmapGrid(new Tensor(probs, [a, h, w]), { columns: a, scale: mapScale(h, w), range: [0, 1], ...options.grid });
    }
    case 'fpn_features': {
      const level = options.level ?? 0;
      const names = stageKeys(trace, 'fpn');
      const name = names[level];
      if (name === undefined) throw new Error(`renderTrace: FPN level ${level} is out of range: the trace has ${names.length} FPN levels (${names.join(', ') || 'none'})`);
      const features = trace.get(name)!;
      const [, c, h, w] = features.shape as [number, number, number, number];
      const n = Math.min(c, options.grid?.maxMaps ?? 16);
      return heatmapGrid(new Tensor(features.data.subarray(i * c * h * w, (i * c + n) * h * w), [n, h, w]), { scale: mapScale(h, w), ...options.grid });
    }
    default:
      throw new Error(`renderTrace: unknown view '${String(view)}'`);
  }
}

/** Pixels per value of a heat map of `h` x `w` values: about 128 px across, 1..8. */
function mapScale(h: number, w: number): number {
  return Math.max(1, Math.min(8, Math.floor(128 / Math.max(h, w, 1))));
}

/** Rows `rows` of a `[B, 4]` box tensor. */
function takeBoxes(boxes: Tensor, rows: readonly number[]): Tensor {
  const out = new Float32Array(4 * rows.length);
  rows.forEach((r, j) => out.set(boxes.data.subarray(4 * r, 4 * r + 4), 4 * j));
  return new Tensor(out, [rows.length, 4]);
}
