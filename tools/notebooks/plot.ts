/**
 * The notebooks' own picture: a graph drawn from autograd's `gradFn` links (SVG). Heat maps and
 * line charts come from the library (`divergingHeatmap`, `lineChartSvg` in `lib/maskrcnn/viz`),
 * the same code that draws the detector's pictures.
 */
import type { Tensor } from '../../lib/index.js';

const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

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
