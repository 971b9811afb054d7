/**
 * Batch normalization with batch statistics (Ioffe & Szegedy, "Batch Normalization:
 * Accelerating Deep Network Training by Reducing Internal Covariate Shift", ICML 2015), the
 * training-mode computation of `BatchNorm2d` (`lib/nn/layers.ts`), as one differentiable op.
 *
 * Forward (Algorithm 1), per channel c over the m = N H W values of an NCHW input:
 *
 *     mu = (1/m) sum x,   var = (1/m) sum (x - mu)^2            (biased, as the paper and PyTorch)
 *     x^ = (x - mu) / sqrt(var + eps),   y = gamma x^ + beta     (one pass: y = x scale + shift)
 *
 * Backward (section 3, the chain rule through Algorithm 1), with g = dL/dy:
 *
 *     dL/dbeta = sum g,   dL/dgamma = sum g x^,
 *     dL/dx = (gamma / (m sqrt(var + eps))) (m g - sum g - x^ sum g x^)
 *
 * one pass for the two sums and one for dL/dx, instead of the eight broadcast passes of the same
 * formula written with tensor ops. With `relu` the output is `max(y, 0)` (ResNet's and the heads'
 * conv-BN-ReLU) and the backward reads g as `g (y > 0)`, ReLU's own backward: the same values and
 * gradients as the two ops one after the other, without the ReLU's two passes and tensors.
 *
 * The statistics are float64 sums (a float32 sum over the 10^5-10^6 values of a channel loses
 * digits). The reference sums sequentially; the wasm kernels sum two float64 lanes at a time, so
 * the two agree to float64 rounding, not always to the bit.
 *
 * @module
 */
import { Tensor, defineOp, type TypedArray } from '../tensor/index.js';
import { Kernel } from './backend.js';
import { checkRank, checkSameShape } from './checks.js';

/** What {@link BatchNormForwardKernel} returns: the output and the channel statistics it used. */
export interface BatchNormForwardResult {
  /** `x scale + shift` per channel (ReLU applied when asked), the input's dtype and layout. */
  output: TypedArray;
  /** Per-channel mean `[C]`. */
  mean: Float64Array;
  /** Per-channel biased variance `[C]`. */
  variance: Float64Array;
}

/**
 * `batchNorm2d.forward`: the statistics of an NCHW `x` (`channels` channels of `plane = H W`
 * values per image) and the normalized, scaled and shifted output (Algorithm 1).
 */
export type BatchNormForwardKernel = (
  x: TypedArray, weight: TypedArray, bias: TypedArray, channels: number, plane: number, eps: number, relu: boolean,
) => BatchNormForwardResult;

/** What {@link BatchNormBackwardKernel} returns. */
export interface BatchNormBackwardResult {
  /** dL/dx (null when not asked for). */
  gradInput: TypedArray | null;
  /** dL/dgamma = sum g x^ per channel. */
  gradWeight: Float64Array;
  /** dL/dbeta = sum g per channel. */
  gradBias: Float64Array;
}

/**
 * `batchNorm2d.backward`: the gradients for the output gradient `grad`, given the forward's
 * input, statistics and `weight`; `output` is the forward's output when the ReLU was fused
 * (g is then read as `g (output > 0)`), else null.
 */
export type BatchNormBackwardKernel = (
  x: TypedArray, grad: TypedArray, output: TypedArray | null, mean: Float64Array, variance: Float64Array,
  weight: TypedArray, channels: number, plane: number, eps: number, inputGrad: boolean,
) => BatchNormBackwardResult;

/** `1 / sqrt(var + eps)` per channel: the factor of x^ in Algorithm 1, shared by every backend's kernels. */
export function channelInvStd(variance: ArrayLike<number>, eps: number): Float64Array {
  return Float64Array.from(variance, (v) => 1 / Math.sqrt(v + eps));
}

/** A per-channel affine map `y = x scale + shift` ({@link foldedScaleShift}). */
export interface FoldedAffine {
  /** `gamma invstd` per channel. */
  scale: Float64Array;
  /** `beta - mu scale` per channel. */
  shift: Float64Array;
}

/**
 * Algorithm 1's normalize-then-scale-and-shift folded into one affine map per channel:
 * `y = x scale + shift` with `scale = gamma invstd`, `shift = beta - mu scale` (float64), the
 * form every backend's forward kernel applies in one pass.
 */
