/**
 * Weight initialisers, as PyTorch's `torch.nn.init` (exported as the namespace `init`:
 * `init.kaimingNormal(conv.weight, { mode: 'fanOut', nonlinearity: 'relu' })`).
 *
 * Each fills a tensor in place (outside autograd) and returns it. Random ones draw from a
 * seeded {@link Generator} (the process-wide default one unless `generator` is given), so the
 * same seed builds the same network on every machine. The numbers are not PyTorch's (a
 * different random stream), the distributions are.
 *
 * Fan-in / fan-out of a weight `[out, in, kH, kW]` are `in * kH * kW` and `out * kH * kW`
 * (dimension 1 and dimension 0 times the receptive field), as `_calculate_fan_in_and_fan_out`
 * computes them. For a transposed convolution's weight `[in, out / groups, kH, kW]` that makes
 * PyTorch's "fan-in" `out / groups * kH * kW`, which PyTorch's layer init uses as is.
 *
 * He et al., "Delving Deep into Rectifiers", ICCV 2015 (arXiv 1502.01852), section 2.2: a
 * layer keeps the variance of its activations when `Var(w) = gain^2 / fan`, with
 * `gain = sqrt(2)` for ReLU (and `sqrt(2 / (1 + a^2))` for a leaky ReLU of slope `a`).
 *
 * @module
 */
import { type Tensor, Generator, defaultGenerator } from '../tensor/index.js';

/** Options of the random initialisers. */
export interface InitOptions {
  /** The random stream (default: the process-wide generator seeded by `manualSeed`). */
  generator?: Generator;
}

/** The nonlinearities {@link calculateGain} knows. */
export type Nonlinearity = 'linear' | 'conv1d' | 'conv2d' | 'conv3d' | 'conv_transpose2d' | 'sigmoid' | 'tanh' | 'relu' | 'leaky_relu' | 'selu';

/** Options of {@link kaimingUniform} and {@link kaimingNormal}. */
export interface KaimingOptions extends InitOptions {
  /** Negative slope of the leaky ReLU that follows (default 0). */
  a?: number;
  /** Preserve the variance of the forward pass (`'fanIn'`, default) or of the backward pass (`'fanOut'`). */
  mode?: 'fanIn' | 'fanOut';
  /** The nonlinearity that follows (default `'leaky_relu'`, as PyTorch). */
  nonlinearity?: Nonlinearity;
}

/** `[fanIn, fanOut]` of a weight of at least 2 dimensions (see the module comment). */
export function calculateFanInAndFanOut(t: Tensor): [number, number] {
  if (t.ndim < 2) {
    throw new Error(`init: fan in and fan out can not be computed for a tensor with fewer than 2 dimensions (shape [${t.shape}])`);
  }
  const receptive = t.shape.slice(2).reduce((n, d) => n * d, 1);
  return [t.shape[1]! * receptive, t.shape[0]! * receptive];
}

/**
 * The recommended gain for a nonlinearity (PyTorch's `calculate_gain`): 1 for linear layers and
 * sigmoid, 5/3 for tanh, sqrt(2) for ReLU, sqrt(2 / (1 + slope^2)) for leaky ReLU (slope
 * default 0.01), 3/4 for SELU.
 */
export function calculateGain(nonlinearity: Nonlinearity, param?: number): number {
  switch (nonlinearity) {
    case 'linear':
    case 'conv1d':
    case 'conv2d':
    case 'conv3d':
    case 'conv_transpose2d':
    case 'sigmoid':
      return 1;
    case 'tanh':
      return 5 / 3;
    case 'relu':
      return Math.SQRT2;
    case 'leaky_relu': {
      const slope = param ?? 0.01;
      return Math.sqrt(2 / (1 + slope * slope));
    }
    case 'selu':
      return 3 / 4;
    default:
      throw new Error(`calculateGain: unknown nonlinearity '${String(nonlinearity)}'`);
  }
}

