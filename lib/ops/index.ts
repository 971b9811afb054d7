/**
 * `lib/ops`: the heavy operators (convolution, deconvolution, batch normalization, pooling,
 * interpolation, RoIPool, RoIAlign), each a differentiable op on `lib/tensor` whose kernels come
 * from the backend registry: a `reference` implementation in plain loops, hand-written `gpu`
 * (gpu.js) kernels, and the `wasm` backend's WebAssembly SIMD kernels (`wasm/`); a backend
 * without a kernel runs the reference one.
 *
 * @module
 */
// Kernel implementations register themselves with the registry when their modules load.
import './reference/frozen_batch_norm.js';
import './gpu/frozen_batch_norm.js';
import './reference/batch_norm.js';
import './reference/matmul.js';
import './gpu/matmul.js';
import './reference/conv.js';
import './gpu/conv.js';
import './reference/pool.js';
import './gpu/pool.js';
import './reference/interpolate.js';
import './gpu/interpolate.js';
import './reference/roi.js';
import './gpu/roi.js';
import './wasm/index.js';

export {
  type BackendName,
  type BackendProvider,
  Kernel,
  registerBackend,
  availableBackends,
  describeBackend,
  setBackend,
  getBackend,
  withBackend,
  kernelTable,
  REFERENCE_FALLBACK,
  type KernelTableRow,
  type KernelImplementation,
} from './backend.js';
export { gpuMode } from './gpu/context.js';
export { frozenBatchNorm2d, channelAffine, type FrozenBatchNormOptions, type ChannelAffineKernel } from './frozen_batch_norm.js';
export * from './batch_norm.js';
export { mm, linear, matmulKernel, type MatmulKernel } from './matmul.js';
export * from './conv.js';
export * from './pool.js';
export * from './interpolate.js';
export * from './roi.js';
export * from './roi_geometry.js';
export * from './roi_inspect.js';
export { setWasmThreads, wasmThreads, shutdownWasmWorkers } from './wasm/index.js';
