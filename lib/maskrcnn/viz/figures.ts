/**
 * Two labelled figures of the course chapters, built on {@link heatmapGrid}, {@link drawBoxes}
 * and the {@link Canvas} font:
 * - {@link labelledHeatmapGrid}: a table of heat maps with its row and column names written
 *   beside it and, when the colour scale is shared, a colour bar with the values of its two ends
 *   (pooled features per RoI, mask logits and probabilities per class, mask targets);
 * - {@link drawBoxLayers}: sets of boxes (sampled RoIs, proposals, ground truth) on a small image
 *   enlarged to be seen, with a legend naming each set's colour.
 *
 * @module
 */
import { Tensor } from '../../tensor/index.js';
import { OVERLAY_MIN_SIDE, enlarge } from './overlay.js';
import { Canvas, VIZ_COLORS, drawBoxes, heatColor, heatmapGrid, type VizColor } from './viz.js';
import { textWidth } from './font.js';

/** Options of {@link labelledHeatmapGrid}. */
export interface LabelledHeatmapGridOptions {
  /** One name per row, written left of the row (default none). */
  rowLabels?: readonly string[];
  /** One name per column, written above the column (default none). */
  columnLabels?: readonly string[];
  /** Pixels per map value (default 4). */
  scale?: number;
  /** Pixels between maps (default 2). */
  gap?: number;
  /** One colour scale for every map, `[low, high]`; also draws the colour bar (default: each map its own range, no bar). */
  range?: readonly [number, number];
  /** What the colour bar measures, written under it (e.g. `mask probability`). */
  legend?: string;
  /** Pixel size of the 3x5 font (default 2). */
  textScale?: number;
}

/** The figure's margin around the grid, in font pixels. */
const MARGIN = 3;

/**
 * Draws `maps` `[R, C, H, W]` as a table of heat maps: row r, column c is map `(r, c)`, coloured
 * by {@link heatColor} on `options.range` (or each map's own range). Row names go on the left,
 * column names on top; with a range, a colour bar under the grid shows which colour is `low` and
 * which is `high`. Throws naming the shapes when the labels do not fit the maps.
 */
export function labelledHeatmapGrid(maps: Tensor, options: LabelledHeatmapGridOptions = {}): Canvas {
  if (maps.ndim !== 4) throw new Error(`labelledHeatmapGrid: maps must be [R, C, H, W], got [${maps.shape}]`);
  const [r, c, h, w] = maps.shape as [number, number, number, number];
  const rows = options.rowLabels ?? [];
  const cols = options.columnLabels ?? [];
  if (options.rowLabels !== undefined && rows.length !== r) throw new Error(`labelledHeatmapGrid: ${rows.length} row labels for ${r} rows (maps [${maps.shape}])`);
  if (options.columnLabels !== undefined && cols.length !== c) throw new Error(`labelledHeatmapGrid: ${cols.length} column labels for ${c} columns (maps [${maps.shape}])`);
  const scale = options.scale ?? 4;
  const gap = options.gap ?? 2;
  const ts = options.textScale ?? 2;
  const line = 7 * ts; // a text line: 5 font rows and 2 of spacing
  const grid = heatmapGrid(maps.reshape(r * c, h, w), { columns: c, scale, gap, maxMaps: r * c, ...(options.range ? { range: options.range } : {}) });
  const left = rows.length > 0 ? Math.max(...rows.map((s) => textWidth(s, ts))) + 2 * MARGIN * ts : 0;
  const top = cols.length > 0 ? line + MARGIN * ts : 0;
  const barHeight = 4 * ts;
  const range = options.range;
  const legend = range === undefined ? '' : options.legend ?? '';
  const bottom = range === undefined ? 0 : MARGIN * ts + barHeight + ts + line + (legend ? line : 0);
  const width = Math.max(left + grid.width + MARGIN * ts, range === undefined ? 0 : left + textWidth(legend, ts) + MARGIN * ts);
  const canvas = new Canvas(width, top + grid.height + bottom + MARGIN * ts, VIZ_COLORS.background);
  canvas.paste(grid, left, top);
  const cellW = w * scale + gap;
  const cellH = h * scale + gap;
  cols.forEach((s, j) => {
    const cx = left + gap + j * cellW + (w * scale) / 2;
    canvas.text(Math.max(left, Math.round(cx - textWidth(s, ts) / 2)), MARGIN * ts, s, VIZ_COLORS.text, ts);
  });
  rows.forEach((s, i) => {
    const cy = top + gap + i * cellH + (h * scale) / 2;
    canvas.text(MARGIN * ts, Math.round(cy - (5 * ts) / 2), s, VIZ_COLORS.text, ts);
  });
  if (range !== undefined) {
    const y0 = top + grid.height + MARGIN * ts;
    const x0 = left + gap;
    const barWidth = Math.max(grid.width - 2 * gap, 2);
    for (let x = 0; x < barWidth; x++) canvas.fillRect(x0 + x, y0, x0 + x + 1, y0 + barHeight, heatColor(x / (barWidth - 1)));
    const lo = formatEnd(range[0]);
    const hi = formatEnd(range[1]);
    canvas.text(x0, y0 + barHeight + ts, lo, VIZ_COLORS.text, ts);
    canvas.text(x0 + barWidth - textWidth(hi, ts), y0 + barHeight + ts, hi, VIZ_COLORS.text, ts);
    if (legend) canvas.text(x0, y0 + barHeight + ts + line, legend, VIZ_COLORS.text, ts);
  }
  return canvas;
}

