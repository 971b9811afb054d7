/**
 * The `wasm` backend: a WebAssembly SIMD GEMM (packing, 6x8 register tiles of f32x4, cache
 * blocking; `assembly/kernels.ts`) with worker threads over shared memory (`runtime.ts`),
 * carrying the matrix product and the three convolution kernels (`kernels.ts`), and RoIAlign's
 * average forward and backward on channels-last features (`roi.ts`). Importing this module
 * registers the backend and its kernels.
 *
 * Kernels it does not accelerate yet are registered as the reference loops, with a note, so
 * that `kernelTable()` says what really runs.
 */
import type { Kernel } from '../backend.js';
import { registerBackend } from '../backend.js';
import { channelAffine } from '../frozen_batch_norm.js';
import { interpolateBilinearBackward, interpolateBilinearForward, interpolateNearestBackward, interpolateNearestForward } from '../interpolate.js';
import { maxPool2dBackward, maxPool2dForward } from '../pool.js';
import { roiAlignMaxBackward, roiAlignMaxForward, roiPoolBackward, roiPoolForward } from '../roi.js';
import '../reference/frozen_batch_norm.js';
import '../reference/interpolate.js';
import '../reference/pool.js';
import '../reference/roi.js';
import './kernels.js';
import './roi.js';
import { wasmAvailable, wasmLoadError, wasmSimdVariant, wasmThreads } from './runtime.js';

registerBackend('wasm', {
  available: wasmAvailable,
  describe: () =>
    wasmAvailable()
      ? `WebAssembly SIMD GEMM (f32x4, 6x8 tiles; ${wasmSimdVariant() === 'relaxed' ? 'relaxed SIMD: fused multiply-add' : 'plain SIMD: multiply then add'}), ${typeof SharedArrayBuffer === 'undefined' ? '1 thread (no SharedArrayBuffer here: a page that is not cross-origin isolated)' : `${wasmThreads()} thread(s) over shared memory`}; float64 inputs run the reference loops`
      : `unavailable: ${wasmLoadError()}`,
});

const MEMORY_BOUND = 'reference loops: memory-bound, not vectorized yet';

/** Registers the reference implementation of `slot` for 'wasm', with a note. */
function referenceFor<F extends (...args: never[]) => unknown>(slot: Kernel<F>, note: string): void {
  slot.register('wasm', slot.for('reference'), note);
}

referenceFor(channelAffine, MEMORY_BOUND);
referenceFor(interpolateNearestForward, MEMORY_BOUND);
referenceFor(interpolateNearestBackward, `${MEMORY_BOUND} (a scatter)`);
referenceFor(interpolateBilinearForward, MEMORY_BOUND);
referenceFor(interpolateBilinearBackward, `${MEMORY_BOUND} (a scatter)`);
referenceFor(maxPool2dForward, MEMORY_BOUND);
referenceFor(maxPool2dBackward, `${MEMORY_BOUND} (a scatter)`);
referenceFor(roiPoolForward, MEMORY_BOUND);
referenceFor(roiPoolBackward, `${MEMORY_BOUND} (a scatter)`);
referenceFor(roiAlignMaxForward, MEMORY_BOUND);
referenceFor(roiAlignMaxBackward, `${MEMORY_BOUND} (a scatter)`);

export {
  relaxedSimdSupported, setWasmSimd, setWasmThreads, shutdownWasmWorkers, wasmSimdVariant, wasmThreads,
  type WasmSimdSetting, type WasmSimdVariant,
} from './runtime.js';
