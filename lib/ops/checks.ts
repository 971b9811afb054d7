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
