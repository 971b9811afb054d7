/**
 * The backend registry: every heavy operator of `lib/ops` is a set of named kernels (its
 * forward, and the pieces of its backward), and every kernel has one implementation per
 * backend, registered by name (TF.js's way: "conv2d on the gpu backend" is
 * `conv2dForward.register('gpu', ...)` in `lib/ops/gpu/conv.ts`).
 *
 * - `reference`: plain TypeScript loops, always available, the oracle for the others.
 * - `gpu`: hand-written gpu.js kernels (headless-gl, WebGL2, WebAssembly or JS, as gpu.js finds).
 * - `wasm`: the fast CPU backend (WebAssembly SIMD GEMM for the matrix product and convolutions,
 *   RoIAlign's average on channels-last features; the other kernels fall back to the reference).
 *
 * One rule for the kernels a backend has not written (yet): a backend without its own
 * implementation of a kernel runs the reference one. It does not happen silently:
 * {@link kernelTable} lists that backend for the kernel with the note {@link REFERENCE_FALLBACK},
 * so the table always says what really runs. (A kernel with no reference implementation, such
 * as `matmul.transposed`, an optional fast path, has no fallback.)
 */

/** The backends a kernel can be implemented for. */
export type BackendName = 'reference' | 'gpu' | 'wasm';

/** What a backend module tells the registry about itself. */
export interface BackendProvider {
  /** Whether this backend can run in this process (e.g. gpu.js loaded). */
  available(): boolean;
  /** One line on what runs, e.g. `gpu.js 2.24.1, mode webasm`. */
  describe(): string;
}

const providers = new Map<BackendName, BackendProvider>([
  ['reference', { available: () => true, describe: () => 'plain TypeScript loops' }],
]);

/** The note {@link kernelTable} gives a backend that runs a kernel's reference implementation for want of its own. */
export const REFERENCE_FALLBACK = 'reference loops: no kernel of its own for this backend';

/** Every kernel slot ever created, for {@link kernelTable}. */
const slots: Kernel<never>[] = [];

/**
 * The backend a process starts on: `MASKRCNN_BACKEND` when set, else the fastest present, which
 * on a CPU is `wasm` (the SIMD GEMM; 10-100x the reference loops, and gpu.js without a GPU is
 * slower still) when its module loaded, else `reference`. Decided on first use, not at import,
 * so that the backends' modules have registered themselves by then.
 */
function initialBackend(): BackendName {
  const env = typeof process !== 'undefined' ? process.env['MASKRCNN_BACKEND'] : undefined;
  if (env === undefined || env === '') return providers.get('wasm')?.available() ? 'wasm' : 'reference';
  if (env !== 'reference' && env !== 'gpu' && env !== 'wasm') {
    throw new Error(`MASKRCNN_BACKEND must be reference, gpu or wasm, got '${env}'`);
  }
  return env;
}

let chosen: BackendName | null = null;

/** The active backend, chosen by {@link initialBackend} on first use. */
function active(): BackendName {
  chosen ??= initialBackend();
  return chosen;
}

/** Makes a backend known to the registry (called by the backend's own module). */
export function registerBackend(name: BackendName, provider: BackendProvider): void {
  providers.set(name, provider);
}

/** The backends that can run here, `reference` first. */
export function availableBackends(): BackendName[] {
  return [...providers.entries()].filter(([, p]) => p.available()).map(([name]) => name);
}

/** One line describing what backend `name` runs (which gpu.js mode, for instance). */
export function describeBackend(name: BackendName = active()): string {
  const provider = providers.get(name);
  return provider === undefined ? `${name}: not loaded` : `${name}: ${provider.describe()}`;
}

function checkAvailable(name: BackendName): void {
  const provider = providers.get(name);
  if (provider === undefined || !provider.available()) {
    throw new Error(`setBackend: backend '${name}' is not available here (available: ${availableBackends().join(', ')})`);
  }
}

/** Selects the backend for every op that follows, process-wide. */
export function setBackend(name: BackendName): void {
  checkAvailable(name);
  chosen = name;
}

/** The backend ops currently run on. */
export function getBackend(): BackendName {
  return active();
}

/** Runs `fn` with backend `name` active, then restores the previous one (for tests and benchmarks). */
export function withBackend<T>(name: BackendName, fn: () => T): T {
  checkAvailable(name);
  const previous = active();
  chosen = name;
  try {
    return fn();
  } finally {
    chosen = previous;
  }
}

/**
 * One named kernel (e.g. `conv2d.forward`) with an implementation per backend. Kernels work on
 * plain typed arrays and sizes, below autograd.
 *
 * @typeParam F - the kernel's signature.
 */
export class Kernel<F extends (...args: never[]) => unknown> {
  private readonly impls = new Map<BackendName, F>();
  private readonly notes = new Map<BackendName, string>();

  /** Creates the slot; `name` is `op.part`, e.g. `conv2d.backwardWeight`. */
  constructor(
    /** The kernel's name, `op.part`. */
    readonly name: string,
  ) {
    slots.push(this as unknown as Kernel<never>);
  }

  /**
   * Registers the implementation of this kernel for `backend`. `note` says when it is not the
   * backend's own code (e.g. `'reference loops: a scatter'`), so that the table never hides a
   * fallback.
   */
  register(backend: BackendName, fn: F, note?: string): this {
    this.impls.set(backend, fn);
    if (note !== undefined) this.notes.set(backend, note);
    return this;
  }

  /** The note registered with `backend`'s implementation, if any. */
  note(backend: BackendName): string | undefined {
    return this.notes.get(backend);
  }

  /** The backends that implement this kernel with code of their own (not by falling back to the reference). */
  backends(): BackendName[] {
    return [...this.impls.keys()];
  }

  /**
   * The implementation for `backend` (default: the active one): its own, else the reference
   * implementation (the fallback rule), or a clear error if there is neither.
   */
  for(backend: BackendName = active()): F {
    const fn = this.impls.get(backend) ?? this.impls.get('reference');
    if (fn === undefined) {
      throw new Error(`${this.name}: no kernel for backend '${backend}' (implemented for: ${this.backends().join(', ') || 'none'})`);
    }
    return fn;
  }
}

/** One row of {@link kernelTable}. */
export interface KernelTableRow {
  /** The kernel's name (`conv2d.forward`). */
  kernel: string;
  /** The backends implementing it. */
  backends: KernelImplementation[];
}

/** One backend's implementation of a kernel, as listed by {@link kernelTable}. */
export interface KernelImplementation {
  /** The backend. */
  backend: BackendName;
  /** Set when the implementation is another backend's code (e.g. reference loops for a scatter). */
  note?: string;
}

/**
 * Which backends implement which kernel: the registry as a table, for docs and `--help`. Every
 * known backend is listed for every kernel that has a reference implementation; one that runs
 * the reference for want of its own carries the note {@link REFERENCE_FALLBACK}.
 */
export function kernelTable(): KernelTableRow[] {
  return slots.map((s) => {
    const own = s.backends();
    const rows: KernelImplementation[] = own.map((backend) => {
      const note = s.note(backend);
      return note === undefined ? { backend } : { backend, note };
    });
    if (own.includes('reference')) {
      for (const backend of providers.keys()) if (!own.includes(backend)) rows.push({ backend, note: REFERENCE_FALLBACK });
    }
    return { kernel: s.name, backends: rows };
  });
}
