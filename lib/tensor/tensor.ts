/**
 * The {@link Tensor} class: storage, shape, dtype, and the autograd fields. Its methods are thin
 * wrappers over the functional ops of this folder (`x.add(y)` is `add(x, y)`), so that a reader
 * finds each op's forward and backward in one place.
 */
import type { NdArray } from 'ndarray';
import { type DType, type TypedArray, allocate, dtypeOfArray, isFloating } from './dtype.js';
import { type Shape, checkShape, formatShape, shapeSize } from './shape.js';
import { type GradFn, runBackward } from './autograd.js';
import * as ew from './elementwise.js';
import * as red from './reduce.js';
import * as views from './views.js';
import * as idx from './indexing.js';
import * as sm from './softmax.js';
import { matmul } from './matmul.js';
import { formatTensor } from './format.js';
import { toNdarray, toNested, type Nested } from './interop.js';

/** A scalar or a tensor: binary ops accept either on their right-hand side. */
export type TensorLike = Tensor | number;

/** Values and their indices, as returned by `max(dim)`, `min(dim)`, `topk` and `sort`. */
export interface ValuesIndices {
  /** The selected values (differentiable). */
  values: Tensor;
  /** Where they came from along the reduced dimension (`int32`). */
  indices: Tensor;
}

/** Options of {@link Tensor.backward}. */
export interface BackwardOptions {
  /** Keep the graph so that backward can run through it again (PyTorch's `retain_graph`). */
  retainGraph?: boolean;
}

/** Reads `reshape(2, 3)` and `reshape([2, 3])` alike. */
function shapeArgs(args: ReadonlyArray<number | readonly number[]>): number[] {
  return args.length === 1 && Array.isArray(args[0]) ? [...args[0]] : (args as number[]);
}

/**
 * An n-dimensional array of numbers that records the operations applied to it, so that
 * gradients can flow back through them.
 *
 * Storage is one contiguous row-major typed array (`Float32Array` for `float32`). Ops never
 * modify their inputs; `reshape`-like views share storage with their source, every other op
 * returns new storage.
 */
export class Tensor {
  /** The elements, row-major. Views made by `reshape`/`view`/`squeeze`/`unsqueeze`/`flatten` share it. */
  readonly data: TypedArray;
  /** The size of each dimension; `[]` for a scalar. */
  readonly shape: readonly number[];
  /** The element type. */
  readonly dtype: DType;
  /** The accumulated gradient, filled by {@link Tensor.backward} on leaves that require it. */
  grad: Tensor | null = null;
  /** The node that produced this tensor (`null` for leaves: tensors created by the user). */
  gradFn: GradFn | null = null;
  /** Whether a non-leaf keeps its gradient in `.grad` (see {@link Tensor.retainGrad}). */
  retainsGrad = false;
  private requiresGradFlag = false;

  /**
   * Wraps existing storage without copying it. Most code should call {@link tensor} instead,
   * which copies and infers the shape.
   */
  constructor(data: TypedArray, shape: Shape, dtype: DType = dtypeOfArray(data)) {
    checkShape('Tensor', shape);
    if (dtypeOfArray(data) !== dtype) {
      throw new Error(`Tensor: ${data.constructor.name} storage cannot hold dtype ${dtype}`);
    }
    if (data.length !== shapeSize(shape)) {
      throw new Error(`Tensor: shape ${formatShape(shape)} needs ${shapeSize(shape)} elements, got ${data.length}`);
    }
    this.data = data;
    this.shape = Object.freeze([...shape]);
    this.dtype = dtype;
  }

  /** Number of elements. */
  get size(): number {
    return this.data.length;
  }

  /** Number of dimensions. */
  get ndim(): number {
    return this.shape.length;
  }

  /**
   * Whether gradients are computed for this tensor. Outputs of recorded ops require gradients
   * automatically; only leaves may be switched, and only floating tensors may require them.
   */
  get requiresGrad(): boolean {
    return this.requiresGradFlag || this.gradFn !== null;
  }

