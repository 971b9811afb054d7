/**
 * 2-D convolution and its transpose (the "deconvolution" of Mask R-CNN's mask head), NCHW,
 * with PyTorch's semantics (`torch.nn.functional.conv2d` / `conv_transpose2d`, which
 * torchvision's `nn.Conv2d` / `nn.ConvTranspose2d` layers call).
 *
 * conv2d, with weight `[C_out, C_in / groups, kH, kW]` and `g` the group of `c_out`:
 *
 *     out[n][c_out][h_out][w_out] = bias[c_out]
 *         + sum_{c_in, kh, kw} weight[c_out][c_in][kh][kw]
 *                              * input[n][g * C_in/groups + c_in][h_out * s - p + kh * d][w_out * s - p + kw * d]
 *
 * (taps that fall in the zero padding contribute nothing), so
 * `H_out = floor((H + 2p - d (kH - 1) - 1) / s) + 1`.
 *
 * A convolution is linear in its input: `out = C_w(input)`. Its three kernels are
 * - `forward`: `C_w(input)`, a gather (each output pixel reads a window of inputs);
 * - `backwardInput`: `C_w^T(gradOutput)`, the adjoint map, dL/d input;
 * - `backwardWeight`: dL/d weight, the correlation of the input with the output gradient.
 *
 * **The transposed convolution is the adjoint `C_w^T` itself** (Dumoulin & Visin, "A guide to
 * convolution arithmetic for deep learning", arXiv 1603.07285, section 4): `convTranspose2d(x, w)`
 * is exactly conv2d's input gradient with `x` in the place of the output gradient, for the
 * convolution that maps a `[C_out^T, H_out^T, W_out^T]` image to `x`'s size. So its forward is
 * the `conv2d.backwardInput` kernel, its input gradient is the `conv2d.forward` kernel, and its
 * weight gradient is `conv2d.backwardWeight` with the roles of input and output gradient
 * swapped. The three kernel slots below serve both ops: a transposed convolution has no code of
 * its own. Its weight layout `[C_in, C_out / groups, kH, kW]` is the conv2d weight layout read
 * from the other side (torchvision's convention), which is why the same array can be passed.
 *
 * Mask R-CNN (He et al., ICCV 2017, section 3, "Network Architecture", figure 4) uses a
 * 2x2 stride-2 transposed convolution to go from the 14x14 RoI features to 28x28 masks: each
 * input pixel paints one 2x2 block of the output, scaled by the kernel.
 *
 * The loops are in `reference/conv.ts`, the gpu.js kernels in `gpu/conv.ts`.
 */
import { Tensor, defineOp, reluGradient, type TypedArray } from '../tensor/index.js';
import { Kernel } from './backend.js';
import { checkRank, pair } from './checks.js';
import { channelAffine } from './frozen_batch_norm.js';

/**
 * Every size of one convolution, described in the direction of conv2d: it maps an input
 * `[batch, inChannels, inHeight, inWidth]` to an output `[batch, outChannels, outHeight,
 * outWidth]` with a weight `[outChannels, inChannels / groups, kernelHeight, kernelWidth]`.
 * For a transposed convolution the roles are swapped: its input is this output and its output is
 * this input.
 *
 * `outHeight` and `outWidth` are given, not recomputed: a transposed convolution with
 * `outputPadding` has input rows that no output position reads (they get gradient 0).
 */
export interface ConvGeometry {
  /** N. */
  batch: number;
  /** C_in (all groups). */
  inChannels: number;
  /** H. */
  inHeight: number;
  /** W. */
  inWidth: number;
  /** C_out (all groups). */
  outChannels: number;
  /** H_out. */
  outHeight: number;
  /** W_out. */
  outWidth: number;
  /** kH. */
  kernelHeight: number;
  /** kW. */
  kernelWidth: number;
  /** Vertical stride s_h. */
  strideH: number;
  /** Horizontal stride s_w. */
  strideW: number;
  /** Zero rows added above and below, p_h. */
  padH: number;
  /** Zero columns added left and right, p_w. */
  padW: number;
  /** Vertical spacing of the kernel taps, d_h. */
  dilationH: number;
  /** Horizontal spacing of the kernel taps, d_w. */
  dilationW: number;
  /** Channel groups: group `g` maps input channels `[g C_in/groups, (g+1) C_in/groups)` to output channels `[g C_out/groups, ...)`. */
  groups: number;
}

