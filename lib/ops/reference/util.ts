/**
 * Small helpers for the reference kernels.
 */
import type { TypedArray } from '../../tensor/index.js';

/** A zero-filled array of the same type as `x` (float64 inputs keep float64, for gradchecks). */
export function like(x: TypedArray, n: number): TypedArray {
  return new (x.constructor as new (n: number) => TypedArray)(n);
}
