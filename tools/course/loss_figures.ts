/**
 * Display plumbing of course chapter 8 (the loss and training): reading the zoo model's training
 * log and the loss-ablation file, and drawing the ablation's curves. Kept out of the chapter so
 * that its cells show the lesson, not the plotting.
 *
 * @module
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Canvas, VIZ_COLORS, movingAverage, readZooEntry, zooDir, type EvalRecord, type IterationRecord } from '../../lib/index.js';
import { lineChartSvg } from '../../lib/index.js';
import type { AblationResult } from './loss_ablation.js';

/** One colour per loss term (and the total), the same in every chart of the chapter. */
export const TERM_COLORS: Readonly<Record<string, string>> = Object.freeze({
  loss: '#000000',
  loss_objectness: '#1f77b4',
  loss_rpn_box_reg: '#ff7f0e',
  loss_classifier: '#2ca02c',
  loss_box_reg: '#d62728',
  loss_mask: '#9467bd',
});

/** The training and evaluation records of a zoo model's committed log (`zoo/NAME/log.jsonl`). */
export function readZooLog(name = 'shapes'): { train: IterationRecord[]; evals: EvalRecord[] } {
  const entry = readZooEntry(name);
  const lines = readFileSync(join(zooDir(), name, entry.log), 'utf8').split('\n').filter((l) => l.trim() !== '');
  const records = lines.map((l) => JSON.parse(l) as IterationRecord | EvalRecord);
  return { train: records.filter((r): r is IterationRecord => r.type === 'train'), evals: records.filter((r): r is EvalRecord => r.type === 'eval') };
}

/** Reads the file written by `tools/course/loss_ablation.ts`. */
export function readAblation(path: URL | string): AblationResult {
  const result = JSON.parse(readFileSync(path, 'utf8')) as AblationResult;
  if (!Array.isArray(result.runs) || result.runs.length === 0) throw new Error(`readAblation: ${String(path)} has no runs`);
  return result;
}

const RUN_COLORS: Readonly<Record<string, string>> = Object.freeze({ full: '#000000', ...TERM_COLORS });

/** The label of a run in tables and legends. */
export function runLabel(removed: string): string {
  return removed === 'full' ? 'full loss' : `without ${removed}`;
}

/**
 * One term's curve in every run of the ablation (moving average over `window` iterations),
 * each run in the colour of the term it removed (black: the full loss).
 */
export function ablationCurvesSvg(result: AblationResult, term: string, window = 20): string {
  const series = result.runs.map((run) => {
    const values = movingAverage(run.log.map((r) => r.losses[term] ?? NaN), window);
    return { name: runLabel(run.removed), color: RUN_COLORS[run.removed] ?? '#7f7f7f', points: values.map((v, i) => [i + 1, v] as const) };
  });
  return lineChartSvg(series, {
    title: `${term} in each run (moving average over ${window} iterations)`,
    xLabel: 'iteration',
    yLabel: term,
    size: [720, 340],
  });
}

/** `grid` (a canvas of equal columns, e.g. from `heatmapGrid`) with one header above each column, in the project's font. */
export function withColumnHeaders(grid: Canvas, headers: readonly string[], scale = 2): Canvas {
  const band = 9 * scale;
  const out = new Canvas(grid.width, grid.height + band, VIZ_COLORS.background);
  out.paste(grid, 0, band);
  const column = grid.width / headers.length;
  headers.forEach((h, i) => out.text(Math.round(i * column + 4), 2 * scale, h, VIZ_COLORS.text, scale));
  return out;
}
