/**
 * Preloaded (`node --import tsx --import ./tools/notebooks/capture.ts NOTEBOOK.ts`) by the
 * notebook runner: records what each cell prints and displays, and the error that stopped the
 * notebook, into the JSON file named by `NOTEBOOK_RESULT`.
 *
 * A record belongs to the cell holding the outermost stack frame in the notebook file: the
 * top-level statement that (directly or through functions) printed it.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { formatWithOptions } from 'node:util';
import { parseNotebook, cellAtLine } from './format.js';
import type { CapturedOutput, CaptureResult, MimeBundle } from './display.js';

const file = resolve(process.env['NOTEBOOK_FILE'] ?? '');
const resultPath = process.env['NOTEBOOK_RESULT'] ?? '';
const cells = parseNotebook(readFileSync(file, 'utf8'));
const outputs: CapturedOutput[] = [];
let error: CaptureResult['error'] = null;

Error.stackTraceLimit = Infinity;

/** The 1-based line of the outermost frame of `stack` in the notebook file, or 0. */
function notebookLine(stack: string | undefined): number {
  let line = 0;
  for (const frame of (stack ?? '').split('\n')) {
    const at = frame.lastIndexOf(file + ':');
    if (at < 0) continue;
    const m = /^:(\d+):\d+/.exec(frame.slice(at + file.length));
    if (m) line = Number(m[1]);
  }
  return line;
}

function cellOf(line: number): number {
  return cellAtLine(cells, line)?.index ?? 0;
}

function record(output: { type: 'stream'; name: 'stdout' | 'stderr'; text: string } | { type: 'display'; data: MimeBundle }): void {
  const line = notebookLine(new Error().stack);
  outputs.push({ ...output, cell: cellOf(line) } as CapturedOutput);
}

for (const method of ['log', 'info', 'debug', 'warn', 'error'] as const) {
  const name: 'stdout' | 'stderr' = method === 'warn' || method === 'error' ? 'stderr' : 'stdout';
  console[method] = (...args: unknown[]) => record({ type: 'stream', name, text: formatWithOptions({ colors: false }, ...args) + '\n' });
}

(globalThis as { __notebookCapture?: { display(bundle: MimeBundle): void } }).__notebookCapture = {
  display: (bundle) => record({ type: 'display', data: bundle }),
};

function fail(e: unknown): void {
  const err = e instanceof Error ? e : new Error(String(e));
  const line = notebookLine(err.stack);
  error = { message: `${err.name}: ${err.message}`, stack: err.stack ?? '', line, cell: cellOf(line) };
  process.exit(1);
}
process.on('uncaughtException', fail);
process.on('unhandledRejection', fail);
process.on('exit', () => {
  const result: CaptureResult = { outputs, error };
  if (resultPath) writeFileSync(resultPath, JSON.stringify(result));
});
