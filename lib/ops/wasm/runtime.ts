/**
 * The runtime of the `wasm` backend: one shared `WebAssembly.Memory`, the compute module
 * (`assembly/kernels.ts`, compiled into `module.ts`) instantiated on the main thread and in
 * each worker, a bump allocator over that memory, and {@link parallelGemm}, which splits a
 * matrix product between the main thread and the workers.
 *
 * Threads. Kernels are synchronous (an op calls a kernel and gets an array back), so the main
 * thread cannot await workers. Instead the workers sit in `Atomics.wait` on a control word in
 * a SharedArrayBuffer; the main thread writes a job (the product's sizes and addresses), bumps
 * the generation counter and notifies; then every thread, the main one included, claims chunks
 * of C from a shared counter until none is left, and the main thread `Atomics.wait`s until the
 * pending count reaches zero. Every element of C is computed by
 * exactly one thread with a fixed summation order (see `assembly/kernels.ts`), so results are
 * bit-identical whatever the number of threads.
 *
 * Failure: a worker catches any error of its job and records it in shared memory; the main
 * thread throws it (`wasm worker N: ...`). Workers join a job only while it is open: when the
 * main thread has run out of chunks it closes the job and waits only for the workers that joined,
 * so a worker that is dead, still starting or descheduled by another process never makes the
 * caller hang or wait (its share is simply done by the others); a worker that joined and has not
 * finished after {@link ACK_TIMEOUT_MS} makes the call throw and the pool is stopped (a fresh one
 * starts on the next call). Workers are `unref`ed, so they never keep a process alive.
 * Portability: the compute module only touches its imported memory. Workers come from a
 * {@link WasmWorkerHost}: Node's `worker_threads` (found through `process.getBuiltinModule`, so
 * nothing Node-only is imported statically), or in a cross-origin isolated page Web Workers
 * (`browser_workers.ts`); there the page's main thread, which may not `Atomics.wait`, spins
 * instead while the workers that joined a job finish their chunks. Without `SharedArrayBuffer`
 * (a page that is not cross-origin isolated) the memory is unshared and the backend runs one thread.
 *
 * Variants. The module is built twice from one source (`tools/wasm/build.ts`): `plain`
 * (WebAssembly SIMD) and `relaxed` (the GEMM's multiply-adds as `f32x4.relaxed_madd`, fused on
 * machines with FMA). The relaxed one is used where the engine accepts it: browsers since Chrome
 * 114 and Firefox 120 do by default; Node 20's V8 needs `--experimental-wasm-relaxed-simd`,
 * which this module sets itself (`v8.setFlagsFromString`, in the main thread and in each worker,
 * before compiling) and then checks with `WebAssembly.validate` of a tiny relaxed-SIMD module.
 * `MASKRCNN_WASM_SIMD=plain` (or {@link setWasmSimd}) forces the plain one. The main thread and
 * the workers always run the same compiled module, so thread-count independence holds within a
 * variant; the two variants differ in rounding only (a fused step rounds once).
 */
import { KERNELS_RELAXED_WASM_BASE64, KERNELS_WASM_BASE64 } from './module.js';

/** The exports of the compute module. */
interface Exports {
  gemmScratchBytes(): number;
  gemm(
    m: number, n: number, k: number,
    a: number, sar: number, sac: number,
    b: number, sbr: number, sbc: number,
    c: number, ldc: number, beta: number,
    m0: number, m1: number, n0: number, n1: number,
    scratch: number,
  ): void;
  im2col(
    x: number, channels: number, height: number, width: number,
    kernelH: number, kernelW: number, strideH: number, strideW: number, padH: number, padW: number, dilH: number, dilW: number,
    outW: number, h0: number, h1: number, col: number, ldcol: number,
  ): void;
  col2im(
    col: number, channels: number, height: number, width: number,
    kernelH: number, kernelW: number, strideH: number, strideW: number, padH: number, padW: number, dilH: number, dilW: number,
    outW: number, h0: number, h1: number, x: number, ldcol: number,
  ): void;
  copyBlocks(src: number, srcBlock: number, srcRow: number, dst: number, dstBlock: number, dstRow: number, blocks: number, rows: number, len: number): void;
  fillRows(out: number, v: number, channels: number, plane: number, hasValue: number): void;
  accumulateF64(dst: number, src: number, n: number): void;
  roundF64(dst: number, src: number, n: number): void;
  roiAlignForward(x: number, channels: number, offsets: number, weights: number, bins: number, taps: number, count: number, out: number): void;
  roiAlignBackward(gradOut: number, channels: number, offsets: number, weights: number, bins: number, taps: number, count: number, grad: number, share: number): void;
  transpose(src: number, rows: number, cols: number, srcStride: number, dst: number): void;
  channelStatistics(x: number, images: number, channels: number, plane: number, mean: number, variance: number): void;
  channelAffine(x: number, out: number, images: number, channels: number, plane: number, scale: number, shift: number, relu: number): void;
  batchNormBackward(
    x: number, g: number, y: number, images: number, channels: number, plane: number,
    mean: number, invstd: number, k: number, sumG: number, sumGxhat: number, gx: number,
  ): void;
}

