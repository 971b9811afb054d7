/**
 * Element types. The engine computes in `float32` (PyTorch's default), keeps indices and labels
 * in `int32`, and offers `float64` so that {@link gradcheck} can take its finite differences in
 * double precision, as PyTorch's `gradcheck` does.
 */

/** The element type of a {@link Tensor}. */
export type DType = 'float32' | 'float64' | 'int32';

/** The storage of a tensor: one typed array per dtype. */
export type TypedArray = Float32Array | Float64Array | Int32Array;

/** Allocates zero-filled storage of `n` elements for `dtype`. */
export function allocate(dtype: DType, n: number): TypedArray {
  switch (dtype) {
    case 'float32':
      return new Float32Array(n);
    case 'float64':
      return new Float64Array(n);
    case 'int32':
      return new Int32Array(n);
  }
}

/** The dtype whose storage is this typed array's class. */
export function dtypeOfArray(data: TypedArray): DType {
  if (data instanceof Float32Array) return 'float32';
  if (data instanceof Float64Array) return 'float64';
  return 'int32';
}

/** True for the floating-point dtypes (the ones that can carry gradients). */
export function isFloating(dtype: DType): boolean {
  return dtype !== 'int32';
}

const rank: Record<DType, number> = { int32: 0, float32: 1, float64: 2 };

/**
 * The dtype of a binary operation's result, as PyTorch promotes: `int32 < float32 < float64`.
 */
export function promoteTypes(a: DType, b: DType): DType {
  return rank[a] >= rank[b] ? a : b;
}

/** The floating dtype an op such as `exp` or `div` returns for an input of `dtype`. */
export function floatingOf(dtype: DType): DType {
  return dtype === 'int32' ? 'float32' : dtype;
}
