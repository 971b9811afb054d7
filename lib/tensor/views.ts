/**
 * Shape ops: reshape and its relatives (which share storage), and the copying ones (permute,
 * expand, slice, concat, stack, pad).
 *
 * The copying ops are all one mechanism: read the source with a stride per output dimension
 * ({@link stridedRead}); their gradients write back with the same strides ({@link stridedWrite}).
 * A permutation permutes the strides, an expansion sets a stride to 0, a slice starts at an
 * offset and multiplies a stride by its step.
 */
import { Tensor } from './tensor.js';
import { defineOp } from './autograd.js';
import { allocate, promoteTypes } from './dtype.js';
import { type Shape, contiguousStrides, formatShape, normalizeDim, sameShape, shapeSize } from './shape.js';
import { unbroadcast } from './reduce.js';

/**
 * For every row (every index of all dimensions but the last) of an output of shape `shape`, the
 * offset `offset + sum_d i[d] strides[d]` of its first element in the source: an odometer over
 * the leading dimensions. The copies below then run each row as a plain strided loop (a
 * callback per element, as this file once had, costs several ns an element).
 */
function rowStarts(shape: Shape, strides: readonly number[], offset: number): Int32Array | Float64Array {
  const nd = shape.length;
  const rows = nd <= 1 ? 1 : shapeSize(shape.slice(0, nd - 1));
  const starts = rows < 2 ** 31 ? new Int32Array(rows) : new Float64Array(rows);
  const counter = new Array<number>(nd).fill(0);
  let base = offset;
  for (let row = 0; row < rows; row++) {
    starts[row] = base;
    for (let d = nd - 2; d >= 0; d--) {
      counter[d]!++;
      base += strides[d]!;
      if (counter[d]! < shape[d]!) break;
      base -= strides[d]! * shape[d]!;
      counter[d] = 0;
    }
  }
  return starts;
}

/** A new contiguous tensor of shape `shape` read from `x`'s storage with the given strides and offset. */
export function stridedRead(x: Tensor, shape: Shape, strides: readonly number[], offset = 0): Tensor {
  const n = shapeSize(shape);
  const out = allocate(x.dtype, n);
  const X = x.data;
  if (n === 0) return new Tensor(out, shape, x.dtype);
  if (shape.length === 0) {
    out[0] = X[offset]!;
    return new Tensor(out, shape, x.dtype);
  }
  const nd = shape.length;
  const cols = shape[nd - 1]!;
  const last = strides[nd - 1]!;
  if (nd === 2 && last !== 1 && cols > 1 && shape[0]! > 1) {
    // A 2-D transpose-like read: in 32 x 32 tiles, so that the strided reads stay in cache.
    const rows = shape[0]!;
    const first = strides[0]!;
    for (let i0 = 0; i0 < rows; i0 += 32) {
      const i1 = Math.min(rows, i0 + 32);
      for (let j0 = 0; j0 < cols; j0 += 32) {
        const j1 = Math.min(cols, j0 + 32);
        for (let i = i0; i < i1; i++) {
          const src = offset + i * first;
          const dst = i * cols;
          for (let j = j0; j < j1; j++) out[dst + j] = X[src + j * last]!;
        }
      }
    }
    return new Tensor(out, shape, x.dtype);
  }
  const starts = rowStarts(shape, strides, offset);
  for (let row = 0, dst = 0; row < starts.length; row++, dst += cols) {
    const src = starts[row]!;
    if (last === 1) for (let j = 0; j < cols; j++) out[dst + j] = X[src + j]!;
    else for (let j = 0; j < cols; j++) out[dst + j] = X[src + j * last]!;
  }
  return new Tensor(out, shape, x.dtype);
}

/**
 * The adjoint of {@link stridedRead} for strides that never visit a position twice (slices,
 * padding): a tensor of shape `targetShape` filled with `fill`, with `values` written at the
 * strided positions.
 */
export function stridedWrite(values: Tensor, targetShape: Shape, strides: readonly number[], offset = 0, fill = 0): Tensor {
  const out = allocate(values.dtype, shapeSize(targetShape));
  if (fill !== 0) out.fill(fill);
  const V = values.data;
  const shape = values.shape;
  const n = shapeSize(shape);
  if (n === 0) return new Tensor(out, targetShape, values.dtype);
  if (shape.length === 0) {
    out[offset] = V[0]!;
    return new Tensor(out, targetShape, values.dtype);
  }
  const cols = shape[shape.length - 1]!;
  const last = strides[shape.length - 1]!;
  const starts = rowStarts(shape, strides, offset);
  for (let row = 0, src = 0; row < starts.length; row++, src += cols) {
    const dst = starts[row]!;
    for (let j = 0; j < cols; j++) out[dst + j * last] = V[src + j]!;
  }
  return new Tensor(out, targetShape, values.dtype);
}

