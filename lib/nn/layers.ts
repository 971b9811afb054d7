/**
 * The layers a CNN is built from, with PyTorch's names, parameters, default initialisation and
 * state-dict keys: `Linear`, `Conv2d`, `ConvTranspose2d`, `BatchNorm2d`, `FrozenBatchNorm2d`,
 * `ReLU`, `MaxPool2d`, `AdaptiveAvgPool2d` (global only), `Flatten`, `Identity`.
 *
 * Each layer holds its tensors and calls one op of `lib/ops` (or composes `lib/tensor` ops)
 * in its forward; the arithmetic lives in the ops, with the paper's formulas.
 */
import { Tensor, Generator, isGradEnabled, noGrad, ones, zeros } from '../tensor/index.js';
import { batchNorm2dTraining, conv2d, convTranspose2d, frozenBatchNorm2d, linear, maxPool2d } from '../ops/index.js';
import { Module, type TensorModule } from './module.js';
import { defaultLayerInit } from './init.js';

/** An integer or an `[h, w]` pair, as PyTorch's `_pair` reads layer settings. */
export type IntPair = number | readonly [number, number];

function toPair(layer: string, name: string, v: IntPair, min: number): [number, number] {
  const p: [number, number] = typeof v === 'number' ? [v, v] : [v[0], v[1]];
  if (p.some((x) => !Number.isInteger(x) || x < min)) {
    throw new Error(`${layer}: ${name} must be an integer >= ${min} or a pair of them, got ${JSON.stringify(v)}`);
  }
  return p;
}

function checkPositiveInt(layer: string, name: string, v: number): void {
  if (!Number.isInteger(v) || v <= 0) throw new Error(`${layer}: ${name} must be a positive integer, got ${v}`);
}

/** Options of {@link Linear}. */
export interface LinearOptions {
  /** Whether to learn an additive bias (default `true`). */
  bias?: boolean;
  /** The random stream of the default initialisation. */
  generator?: Generator;
  /** Draw the default initial weights (default `true`); `false` leaves zeros, for weights that are initialised or loaded next. */
  initialize?: boolean;
}

/**
 * A fully connected layer `y = x W^T + b` (PyTorch's `nn.Linear`): `weight` `[out, in]`,
 * `bias` `[out]`. Accepts any input `[..., in]`. Default init: He-uniform with `a = sqrt(5)`,
 * bias U(-1/sqrt(in), 1/sqrt(in)).
 */
export class Linear extends Module {
  /** `[outFeatures, inFeatures]`. */
  readonly weight: Tensor;
  /** `[outFeatures]`, or `null` without bias. */
  readonly bias: Tensor | null;

  /** A layer from `inFeatures` to `outFeatures`. */
  constructor(
    /** Size of each input sample. */
    readonly inFeatures: number,
    /** Size of each output sample. */
    readonly outFeatures: number,
    options: LinearOptions = {},
  ) {
    super();
    checkPositiveInt('Linear', 'inFeatures', inFeatures);
    checkPositiveInt('Linear', 'outFeatures', outFeatures);
    this.weight = this.registerParameter('weight', zeros([outFeatures, inFeatures]));
    this.bias = this.registerParameter('bias', options.bias === false ? null : zeros([outFeatures]));
    if (options.initialize !== false) defaultLayerInit(this.weight, this.bias, options);
  }

  /** `x W^T + b` over the last dimension. */
  forward(x: Tensor): Tensor {
    if (x.ndim === 0 || x.shape[x.ndim - 1] !== this.inFeatures) {
      throw new Error(`Linear: input of shape [${x.shape}] does not end in ${this.inFeatures} features`);
    }
    if (x.ndim === 2) return linear(x, this.weight, this.bias);
    const lead = x.shape.slice(0, -1);
    return linear(x.reshape(-1, this.inFeatures), this.weight, this.bias).reshape([...lead, this.outFeatures]);
  }

  protected override extraRepr(): string {
    return `in_features=${this.inFeatures}, out_features=${this.outFeatures}, bias=${this.bias !== null}`;
  }
}

