/**
 * The loss-curve plot written beside the checkpoints: a self-contained SVG (no fonts or
 * scripts to fetch) with one line per loss term and the total, raw values faint and a moving
 * average on top, iterations on x and the loss on a log-scale y axis (the five terms differ by
 * orders of magnitude), and the evaluation points (AP50) on a second axis when there are any.
 *
 * @module
 */

/** One point of a loss curve. */
export interface LossPoint {
  /** Training iteration (1-based). */
  iteration: number;
  /** The loss terms by name (`loss_objectness`, ... and `loss` for the total). */
  losses: Record<string, number>;
}

/** One evaluation point. */
export interface EvalPoint {
  /** Iteration the evaluation ran after. */
  iteration: number;
  /** Values in [0, 1] by name (e.g. `bbox AP50`, `segm AP50`). */
  values: Record<string, number>;
}

/** Options of {@link lossCurveSvg}. */
export interface LossCurveOptions {
  /** Title above the plot. */
  title?: string;
  /** Window of the moving average (default: about 1/25 of the points, at least 1). */
  smoothing?: number;
  /** Width and height in pixels (default 900 x 480). */
  size?: [number, number];
}

const PALETTE = ['#1f77b4', '#ff7f0e', '#2ca02c', '#d62728', '#9467bd', '#8c564b', '#e377c2', '#17becf'];