/** `conv2d.forward`: `out = bias + C_w(input)` (`bias` may be null), `[batch, outChannels, outHeight, outWidth]`. */
export type Conv2dForwardKernel = (input: TypedArray, weight: TypedArray, bias: TypedArray | null, geometry: ConvGeometry) => TypedArray;

/** `conv2d.backwardInput`: `gradInput = C_w^T(gradOutput)`, `[batch, inChannels, inHeight, inWidth]`. */
export type Conv2dBackwardInputKernel = (gradOutput: TypedArray, weight: TypedArray, geometry: ConvGeometry) => TypedArray;

/**
 * `conv2d.backwardWeight`: `gradWeight[c_out][c_in][kh][kw] = sum_{n, h_out, w_out} gradOutput[n][c_out][h_out][w_out]
 * * input[n][c_in of the group][h_out s - p + kh d][w_out s - p + kw d]`, `[outChannels, inChannels / groups, kH, kW]`.
 */
export type Conv2dBackwardWeightKernel = (input: TypedArray, gradOutput: TypedArray, geometry: ConvGeometry) => TypedArray;

/** The forward of conv2d (and the input gradient of convTranspose2d). */
export const conv2dForward = new Kernel<Conv2dForwardKernel>('conv2d.forward');

/** The input gradient of conv2d (and the forward of convTranspose2d). */
export const conv2dBackwardInput = new Kernel<Conv2dBackwardInputKernel>('conv2d.backwardInput');

/** The weight gradient of conv2d (and, with input and output gradient swapped, of convTranspose2d). */
export const conv2dBackwardWeight = new Kernel<Conv2dBackwardWeightKernel>('conv2d.backwardWeight');

/** Options of {@link conv2d}; each of stride, padding and dilation is one number or `[h, w]`. */
export interface Conv2dOptions {
  /** Step between output positions (default 1). */
  stride?: number | readonly [number, number];
  /** Implicit zeros on each side (default 0). */
  padding?: number | readonly [number, number];
  /** Spacing between kernel taps (default 1; 2 is an "atrous" convolution). */
  dilation?: number | readonly [number, number];
  /** Channel groups (default 1; `groups = C_in = C_out` is a depthwise convolution). */
  groups?: number;
}

/** Options of {@link convTranspose2d}: those of {@link Conv2dOptions} plus `outputPadding`. */
export interface ConvTranspose2dOptions extends Conv2dOptions {
  /**
   * Extra rows/columns added on the bottom/right of the output (default 0), to pick one of the
   * `stride` input sizes that a strided conv2d maps to the same output size. Must be smaller
   * than the stride or the dilation (PyTorch's rule).
   */
  outputPadding?: number | readonly [number, number];
  /**
   * Apply a ReLU to the output, in the same pass as the bias, and its mask to the gradient
   * (default false): `relu(convTranspose2d(...))` as one op, the same values and gradients
   * without the ReLU's two passes and tensors (Mask R-CNN's `conv5_mask` and its ReLU).
   */
  relu?: boolean;
}

/** `[2,3,4]` */
function fmt(shape: readonly number[]): string {
  return `[${shape.join(',')}]`;
}

/** A kernel's result as a tensor of `dtype` (the gpu kernels compute in float32). */
function wrap(data: TypedArray, shape: readonly number[], dtype: Tensor['dtype']): Tensor {
  const t = new Tensor(data, shape);
  return t.dtype === dtype ? t : t.to(dtype);
}