/** Replaces a -1 in `shape` by the size that makes the element count match `size`. */
function inferShape(op: string, shape: readonly number[], size: number, from: Shape): number[] {
  const unknown = shape.indexOf(-1);
  if (unknown !== shape.lastIndexOf(-1)) throw new Error(`${op}: only one dimension can be -1, got ${formatShape(shape)}`);
  const known = shapeSize(shape.filter((_, i) => i !== unknown));
  const out = [...shape];
  if (unknown >= 0 && known !== 0 && size % known === 0) out[unknown] = size / known;
  if (out.some((d) => !Number.isInteger(d) || d < 0) || shapeSize(out) !== size) {
    throw new Error(`${op}: shape ${formatShape(shape)} is invalid for input of shape ${formatShape(from)} (${size} elements)`);
  }
  return out;
}

const reshapeOp = defineOp({
  name: 'reshape',
  forward: (_ctx, x: Tensor, shape: readonly number[]) => new Tensor(x.data, shape, x.dtype),
  backward: (g, { args: [x] }) => [g.reshape(x.shape)],
});

/** The same elements in a new shape (one size may be -1). Shares storage with `x` (a view). */
export function reshape(x: Tensor, shape: readonly number[]): Tensor {
  return reshapeOp(x, inferShape('reshape', shape, x.size, x.shape));
}

/** Merges dimensions `startDim..endDim` (inclusive) into one. */
export function flatten(x: Tensor, startDim = 0, endDim = -1): Tensor {
  if (x.ndim === 0) return reshape(x, [1]);
  const s = normalizeDim('flatten', startDim, x.ndim);
  const e = normalizeDim('flatten', endDim, x.ndim);
  if (s > e) throw new Error(`flatten: startDim ${startDim} comes after endDim ${endDim}`);
  return reshape(x, [...x.shape.slice(0, s), shapeSize(x.shape.slice(s, e + 1)), ...x.shape.slice(e + 1)]);
}

/** Removes every size-1 dimension, or only `dim` when it has size 1 (PyTorch leaves other sizes alone). */
export function squeeze(x: Tensor, dim?: number): Tensor {
  if (dim === undefined) return reshape(x, x.shape.filter((n) => n !== 1));
  const d = normalizeDim('squeeze', dim, x.ndim);
  return x.shape[d] === 1 ? reshape(x, x.shape.filter((_, i) => i !== d)) : reshape(x, x.shape);
}

/** Inserts a size-1 dimension at `dim` (in `[-ndim-1, ndim]`). */
export function unsqueeze(x: Tensor, dim: number): Tensor {
  const d = normalizeDim('unsqueeze', dim, x.ndim + 1);
  return reshape(x, [...x.shape.slice(0, d), 1, ...x.shape.slice(d)]);
}

const permuteOp = defineOp({
  name: 'permute',
  forward: (_ctx, x: Tensor, dims: readonly number[]) => {
    const strides = contiguousStrides(x.shape);
    return stridedRead(x, dims.map((d) => x.shape[d]!), dims.map((d) => strides[d]!));
  },
  // The inverse permutation puts every gradient element back where its input came from.
  backward: (g, { args: [, dims] }) => {
    const inverse = new Array<number>(dims.length);
    dims.forEach((d, i) => (inverse[d] = i));
    return [g.permute(inverse)];
  },
});

/** Reorders dimensions: output dimension `i` is input dimension `dims[i]`. */
export function permute(x: Tensor, dims: readonly number[]): Tensor {
  const normalized = dims.map((d) => normalizeDim('permute', d, x.ndim));
  if (dims.length !== x.ndim || new Set(normalized).size !== x.ndim) {
    throw new Error(`permute: dims ${formatShape(dims)} are not a permutation of the ${x.ndim} dimensions of shape ${formatShape(x.shape)}`);
  }
  return permuteOp(x, normalized);
}