function escapeXml(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

/** Trailing moving average over `window` values (the first values average what exists). */
export function movingAverage(values: readonly number[], window: number): number[] {
  const out: number[] = [];
  let sum = 0;
  for (let i = 0; i < values.length; i++) {
    sum += values[i]!;
    if (i >= window) sum -= values[i - window]!;
    out.push(sum / Math.min(i + 1, window));
  }
  return out;
}

/**
 * The SVG text of the loss curves of `points` (and `evals`, plotted against the right axis in
 * [0, 1]). Non-positive or non-finite values are left out of the log-scale lines.
 */
export function lossCurveSvg(points: readonly LossPoint[], evals: readonly EvalPoint[] = [], options: LossCurveOptions = {}): string {
  const [width, height] = options.size ?? [900, 480];
  const margin = { left: 64, right: evals.length > 0 ? 64 : 24, top: 36, bottom: 48 };
  const plotW = width - margin.left - margin.right;
  const plotH = height - margin.top - margin.bottom;
  const names: string[] = [];
  for (const p of points) for (const k of Object.keys(p.losses)) if (!names.includes(k)) names.push(k);
  names.sort((a, b) => (a === 'loss' ? -1 : b === 'loss' ? 1 : 0));
  const window = options.smoothing ?? Math.max(1, Math.round(points.length / 25));
  const maxIter = Math.max(1, ...points.map((p) => p.iteration), ...evals.map((e) => e.iteration));
  let lo = Infinity;
  let hi = -Infinity;
  for (const p of points) {
    for (const v of Object.values(p.losses)) {
      if (v > 0 && Number.isFinite(v)) {
        lo = Math.min(lo, v);
        hi = Math.max(hi, v);
      }
    }
  }
  if (!Number.isFinite(lo)) {
    lo = 0.01;
    hi = 1;
  }
  const decLo = Math.floor(Math.log10(lo));
  const decHi = Math.max(decLo + 1, Math.ceil(Math.log10(hi)));
  const x = (it: number): number => margin.left + (it / maxIter) * plotW;
  const y = (v: number): number => margin.top + plotH * (1 - (Math.log10(v) - decLo) / (decHi - decLo));
  const yEval = (v: number): number => margin.top + plotH * (1 - v);
  const parts: string[] = [];
  parts.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="12">`);
  parts.push(`<rect width="${width}" height="${height}" fill="white"/>`);
  parts.push(`<text x="${width / 2}" y="20" text-anchor="middle" font-size="14">${escapeXml(options.title ?? 'Training loss')}</text>`);
  // Grid and axes.
  for (let d = decLo; d <= decHi; d++) {
    const yy = y(10 ** d).toFixed(1);
    parts.push(`<line x1="${margin.left}" x2="${margin.left + plotW}" y1="${yy}" y2="${yy}" stroke="#ddd"/>`);
    parts.push(`<text x="${margin.left - 6}" y="${yy}" text-anchor="end" dominant-baseline="middle">1e${d}</text>`);
  }
  const step = 10 ** Math.floor(Math.log10(maxIter / 2));
  const tick = maxIter / step > 10 ? step * (maxIter / step > 25 ? 5 : 2) : step;
  for (let it = 0; it <= maxIter; it += tick) {
    const xx = x(it).toFixed(1);
    parts.push(`<line x1="${xx}" x2="${xx}" y1="${margin.top}" y2="${margin.top + plotH}" stroke="#eee"/>`);
    parts.push(`<text x="${xx}" y="${margin.top + plotH + 16}" text-anchor="middle">${it}</text>`);
  }
  parts.push(`<rect x="${margin.left}" y="${margin.top}" width="${plotW}" height="${plotH}" fill="none" stroke="#333"/>`);
  parts.push(`<text x="${margin.left + plotW / 2}" y="${height - 10}" text-anchor="middle">iteration</text>`);
  parts.push(`<text transform="translate(16 ${margin.top + plotH / 2}) rotate(-90)" text-anchor="middle">loss (log scale)</text>`);
  // Curves: raw values faint, moving average solid.
  names.forEach((name, i) => {
    const color = name === 'loss' ? '#000' : PALETTE[i % PALETTE.length]!;
    const series = points.filter((p) => p.losses[name] !== undefined).map((p) => [p.iteration, p.losses[name]!] as const);
    const smooth = movingAverage(series.map(([, v]) => v), window);
    const path = (values: readonly (readonly [number, number])[]): string => {
      let d = '';
      let pen = false;
      for (const [it, v] of values) {
        if (!(v > 0 && Number.isFinite(v))) {
          pen = false;
          continue;
        }
        d += `${pen ? 'L' : 'M'}${x(it).toFixed(1)} ${y(v).toFixed(1)}`;
        pen = true;
      }
      return d;
    };
    if (window > 1) parts.push(`<path d="${path(series)}" fill="none" stroke="${color}" stroke-opacity="0.2"/>`);
    parts.push(`<path d="${path(series.map(([it], k) => [it, smooth[k]!] as const))}" fill="none" stroke="${color}" stroke-width="${name === 'loss' ? 2 : 1.5}"/>`);
    const ly = margin.top + 14 + 16 * i;
    parts.push(`<line x1="${margin.left + plotW - 170}" x2="${margin.left + plotW - 150}" y1="${ly - 4}" y2="${ly - 4}" stroke="${color}" stroke-width="2"/>`);
    parts.push(`<text x="${margin.left + plotW - 145}" y="${ly}">${escapeXml(name)}</text>`);
  });
  // Evaluation points on the right axis.
  if (evals.length > 0) {
    for (let v = 0; v <= 1.0001; v += 0.25) {
      parts.push(`<text x="${margin.left + plotW + 6}" y="${yEval(v).toFixed(1)}" dominant-baseline="middle">${v.toFixed(2)}</text>`);
    }
    parts.push(`<text transform="translate(${width - 12} ${margin.top + plotH / 2}) rotate(90)" text-anchor="middle">evaluation (AP)</text>`);
    const evalNames: string[] = [];
    for (const e of evals) for (const k of Object.keys(e.values)) if (!evalNames.includes(k)) evalNames.push(k);
    evalNames.forEach((name, i) => {
      const color = PALETTE[(names.length + i) % PALETTE.length]!;
      const pts = evals.filter((e) => e.values[name] !== undefined && Number.isFinite(e.values[name]));
      const d = pts.map((e, k) => `${k === 0 ? 'M' : 'L'}${x(e.iteration).toFixed(1)} ${yEval(Math.max(0, e.values[name]!)).toFixed(1)}`).join('');
      parts.push(`<path d="${d}" fill="none" stroke="${color}" stroke-width="2" stroke-dasharray="6 3"/>`);
      for (const e of pts) parts.push(`<circle cx="${x(e.iteration).toFixed(1)}" cy="${yEval(Math.max(0, e.values[name]!)).toFixed(1)}" r="3" fill="${color}"/>`);
      const ly = margin.top + plotH - 10 - 16 * i;
      parts.push(`<line x1="${margin.left + 10}" x2="${margin.left + 30}" y1="${ly - 4}" y2="${ly - 4}" stroke="${color}" stroke-width="2" stroke-dasharray="6 3"/>`);
      parts.push(`<text x="${margin.left + 35}" y="${ly}">${escapeXml(name)}</text>`);
    });
  }
  parts.push('</svg>');
  return parts.join('\n') + '\n';
}

/** Options of {@link barChartSvg}. */
export interface BarChartOptions {
  /** Title above the chart. */
  title?: string;
  /** Label of the value axis. */
  yLabel?: string;
  /** Top of the value axis (default: the largest value, rounded up). */
  yMax?: number;
  /** Width and height in pixels (default 900 x 420). */
  size?: [number, number];
}

/**
 * The SVG text of a grouped bar chart: one group of bars per `groups` label, one bar per
 * `series` (name and values, one per group; a non-finite value leaves its bar out), each bar
 * labelled with its value.
 */
export function barChartSvg(groups: readonly string[], series: ReadonlyArray<{ name: string; values: readonly number[] }>, options: BarChartOptions = {}): string {
  const [width, height] = options.size ?? [900, 420];
  const margin = { left: 64, right: 24, top: 56, bottom: 64 };
  const plotW = width - margin.left - margin.right;
  const plotH = height - margin.top - margin.bottom;
  const finite = series.flatMap((s) => s.values.filter(Number.isFinite));
  const top = options.yMax ?? Math.max(1e-9, ...finite.map((v) => Math.abs(v)));
  const step = 10 ** Math.floor(Math.log10(top));
  const yMax = options.yMax ?? Math.ceil(top / step) * step;
  const y = (v: number): number => margin.top + plotH * (1 - Math.max(0, v) / yMax);
  const groupW = plotW / Math.max(1, groups.length);
  const barW = (groupW * 0.8) / Math.max(1, series.length);
  const parts: string[] = [];
  parts.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="12">`);
  parts.push(`<rect width="${width}" height="${height}" fill="white"/>`);
  parts.push(`<text x="${width / 2}" y="20" text-anchor="middle" font-size="14">${escapeXml(options.title ?? '')}</text>`);
  for (let i = 0; i <= 5; i++) {
    const v = (yMax * i) / 5;
    const yy = y(v).toFixed(1);
    parts.push(`<line x1="${margin.left}" x2="${margin.left + plotW}" y1="${yy}" y2="${yy}" stroke="#ddd"/>`);
    parts.push(`<text x="${margin.left - 6}" y="${yy}" text-anchor="end" dominant-baseline="middle">${Number(v.toPrecision(3))}</text>`);
  }
  groups.forEach((g, gi) => {
    const x0 = margin.left + gi * groupW + groupW * 0.1;
    series.forEach((s, si) => {
      const v = s.values[gi]!;
      if (!Number.isFinite(v)) return;
      const x = x0 + si * barW;
      parts.push(`<rect x="${x.toFixed(1)}" y="${y(v).toFixed(1)}" width="${(barW - 2).toFixed(1)}" height="${(margin.top + plotH - y(v)).toFixed(1)}" fill="${PALETTE[si % PALETTE.length]}"/>`);
      parts.push(`<text x="${(x + barW / 2 - 1).toFixed(1)}" y="${(y(v) - 4).toFixed(1)}" text-anchor="middle" font-size="10">${Number(v.toPrecision(3))}</text>`);
    });
    parts.push(`<text x="${(margin.left + (gi + 0.5) * groupW).toFixed(1)}" y="${margin.top + plotH + 18}" text-anchor="middle">${escapeXml(g)}</text>`);
  });
  parts.push(`<rect x="${margin.left}" y="${margin.top}" width="${plotW}" height="${plotH}" fill="none" stroke="#333"/>`);
  if (options.yLabel !== undefined) parts.push(`<text transform="translate(16 ${margin.top + plotH / 2}) rotate(-90)" text-anchor="middle">${escapeXml(options.yLabel)}</text>`);
  series.forEach((s, si) => {
    const x = margin.left + si * 200;
    parts.push(`<rect x="${x}" y="32" width="12" height="12" fill="${PALETTE[si % PALETTE.length]}"/>`);
    parts.push(`<text x="${x + 18}" y="42">${escapeXml(s.name)}</text>`);
  });
  parts.push('</svg>');
  return parts.join('\n');
}