export function foldedScaleShift(mean: ArrayLike<number>, invstd: ArrayLike<number>, weight: ArrayLike<number>, bias: ArrayLike<number>): FoldedAffine {
  const scale = Float64Array.from(invstd, (s, ch) => weight[ch]! * s);
  const shift = Float64Array.from(scale, (a, ch) => bias[ch]! - mean[ch]! * a);
  return { scale, shift };
}

/** The forward kernel slot: statistics and normalization. */
export const batchNorm2dForward = new Kernel<BatchNormForwardKernel>('batchNorm2d.forward');

/** The backward kernel slot: the two sums and dL/dx. */
export const batchNorm2dBackward = new Kernel<BatchNormBackwardKernel>('batchNorm2d.backward');

/** Options of {@link batchNorm2dTraining}. */
export interface BatchNormTrainingOptions {
  /** Added to the variance (default 1e-5, PyTorch's). */
  eps?: number;
  /** Apply a ReLU to the output, and its mask to the gradient (default false). */
  relu?: boolean;
}

/** What {@link batchNorm2dTraining} returns. */
export interface BatchNormTrainingResult {
  /** The normalized output, differentiable in input, weight and bias. */
  output: Tensor;
  /** The batch mean per channel (for the module's running statistics). */
  mean: Float64Array;
  /** The biased batch variance per channel (the module makes it unbiased for its running variance). */
  variance: Float64Array;
}

/** The op's non-tensor argument: the options, and the statistics the forward leaves for the backward. */
interface BatchNormState {
  eps: number;
  relu: boolean;
  mean: Float64Array;
  variance: Float64Array;
}

const batchNormOp = defineOp({
  name: 'batchNorm2d',
  forward: (_ctx, x: Tensor, weight: Tensor, bias: Tensor, state: BatchNormState) => {
    const [, c, h, w] = x.shape as [number, number, number, number];
    const r = batchNorm2dForward.for()(x.data, weight.data, bias.data, c, h * w, state.eps, state.relu);
    state.mean = r.mean;
    state.variance = r.variance;
    return new Tensor(r.output, x.shape, x.dtype);
  },
  backward: (g, { args: [x, weight, , state], output, needsInputGrad }) => {
    const [, c, h, w] = x.shape as [number, number, number, number];
    const r = batchNorm2dBackward.for()(
      x.data, g.data, state.relu ? output.data : null, state.mean, state.variance, weight.data, c, h * w, state.eps, needsInputGrad[0],
    );
    const perChannel = (v: Float64Array): Tensor => new Tensor(weight.dtype === 'float64' ? v : Float32Array.from(v), [c], weight.dtype);
    return [
      r.gradInput === null ? null : new Tensor(r.gradInput, x.shape, x.dtype),
      needsInputGrad[1] ? perChannel(r.gradWeight) : null,
      needsInputGrad[2] ? perChannel(r.gradBias) : null,
      null,
    ];
  },
});

/**
 * Batch normalization of an NCHW `input` `[N, C, H, W]` with its own batch statistics (training
 * mode; `torch.nn.functional.batch_norm(..., training=True)`), `weight` (gamma) and `bias` (beta)
 * `[C]`, and optionally a fused ReLU. Returns the output and the statistics it used, which the
 * module folds into its running mean and variance. (With one value per channel the variance is 0;
 * `BatchNorm2d` refuses that in training, as PyTorch does.)
 */
export function batchNorm2dTraining(input: Tensor, weight: Tensor, bias: Tensor, options: BatchNormTrainingOptions = {}): BatchNormTrainingResult {
  checkRank('batchNorm2d', 'input', input, 4);
  const [n, c, h, w] = input.shape as [number, number, number, number];
  for (const [name, t] of [['weight', weight], ['bias', bias]] as const) {
    checkSameShape('batchNorm2d', name, t, [c], `the ${c} channels of input ${JSON.stringify(input.shape)}`);
  }
  if (n * h * w === 0) throw new Error(`batchNorm2d: input [${input.shape}] has no values to take statistics of`);
  const state: BatchNormState = { eps: options.eps ?? 1e-5, relu: options.relu ?? false, mean: new Float64Array(0), variance: new Float64Array(0) };
  const output = batchNormOp(input, weight, bias, state);
  return { output, mean: state.mean, variance: state.variance };
}