/** The slice of the WebAssembly JS API used here (the project's `lib` setting has no DOM types). */
interface WasmApi {
  Module: new (bytes: Uint8Array) => WasmModule;
  validate(bytes: Uint8Array): boolean;
  Memory: new (descriptor: { initial: number; maximum: number; shared: boolean }) => WasmMemory;
  Instance: new (module: WasmModule, imports: Record<string, Record<string, unknown>>) => { exports: unknown };
}
interface WasmModule {
  readonly brand?: 'WebAssembly.Module';
}
interface WasmMemory {
  readonly buffer: ArrayBufferLike;
  grow(pages: number): number;
}
const wasmApi = (globalThis as unknown as { WebAssembly?: WasmApi }).WebAssembly;

const PAGE = 65536;
/** Maximum pages (2 GiB), as declared by the module. */
const MAX_PAGES = 32768;
/** Most threads (main + workers) the scratch area is laid out for. */
const MAX_THREADS = 16;
/** A worker that joined a job and has not finished it after this long is considered dead. */
const ACK_TIMEOUT_MS = 10000;
/** Products below this many multiply-adds run on the main thread alone (waking workers costs more). */
const PARALLEL_MIN_MACS = 1 << 19;
/** Tile sizes of the microkernel (MR rows, NR columns): thread blocks are cut on them. */
const MR = 6;
const NR = 8;

// Control block layout (Int32 indices).
const GEN = 0;
const ERROR = 2;
const CMD = 3;
const NEXT = 4; // the next chunk of the job to claim
const JOIN = 5; // (gen & 0xffff) << 12 | closed << 11 | workers joined
const FINISHED = 6; // workers that joined and finished
const CHUNKS = 1; // chunks in the job
const CHUNK_SIZE = 7; // rows, columns or channels per chunk
const CLOSED = 1 << 11;
const PARAMS = 8; // up to 24 ints: gemm's 12 + chunking's 1, or im2col's/col2im's 17 + images' 3
const ACK = 32; // + worker index
const READY = 64; // + worker index
const CTRL_INTS = READY + MAX_THREADS;
const CMD_GEMM = 1;
const CMD_THROW = 2;
const CMD_EXIT = 3;
const CMD_IM2COL = 4;
const CMD_COL2IM = 5;

/** Decodes base64 without Node's Buffer (works in browsers too). */
function decodeBase64(s: string): Uint8Array {
  const bin = atob(s);
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}

/**
 * A copy of a WebAssembly binary whose imported memory is declared unshared: clears the `shared`
 * bit of the memory import's limits flags (binary format, import section: kind 2, limits flags
 * 0x03 = shared with a maximum becomes 0x01). The kernels use no atomic instructions, so the
 * same code runs on an ordinary memory, single-threaded: what a browser page that is not
 * cross-origin isolated (no `SharedArrayBuffer`) can give it.
 */
export function unshareMemoryImport(bytes: Uint8Array): Uint8Array {
  const out = bytes.slice();
  let p = 8; // magic and version
  const leb = (): number => {
    let result = 0;
    let shift = 0;
    for (;;) {
      const b = out[p++]!;
      result += (b & 0x7f) * 2 ** shift;
      shift += 7;
      if ((b & 0x80) === 0) return result;
    }
  };
  const skipLimits = (): number => {
    const at = p++;
    leb();
    if (out[at]! & 1) leb();
    return at;
  };
  while (p < out.length) {
    const id = out[p++]!;
    const size = leb();
    const end = p + size;
    if (id === 2) {
      const count = leb();
      for (let i = 0; i < count; i++) {
        for (const _name of ['module', 'field']) {
          const length = leb();
          p += length;
        }
        const kind = out[p++]!;
        if (kind === 0) leb();
        else if (kind === 1) {
          p++;
          skipLimits();
        } else if (kind === 2) {
          const flags = skipLimits();
          out[flags] = out[flags]! & ~2;
        } else if (kind === 3) p += 2;
        else if (kind === 4) {
          p++;
          leb();
        } else throw new Error(`unshareMemoryImport: unknown import kind ${kind}`);
      }
      return out;
    }
    p = end;
  }
  return out;
}

/** A compiled variant of the compute module: plain SIMD, or relaxed SIMD (fused multiply-add). */
export type WasmSimdVariant = 'plain' | 'relaxed';

/** What {@link setWasmSimd} and `MASKRCNN_WASM_SIMD` accept: a variant, or `auto` (relaxed where supported). */
export type WasmSimdSetting = WasmSimdVariant | 'auto';

/**
 * The smallest module using relaxed SIMD: `(func (param v128 v128 v128) (result v128)
 * (f32x4.relaxed_madd (local.get 0) (local.get 1) (local.get 2)))`, for feature detection.
 */
