/**
 * The picture of the Mask R-CNN paper's Figure 3, for any feature map and RoI: RoIPool and
 * RoIAlign side by side on the same feature grid.
 *
 * - Left, **RoIPool**: the box scaled to the feature map (dashed), the region it is rounded to
 *   (solid black: whole cells), the cells of each quantized bin (coloured outlines, inset so
 *   that overlapping bins stay visible) and each bin's maximum (a ring of the bin's colour).
 * - Right, **RoIAlign**: the exact box (solid black), its `PH x PW` bins (thin black lines),
 *   every sample point (red dots), and for the first sample the four cells its bilinear
 *   interpolation reads (grey spokes).
 * - Under each panel, the pooled `PH x PW` output with its values.
 *
 * Cells are shaded by value (blue negative, white 0, red positive) and labelled with their
 * values when they are large enough. The drawing uses *sampling coordinates*: the value of cell
 * `(r, c)` sits at the point `(r, c)`, the centre of its square, which is where torchvision's
 * bilinear interpolation puts it; a RoIAlign sample then lies among the four cell centres it
 * interpolates. With `aligned: true` the RoIAlign box is drawn shifted by -0.5 cell, as it is
 * sampled.
 *
 * Everything is drawn on the pictures' one {@link Canvas} (lines, rectangles, discs, the 5x7
 * font of `font.ts`) and encoded by `encodePng`; the bytes are deterministic.
 */
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { writeFileAtomic } from '../../util/atomic_write.js';
import type { Tensor } from '../../tensor/index.js';
import { inspectRoiAlign, inspectRoiPool, type RoiLike } from '../../ops/index.js';
import { Canvas, divergingColor, type VizColor } from './viz.js';
import { FONT_5X7, textWidth } from './font.js';

/** An RGB colour (the canvas's {@link VizColor}). */
export type FigureColor = VizColor;

/** The colours of {@link drawRoiFigure} (exported so that tests and documents can refer to them). */
export const ROI_FIGURE_STYLE = {
  /** Page background. */
  background: [255, 255, 255] as FigureColor,
  /** Text, boxes and bin lines. */
  ink: [20, 20, 20] as FigureColor,
  /** The dashed feature-map grid. */
  grid: [150, 150, 150] as FigureColor,
  /** RoIAlign's sample points. */
  sample: [214, 0, 48] as FigureColor,
  /** The spokes from the first sample to its four neighbours. */
  spoke: [70, 70, 70] as FigureColor,
  /** Negative values shade towards this colour. */
  negative: [49, 104, 189] as FigureColor,
  /** Positive values shade towards this colour. */
  positive: [214, 72, 52] as FigureColor,
  /** RoIPool's bins cycle through these (Okabe-Ito colours). */
  bins: [
    [230, 159, 0],
    [0, 158, 115],
    [86, 180, 233],
    [204, 121, 167],
    [240, 228, 66],
    [0, 114, 178],
  ] as readonly FigureColor[],
} as const;

/** Options of {@link drawRoiFigure}. */
export interface RoiFigureOptions {
  /** The pooled size `PH x PW` (default 2, as in the paper's figure). */
  outputSize?: number | readonly [number, number];
  /** Feature-map cells per image pixel (default 1). */
  spatialScale?: number;
  /** RoIAlign's samples per bin and axis (default -1: adaptive, as {@link roiAlign}). */
  samplingRatio?: number;
  /** RoIAlign's half-cell offset (default false). */
  aligned?: boolean;
  /** RoIAlign's aggregation, for the output shown (default 'avg'). */
  mode?: 'avg' | 'max';
  /** The channel to draw (default 0). */
  channel?: number;
  /** Pixels per feature cell (default 64; at least 8). */
  cellSize?: number;
}

/** A point in the picture, in pixels. */
export interface PixelPoint {
  /** Column. */
  x: number;
  /** Row. */
  y: number;
}

/** Where things are in {@link drawRoiFigure}'s picture ({@link roiFigureLayout}). */
export interface RoiFigureLayout {
  /** Picture width in pixels. */
  width: number;
  /** Picture height in pixels. */
  height: number;
  /** Pixels per feature cell. */
  cellSize: number;
  /** The feature-coordinate window each panel shows: `[x0, y0, x1, y1]`. */
  view: [number, number, number, number];
  /** Top-left pixel of the RoIPool panel's window. */
  poolOrigin: PixelPoint;
  /** Top-left pixel of the RoIAlign panel's window. */
  alignOrigin: PixelPoint;
  /** The pixel centre of every RoIAlign sample point that falls in the window, bin by bin. */
  samplePoints: PixelPoint[];
}