/** Checks shared by both ops: ranks, dtypes, bias, the groups and the parameters. */
function readArguments(op: string, input: Tensor, weight: Tensor, bias: Tensor | null | undefined, options: ConvTranspose2dOptions) {
  checkRank(op, 'input', input, 4);
  checkRank(op, 'weight', weight, 4);
  if (weight.dtype !== input.dtype) throw new Error(`${op}: input is ${input.dtype} but weight is ${weight.dtype}`);
  if (bias !== null && bias !== undefined) {
    checkRank(op, 'bias', bias, 1);
    if (bias.dtype !== input.dtype) throw new Error(`${op}: input is ${input.dtype} but bias is ${bias.dtype}`);
  }
  const groups = options.groups ?? 1;
  if (!Number.isInteger(groups) || groups < 1) throw new Error(`${op}: groups must be an integer >= 1, got ${JSON.stringify(options.groups)}`);
  const [strideH, strideW] = pair(op, 'stride', options.stride, 1, 1);
  const [padH, padW] = pair(op, 'padding', options.padding, 0, 0);
  const [dilationH, dilationW] = pair(op, 'dilation', options.dilation, 1, 1);
  return { groups, strideH, strideW, padH, padW, dilationH, dilationW };
}

function checkBias(op: string, bias: Tensor | null | undefined, channels: number, weight: Tensor): void {
  if (bias !== null && bias !== undefined && (bias.shape[0] !== channels)) {
    throw new Error(`${op}: bias has shape ${fmt(bias.shape)} but [${channels}] is expected (one per output channel of weight ${fmt(weight.shape)})`);
  }
}

const conv2dOp = defineOp({
  name: 'conv2d',
  forward: (_ctx, input: Tensor, weight: Tensor, bias: Tensor | null, g: ConvGeometry) =>
    wrap(conv2dForward.for()(input.data, weight.data, bias?.data ?? null, g), [g.batch, g.outChannels, g.outHeight, g.outWidth], input.dtype),
  backward: (grad, { args: [input, weight, bias, g], needsInputGrad }) => [
    needsInputGrad[0] ? wrap(conv2dBackwardInput.for()(grad.data, weight.data, g), input.shape, input.dtype) : null,
    needsInputGrad[1] ? wrap(conv2dBackwardWeight.for()(input.data, grad.data, g), weight.shape, weight.dtype) : null,
    // dL/d bias[c_out] = sum over n, h_out, w_out of the output gradient: a plain tensor reduction.
    bias !== null && needsInputGrad[2] ? grad.sum([0, 2, 3]) : null,
    null,
  ],
});

/**
 * 2-D convolution of an NCHW `input` `[N, C_in, H, W]` with `weight` `[C_out, C_in / groups, kH, kW]`
 * and an optional `bias` `[C_out]`, as `torch.nn.functional.conv2d`:
 * `out[n][c_out][y][x] = bias[c_out] + sum_{c_in, kh, kw} weight[c_out][c_in][kh][kw] * input[n][g C_in/groups + c_in][y s - p + kh d][x s - p + kw d]`,
 * with output size `floor((H + 2p - d (kH - 1) - 1) / s) + 1`. Differentiable in input, weight and bias.
 *
 * @example
 * ```ts
 * const x = randn([1, 3, 32, 32]);
 * const w = randn([16, 3, 3, 3]);
 * conv2d(x, w, null, { padding: 1 }).shape; // [1, 16, 32, 32]
 * conv2d(x, w, null, { stride: 2, padding: 1 }).shape; // [1, 16, 16, 16]
 * ```
 */