const RELAXED_PROBE = new Uint8Array([
  0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00,
  0x01, 0x08, 0x01, 0x60, 0x03, 0x7b, 0x7b, 0x7b, 0x01, 0x7b, // type: (v128 v128 v128) -> v128
  0x03, 0x02, 0x01, 0x00, // function 0 has type 0
  0x0a, 0x0d, 0x01, 0x0b, 0x00, 0x20, 0x00, 0x20, 0x01, 0x20, 0x02, 0xfd, 0x85, 0x02, 0x0b, // body
]);

/** The V8 flag that turns relaxed SIMD on in Node 20 (on by default from V8 11.4 / Chrome 114). */
const RELAXED_FLAG = '--experimental-wasm-relaxed-simd';

let relaxedSupport: boolean | null = null;

/**
 * Whether this engine compiles relaxed SIMD. In Node, first sets V8's flag for it (harmless
 * where it is already on or unknown); in browsers only the validation runs.
 */
export function relaxedSimdSupported(): boolean {
  if (relaxedSupport !== null) return relaxedSupport;
  try {
    const v8 = nodeModule('node:v8') as { setFlagsFromString?: (flags: string) => void } | undefined;
    v8?.setFlagsFromString?.(RELAXED_FLAG);
  } catch {
    // No such flag in this engine: validation decides.
  }
  try {
    relaxedSupport = wasmApi !== undefined && wasmApi.validate(RELAXED_PROBE);
  } catch {
    relaxedSupport = false;
  }
  return relaxedSupport;
}

let simdSetting: WasmSimdSetting | null = null;

function parseSimdSetting(value: string, where: string): WasmSimdSetting {
  if (value === 'auto' || value === 'plain' || value === 'relaxed') return value;
  throw new Error(`${where} must be 'auto', 'plain' or 'relaxed', got '${value}'`);
}

function requestedSimd(): WasmSimdSetting {
  if (simdSetting !== null) return simdSetting;
  const env = typeof process !== 'undefined' ? process.env['MASKRCNN_WASM_SIMD'] : undefined;
  return env === undefined || env === '' ? 'auto' : parseSimdSetting(env, 'MASKRCNN_WASM_SIMD');
}

/** The variant `setting` resolves to here (throws for `relaxed` where the engine lacks it). */
function resolveSimd(setting: WasmSimdSetting): WasmSimdVariant {
  if (setting === 'plain') return 'plain';
  if (relaxedSimdSupported()) return 'relaxed';
  if (setting === 'relaxed') throw new Error('relaxed SIMD was asked for (MASKRCNN_WASM_SIMD or setWasmSimd) but this engine does not compile it');
  return 'plain';
}

interface State {
  variant: WasmSimdVariant;
  module: WasmModule;
  memory: WasmMemory;
  exports: Exports;
  scratchBytes: number;
  /** First byte after the scratch areas: where the per-call arena starts. */
  arenaBase: number;
  top: number;
  f32: Float32Array;
}

let state: State | null = null;
let loadError: string | null = null;

function load(): State | null {
  if (state !== null || loadError !== null) return state;
  try {
    if (wasmApi === undefined) throw new Error('WebAssembly is not available');
    const variant = resolveSimd(requestedSimd());
    const bytes = decodeBase64(variant === 'relaxed' ? KERNELS_RELAXED_WASM_BASE64 : KERNELS_WASM_BASE64);
    // Shared memory where the platform allows it (Node; a cross-origin isolated page), so that
    // worker threads can split products; an ordinary memory and one thread elsewhere.
    const shared = typeof SharedArrayBuffer !== 'undefined';
    const module = new wasmApi.Module(shared ? bytes : unshareMemoryImport(bytes));
    const memory = new wasmApi.Memory({ initial: 64, maximum: MAX_PAGES, shared });
    const exports = new wasmApi.Instance(module, { env: { memory } }).exports as Exports;
    const scratchBytes = (exports.gemmScratchBytes() + 63) & ~63;
    const arenaBase = PAGE + scratchBytes * MAX_THREADS;
    state = { variant, module, memory, exports, scratchBytes, arenaBase, top: arenaBase, f32: new Float32Array(memory.buffer) };
    ensure(state, arenaBase);
  } catch (error) {
    loadError = (error as Error).message;
    state = null;
  }
  return state;
}

/** Whether the compute module loaded (WebAssembly SIMD and shared memory are present). */
export function wasmAvailable(): boolean {
  return load() !== null;
}

/** The variant of the compute module that runs (loading it if needed), or null if none loaded. */
export function wasmSimdVariant(): WasmSimdVariant | null {
  return load()?.variant ?? null;
}

/**
 * Chooses the compute module's variant for the rest of the process: `plain` (WebAssembly SIMD),
 * `relaxed` (fused multiply-add; throws where the engine lacks relaxed SIMD) or `auto` (relaxed
 * where supported). Default: `MASKRCNN_WASM_SIMD`, else `auto`. The workers are stopped and the
 * module reloaded on the next call (its memory is fresh: nothing lives there between calls).
 */
