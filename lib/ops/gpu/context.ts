/**
 * The one gpu.js instance behind the `gpu` backend, and the report of which gpu.js mode really
 * runs: `headlessgl` (WebGL through the native `gl` package, needs a display), `webgl2`/`webgl`
 * (browsers), `webasm` (WebAssembly + SIMD when there is no GL context), or `cpu`.
 *
 * The mode can be forced with the environment variable `MASKRCNN_GPU_MODE` (one of gpu.js's
 * modes); otherwise gpu.js picks the best it finds.
 */
import gpujs from 'gpu.js';
import { registerBackend } from '../backend.js';

/** The parts of gpu.js's `GPU` class this project uses. */
export interface GpuInstance {
  /** The mode gpu.js settled on. */
  readonly mode: string;
  /** Compiles a kernel function (one thread per output element). */
  createKernel(fn: (...args: never[]) => number, settings?: Record<string, unknown>): GpuKernel;
  /** Releases GPU resources. */
  destroy(): void;
}

/** A compiled gpu.js kernel. */
export interface GpuKernel {
  (...args: unknown[]): unknown;
  /** Sets the output size (`[n]`, `[w, h]` or `[w, h, d]`). */
  setOutput(output: number[]): GpuKernel;
  /** The mode-specific kernel object (its constructor name says what ran). */
  readonly kernel?: { constructor: { name: string } };
}

let instance: GpuInstance | null = null;
let loadError: Error | null = null;

function load(): GpuInstance | null {
  if (instance !== null || loadError !== null) return instance;
  try {
    const GPU = gpujs.GPU as unknown as new (settings: Record<string, unknown>) => GpuInstance;
    const mode = typeof process !== 'undefined' ? process.env['MASKRCNN_GPU_MODE'] : undefined;
    const g = new GPU(mode ? { mode } : {});
    // Every kernel in highp ('precision' tactic): the 2^24 rule of the kernels (chunks.ts) needs
    // float32 indices, and without a tactic gpu.js picks lowp/mediump for small outputs on GL
    // (WebGL in browsers) and then, when setOutput grows the output past that precision's
    // range, returns the old size's result (its kernel switch finds the old kernel again).
    const create = g.createKernel.bind(g);
    g.createKernel = (fn: (...args: never[]) => number, settings?: Record<string, unknown>) => create(fn, { tactic: 'precision', ...settings });
    instance = g;
  } catch (error) {
    loadError = error as Error;
  }
  return instance;
}

/** The shared gpu.js instance (created on first use); throws if gpu.js cannot load here. */
export function gpu(): GpuInstance {
  const g = load();
  if (g === null) throw new Error(`gpu backend: gpu.js could not be loaded: ${loadError?.message}`);
  return g;
}

/**
 * `floor(a / b)` for integers `|a| < 2^24`, `b >= 1`, exact in float32: the estimate from a
 * float division can be one off (rounding of `a + 0.5`, or an approximate GPU division), and
 * the remainder `a - q b` (exact: every term is an integer below 2^24) says which way.
 * A gpu.js helper function (passed to the kernels in `functions`); plain JS elsewhere.
 *
 * Pass it to gpu.js kernels with `functions: [floorDiv]`.
 *
 * @internal
 */
export function floorDiv(a: number, b: number): number {
  let q = Math.floor((a + 0.5) / b);
  if (a - q * b < 0) q -= 1;
  if (a - q * b >= b) q += 1;
  return q;
}

const KERNEL_MODES: Record<string, string> = {
  HeadlessGLKernel: 'headlessgl',
  WebGL2Kernel: 'webgl2',
  WebGLKernel: 'webgl',
  WebGPUKernel: 'webgpu',
  WebAssemblyKernel: 'webasm',
  CPUKernel: 'cpu',
};

let probedMode: string | null = null;

/**
 * The gpu.js mode that kernels really run in (`headlessgl`, `webgl2`, `webasm`, `cpu`, ...),
 * read from the class of a compiled probe kernel: gpu.js's own `mode` field only says `gpu`
 * when it picked a GL context.
 */
export function gpuMode(): string {
  if (probedMode === null) {
    const probe = gpu().createKernel(function () {
      return 1;
    }).setOutput([1]);
    probe();
    const name = probe.kernel?.constructor.name ?? '';
    probedMode = KERNEL_MODES[name] ?? `${gpu().mode} (${name || 'unknown kernel class'})`;
  }
  return probedMode;
}

registerBackend('gpu', {
  available: () => load() !== null,
  describe: () => (load() === null ? `gpu.js unavailable (${loadError?.message})` : `gpu.js, mode ${gpuMode()}`),
});
