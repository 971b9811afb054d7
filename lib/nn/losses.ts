/**
 * The loss functions of Mask R-CNN (He et al., ICCV 2017, section 3: `L = L_cls + L_box + L_mask`),
 * with PyTorch's semantics (`torch.nn.functional`):
 *
 * - {@link binaryCrossEntropyWithLogits}: the RPN objectness loss and the per-pixel mask loss
 *   `L_mask` (the paper's "average binary cross-entropy loss", one sigmoid per class);
 * - {@link crossEntropy}: the classifier loss `L_cls` (softmax over K + 1 classes);
 * - {@link smoothL1}: the box regression loss `L_box` (Fast R-CNN, Girshick, ICCV 2015,
 *   equation 3; torchvision uses `beta = 1/9`);
 * - {@link l1}: mean absolute error.
 *
 * Each elementwise loss is one differentiable op whose forward and backward are written side by
 * side in the stable form, so that no `exp` overflows and the gradient is exact at every point.
 * Then the `reduction` (`'mean'`, `'sum'` or `'none'`) is applied with tensor ops.
 */
import { Tensor, defineOp, isFloating, logSoftmax, zeros, tensor } from '../tensor/index.js';

/** How the per-element losses are combined: their mean (default), their sum, or none (same shape as the input). */
export type Reduction = 'mean' | 'sum' | 'none';

function reduce(op: string, loss: Tensor, reduction: Reduction): Tensor {
  switch (reduction) {
    case 'mean':
      return loss.mean();
    case 'sum':
      return loss.sum();
    case 'none':
      return loss;
    default:
      throw new Error(`${op}: reduction must be 'mean', 'sum' or 'none', got '${String(reduction)}'`);
  }
}

function checkPair(op: string, input: Tensor, target: Tensor): void {
  if (!isFloating(input.dtype)) throw new Error(`${op}: input must be a floating tensor, got ${input.dtype}`);
  if (input.shape.join() !== target.shape.join()) {
    throw new Error(`${op}: target has shape [${target.shape}] but input has shape [${input.shape}]; they must match`);
  }
}

/** A new tensor of `like`'s shape and dtype whose element `i` is `f(i)`. */
function fill(like: Tensor, f: (i: number) => number): Tensor {
  const out = zeros(like.shape, { dtype: like.dtype });
  for (let i = 0; i < out.size; i++) out.data[i] = f(i);
  return out;
}

/** `sigmoid(x)` without overflow for large |x|. */
function stableSigmoid(x: number): number {
  if (x >= 0) return 1 / (1 + Math.exp(-x));
  const e = Math.exp(x);
  return e / (1 + e);
}

/**
 * Elementwise `w * (max(x, 0) - x z + log(1 + exp(-|x|)))`, which equals
 * `-w (z log sigmoid(x) + (1 - z) log(1 - sigmoid(x)))` but never overflows.
 * d/dx = `w (sigmoid(x) - z)`, d/dz = `-w x`, d/dw = the unweighted loss.
 */
const bceWithLogitsOp = defineOp({
  name: 'binaryCrossEntropyWithLogits',
  forward: (_ctx, x: Tensor, z: Tensor, w: Tensor | null) =>
    fill(x, (i) => {
      const xi = x.data[i]!;
      const loss = Math.max(xi, 0) - xi * z.data[i]! + Math.log1p(Math.exp(-Math.abs(xi)));
      return w === null ? loss : w.data[i]! * loss;
    }),
  backward: (g, { args: [x, z, w], needsInputGrad }) => {
    const weightAt = (i: number) => (w === null ? 1 : w.data[i]!);
    return [
      needsInputGrad[0] ? fill(g, (i) => g.data[i]! * weightAt(i) * (stableSigmoid(x.data[i]!) - z.data[i]!)) : null,
      needsInputGrad[1] ? fill(g, (i) => -g.data[i]! * weightAt(i) * x.data[i]!) : null,
      needsInputGrad[2]
        ? fill(g, (i) => {
            const xi = x.data[i]!;
            return g.data[i]! * (Math.max(xi, 0) - xi * z.data[i]! + Math.log1p(Math.exp(-Math.abs(xi))));
          })
        : null,
    ];
  },
});

