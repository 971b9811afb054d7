/**
 * RoIPool, RoIAlign and RoIWarp as differentiable ops: the two ways of cutting a fixed-size
 * feature (7x7 for the box head, 14x14 for the mask head) out of a feature map for every region
 * of interest, and the variant between them. The comparison is the heart of the Mask R-CNN
 * paper (He, Gkioxari, Dollár, Girshick, ICCV 2017, section 3, "RoIAlign", and Figure 3).
 *
 * - **RoIPool** (Fast R-CNN) *quantizes twice*: it rounds the box, scaled to feature
 *   coordinates, to whole cells (`round(x1 * spatialScale)`), and it splits that cell range into
 *   `PH x PW` bins whose edges are rounded again (`floor` / `ceil`); each bin is max-pooled. The
 *   pooled feature is misaligned with the box by up to half a cell of the feature map (16 pixels
 *   of the image at stride 32), harmless for classification but bad for pixel-accurate masks.
 * - **RoIAlign** quantizes nothing: the box keeps its continuous coordinates `x1 * spatialScale`,
 *   each bin is `roi_height / PH` by `roi_width / PW` cells, and inside each bin a regular
 *   `gridH x gridW` grid of sample points is read by **bilinear interpolation** from the four
 *   nearest cells, then averaged (or max-pooled).
 *
 * The split of the work: `roi_geometry.ts` computes where each op reads (RoIPool's quantized
 * bins, RoIAlign's sample points, in torchvision's float32 arithmetic, with every corner case
 * written out); this file validates the arguments, declares the kernel slots and wires the
 * differentiable ops; the kernels (`reference/roi.ts`: plain loops; `gpu/roi.ts`: gpu.js;
 * `wasm/roi.ts`: WebAssembly) read the feature map at those places; `roi_inspect.ts` opens one
 * bin of one RoI for notebooks and the course ({@link inspectRoiPool}, {@link inspectRoiAlign}).
 */
import { Tensor, defineOp, type TypedArray } from '../tensor/index.js';
import { Kernel } from './backend.js';
import { checkRoiInputs, outputSizeOf, roiAlignSettings, spatialScaleOf } from './checks.js';
import { roiAlignGeometry, roiPoolGeometry, roiWarpBox, type RoiAlignGeometry, type RoiDims, type RoiPoolGeometry } from './roi_geometry.js';

// ---------------------------------------------------------------------------------------------
// Kernel slots
// ---------------------------------------------------------------------------------------------

/** What a max-pooling forward kernel returns: the pooled values and where each came from. */
export interface PooledWithArgmax {
  /** `[K, C, PH, PW]` the pooled values. */
  output: TypedArray;
  /** `[K, C, PH, PW]` the position of each value's source (-1: none); see the kernel's type. */
  argmax: Int32Array;
}

/**
 * RoIPool forward: `output [K, C, PH, PW]` (the max of each bin, 0 for an empty bin) and
 * `argmax` (same size: the position `h * W + w` of the maximum in its `(n, c)` plane, -1 for an
 * empty bin).
 */
export type RoiPoolForwardKernel = (input: TypedArray, d: RoiDims, g: RoiPoolGeometry) => PooledWithArgmax;
/** RoIPool backward: `grad_input [N, C, H, W]`, each bin's gradient sent to its argmax cell. */
export type RoiPoolBackwardKernel = (gradOutput: TypedArray, argmax: Int32Array, d: RoiDims, g: RoiPoolGeometry) => TypedArray;
/** RoIAlign forward (average): `output [K, C, PH, PW]`. */
export type RoiAlignForwardKernel = (input: TypedArray, d: RoiDims, g: RoiAlignGeometry) => TypedArray;
/** RoIAlign backward (average): `grad_input [N, C, H, W]`. */
export type RoiAlignBackwardKernel = (gradOutput: TypedArray, d: RoiDims, g: RoiAlignGeometry) => TypedArray;
/**
 * RoIAlign forward (max): `output [K, C, PH, PW]` and `argmax` (same size: the winning sample
 * `iy * gridW + ix` of the bin, -1 when the bin has no samples).
 */
export type RoiAlignMaxForwardKernel = (input: TypedArray, d: RoiDims, g: RoiAlignGeometry) => PooledWithArgmax;
/** RoIAlign backward (max): `grad_input [N, C, H, W]`, each bin's gradient to its winning sample's four neighbours. */
export type RoiAlignMaxBackwardKernel = (gradOutput: TypedArray, argmax: Int32Array, d: RoiDims, g: RoiAlignGeometry) => TypedArray;

