/**
 * Elementwise ops with NumPy/PyTorch broadcasting, each with its gradient written beside it.
 *
 * Broadcasting: shapes are aligned at their trailing dimensions; a dimension of size 1 (or a
 * missing one) is repeated to match. The gradient of a broadcast input is the output gradient
 * summed back over the repeated dimensions ({@link unbroadcast}).
 */
import { Tensor, type TensorLike } from './tensor.js';
import { defineOp } from './autograd.js';
import { type DType, type TypedArray, allocate, floatingOf, promoteTypes } from './dtype.js';
import { broadcastOffsets, broadcastShapes, broadcastStrides, sameShape, shapeSize } from './shape.js';
import { unbroadcast } from './reduce.js';

/**
 * A number becomes a scalar tensor of the other operand's dtype (a non-integer number next to an
 * `int32` tensor becomes `float32`, as in PyTorch, where a Python scalar does not widen a float tensor).
 */
export function asTensor(x: TensorLike, like: DType): Tensor {
  if (x instanceof Tensor) return x;
  const dtype = like === 'int32' && !Number.isInteger(x) ? 'float32' : like;
  const data = allocate(dtype, 1);
  data[0] = x;
  return new Tensor(data, [], dtype);
}

/** Both operands as tensors: a number takes the dtype of the tensor beside it. */
function operands(op: string, a: TensorLike, b: TensorLike): [Tensor, Tensor] {
  if (a instanceof Tensor) return [a, asTensor(b, a.dtype)];
  if (b instanceof Tensor) return [asTensor(a, b.dtype), b];
  throw new Error(`${op}: at least one operand must be a tensor`);
}


/**
 * `out[i] = A[i sa] op B[i sb]` for i < n, with sa, sb = 1 (an operand of n elements) or 0 (a
 * scalar): the same arithmetic as `f`, written out once per op so that each loop has a single
 * operation for V8 to compile (the shared loop calling `f` runs at several ns an element, the
 * closure call site seeing every op of the engine). Results are the same bits.
 */
type FastLoop = (A: TypedArray, B: TypedArray, out: TypedArray, n: number, sa: number, sb: number) => void;

const FAST_LOOPS: Partial<Record<string, FastLoop>> = {
  add: (A, B, out, n, sa, sb) => {
    if (sa === 1 && sb === 1) for (let i = 0; i < n; i++) out[i] = A[i]! + B[i]!;
    else for (let i = 0; i < n; i++) out[i] = A[i * sa]! + B[i * sb]!;
  },
  sub: (A, B, out, n, sa, sb) => {
    if (sa === 1 && sb === 1) for (let i = 0; i < n; i++) out[i] = A[i]! - B[i]!;
    else for (let i = 0; i < n; i++) out[i] = A[i * sa]! - B[i * sb]!;
  },
  mul: (A, B, out, n, sa, sb) => {
    if (sa === 1 && sb === 1) for (let i = 0; i < n; i++) out[i] = A[i]! * B[i]!;
    else for (let i = 0; i < n; i++) out[i] = A[i * sa]! * B[i * sb]!;
  },
  div: (A, B, out, n, sa, sb) => {
    if (sa === 1 && sb === 1) for (let i = 0; i < n; i++) out[i] = A[i]! / B[i]!;
    else for (let i = 0; i < n; i++) out[i] = A[i * sa]! / B[i * sb]!;
  },
  gt: (A, B, out, n, sa, sb) => {
    for (let i = 0; i < n; i++) out[i] = A[i * sa]! > B[i * sb]! ? 1 : 0;
  },
};

/**
 * Applies `f` to every pair of elements of `a` and `b` broadcast together. The common cases
 * (same shape, a scalar on either side) are straight loops; the general case walks the output
 * with an odometer over all but the last dimension.
 */
