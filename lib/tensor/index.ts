/**
 * `lib/tensor`: a small define-by-run autograd tensor library.
 *
 * Float32 (and float64, int32) contiguous row-major tensors; elementwise ops with broadcasting;
 * reductions; matmul; shape and indexing ops; reverse-mode autograd with {@link defineOp} as the
 * one way to add a differentiable op; {@link gradcheck}; seeded random numbers.
 *
 * @module
 */
export { Tensor, type TensorLike, type ValuesIndices, type BackwardOptions } from './tensor.js';
export { type DType, type TypedArray, promoteTypes, isFloating } from './dtype.js';
export { type Shape, broadcastShapes, shapeSize } from './shape.js';
export {
  defineOp,
  noGrad,
  isGradEnabled,
  GradFn,
  type OpDefinition,
  type ForwardContext,
  type BackwardContext,
  type InputGrads,
} from './autograd.js';
export {
  tensor,
  zeros,
  ones,
  full,
  zerosLike,
  onesLike,
  arange,
  linspace,
  eye,
  type NestedInput,
  type TensorOptions,
  type TensorFromOptions,
} from './creation.js';
export { Generator, defaultGenerator, manualSeed, rand, randn, randint, randperm, type RandomOptions } from './random.js';
export {
  add,
  sub,
  mul,
  div,
  neg,
  pow,
  exp,
  log,
  sqrt,
  abs,
  relu,
  reluGradient,
  sigmoid,
  tanh,
  clamp,
  maximum,
  minimum,
  where,
  eq,
  ne,
  lt,
  le,
  gt,
  ge,
} from './elementwise.js';
export { sum, mean, max, min, argmax, argmin, unbroadcast } from './reduce.js';
export { softmax, logSoftmax, logsumexp } from './softmax.js';
export { matmul, gemm, setMatmulHook, getMatmulHook, referenceMatmul, type MatmulHook } from './matmul.js';
export { reshape, flatten, squeeze, unsqueeze, permute, transpose, expand, narrow, slice, concat, stack, pad } from './views.js';
export { indexSelect, gather, scatterAdd, maskedSelect, nonzero, topk, sort, argsort, maxDim, minDim } from './indexing.js';
export { gradcheck, type GradcheckOptions, type GradcheckResult } from './gradcheck.js';
export { fromNdarray, type Nested } from './interop.js';
export { formatTensor } from './format.js';