/** Options of {@link Conv2d}. */
export interface Conv2dLayerOptions {
  /** Step between output positions (default 1). */
  stride?: IntPair;
  /** Zero padding on each side (default 0). */
  padding?: IntPair;
  /** Spacing of the kernel taps (default 1). */
  dilation?: IntPair;
  /** Number of channel groups (default 1). */
  groups?: number;
  /** Whether to learn an additive bias (default `true`). */
  bias?: boolean;
  /** The random stream of the default initialisation. */
  generator?: Generator;
  /** Draw the default initial weights (default `true`); `false` leaves zeros, for weights that are initialised or loaded next. */
  initialize?: boolean;
}

/**
 * What `Conv2d` and `ConvTranspose2d` share (PyTorch's `_ConvNd`): the weight and optional
 * bias, the window settings, their checks, the default initialisation and the printed form.
 * Only the weight's layout and the op called in `forward` differ.
 */
export abstract class ConvNd extends Module {
  /** `[outChannels, inChannels / groups, kH, kW]` for a convolution, `[inChannels, outChannels / groups, kH, kW]` for a transposed one. */
  readonly weight: Tensor;
  /** `[outChannels]`, or `null` without bias. */
  readonly bias: Tensor | null;
  /** `[kH, kW]`. */
  readonly kernelSize: [number, number];
  /** `[sH, sW]`. */
  readonly stride: [number, number];
  /** `[pH, pW]`. */
  readonly padding: [number, number];
  /** `[dH, dW]`. */
  readonly dilation: [number, number];
  /** Number of channel groups. */
  readonly groups: number;

  /**
   * Checks the settings and creates the parameters; `transposed` puts the input channels
   * first in the weight, as PyTorch's `ConvTranspose2d` does.
   */
  protected constructor(
    layer: string,
    /** Channels of the input. */
    readonly inChannels: number,
    /** Channels of the output. */
    readonly outChannels: number,
    kernelSize: IntPair,
    options: Conv2dLayerOptions,
    transposed: boolean,
  ) {
    super();
    checkPositiveInt(layer, 'inChannels', inChannels);
    checkPositiveInt(layer, 'outChannels', outChannels);
    this.kernelSize = toPair(layer, 'kernelSize', kernelSize, 1);
    this.stride = toPair(layer, 'stride', options.stride ?? 1, 1);
    this.padding = toPair(layer, 'padding', options.padding ?? 0, 0);
    this.dilation = toPair(layer, 'dilation', options.dilation ?? 1, 1);
    this.groups = options.groups ?? 1;
    checkPositiveInt(layer, 'groups', this.groups);
    if (inChannels % this.groups !== 0 || outChannels % this.groups !== 0) {
      throw new Error(`${layer}: groups ${this.groups} must divide inChannels ${inChannels} and outChannels ${outChannels}`);
    }
    const weightShape = transposed
      ? [inChannels, outChannels / this.groups, ...this.kernelSize]
      : [outChannels, inChannels / this.groups, ...this.kernelSize];
    this.weight = this.registerParameter('weight', zeros(weightShape));
    this.bias = this.registerParameter('bias', options.bias === false ? null : zeros([outChannels]));
    if (options.initialize !== false) defaultLayerInit(this.weight, this.bias, options);
  }

  protected override extraRepr(): string {
    let s = `${this.inChannels}, ${this.outChannels}, kernel_size=(${this.kernelSize}), stride=(${this.stride})`;
    if (this.padding.some((p) => p !== 0)) s += `, padding=(${this.padding})`;
    if (this.dilation.some((d) => d !== 1)) s += `, dilation=(${this.dilation})`;
    if (this.groups !== 1) s += `, groups=${this.groups}`;
    if (this.bias === null) s += ', bias=False';
    return s;
  }
}

/**
 * 2-D convolution over NCHW input (PyTorch's `nn.Conv2d`): `weight` `[C_out, C_in / groups,
 * kH, kW]`, `bias` `[C_out]`. Default init as `Linear`, with fan-in `C_in / groups * kH * kW`.
 */
export class Conv2d extends ConvNd {
  /** A convolution from `inChannels` to `outChannels` with a `kernelSize` window. */
  constructor(inChannels: number, outChannels: number, kernelSize: IntPair, options: Conv2dLayerOptions = {}) {
    super('Conv2d', inChannels, outChannels, kernelSize, options, false);
  }

  /** The convolution of `x` `[N, C_in, H, W]`. */
  forward(x: Tensor): Tensor {
    return conv2d(x, this.weight, this.bias, { stride: this.stride, padding: this.padding, dilation: this.dilation, groups: this.groups });
  }