/** One line of a {@link lineChartSvg}: its name (for the legend) and its points `[x, y]`. */
export interface LineSeries {
  /** Legend text. */
  name: string;
  /** The points, in drawing order; a non-finite coordinate lifts the pen. */
  points: ReadonlyArray<readonly [number, number]>;
  /** Colour (default: the palette, cycling, dashed after the first round). */
  color?: string;
  /** Stroke width (default 1.5). */
  width?: number;
  /** Draw as steps, a piecewise-constant function (each y held until the next x), not straight segments. */
  step?: boolean;
}

/** Options of {@link lineChartSvg}. */
export interface LineChartOptions {
  /** Title above the chart. */
  title?: string;
  /** Label of the x axis. */
  xLabel?: string;
  /** Label of the y axis. */
  yLabel?: string;
  /** The x axis range (default: the points' extent). */
  xRange?: [number, number];
  /** The y axis range (default: the points' extent, widened by 5% on each side). */
  yRange?: [number, number];
  /** Width and height of the plot area's frame in pixels (default 900 x 480; taller when the legend needs it). */
  size?: [number, number];
}

/** The smallest and largest x (`k` 0) or y (`k` 1) of the series' finite points (`[0, 1]` if none). */
function extent(series: readonly LineSeries[], k: 0 | 1): [number, number] {
  let lo = Infinity;
  let hi = -Infinity;
  for (const s of series) {
    for (const p of s.points) {
      if (!Number.isFinite(p[0]) || !Number.isFinite(p[1])) continue;
      lo = Math.min(lo, p[k]);
      hi = Math.max(hi, p[k]);
    }
  }
  return lo <= hi ? [lo, hi] : [0, 1];
}

