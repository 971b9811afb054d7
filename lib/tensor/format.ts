/**
 * PyTorch-style printing: `tensor([[ 1.0000, -2.5000], [...]], requires_grad=True)`, with one
 * number format for the whole tensor (integers as `1.`, fixed with 4 decimals, or scientific
 * when the magnitudes span too much) and `...` summaries for large tensors.
 */
import type { Tensor } from './tensor.js';
import { contiguousStrides } from './shape.js';

/** Tensors with more elements than this print only their first and last `EDGE_ITEMS` per dimension. */
const THRESHOLD = 1000;
const EDGE_ITEMS = 3;

function numberFormatter(t: Tensor, values: ArrayLike<number>): (v: number) => string {
  if (t.dtype === 'int32') return (v) => String(v);
  let maxAbs = 0;
  let minAbs = Infinity;
  let allIntegers = true;
  for (let i = 0; i < values.length; i++) {
    const v = values[i]!;
    if (!Number.isFinite(v)) continue;
    const a = Math.abs(v);
    if (a !== 0) {
      maxAbs = Math.max(maxAbs, a);
      minAbs = Math.min(minAbs, a);
    }
    if (!Number.isInteger(v)) allIntegers = false;
  }
  const special = (v: number) => (Number.isNaN(v) ? 'nan' : v > 0 ? 'inf' : '-inf');
  const scientific = maxAbs > 0 && (maxAbs / minAbs > 1000 || maxAbs > 1e8 || minAbs < 1e-4);
  if (allIntegers && !(maxAbs > 1e8)) return (v) => (Number.isFinite(v) ? `${v.toFixed(0)}.` : special(v));
  if (scientific) {
    return (v) => {
      if (!Number.isFinite(v)) return special(v);
      const [mantissa, exponent] = v.toExponential(4).split('e') as [string, string];
      const sign = exponent.startsWith('-') ? '-' : '+';
      return `${mantissa}e${sign}${exponent.replace(/^[+-]/, '').padStart(2, '0')}`;
    };
  }
  return (v) => (Number.isFinite(v) ? v.toFixed(4) : special(v));
}

/** The indices to show along a dimension of size `n`, with `null` marking the `...` gap. */
function shownIndices(n: number, summarize: boolean): Array<number | null> {
  if (!summarize || n <= 2 * EDGE_ITEMS) return Array.from({ length: n }, (_, i) => i);
  return [...Array.from({ length: EDGE_ITEMS }, (_, i) => i), null, ...Array.from({ length: EDGE_ITEMS }, (_, i) => n - EDGE_ITEMS + i)];
}

/** Formats a tensor as PyTorch's `repr` does. */
export function formatTensor(t: Tensor): string {
  const summarize = t.size > THRESHOLD;
  const strides = contiguousStrides(t.shape);
  // First pass: collect the printed values to choose the format and the column width.
  const shown: number[] = [];
  const collect = (dim: number, offset: number) => {
    if (dim === t.ndim) {
      shown.push(t.data[offset]!);
      return;
    }
    for (const i of shownIndices(t.shape[dim]!, summarize)) if (i !== null) collect(dim + 1, offset + i * strides[dim]!);
  };
  collect(0, 0);
  const fmt = numberFormatter(t, shown);
  // As in PyTorch, the column width comes from the finite values; nan/inf are not padded to it.
  const width = shown.reduce((w, v) => (Number.isFinite(v) ? Math.max(w, fmt(v).length) : w), 0);
  const indent = 'tensor('.length;
  const render = (dim: number, offset: number): string => {
    if (dim === t.ndim) return fmt(t.data[offset]!).padStart(width);
    const parts = shownIndices(t.shape[dim]!, summarize).map((i) => (i === null ? '...' : render(dim + 1, offset + i * strides[dim]!)));
    const separator = dim === t.ndim - 1 ? ', ' : ',' + '\n'.repeat(t.ndim - dim - 1) + ' '.repeat(indent + dim + 1);
    return `[${parts.join(separator)}]`;
  };
  const extras: string[] = [];
  let body: string;
  if (t.size === 0) {
    body = '[]';
    if (t.ndim !== 1) extras.push(`size=(${t.shape.join(', ')}${t.ndim === 1 ? ',' : ''})`);
  } else {
    body = render(0, 0);
  }
  if (t.dtype !== 'float32') extras.push(`dtype=${t.dtype}`);
  if (t.gradFn !== null) extras.push(`grad_fn=<${t.gradFn.toString()}>`);
  else if (t.requiresGrad) extras.push('requires_grad=True');
  return `tensor(${[body, ...extras].join(', ')})`;
}
