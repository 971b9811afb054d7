/**
 * What a notebook calls to show more than text: a PNG or SVG picture with a caption, or a
 * Markdown table; and `check`, which stops the notebook when a number it states drifts from the
 * value it is meant to reproduce.
 *
 * Under the notebook runner (`npm run notebooks`) the pictures go into the executed `.ipynb`
 * and the course's Markdown; in Deno's Jupyter kernel they are displayed in the cell; run
 * plainly (`node --import tsx notebooks/01-tensors-and-autograd.ts`) the PNG/SVG is written to
 * the system's temporary folder and its path printed.
 */
import { writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** A Jupyter MIME bundle: `image/png` (base64), `image/svg+xml`, `text/markdown`, `text/plain`. */
export type MimeBundle = Record<string, string>;

/** One captured output of a cell. */
export type CapturedOutput =
  | { cell: number; type: 'stream'; name: 'stdout' | 'stderr'; text: string }
  | { cell: number; type: 'display'; data: MimeBundle };

/** What the capture preload writes for the runner. */
export interface CaptureResult {
  /** Every output, in order. */
  outputs: CapturedOutput[];
  /** The error that stopped the notebook, with its cell and line (0 when not in the notebook). */
  error: { message: string; stack: string; line: number; cell: number } | null;
}

type Capture = { display(bundle: MimeBundle): void };
type DenoJupyter = { jupyter: { display(bundle: MimeBundle, options: { raw: boolean }): void } };

let fallbackCount = 0;

function display(bundle: MimeBundle, file?: { ext: string; bytes: Uint8Array | string }): void {
  const capture = (globalThis as { __notebookCapture?: Capture }).__notebookCapture;
  if (capture) return capture.display(bundle);
  const deno = (globalThis as { Deno?: DenoJupyter }).Deno;
  if (deno?.jupyter) return deno.jupyter.display(bundle, { raw: true });
  if (file) {
    const path = join(tmpdir(), `notebook-${process.pid}-${++fallbackCount}.${file.ext}`);
    writeFileSync(path, file.bytes);
    console.log(`[${bundle['text/plain'] ?? 'image'}: ${path}]`);
  } else {
    console.log(bundle['text/markdown'] ?? bundle['text/plain'] ?? '');
  }
}

/** Shows a PNG picture (e.g. from `drawRoiFigure`) with a one-line caption. */
export function showPng(png: Uint8Array, caption: string): void {
  display({ 'image/png': Buffer.from(png).toString('base64'), 'text/plain': caption }, { ext: 'png', bytes: png });
}

/** Shows an SVG picture (a complete `<svg ...>...</svg>` document) with a one-line caption. */
export function showSvg(svg: string, caption: string): void {
  display({ 'image/svg+xml': svg, 'text/plain': caption }, { ext: 'svg', bytes: svg });
}

/** Shows Markdown (a table, a list) as rendered output. */
export function showMarkdown(markdown: string): void {
  display({ 'text/markdown': markdown, 'text/plain': markdown });
}

/** A Markdown table from a header row and rows of cells (numbers are printed as given). */
export function markdownTable(header: readonly string[], rows: ReadonlyArray<ReadonlyArray<string | number>>): string {
  const line = (cells: ReadonlyArray<string | number>) => `| ${cells.map(String).join(' | ')} |`;
  return [line(header), line(header.map(() => '---')), ...rows.map(line)].join('\n');
}

/**
 * Throws (stopping the notebook, and so the docs build) unless every `actual` value is within
 * `tol` of `expected`: the notebook's own guard that the numbers it shows are the ones its text
 * promises.
 */
export function check(label: string, actual: number | ArrayLike<number>, expected: number | ArrayLike<number>, tol = 5e-5): void {
  const a = typeof actual === 'number' ? [actual] : Array.from(actual);
  const e = typeof expected === 'number' ? [expected] : Array.from(expected);
  const bad = a.length !== e.length || a.some((v, i) => !(Math.abs(v - e[i]!) <= tol));
  if (bad) throw new Error(`check failed: ${label}: got [${a.join(', ')}], expected [${e.join(', ')}] (tolerance ${tol})`);
}

/** A number with `digits` decimals, trailing zeros kept (for tables). */
export function fixed(x: number, digits = 4): string {
  return (Object.is(x, -0) ? 0 : x).toFixed(digits);
}
