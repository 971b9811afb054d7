/**
 * The `wasm` backend's threads in a browser: Web Workers over the shared `WebAssembly.Memory`,
 * the browser's {@link WasmWorkerHost} (Node's is `worker_threads`, in `runtime.ts`).
 *
 * A page gets `SharedArrayBuffer`, hence a shared memory, only when it is cross-origin isolated
 * (served with `Cross-Origin-Opener-Policy: same-origin` and `Cross-Origin-Embedder-Policy:
 * require-corp`; `tools/web/serve.ts` does so). Then importing this module installs the host:
 * each worker is a Blob-URL script, the runtime's worker loop ({@link wasmWorkerLoopSource})
 * behind a prologue that takes the compiled module, the memory and the control words from its
 * first message, and waits for jobs in `Atomics.wait` (allowed in workers).
 *
 * The page's main thread may not `Atomics.wait`, so the runtime's protocol is what makes this
 * work without moving the engine into a worker: the main thread opens a job, takes its share of
 * the chunks like any worker, closes the job, and then only spins until the workers that joined
 * have finished the chunk each is running (a worker asleep when the job closed skips it). And a
 * page's workers start only while its event loop turns, so a page awaits
 * {@link whenWasmWorkersReady} before its first heavy computation; until they are ready the
 * backend simply runs on one thread. The results are bit-identical either way.
 *
 * Not isolated (or no `Worker`): nothing is installed and the backend runs one thread on an
 * unshared memory.
 */
import { setWasmWorkerHost, wasmThreads, wasmWorkerLoopSource, wasmWorkersReadyNow, wasmWorkersThatJoined, type WasmWorkerData, type WasmWorkerHost } from './runtime.js';

/** The slice of the Web Worker API used here (the library's `lib` setting has no DOM types). */
interface WebWorker {
  postMessage(message: unknown): void;
  terminate(): void;
  addEventListener(type: 'error' | 'messageerror', listener: (event: { preventDefault(): void }) => void): void;
}
interface BrowserGlobals {
  Worker?: new (url: string, options?: { name?: string }) => WebWorker;
  Blob?: new (parts: string[], options: { type: string }) => unknown;
  URL: { createObjectURL?(blob: unknown): string };
  crossOriginIsolated?: boolean;
  navigator?: { hardwareConcurrency?: number };
  document?: unknown;
  process?: { getBuiltinModule?: unknown };
}
const g = globalThis as unknown as BrowserGlobals;

/** A Web Worker's script: take the data from the first message, then run the runtime's loop. */
function workerScript(): string {
  return `self.onmessage = (event) => {
  self.onmessage = null;
  const { module, memory, ctrlBuffer, messageBuffer, index, scratch } = event.data;
  run(module, memory, ctrlBuffer, messageBuffer, index, scratch);
};
function run(module, memory, ctrlBuffer, messageBuffer, index, scratch) {
${wasmWorkerLoopSource()}
}
`;
}

/** Why this page runs one thread, or null when it can run Web Workers over shared memory. */
export function browserThreadsUnavailableReason(): string | null {
  if (typeof g.process?.getBuiltinModule === 'function') return 'not a browser (Node uses worker_threads)';
  if (typeof g.Worker !== 'function' || typeof g.Blob !== 'function' || typeof g.URL.createObjectURL !== 'function') return 'no Web Workers here';
  if (g.crossOriginIsolated !== true || typeof SharedArrayBuffer === 'undefined') return 'page not cross-origin isolated';
  return null;
}

let installed = false;
let scriptUrl: string | null = null;

/**
 * Installs the Web Worker host when this is a cross-origin isolated browser context (done on
 * import; calling it again does nothing). Returns whether the host is installed.
 */
export function installBrowserWasmWorkers(): boolean {
  if (installed) return true;
  if (browserThreadsUnavailableReason() !== null) return false;
  const Worker = g.Worker!;
  const host: WasmWorkerHost = {
    cores: () => g.navigator?.hardwareConcurrency ?? 1,
    // A page's main thread may not block; a dedicated worker running the engine may.
    canBlock: g.document === undefined,
    start: (data: WasmWorkerData, gone: () => void) => {
      scriptUrl ??= g.URL.createObjectURL!(new g.Blob!([workerScript()], { type: 'text/javascript' }));
      const w = new Worker(scriptUrl, { name: `maskrcnn wasm worker ${data.index}` });
      // A worker that fails (the module does not instantiate) never becomes ready: the pool is
      // not used and the backend runs on the main thread. The error is handled, not logged.
      w.addEventListener('error', (event) => {
        event.preventDefault();
        gone();
      });
      w.addEventListener('messageerror', () => gone());
      const { module, memory, ctrlBuffer, messageBuffer, index, scratch } = data;
      w.postMessage({ module, memory, ctrlBuffer, messageBuffer, index, scratch });
      return { terminate: () => w.terminate() };
    },
  };
  setWasmWorkerHost(host);
  installed = true;
  return true;
}

/**
 * Starts the workers and resolves, once they are all ready (or after `timeoutMs`), to the
 * number of threads products will be split over (1 when the page is not isolated or the workers
 * did not start). Awaiting it lets the page's event loop turn, which the workers need to start.
 */
export async function whenWasmWorkersReady(timeoutMs = 10000): Promise<number> {
  if (!installed || wasmThreads() <= 1) return 1;
  const deadline = Date.now() + timeoutMs;
  while (!wasmWorkersReadyNow()) {
    if (Date.now() > deadline) return 1;
    await new Promise((ok) => setTimeout(ok, 10));
  }
  return wasmThreads();
}

/** What ran, for a page to say: threads ready and joined, or why there is one thread. */
export interface WasmThreadReport {
  /** Threads products are split over (the main one included). */
  threads: number;
  /** Workers that have taken part in at least one product since they started. */
  workersThatJoined: number;
  /** Why one thread, or null. */
  reason: string | null;
  /** `N threads` or `1 thread (why)`. */
  text: string;
}

/** The `wasm` backend's threads here, for a page to show ("wasm, 2 threads" / "wasm, 1 thread (page not cross-origin isolated)"). */
export function wasmThreadReport(): WasmThreadReport {
  const reason = browserThreadsUnavailableReason() ?? (!installed ? 'Web Worker host not installed' : wasmThreads() <= 1 ? 'one thread asked for' : !wasmWorkersReadyNow() ? 'workers not started yet' : null);
  const threads = reason === null ? wasmThreads() : 1;
  return { threads, workersThatJoined: wasmWorkersThatJoined(), reason, text: reason === null ? `${threads} threads` : `1 thread (${reason})` };
}

installBrowserWasmWorkers();
