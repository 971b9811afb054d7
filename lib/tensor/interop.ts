/**
 * Interoperability: nested JS arrays and the `ndarray` package (scijs), whose views share
 * storage with tensors when the layout allows it.
 */
import ndarray, { type NdArray } from 'ndarray';
import { Tensor } from './tensor.js';
import { type TypedArray, allocate } from './dtype.js';
import { contiguousStrides, formatShape, shapeSize } from './shape.js';

/** Nested arrays of numbers, as returned by {@link Tensor.toArray}. */
export type Nested = number | Nested[];

/** The elements as nested JS arrays (a number for a scalar). */
export function toNested(t: Tensor): Nested {
  const strides = contiguousStrides(t.shape);
  const build = (dim: number, offset: number): Nested => {
    if (dim === t.ndim) return t.data[offset]!;
    return Array.from({ length: t.shape[dim]! }, (_, i) => build(dim + 1, offset + i * strides[dim]!));
  };
  return build(0, 0);
}

/** An `ndarray` over the tensor's own storage (no copy): writes through it change the tensor. */
export function toNdarray(t: Tensor): NdArray<TypedArray> {
  return ndarray(t.data, [...t.shape]);
}

/**
 * A tensor from an `ndarray`. When the array is row-major and contiguous over a `Float32Array`,
 * `Float64Array` or `Int32Array`, the tensor shares its storage; otherwise (a transposed or
 * sliced view, another element type) the elements are copied, as `float32` unless the source
 * holds `Float64Array`/`Int32Array` data.
 */
export function fromNdarray(array: NdArray): Tensor {
  const shape = [...array.shape];
  const size = shapeSize(shape);
  const data = array.data as unknown;
  const typed = data instanceof Float32Array || data instanceof Float64Array || data instanceof Int32Array;
  const rowMajor = contiguousStrides(shape).every((s, d) => shape[d]! <= 1 || array.stride[d] === s);
  if (typed && rowMajor) {
    const view = (data as TypedArray).subarray(array.offset, array.offset + size);
    if (view.length === size) return new Tensor(view, shape);
  }
  const dtype = data instanceof Float64Array ? 'float64' : data instanceof Int32Array ? 'int32' : 'float32';
  const out = allocate(dtype, size);
  const strides = contiguousStrides(shape);
  for (let i = 0; i < size; i++) {
    let rest = i;
    const index = shape.map((_, d) => {
      const k = Math.floor(rest / strides[d]!);
      rest -= k * strides[d]!;
      return k;
    });
    const v = array.get(...index);
    if (typeof v !== 'number') throw new Error(`fromNdarray: element ${formatShape(index)} is not a number`);
    out[i] = v;
  }
  return new Tensor(out, shape, dtype);
}
