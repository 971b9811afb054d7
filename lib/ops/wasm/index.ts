/**
 * The `wasm` backend: a WebAssembly SIMD GEMM (packing, 6x8 register tiles of f32x4, cache
 * blocking; `assembly/kernels.ts`) with worker threads over shared memory (`runtime.ts`),
 * carrying the matrix product and the three convolution kernels (`kernels.ts`), RoIAlign's
 * average forward and backward on channels-last features (`roi.ts`), and batch normalization
 * and the per-channel affine map (`batch_norm.ts`). Importing this module registers the backend
 * and its kernels.
 *
 * Kernels it does not accelerate yet (the memory-bound ones: pooling, interpolation, RoIPool,
 * RoIAlign's max mode, and the scatter-shaped backwards) run the reference loops by the
 * registry's one fallback rule (`../backend.ts`), and `kernelTable()` notes them as such.
 */
import { registerBackend } from '../backend.js';
import './kernels.js';
import './roi.js';
import './batch_norm.js';
import { wasmAvailable, wasmLoadError, wasmSimdVariant, wasmThreads } from './runtime.js';
// In a cross-origin isolated page: Web Workers for the threads (nothing happens elsewhere).
import './browser_workers.js';

registerBackend('wasm', {
  available: wasmAvailable,
  describe: () =>
    wasmAvailable()
      ? `WebAssembly SIMD GEMM (f32x4, 6x8 tiles; ${wasmSimdVariant() === 'relaxed' ? 'relaxed SIMD: fused multiply-add' : 'plain SIMD: multiply then add'}), ${typeof SharedArrayBuffer === 'undefined' ? '1 thread (no SharedArrayBuffer here: a page that is not cross-origin isolated)' : `${wasmThreads()} thread(s) over shared memory`}; float64 inputs run the reference loops`
      : `unavailable: ${wasmLoadError()}`,
});

export {
  relaxedSimdSupported, setWasmSimd, setWasmThreads, shutdownWasmWorkers, wasmSimdVariant, wasmThreads,
  type WasmSimdSetting, type WasmSimdVariant,
} from './runtime.js';
