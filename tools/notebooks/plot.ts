/**
 * Small pictures for the notebooks: a heat map of a 2-D array (PNG), a line chart (SVG), and a
 * graph drawn from autograd's `gradFn` links (SVG). No dependencies beyond pngjs.
 */
import pngjs from 'pngjs';
import type { Tensor } from '../../lib/index.js';

const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

/** A heat map of `rows` (blue for negative, red for positive, white for 0), `cell` pixels per value, as PNG bytes. */
export function heatmapPng(rows: readonly (readonly number[])[], cell = 24): Uint8Array {
  const h = rows.length;
  const w = rows[0]?.length ?? 0;
  const scale = Math.max(1e-12, ...rows.flat().map(Math.abs));
  const png = new pngjs.PNG({ width: w * cell, height: h * cell });
  for (let y = 0; y < h * cell; y++) {
    for (let x = 0; x < w * cell; x++) {
      const v = rows[Math.floor(y / cell)]![Math.floor(x / cell)]! / scale;
      const grid = x % cell === 0 || y % cell === 0;
      const i = (y * w * cell + x) * 4;
      const a = Math.round(255 * (1 - Math.abs(v)));
      const [r, g, b] = grid ? [200, 200, 200] : v >= 0 ? [255, a, a] : [a, a, 255];
      png.data[i] = r;
      png.data[i + 1] = g;
      png.data[i + 2] = b;
      png.data[i + 3] = 255;
    }
  }
  return new Uint8Array(pngjs.PNG.sync.write(png));
}

/** One series of {@link lineChartSvg}. */
export interface Series {
  /** Legend label. */
  label: string;
  /** Points `[x, y]`. */
  points: ReadonlyArray<readonly [number, number]>;
  /** CSS colour. */
  color: string;
  /** Draw as steps (a piecewise-constant function) instead of straight segments. */
  step?: boolean;
}