export function setWasmSimd(setting: WasmSimdSetting): void {
  parseSimdSetting(setting, 'setWasmSimd');
  resolveSimd(setting);
  shutdownWasmWorkers();
  simdSetting = setting;
  state = null;
  loadError = null;
}

/** Why the module did not load, or null. */
export function wasmLoadError(): string | null {
  load();
  return loadError;
}

function ensure(s: State, bytes: number): void {
  const have = s.memory.buffer.byteLength;
  if (bytes > have) {
    const pages = Math.ceil((bytes - have) / PAGE);
    if (have / PAGE + pages > MAX_PAGES) throw new Error(`wasm backend: needs ${(bytes / 2 ** 30).toFixed(2)} GiB of memory, beyond the module's 2 GiB`);
    s.memory.grow(pages);
  }
  if (s.f32.buffer.byteLength !== s.memory.buffer.byteLength) s.f32 = new Float32Array(s.memory.buffer);
}

/** The loaded runtime (throws if the module could not load). */
export function runtime(): { exports: Exports; f32(): Float32Array } {
  const s = load();
  if (s === null) throw new Error(`wasm backend is not available: ${loadError}`);
  return { exports: s.exports, f32: () => s.f32 };
}

/**
 * Runs `fn` with a fresh arena: `alloc` returns 16-byte-aligned byte addresses in the shared
 * memory, all released when `fn` returns. Calls do not nest.
 */
export function withArena<T>(fn: (alloc: (floats: number) => number) => T): T {
  const s = load();
  if (s === null) throw new Error(`wasm backend is not available: ${loadError}`);
  s.top = s.arenaBase;
  const alloc = (floats: number): number => {
    const p = (s.top + 15) & ~15;
    s.top = p + floats * 4;
    ensure(s, s.top);
    return p;
  };
  try {
    return fn(alloc);
  } finally {
    s.top = s.arenaBase;
  }
}

/** Copies `x` (any numeric array) into the memory at byte address `ptr`, as float32. */
export function put(ptr: number, x: ArrayLike<number>): void {
  const s = load()!;
  s.f32.set(x, ptr >> 2);
}

/** The shared memory's current buffer (views of it stay valid until the next `alloc` grows it). */
export function heap(): ArrayBufferLike {
  return load()!.memory.buffer;
}

/** A Float32Array copy of `count` floats at byte address `ptr`. */
export function get(ptr: number, count: number): Float32Array {
  const s = load()!;
  // set() of a subarray, not slice(): on a shared memory V8's slice copies about 3x slower.
  const out = new Float32Array(count);
  out.set(s.f32.subarray(ptr >> 2, (ptr >> 2) + count));
  return out;
}

// ---------------------------------------------------------------- the worker pool

/**
 * The worker's loop: plain JavaScript over the names `module, memory, ctrlBuffer, messageBuffer,
 * index, scratch` (a {@link WasmWorkerData}), which the host's prologue defines (Node: from
 * `workerData`; browsers: from the first message, `browser_workers.ts`).
 */
const WORKER_LOOP = `
const exports = new WebAssembly.Instance(module, { env: { memory } }).exports;
const ctrl = new Int32Array(ctrlBuffer);
const message = new Uint8Array(messageBuffer);
let seen = Atomics.load(ctrl, ${GEN});
Atomics.store(ctrl, ${READY} + index, 1);
for (;;) {
  Atomics.wait(ctrl, ${GEN}, seen);
  const gen = Atomics.load(ctrl, ${GEN});
  if (gen === seen) continue;
  seen = gen;
  const cmd = Atomics.load(ctrl, ${CMD});
  if (cmd === ${CMD_EXIT}) break;
  // Join the job unless the main thread already closed it (then it did the work itself).
  let joined = false;
  for (;;) {
    const v = Atomics.load(ctrl, ${JOIN});
    if ((v >>> 12) !== (gen & 0xffff) || (v & ${CLOSED}) !== 0) break;
    if (Atomics.compareExchange(ctrl, ${JOIN}, v, v + 1) === v) { joined = true; break; }
  }
  if (!joined) continue;
  Atomics.store(ctrl, ${ACK} + index, gen);
  try {
    if (cmd === ${CMD_THROW}) throw new Error('a test asked this worker to throw');
    const p = ${PARAMS};
    const chunks = ctrl[${CHUNKS}], size = ctrl[${CHUNK_SIZE}];
    for (;;) {
      const i = Atomics.add(ctrl, ${NEXT}, 1);
      if (i >= chunks) break;
      if (cmd === ${CMD_GEMM}) {
        const m = ctrl[p], n = ctrl[p + 1], byColumns = ctrl[p + 12];
        const lo = i * size, hi = Math.min(lo + size, byColumns ? n : m);
        exports.gemm(m, n, ctrl[p + 2], ctrl[p + 3], ctrl[p + 4], ctrl[p + 5], ctrl[p + 6], ctrl[p + 7],
          ctrl[p + 8], ctrl[p + 9], ctrl[p + 10], ctrl[p + 11],
          byColumns ? 0 : lo, byColumns ? m : hi, byColumns ? lo : 0, byColumns ? hi : n, scratch);
      } else {
        // im2col / col2im of one image's channels [c0, c1): chunk i is image i / perImage, and
        // the image and col pointers move to that image and channel c0.
        const perImage = ctrl[p + 17], image = Math.floor(i / perImage), j = i - image * perImage;
        const c0 = j * size, c1 = Math.min(c0 + size, ctrl[p + 1]);
        const ldcol = ctrl[p + 16];
        const x = ctrl[p] + (image * ctrl[p + 18] + c0 * ctrl[p + 2] * ctrl[p + 3]) * 4;
        const col = ctrl[p + 15] + (image * ctrl[p + 19] + c0 * ctrl[p + 4] * ctrl[p + 5] * ldcol) * 4;
        const f = cmd === ${CMD_IM2COL} ? exports.im2col : exports.col2im;
        const a = cmd === ${CMD_IM2COL} ? x : col, b = cmd === ${CMD_IM2COL} ? col : x;
        f(a, c1 - c0, ctrl[p + 2], ctrl[p + 3], ctrl[p + 4], ctrl[p + 5], ctrl[p + 6], ctrl[p + 7], ctrl[p + 8], ctrl[p + 9],
          ctrl[p + 10], ctrl[p + 11], ctrl[p + 12], ctrl[p + 13], ctrl[p + 14], b, ldcol);
      }
    }
  } catch (error) {
    if (Atomics.compareExchange(ctrl, ${ERROR}, 0, index + 1) === 0) {
      const text = new TextEncoder().encode(String(error && error.message || error)).slice(0, message.length);
      message.fill(0);
      message.set(text);
    }
  } finally {
    Atomics.add(ctrl, ${FINISHED}, 1);
    Atomics.notify(ctrl, ${FINISHED});
  }
}
`;