export function conv2d(input: Tensor, weight: Tensor, bias: Tensor | null = null, options: Conv2dOptions = {}): Tensor {
  const op = 'conv2d';
  const a = readArguments(op, input, weight, bias, options);
  const [batch, inChannels, inHeight, inWidth] = input.shape as [number, number, number, number];
  const [outChannels, inPerGroup, kernelHeight, kernelWidth] = weight.shape as [number, number, number, number];
  if (outChannels % a.groups !== 0) {
    throw new Error(`${op}: groups ${a.groups} must divide the ${outChannels} output channels of weight ${fmt(weight.shape)}`);
  }
  if (inChannels % a.groups !== 0) {
    throw new Error(`${op}: groups ${a.groups} must divide the ${inChannels} input channels of input ${fmt(input.shape)}`);
  }
  if (inChannels !== inPerGroup * a.groups) {
    const expects = a.groups === 1 ? `${inPerGroup}` : `${inPerGroup * a.groups} (${a.groups} groups of ${inPerGroup})`;
    throw new Error(`${op}: input has ${inChannels} channels but weight expects ${expects} (input ${fmt(input.shape)}, weight ${fmt(weight.shape)})`);
  }
  checkBias(op, bias, outChannels, weight);
  const spanH = a.dilationH * (kernelHeight - 1) + 1;
  const spanW = a.dilationW * (kernelWidth - 1) + 1;
  if (spanH > inHeight + 2 * a.padH || spanW > inWidth + 2 * a.padW) {
    throw new Error(
      `${op}: the kernel (${spanH}x${spanW} with dilation [${a.dilationH},${a.dilationW}]) is larger than the padded input ` +
        `(${inHeight + 2 * a.padH}x${inWidth + 2 * a.padW}) (input ${fmt(input.shape)}, weight ${fmt(weight.shape)}, padding [${a.padH},${a.padW}])`,
    );
  }
  const geometry: ConvGeometry = {
    batch,
    inChannels,
    inHeight,
    inWidth,
    outChannels,
    outHeight: Math.floor((inHeight + 2 * a.padH - spanH) / a.strideH) + 1,
    outWidth: Math.floor((inWidth + 2 * a.padW - spanW) / a.strideW) + 1,
    kernelHeight,
    kernelWidth,
    ...a,
  };
  return conv2dOp(input, weight, bias, geometry);
}

const convTranspose2dOp = defineOp({
  name: 'convTranspose2d',
  // The transposed convolution is conv2d's adjoint: conv2d's input gradient with x as the
  // output gradient (g describes the conv2d that maps this op's output back to x's size).
  forward: (_ctx, x: Tensor, weight: Tensor, bias: Tensor | null, g: ConvGeometry, relu: boolean) => {
    const y = wrap(conv2dBackwardInput.for()(x.data, weight.data, g), [g.batch, g.inChannels, g.inHeight, g.inWidth], x.dtype);
    if (bias === null && !relu) return y;
    // The bias (and the ReLU) in one pass: the per-channel affine kernel with scale 1 and shift = bias.
    const c = g.inChannels;
    const plane = y.shape[2]! * y.shape[3]!;
    return new Tensor(channelAffine.for()(y.data, new Float64Array(c).fill(1), bias?.data ?? new Float64Array(c), c, plane, relu), y.shape);
  },
  backward: (grad, { args: [x, weight, bias, g, relu], output, needsInputGrad }) => {
    // Through the fused ReLU first: g (y > 0), as relu's backward computes it (g times 1 or 0).
    const gy = relu ? reluGradient(grad, output) : grad;
    return [
      // The adjoint of the adjoint is the convolution itself: dL/dx = conv2d(grad, weight).
      needsInputGrad[0] ? wrap(conv2dForward.for()(gy.data, weight.data, null, g), x.shape, x.dtype) : null,
      // L = <grad, C_w^T x> = <C_w grad, x>: conv2d's weight gradient with input `grad` and output gradient `x`.
      needsInputGrad[1] ? wrap(conv2dBackwardWeight.for()(gy.data, x.data, g), weight.shape, weight.dtype) : null,
      bias !== null && needsInputGrad[2] ? gy.sum([0, 2, 3]) : null,
      null,
      null,
    ];
  },
});