/** A line chart as an SVG document. */
export function lineChartSvg(series: readonly Series[], options: { title: string; xLabel: string; yLabel: string; width?: number; height?: number }): string {
  const W = options.width ?? 640;
  const H = options.height ?? 320;
  const m = { l: 64, r: 16, t: 32, b: 48 };
  const xs = series.flatMap((s) => s.points.map((p) => p[0]));
  const ys = series.flatMap((s) => s.points.map((p) => p[1]));
  const [x0, x1] = [Math.min(...xs), Math.max(...xs)];
  let [y0, y1] = [Math.min(...ys), Math.max(...ys)];
  if (y1 - y0 < 1e-9) [y0, y1] = [y0 - 1, y1 + 1];
  const pad = (y1 - y0) * 0.05;
  [y0, y1] = [y0 - pad, y1 + pad];
  const X = (x: number) => m.l + ((x - x0) / (x1 - x0 || 1)) * (W - m.l - m.r);
  const Y = (y: number) => H - m.b - ((y - y0) / (y1 - y0)) * (H - m.t - m.b);
  const out: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="DejaVu Sans, sans-serif" font-size="12">`,
    `<rect width="${W}" height="${H}" fill="white"/>`,
    `<text x="${W / 2}" y="18" text-anchor="middle" font-size="14">${esc(options.title)}</text>`,
    `<line x1="${m.l}" y1="${H - m.b}" x2="${W - m.r}" y2="${H - m.b}" stroke="black"/>`,
    `<line x1="${m.l}" y1="${m.t}" x2="${m.l}" y2="${H - m.b}" stroke="black"/>`,
    `<text x="${(W + m.l) / 2}" y="${H - 10}" text-anchor="middle">${esc(options.xLabel)}</text>`,
    `<text x="14" y="${(H - m.b + m.t) / 2}" text-anchor="middle" transform="rotate(-90 14 ${(H - m.b + m.t) / 2})">${esc(options.yLabel)}</text>`,
  ];
  for (let k = 0; k <= 4; k++) {
    const xv = x0 + ((x1 - x0) * k) / 4;
    const yv = y0 + ((y1 - y0) * k) / 4;
    out.push(`<text x="${X(xv)}" y="${H - m.b + 16}" text-anchor="middle">${+xv.toPrecision(3)}</text>`);
    out.push(`<text x="${m.l - 6}" y="${Y(yv) + 4}" text-anchor="end">${+yv.toPrecision(3)}</text>`);
    out.push(`<line x1="${m.l}" y1="${Y(yv)}" x2="${W - m.r}" y2="${Y(yv)}" stroke="#eee"/>`);
  }
  series.forEach((s, k) => {
    const pts: string[] = [];
    s.points.forEach(([x, y], i) => {
      if (s.step && i > 0) pts.push(`${X(x)},${Y(s.points[i - 1]![1])}`);
      pts.push(`${X(x)},${Y(y)}`);
    });
    out.push(`<polyline fill="none" stroke="${s.color}" stroke-width="2" points="${pts.join(' ')}"/>`);
    const ly = m.t + 8 + k * 16;
    out.push(`<line x1="${W - m.r - 190}" y1="${ly}" x2="${W - m.r - 170}" y2="${ly}" stroke="${s.color}" stroke-width="2"/>`);
    out.push(`<text x="${W - m.r - 165}" y="${ly + 4}">${esc(s.label)}</text>`);
  });
  out.push('</svg>');
  return out.join('\n');
}

/**
 * The autograd graph behind `root`, drawn from its `gradFn` links: one box per tensor (leaves
 * named by `names`, others by the op that made them), arrows from each input to the op's output,
 * leaves on the left and the root on the right. Call it before `backward()` frees the graph.
 */
export function graphSvg(root: Tensor, names: ReadonlyMap<Tensor, string>): string {
  // Depth = longest path from the root; columns are drawn right to left.
  const depth = new Map<Tensor, number>([[root, 0]]);
  const order: Tensor[] = [root];
  for (let i = 0; i < order.length; i++) {
    const t = order[i]!;
    for (const input of t.gradFn?.inputs ?? []) {
      if (input === null) continue;
      const d = depth.get(t)! + 1;
      if (!depth.has(input)) order.push(input);
      if ((depth.get(input) ?? -1) < d) depth.set(input, d);
    }
  }
  // Leaves go in the leftmost column.
  const maxDepth = Math.max(...depth.values());
  for (const t of order) if (t.gradFn === null) depth.set(t, maxDepth);
  const columns = new Map<number, Tensor[]>();
  for (const t of order) columns.set(depth.get(t)!, [...(columns.get(depth.get(t)!) ?? []), t]);
  const bw = 150;
  const bh = 44;
  const gx = 60;
  const gy = 24;
  const rows = Math.max(...[...columns.values()].map((c) => c.length));
  const W = (maxDepth + 1) * (bw + gx) + gx;
  const H = rows * (bh + gy) + gy + 8;
  const pos = new Map<Tensor, { x: number; y: number }>();
  for (const [d, ts] of columns) {
    const top = (H - ts.length * (bh + gy) + gy) / 2;
    ts.forEach((t, i) => pos.set(t, { x: gx + (maxDepth - d) * (bw + gx), y: top + i * (bh + gy) }));
  }
  const out: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="DejaVu Sans, sans-serif" font-size="12">`,
    `<defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="8" markerHeight="8" orient="auto"><path d="M0,0 L10,5 L0,10 z" fill="#555"/></marker></defs>`,
    `<rect width="${W}" height="${H}" fill="white"/>`,
  ];
  for (const t of order) {
    const to = pos.get(t)!;
    for (const input of t.gradFn?.inputs ?? []) {
      if (input === null) continue;
      const from = pos.get(input)!;
      out.push(`<line x1="${from.x + bw}" y1="${from.y + bh / 2}" x2="${to.x}" y2="${to.y + bh / 2}" stroke="#555" marker-end="url(#arrow)"/>`);
    }
  }
  for (const t of order) {
    const { x, y } = pos.get(t)!;
    const leaf = t.gradFn === null;
    const title = names.get(t) ?? (t.gradFn ? String(t.gradFn) : 'tensor');
    const sub = `${leaf ? (t.requiresGrad ? 'leaf, requires grad' : 'leaf') : (names.get(t) ? String(t.gradFn) : '')} [${t.shape.join(', ')}]`;
    out.push(`<rect x="${x}" y="${y}" width="${bw}" height="${bh}" rx="6" fill="${leaf ? '#dbeafe' : '#fef3c7'}" stroke="#333"/>`);
    out.push(`<text x="${x + bw / 2}" y="${y + 18}" text-anchor="middle" font-weight="bold">${esc(title)}</text>`);
    out.push(`<text x="${x + bw / 2}" y="${y + 34}" text-anchor="middle" font-size="10">${esc(sub)}</text>`);
  }
  out.push('</svg>');
  return out.join('\n');
}
