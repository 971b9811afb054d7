/**
 * Creating tensors: from JS arrays and typed arrays, and the constant and range factories.
 */
import { Tensor } from './tensor.js';
import { type DType, type TypedArray, allocate, dtypeOfArray } from './dtype.js';
import { type Shape, checkShape, formatShape, shapeSize } from './shape.js';

/** Nested arrays of numbers (any depth), as accepted by {@link tensor}. */
export type NestedInput = number | boolean | readonly NestedInput[];

/** Options shared by the factories. */
export interface TensorOptions {
  /** Element type (default `float32`, or the typed array's own type). */
  dtype?: DType;
  /** Make the new tensor a leaf that requires gradients. */
  requiresGrad?: boolean;
}

/** Options of {@link tensor}. */
export interface TensorFromOptions extends TensorOptions {
  /** The shape to give flat data (default: inferred from nesting, or `[length]`). */
  shape?: Shape;
}

function finish(t: Tensor, options: TensorOptions): Tensor {
  if (options.requiresGrad) t.requiresGrad = true;
  return t;
}

/** The shape of a nested array, checking that it is not ragged. */
function nestedShape(data: NestedInput): number[] {
  const shape: number[] = [];
  let level: NestedInput = data;
  while (Array.isArray(level)) {
    shape.push(level.length);
    if (level.length === 0) break;
    level = level[0] as NestedInput;
  }
  return shape;
}

function flattenNested(data: NestedInput, shape: readonly number[], out: number[], path: number[]): void {
  const depth = path.length;
  if (depth === shape.length) {
    if (typeof data === 'boolean') out.push(data ? 1 : 0);
    else if (typeof data === 'number') out.push(data);
    else {
      throw new Error(`tensor: element at ${formatShape(path)} is ${Array.isArray(data) ? 'an array' : typeof data}, expected a number`);
    }
    return;
  }
  if (!Array.isArray(data) || data.length !== shape[depth]) {
    throw new Error(
      `tensor: ragged nested array: expected ${shape[depth]} elements at ${formatShape(path)}, got ` +
        (Array.isArray(data) ? data.length : typeof data),
    );
  }
  data.forEach((item: NestedInput, i: number) => flattenNested(item, shape, out, [...path, i]));
}

/**
 * A new tensor holding a copy of `data`: a number (a scalar), nested arrays (shape inferred), or
 * a typed array (shape `[length]` unless `shape` is given).
 *
 * @example
 * ```ts
 * tensor([[1, 2], [3, 4]]);                       // float32, shape [2, 2]
 * tensor(new Float32Array(6), { shape: [2, 3] }); // shape [2, 3]
 * tensor([0, 2, 1], { dtype: 'int32' });           // indices
 * ```
 */
export function tensor(data: NestedInput | TypedArray | ArrayLike<number>, options: TensorFromOptions = {}): Tensor {
  let flat: ArrayLike<number>;
  let shape: number[];
  let dtype: DType = options.dtype ?? 'float32';
  if (typeof data === 'number' || typeof data === 'boolean' || Array.isArray(data)) {
    shape = nestedShape(data as NestedInput);
    const values: number[] = [];
    flattenNested(data as NestedInput, shape, values, []);
    flat = values;
  } else {
    flat = data as ArrayLike<number>;
    if (options.dtype === undefined && (data instanceof Float64Array || data instanceof Int32Array)) dtype = dtypeOfArray(data);
    shape = [flat.length];
  }
  if (options.shape !== undefined) {
    checkShape('tensor', options.shape);
    if (shapeSize(options.shape) !== flat.length) {
      throw new Error(`tensor: shape ${formatShape(options.shape)} needs ${shapeSize(options.shape)} elements, got ${flat.length}`);
    }
    shape = [...options.shape];
  }
  const storage = allocate(dtype, flat.length);
  for (let i = 0; i < flat.length; i++) {
    const v = flat[i]!;
    if (typeof v !== 'number') throw new Error(`tensor: element ${i} is ${typeof v}, expected a number`);
    storage[i] = dtype === 'int32' ? Math.trunc(v) : v;
  }
  return finish(new Tensor(storage, shape, dtype), options);
}

/** A tensor of `shape` with every element equal to `value`. */
export function full(shape: Shape, value: number, options: TensorOptions = {}): Tensor {
  checkShape('full', shape);
  const dtype = options.dtype ?? 'float32';
  const data = allocate(dtype, shapeSize(shape));
  if (value !== 0) data.fill(value);
  return finish(new Tensor(data, shape, dtype), options);
}

/** A tensor of zeros. */
export function zeros(shape: Shape, options: TensorOptions = {}): Tensor {
  return full(shape, 0, options);
}

/** A tensor of ones. */
export function ones(shape: Shape, options: TensorOptions = {}): Tensor {
  return full(shape, 1, options);
}

/** Zeros with the shape (and, unless given, the dtype) of `like`. */
export function zerosLike(like: Tensor, options: TensorOptions = {}): Tensor {
  return full(like.shape, 0, { dtype: like.dtype, ...options });
}

/** Ones with the shape (and, unless given, the dtype) of `like`. */
export function onesLike(like: Tensor, options: TensorOptions = {}): Tensor {
  return full(like.shape, 1, { dtype: like.dtype, ...options });
}

/**
 * `[start, start + step, ...)` up to `end` (excluded), as PyTorch's `arange`: `arange(5)`,
 * `arange(2, 5)`, `arange(0, 1, 0.25)`. All-integer arguments give `int32`, otherwise `float32`.
 */
export function arange(start: number, end?: number, step = 1, options: TensorOptions = {}): Tensor {
  if (end === undefined) [start, end] = [0, start];
  if (step === 0 || !Number.isFinite(step)) throw new Error(`arange: step must be a non-zero finite number, got ${step}`);
  if ((end - start) / step < 0) {
    throw new Error(`arange: the range [${start}, ${end}) cannot be walked with step ${step}`);
  }
  const n = Math.ceil((end - start) / step);
  const dtype = options.dtype ?? ([start, end, step].every(Number.isInteger) ? 'int32' : 'float32');
  const data = allocate(dtype, n);
  for (let i = 0; i < n; i++) data[i] = start + i * step;
  return finish(new Tensor(data, [n], dtype), options);
}

/** `steps` evenly spaced values from `start` to `end`, both included. */
export function linspace(start: number, end: number, steps: number, options: TensorOptions = {}): Tensor {
  if (!Number.isInteger(steps) || steps < 0) throw new Error(`linspace: steps must be a non-negative integer, got ${steps}`);
  const dtype = options.dtype ?? 'float32';
  const data = allocate(dtype, steps);
  const delta = steps > 1 ? (end - start) / (steps - 1) : 0;
  // Like PyTorch, fill the first half from the start and the second half from the end, so
  // that both ends are exact.
  const half = Math.floor(steps / 2);
  for (let i = 0; i < steps; i++) data[i] = i < half || steps === 1 ? start + i * delta : end - (steps - 1 - i) * delta;
  return finish(new Tensor(data, [steps], dtype), options);
}

/** The `n x m` identity matrix (`m` defaults to `n`). */
export function eye(n: number, m = n, options: TensorOptions = {}): Tensor {
  const t = zeros([n, m], options);
  for (let i = 0; i < Math.min(n, m); i++) t.data[i * m + i] = 1;
  return t;
}