/** The worker's loop source (see {@link WasmWorkerData} for the names it reads), for a {@link WasmWorkerHost}. @internal */
export function wasmWorkerLoopSource(): string {
  return WORKER_LOOP;
}

/** The Node worker's source: plain JavaScript (CommonJS), run with `eval: true`, no tsx needed. */
const WORKER_SOURCE = `
const { workerData } = require('node:worker_threads');
const { module, memory, ctrlBuffer, messageBuffer, index, scratch, relaxed } = workerData;
// This isolate must accept relaxed SIMD too before it instantiates the relaxed module.
if (relaxed) require('node:v8').setFlagsFromString('${RELAXED_FLAG}');
${WORKER_LOOP}`;

/** What one worker is given: the compiled module, the shared memory and control words, its index and scratch address. */
export interface WasmWorkerData {
  /** The compiled compute module (the main thread's). */
  module: unknown;
  /** Whether it is the relaxed-SIMD variant. */
  relaxed: boolean;
  /** The shared `WebAssembly.Memory`. */
  memory: unknown;
  /** The control words (a SharedArrayBuffer). */
  ctrlBuffer: SharedArrayBuffer;
  /** Where a worker writes its error's message (a SharedArrayBuffer). */
  messageBuffer: SharedArrayBuffer;
  /** The worker's index (0-based; the main thread is not counted). */
  index: number;
  /** Byte address of the worker's GEMM scratch area. */
  scratch: number;
}

/**
 * Where worker threads come from: Node's `worker_threads` (built in), or a browser's Web Workers
 * (`browser_workers.ts` installs that one with {@link setWasmWorkerHost} when the page is
 * cross-origin isolated).
 */
export interface WasmWorkerHost {
  /** Cores here: the default thread count. */
  cores(): number;
  /** Starts a worker running {@link wasmWorkerLoopSource} on `data`; calls `gone` if it fails or exits. */
  start(data: WasmWorkerData, gone: () => void): { terminate(): void };
  /** Whether the calling thread may block in `Atomics.wait` (a page's main thread may not: it spins, briefly, instead). */
  canBlock: boolean;
}

let installedHost: WasmWorkerHost | null = null;

/** Installs the browser's worker host (null: back to Node's, if any); the old workers are stopped. @internal */
export function setWasmWorkerHost(h: WasmWorkerHost | null): void {
  shutdownWasmWorkers();
  installedHost = h;
}

/** Node's host: `worker_threads`, found at run time (nothing Node-only is imported statically). */
function nodeHost(): WasmWorkerHost | undefined {
  const wt = nodeModule('node:worker_threads') as
    | { Worker: new (src: string, options: Record<string, unknown>) => WorkerLike }
    | undefined;
  if (wt === undefined) return undefined;
  return {
    cores: () => (nodeModule('node:os') as { availableParallelism?: () => number } | undefined)?.availableParallelism?.() ?? 1,
    canBlock: true,
    start: (workerData, gone) => {
      const w = new wt.Worker(WORKER_SOURCE, { eval: true, execArgv: [], workerData });
      w.unref();
      // Errors outside a job (the module failed to instantiate): this worker never becomes ready.
      w.on('error', gone);
      w.on('exit', gone);
      return { terminate: () => void w.terminate() };
    },
  };
}