  /**
   * The output size `[H_out, W_out]` for an `[H, W]` input:
   * `floor((H + 2p - d (k - 1) - 1) / s) + 1` per axis (shape inference, no arithmetic).
   */
  outputSize(size: readonly [number, number]): [number, number] {
    return [0, 1].map(
      (i) => Math.floor((size[i]! + 2 * this.padding[i]! - this.dilation[i]! * (this.kernelSize[i]! - 1) - 1) / this.stride[i]!) + 1,
    ) as [number, number];
  }
}

/** Options of {@link ConvTranspose2d}. */
export interface ConvTranspose2dLayerOptions extends Conv2dLayerOptions {
  /** Extra rows/columns added on one side of the output (default 0). */
  outputPadding?: IntPair;
}

/**
 * Transposed 2-D convolution ("deconvolution", PyTorch's `nn.ConvTranspose2d`): `weight`
 * `[C_in, C_out / groups, kH, kW]` (in-channels first), `bias` `[C_out]`;
 * `H_out = (H - 1) s - 2p + d (k - 1) + outputPadding + 1`. The mask head of Mask R-CNN uses a
 * 2x2 stride-2 one to go from 14x14 to 28x28.
 */
export class ConvTranspose2d extends ConvNd {
  /** `[opH, opW]`. */
  readonly outputPadding: [number, number];

  /** A transposed convolution from `inChannels` to `outChannels`. */
  constructor(inChannels: number, outChannels: number, kernelSize: IntPair, options: ConvTranspose2dLayerOptions = {}) {
    super('ConvTranspose2d', inChannels, outChannels, kernelSize, options, true);
    this.outputPadding = toPair('ConvTranspose2d', 'outputPadding', options.outputPadding ?? 0, 0);
  }

  /** The transposed convolution of `x` `[N, C_in, H, W]`. */
  forward(x: Tensor): Tensor {
    return this.transposed(x, false);
  }

  /**
   * `relu(forward(x))` as one op (the ReLU applied in the bias pass, its mask in the backward):
   * the same values and gradients without the ReLU's passes and tensors. Forward hooks are not
   * called: {@link chainFusingRelu} fuses only modules without hooks.
   */
  forwardRelu(x: Tensor): Tensor {
    return this.transposed(x, true);
  }

  private transposed(x: Tensor, relu: boolean): Tensor {
    return convTranspose2d(x, this.weight, this.bias, {
      stride: this.stride,
      padding: this.padding,
      outputPadding: this.outputPadding,
      dilation: this.dilation,
      groups: this.groups,
      relu,
    });
  }

  protected override extraRepr(): string {
    const s = super.extraRepr();
    return this.outputPadding.some((p) => p !== 0) ? `${s}, output_padding=(${this.outputPadding})` : s;
  }
}

/** Options of {@link BatchNorm2d}. */
export interface BatchNorm2dOptions {
  /** Added to the variance (default 1e-5). */
  eps?: number;
  /**
   * Weight of the new batch statistic in the running average (default 0.1):
   * `running = (1 - momentum) running + momentum batch`. `null` uses the cumulative average
   * (momentum `1 / num_batches_tracked`), as PyTorch.
   */
  momentum?: number | null;
  /** Learn a per-channel scale and shift (default `true`). */
  affine?: boolean;
  /** Keep running statistics for evaluation (default `true`). */
  trackRunningStats?: boolean;
}

/**
 * Batch normalization over NCHW input (Ioffe & Szegedy, ICML 2015, arXiv 1502.03167,
 * algorithm 1; PyTorch's `nn.BatchNorm2d`):
 * `y = (x - mean) / sqrt(var + eps) * weight + bias` per channel.
 *
 * Training: mean and (biased) variance of the batch over N, H, W; the running statistics are
 * updated with the *unbiased* variance `var * n / (n - 1)`, and `num_batches_tracked` counts
 * the batches. Evaluation: the running statistics. State-dict keys: `weight`, `bias`,
 * `running_mean`, `running_var`, `num_batches_tracked` (int).
 */