  /** Switches gradient tracking on or off for a leaf tensor. */
  set requiresGrad(value: boolean) {
    if (this.gradFn !== null) {
      throw new Error(
        'requiresGrad: only leaf tensors can change requiresGrad; use detach() to get a leaf from a non-leaf',
      );
    }
    if (value && !isFloating(this.dtype)) {
      throw new Error(`requiresGrad: only floating-point tensors can require gradients, got ${this.dtype}`);
    }
    this.requiresGradFlag = value;
  }

  /** True for tensors not produced by a recorded op (PyTorch's `is_leaf`). */
  get isLeaf(): boolean {
    return this.gradFn === null;
  }

  /** Sets {@link Tensor.requiresGrad} and returns this tensor (PyTorch's `requires_grad_`). */
  requiresGrad_(value = true): this {
    this.requiresGrad = value;
    return this;
  }

  /** Asks a non-leaf tensor to keep its gradient in `.grad` during backward. */
  retainGrad(): this {
    if (!this.requiresGrad) throw new Error('retainGrad: the tensor does not require gradients');
    this.retainsGrad = true;
    return this;
  }

  /**
   * Computes the gradient of this tensor with respect to every leaf that requires one, and adds
   * it to their `.grad`. Without `gradient` the tensor must hold a single element (a loss);
   * otherwise `gradient` is the vector of the vector-Jacobian product and has this shape.
   * The graph is freed afterwards unless `retainGraph` is set.
   */
  backward(gradient?: Tensor | BackwardOptions, options: BackwardOptions = {}): void {
    if (!(gradient instanceof Tensor) && gradient !== undefined) {
      options = gradient;
      gradient = undefined;
    }
    if (!this.requiresGrad) {
      throw new Error('backward: the tensor does not require gradients and has no grad_fn');
    }
    let seed: Tensor;
    if (gradient === undefined) {
      if (this.size !== 1) {
        throw new Error(
          `backward: a gradient can be created implicitly only for a single-element output, got shape ${formatShape(this.shape)}`,
        );
      }
      const one = allocate(this.dtype, 1);
      one[0] = 1;
      seed = new Tensor(one, this.shape, this.dtype);
    } else {
      if (gradient.shape.join() !== this.shape.join()) {
        throw new Error(
          `backward: gradient has shape ${formatShape(gradient.shape)} but the tensor has shape ${formatShape(this.shape)}`,
        );
      }
      seed = gradient.to(this.dtype);
    }
    runBackward(this, seed, options.retainGraph ?? false);
  }

  /** A leaf that shares this tensor's storage but is cut from the graph. */
  detach(): Tensor {
    return new Tensor(this.data, this.shape, this.dtype);
  }

  /** A copy with its own storage (differentiable). */
  clone(): Tensor {
    return ew.clone(this);
  }

  /** This tensor converted to `dtype` (itself if it already has it). Differentiable between floating types. */
  to(dtype: DType): Tensor {
    return dtype === this.dtype ? this : ew.cast(this, dtype);
  }

  /** Converts to `float32`. */
  float(): Tensor {
    return this.to('float32');
  }

  /** Converts to `float64`. */
  double(): Tensor {
    return this.to('float64');
  }

  /** Converts to `int32` (truncating toward zero, as a C cast does). */
  int(): Tensor {
    return this.to('int32');
  }

  /** The single element of a one-element tensor, as a number. */
  item(): number {
    if (this.size !== 1) {
      throw new Error(`item: only a one-element tensor can be converted to a number, got shape ${formatShape(this.shape)}`);
    }
    return this.data[0]!;
  }

  /** The elements as nested JS arrays (a number for a scalar). */
  toArray(): Nested {
    return toNested(this);
  }

  /** An `ndarray` view of the same storage (no copy). */
  toNdarray(): NdArray<TypedArray> {
    return toNdarray(this);
  }

  /** PyTorch-style text: `tensor([[1.0000, 2.5000]], requires_grad=True)`. */
  toString(): string {
    return formatTensor(this);
  }