/** Swaps dimensions `dim0` and `dim1`. */
export function transpose(x: Tensor, dim0: number, dim1: number): Tensor {
  if (x.ndim === 0) return x.clone();
  const dims = x.shape.map((_, i) => i);
  const a = normalizeDim('transpose', dim0, x.ndim);
  const b = normalizeDim('transpose', dim1, x.ndim);
  [dims[a], dims[b]] = [dims[b]!, dims[a]!];
  return permuteOp(x, dims);
}

const expandOp = defineOp({
  name: 'expand',
  forward: (_ctx, x: Tensor, shape: readonly number[]) => {
    const lead = shape.length - x.ndim;
    const strides = contiguousStrides(x.shape);
    return stridedRead(x, shape, shape.map((_, d) => (d < lead || x.shape[d - lead] === 1 ? 0 : strides[d - lead]!)));
  },
  // Each input element was repeated over the expanded dimensions: its gradient is their sum.
  backward: (g, { args: [x] }) => [unbroadcast(g, x.shape)],
});

/**
 * Repeats size-1 dimensions (and prepends new ones) to reach `shape`; -1 keeps a size.
 * Unlike PyTorch's view, the result is a copy (storage here is always contiguous).
 */
export function expand(x: Tensor, shape: readonly number[]): Tensor {
  const lead = shape.length - x.ndim;
  const bad = () => new Error(`expand: cannot expand shape ${formatShape(x.shape)} to ${formatShape(shape)}`);
  if (lead < 0) throw bad();
  const target = shape.map((n, d) => {
    if (d < lead) {
      if (n < 0) throw bad();
      return n;
    }
    const have = x.shape[d - lead]!;
    if (n === -1 || n === have) return have;
    if (have !== 1 || n < 0) throw bad();
    return n;
  });
  return sameShape(target, x.shape) ? x : expandOp(x, target);
}

const sliceOp = defineOp({
  name: 'slice',
  forward: (_ctx, x: Tensor, dim: number, start: number, count: number, step: number) => {
    const strides = contiguousStrides(x.shape);
    const shape = [...x.shape];
    shape[dim] = count;
    const readStrides = strides.map((s, d) => (d === dim ? s * step : s));
    return stridedRead(x, shape, readStrides, start * strides[dim]!);
  },
  // The gradient of the taken elements goes back to where they were taken from; the rest get 0.
  backward: (g, { args: [x, dim, start, , step] }) => {
    const strides = contiguousStrides(x.shape);
    return [stridedWrite(g, x.shape, strides.map((s, d) => (d === dim ? s * step : s)), start * strides[dim]!)];
  },
});

/**
 * Python's `x[start:end:step]` along `dim`: negative indices count from the end, out-of-range
 * bounds are clipped, `step` must be positive.
 */
export function slice(x: Tensor, dim: number, start?: number, end?: number, step = 1): Tensor {
  const d = normalizeDim('slice', dim, x.ndim);
  const n = x.shape[d]!;
  if (!Number.isInteger(step) || step <= 0) throw new Error(`slice: step must be a positive integer, got ${step}`);
  const resolve = (i: number | undefined, fallback: number) => {
    if (i === undefined) return fallback;
    if (!Number.isInteger(i)) throw new Error(`slice: indices must be integers, got ${i}`);
    return Math.min(Math.max(i < 0 ? i + n : i, 0), n);
  };
  const s = resolve(start, 0);
  const e = resolve(end, n);
  const count = Math.max(0, Math.ceil((e - s) / step));
  return sliceOp(x, d, s, count, step);
}

/** `length` elements of `dim` from `start` (which may be negative); the range must lie inside. */
export function narrow(x: Tensor, dim: number, start: number, length: number): Tensor {
  const d = normalizeDim('narrow', dim, x.ndim);
  const n = x.shape[d]!;
  const s = start < 0 ? start + n : start;
  if (!Number.isInteger(s) || !Number.isInteger(length) || s < 0 || length < 0 || s + length > n) {
    throw new Error(`narrow: start ${start} and length ${length} do not fit in dimension ${d} of shape ${formatShape(x.shape)}`);
  }
  return sliceOp(x, d, s, length, 1);
}