// ---------------------------------------------------------------------------------------------
// The figure
// ---------------------------------------------------------------------------------------------

const MARGIN = 28;
const GAP = 56;
const TITLE = 3; // font scale of the panel titles
const SUBTITLE = 2;

interface Scene {
  layout: RoiFigureLayout;
  PH: number;
  PW: number;
  H: number;
  W: number;
  values: number[][];
  vmax: number;
  pool: ReturnType<typeof inspectRoiPool>[][];
  align: ReturnType<typeof inspectRoiAlign>[][];
  alignOutput: number[][];
  subtitleAlign: string;
  mode: 'avg' | 'max';
  subtitlePool: string;
  titleTop: number;
  outputTop: number;
  outputCell: number;
}

function outputPair(v: number | readonly [number, number] | undefined): [number, number] {
  const s = v ?? 2;
  return typeof s === 'number' ? [s, s] : [s[0], s[1]];
}

function scene(input: Tensor, roi: RoiLike, options: RoiFigureOptions): Scene {
  const [PH, PW] = outputPair(options.outputSize);
  const spatialScale = options.spatialScale ?? 1;
  const channel = options.channel ?? 0;
  const common = { outputSize: [PH, PW] as [number, number], spatialScale, channel };
  const alignOptions = { ...common, samplingRatio: options.samplingRatio ?? -1, aligned: options.aligned ?? false };
  // The inspection functions validate everything (shapes, RoI, channel) and give every number drawn.
  const pool = [...Array(PH).keys()].map((ph) => [...Array(PW).keys()].map((pw) => inspectRoiPool(input, roi, common, [ph, pw])));
  const align = [...Array(PH).keys()].map((ph) => [...Array(PW).keys()].map((pw) => inspectRoiAlign(input, roi, alignOptions, [ph, pw])));
  const mode = options.mode ?? 'avg';
  if (mode !== 'avg' && mode !== 'max') throw new Error(`drawRoiFigure: mode must be 'avg' or 'max', got ${JSON.stringify(mode)}`);
  const cell = options.cellSize ?? 64;
  if (!Number.isInteger(cell) || cell < 8 || cell > 512) throw new Error(`drawRoiFigure: cellSize must be an integer in 8..512, got ${cell}`);
  const [, C, H, W] = input.shape as [number, number, number, number];
  const plane = ((pool[0]![0]!.roi[0] ?? 0) * C + channel) * H * W;
  const values = [...Array(H).keys()].map((r) => [...Array(W).keys()].map((c) => input.data[plane + r * W + c]!));
  const a = align[0]![0]!;
  const p = pool[0]![0]!;
  // The window: the map's cells (centred on integer points) and both boxes, with a little room,
  // never more than 3 cells beyond the map.
  const xs = [-0.5, W - 0.5, a.roiStartW, a.roiEndW, p.scaled.x1, p.scaled.x2, p.roiStartW - 0.5, p.roiEndW + 0.5];
  const ys = [-0.5, H - 0.5, a.roiStartH, a.roiEndH, p.scaled.y1, p.scaled.y2, p.roiStartH - 0.5, p.roiEndH + 0.5];
  const clampView = (v: number, lo: number, hi: number) => Math.min(Math.max(v, lo), hi);
  const x0 = clampView(Math.min(...xs) - 0.25, -3.5, -0.5);
  const x1 = clampView(Math.max(...xs) + 0.25, W - 0.5, W + 2.5);
  const y0 = clampView(Math.min(...ys) - 0.25, -3.5, -0.5);
  const y1 = clampView(Math.max(...ys) + 0.25, H - 0.5, H + 2.5);
  const panelW = Math.round((x1 - x0) * cell);
  const panelH = Math.round((y1 - y0) * cell);
  const grid = a.gridH > 0 && a.gridW > 0 ? `${a.gridH}x${a.gridW}` : 'no';
  const subtitlePool = 'round the box, max per bin';
  const subtitleAlign = `exact box, ${grid} samples, ${mode}`;
  const minWidth = Math.max(textWidth(subtitlePool, SUBTITLE, FONT_5X7), textWidth(subtitleAlign, SUBTITLE, FONT_5X7));
  const panelSlot = Math.max(panelW, minWidth);
  const titleTop = MARGIN;
  const top = titleTop + 7 * TITLE + 10 + 7 * SUBTITLE + 16;
  const outputCell = Math.max(Math.min(cell, Math.floor(panelSlot / Math.max(PW, 1)), 72), 12);
  const outputTop = top + panelH + 20 + 7 * SUBTITLE + 10;
  const height = outputTop + PH * outputCell + MARGIN;
  const width = MARGIN * 2 + panelSlot * 2 + GAP;
  const poolOrigin = { x: MARGIN + Math.round((panelSlot - panelW) / 2), y: top };
  const alignOrigin = { x: MARGIN + panelSlot + GAP + Math.round((panelSlot - panelW) / 2), y: top };
  const toPixel = (fy: number, fx: number): PixelPoint => ({ x: alignOrigin.x + (fx - x0) * cell, y: alignOrigin.y + (fy - y0) * cell });
  const samplePoints: PixelPoint[] = [];
  for (const row of align) {
    for (const b of row) {
      for (const s of b.samples) if (s.x >= x0 && s.x <= x1 && s.y >= y0 && s.y <= y1) samplePoints.push(toPixel(s.y, s.x));
    }
  }
  let vmax = 1e-12;
  for (const row of values) for (const v of row) if (Number.isFinite(v)) vmax = Math.max(vmax, Math.abs(v));
  const alignOutput = align.map((row) => row.map((b) => (mode === 'max' ? b.max : b.output)));
  return {
    layout: { width, height, cellSize: cell, view: [x0, y0, x1, y1], poolOrigin, alignOrigin, samplePoints },
    PH,
    PW,
    H,
    W,
    values,
    vmax,
    pool,
    align,
    alignOutput,
    subtitleAlign,
    subtitlePool,
    mode,
    titleTop,
    outputTop,
    outputCell,
  };
}

