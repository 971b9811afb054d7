/**
 * Resizing of NCHW feature maps, PyTorch's `F.interpolate` in modes `'nearest'` and
 * `'bilinear'` (`align_corners=False`), with PyTorch 1.13's index arithmetic, and its backward.
 *
 * Where Mask R-CNN uses it:
 * - FPN's top-down pathway (Lin et al. 2017, section 3 and Fig. 3): the coarser map is upsampled
 *   by nearest neighbour to the size of the lateral map (`size=`, always exactly 2x in FPN) and
 *   added to it.
 * - torchvision's `GeneralizedRCNNTransform` resizes each image bilinearly with
 *   `scale_factor=s, recompute_scale_factor=True`, and `paste_masks_in_image` resizes the 28x28
 *   mask probabilities to each box bilinearly (He et al. 2017, section 3, "Inference").
 *
 * Both modes read, for each output row `oh`, source rows computed from a per-axis scale
 * (PyTorch's `compute_scales_value`, a float32 number as PyTorch computes it for float32 tensors):
 *
 *   scale = float32(1 / scaleFactor)   when a scale factor is given and not recomputed,
 *   scale = float32(in) / float32(out) when the output size is given (or the factor recomputed).
 *
 * - nearest (`nearest_idx` in `aten/src/ATen/native/UpSample.h`): src = oh when out == in,
 *   src = oh >> 1 when out == 2 in, else src = min(floor(float32(oh * scale)), in - 1).
 *   The float32 product is not the exact rational floor: for 14 -> 46, oh = 23 reads row 6, not 7.
 *   (The two shortcuts only matter for a scale factor whose floored output is in or 2 in while
 *   1 / scaleFactor is not 1 or 1/2, e.g. 3 -> 3 with 1.2. There torch 1.13 contradicts itself:
 *   its backward and its forward for 1-channel (channels-last-contiguous) inputs take the
 *   shortcuts, its forward for C > 1 does not. This op takes them in both directions, so its
 *   gradient is the gradient of its forward.)
 * - bilinear (`area_pixel_compute_source_index` and `compute_source_index_and_lambda`):
 *   src = max(scale * (oh + 0.5) - 0.5, 0) (in float64 from the float32 scale, as torch 1.13's CPU
 *   kernel evaluates it); h0 = floor(src), h1 = min(h0 + 1, in - 1);
 *   lambda1 = src - h0, lambda0 = 1 - lambda1 (src = oh, lambda1 = 0 when out == in), and
 *   y = lambda0_h (lambda0_w x[h0, w0] + lambda1_w x[h0, w1]) + lambda1_h (lambda0_w x[h1, w0] + lambda1_w x[h1, w1]).
 *
 * The output size is `floor(in * scaleFactor)` either way; the two scale-factor paths differ only
 * in the scale the kernel uses. Both are linear maps of the input, so the backward adds each
 * output gradient, times its weight, to the input elements it read.
 */
import { Tensor, defineOp, type TypedArray } from '../tensor/index.js';
import { Kernel } from './backend.js';
import { checkRank } from './checks.js';

/** The two resampling modes implemented (PyTorch's names). */
export type InterpolateMode = 'nearest' | 'bilinear';

/**
 * The sizes and per-axis scales one interpolation works with. The `planes = N * C` planes are
 * resized independently.
 */
export interface InterpolateGeometry {
  /** Number of independent planes, N * C. */
  readonly planes: number;
  /** Input plane height. */
  readonly inHeight: number;
  /** Input plane width. */
  readonly inWidth: number;
  /** Output plane height. */
  readonly outHeight: number;
  /** Output plane width. */
  readonly outWidth: number;
  /** The float32 row scale (input rows per output row), see {@link interpolateScale}. */
  readonly scaleH: number;
  /** The float32 column scale. */
  readonly scaleW: number;
}

/**
 * A resampling kernel: forward (`planes * H * W` in, `planes * H_out * W_out` out) or
 * backward (`planes * H_out * W_out` gradient in, `planes * H * W` gradient out).
 */
export type InterpolateKernel = (x: TypedArray, geometry: InterpolateGeometry) => TypedArray;

/** Nearest-neighbour resize (forward). */
export const interpolateNearestForward = new Kernel<InterpolateKernel>('interpolate.nearestForward');
/** Gradient of the nearest-neighbour resize: each output gradient goes to the element it copied. */
export const interpolateNearestBackward = new Kernel<InterpolateKernel>('interpolate.nearestBackward');
/** Bilinear resize, `align_corners=False` (forward). */
export const interpolateBilinearForward = new Kernel<InterpolateKernel>('interpolate.bilinearForward');
/** Gradient of the bilinear resize: each output gradient goes to its four source elements, weighted. */
export const interpolateBilinearBackward = new Kernel<InterpolateKernel>('interpolate.bilinearBackward');