export function mapBinary(op: string, a: Tensor, b: Tensor, dtype: DType, f: (x: number, y: number) => number): Tensor {
  const shape = sameShape(a.shape, b.shape) ? a.shape : broadcastShapes(op, a.shape, b.shape);
  const n = shapeSize(shape);
  const out = allocate(dtype, n);
  const A = a.data;
  const B = b.data;
  const loop = FAST_LOOPS[op];
  if (loop !== undefined && (A.length === n || A.length === 1) && (B.length === n || B.length === 1)) {
    loop(A, B, out, n, A.length === n ? 1 : 0, B.length === n ? 1 : 0);
  } else if (A.length === n && B.length === n) {
    for (let i = 0; i < n; i++) out[i] = f(A[i]!, B[i]!);
  } else if (A.length === n && B.length === 1) {
    const y = B[0]!;
    for (let i = 0; i < n; i++) out[i] = f(A[i]!, y);
  } else if (A.length === 1 && B.length === n) {
    const x = A[0]!;
    for (let i = 0; i < n; i++) out[i] = f(x, B[i]!);
  } else if (n > 0) {
    const nd = shape.length;
    const sa = broadcastStrides(a.shape, shape);
    const sb = broadcastStrides(b.shape, shape);
    const cols = shape[nd - 1]!;
    const saLast = sa[nd - 1]!;
    const sbLast = sb[nd - 1]!;
    const counter = new Array<number>(nd).fill(0);
    let ia = 0;
    let ib = 0;
    for (let row = 0; row < n; row += cols) {
      for (let j = 0; j < cols; j++) out[row + j] = f(A[ia + j * saLast]!, B[ib + j * sbLast]!);
      for (let d = nd - 2; d >= 0; d--) {
        counter[d]!++;
        ia += sa[d]!;
        ib += sb[d]!;
        if (counter[d]! < shape[d]!) break;
        ia -= sa[d]! * shape[d]!;
        ib -= sb[d]! * shape[d]!;
        counter[d] = 0;
      }
    }
  }
  return new Tensor(out, shape, dtype);
}

/** Applies `f` to every element. */
export function mapUnary(a: Tensor, dtype: DType, f: (x: number) => number): Tensor {
  const A = a.data;
  const out = allocate(dtype, A.length);
  for (let i = 0; i < A.length; i++) out[i] = f(A[i]!);
  return new Tensor(out, a.shape, dtype);
}

type BinaryGrads = (grad: Tensor, a: Tensor, b: Tensor, out: Tensor, needs: readonly boolean[]) => [Tensor | null, Tensor | null];

/** Builds a broadcasting binary op from its arithmetic and its two partial derivatives. */
function binaryOp(
  name: string,
  resultType: (a: DType, b: DType) => DType,
  f: (x: number, y: number) => number,
  grads: BinaryGrads,
): (a: TensorLike, b: TensorLike) => Tensor {
  const op = defineOp({
    name,
    forward: (_ctx, a: Tensor, b: Tensor) => mapBinary(name, a, b, resultType(a.dtype, b.dtype), f),
    backward: (grad, { args: [a, b], output, needsInputGrad }) => {
      const [ga, gb] = grads(grad, a, b, output, needsInputGrad.slice(0, 2));
      return [ga && unbroadcast(ga, a.shape), gb && unbroadcast(gb, b.shape)];
    },
  });
  return (a, b) => op(...operands(name, a, b));
}

/** Builds a unary op from its arithmetic and its derivative. */
function unaryOp(
  name: string,
  resultType: (a: DType) => DType,
  f: (x: number) => number,
  grad: (grad: Tensor, x: Tensor, out: Tensor) => Tensor,
): (x: Tensor) => Tensor {
  return defineOp({
    name,
    forward: (_ctx, x: Tensor) => mapUnary(x, resultType(x.dtype), f),
    backward: (g, { args: [x], output }) => [grad(g, x, output)],
  });
}

const same = (a: DType): DType => a;

/** `a + b`. d/da = 1, d/db = 1. */
export const add = binaryOp('add', promoteTypes, (x, y) => x + y, (g, _a, _b, _o, [na, nb]) => [na ? g : null, nb ? g : null]);

/** `a - b`. d/da = 1, d/db = -1. */
export const sub = binaryOp('sub', promoteTypes, (x, y) => x - y, (g, _a, _b, _o, [na, nb]) => [na ? g : null, nb ? g.neg() : null]);

/** `a * b`. d/da = b, d/db = a. */
export const mul = binaryOp('mul', promoteTypes, (x, y) => x * y, (g, a, b, _o, [na, nb]) => [
  na ? g.mul(b) : null,
  nb ? g.mul(a) : null,
]);

/** `a / b` (true division: integers give a float). d/da = 1/b, d/db = -a/b^2. */
export const div = binaryOp(
  'div',
  (a, b) => floatingOf(promoteTypes(a, b)),
  (x, y) => x / y,
  (g, a, b, _o, [na, nb]) => [na ? g.div(b) : null, nb ? g.mul(a).div(b.mul(b)).neg() : null],
);

/**
 * `a ** b`. d/da = b a^(b-1); d/db = a^b log(a), taken as 0 where a = 0 and b >= 0 (PyTorch's
 * convention, so that `0 ** b` does not give NaN gradients).
 */