export class BatchNorm2d extends Module {
  /** Per-channel scale `[C]` (parameter), or `null` without `affine`. */
  readonly weight: Tensor | null;
  /** Per-channel shift `[C]` (parameter), or `null` without `affine`. */
  readonly bias: Tensor | null;
  /** Running mean `[C]` (buffer). */
  readonly runningMean: Tensor | null;
  /** Running variance `[C]` (buffer). */
  readonly runningVar: Tensor | null;
  /** Number of training batches seen, a scalar `int32` (buffer). */
  readonly numBatchesTracked: Tensor | null;
  /** Added to the variance. */
  readonly eps: number;
  /** See {@link BatchNorm2dOptions.momentum}. */
  readonly momentum: number | null;

  /** Batch normalization of `numFeatures` channels. */
  constructor(
    /** Number of channels C. */
    readonly numFeatures: number,
    options: BatchNorm2dOptions = {},
  ) {
    super();
    checkPositiveInt('BatchNorm2d', 'numFeatures', numFeatures);
    this.eps = options.eps ?? 1e-5;
    this.momentum = options.momentum === undefined ? 0.1 : options.momentum;
    const affine = options.affine ?? true;
    const track = options.trackRunningStats ?? true;
    this.weight = this.registerParameter('weight', affine ? ones([numFeatures]) : null);
    this.bias = this.registerParameter('bias', affine ? zeros([numFeatures]) : null);
    this.runningMean = this.registerBuffer('running_mean', track ? zeros([numFeatures]) : null);
    this.runningVar = this.registerBuffer('running_var', track ? ones([numFeatures]) : null);
    this.numBatchesTracked = this.registerBuffer('num_batches_tracked', track ? zeros([], { dtype: 'int32' }) : null);
  }

  /** Normalizes `x` `[N, C, H, W]` with batch statistics (training) or running ones (evaluation). */
  forward(x: Tensor): Tensor {
    return this.normalize(x, false);
  }

  /**
   * `relu(forward(x))`, with batch statistics as one op (the ReLU applied as the output is
   * written, and its mask applied to the gradient in the norm's backward): the same values and
   * gradients as the two modules one after the other, without the ReLU's passes and tensors.
   * Forward hooks are not called: callers fuse only modules without hooks (see `resnet.ts`).
   */
  forwardRelu(x: Tensor): Tensor {
    return this.normalize(x, true);
  }

  private normalize(x: Tensor, relu: boolean): Tensor {
    if (x.ndim !== 4 || x.shape[1] !== this.numFeatures) {
      throw new Error(`BatchNorm2d: expected input [N, ${this.numFeatures}, H, W], got [${x.shape}]`);
    }
    const c = this.numFeatures;
    const useBatchStats = this.training || this.runningMean === null;
    const weight = this.weight ?? ones([c], { dtype: x.dtype });
    const bias = this.bias ?? zeros([c], { dtype: x.dtype });
    if (!useBatchStats) {
      // Running statistics are constants: with no gradient wanted for the affine terms, the
      // layer is the frozen batch norm's per-channel scale and shift (one pass).
      const affineNeedsGrad = isGradEnabled() && (weight.requiresGrad || bias.requiresGrad);
      if (!affineNeedsGrad) return maybeRelu(frozenBatchNorm2d(x, weight, bias, this.runningMean!, this.runningVar!, { eps: this.eps }), relu);
      const mean = this.runningMean!.reshape(1, c, 1, 1);
      const variance = this.runningVar!.reshape(1, c, 1, 1);
      return maybeRelu(x.sub(mean).div(variance.add(this.eps).sqrt()).mul(weight.reshape(1, c, 1, 1)).add(bias.reshape(1, c, 1, 1)), relu);
    }
    const n = x.shape[0]! * x.shape[2]! * x.shape[3]!;
    // An empty batch (a mask head given no RoIs) has no statistics: PyTorch returns it through
    // the affine terms (keeping the gradient chain) and leaves the running statistics alone.
    if (n === 0) return maybeRelu(x.mul(weight.reshape(1, c, 1, 1)).add(bias.reshape(1, c, 1, 1)), relu);
    if (this.training && n === 1) {
      throw new Error(`BatchNorm2d: expected more than 1 value per channel when training, got input [${x.shape}]`);
    }
    const { output, mean, variance } = batchNorm2dTraining(x, weight, bias, { eps: this.eps, relu });
    if (this.training && this.runningMean !== null) this.updateRunningStats(mean, variance, n);
    return output;
  }