/** RoIPool's max over each quantized bin. */
export const roiPoolForward = new Kernel<RoiPoolForwardKernel>('roiPool.forward');
/** RoIPool's gradient: to the argmax cell of each bin. */
export const roiPoolBackward = new Kernel<RoiPoolBackwardKernel>('roiPool.backward');
/** RoIAlign's bilinear sampling and average. */
export const roiAlignForward = new Kernel<RoiAlignForwardKernel>('roiAlign.forward');
/** RoIAlign's gradient: each sample's bilinear weights, times the bin's gradient / count. */
export const roiAlignBackward = new Kernel<RoiAlignBackwardKernel>('roiAlign.backward');
/** RoIAlign (max mode): bilinear sampling and a max. */
export const roiAlignMaxForward = new Kernel<RoiAlignMaxForwardKernel>('roiAlign.maxForward');
/** RoIAlign (max mode) gradient: to the winning sample's four neighbours. */
export const roiAlignMaxBackward = new Kernel<RoiAlignMaxBackwardKernel>('roiAlign.maxBackward');

// ---------------------------------------------------------------------------------------------
// Shared by the ops
// ---------------------------------------------------------------------------------------------

function dimsOf(input: Tensor, rois: Tensor, PH: number, PW: number): RoiDims {
  const [N, C, H, W] = input.shape as [number, number, number, number];
  return { N, C, H, W, K: rois.shape[0]!, PH, PW };
}

/** A gradient in the dtype of the tensor it belongs to (gpu kernels compute in float32). */
function gradient(data: TypedArray, like: Tensor): Tensor {
  const t = new Tensor(data, like.shape);
  return t.dtype === like.dtype ? t : t.to(like.dtype);
}

/**
 * A pooling op that remembers where each output came from (RoIPool's argmax cell, RoIAlign max
 * mode's winning sample) and sends each output's gradient back there: RoIPool and RoIAlign's
 * max mode are this one op over different geometry and kernels.
 */
function argmaxPoolOp<G>(
  name: string,
  forward: Kernel<(input: TypedArray, d: RoiDims, g: G) => PooledWithArgmax>,
  backward: Kernel<(gradOutput: TypedArray, argmax: Int32Array, d: RoiDims, g: G) => TypedArray>,
) {
  return defineOp<[Tensor, Tensor, RoiDims, G], Int32Array>({
    name,
    forward: (ctx, input: Tensor, _rois: Tensor, d: RoiDims, g: G) => {
      const { output, argmax } = forward.for()(input.data, d, g);
      ctx.save(argmax);
      return new Tensor(output, [d.K, d.C, d.PH, d.PW]);
    },
    backward: (grad, { args: [input, , d, g], saved: argmax, needsInputGrad }) => [
      needsInputGrad[0] ? gradient(backward.for()(grad.data, argmax, d, g), input) : null,
      null,
      null,
      null,
    ],
  });
}

// ---------------------------------------------------------------------------------------------
// RoIPool
// ---------------------------------------------------------------------------------------------

/** Options of {@link roiPool}. */
export interface RoiPoolOptions {
  /** The pooled size `PH x PW` (an integer for a square). */
  outputSize: number | readonly [number, number];
  /** Feature-map cells per image pixel, i.e. 1/stride (default 1). */
  spatialScale?: number;
}

const roiPoolOp = argmaxPoolOp('roiPool', roiPoolForward, roiPoolBackward);

/**
 * RoIPool (Fast R-CNN; torchvision's `roi_pool`): max-pools each RoI's quantized region of
 * `input [N, C, H, W]` into `PH x PW` bins. `rois` is `[K, 5]` with rows
 * `[batchIndex, x1, y1, x2, y2]` in image coordinates; the output is `[K, C, PH, PW]`.
 *
 * @example
 * ```ts
 * const pooled = roiPool(features, tensor([[0, 10, 10, 124, 124]]), { outputSize: 2, spatialScale: 1 / 32 });
 * ```
 */
export function roiPool(input: Tensor, rois: Tensor, options: RoiPoolOptions): Tensor {
  const op = 'roiPool';
  checkRoiInputs(op, input, rois);
  const [PH, PW] = outputSizeOf(op, options.outputSize);
  const spatialScale = spatialScaleOf(op, options.spatialScale);
  const d = dimsOf(input, rois, PH, PW);
  const g = roiPoolGeometry(rois.data, d, spatialScale, input.dtype !== 'float64');
  return roiPoolOp(input, rois, d, g);
}

// ---------------------------------------------------------------------------------------------
// RoIAlign
// ---------------------------------------------------------------------------------------------