/** Options of {@link binaryCrossEntropyWithLogits}. */
export interface BceWithLogitsOptions {
  /** A rescaling weight per element, broadcast to the input's shape. */
  weight?: Tensor;
  /** How to combine the elements (default `'mean'`). */
  reduction?: Reduction;
}

/**
 * Binary cross-entropy between `sigmoid(input)` and `target` (probabilities in [0, 1]), from
 * the logits, computed stably as `max(x, 0) - x z + log(1 + exp(-|x|))` (PyTorch's
 * `F.binary_cross_entropy_with_logits`). Differentiable in input, target and weight.
 */
export function binaryCrossEntropyWithLogits(input: Tensor, target: Tensor, options: BceWithLogitsOptions = {}): Tensor {
  const op = 'binaryCrossEntropyWithLogits';
  checkPair(op, input, target);
  let weight: Tensor | null = null;
  if (options.weight !== undefined) {
    try {
      weight = options.weight.to(input.dtype).expand(input.shape);
    } catch {
      throw new Error(`${op}: weight of shape [${options.weight.shape}] does not broadcast to the input's shape [${input.shape}]`);
    }
  }
  return reduce(op, bceWithLogitsOp(input, target.to(input.dtype), weight), options.reduction ?? 'mean');
}

/**
 * Elementwise smooth L1 of `d = x - y`: `0.5 d^2 / beta` where `|d| < beta`, else `|d| - 0.5 beta`;
 * `beta = 0` is plain `|d|`. d/dx = `-1` where `d <= -beta`, `1` where `d >= beta`, else `d / beta`
 * (PyTorch's kernel, in that order: so with `beta = 0` an exact tie `d = 0` gets -1, where
 * `F.l1_loss` gives 0), d/dy = -d/dx.
 */
const smoothL1Op = defineOp({
  name: 'smoothL1',
  forward: (_ctx, x: Tensor, y: Tensor, beta: number) =>
    fill(x, (i) => {
      const d = x.data[i]! - y.data[i]!;
      const a = Math.abs(d);
      return a < beta ? (0.5 * d * d) / beta : a - 0.5 * beta;
    }),
  backward: (g, { args: [x, y, beta], needsInputGrad }) => {
    const dLossDd = fill(g, (i) => {
      const d = x.data[i]! - y.data[i]!;
      return g.data[i]! * (d <= -beta ? -1 : d >= beta ? 1 : d / beta);
    });
    return [needsInputGrad[0] ? dLossDd : null, needsInputGrad[1] ? dLossDd.neg() : null, null];
  },
});

/** Options of {@link smoothL1}. */
export interface SmoothL1Options {
  /** Where the loss changes from quadratic to linear (default 1; torchvision's detection heads use 1/9; 0 gives L1). */
  beta?: number;
  /** How to combine the elements (default `'mean'`). */
  reduction?: Reduction;
}

/**
 * Smooth L1 loss (Huber loss divided by `beta`; PyTorch's `F.smooth_l1_loss`): quadratic for
 * errors below `beta`, linear above, so that outliers do not dominate the box regression.
 * `beta = 0` gives the L1 loss (with PyTorch's smooth-L1 gradient -1 at exact ties; see {@link l1}).
 */
export function smoothL1(input: Tensor, target: Tensor, options: SmoothL1Options = {}): Tensor {
  const op = 'smoothL1';
  checkPair(op, input, target);
  const beta = options.beta ?? 1;
  if (!(beta >= 0) || !Number.isFinite(beta)) throw new Error(`${op}: beta must be a finite number >= 0, got ${beta}`);
  return reduce(op, smoothL1Op(input, target.to(input.dtype), beta), options.reduction ?? 'mean');
}

/** Options of {@link l1}. */
export interface L1Options {
  /** How to combine the elements (default `'mean'`). */
  reduction?: Reduction;
}