const concatOp = defineOp({
  name: 'concat',
  forward: (_ctx, dim: number, ...tensors: Tensor[]) => {
    const dtype = tensors.map((t) => t.dtype).reduce(promoteTypes);
    const shape = [...tensors[0]!.shape];
    shape[dim] = tensors.reduce((n, t) => n + t.shape[dim]!, 0);
    const out = allocate(dtype, shapeSize(shape));
    const outer = shapeSize(shape.slice(0, dim));
    const inner = shapeSize(shape.slice(dim + 1));
    const rowLength = shape[dim]! * inner;
    let at = 0; // where the current tensor's block starts inside each output row
    for (const t of tensors) {
      const block = t.shape[dim]! * inner;
      for (let o = 0; o < outer; o++) out.set(t.data.subarray(o * block, (o + 1) * block), o * rowLength + at);
      at += block;
    }
    return new Tensor(out, shape, dtype);
  },
  // Each input receives the slice of the gradient that its block occupied.
  backward: (g, { args: [dim, ...tensors], needsInputGrad }) => {
    let start = 0;
    return [
      null,
      ...tensors.map((t, i) => {
        const piece = needsInputGrad[i + 1] ? g.narrow(dim, start, t.shape[dim]!) : null;
        start += t.shape[dim]!;
        return piece;
      }),
    ];
  },
});

/** Joins tensors along an existing dimension `dim`; the other dimensions must match (PyTorch's `cat`). */
export function concat(tensors: readonly Tensor[], dim = 0): Tensor {
  if (tensors.length === 0) throw new Error('concat: expected a non-empty list of tensors');
  const first = tensors[0]!;
  if (first.ndim === 0) throw new Error('concat: zero-dimensional tensors cannot be concatenated (use stack)');
  const d = normalizeDim('concat', dim, first.ndim);
  tensors.forEach((t, i) => {
    if (t.ndim !== first.ndim || t.shape.some((n, k) => k !== d && n !== first.shape[k])) {
      throw new Error(
        `concat: tensor ${i} has shape ${formatShape(t.shape)} but tensor 0 has shape ${formatShape(first.shape)}; ` +
          `they must match except in dimension ${d}`,
      );
    }
  });
  return concatOp(d, ...tensors);
}

/** Joins same-shape tensors along a new dimension `dim`. */
export function stack(tensors: readonly Tensor[], dim = 0): Tensor {
  if (tensors.length === 0) throw new Error('stack: expected a non-empty list of tensors');
  const first = tensors[0]!;
  tensors.forEach((t, i) => {
    if (!sameShape(t.shape, first.shape)) {
      throw new Error(`stack: tensor ${i} has shape ${formatShape(t.shape)} but tensor 0 has shape ${formatShape(first.shape)}`);
    }
  });
  const d = normalizeDim('stack', dim, first.ndim + 1);
  return concatOp(d, ...tensors.map((t) => unsqueeze(t, d)));
}

/** Where `x` sits inside the padded output: its offset and the output strides. */
function padPlacement(x: Tensor, pads: readonly number[]): { shape: number[]; offset: number; strides: number[] } {
  const shape = [...x.shape];
  const before = new Array<number>(x.ndim).fill(0);
  for (let k = 0; k < pads.length / 2; k++) {
    const d = x.ndim - 1 - k;
    before[d] = pads[2 * k]!;
    shape[d] = shape[d]! + pads[2 * k]! + pads[2 * k + 1]!;
  }
  const strides = contiguousStrides(shape);
  return { shape, strides, offset: before.reduce((o, b, d) => o + b * strides[d]!, 0) };
}

const padOp = defineOp({
  name: 'pad',
  forward: (_ctx, x: Tensor, pads: readonly number[], value: number) => {
    const { shape, strides, offset } = padPlacement(x, pads);
    return stridedWrite(x, shape, strides, offset, value);
  },
  // The padding is constant: only the positions that held the input pass a gradient back.
  backward: (g, { args: [x, pads] }) => {
    const { strides, offset } = padPlacement(x, pads);
    return [stridedRead(g, x.shape, strides, offset)];
  },
});

/**
 * Constant padding, as PyTorch's `F.pad(x, pads, value=value)`: `pads` lists
 * `[before, after]` pairs starting from the last dimension (`[left, right, top, bottom]` for
 * NCHW images). Pads must be non-negative.
 */
export function pad(x: Tensor, pads: readonly number[], value = 0): Tensor {
  if (pads.length % 2 !== 0 || pads.length / 2 > x.ndim) {
    throw new Error(`pad: expected pairs of pads for at most ${x.ndim} dimensions, got ${formatShape(pads)}`);
  }
  if (pads.some((p) => !Number.isInteger(p) || p < 0)) {
    throw new Error(`pad: pads must be non-negative integers, got ${formatShape(pads)}`);
  }
  return padOp(x, pads, value);
}