/** The shade of a value: white at 0, towards red (positive) or blue (negative) at ±vmax. */
function shade(v: number, vmax: number): FigureColor {
  return divergingColor(v, vmax, { negative: ROI_FIGURE_STYLE.negative, positive: ROI_FIGURE_STYLE.positive, strength: 0.75 });
}

/** A value as text that fits `room` pixels at font scale 1 ('' if none fits). */
function label(v: number, room: number): string {
  for (const digits of [4, 3, 2, 1]) {
    const s = v.toFixed(digits);
    if (textWidth(s, 1, FONT_5X7) <= room) return s;
  }
  return '';
}

/** Text colour on a cell of colour `c`: the ink, or white on dark shades. */
function inkOn(c: FigureColor): FigureColor {
  return 0.3 * c[0] + 0.59 * c[1] + 0.11 * c[2] < 110 ? [255, 255, 255] : ROI_FIGURE_STYLE.ink;
}

function drawGrid(r: Canvas, sc: Scene, origin: PixelPoint): void {
  const { cellSize: cell, view } = sc.layout;
  const [x0, y0, x1, y1] = view;
  const px = (fx: number) => origin.x + (fx - x0) * cell;
  const py = (fy: number) => origin.y + (fy - y0) * cell;
  // The window beyond the map: a light hatch-free grey.
  r.fillRect(px(x0), py(y0), px(x1), py(y1), [243, 243, 243]);
  for (let row = 0; row < sc.H; row++) {
    for (let col = 0; col < sc.W; col++) {
      const v = sc.values[row]![col]!;
      const c = shade(v, sc.vmax);
      r.fillRect(px(col - 0.5), py(row - 0.5), px(col + 0.5), py(row + 0.5), c);
      const text = cell >= 56 ? label(v, cell - 8) : '';
      if (text !== '') r.centredText(px(col), py(row) + cell * 0.3, text, inkOn(c), 1, FONT_5X7);
      r.disc(px(col), py(row), Math.max(1.5, cell * 0.03), [110, 110, 110]);
    }
  }
  // The dashed grid of the paper's figure: cell borders.
  for (let col = 0; col <= sc.W; col++) r.line(px(col - 0.5), py(-0.5), px(col - 0.5), py(sc.H - 0.5), ROI_FIGURE_STYLE.grid, 1, [4, 4]);
  for (let row = 0; row <= sc.H; row++) r.line(px(-0.5), py(row - 0.5), px(sc.W - 0.5), py(row - 0.5), ROI_FIGURE_STYLE.grid, 1, [4, 4]);
  r.strokeRect(px(-0.5), py(-0.5), px(sc.W - 0.5), py(sc.H - 0.5), [120, 120, 120], 1);
}