export const pow = binaryOp(
  'pow',
  promoteTypes,
  (x, y) => Math.pow(x, y),
  (g, a, b, out, [na, nb]) => [
    na ? where(b.eq(0), 0, g.mul(b).mul(a.pow(b.sub(1)))) : null,
    nb ? where(a.eq(0).mul(b.ge(0)), 0, g.mul(out).mul(a.log())) : null,
  ],
);

/** Elementwise maximum. On ties the gradient is split evenly between the two, as in PyTorch. */
export const maximum = binaryOp('maximum', promoteTypes, (x, y) => (x !== x || y !== y ? NaN : Math.max(x, y)), (g, a, b, _o, [na, nb]) => {
  const half = a.eq(b).mul(0.5);
  return [na ? g.mul(a.gt(b).add(half)) : null, nb ? g.mul(b.gt(a).add(half)) : null];
});

/** Elementwise minimum. On ties the gradient is split evenly between the two. */
export const minimum = binaryOp('minimum', promoteTypes, (x, y) => (x !== x || y !== y ? NaN : Math.min(x, y)), (g, a, b, _o, [na, nb]) => {
  const half = a.eq(b).mul(0.5);
  return [na ? g.mul(a.lt(b).add(half)) : null, nb ? g.mul(b.lt(a).add(half)) : null];
});

/** `-x`. */
export const neg = unaryOp('neg', same, (x) => -x, (g) => g.neg());

/** `e^x`; its derivative is itself. */
export const exp = unaryOp('exp', floatingOf, Math.exp, (g, _x, out) => g.mul(out));

/** Natural logarithm; d/dx = 1/x. */
export const log = unaryOp('log', floatingOf, Math.log, (g, x) => g.div(x));

/** Square root; d/dx = 1 / (2 sqrt(x)). */
export const sqrt = unaryOp('sqrt', floatingOf, Math.sqrt, (g, _x, out) => g.div(out.mul(2)));

/** `|x|`; d/dx = sign(x), 0 at 0. */
export const abs = unaryOp('abs', same, Math.abs, (g, x) => g.mul(x.gt(0).sub(x.lt(0))));

/**
 * ReLU on the bits of float32 values, without a branch: a negative number (sign bit set, so a
 * negative int32), -0 and -Infinity included, becomes +0; a NaN (exponent all ones, mantissa not
 * zero) keeps its bits whatever its sign; the rest are copied. The same results as
 * `v > 0 ? v : v !== v ? v : 0`, several times faster (that branch mispredicts about half the time).
 */
function reluFloat32Bits(X: Int32Array, out: Int32Array): void {
  for (let i = 0; i < X.length; i++) {
    const b = X[i]!;
    // All ones when |b| > the bits of Infinity (a NaN), else 0 (both operands below 2^31: no overflow).
    const nan = (0x7f800000 - (b & 0x7fffffff)) >> 31;
    out[i] = b & ~((b >> 31) & ~nan);
  }
}

/** `max(x, 0)`; d/dx = 1 where x > 0, else 0. */
export const relu = defineOp({
  name: 'relu',
  forward: (_ctx, x: Tensor) => {
    const X = x.data;
    const out = allocate(x.dtype, X.length);
    if (X instanceof Float32Array && out instanceof Float32Array) {
      reluFloat32Bits(new Int32Array(X.buffer, X.byteOffset, X.length), new Int32Array(out.buffer, out.byteOffset, out.length));
      return new Tensor(out, x.shape, x.dtype);
    }
    for (let i = 0; i < X.length; i++) {
      const v = X[i]!;
      out[i] = v > 0 ? v : v !== v ? v : 0;
    }
    return new Tensor(out, x.shape, x.dtype);
  },
  backward: (g, { args: [x] }) => [reluGradient(g, x)],
});

/**
 * ReLU's backward, `g (x > 0)`, in one loop (the same bits as `g.mul(x.gt(0))`: g times 1 or 0,
 * so a NaN g stays NaN). `x` may be the ReLU's input or its output (both are > 0 at the same
 * places), which is how the ops that fuse a ReLU (batch norm, the transposed convolution) apply it.
 */
export function reluGradient(g: Tensor, x: Tensor): Tensor {
  const G = g.data;
  const X = x.data;
  const dtype = promoteTypes(g.dtype, 'int32');
  const out = allocate(dtype, G.length);
  // `+(x > 0)` rather than `x > 0 ? 1 : 0`: V8 compiles it without a branch (ReLU inputs are
  // positive about half the time, so the branch mispredicts often): 0.4-0.7x the time.
  for (let i = 0; i < G.length; i++) out[i] = G[i]! * +(X[i]! > 0);
  return new Tensor(out, g.shape, dtype);
}

/**
 * The logistic function `1 / (1 + e^-x)`, computed without overflow for large |x|;
 * d/dx = s (1 - s).
 */
