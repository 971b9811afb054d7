/**
 * FrozenBatchNorm2d: batch normalization with fixed statistics and affine parameters, as
 * torchvision's detection backbones use it (the batch is too small to estimate statistics).
 *
 * y = (x - mean) / sqrt(var + eps) * weight + bias, folded per channel into
 * y = x * scale + shift with scale = weight / sqrt(var + eps), shift = bias - mean * scale.
 * weight, bias, mean and var are buffers: only the input receives a gradient,
 * dL/dx = dL/dy * scale.
 *
 * This file is the pattern every op of `lib/ops` follows: the kernel slots (one per piece of
 * forward and backward), the differentiable op that validates its arguments and calls the
 * active backend's kernels, and nothing else. The loops are in `reference/`, the gpu.js
 * kernels in `gpu/`.
 */
import { Tensor, defineOp, type TypedArray } from '../tensor/index.js';
import { Kernel } from './backend.js';
import { checkRank, checkSameShape } from './checks.js';

/**
 * `out[n, c, h, w] = x[n, c, h, w] * scale[c] + shift[c]` for an NCHW tensor with `channels`
 * channels of `planeSize = H * W` elements each; with `relu`, `max(that, 0)` (a NaN stays NaN).
 */
export type ChannelAffineKernel = (x: TypedArray, scale: TypedArray, shift: TypedArray, channels: number, planeSize: number, relu?: boolean) => TypedArray;

/** The per-channel affine map (the forward, and with shift 0 the backward). */
export const channelAffine = new Kernel<ChannelAffineKernel>('frozenBatchNorm2d.channelAffine');

/** Options of {@link frozenBatchNorm2d}. */
export interface FrozenBatchNormOptions {
  /** Added to the variance (torchvision: 1e-5). */
  eps?: number;
}

const frozenBatchNormOp = defineOp({
  name: 'frozenBatchNorm2d',
  forward: (_ctx, x: Tensor, scale: Tensor, shift: Tensor) =>
    new Tensor(channelAffine.for()(x.data, scale.data, shift.data, x.shape[1]!, x.shape[2]! * x.shape[3]!), x.shape),
  backward: (g, { args: [x, scale] }) => [
    new Tensor(channelAffine.for()(g.data, scale.data, new Float64Array(scale.size), x.shape[1]!, x.shape[2]! * x.shape[3]!), x.shape, g.dtype),
  ],
});

/**
 * Frozen batch normalization of an NCHW input with per-channel `weight`, `bias`,
 * `runningMean`, `runningVar` (all `[C]`, no gradients), torchvision's `FrozenBatchNorm2d`.
 */
export function frozenBatchNorm2d(
  input: Tensor,
  weight: Tensor,
  bias: Tensor,
  runningMean: Tensor,
  runningVar: Tensor,
  options: FrozenBatchNormOptions = {},
): Tensor {
  checkRank('frozenBatchNorm2d', 'input', input, 4);
  const channels = input.shape[1]!;
  for (const [name, t] of [['weight', weight], ['bias', bias], ['runningMean', runningMean], ['runningVar', runningVar]] as const) {
    checkSameShape('frozenBatchNorm2d', name, t, [channels], `the ${channels} channels of input ${JSON.stringify(input.shape)}`);
  }
  const eps = options.eps ?? 1e-5;
  // Folding the four buffers into one scale and shift per channel, as torchvision does
  // (in the input's precision).
  const dtype = input.dtype;
  const scale = weight.detach().to(dtype).mul(runningVar.detach().to(dtype).add(eps).pow(-0.5));
  const shift = bias.detach().to(dtype).sub(runningMean.detach().to(dtype).mul(scale));
  return frozenBatchNormOp(input, scale, shift);
}
