/**
 * Reductions: sum, mean, max/min of the whole tensor, argmax/argmin, and {@link unbroadcast}
 * (a broadcast operand's gradient summed back to its shape, which every broadcasting op's
 * backward uses). Below every other op file: it imports none of them (`max(dim)` / `min(dim)`
 * gather their values and live in `indexing.ts`; the softmax family is composed in `softmax.ts`).
 */
import { Tensor } from './tensor.js';
import { defineOp } from './autograd.js';
import { allocate, floatingOf } from './dtype.js';
import { type Shape, formatShape, normalizeDim, sameShape, splitAt } from './shape.js';

/** The sorted, distinct, non-negative dims a reduction runs over (`undefined`: all of them). */
function reducedDims(op: string, x: Tensor, dim: number | readonly number[] | undefined): number[] {
  if (dim === undefined) return x.shape.map((_, i) => i);
  const dims = (typeof dim === 'number' ? [dim] : [...dim]).map((d) => normalizeDim(op, d, x.ndim));
  const unique = [...new Set(dims)].sort((a, b) => a - b);
  if (unique.length !== dims.length) throw new Error(`${op}: dim ${formatShape(dims)} repeats a dimension`);
  return unique.filter((d) => d < x.ndim); // a scalar's dim 0 reduces nothing
}

/** The output shape of a reduction over `dims`. */
function reducedShape(shape: readonly number[], dims: readonly number[], keepdim: boolean): number[] {
  const out: number[] = [];
  shape.forEach((n, d) => {
    if (!dims.includes(d)) out.push(n);
    else if (keepdim) out.push(1);
  });
  return out;
}

/** Sums over one dimension, keeping it as size 1. */
function sumOneDim(x: Tensor, dim: number): Tensor {
  const [outer, n, inner] = splitAt(x.shape, dim);
  const out = allocate(x.dtype, outer * inner);
  const X = x.data;
  for (let o = 0; o < outer; o++) {
    for (let i = 0; i < inner; i++) {
      let s = 0;
      for (let k = 0; k < n; k++) s += X[(o * n + k) * inner + i]!;
      out[o * inner + i] = s;
    }
  }
  const shape = [...x.shape];
  shape[dim] = 1;
  return new Tensor(out, shape, x.dtype);
}

const sumOp = defineOp({
  name: 'sum',
  forward: (_ctx, x: Tensor, dims: readonly number[], keepdim: boolean) => {
    if (dims.length === 0) return x.clone(); // nothing to reduce (a scalar): never share storage
    let out = x;
    for (let i = dims.length - 1; i >= 0; i--) out = sumOneDim(out, dims[i]!);
    return out.reshape(reducedShape(x.shape, dims, keepdim));
  },
  // Every input element contributes once to its sum: the gradient is the output gradient
  // broadcast back over the reduced dimensions.
  backward: (g, { args: [x, dims] }) => [g.reshape(reducedShape(x.shape, dims, true)).expand(x.shape)],
});

/** Sum of all elements (a scalar), or over `dim` (one or several); `keepdim` keeps them as size 1. */
export function sum(x: Tensor, dim?: number | readonly number[], keepdim = false): Tensor {
  return sumOp(x, reducedDims('sum', x, dim), keepdim);
}

/** Mean of all elements, or over `dim`: the sum divided by the number of elements reduced (NaN if none). */
export function mean(x: Tensor, dim?: number | readonly number[], keepdim = false): Tensor {
  const dims = reducedDims('mean', x, dim);
  const count = dims.reduce((n, d) => n * x.shape[d]!, 1);
  return sumOp(x.to(floatingOf(x.dtype)), dims, keepdim).div(count);
}

/** Index of the extreme (largest with `sign` 1, smallest with -1) along `dim`, first on ties; NaN wins. */
export function argExtreme(op: string, x: Tensor, dim: number, sign: 1 | -1): Tensor {
  const [outer, n, inner] = splitAt(x.shape, dim);
  if (n === 0) throw new Error(`${op}: cannot reduce over dimension ${dim} of size 0 (shape ${formatShape(x.shape)})`);
  const out = new Int32Array(outer * inner);
  const X = x.data;
  for (let o = 0; o < outer; o++) {
    for (let i = 0; i < inner; i++) {
      let best = 0;
      let bestValue = X[o * n * inner + i]!;
      for (let k = 1; k < n && bestValue === bestValue; k++) {
        const v = X[(o * n + k) * inner + i]!;
        if (v !== v || sign * (v - bestValue) > 0) {
          best = k;
          bestValue = v;
        }
      }
      out[o * inner + i] = best;
    }
  }
  const shape = [...x.shape];
  if (x.ndim > 0) shape[dim] = 1;
  return new Tensor(out, shape, 'int32');
}

function argReduce(op: string, x: Tensor, dim: number | undefined, keepdim: boolean, sign: 1 | -1): Tensor {
  if (dim === undefined) {
    if (x.size === 0) throw new Error(`${op}: cannot reduce an empty tensor`);
    const flat = argExtreme(op, x.reshape(-1), 0, sign);
    return keepdim ? flat.reshape(x.shape.map(() => 1)) : flat.reshape([]);
  }
  const d = normalizeDim(op, dim, x.ndim);
  const out = argExtreme(op, x, d, sign);
  return keepdim || x.ndim === 0 ? out : out.squeeze(d);
}

/** Index of the largest element along `dim` (of the flattened tensor without it); the first on ties. */
export function argmax(x: Tensor, dim?: number, keepdim = false): Tensor {
  return argReduce('argmax', x, dim, keepdim, 1);
}

/** Index of the smallest element along `dim` (of the flattened tensor without it); the first on ties. */
export function argmin(x: Tensor, dim?: number, keepdim = false): Tensor {
  return argReduce('argmin', x, dim, keepdim, -1);
}

/**
 * Sums a gradient computed at a broadcast shape back to the shape of the operand that was
 * broadcast: over the leading dimensions it lacked and over its size-1 dimensions.
 */
export function unbroadcast(grad: Tensor, shape: Shape): Tensor {
  if (sameShape(grad.shape, shape)) return grad;
  const lead = grad.ndim - shape.length;
  const dims: number[] = [];
  for (let d = 0; d < grad.ndim; d++) {
    if (d < lead || (shape[d - lead] === 1 && grad.shape[d] !== 1)) dims.push(d);
  }
  const reduced = dims.length > 0 ? sum(grad, dims, true) : grad;
  return reduced.reshape(shape);
}

function extremeAll(op: string, sign: 1 | -1) {
  return defineOp({
    name: op,
    forward: (_ctx, x: Tensor) => {
      if (x.size === 0) throw new Error(`${op}: cannot reduce an empty tensor`);
      const i = argExtreme(op, x.reshape(-1), 0, sign).data[0]!;
      const out = allocate(x.dtype, 1);
      out[0] = x.data[i]!;
      return new Tensor(out, [], x.dtype);
    },
    // Without a dim there is no single index: the gradient is shared evenly by all the elements
    // equal to the result (PyTorch's rule for max() and min() over the whole tensor).
    backward: (g, { args: [x], output }) => {
      const ties = x.eq(output);
      return [ties.mul(g).div(sum(ties))];
    },
  });
}

/** The largest element, as a scalar; tied maxima share the gradient evenly. */
export const max = extremeAll('max', 1);
/** The smallest element, as a scalar; tied minima share the gradient evenly. */
export const min = extremeAll('min', -1);
