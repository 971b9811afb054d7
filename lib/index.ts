/**
 * maskrcnn-ts: Mask R-CNN from scratch in TypeScript.
 *
 * The package's public API. Layers import only to the right:
 * `lib/maskrcnn -> lib/nn -> lib/ops -> lib/tensor`.
 *
 * @packageDocumentation
 */
export * from './tensor/index.js';
export { writeFileAtomic, type AtomicContent } from './util/atomic_write.js';
export * from './ops/index.js';
export * from './nn/index.js';
export * from './maskrcnn/index.js';