  /** `running = (1 - m) running + m batch`, with the unbiased batch variance. */
  private updateRunningStats(mean: Float64Array, variance: Float64Array, n: number): void {
    noGrad(() => {
      const tracked = this.numBatchesTracked!;
      tracked.data[0] = tracked.data[0]! + 1;
      const m = this.momentum ?? 1 / tracked.data[0]!;
      const rm = this.runningMean!.data;
      const rv = this.runningVar!.data;
      for (let ch = 0; ch < this.numFeatures; ch++) {
        rm[ch] = (1 - m) * rm[ch]! + m * mean[ch]!;
        rv[ch] = (1 - m) * rv[ch]! + m * variance[ch]! * (n / (n - 1));
      }
    });
  }

  protected override extraRepr(): string {
    return `${this.numFeatures}, eps=${this.eps}, momentum=${this.momentum}, affine=${this.weight !== null}, track_running_stats=${this.runningMean !== null}`;
  }
}

/** `relu(y)` when `relu` is set, else `y`. */
function maybeRelu(y: Tensor, relu: boolean): Tensor {
  return relu ? y.relu() : y;
}

/** Options of {@link FrozenBatchNorm2d}. */
export interface FrozenBatchNorm2dOptions {
  /** Added to the variance (default 1e-5, torchvision's). */
  eps?: number;
}

/**
 * Batch normalization with fixed statistics and affine terms (torchvision's
 * `ops.FrozenBatchNorm2d`, the default norm of its detection backbones: a detector's batches
 * are too small to estimate statistics). `weight`, `bias`, `running_mean`, `running_var` are
 * *buffers*: they are saved and loaded but never trained. Loading ignores a
 * `num_batches_tracked` key, as torchvision does, so BatchNorm checkpoints load.
 */
export class FrozenBatchNorm2d extends Module {
  /** Per-channel scale `[C]` (buffer). */
  readonly weight: Tensor;
  /** Per-channel shift `[C]` (buffer). */
  readonly bias: Tensor;
  /** Mean `[C]` (buffer). */
  readonly runningMean: Tensor;
  /** Variance `[C]` (buffer). */
  readonly runningVar: Tensor;
  /** Added to the variance. */
  readonly eps: number;

  /** A frozen normalization of `numFeatures` channels (identity statistics until loaded). */
  constructor(
    /** Number of channels C. */
    readonly numFeatures: number,
    options: FrozenBatchNorm2dOptions = {},
  ) {
    super();
    checkPositiveInt('FrozenBatchNorm2d', 'numFeatures', numFeatures);
    this.eps = options.eps ?? 1e-5;
    this.weight = this.registerBuffer('weight', ones([numFeatures]));
    this.bias = this.registerBuffer('bias', zeros([numFeatures]));
    this.runningMean = this.registerBuffer('running_mean', zeros([numFeatures]));
    this.runningVar = this.registerBuffer('running_var', ones([numFeatures]));
  }

  /** `x * scale + shift` per channel, with `scale = weight / sqrt(var + eps)`, `shift = bias - mean * scale`. */
  forward(x: Tensor): Tensor {
    return frozenBatchNorm2d(x, this.weight, this.bias, this.runningMean, this.runningVar, { eps: this.eps });
  }

  protected override ignoredStateKeys(): readonly string[] {
    return ['num_batches_tracked'];
  }

  protected override extraRepr(): string {
    return `${this.numFeatures}, eps=${this.eps}`;
  }
}

/** `max(x, 0)` elementwise (PyTorch's `nn.ReLU`). */
export class ReLU extends Module {
  /** Applies the rectifier. */
  forward(x: Tensor): Tensor {
    return x.relu();
  }
}

/** A module that can apply a following ReLU inside its own op ({@link BatchNorm2d}, {@link ConvTranspose2d}). */
export interface ReluFusable {
  /** `relu(forward(x))`, the same values and gradients, as one op. */
  forwardRelu(x: Tensor): Tensor;
}

/** Whether `m` has a forward hook (hooks replace the instance's `forward`; see `Module.registerForwardHook`). */
function hooked(m: TensorModule): boolean {
  return Object.prototype.hasOwnProperty.call(m, 'forward');
}

