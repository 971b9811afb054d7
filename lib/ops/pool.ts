/**
 * 2-D max pooling, PyTorch's `F.max_pool2d(input, kernel_size, stride, padding)` with dilation 1
 * and `ceil_mode=False`, and its backward.
 *
 * Each output element is the maximum of one window of its input plane:
 *
 *   y[n, c, oh, ow] = max_{0 <= ky < kH, 0 <= kx < kW} x[n, c, oh*sH - pH + ky, ow*sW - pW + kx]
 *
 * with positions outside the input (the padding) counting as -inf, and
 * H_out = floor((H + 2 pH - kH) / sH) + 1 (the same for W).
 *
 * Where Mask R-CNN uses it (He et al. 2017, built on ResNet and FPN):
 * - the ResNet stem's 3x3, stride 2, padding 1 pooling after conv1 (He et al. 2016, Table 1);
 * - FPN's P6 (torchvision's `LastLevelMaxPool`): kernel 1, stride 2, i.e. plain subsampling of P5
 *   (Lin et al. 2017, section 4.1: "P6 is simply a stride two subsampling of P5").
 *
 * The gradient of a max is routed to the element that won: dL/dx[argmax of a window] += dL/dy.
 * The forward records the argmax of each window (as PyTorch's `indices`: the offset `ih * W + iw`
 * inside the plane) so that the backward is a scatter (reference) or a gather (gpu).
 *
 * Ties and NaN follow PyTorch's CPU kernel (`aten/src/ATen/native/cpu/MaxPoolKernel.cpp`),
 * which scans the window row by row and replaces the running maximum when
 * `value > max || isnan(value)`: on ties the FIRST maximum in row-major order wins; a NaN in
 * the window makes the output NaN (and the LAST NaN gets the gradient).
 */
import { Tensor, defineOp, type TypedArray } from '../tensor/index.js';
import { Kernel } from './backend.js';
import { checkRank, pair } from './checks.js';

/**
 * The sizes one max pooling works with. The `planes = N * C` planes are pooled independently,
 * so the kernels see the input as `planes` images of `inHeight x inWidth`.
 */
export interface MaxPool2dGeometry {
  /** Number of independent planes, N * C. */
  readonly planes: number;
  /** Input plane height H. */
  readonly inHeight: number;
  /** Input plane width W. */
  readonly inWidth: number;
  /** Output plane height floor((H + 2 pH - kH) / sH) + 1. */
  readonly outHeight: number;
  /** Output plane width floor((W + 2 pW - kW) / sW) + 1. */
  readonly outWidth: number;
  /** Window height kH. */
  readonly kernelH: number;
  /** Window width kW. */
  readonly kernelW: number;
  /** Vertical stride sH. */
  readonly strideH: number;
  /** Horizontal stride sW. */
  readonly strideW: number;
  /** Rows of -inf padding above and below, pH. */
  readonly padH: number;
  /** Columns of -inf padding left and right, pW. */
  readonly padW: number;
}

/**
 * The forward kernel: `output[p, oh, ow]` is the window maximum and `argmax[p, oh, ow]` the
 * offset `ih * W + iw` of the winning element inside plane `p`. `withArgmax` says whether the
 * caller needs the argmax (for a backward pass); a backend may return `null` when it is false.
 */
export type MaxPool2dForwardKernel = (
  input: TypedArray,
  geometry: MaxPool2dGeometry,
  withArgmax: boolean,
) => MaxPool2dResult;

/** What the max-pool forward kernel returns. */
export interface MaxPool2dResult {
  /** The pooled values, `[N, C, H_out, W_out]` row-major. */
  output: TypedArray;
  /** For each output, the flat index (within its input plane) of the window's maximum; `null` when not asked for. */
  argmax: Int32Array | null;
}

/**
 * The backward kernel: `gradInput[p, argmax[p, o]] += gradOutput[p, o]` for every output
 * element `o`, a `planes * H * W` array.
 */
export type MaxPool2dBackwardKernel = (gradOutput: TypedArray, argmax: Int32Array, geometry: MaxPool2dGeometry) => TypedArray;