/** A value range widened by 5% on each side (by 1 when it is a single value). */
function padded([lo, hi]: [number, number]): [number, number] {
  if (hi - lo < 1e-9) return [lo - 1, hi + 1];
  const pad = (hi - lo) * 0.05;
  return [lo - pad, hi + pad];
}

/**
 * The SVG text of a line chart on linear axes (precision-recall curves, losses, learning rates):
 * one polyline (or staircase) per series, five grid lines per axis, and a legend to the right of
 * the plot, one row per series (the picture grows taller when there are many). The project's one
 * line chart: the library's pictures and the course notebooks both draw with it.
 */
export function lineChartSvg(series: readonly LineSeries[], options: LineChartOptions = {}): string {
  const [baseW, baseH] = options.size ?? [900, 480];
  const legendW = series.length > 0 ? 220 : 0;
  const margin = { left: 64, right: 24 + legendW, top: 36, bottom: 48 };
  const height = Math.max(baseH, margin.top + 16 * series.length + margin.bottom);
  const width = baseW;
  const plotW = width - margin.left - margin.right;
  const plotH = height - margin.top - margin.bottom;
  const [x0, x1] = options.xRange ?? extent(series, 0);
  const [y0, y1] = options.yRange ?? padded(extent(series, 1));
  const x = (v: number): number => margin.left + ((v - x0) / (x1 - x0 || 1)) * plotW;
  const y = (v: number): number => margin.top + plotH * (1 - (v - y0) / (y1 - y0 || 1));
  const parts: string[] = [];
  parts.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="12">`);
  parts.push(`<rect width="${width}" height="${height}" fill="white"/>`);
  parts.push(`<text x="${width / 2}" y="20" text-anchor="middle" font-size="14">${escapeXml(options.title ?? '')}</text>`);
  for (let i = 0; i <= 5; i++) {
    const vx = x0 + ((x1 - x0) * i) / 5;
    const vy = y0 + ((y1 - y0) * i) / 5;
    const xx = x(vx).toFixed(1);
    const yy = y(vy).toFixed(1);
    parts.push(`<line x1="${xx}" x2="${xx}" y1="${margin.top}" y2="${margin.top + plotH}" stroke="#eee"/>`);
    parts.push(`<text x="${xx}" y="${margin.top + plotH + 16}" text-anchor="middle">${Number(vx.toPrecision(3))}</text>`);
    parts.push(`<line x1="${margin.left}" x2="${margin.left + plotW}" y1="${yy}" y2="${yy}" stroke="#ddd"/>`);
    parts.push(`<text x="${margin.left - 6}" y="${yy}" text-anchor="end" dominant-baseline="middle">${Number(vy.toPrecision(3))}</text>`);
  }
  parts.push(`<rect x="${margin.left}" y="${margin.top}" width="${plotW}" height="${plotH}" fill="none" stroke="#333"/>`);
  if (options.xLabel !== undefined) parts.push(`<text x="${margin.left + plotW / 2}" y="${height - 10}" text-anchor="middle">${escapeXml(options.xLabel)}</text>`);
  if (options.yLabel !== undefined) parts.push(`<text transform="translate(16 ${margin.top + plotH / 2}) rotate(-90)" text-anchor="middle">${escapeXml(options.yLabel)}</text>`);
  series.forEach((s, i) => {
    const color = s.color ?? PALETTE[i % PALETTE.length]!;
    const dash = s.color === undefined && i >= PALETTE.length ? ` stroke-dasharray="${2 + 2 * Math.floor(i / PALETTE.length)} 3"` : '';
    let d = '';
    let pen = false;
    let last = 0;
    for (const [px, py] of s.points) {
      if (!Number.isFinite(px) || !Number.isFinite(py)) {
        pen = false;
        continue;
      }
      if (pen && s.step === true) d += `L${x(px).toFixed(1)} ${y(last).toFixed(1)}`;
      d += `${pen ? 'L' : 'M'}${x(px).toFixed(1)} ${y(py).toFixed(1)}`;
      pen = true;
      last = py;
    }
    const w = s.width ?? 1.5;
    if (d !== '') parts.push(`<path d="${d}" fill="none" stroke="${color}" stroke-width="${w}"${dash}/>`);
    const lx = margin.left + plotW + 16;
    const ly = margin.top + 12 + 16 * i;
    parts.push(`<line x1="${lx}" x2="${lx + 20}" y1="${ly - 4}" y2="${ly - 4}" stroke="${color}" stroke-width="${Math.max(2, w)}"${dash}/>`);
    parts.push(`<text x="${lx + 26}" y="${ly}">${escapeXml(s.name)}</text>`);
  });
  parts.push('</svg>');
  return parts.join('\n') + '\n';
}

/** Options of {@link heatmapSvg}. */
export interface HeatmapOptions {
  /** Title above the chart. */
  title?: string;
  /** What the rows are (written along the left edge). */
  rowTitle?: string;
  /** What the columns are (written above them). */
  columnTitle?: string;
}

/**
 * The SVG text of a heat map of non-negative counts (e.g. a confusion matrix): one cell per
 * `values[row][column]`, shaded from white (0) to dark blue (the largest value), each cell
 * labelled with its value.
 */
export function heatmapSvg(rowLabels: readonly string[], columnLabels: readonly string[], values: readonly (readonly number[])[], options: HeatmapOptions = {}): string {
  if (values.length !== rowLabels.length || values.some((row) => row.length !== columnLabels.length)) {
    throw new Error(`heatmapSvg: values must be ${rowLabels.length} rows of ${columnLabels.length} numbers`);
  }
  const cell = 44;
  const labelW = 24 + 7 * Math.max(4, ...rowLabels.map((l) => l.length));
  const headH = 24 + 7 * Math.max(4, ...columnLabels.map((l) => l.length));
  const margin = { left: 24 + labelW, top: 40 + headH };
  const width = margin.left + cell * columnLabels.length + 24;
  const height = margin.top + cell * rowLabels.length + 24;
  const max = Math.max(1, ...values.flat().filter(Number.isFinite));
  const parts: string[] = [];
  parts.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="12">`);
  parts.push(`<rect width="${width}" height="${height}" fill="white"/>`);
  parts.push(`<text x="${width / 2}" y="20" text-anchor="middle" font-size="14">${escapeXml(options.title ?? '')}</text>`);
  if (options.columnTitle !== undefined) parts.push(`<text x="${margin.left + (cell * columnLabels.length) / 2}" y="38" text-anchor="middle">${escapeXml(options.columnTitle)}</text>`);
  if (options.rowTitle !== undefined) parts.push(`<text transform="translate(16 ${margin.top + (cell * rowLabels.length) / 2}) rotate(-90)" text-anchor="middle">${escapeXml(options.rowTitle)}</text>`);
  columnLabels.forEach((label, c) => {
    const cx = margin.left + cell * c + cell / 2;
    parts.push(`<text transform="translate(${cx} ${margin.top - 6}) rotate(-60)" text-anchor="start">${escapeXml(label)}</text>`);
  });
  rowLabels.forEach((label, r) => {
    const cy = margin.top + cell * r + cell / 2;
    parts.push(`<text x="${margin.left - 6}" y="${cy}" text-anchor="end" dominant-baseline="middle">${escapeXml(label)}</text>`);
    values[r]!.forEach((v, c) => {
      const f = Number.isFinite(v) ? Math.max(0, Math.min(1, v / max)) : 0;
      const shade = (lo: number, hi: number): number => Math.round(lo + (hi - lo) * f);
      const fill = `rgb(${shade(255, 8)},${shade(255, 48)},${shade(255, 107)})`;
      const x = margin.left + cell * c;
      const y = margin.top + cell * r;
      parts.push(`<rect x="${x}" y="${y}" width="${cell}" height="${cell}" fill="${fill}" stroke="#ccc"/>`);
      parts.push(`<text x="${x + cell / 2}" y="${y + cell / 2}" text-anchor="middle" dominant-baseline="middle" fill="${f > 0.5 ? 'white' : 'black'}">${Number.isFinite(v) ? v : ''}</text>`);
    });
  });
  parts.push('</svg>');
  return parts.join('\n') + '\n';
}
