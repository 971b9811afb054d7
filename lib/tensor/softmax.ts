/**
 * The numerically stable softmax family, composed from the primitives below it (tinygrad's way:
 * a new op rarely needs a new backward): the row maximum ({@link maxDim}) is subtracted as a
 * constant before every `exp`.
 */
import type { Tensor } from './tensor.js';
import { noGrad } from './autograd.js';
import { normalizeDim } from './shape.js';
import { where } from './elementwise.js';
import { maxDim } from './indexing.js';

/**
 * The row maxima along `dim` as a constant (no gradient), with infinite maxima replaced by 0 so
 * that subtracting them never makes `inf - inf`.
 */
function stableShift(x: Tensor, dim: number): Tensor {
  return noGrad(() => {
    const m = maxDim(x, dim, true).values;
    return where(m.abs().eq(Infinity), 0, m);
  });
}

/**
 * `log(sum(exp(x)))` along `dim`, computed as `m + log(sum(exp(x - m)))` with `m` the row
 * maximum, so that no `exp` overflows. The gradient is `softmax(x)`.
 */
export function logsumexp(x: Tensor, dim: number, keepdim = false): Tensor {
  const d = normalizeDim('logsumexp', dim, x.ndim);
  const m = stableShift(x, d);
  const out = x.sub(m).exp().sum(d, true).log().add(m);
  return keepdim ? out : out.squeeze(d);
}

/**
 * `exp(x_i) / sum_j exp(x_j)` along `dim`. The row maximum is subtracted first (a constant, so
 * the result and its gradient are unchanged) to keep every `exp` in range.
 */
export function softmax(x: Tensor, dim: number): Tensor {
  const d = normalizeDim('softmax', dim, x.ndim);
  const e = x.sub(stableShift(x, d)).exp();
  return e.div(e.sum(d, true));
}

/** `x - logsumexp(x)` along `dim`: the log of {@link softmax}, without computing softmax first. */
export function logSoftmax(x: Tensor, dim: number): Tensor {
  const d = normalizeDim('logSoftmax', dim, x.ndim);
  const shifted = x.sub(stableShift(x, d));
  return shifted.sub(shifted.exp().sum(d, true).log());
}