/** The window maxima and their argmax (forward). */
export const maxPool2dForward = new Kernel<MaxPool2dForwardKernel>('maxPool2d.forward');

/** The gradient routed back to each window's argmax (backward). */
export const maxPool2dBackward = new Kernel<MaxPool2dBackwardKernel>('maxPool2d.backward');

/** Options of {@link maxPool2d} (PyTorch's names; dilation is 1 and `ceil_mode` false). */
export interface MaxPool2dOptions {
  /** The window size kH x kW: an integer or `[kH, kW]`. */
  kernelSize: number | readonly [number, number];
  /** The step between windows (default: `kernelSize`, as in PyTorch). */
  stride?: number | readonly [number, number];
  /** Implicit -inf padding on each side, at most half the kernel size (default 0). */
  padding?: number | readonly [number, number];
}

const maxPool2dOp = defineOp<[Tensor, MaxPool2dGeometry], Int32Array>({
  name: 'maxPool2d',
  forward: (ctx, x: Tensor, geometry: MaxPool2dGeometry) => {
    const { output, argmax } = maxPool2dForward.for()(x.data, geometry, ctx.needsInputGrad[0]!);
    if (ctx.needsInputGrad[0]) ctx.save(argmax!);
    return new Tensor(output, [x.shape[0]!, x.shape[1]!, geometry.outHeight, geometry.outWidth]);
  },
  backward: (g, { args: [x, geometry], saved: argmax }) => [
    new Tensor(maxPool2dBackward.for()(g.data, argmax, geometry), x.shape),
    null,
  ],
});

/**
 * 2-D max pooling of an NCHW tensor, PyTorch's `F.max_pool2d` (dilation 1, `ceil_mode=False`).
 *
 * @example
 * ```ts
 * const c1 = maxPool2d(stem, { kernelSize: 3, stride: 2, padding: 1 }); // ResNet stem
 * const p6 = maxPool2d(p5, { kernelSize: 1, stride: 2 });              // FPN's P6
 * ```
 */
export function maxPool2d(input: Tensor, options: MaxPool2dOptions): Tensor {
  const op = 'maxPool2d';
  checkRank(op, 'input', input, 4);
  const [n, c, h, w] = input.shape as [number, number, number, number];
  if (c === 0 || h === 0 || w === 0) {
    throw new Error(`${op}: input must have non-zero channels, height and width (only the batch may be empty), got shape [${input.shape}]`);
  }
  if (options === undefined || options.kernelSize === undefined) throw new Error(`${op}: kernelSize is required`);
  const [kH, kW] = pair(op, 'kernelSize', options.kernelSize, 1, 1);
  const [sH, sW] = options.stride === undefined ? [kH, kW] : pair(op, 'stride', options.stride, 1, 1);
  const [pH, pW] = pair(op, 'padding', options.padding, 0, 0);
  if (pH > Math.floor(kH / 2) || pW > Math.floor(kW / 2)) {
    throw new Error(`${op}: padding [${pH},${pW}] must be at most half of kernelSize [${kH},${kW}] (PyTorch requires pad <= kernel_size / 2)`);
  }
  // H_out = floor((H + 2 pH - kH) / sH) + 1
  const outHeight = Math.floor((h + 2 * pH - kH) / sH) + 1;
  const outWidth = Math.floor((w + 2 * pW - kW) / sW) + 1;
  if (h + 2 * pH < kH || w + 2 * pW < kW) {
    throw new Error(
      `${op}: kernelSize [${kH},${kW}] is larger than the padded input ` +
        `(input [${input.shape}] with padding [${pH},${pW}] is ${h + 2 * pH}x${w + 2 * pW})`,
    );
  }
  const geometry: MaxPool2dGeometry = {
    planes: n * c,
    inHeight: h,
    inWidth: w,
    outHeight,
    outWidth,
    kernelH: kH,
    kernelW: kW,
    strideH: sH,
    strideW: sW,
    padH: pH,
    padW: pW,
  };
  return maxPool2dOp(input, geometry);
}
