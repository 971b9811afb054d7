/**
 * Indexing ops: select, gather and scatter by index tensors, masks, and sorting.
 *
 * `gather` and `scatterAdd` are each other's gradient, and `max(dim)`, `topk` and `sort` are
 * built on `gather`: their values are gathered at the indices they found, so they need no
 * backward of their own.
 */
import { Tensor, type ValuesIndices } from './tensor.js';
import { defineOp } from './autograd.js';
import { allocate } from './dtype.js';
import { broadcastOffsets, broadcastShapes, contiguousStrides, formatShape, normalizeDim, sameShape, shapeSize, splitAt } from './shape.js';
import { argExtreme, unbroadcast } from './reduce.js';

/** Checks that `index` holds integers and returns it as an `int32` tensor. */
function asIndex(op: string, index: Tensor | readonly number[]): Tensor {
  if (!(index instanceof Tensor)) {
    if (index.some((i) => !Number.isInteger(i))) throw new Error(`${op}: index must hold integers`);
    return new Tensor(Int32Array.from(index), [index.length], 'int32');
  }
  if (index.dtype !== 'int32') throw new Error(`${op}: index must be an int32 tensor, got ${index.dtype}`);
  return index;
}

function checkRange(op: string, i: number, n: number, dim: number): void {
  if (i < 0 || i >= n) throw new Error(`${op}: index ${i} is out of range for dimension ${dim} of size ${n}`);
}

const indexSelectOp = defineOp({
  name: 'indexSelect',
  forward: (_ctx, x: Tensor, dim: number, index: Tensor) => {
    const [outer, n, inner] = splitAt(x.shape, dim);
    const m = index.size;
    const out = allocate(x.dtype, outer * m * inner);
    for (let o = 0; o < outer; o++) {
      for (let k = 0; k < m; k++) {
        const src = (o * n + index.data[k]!) * inner;
        out.set(x.data.subarray(src, src + inner), (o * m + k) * inner);
      }
    }
    const shape = [...x.shape];
    shape[dim] = m;
    return new Tensor(out, shape, x.dtype);
  },
  // Each selected slice sends its gradient back to the slice it was read from; a slice chosen
  // twice receives both gradients.
  backward: (g, { args: [x, dim, index] }) => {
    const [outer, n, inner] = splitAt(x.shape, dim);
    const m = index.size;
    const gx = allocate(g.dtype, x.size);
    for (let o = 0; o < outer; o++) {
      for (let k = 0; k < m; k++) {
        const dst = (o * n + index.data[k]!) * inner;
        const src = (o * m + k) * inner;
        for (let i = 0; i < inner; i++) gx[dst + i] += g.data[src + i]!;
      }
    }
    return [new Tensor(gx, x.shape, g.dtype)];
  },
});

/** The entries `index` (a 1-D list of positions) along `dim`; the result has `index.size` there. */
export function indexSelect(x: Tensor, dim: number, index: Tensor | readonly number[]): Tensor {
  const d = normalizeDim('indexSelect', dim, x.ndim);
  const idx = asIndex('indexSelect', index);
  if (idx.ndim > 1) throw new Error(`indexSelect: index must be 1-D, got shape ${formatShape(idx.shape)}`);
  const n = x.shape[d] ?? 1;
  for (const i of idx.data) checkRange('indexSelect', i, n, d);
  return indexSelectOp(x.ndim === 0 ? x.reshape(1) : x, d, idx.reshape(-1));
}

/**
 * For every position `p` of `index` (a multi-index), the offset in a tensor of shape `shape`
 * of the same multi-index with its `dim` coordinate replaced by `index[p]`.
 */
function indexedOffsets(op: string, shape: readonly number[], dim: number, index: Tensor): Int32Array {
  const strides = contiguousStrides(shape);
  const offsets = new Int32Array(index.size);
  const indexStrides = contiguousStrides(index.shape);
  for (let p = 0; p < index.size; p++) {
    let rest = p;
    let off = 0;
    for (let d = 0; d < index.ndim; d++) {
      const coord = Math.floor(rest / indexStrides[d]!);
      rest -= coord * indexStrides[d]!;
      if (d === dim) {
        const i = index.data[p]!;
        checkRange(op, i, shape[d]!, d);
        off += i * strides[d]!;
      } else {
        off += coord * strides[d]!;
      }
    }
    offsets[p] = off;
  }
  return offsets;
}

