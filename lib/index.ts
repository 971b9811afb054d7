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
// Node-only (writes PNG files): kept out of lib/ops/index.ts, which must also load in browsers.
export * from './ops/roi_figure.js';
export * from './nn/index.js';
export * from './maskrcnn/index.js';