/** Fills `t` with samples of U(a, b). */
export function uniform(t: Tensor, a = 0, b = 1, options: InitOptions = {}): Tensor {
  const g = options.generator ?? defaultGenerator;
  for (let i = 0; i < t.size; i++) t.data[i] = a + (b - a) * g.uniform();
  return t;
}

/** Fills `t` with samples of N(mean, std^2). */
export function normal(t: Tensor, mean = 0, std = 1, options: InitOptions = {}): Tensor {
  const g = options.generator ?? defaultGenerator;
  for (let i = 0; i < t.size; i++) t.data[i] = mean + std * g.normal();
  return t;
}

/** Fills `t` with `value`. */
export function constant(t: Tensor, value: number): Tensor {
  t.data.fill(value);
  return t;
}

/** Fills `t` with zeros. */
export function zeros(t: Tensor): Tensor {
  return constant(t, 0);
}

/** Fills `t` with ones. */
export function ones(t: Tensor): Tensor {
  return constant(t, 1);
}

/** The standard deviation He initialisation aims for: `gain / sqrt(fan)`. */
function kaimingStd(t: Tensor, options: KaimingOptions): number {
  const [fanIn, fanOut] = calculateFanInAndFanOut(t);
  const fan = (options.mode ?? 'fanIn') === 'fanIn' ? fanIn : fanOut;
  if (fan === 0) throw new Error(`init: cannot initialise a tensor with zero fan (shape [${t.shape}])`);
  const gain = calculateGain(options.nonlinearity ?? 'leaky_relu', options.a ?? 0);
  return gain / Math.sqrt(fan);
}

/**
 * He uniform: U(-bound, bound) with `bound = gain * sqrt(3 / fan)` (a uniform of that range has
 * variance `gain^2 / fan`). PyTorch's default for Conv2d and Linear weights is this with
 * `a = sqrt(5)`, i.e. `bound = 1 / sqrt(fanIn)`.
 */
export function kaimingUniform(t: Tensor, options: KaimingOptions = {}): Tensor {
  const bound = Math.sqrt(3) * kaimingStd(t, options);
  return uniform(t, -bound, bound, options);
}

/** He normal: N(0, gain^2 / fan) (torchvision's ResNet conv init uses `mode: 'fanOut', nonlinearity: 'relu'`). */
export function kaimingNormal(t: Tensor, options: KaimingOptions = {}): Tensor {
  return normal(t, 0, kaimingStd(t, options), options);
}

/** Glorot uniform: U(-b, b) with `b = gain * sqrt(6 / (fanIn + fanOut))`. */
export function xavierUniform(t: Tensor, gain = 1, options: InitOptions = {}): Tensor {
  const [fanIn, fanOut] = calculateFanInAndFanOut(t);
  const bound = gain * Math.sqrt(6 / (fanIn + fanOut));
  return uniform(t, -bound, bound, options);
}

/** Glorot normal: N(0, gain^2 * 2 / (fanIn + fanOut)). */
export function xavierNormal(t: Tensor, gain = 1, options: InitOptions = {}): Tensor {
  const [fanIn, fanOut] = calculateFanInAndFanOut(t);
  return normal(t, 0, gain * Math.sqrt(2 / (fanIn + fanOut)), options);
}

/**
 * PyTorch's default initialisation of a layer with a weight and an optional bias (`Linear`,
 * `Conv2d`, `ConvTranspose2d`'s `reset_parameters`): weight He-uniform with `a = sqrt(5)`
 * (bound `1 / sqrt(fanIn)`), bias U(-1/sqrt(fanIn), 1/sqrt(fanIn)).
 */
export function defaultLayerInit(weight: Tensor, bias: Tensor | null, options: InitOptions = {}): void {
  kaimingUniform(weight, { a: Math.sqrt(5), ...options });
  if (bias !== null) {
    const [fanIn] = calculateFanInAndFanOut(weight);
    const bound = fanIn > 0 ? 1 / Math.sqrt(fanIn) : 0;
    uniform(bias, -bound, bound, options);
  }
}