  // Elementwise (lib/tensor/elementwise.ts).
  /** `this + other`, broadcasting. */
  add(other: TensorLike): Tensor {
    return ew.add(this, other);
  }
  /** `this - other`, broadcasting. */
  sub(other: TensorLike): Tensor {
    return ew.sub(this, other);
  }
  /** `this * other`, broadcasting. */
  mul(other: TensorLike): Tensor {
    return ew.mul(this, other);
  }
  /** `this / other` (true division), broadcasting. */
  div(other: TensorLike): Tensor {
    return ew.div(this, other);
  }
  /** `-this`. */
  neg(): Tensor {
    return ew.neg(this);
  }
  /** `this ** exponent`, broadcasting. */
  pow(exponent: TensorLike): Tensor {
    return ew.pow(this, exponent);
  }
  /** `e ** this`. */
  exp(): Tensor {
    return ew.exp(this);
  }
  /** Natural logarithm. */
  log(): Tensor {
    return ew.log(this);
  }
  /** Square root. */
  sqrt(): Tensor {
    return ew.sqrt(this);
  }
  /** Absolute value. */
  abs(): Tensor {
    return ew.abs(this);
  }
  /** `max(this, 0)`. */
  relu(): Tensor {
    return ew.relu(this);
  }
  /** `1 / (1 + e ** -this)`. */
  sigmoid(): Tensor {
    return ew.sigmoid(this);
  }
  /** Hyperbolic tangent. */
  tanh(): Tensor {
    return ew.tanh(this);
  }
  /** Limits every element to `[min, max]` (either bound may be omitted with `undefined`). */
  clamp(min?: number, max?: number): Tensor {
    return ew.clamp(this, min, max);
  }
  /** Elementwise maximum of two tensors. */
  maximum(other: TensorLike): Tensor {
    return ew.maximum(this, other);
  }
  /** Elementwise minimum of two tensors. */
  minimum(other: TensorLike): Tensor {
    return ew.minimum(this, other);
  }
  /** `this == other` as an `int32` 0/1 mask. */
  eq(other: TensorLike): Tensor {
    return ew.eq(this, other);
  }
  /** `this != other` as an `int32` 0/1 mask. */
  ne(other: TensorLike): Tensor {
    return ew.ne(this, other);
  }
  /** `this < other` as an `int32` 0/1 mask. */
  lt(other: TensorLike): Tensor {
    return ew.lt(this, other);
  }
  /** `this <= other` as an `int32` 0/1 mask. */
  le(other: TensorLike): Tensor {
    return ew.le(this, other);
  }
  /** `this > other` as an `int32` 0/1 mask. */
  gt(other: TensorLike): Tensor {
    return ew.gt(this, other);
  }
  /** `this >= other` as an `int32` 0/1 mask. */
  ge(other: TensorLike): Tensor {
    return ew.ge(this, other);
  }

  // Reductions (lib/tensor/reduce.ts).
  /** Sum of all elements, or over `dim` (one or several dimensions). */
  sum(dim?: number | readonly number[], keepdim = false): Tensor {
    return red.sum(this, dim, keepdim);
  }
  /** Mean of all elements, or over `dim`. */
  mean(dim?: number | readonly number[], keepdim = false): Tensor {
    return red.mean(this, dim, keepdim);
  }
  /** The largest element; with `dim`, the largest values along it and their indices. */
  max(): Tensor;
  max(dim: number, keepdim?: boolean): ValuesIndices;
  max(dim?: number, keepdim = false): Tensor | ValuesIndices {
    return dim === undefined ? red.max(this) : idx.maxDim(this, dim, keepdim);
  }
  /** The smallest element; with `dim`, the smallest values along it and their indices. */
  min(): Tensor;
  min(dim: number, keepdim?: boolean): ValuesIndices;
  min(dim?: number, keepdim = false): Tensor | ValuesIndices {
    return dim === undefined ? red.min(this) : idx.minDim(this, dim, keepdim);
  }
  /** Index of the largest element (of the flattened tensor without `dim`); the first one on ties. */
  argmax(dim?: number, keepdim = false): Tensor {
    return red.argmax(this, dim, keepdim);
  }
  /** Index of the smallest element (of the flattened tensor without `dim`); the first one on ties. */
  argmin(dim?: number, keepdim = false): Tensor {
    return red.argmin(this, dim, keepdim);
  }
  /** `exp(x) / sum(exp(x))` along `dim`, computed stably. */
  softmax(dim: number): Tensor {
    return sm.softmax(this, dim);
  }
  /** `x - logsumexp(x)` along `dim`, computed stably. */
  logSoftmax(dim: number): Tensor {
    return sm.logSoftmax(this, dim);
  }
  /** `log(sum(exp(x)))` along `dim`, computed stably. */
  logsumexp(dim: number, keepdim = false): Tensor {
    return sm.logsumexp(this, dim, keepdim);
  }

