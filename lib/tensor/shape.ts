/**
 * Shape arithmetic shared by every op: sizes, strides, broadcasting (and the offsets a broadcast
 * operand is read at), the `[outer, n, inner]` view around a dimension, and dimension checks.
 * Tensors are contiguous and row-major, so a shape alone determines the strides.
 */

/** A tensor's shape: one size per dimension; `[]` is a scalar. */
export type Shape = readonly number[];

/** Number of elements of a tensor of this shape (1 for a scalar). */
export function shapeSize(shape: Shape): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

/** Row-major (C-order) strides of a contiguous tensor of this shape, in elements. */
export function contiguousStrides(shape: Shape): number[] {
  const strides = new Array<number>(shape.length);
  let s = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    strides[i] = s;
    s *= shape[i]!;
  }
  return strides;
}

/** `[2,3]` style text for error messages. */
export function formatShape(shape: Shape): string {
  return `[${shape.join(',')}]`;
}

/** True when both shapes have the same dimensions. */
export function sameShape(a: Shape, b: Shape): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/**
 * The broadcast shape of two shapes, with NumPy/PyTorch rules: align the trailing dimensions;
 * each pair must be equal or contain a 1 (a 0-size dimension broadcasts only against 0 or 1).
 * @param op - the op's name, for the error message.
 */
export function broadcastShapes(op: string, a: Shape, b: Shape): number[] {
  const n = Math.max(a.length, b.length);
  const out = new Array<number>(n);
  for (let i = 0; i < n; i++) {
    const da = i < n - a.length ? 1 : a[i - (n - a.length)]!;
    const db = i < n - b.length ? 1 : b[i - (n - b.length)]!;
    if (da === db || db === 1) out[i] = da;
    else if (da === 1) out[i] = db;
    else throw new Error(`${op}: shapes ${formatShape(a)} and ${formatShape(b)} cannot broadcast`);
  }
  return out;
}

/**
 * The strides with which to read a tensor of shape `from` as if it had the broadcast shape `to`:
 * broadcast (size-1 or missing) dimensions get stride 0.
 */
export function broadcastStrides(from: Shape, to: Shape): number[] {
  const strides = contiguousStrides(from);
  const out = new Array<number>(to.length).fill(0);
  const offset = to.length - from.length;
  for (let i = 0; i < from.length; i++) out[i + offset] = from[i] === 1 && to[i + offset] !== 1 ? 0 : strides[i]!;
  return out;
}

/**
 * Resolves a possibly negative dimension index against `ndim` (PyTorch's wrap-around), or throws
 * `op: dim 3 is out of range for a 2-d tensor`.
 */
export function normalizeDim(op: string, dim: number, ndim: number): number {
  // A scalar accepts dim 0 and -1, as in PyTorch.
  const n = Math.max(ndim, 1);
  if (!Number.isInteger(dim) || dim < -n || dim >= n) {
    throw new Error(`${op}: dim ${dim} is out of range for a ${ndim}-d tensor (expected in [${-n}, ${n - 1}])`);
  }
  return dim < 0 ? dim + n : dim;
}

/** Checks that a shape is a list of non-negative integers. */
export function checkShape(op: string, shape: Shape): void {
  for (const d of shape) {
    if (!Number.isInteger(d) || d < 0) {
      throw new Error(`${op}: invalid shape ${formatShape(shape)}: sizes must be non-negative integers`);
    }
  }
}

/**
 * Views `shape` as `[outer, n, inner]` around dimension `dim`: the layout every single-dimension
 * reduction loops over. Element `(o, k, i)` is at `(o * n + k) * inner + i`.
 */
export function splitAt(shape: readonly number[], dim: number): [outer: number, n: number, inner: number] {
  return [shapeSize(shape.slice(0, dim)), shape[dim] ?? 1, shapeSize(shape.slice(dim + 1))];
}

/**
 * For every element of a tensor broadcast to `outShape`, the offset of the element it reads in
 * the original storage. Used by the ops that broadcast more than two operands.
 */
export function broadcastOffsets(from: Shape, outShape: Shape): Int32Array {
  const n = shapeSize(outShape);
  const offsets = new Int32Array(n);
  const strides = broadcastStrides(from, outShape);
  const outStrides = contiguousStrides(outShape);
  for (let i = 0; i < n; i++) {
    let off = 0;
    let rest = i;
    for (let d = 0; d < outShape.length; d++) {
      const k = Math.floor(rest / outStrides[d]!);
      rest -= k * outStrides[d]!;
      off += k * strides[d]!;
    }
    offsets[i] = off;
  }
  return offsets;
}