export const sigmoid = unaryOp(
  'sigmoid',
  floatingOf,
  (x) => (x >= 0 ? 1 / (1 + Math.exp(-x)) : Math.exp(x) / (1 + Math.exp(x))),
  (g, _x, s) => g.mul(s).mul(s.neg().add(1)),
);

/** Hyperbolic tangent; d/dx = 1 - tanh(x)^2. */
export const tanh = unaryOp('tanh', floatingOf, Math.tanh, (g, _x, t) => g.mul(t.mul(t).neg().add(1)));

const clampOp = defineOp({
  name: 'clamp',
  forward: (_ctx, x: Tensor, min: number, max: number) =>
    mapUnary(x, x.dtype, (v) => (v < min ? min : v > max ? max : v)),
  // The gradient passes where min <= x <= max (PyTorch's convention at the bounds).
  backward: (g, { args: [x, min, max] }) => [g.mul(x.ge(min).mul(x.le(max)))],
});

/** Limits every element to `[min, max]`; either bound may be `undefined`. */
export function clamp(x: Tensor, min?: number, max?: number): Tensor {
  if (min === undefined && max === undefined) throw new Error('clamp: at least one of min and max must be given');
  if (min !== undefined && max !== undefined && min > max) {
    throw new Error(`clamp: min ${min} is greater than max ${max}`);
  }
  return clampOp(x, min ?? -Infinity, max ?? Infinity);
}

/** A copy with its own storage; the gradient passes through unchanged. */
export const clone = defineOp({
  name: 'clone',
  forward: (_ctx, x: Tensor) => new Tensor(x.data.slice(), x.shape, x.dtype),
  backward: (g) => [g],
});

/** Converts to another dtype; between floating dtypes the gradient is converted back. */
export const cast = defineOp({
  name: 'cast',
  forward: (_ctx, x: Tensor, dtype: DType) => {
    const out = allocate(dtype, x.size);
    if (dtype === 'int32') for (let i = 0; i < x.size; i++) out[i] = Math.trunc(x.data[i]!);
    else out.set(x.data);
    return new Tensor(out, x.shape, dtype);
  },
  backward: (g) => [g],
});

const whereOp = defineOp({
  name: 'where',
  forward: (_ctx, condition: Tensor, a: Tensor, b: Tensor) => {
    const shape = broadcastShapes('where', broadcastShapes('where', condition.shape, a.shape), b.shape);
    const dtype = promoteTypes(a.dtype, b.dtype);
    const [oc, oa, ob] = [condition, a, b].map((t) => broadcastOffsets(t.shape, shape)) as [Int32Array, Int32Array, Int32Array];
    const out = allocate(dtype, shapeSize(shape));
    for (let i = 0; i < out.length; i++) out[i] = condition.data[oc[i]!] ? a.data[oa[i]!]! : b.data[ob[i]!]!;
    return new Tensor(out, shape, dtype);
  },
  backward: (g, { args: [condition, a, b], needsInputGrad }) => [
    null,
    needsInputGrad[1] ? unbroadcast(where(condition, g, 0), a.shape) : null,
    needsInputGrad[2] ? unbroadcast(where(condition, 0, g), b.shape) : null,
  ],
});

/**
 * `condition ? a : b` elementwise, all three broadcast together. `condition` is any tensor
 * (non-zero means true); the gradient flows to `a` where it holds and to `b` elsewhere.
 */
export function where(condition: Tensor, a: TensorLike, b: TensorLike): Tensor {
  const [ta, tb] = operands('where', a, b);
  return whereOp(condition, ta, tb);
}

function comparison(name: string, f: (x: number, y: number) => boolean): (a: TensorLike, b: TensorLike) => Tensor {
  return (a, b) => mapBinary(name, ...operands(name, a, b), 'int32', (x, y) => (f(x, y) ? 1 : 0));
}

/** `a == b` as an `int32` 0/1 mask (no gradient). */
export const eq = comparison('eq', (x, y) => x === y);
/** `a != b` as an `int32` 0/1 mask (no gradient). */
export const ne = comparison('ne', (x, y) => x !== y);
/** `a < b` as an `int32` 0/1 mask (no gradient). */
export const lt = comparison('lt', (x, y) => x < y);
/** `a <= b` as an `int32` 0/1 mask (no gradient). */
export const le = comparison('le', (x, y) => x <= y);
/** `a > b` as an `int32` 0/1 mask (no gradient). */
export const gt = comparison('gt', (x, y) => x > y);
/** `a >= b` as an `int32` 0/1 mask (no gradient). */
export const ge = comparison('ge', (x, y) => x >= y);