function checkIndexShape(op: string, x: Tensor, dim: number, index: Tensor): void {
  if (index.ndim !== x.ndim || index.shape.some((n, d) => d !== dim && n > x.shape[d]!)) {
    throw new Error(
      `${op}: index of shape ${formatShape(index.shape)} does not fit tensor of shape ${formatShape(x.shape)} ` +
        `(same number of dimensions, and no larger outside dimension ${dim})`,
    );
  }
}

const gatherOp = defineOp({
  name: 'gather',
  forward: (_ctx, x: Tensor, dim: number, index: Tensor) => {
    const offsets = indexedOffsets('gather', x.shape, dim, index);
    const out = allocate(x.dtype, index.size);
    for (let p = 0; p < offsets.length; p++) out[p] = x.data[offsets[p]!]!;
    return new Tensor(out, index.shape, x.dtype);
  },
  // Gather's adjoint is scatter-add: each gathered element sends its gradient to its source.
  backward: (g, { args: [x, dim, index] }) => [scatterAddInto(new Tensor(allocate(g.dtype, x.size), x.shape), dim, index, g)],
});

/**
 * `out[i][j] = x[index[i][j]][j]` for `dim = 0`, `out[i][j] = x[i][index[i][j]]` for `dim = 1`,
 * and so on: the output has the index's shape.
 */
export function gather(x: Tensor, dim: number, index: Tensor): Tensor {
  const d = normalizeDim('gather', dim, x.ndim);
  const idx = asIndex('gather', index);
  checkIndexShape('gather', x, d, idx);
  return gatherOp(x, d, idx);
}

/** Adds `src` into a copy of `x` at the indexed positions (no autograd; used by both directions). */
function scatterAddInto(x: Tensor, dim: number, index: Tensor, src: Tensor): Tensor {
  const offsets = indexedOffsets('scatterAdd', x.shape, dim, index);
  const out = x.data.slice();
  for (let p = 0; p < offsets.length; p++) out[offsets[p]!] += src.data[p]!;
  return new Tensor(out, x.shape, x.dtype);
}

const scatterAddOp = defineOp({
  name: 'scatterAdd',
  forward: (_ctx, x: Tensor, dim: number, index: Tensor, src: Tensor) => scatterAddInto(x, dim, index, src.to(x.dtype)),
  // x passes through unchanged; each src element was added at one position, whose gradient it takes.
  backward: (g, { args: [, dim, index], needsInputGrad }) => [g, null, null, needsInputGrad[3] ? gather(g, dim, index) : null],
});

/**
 * A copy of `x` with `src` added at `index` along `dim`: `out[index[i][j]][j] += src[i][j]` for
 * `dim = 0`. Positions indexed twice receive both values. `src` has the index's shape.
 */
export function scatterAdd(x: Tensor, dim: number, index: Tensor, src: Tensor): Tensor {
  const d = normalizeDim('scatterAdd', dim, x.ndim);
  const idx = asIndex('scatterAdd', index);
  checkIndexShape('scatterAdd', x, d, idx);
  if (!sameShape(src.shape, idx.shape)) {
    throw new Error(`scatterAdd: src has shape ${formatShape(src.shape)} but index has shape ${formatShape(idx.shape)}`);
  }
  return scatterAddOp(x, d, idx, src);
}

const maskedSelectOp = defineOp<[Tensor, Tensor], Int32Array>({
  name: 'maskedSelect',
  forward: (ctx, x: Tensor, mask: Tensor) => {
    const shape = broadcastShapes('maskedSelect', x.shape, mask.shape);
    const xs = broadcastOffsets(x.shape, shape);
    const ms = broadcastOffsets(mask.shape, shape);
    const picked: number[] = [];
    for (let p = 0; p < xs.length; p++) if (mask.data[ms[p]!]) picked.push(p);
    const positions = Int32Array.from(picked);
    const out = allocate(x.dtype, positions.length);
    positions.forEach((p, k) => (out[k] = x.data[xs[p]!]!));
    ctx.save(positions);
    return new Tensor(out, [positions.length], x.dtype);
  },
  // The selected elements send their gradient back to their positions; the others get 0.
  backward: (g, { args: [x, mask], saved: positions }) => {
    const shape = broadcastShapes('maskedSelect', x.shape, mask.shape);
    const full = allocate(g.dtype, shapeSize(shape));
    positions.forEach((p, k) => (full[p] = g.data[k]!));
    return [unbroadcast(new Tensor(full, shape, g.dtype), x.shape), null];
  },
});

/** The elements of `x` where `mask` (any dtype, non-zero is true; broadcast with `x`) holds, as a 1-D tensor. */
export function maskedSelect(x: Tensor, mask: Tensor): Tensor {
  return maskedSelectOp(x, mask);
}