/** A colour-bar end: integers as they are, others with up to 2 decimals. */
function formatEnd(v: number): string {
  return Number.isInteger(v) ? String(v) : String(+v.toFixed(2));
}

/** One set of boxes of {@link drawBoxLayers}. */
export interface BoxLayer {
  /** Boxes `[B, 4]` (`x1, y1, x2, y2` in pixels of the image). */
  boxes: Tensor;
  /** Which rows of `boxes` to draw (default all). */
  rows?: readonly number[];
  /** Their outline colour. */
  color: VizColor;
  /** Their name in the legend. */
  name: string;
}

/** Options of {@link drawBoxLayers}. */
export interface BoxLayersOptions {
  /** Integer enlargement of the image (default: as {@link drawDetections}, the long side at least {@link OVERLAY_MIN_SIDE} pixels). */
  scale?: number;
  /** Outline thickness in pixels of the enlarged picture (default 2). */
  thickness?: number;
  /** Pixel size of the legend's 3x5 font (default 2). */
  textScale?: number;
}

/**
 * Draws `layers` of boxes on `image` (`[3, H, W]` in [0, 1]) enlarged `scale` times (nearest
 * neighbour), each layer in its colour, later layers on top, with a legend under the picture: a
 * square of each layer's colour and its name. Throws naming a row that `boxes` does not have.
 */
export function drawBoxLayers(image: Tensor, layers: readonly BoxLayer[], options: BoxLayersOptions = {}): Canvas {
  if (image.ndim !== 3 || image.shape[0] !== 3) throw new Error(`drawBoxLayers: the image must be [3, H, W], got [${image.shape}]`);
  const [, h, w] = image.shape as [number, number, number];
  const scale = options.scale ?? Math.max(1, Math.ceil(OVERLAY_MIN_SIDE / Math.max(h, w)));
  const ts = options.textScale ?? 2;
  const picture = enlarge(Canvas.fromImage(image), scale);
  for (const layer of layers) {
    const b = layer.boxes;
    if (b.ndim !== 2 || b.shape[1] !== 4) throw new Error(`drawBoxLayers: layer '${layer.name}' boxes must be [B, 4], got [${b.shape}]`);
    const rows = layer.rows ?? [...Array(b.shape[0]!).keys()];
    const picked = new Float32Array(4 * rows.length);
    rows.forEach((row, j) => {
      if (!Number.isInteger(row) || row < 0 || row >= b.shape[0]!) throw new Error(`drawBoxLayers: layer '${layer.name}' has no row ${row} (boxes [${b.shape}])`);
      for (let c = 0; c < 4; c++) picked[4 * j + c] = b.data[4 * row + c]! * scale;
    });
    drawBoxes(picture, new Tensor(picked, [rows.length, 4]), { color: layer.color, thickness: options.thickness ?? 2 });
  }
  // The legend: one line of "[colour] name" entries under the picture, wrapped to its width.
  const line = 7 * ts;
  const entries = layers.map((l) => ({ color: l.color, name: l.name, width: 5 * ts + 2 * ts + textWidth(l.name, ts) + 4 * ts }));
  const lines: Array<typeof entries> = [[]];
  let x = MARGIN * ts;
  for (const e of entries) {
    if (x + e.width > picture.width && lines[lines.length - 1]!.length > 0) {
      lines.push([]);
      x = MARGIN * ts;
    }
    lines[lines.length - 1]!.push(e);
    x += e.width;
  }
  const canvas = new Canvas(picture.width, picture.height + lines.length * line + 2 * MARGIN * ts, VIZ_COLORS.background);
  canvas.paste(picture, 0, 0);
  lines.forEach((entriesOfLine, i) => {
    let ex = MARGIN * ts;
    const y = picture.height + MARGIN * ts + i * line;
    for (const e of entriesOfLine) {
      canvas.fillRect(ex, y, ex + 5 * ts, y + 5 * ts, e.color);
      canvas.text(ex + 7 * ts, y, e.name, VIZ_COLORS.text, ts);
      ex += e.width;
    }
  });
  return canvas;
}