/**
 * The scale the kernels use along one axis, PyTorch's `compute_scales_value` in float32:
 * `float32(1 / scaleFactor)` when a positive scale factor is passed to the kernel (not
 * recomputed), else `float32(inSize) / float32(outSize)`.
 */
export function interpolateScale(inSize: number, outSize: number, scaleFactor?: number): number {
  // Division in float64 then rounding to float32 gives the correctly rounded float32 quotient.
  return scaleFactor !== undefined && scaleFactor > 0 ? Math.fround(1 / scaleFactor) : Math.fround(inSize / outSize);
}

/**
 * The source index of every output position along one axis for nearest-neighbour resizing,
 * PyTorch's `nearest_idx`: `dst` when out == in, `dst >> 1` when out == 2 in, else
 * `min(floor(float32(dst * scale)), in - 1)`.
 */
export function nearestSourceIndices(inSize: number, outSize: number, scale: number): Int32Array {
  const src = new Int32Array(outSize);
  for (let dst = 0; dst < outSize; dst++) {
    if (outSize === inSize) src[dst] = dst;
    else if (outSize === 2 * inSize) src[dst] = dst >> 1;
    // dst * scale is exact in float64 (24-bit by < 2^24); fround rounds it as float32 does.
    else src[dst] = Math.min(Math.floor(Math.fround(dst * scale)), inSize - 1);
  }
  return src;
}

/**
 * For every output position along one axis: the two source indices and their weights of
 * bilinear resizing with `align_corners=False`. Output `dst` reads
 * `lambda0[dst] * x[index0[dst]] + lambda1[dst] * x[index1[dst]]`.
 */
export interface LinearSourceTable {
  /** The lower source index, floor(src). */
  readonly index0: Int32Array;
  /** The upper source index, min(index0 + 1, in - 1). */
  readonly index1: Int32Array;
  /** Weight of index0, 1 - lambda1 (float32). */
  readonly lambda0: Float32Array;
  /** Weight of index1, src - index0 (float32). */
  readonly lambda1: Float32Array;
}

/**
 * The per-axis source table of bilinear resizing (`align_corners=False`), PyTorch's
 * `compute_source_index_and_lambda`: `src = max(scale * (dst + 0.5) - 0.5, 0)` (the float32 scale,
 * the arithmetic in float64, as torch 1.13's CPU kernel does), `index0 = floor(src)`,
 * `index1 = index0 + 1` unless index0 is the last row, `lambda1 = float32(src - index0)` (clamped to
 * [0, 1]), `lambda0 = float32(1 - lambda1)`; out == in copies (`lambda1 = 0`).
 */
export function linearSourceTable(inSize: number, outSize: number, scale: number): LinearSourceTable {
  const table = {
    index0: new Int32Array(outSize),
    index1: new Int32Array(outSize),
    lambda0: new Float32Array(outSize),
    lambda1: new Float32Array(outSize),
  };
  for (let dst = 0; dst < outSize; dst++) {
    if (outSize === inSize) {
      table.index0[dst] = dst;
      table.index1[dst] = dst;
      table.lambda0[dst] = 1;
      table.lambda1[dst] = 0;
      continue;
    }
    // area_pixel_compute_source_index: pixel centres, (dst + 0.5) * scale - 0.5, clamped at 0.
    // The scale is float32 but this line is evaluated in float64 (what torch 1.13's CPU kernel
    // computes: checked weight by weight against its impulse responses); the lambdas are float32.
    let src = scale * (dst + 0.5) - 0.5;
    if (src < 0) src = 0;
    const i0 = Math.floor(src);
    table.index0[dst] = i0;
    table.index1[dst] = i0 < inSize - 1 ? i0 + 1 : i0;
    const lambda1 = Math.fround(Math.min(Math.max(src - i0, 0), 1));
    table.lambda1[dst] = lambda1;
    table.lambda0[dst] = Math.fround(1 - lambda1);
  }
  return table;
}

/** Options of {@link interpolate} (PyTorch's names; give exactly one of `size` and `scaleFactor`). */
export interface InterpolateOptions {
  /** The output size `[H_out, W_out]` (or one number for both). */
  size?: number | readonly [number, number];
  /** The multiplier of the input size (or `[sH, sW]`): the output is `floor(in * scaleFactor)`. */
  scaleFactor?: number | readonly [number, number];
  /** `'nearest'` or `'bilinear'`. */
  mode: InterpolateMode;
  /** Only `false` (PyTorch's default for bilinear, what Mask R-CNN uses); not allowed with `'nearest'`. */
  alignCorners?: false;
  /**
   * With `scaleFactor`: `true` makes the kernel use `in / out` of the floored output size (what
   * torchvision's transform does); `false` or absent (PyTorch's `None`) uses `1 / scaleFactor`.
   */
  recomputeScaleFactor?: boolean;
}