/** Options of {@link roiAlign}. */
export interface RoiAlignOptions {
  /** The pooled size `PH x PW` (an integer for a square): 7 for the box head, 14 for the mask head. */
  outputSize: number | readonly [number, number];
  /** Feature-map cells per image pixel, i.e. 1/stride (default 1). */
  spatialScale?: number;
  /**
   * Sample points per bin along each axis (default -1: adaptive, `ceil(roi / output)` per axis,
   * torchvision.ops.roi_align's default; torchvision's MultiScaleRoIAlign uses 2, the paper 2x2
   * = four points).
   */
  samplingRatio?: number;
  /**
   * `false` (default, what Mask R-CNN and torchvision's detection models use): scale the box
   * as is and clamp it to at least 1x1 cell. `true`: shift by -0.5 cell so that pixel centres
   * line up (Detectron2's `ROIAlignV2`).
   */
  aligned?: boolean;
  /**
   * How a bin's samples are combined: `'avg'` (default; torchvision) or `'max'`: the maximum of
   * the bin's bilinearly interpolated sample values (a sample outside the map reads 0, as in the
   * average), whose gradient goes to the first maximal sample's four neighbours with its
   * bilinear weights (torchvision 0.14 has no max mode; this is the paper's "max" aggregation
   * as mmcv and Detectron compute it).
   */
  mode?: 'avg' | 'max';
}

const roiAlignAvgOp = defineOp({
  name: 'roiAlign',
  forward: (_ctx, input: Tensor, _rois: Tensor, d: RoiDims, g: RoiAlignGeometry) =>
    new Tensor(roiAlignForward.for()(input.data, d, g), [d.K, d.C, d.PH, d.PW]),
  backward: (grad, { args: [input, , d, g], needsInputGrad }) => [
    needsInputGrad[0] ? gradient(roiAlignBackward.for()(grad.data, d, g), input) : null,
    null,
    null,
    null,
  ],
});

const roiAlignMaxOp = argmaxPoolOp('roiAlignMax', roiAlignMaxForward, roiAlignMaxBackward);

/**
 * RoIAlign (Mask R-CNN, section 3; torchvision's `roi_align`): for each RoI, samples
 * `input [N, C, H, W]` by bilinear interpolation on a regular grid in each of `PH x PW` bins,
 * without quantizing the box, and averages (or max-pools) each bin. `rois` is `[K, 5]` with rows
 * `[batchIndex, x1, y1, x2, y2]` in image coordinates; the output is `[K, C, PH, PW]`.
 *
 * @example
 * ```ts
 * // The box head's pooler on a stride-16 map, as torchvision's MultiScaleRoIAlign calls it:
 * const boxFeatures = roiAlign(p4, rois, { outputSize: 7, spatialScale: 1 / 16, samplingRatio: 2 });
 * ```
 */
export function roiAlign(input: Tensor, rois: Tensor, options: RoiAlignOptions): Tensor {
  const op = 'roiAlign';
  checkRoiInputs(op, input, rois);
  const [PH, PW] = outputSizeOf(op, options.outputSize);
  const spatialScale = spatialScaleOf(op, options.spatialScale);
  const { samplingRatio, aligned, mode } = roiAlignSettings(op, options);
  const d = dimsOf(input, rois, PH, PW);
  const g = roiAlignGeometry(rois.data, d, { spatialScale, samplingRatio, aligned }, input.dtype !== 'float64');
  return mode === 'max' ? roiAlignMaxOp(input, rois, d, g) : roiAlignAvgOp(input, rois, d, g);
}

/**
 * RoIWarp (Dai et al., "Instance-aware Semantic Segmentation via Multi-task Network Cascades",
 * 2016, as Mask R-CNN's Table 2c describes it: bilinear sampling, but the RoI quantized): each
 * box corner is first rounded to the feature grid as RoIPool's first rounding does
 * (`round(x * spatialScale)`, half away from zero), then the quantized box is sampled by
 * {@link roiAlign} (bilinear, `aligned = false`, avg or max). So RoIWarp differs from RoIAlign
 * only by that rounding, and from RoIPool only by interpolating instead of rounding the bins:
 * the pair isolates the paper's two sources of misalignment. Gradients flow to `input` (the
 * rounding is not differentiable and the boxes get none, as with the other poolers).
 */
export function roiWarp(input: Tensor, rois: Tensor, options: RoiAlignOptions): Tensor {
  const op = 'roiWarp';
  checkRoiInputs(op, input, rois);
  const spatialScale = spatialScaleOf(op, options.spatialScale);
  if (options.aligned === true) throw new Error(`${op}: the RoI is quantized to whole cells, so aligned (a half-cell shift) does not apply`);
  const q = rois.dtype === 'float64' ? new Float64Array(rois.size) : new Float32Array(rois.size);
  for (let k = 0; k < rois.shape[0]!; k++) q.set(roiWarpBox(rois.data.subarray(5 * k, 5 * k + 5), spatialScale, input.dtype !== 'float64'), 5 * k);
  return roiAlign(input, new Tensor(q, [rois.shape[0]!, 5]), { ...options, aligned: false });
}