/** Node's host, looked up once (undefined: none here). */
let nodeHostFound: { host: WasmWorkerHost | undefined } | null = null;

function workerHost(): WasmWorkerHost | undefined {
  if (installedHost !== null) return installedHost;
  nodeHostFound ??= { host: nodeHost() };
  return nodeHostFound.host;
}

/** `Atomics.wait(ctrl, i, value, ms)`, or a spin on `Atomics.load` where this thread may not block. */
function waitWhile(ctrl: Int32Array, i: number, value: number, ms: number): void {
  if (workerHost()?.canBlock !== false) {
    Atomics.wait(ctrl, i, value, ms);
    return;
  }
  const end = Date.now() + ms;
  while (Atomics.load(ctrl, i) === value && Date.now() < end) {
    // spin: the workers this waits for are running
  }
}

interface WorkerLike {
  unref(): void;
  terminate(): Promise<number>;
  on(event: 'error' | 'exit', listener: (arg: unknown) => void): void;
}

interface Pool {
  workers: { terminate(): void }[];
  ctrl: Int32Array;
  message: Uint8Array;
  dead: boolean;
}

let pool: Pool | null = null;
let threadSetting: number | null = null;

function defaultThreads(): number {
  const env = typeof process !== 'undefined' ? process.env['MASKRCNN_WASM_THREADS'] : undefined;
  if (env !== undefined && env !== '') {
    const n = Number(env);
    if (!Number.isInteger(n) || n < 1) throw new Error(`MASKRCNN_WASM_THREADS must be an integer >= 1, got '${env}'`);
    return Math.min(n, MAX_THREADS);
  }
  return Math.max(1, Math.min(MAX_THREADS, workerHost()?.cores() ?? 1));
}

function nodeModule(id: string): unknown {
  const p = (globalThis as { process?: { getBuiltinModule?: (id: string) => unknown } }).process;
  return p?.getBuiltinModule?.(id);
}

/** How many threads (the main one included) products are split over. */
export function wasmThreads(): number {
  threadSetting ??= defaultThreads();
  if (workerHost() === undefined || typeof SharedArrayBuffer === 'undefined') return 1;
  return threadSetting;
}

/**
 * Sets the number of threads (main included) for the `wasm` backend; 1 runs on the main
 * thread only. The old workers are stopped. Default: `MASKRCNN_WASM_THREADS`, else the number
 * of cores. Results do not depend on it.
 */
export function setWasmThreads(threads: number): void {
  if (!Number.isInteger(threads) || threads < 1 || threads > MAX_THREADS) {
    throw new Error(`setWasmThreads: threads must be an integer in [1, ${MAX_THREADS}], got ${threads}`);
  }
  shutdownWasmWorkers();
  threadSetting = threads;
}

/** Stops the workers (they are unref'ed anyway; this frees them at once). A later call starts new ones. */
export function shutdownWasmWorkers(): void {
  if (pool === null) return;
  const p = pool;
  pool = null;
  p.dead = true;
  Atomics.store(p.ctrl, CMD, CMD_EXIT);
  Atomics.add(p.ctrl, GEN, 1);
  Atomics.notify(p.ctrl, GEN);
  for (const w of p.workers) w.terminate();
}

function startPool(s: State, workers: number): Pool | null {
  const host = workerHost();
  if (host === undefined || workers < 1) return null;
  const ctrlBuffer = new SharedArrayBuffer(CTRL_INTS * 4);
  const messageBuffer = new SharedArrayBuffer(1024);
  const p: Pool = { workers: [], ctrl: new Int32Array(ctrlBuffer), message: new Uint8Array(messageBuffer), dead: false };
  for (let i = 0; i < workers; i++) {
    const data = { module: s.module, relaxed: s.variant === 'relaxed', memory: s.memory, ctrlBuffer, messageBuffer, index: i, scratch: PAGE + s.scratchBytes * (i + 1) };
    p.workers.push(host.start(data, () => Atomics.store(p.ctrl, READY + i, 0)));
  }
  return p;
}

/** The workers ready to take a job now (all of them, or none: a partial pool is not used). */
function readyWorkers(s: State): Pool | null {
  const threads = wasmThreads();
  if (threads <= 1) return null;
  if (pool === null || pool.dead) pool = startPool(s, threads - 1);
  if (pool === null) return null;
  for (let i = 0; i < pool.workers.length; i++) if (Atomics.load(pool.ctrl, READY + i) !== 1) return null;
  return pool;
}

/** Waits (up to 10 s) until every worker has started: for tests of the threaded path. */
export function waitForWasmWorkers(): boolean {
  const s = load();
  if (s === null || wasmThreads() <= 1) return false;
  const deadline = Date.now() + 10000;
  for (;;) {
    if (readyWorkers(s) !== null) return true;
    if (Date.now() > deadline) return false;
    waitWhile(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 5);
  }
}

