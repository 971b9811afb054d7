/**
 * The 2^24 rule of the gpu.js kernels, in one place. GL computes indices in float32, which holds
 * every integer up to 2^24 exactly and no further, so every flat index one kernel call uses must
 * stay below 2^24: a tensor is cut into chunks of whole items (planes, images, matrix rows), one
 * kernel call per chunk, and inside a kernel the thread index is split into its coordinates with
 * `floorDiv` (`context.ts`), exact below 2^24.
 *
 * @internal
 */
import type { TypedArray } from '../../tensor/index.js';
import type { GpuKernel } from './context.js';

/** 2^24: float32 represents every integer up to it, so flat indices of one kernel call stay below it. */
export const MAX_INDEX = 2 ** 24;

/**
 * Consecutive `[first, count]` runs covering `total` items of `perItem` elements each, with at
 * most `maxElements` elements (and at most `maxCount` items, and at least one item) per run.
 * The caller checks first that one item fits.
 */
export function indexChunks(total: number, perItem: number, maxElements: number, maxCount = Infinity): Array<[number, number]> {
  const step = Math.max(1, Math.min(maxCount, Math.floor(maxElements / Math.max(perItem, 1))));
  const chunks: Array<[number, number]> = [];
  for (let first = 0; first < total; first += step) chunks.push([first, Math.min(step, total - first)]);
  return chunks;
}

/** `x` as a Float32Array of its own (a view into a larger buffer is copied: gpu.js may read the whole buffer). */
export function f32(x: TypedArray): Float32Array {
  const whole = x.byteOffset === 0 && x.byteLength === x.buffer.byteLength;
  return x instanceof Float32Array && whole ? x : Float32Array.from(x);
}

/** A result array in the input's precision (gpu.js computes in float32; float64 inputs get a float64 copy). */
export function resultLike(x: TypedArray, n: number): Float32Array | Float64Array {
  return x instanceof Float64Array ? new Float64Array(n) : new Float32Array(n);
}

/**
 * Runs a one-output-per-thread `kernel` chunk by chunk: `input` holds `perIn` elements per item,
 * the kernel writes `perOut` per item into `result` at the chunk's place. The kernel's first
 * argument is the chunk's input; `args` follow (a function of the chunk's first item when they
 * depend on it).
 */
export function runInChunks<R extends Float32Array | Float64Array>(
  kernel: GpuKernel,
  input: TypedArray,
  chunks: ReadonlyArray<readonly [number, number]>,
  perIn: number,
  perOut: number,
  result: R,
  args: readonly unknown[] | ((first: number) => readonly unknown[]),
): R {
  for (const [first, count] of chunks) {
    kernel.setOutput([count * perOut]);
    const chunk = f32(input.subarray(first * perIn, (first + count) * perIn));
    result.set(kernel(chunk, ...(typeof args === 'function' ? args(first) : args)) as Float32Array, first * perOut);
  }
  return result;
}
