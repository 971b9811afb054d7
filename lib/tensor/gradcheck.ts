/**
 * Gradient checking: the analytic Jacobian from backward against the numerical one from
 * central differences, `(f(x + eps) - f(x - eps)) / (2 eps)`, taken in float64 by default so
 * that the finite-difference error (O(eps^2) truncation plus rounding / eps) stays far below
 * the tolerance (PyTorch's `torch.autograd.gradcheck`).
 */
import { Tensor } from './tensor.js';
import { noGrad } from './autograd.js';
import { type DType, isFloating } from './dtype.js';
import { formatShape } from './shape.js';

/** Options of {@link gradcheck}. */
export interface GradcheckOptions {
  /** Finite-difference step (default 1e-6 in float64, 1e-3 in float32). */
  eps?: number;
  /** Absolute tolerance (default 1e-5 in float64, 1e-2 in float32). */
  atol?: number;
  /** Relative tolerance (default 1e-3 in float64, 1e-2 in float32). */
  rtol?: number;
  /** The precision in which to run the check (default `float64`). */
  dtype?: DType;
}

/** The outcome of {@link gradcheck}. */
export interface GradcheckResult {
  /** True when every Jacobian entry agrees within `atol + rtol * |numerical|`. */
  ok: boolean;
  /** The largest absolute difference seen between analytic and numerical entries. */
  maxError: number;
  /** A description of the worst entry (or of what went wrong). */
  message: string;
}

/**
 * Checks the gradients of `fn` with respect to every input that requires a gradient.
 *
 * Floating inputs are converted to `dtype` (float64 by default) before `fn` sees them; inputs
 * that do not require gradients are converted too but not perturbed. For every output element
 * `i`, backward with a one-hot gradient gives row `i` of the analytic Jacobian; for every
 * input element `j`, two evaluations give column `j` of the numerical one.
 *
 * @example
 * ```ts
 * const x = randn([3, 4], { requiresGrad: true });
 * const result = gradcheck((a) => a.sigmoid().sum(1), [x]);
 * if (!result.ok) throw new Error(result.message);
 * ```
 */
export function gradcheck(fn: (...inputs: Tensor[]) => Tensor, inputs: readonly Tensor[], options: GradcheckOptions = {}): GradcheckResult {
  const dtype = options.dtype ?? 'float64';
  const double = dtype === 'float64';
  const eps = options.eps ?? (double ? 1e-6 : 1e-3);
  const atol = options.atol ?? (double ? 1e-5 : 1e-2);
  const rtol = options.rtol ?? (double ? 1e-3 : 1e-2);
  const checked = inputs.map((t) => t.requiresGrad);
  if (!checked.some((c) => c)) return { ok: false, maxError: NaN, message: 'gradcheck: no input requires a gradient' };
  const args = inputs.map((t, i) => {
    const copy = isFloating(t.dtype) ? t.detach().to(dtype).clone().detach() : t.detach();
    if (checked[i]) copy.requiresGrad = true;
    return copy;
  });

  const output = fn(...args);
  if (!output.requiresGrad) return { ok: false, maxError: NaN, message: 'gradcheck: the output does not require a gradient' };
  const nOut = output.size;

  // Analytic Jacobian, one row per output element.
  const analytic = args.map((a) => new Float64Array(nOut * a.size));
  for (let i = 0; i < nOut; i++) {
    for (const a of args) a.grad = null;
    const seed = new Tensor(new Float64Array(nOut), output.shape, 'float64').to(output.dtype);
    seed.data[i] = 1;
    output.backward(seed, { retainGraph: true });
    args.forEach((a, k) => {
      if (!checked[k] || a.grad === null) return; // no gradient means zero
      for (let j = 0; j < a.size; j++) analytic[k]![i * a.size + j] = a.grad.data[j]!;
    });
  }

  // Numerical Jacobian, one column per input element.
  let maxError = 0;
  let worstBad = -1; // the error of the worst failing entry so far (NaN counts as worst)
  let worst = '';
  noGrad(() => {
    args.forEach((a, k) => {
      if (!checked[k]) return;
      for (let j = 0; j < a.size; j++) {
        const x = a.data[j]!;
        a.data[j] = x + eps;
        const plus = fn(...args).data.slice();
        a.data[j] = x - eps;
        const minus = fn(...args).data.slice(); // copies: the output may be a view of the input
        a.data[j] = x;
        for (let i = 0; i < nOut; i++) {
          const numerical = (plus[i]! - minus[i]!) / (2 * eps);
          const exact = analytic[k]![i * a.size + j]!;
          const error = Math.abs(exact - numerical);
          if (!(error <= maxError)) maxError = error;
          const bad = !(error <= atol + rtol * Math.abs(numerical));
          if (bad && (Number.isNaN(error) || error > worstBad) && !Number.isNaN(worstBad)) {
            worstBad = error;
            worst =
              `input ${k} (shape ${formatShape(a.shape)}) element ${j}, output element ${i}: ` +
              `analytic ${exact}, numerical ${numerical}`;
          }
        }
      }
    });
  });
  const ok = worst === '';
  const message = ok
    ? `gradcheck passed (max abs error ${maxError.toExponential(2)})`
    : `gradcheck failed: ${worst} (atol ${atol}, rtol ${rtol})`;
  return { ok, maxError, message };
}