/**
 * Applies `layers` in order, as a `Sequential` does, except that a {@link ReluFusable} module
 * followed by a {@link ReLU} runs as one fused op ({@link ReluFusable.forwardRelu}: the same
 * values and gradients, one pass and one tensor fewer each way). A pair in which either module
 * has forward hooks runs unfused, so that every hook still sees the output it expects.
 */
export function chainFusingRelu(layers: readonly TensorModule[], x: Tensor): Tensor {
  for (let i = 0; i < layers.length; i++) {
    const m = layers[i]!;
    const next = layers[i + 1];
    if (next instanceof ReLU && 'forwardRelu' in m && !hooked(m) && !hooked(next)) {
      x = (m as unknown as ReluFusable).forwardRelu(x);
      i++;
    } else x = m.forward(x);
  }
  return x;
}

/** Options of {@link MaxPool2d}. */
export interface MaxPool2dLayerOptions {
  /** Step between windows (default: the kernel size). */
  stride?: IntPair;
  /** Implicit -infinity padding on each side (default 0). */
  padding?: IntPair;
}

/** Max pooling over NCHW input (PyTorch's `nn.MaxPool2d`; ResNet's stem uses 3x3, stride 2, padding 1). */
export class MaxPool2d extends Module {
  /** `[kH, kW]`. */
  readonly kernelSize: [number, number];
  /** `[sH, sW]`. */
  readonly stride: [number, number];
  /** `[pH, pW]`. */
  readonly padding: [number, number];

  /** Pooling windows of `kernelSize`. */
  constructor(kernelSize: IntPair, options: MaxPool2dLayerOptions = {}) {
    super();
    this.kernelSize = toPair('MaxPool2d', 'kernelSize', kernelSize, 1);
    this.stride = toPair('MaxPool2d', 'stride', options.stride ?? kernelSize, 1);
    this.padding = toPair('MaxPool2d', 'padding', options.padding ?? 0, 0);
  }

  /** The maximum of each window. */
  forward(x: Tensor): Tensor {
    return maxPool2d(x, { kernelSize: this.kernelSize, stride: this.stride, padding: this.padding });
  }

  /** The output size `[H_out, W_out]` for an `[H, W]` input: `floor((H + 2p - k) / s) + 1` per axis. */
  outputSize(size: readonly [number, number]): [number, number] {
    return [0, 1].map((i) => Math.floor((size[i]! + 2 * this.padding[i]! - this.kernelSize[i]!) / this.stride[i]!) + 1) as [number, number];
  }

  protected override extraRepr(): string {
    return `kernel_size=(${this.kernelSize}), stride=(${this.stride}), padding=(${this.padding})`;
  }
}

/**
 * Adaptive average pooling to a 1x1 output (PyTorch's `nn.AdaptiveAvgPool2d((1, 1))`, the
 * global average pooling before ResNet's classifier). Only `outputSize` 1 is supported.
 */
export class AdaptiveAvgPool2d extends Module {
  /** Global average pooling; `outputSize` must be 1 (or `[1, 1]`). */
  constructor(outputSize: IntPair = 1) {
    super();
    const [h, w] = toPair('AdaptiveAvgPool2d', 'outputSize', outputSize, 1);
    if (h !== 1 || w !== 1) throw new Error(`AdaptiveAvgPool2d: only outputSize 1 is supported, got ${JSON.stringify(outputSize)}`);
  }

  /** The mean of each channel, `[N, C, 1, 1]`. */
  forward(x: Tensor): Tensor {
    if (x.ndim !== 4) throw new Error(`AdaptiveAvgPool2d: expected input [N, C, H, W], got [${x.shape}]`);
    return x.mean([2, 3], true);
  }
}

/** Flattens dimensions `startDim..endDim` into one (PyTorch's `nn.Flatten`, default from dimension 1). */
export class Flatten extends Module {
  /** Flattens `startDim..endDim` (defaults 1 and -1). */
  constructor(
    /** First dimension to merge. */
    readonly startDim = 1,
    /** Last dimension to merge. */
    readonly endDim = -1,
  ) {
    super();
  }

  /** The flattened tensor. */
  forward(x: Tensor): Tensor {
    return x.flatten(this.startDim, this.endDim);
  }
}

/** Returns its input (PyTorch's `nn.Identity`): a placeholder that keeps a key name free. */
export class Identity extends Module {
  /** `x`, unchanged. */
  forward(x: Tensor): Tensor {
    return x;
  }
}