/**
 * Starts the workers if they are not running and says, without blocking, whether they are all
 * ready: a page (whose workers only start while its event loop turns) polls it between turns.
 */
export function wasmWorkersReadyNow(): boolean {
  const s = load();
  return s !== null && readyWorkers(s) !== null;
}

/** How many workers of the current pool have joined at least one job (0 without a pool): threads that really ran. */
export function wasmWorkersThatJoined(): number {
  if (pool === null) return 0;
  let n = 0;
  for (let i = 0; i < pool.workers.length; i++) if (Atomics.load(pool.ctrl, ACK + i) !== 0) n++;
  return n;
}

/** The operands of one product: as the compute module's `gemm`, without the block of C. */
export interface GemmArgs {
  /** Rows of A and C. */
  m: number;
  /** Columns of B and C. */
  n: number;
  /** Columns of A, rows of B. */
  k: number;
  /** Byte address of A(0, 0). */
  a: number;
  /** Row stride of A, in floats. */
  sar: number;
  /** Column stride of A, in floats. */
  sac: number;
  /** Byte address of B(0, 0). */
  b: number;
  /** Row stride of B, in floats. */
  sbr: number;
  /** Column stride of B, in floats. */
  sbc: number;
  /** Byte address of C(0, 0). */
  c: number;
  /** Row stride of C, in floats. */
  ldc: number;
  /** 0: C = A B; 1: C += A B. */
  beta: number;
}


/** For tests: the next threaded product makes worker 0 throw. */
let throwNext = false;

/** Makes the next multi-threaded product's workers throw (to test error propagation). @internal */
export function injectWorkerErrorForTest(): void {
  throwNext = true;
}

/**
 * C = A B (or C += A B) over the whole of C, split between the main thread and the ready
 * workers along the longer of M and N (blocks on microkernel tile boundaries).
 */
export function parallelGemm(g: GemmArgs): void {
  const s = load();
  if (s === null) throw new Error(`wasm backend is not available: ${loadError}`);
  const e = s.exports;
  const mainScratch = PAGE;
  const big = g.m * g.n * g.k >= PARALLEL_MIN_MACS;
  const p = big ? readyWorkers(s) : null;
  if (p === null) {
    e.gemm(g.m, g.n, g.k, g.a, g.sar, g.sac, g.b, g.sbr, g.sbc, g.c, g.ldc, g.beta, 0, g.m, 0, g.n, mainScratch);
    return;
  }
  // C is cut into about 4 chunks per thread (on tile boundaries) that the threads claim from a
  // shared counter: a thread slowed by another process's load simply takes fewer chunks. Which
  // thread computes a chunk never changes its bits.
  const threads = p.workers.length + 1;
  const byColumns = g.n >= g.m;
  const length = byColumns ? g.n : g.m;
  const unit = byColumns ? NR : MR;
  const size = Math.max(unit, Math.ceil(length / (4 * threads) / unit) * unit);
  const chunks = Math.ceil(length / size);
  const params = [g.m, g.n, g.k, g.a, g.sar, g.sac, g.b, g.sbr, g.sbc, g.c, g.ldc, g.beta, byColumns ? 1 : 0];
  const cmd = throwNext ? CMD_THROW : CMD_GEMM;
  throwNext = false;
  dispatch(p, cmd, params, chunks, size, (i) => {
    const lo = i * size;
    const hi = Math.min(lo + size, length);
    if (byColumns) e.gemm(g.m, g.n, g.k, g.a, g.sar, g.sac, g.b, g.sbr, g.sbc, g.c, g.ldc, g.beta, 0, g.m, lo, hi, mainScratch);
    else e.gemm(g.m, g.n, g.k, g.a, g.sar, g.sac, g.b, g.sbr, g.sbc, g.c, g.ldc, g.beta, lo, hi, 0, g.n, mainScratch);
  });
}

/**
 * Runs one job of `chunks` independent chunks: the workers that wake in time join it, and every
 * thread (the main one included) claims chunks from a shared counter and runs them. When the
 * main thread runs out of chunks it closes the job (a worker still asleep then skips it, so a
 * descheduled worker never delays the caller) and waits only for the workers that joined.
 */
