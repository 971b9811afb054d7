/**
 * Argument checks shared by the operators: every error names the op, the parameter and the
 * shapes involved.
 */
import type { Tensor } from '../tensor/index.js';

/** `[2,3,4]` */
function fmt(shape: readonly number[]): string {
  return `[${shape.join(',')}]`;
}

/** Requires `t` to have `rank` dimensions. */
export function checkRank(op: string, name: string, t: Tensor, rank: number): void {
  if (t.ndim !== rank) throw new Error(`${op}: ${name} must be ${rank}-D, got shape ${fmt(t.shape)}`);
  if (t.dtype === 'int32') throw new Error(`${op}: ${name} must be a floating tensor, got int32`);
}

/** Requires `t` to have exactly `shape`; `what` explains where the shape comes from. */
export function checkSameShape(op: string, name: string, t: Tensor, shape: readonly number[], what: string): void {
  if (t.shape.join() !== shape.join()) {
    throw new Error(`${op}: ${name} has shape ${fmt(t.shape)} but ${fmt(shape)} is expected (${what})`);
  }
}

/**
 * Reads an int-or-pair parameter (`stride: 2` or `stride: [2, 1]`) as a pair, checking that
 * both are integers no smaller than `min`.
 */
export function pair(op: string, name: string, value: number | readonly number[] | undefined, fallback: number, min: number): [number, number] {
  const v = value === undefined ? [fallback, fallback] : typeof value === 'number' ? [value, value] : [...value];
  if (v.length !== 2 || v.some((x) => !Number.isInteger(x) || x < min)) {
    throw new Error(`${op}: ${name} must be an integer >= ${min} or a pair of them, got ${JSON.stringify(value)}`);
  }
  return v as [number, number];
}
// ---------------------------------------------------------------------------------------------
// RoI arguments (roiPool, roiAlign, roiWarp and their inspection)
// ---------------------------------------------------------------------------------------------

/** Reads `outputSize` (an integer or `[PH, PW]`, each >= 1). */
export function outputSizeOf(op: string, value: number | readonly number[] | undefined): [number, number] {
  if (value === undefined) throw new Error(`${op}: outputSize is required (an integer or [PH, PW])`);
  const v = typeof value === 'number' ? [value, value] : [...value];
  if (v.length !== 2 || v.some((x) => !Number.isInteger(x) || x < 1)) {
    throw new Error(`${op}: outputSize must be a positive integer or a pair of them, got ${JSON.stringify(value)}`);
  }
  return v as [number, number];
}

/** Reads `spatialScale` (default 1; a positive finite number). */
export function spatialScaleOf(op: string, value: number | undefined): number {
  const s = value ?? 1;
  if (typeof s !== 'number' || !Number.isFinite(s) || s <= 0) throw new Error(`${op}: spatialScale must be a positive finite number, got ${value}`);
  return s;
}

/** Checks input `[N, C, H, W]` and rois `[K, 5]` (integer batch indices in range, finite coordinates). */
export function checkRoiInputs(op: string, input: Tensor, rois: Tensor): void {
  checkRank(op, 'input', input, 4);
  const [N, , H, W] = input.shape as [number, number, number, number];
  if (H === 0 || W === 0) throw new Error(`${op}: input must have a non-empty spatial size, got shape ${fmt(input.shape)}`);
  if (rois.ndim !== 2 || rois.shape[1] !== 5) {
    throw new Error(`${op}: rois must be [K, 5] rows [batchIndex, x1, y1, x2, y2], got shape ${fmt(rois.shape)}`);
  }
  if (rois.dtype === 'int32') throw new Error(`${op}: rois must be a floating tensor, got int32`);
  const r = rois.data;
  for (let k = 0; k < rois.shape[0]!; k++) {
    const b = r[k * 5]!;
    if (!Number.isInteger(b) || b < 0 || b >= N) {
      throw new Error(`${op}: rois[${k}] has batch index ${b}, but input ${fmt(input.shape)} has images 0..${N - 1} (batch indices must be integers in range)`);
    }
    for (let j = 1; j < 5; j++) {
      if (!Number.isFinite(r[k * 5 + j]!)) {
        throw new Error(`${op}: rois[${k}] has a non-finite coordinate: [${Array.from(r.subarray(k * 5, k * 5 + 5)).join(', ')}]`);
      }
    }
  }
}

/** Reads RoIAlign's `samplingRatio` (default -1: adaptive), `aligned` (default false) and `mode` (default `'avg'`). */
export function roiAlignSettings(op: string, options: { samplingRatio?: number; aligned?: boolean; mode?: 'avg' | 'max' }): { samplingRatio: number; aligned: boolean; mode: 'avg' | 'max' } {
  const samplingRatio = options.samplingRatio ?? -1;
  if (!Number.isInteger(samplingRatio)) throw new Error(`${op}: samplingRatio must be an integer (<= 0 for adaptive), got ${samplingRatio}`);
  const aligned = options.aligned ?? false;
  if (typeof aligned !== 'boolean') throw new Error(`${op}: aligned must be a boolean, got ${JSON.stringify(aligned)}`);
  const mode = options.mode ?? 'avg';
  if (mode !== 'avg' && mode !== 'max') throw new Error(`${op}: mode must be 'avg' or 'max', got ${JSON.stringify(mode)}`);
  return { samplingRatio, aligned, mode };
}