const forwardKernels = { nearest: interpolateNearestForward, bilinear: interpolateBilinearForward };
const backwardKernels = { nearest: interpolateNearestBackward, bilinear: interpolateBilinearBackward };

const interpolateOp = defineOp({
  name: 'interpolate',
  forward: (_ctx, x: Tensor, mode: InterpolateMode, g: InterpolateGeometry) =>
    new Tensor(forwardKernels[mode].for()(x.data, g), [x.shape[0]!, x.shape[1]!, g.outHeight, g.outWidth]),
  backward: (grad, { args: [x, mode, g] }) => [new Tensor(backwardKernels[mode].for()(grad.data, g), x.shape), null, null],
});

/** Reads an int-or-pair of positive numbers. */
function positivePair(name: string, value: number | readonly number[], integer: boolean): [number, number] {
  const v = typeof value === 'number' ? [value, value] : Array.isArray(value) ? [...value] : [];
  if (v.length !== 2 || v.some((x) => typeof x !== 'number' || !Number.isFinite(x) || x <= 0 || (integer && !Number.isInteger(x)))) {
    const what = integer ? 'a positive integer' : 'a positive number';
    throw new Error(`interpolate: ${name} must be ${what} or a pair of them, got ${JSON.stringify(value)}`);
  }
  return v as [number, number];
}

/**
 * Resizes an NCHW tensor, PyTorch's `F.interpolate(input, size, scale_factor, mode,
 * align_corners=False, recompute_scale_factor)` for modes `'nearest'` and `'bilinear'`.
 *
 * @example
 * ```ts
 * const topDown = interpolate(coarser, { size: [lateral.shape[2], lateral.shape[3]], mode: 'nearest' }); // FPN
 * const resized = interpolate(image, { scaleFactor: s, mode: 'bilinear', recomputeScaleFactor: true }); // transform
 * ```
 */
export function interpolate(input: Tensor, options: InterpolateOptions): Tensor {
  const op = 'interpolate';
  checkRank(op, 'input', input, 4);
  if (options === undefined) throw new Error(`${op}: options with a mode and a size or scaleFactor are required`);
  const { mode, size, scaleFactor } = options;
  if (mode !== 'nearest' && mode !== 'bilinear') {
    throw new Error(`${op}: mode must be 'nearest' or 'bilinear', got ${JSON.stringify(mode)}`);
  }
  if (options.alignCorners !== undefined) {
    if (mode === 'nearest') throw new Error(`${op}: alignCorners can only be set with mode 'bilinear' (as in PyTorch)`);
    if (options.alignCorners !== false) throw new Error(`${op}: alignCorners must be false (alignCorners true is not implemented)`);
  }
  if ((size === undefined) === (scaleFactor === undefined)) {
    throw new Error(`${op}: give exactly one of size and scaleFactor (got ${size === undefined ? 'neither' : 'both'})`);
  }
  if (options.recomputeScaleFactor && size !== undefined) {
    throw new Error(`${op}: recomputeScaleFactor is not meaningful with an explicit size`);
  }
  const [n, c, h, w] = input.shape as [number, number, number, number];
  if (h === 0 || w === 0) throw new Error(`${op}: input height and width must be non-zero, got shape [${input.shape}]`);
  let outHeight: number;
  let outWidth: number;
  let scaleH: number;
  let scaleW: number;
  if (size !== undefined) {
    [outHeight, outWidth] = positivePair('size', size, true);
    scaleH = interpolateScale(h, outHeight);
    scaleW = interpolateScale(w, outWidth);
  } else {
    const [fH, fW] = positivePair('scaleFactor', scaleFactor!, false);
    // PyTorch: output = floor(in * scale_factor), computed in float64.
    outHeight = Math.floor(h * fH);
    outWidth = Math.floor(w * fW);
    if (outHeight === 0 || outWidth === 0) {
      throw new Error(`${op}: scaleFactor ${JSON.stringify(scaleFactor)} makes the output of input [${input.shape}] empty (${outHeight}x${outWidth})`);
    }
    const recompute = options.recomputeScaleFactor === true;
    scaleH = recompute ? interpolateScale(h, outHeight) : interpolateScale(h, outHeight, fH);
    scaleW = recompute ? interpolateScale(w, outWidth) : interpolateScale(w, outWidth, fW);
  }
  const geometry: InterpolateGeometry = { planes: n * c, inHeight: h, inWidth: w, outHeight, outWidth, scaleH, scaleW };
  return interpolateOp(input, mode, geometry);
}