/** The indices of the non-zero elements, as an `[n, ndim]` `int32` tensor in row-major order. */
export function nonzero(x: Tensor): Tensor {
  const strides = contiguousStrides(x.shape);
  const rows: number[] = [];
  for (let p = 0; p < x.size; p++) {
    if (x.data[p] === 0) continue;
    let rest = p;
    for (let d = 0; d < x.ndim; d++) {
      const coord = Math.floor(rest / strides[d]!);
      rest -= coord * strides[d]!;
      rows.push(coord);
    }
  }
  if (x.ndim === 0) return new Tensor(new Int32Array(0), [x.data[0] !== 0 ? 1 : 0, 0], 'int32');
  return new Tensor(Int32Array.from(rows), [rows.length / x.ndim, x.ndim], 'int32');
}

/** Sorted positions along `dim`, stable; NaN counts as larger than every number (PyTorch's order). */
function sortIndices(x: Tensor, dim: number, descending: boolean): Tensor {
  const [outer, n, inner] = splitAt(x.shape, dim);
  const out = new Int32Array(x.size);
  const row = new Array<number>(n);
  const values = new Float64Array(n);
  const sign = descending ? -1 : 1;
  const compare = (a: number, b: number): number => {
    const va = values[a]!;
    const vb = values[b]!;
    const nanA = va !== va;
    const nanB = vb !== vb;
    if (nanA || nanB) return nanA === nanB ? a - b : sign * (nanA ? 1 : -1);
    return va === vb ? a - b : sign * (va < vb ? -1 : 1);
  };
  for (let o = 0; o < outer; o++) {
    for (let i = 0; i < inner; i++) {
      for (let k = 0; k < n; k++) {
        row[k] = k;
        values[k] = x.data[(o * n + k) * inner + i]!;
      }
      row.sort(compare);
      for (let k = 0; k < n; k++) out[(o * n + k) * inner + i] = row[k]!;
    }
  }
  return new Tensor(out, x.shape, 'int32');
}

/**
 * Sorts along `dim` (ascending unless `descending`). The sort is stable: equal values keep
 * their order. The values are gathered at the indices, so the gradient flows back through them.
 */
export function sort(x: Tensor, dim = -1, descending = false): ValuesIndices {
  if (x.ndim === 0) return { values: x.clone(), indices: new Tensor(new Int32Array(1), [], 'int32') };
  const d = normalizeDim('sort', dim, x.ndim);
  const indices = sortIndices(x, d, descending);
  return { values: gather(x, d, indices), indices };
}

/** The indices that sort `x` along `dim` (stable; NaN largest). */
export function argsort(x: Tensor, dim = -1, descending = false): Tensor {
  return sort(x, dim, descending).indices;
}

/**
 * The `k` largest (`largest`, the default) or smallest elements along `dim`, in sorted order,
 * with their indices. Ties keep their original order.
 */
export function topk(x: Tensor, k: number, dim = -1, largest = true, _sorted = true): ValuesIndices {
  const d = normalizeDim('topk', dim, x.ndim);
  const n = x.shape[d] ?? 1;
  if (!Number.isInteger(k) || k < 0 || k > n) {
    throw new Error(`topk: k = ${k} is out of range for dimension ${d} of size ${n} (shape ${formatShape(x.shape)})`);
  }
  if (x.ndim === 0) return sort(x);
  const indices = sortIndices(x, d, largest).narrow(d, 0, k);
  return { values: gather(x, d, indices), indices };
}

function extremeAlong(op: string, x: Tensor, dim: number, keepdim: boolean, sign: 1 | -1): ValuesIndices {
  const d = normalizeDim(op, dim, x.ndim);
  const indices = argExtreme(op, x, d, sign);
  // The values are gathered at the indices, so the gradient goes to the selected element only.
  const values = x.ndim === 0 ? x.clone() : gather(x, d, indices);
  return keepdim || x.ndim === 0 ? { values, indices } : { values: values.squeeze(d), indices: indices.squeeze(d) };
}

/** The largest values along `dim` and their indices; the gradient goes to the selected element. */
export function maxDim(x: Tensor, dim: number, keepdim = false): ValuesIndices {
  return extremeAlong('max', x, dim, keepdim, 1);
}

/** The smallest values along `dim` and their indices; the gradient goes to the selected element. */
export function minDim(x: Tensor, dim: number, keepdim = false): ValuesIndices {
  return extremeAlong('min', x, dim, keepdim, -1);
}