function drawOutput(r: Canvas, sc: Scene, centreX: number, values: number[][], title: string): void {
  const cell = sc.outputCell;
  const left = Math.round(centreX - (sc.PW * cell) / 2);
  r.centredText(centreX, sc.outputTop - 10 - (7 * SUBTITLE) / 2, title, ROI_FIGURE_STYLE.ink, SUBTITLE, FONT_5X7);
  for (let ph = 0; ph < sc.PH; ph++) {
    for (let pw = 0; pw < sc.PW; pw++) {
      const v = values[ph]![pw]!;
      const c = shade(v, sc.vmax);
      const [xa, ya] = [left + pw * cell, sc.outputTop + ph * cell];
      r.fillRect(xa, ya, xa + cell, ya + cell, c);
      r.strokeRect(xa, ya, xa + cell, ya + cell, [120, 120, 120], 1);
      const text = cell >= 36 ? label(v, cell - 6) : '';
      if (text !== '') r.centredText(xa + cell / 2, ya + cell / 2, text, inkOn(c), 1, FONT_5X7);
    }
  }
}

function render(sc: Scene): Canvas {
  const { layout } = sc;
  const { cellSize: cell, view, poolOrigin, alignOrigin } = layout;
  const [x0, y0] = view;
  const r = new Canvas(layout.width, layout.height, ROI_FIGURE_STYLE.background);
  const panelSlot = (layout.width - 2 * MARGIN - GAP) / 2;
  const centres = [MARGIN + panelSlot / 2, MARGIN + panelSlot + GAP + panelSlot / 2];
  r.centredText(centres[0]!, sc.titleTop + (7 * TITLE) / 2, 'RoIPool', ROI_FIGURE_STYLE.ink, TITLE, FONT_5X7);
  r.centredText(centres[1]!, sc.titleTop + (7 * TITLE) / 2, 'RoIAlign', ROI_FIGURE_STYLE.ink, TITLE, FONT_5X7);
  const subY = sc.titleTop + 7 * TITLE + 10 + (7 * SUBTITLE) / 2;
  r.centredText(centres[0]!, subY, sc.subtitlePool, [90, 90, 90], SUBTITLE, FONT_5X7);
  r.centredText(centres[1]!, subY, sc.subtitleAlign, [90, 90, 90], SUBTITLE, FONT_5X7);

  // RoIPool: the exact box (dashed), the rounded region (solid), each bin's cells and maximum.
  drawGrid(r, sc, poolOrigin);
  const ppx = (fx: number) => poolOrigin.x + (fx - x0) * cell;
  const ppy = (fy: number) => poolOrigin.y + (fy - y0) * cell;
  const p = sc.pool[0]![0]!;
  sc.pool.flat().forEach((b, i) => {
    if (b.empty) return;
    const colour = ROI_FIGURE_STYLE.bins[i % ROI_FIGURE_STYLE.bins.length]!;
    const inset = 4 + 4 * (((b.bin[0] % 2) + (b.bin[1] % 2)) % 2);
    r.strokeRect(ppx(b.wstart - 0.5) + inset, ppy(b.hstart - 0.5) + inset, ppx(b.wend - 0.5) - inset, ppy(b.hend - 0.5) - inset, colour, 3);
    if (b.argmax !== null) {
      const ring = Math.max(5, cell * 0.2);
      r.disc(ppx(b.argmax.x), ppy(b.argmax.y), ring + 1.5, [255, 255, 255], 5.5);
      r.disc(ppx(b.argmax.x), ppy(b.argmax.y), ring, colour, 3);
    }
  });
  r.strokeRect(ppx(p.roiStartW - 0.5), ppy(p.roiStartH - 0.5), ppx(p.roiEndW + 0.5), ppy(p.roiEndH + 0.5), ROI_FIGURE_STYLE.ink, 3);
  r.strokeRect(ppx(p.scaled.x1), ppy(p.scaled.y1), ppx(p.scaled.x2), ppy(p.scaled.y2), ROI_FIGURE_STYLE.ink, 2, [8, 6]);

  // RoIAlign: the exact box, its bins, the sample points; spokes from the first sample.
  drawGrid(r, sc, alignOrigin);
  const apx = (fx: number) => alignOrigin.x + (fx - x0) * cell;
  const apy = (fy: number) => alignOrigin.y + (fy - y0) * cell;
  const a = sc.align[0]![0]!;
  const [bx0, by0] = [a.roiStartW, a.roiStartH];
  const [bx1, by1] = [a.roiStartW + sc.PW * a.binSizeW, a.roiStartH + sc.PH * a.binSizeH];
  for (let ph = 1; ph < sc.PH; ph++) r.line(apx(bx0), apy(by0 + ph * a.binSizeH), apx(bx1), apy(by0 + ph * a.binSizeH), ROI_FIGURE_STYLE.ink, 2);
  for (let pw = 1; pw < sc.PW; pw++) r.line(apx(bx0 + pw * a.binSizeW), apy(by0), apx(bx0 + pw * a.binSizeW), apy(by1), ROI_FIGURE_STYLE.ink, 2);
  r.strokeRect(apx(bx0), apy(by0), apx(bx1), apy(by1), ROI_FIGURE_STYLE.ink, 3);
  const first = a.samples.find((s) => s.inside);
  if (first !== undefined) {
    for (const [ny, nx] of [
      [first.yLow, first.xLow],
      [first.yLow, first.xHigh],
      [first.yHigh, first.xLow],
      [first.yHigh, first.xHigh],
    ] as const) {
      r.line(apx(first.x), apy(first.y), apx(nx), apy(ny), ROI_FIGURE_STYLE.spoke, 1);
      r.disc(apx(nx), apy(ny), Math.max(4, cell * 0.09), ROI_FIGURE_STYLE.spoke, 2);
    }
  }
  const radius = Math.max(2.5, Math.min(cell * 0.075, 6));
  for (const s of layout.samplePoints) r.disc(s.x, s.y, radius + 1.5, [255, 255, 255]);
  for (const s of layout.samplePoints) r.disc(s.x, s.y, radius, ROI_FIGURE_STYLE.sample);

  drawOutput(r, sc, centres[0]!, sc.pool.map((row) => row.map((b) => b.max)), 'output (max)');
  drawOutput(r, sc, centres[1]!, sc.alignOutput, `output (${sc.mode})`);
  return r;
}

