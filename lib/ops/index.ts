/**
 * `lib/ops`: the heavy operators (convolution, deconvolution, pooling, interpolation, RoIPool,
 * RoIAlign), each a differentiable op on `lib/tensor` whose kernels come from the backend
 * registry: a `reference` implementation in plain loops and a hand-written `gpu` (gpu.js) one.
 *
 * @module
 */
// Kernel implementations register themselves with the registry when their modules load.
import './reference/frozen_batch_norm.js';
import './gpu/frozen_batch_norm.js';

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
} from './backend.js';
export { gpuMode } from './gpu/context.js';
export { frozenBatchNorm2d, channelAffine, type FrozenBatchNormOptions, type ChannelAffineKernel } from './frozen_batch_norm.js';