function dispatch(p: Pool, cmd: number, params: number[], chunks: number, size: number, work: (chunk: number) => void): void {
  const ctrl = p.ctrl;
  for (let i = 0; i < params.length; i++) ctrl[PARAMS + i] = params[i]!;
  ctrl[CHUNKS] = chunks;
  ctrl[CHUNK_SIZE] = size;
  Atomics.store(ctrl, ERROR, 0);
  Atomics.store(ctrl, NEXT, 0);
  Atomics.store(ctrl, FINISHED, 0);
  Atomics.store(ctrl, CMD, cmd);
  const gen = Atomics.load(ctrl, GEN) + 1;
  Atomics.store(ctrl, JOIN, (gen & 0xffff) << 12); // open, before the workers can see the generation
  Atomics.store(ctrl, GEN, gen);
  Atomics.notify(ctrl, GEN);
  let mainError: unknown = null;
  try {
    for (;;) {
      const i = Atomics.add(ctrl, NEXT, 1);
      if (i >= chunks) break;
      work(i);
    }
  } catch (error) {
    mainError = error;
    Atomics.store(ctrl, NEXT, chunks); // the others stop claiming
  }
  if (cmd === CMD_THROW) {
    // The error test needs a worker in the job: wait (up to 10 s) until one has joined.
    const t0 = Date.now();
    while ((Atomics.load(ctrl, JOIN) & (CLOSED - 1)) === 0 && Date.now() - t0 < ACK_TIMEOUT_MS) waitWhile(ctrl, FINISHED, 0, 1);
  }
  // Close the job; wait for the workers that joined it.
  let joined = 0;
  for (;;) {
    const v = Atomics.load(ctrl, JOIN);
    if (Atomics.compareExchange(ctrl, JOIN, v, v | CLOSED) === v) {
      joined = v & (CLOSED - 1);
      break;
    }
  }
  const start = Date.now();
  for (;;) {
    const finished = Atomics.load(ctrl, FINISHED);
    if (finished >= joined) break;
    waitWhile(ctrl, FINISHED, finished, 200);
    if (Date.now() - start > ACK_TIMEOUT_MS) {
      // A worker joined but never finished: it died mid-job. The memory it may still write is reused next call.
      shutdownWasmWorkers();
      throw new Error(`wasm backend: ${joined - finished} worker(s) joined a job and did not finish within ${ACK_TIMEOUT_MS / 1000} s (dead?); the pool was stopped`);
    }
  }
  if (mainError !== null) throw mainError;
  const failed = Atomics.load(ctrl, ERROR);
  if (failed !== 0) {
    const end = p.message.indexOf(0);
    const text = new TextDecoder().decode(p.message.slice(0, end < 0 ? p.message.length : end));
    throw new Error(`wasm worker ${failed - 1}: ${text}`);
  }
}

/** The geometry of one im2col/col2im call, as the compute module takes it. */
export interface ColumnArgs {
  /** Byte address of the (first) image's first channel (of the group). */
  x: number;
  /** Channels (of the group). */
  channels: number;
  /** im2col/col2im's remaining scalars: height, width, kH, kW, sH, sW, pH, pW, dH, dW, W_out, h0, h1. */
  geometry: [number, number, number, number, number, number, number, number, number, number, number, number, number];
  /** Byte address of col. */
  col: number;
  /** Floats from one row of col to the next (`(h1 - h0) W_out` for one image; `images` times that for a batch). */
  ldcol: number;
  /** Images (default 1): image i reads/writes `x + i imageStride` and the columns from `col + i colOffset` on. */
  images?: number;
  /** Floats from one image to the next in x. */
  imageStride?: number;
  /** Floats from one image's first column of col to the next one's. */
  colOffset?: number;
}

/**
 * im2col (`toColumns`) or col2im (`!toColumns`) of one or several images, split by image and
 * channel between the main thread and the workers: each channel's plane (and its rows of col) is
 * handled by one thread, in the same order as the single-threaded loop, so the result does not
 * depend on the thread count.
 */
export function parallelColumns(toColumns: boolean, c: ColumnArgs): void {
  const s = load();
  if (s === null) throw new Error(`wasm backend is not available: ${loadError}`);
  const e = s.exports;
  const [height, width, kH, kW, , , , , , , outW, h0, h1] = c.geometry;
  const images = c.images ?? 1;
  const imageStride = c.imageStride ?? 0;
  const colOffset = c.colOffset ?? 0;
  const perChannel = kH * kW * (h1 - h0) * outW;
  const p = images * c.channels * perChannel >= PARALLEL_MIN_MACS ? readyWorkers(s) : null;
  const run = (image: number, c0: number, c1: number): void => {
    const x = c.x + (image * imageStride + c0 * height * width) * 4;
    const col = c.col + (image * colOffset + c0 * kH * kW * c.ldcol) * 4;
    if (toColumns) e.im2col(x, c1 - c0, ...c.geometry, col, c.ldcol);
    else e.col2im(col, c1 - c0, ...c.geometry, x, c.ldcol);
  };
  if (p === null) {
    for (let i = 0; i < images; i++) run(i, 0, c.channels);
    return;
  }
  // About 4 chunks per thread in all: whole images when there are enough of them, else channel ranges.
  const threads = p.workers.length + 1;
  const size = images >= 4 * threads ? c.channels : Math.max(1, Math.ceil(c.channels * images / (4 * threads)));
  const perImage = Math.ceil(c.channels / size);
  dispatch(p, toColumns ? CMD_IM2COL : CMD_COL2IM, [c.x, c.channels, ...c.geometry, c.col, c.ldcol, perImage, imageStride, colOffset], images * perImage, size, (i) => {
    const image = Math.floor(i / perImage);
    const c0 = (i - image * perImage) * size;
    run(image, c0, Math.min(c.channels, c0 + size));
  });
}