/**
 * Where {@link drawRoiFigure} puts things: the picture's size, each panel's window and origin,
 * and the pixel centre of every RoIAlign sample point (for tests and annotations).
 */
export function roiFigureLayout(input: Tensor, roi: RoiLike, options: RoiFigureOptions = {}): RoiFigureLayout {
  return scene(input, roi, options).layout;
}

/**
 * Draws the paper's Figure 3 for `input` (`[N, C, H, W]`, channel `options.channel`) and one
 * `roi` (`[batchIndex, x1, y1, x2, y2]` in image coordinates): RoIPool and RoIAlign side by side
 * with their outputs. Returns the PNG file's bytes (deterministic).
 *
 * @example
 * ```ts
 * const png = drawRoiFigure(features, [0, 10, 10, 124, 124], { spatialScale: 1 / 32, samplingRatio: 1 });
 * ```
 */
export function drawRoiFigure(input: Tensor, roi: RoiLike, options: RoiFigureOptions = {}): Uint8Array {
  return render(scene(input, roi, options)).toPng();
}

/**
 * Draws the figure ({@link drawRoiFigure}) and writes it to `path` atomically (a temporary file
 * in the same directory, then a rename), creating the directory if needed.
 */
export function writeRoiFigure(path: string, input: Tensor, roi: RoiLike, options: RoiFigureOptions = {}): void {
  mkdirSync(dirname(path), { recursive: true });
  writeFileAtomic(path, drawRoiFigure(input, roi, options), 'writeRoiFigure');
}