/** Mean absolute error `|x - y|` (PyTorch's `F.l1_loss`); its gradient is `sign(x - y)` (0 at equality). */
export function l1(input: Tensor, target: Tensor, options: L1Options = {}): Tensor {
  checkPair('l1', input, target);
  return reduce('l1', input.sub(target.to(input.dtype)).abs(), options.reduction ?? 'mean');
}

/** Options of {@link crossEntropy}. */
export interface CrossEntropyOptions {
  /** A weight per class `[C]` (default all 1). */
  weight?: Tensor;
  /** Target value that is ignored: no loss, no gradient, not counted in the mean (default -100). */
  ignoreIndex?: number;
  /** How to combine the elements (default `'mean'`: weighted mean over the non-ignored targets). */
  reduction?: Reduction;
}

/**
 * Cross-entropy between the logits `input` (`[N, C]`, or `[N, C, d1, ...]`) and class indices
 * `target` (`int32`, `[N]` or `[N, d1, ...]`), PyTorch's `F.cross_entropy`:
 * `loss_i = -w[t_i] log softmax(x_i)[t_i]`. The mean divides by `sum_i w[t_i]` over the
 * non-ignored targets (NaN if every target is ignored, as PyTorch).
 */
export function crossEntropy(input: Tensor, target: Tensor, options: CrossEntropyOptions = {}): Tensor {
  const op = 'crossEntropy';
  if (!isFloating(input.dtype)) throw new Error(`${op}: input must be floating logits, got ${input.dtype}`);
  if (target.dtype !== 'int32') throw new Error(`${op}: target must hold int32 class indices, got ${target.dtype}`);
  if (input.ndim < 1) throw new Error(`${op}: input must be [N, C] or [N, C, d1, ...], got a scalar`);
  // [C] with target [] is one sample; otherwise the class dimension is 1.
  const batched = input.ndim >= 2;
  const classes = batched ? input.shape[1]! : input.shape[0]!;
  const expected = batched ? [input.shape[0]!, ...input.shape.slice(2)] : [];
  if (target.shape.join() !== expected.join()) {
    throw new Error(`${op}: target has shape [${target.shape}] but input [${input.shape}] needs target [${expected}]`);
  }
  const weight = options.weight;
  if (weight !== undefined && (weight.ndim !== 1 || weight.shape[0] !== classes)) {
    throw new Error(`${op}: weight has shape [${weight.shape}] but there are ${classes} classes`);
  }
  const ignoreIndex = options.ignoreIndex ?? -100;
  // Rows [M, C]: move the class dimension last and flatten the rest.
  let rows: Tensor;
  if (!batched) rows = input.reshape(1, classes);
  else if (input.ndim === 2) rows = input;
  else {
    const order = [0, ...input.shape.slice(2).map((_, i) => i + 2), 1];
    rows = input.permute(order).reshape(-1, classes);
  }
  const m = rows.shape[0]!;
  const index = new Int32Array(m);
  const rowWeight = zeros([m], { dtype: input.dtype });
  for (let i = 0; i < m; i++) {
    const t = target.data[i]!;
    if (t === ignoreIndex) continue; // index 0 with weight 0: no loss, no gradient
    if (t < 0 || t >= classes) throw new Error(`${op}: target ${t} at position ${i} is out of range for ${classes} classes`);
    index[i] = t;
    rowWeight.data[i] = weight === undefined ? 1 : weight.data[t]!;
  }
  const logProb = logSoftmax(rows, 1).gather(1, tensor(index, { dtype: 'int32', shape: [m, 1] })).reshape(m);
  const losses = logProb.neg().mul(rowWeight);
  const reduction = options.reduction ?? 'mean';
  if (reduction === 'none') return losses.reshape(target.shape);
  if (reduction === 'sum') return losses.sum();
  if (reduction === 'mean') return losses.sum().div(rowWeight.sum());
  return reduce(op, losses, reduction); // throws the reduction error
}