  /** Matrix product with PyTorch's `matmul` rules (1-D, 2-D and broadcast batches). */
  matmul(other: Tensor): Tensor {
    return matmul(this, other);
  }

  // Shape (lib/tensor/views.ts).
  /** The same elements with a new shape (one size may be -1); shares storage. */
  reshape(...shape: number[] | [readonly number[]]): Tensor {
    return views.reshape(this, shapeArgs(shape));
  }
  /** Alias of {@link Tensor.reshape} (storage is always contiguous, so every reshape is a view). */
  view(...shape: number[] | [readonly number[]]): Tensor {
    return views.reshape(this, shapeArgs(shape));
  }
  /** Merges dimensions `startDim..endDim` into one. */
  flatten(startDim = 0, endDim = -1): Tensor {
    return views.flatten(this, startDim, endDim);
  }
  /** Removes size-1 dimensions (all of them, or only `dim`). */
  squeeze(dim?: number): Tensor {
    return views.squeeze(this, dim);
  }
  /** Inserts a size-1 dimension at `dim`. */
  unsqueeze(dim: number): Tensor {
    return views.unsqueeze(this, dim);
  }
  /** Reorders the dimensions: output dimension i is input dimension `dims[i]`. */
  permute(...dims: number[] | [readonly number[]]): Tensor {
    return views.permute(this, shapeArgs(dims));
  }
  /** Swaps two dimensions. */
  transpose(dim0: number, dim1: number): Tensor {
    return views.transpose(this, dim0, dim1);
  }
  /** Broadcasts to a larger shape (-1 keeps a size). */
  expand(...shape: number[] | [readonly number[]]): Tensor {
    return views.expand(this, shapeArgs(shape));
  }
  /** `length` elements of `dim` starting at `start`. */
  narrow(dim: number, start: number, length: number): Tensor {
    return views.narrow(this, dim, start, length);
  }
  /** Python's `x[start:end:step]` along `dim` (negative indices count from the end). */
  slice(dim: number, start?: number, end?: number, step = 1): Tensor {
    return views.slice(this, dim, start, end, step);
  }

  // Indexing (lib/tensor/indexing.ts).
  /** The entries `index` (1-D `int32`) along `dim`. */
  indexSelect(dim: number, index: Tensor | readonly number[]): Tensor {
    return idx.indexSelect(this, dim, index);
  }
  /** `out[i][j] = this[index[i][j]][j]` for `dim = 0` (and likewise for other dims). */
  gather(dim: number, index: Tensor): Tensor {
    return idx.gather(this, dim, index);
  }
  /** A copy of this tensor with `src` added at `index` along `dim`: `out[index[i][j]][j] += src[i][j]` for `dim = 0`. */
  scatterAdd(dim: number, index: Tensor, src: Tensor): Tensor {
    return idx.scatterAdd(this, dim, index, src);
  }
  /** The elements where `mask` (broadcast to this shape) is non-zero, as a 1-D tensor. */
  maskedSelect(mask: Tensor): Tensor {
    return idx.maskedSelect(this, mask);
  }
  /** The indices of the non-zero elements, `[n, ndim]` `int32`, in row-major order. */
  nonzero(): Tensor {
    return idx.nonzero(this);
  }
  /** The `k` largest (or smallest) elements along `dim` and their indices. */
  topk(k: number, dim = -1, largest = true, sorted = true): ValuesIndices {
    return idx.topk(this, k, dim, largest, sorted);
  }
  /** Sorts along `dim` (stable); NaN sorts as the largest value, as in PyTorch. */
  sort(dim = -1, descending = false): ValuesIndices {
    return idx.sort(this, dim, descending);
  }
  /** The indices that sort this tensor along `dim` (stable). */
  argsort(dim = -1, descending = false): Tensor {
    return idx.argsort(this, dim, descending);
  }
}