/**
 * Transposed 2-D convolution ("deconvolution") of an NCHW `input` `[N, C_in, H, W]` with
 * `weight` `[C_in, C_out / groups, kH, kW]` (torchvision's layout: in-channels first) and an
 * optional `bias` `[C_out]`, as `torch.nn.functional.conv_transpose2d`. Each input pixel paints
 * the kernel, scaled by its value, into the output at stride `s`:
 * `out[n][c_out][y s - p + kh d][x s - p + kw d] += input[n][c_in][y][x] * weight[c_in][c_out of the group][kh][kw]`,
 * with output size `(H - 1) s - 2p + d (kH - 1) + outputPadding + 1`. It is the adjoint of
 * {@link conv2d} with the same weight (see this module's notes). Differentiable in input, weight and bias.
 *
 * @example
 * ```ts
 * // Mask R-CNN's mask head: 256 channels, 14x14 -> 28x28 with a 2x2 stride-2 kernel.
 * const x = randn([1, 256, 14, 14]);
 * const w = randn([256, 256, 2, 2]);
 * convTranspose2d(x, w, null, { stride: 2 }).shape; // [1, 256, 28, 28]
 * ```
 */
export function convTranspose2d(input: Tensor, weight: Tensor, bias: Tensor | null = null, options: ConvTranspose2dOptions = {}): Tensor {
  const op = 'convTranspose2d';
  const a = readArguments(op, input, weight, bias, options);
  const [outPadH, outPadW] = pair(op, 'outputPadding', options.outputPadding, 0, 0);
  const [batch, inChannels, inHeight, inWidth] = input.shape as [number, number, number, number];
  const [weightIn, outPerGroup, kernelHeight, kernelWidth] = weight.shape as [number, number, number, number];
  if (inChannels !== weightIn) {
    throw new Error(`${op}: input has ${inChannels} channels but weight expects ${weightIn} (input ${fmt(input.shape)}, weight ${fmt(weight.shape)}; weight is [C_in, C_out/groups, kH, kW])`);
  }
  if (inChannels % a.groups !== 0) {
    throw new Error(`${op}: groups ${a.groups} must divide the ${inChannels} input channels of input ${fmt(input.shape)}`);
  }
  const outChannels = outPerGroup * a.groups;
  checkBias(op, bias, outChannels, weight);
  if ((outPadH >= a.strideH && outPadH >= a.dilationH) || (outPadW >= a.strideW && outPadW >= a.dilationW)) {
    throw new Error(
      `${op}: outputPadding [${outPadH},${outPadW}] must be smaller than either stride [${a.strideH},${a.strideW}] or dilation [${a.dilationH},${a.dilationW}]`,
    );
  }
  const outHeight = (inHeight - 1) * a.strideH - 2 * a.padH + a.dilationH * (kernelHeight - 1) + outPadH + 1;
  const outWidth = (inWidth - 1) * a.strideW - 2 * a.padW + a.dilationW * (kernelWidth - 1) + outPadW + 1;
  if (outHeight < 1 || outWidth < 1) {
    throw new Error(
      `${op}: the output would be ${outHeight}x${outWidth}, it must be at least 1x1 ` +
        `(input ${fmt(input.shape)}, weight ${fmt(weight.shape)}, stride [${a.strideH},${a.strideW}], padding [${a.padH},${a.padW}]: too much padding)`,
    );
  }
  // The conv2d whose adjoint this is maps [N, C_out, outHeight, outWidth] back to the input's size.
  const geometry: ConvGeometry = {
    batch,
    inChannels: outChannels,
    inHeight: outHeight,
    inWidth: outWidth,
    outChannels: inChannels,
    outHeight: inHeight,
    outWidth: inWidth,
    kernelHeight,
    kernelWidth,
    ...a,
  };
  return convTranspose2dOp(input, weight, bias, geometry, options.relu ?? false);
}
