/**
 * A pool of long-lived child processes that run fuzz inputs one at a time each, under a time
 * guard and a memory guard.
 *
 * - Time: an input that has not answered within `timeoutMs` is a hang; its child is killed
 *   (SIGKILL) and replaced.
 * - Memory: the child's resident set (`VmRSS` in `/proc/PID/status`) is polled every
 *   `pollMs` while it works, and its peak (`VmHWM`, reset before each input by writing `5` to
 *   `/proc/PID/clear_refs`) is read when it answers, so a spike between two polls is still
 *   seen. Over `memoryBytes` the child is killed and replaced. RSS counts typed arrays, which
 *   live outside the JS heap (`--max-old-space-size` alone would miss them).
 * - A child that dies by itself (a native crash, V8's heap limit) is a crash, with the tail of
 *   its stderr; one whose RSS stays high after an input is replaced before the next.
 *
 * The child runs `tools/fuzz/child.ts` with a handler module (see {@link ChildHandler}), so the
 * guards are tested with handlers that hang or allocate.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { ReportedError } from './classify.js';

/** What a handler module (loaded in each child) exports. */
export interface ChildHandler {
  /** Runs once per child before any job (loads the library, reads seeds). */
  setup?(init: unknown): Promise<void> | void;
  /** Runs one job; throws to report an error; returns an output problem (or null) when it returns. */
  handle(job: ChildJob): Promise<string | null> | string | null;
}

/** One input for a child. */
export interface ChildJob {
  /** The reader to run. */
  reader: string;
  /** The input file. */
  path: string;
}

/** What running one job gave. */
export type JobResult =
  | { kind: 'done'; error?: ReportedError; outputProblem: string | null; ms: number; peakBytes: number }
  | { kind: 'hang'; ms: number; peakBytes: number }
  | { kind: 'memory'; ms: number; peakBytes: number }
  | { kind: 'crash'; ms: number; peakBytes: number; detail: string };

/** Options of {@link ChildPool}. */
export interface PoolOptions {
  /** Children (default 2). */
  size?: number;
  /** Time guard per input in ms (default 5000). */
  timeoutMs?: number;
  /** Memory guard in bytes (default 1 GiB). */
  memoryBytes?: number;
  /** RSS poll interval in ms (default 20). */
  pollMs?: number;
  /** Replace a child whose RSS after an input is above this (default 600 MiB). */
  recycleBytes?: number;
  /** The handler module's path or file URL. */
  handler: string;
  /** Passed to the handler's `setup`. */
  init?: unknown;
}

const CHILD = fileURLToPath(new URL('./child.ts', import.meta.url));

/** Reads a `kB` field of `/proc/PID/status` in bytes (0 if the process is gone). */
export function procStatusBytes(pid: number, field: 'VmRSS' | 'VmHWM'): number {
  try {
    const m = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m === null ? 0 : Number(m[1]) * 1024;
  } catch {
    return 0;
  }
}

interface Worker {
  proc: ChildProcess;
  ready: Promise<void>;
  stderr: string;
  busy: boolean;
}

/** The pool (see the module comment). Call {@link ChildPool.close} when done. */
export class ChildPool {
  private readonly options: Required<Omit<PoolOptions, 'init'>> & { init: unknown };
  private readonly workers: Worker[] = [];
  private readonly waiting: Array<(w: Worker) => void> = [];
  /** Children started so far (the first `size`, then one per replacement). */
  started = 0;
  /** Whether `/proc/PID/clear_refs` could be written (peak RSS per input); otherwise only polls count. */
  peakResetWorks = true;
  private closed = false;

  /** Starts `size` children. */
  constructor(options: PoolOptions) {
    this.options = { size: 2, timeoutMs: 5000, memoryBytes: 2 ** 30, pollMs: 20, recycleBytes: 600 * 2 ** 20, init: undefined, ...options };
    for (let i = 0; i < this.options.size; i++) this.workers.push(this.spawn());
  }

  private spawn(): Worker {
    this.started++;
    const proc = fork(CHILD, [this.options.handler], {
      execArgv: ['--import', 'tsx', '--max-old-space-size=8192'],
      stdio: ['ignore', 'ignore', 'pipe', 'ipc'],
    });
    const w: Worker = { proc, stderr: '', busy: false, ready: Promise.resolve() };
    proc.stderr!.setEncoding('utf8');
    proc.stderr!.on('data', (s: string) => {
      w.stderr = (w.stderr + s).slice(-4000);
    });
    w.ready = new Promise((resolve, reject) => {
      const onMessage = (m: { type: string; message?: string }): void => {
        if (m.type === 'ready') {
          proc.off('message', onMessage);
          proc.off('exit', onExit);
          resolve();
        } else if (m.type === 'setup-failed') reject(new Error(`fuzz child: setup failed: ${m.message}`));
      };
      const onExit = (code: number | null, signal: string | null): void => reject(new Error(`fuzz child exited during setup (${signal ?? code}): ${w.stderr.slice(-1500)}`));
      proc.on('message', onMessage);
      proc.on('exit', onExit);
      proc.send({ type: 'init', init: this.options.init });
    });
    // A child killed by close() during its setup rejects `ready` with nobody waiting on it.
    w.ready.catch(() => {});
    return w;
  }

  private acquire(): Promise<Worker> {
    const free = this.workers.find((w) => !w.busy);
    if (free !== undefined) {
      free.busy = true;
      return Promise.resolve(free);
    }
    return new Promise((resolve) => this.waiting.push(resolve));
  }

  private release(w: Worker, replace: boolean): void {
    let next = w;
    if (replace && this.closed) w.proc.kill('SIGKILL');
    else if (replace) {
      w.proc.kill('SIGKILL');
      next = this.spawn();
      this.workers[this.workers.indexOf(w)] = next;
    }
    next.busy = false;
    const waiter = this.waiting.shift();
    if (waiter !== undefined) {
      next.busy = true;
      waiter(next);
    }
  }

  /** Runs one job on the next free child. */
  async run(job: ChildJob): Promise<JobResult> {
    let w = await this.acquire();
    if (w.proc.exitCode !== null || w.proc.signalCode !== null) {
      // It died while idle (after answering its last input): start a fresh one for this input.
      const fresh = this.spawn();
      fresh.busy = true;
      this.workers[this.workers.indexOf(w)] = fresh;
      w = fresh;
    }
    await w.ready;
    const { timeoutMs, memoryBytes, pollMs, recycleBytes } = this.options;
    const pid = w.proc.pid!;
    try {
      writeFileSync(`/proc/${pid}/clear_refs`, '5');
    } catch {
      this.peakResetWorks = false;
    }
    const t0 = performance.now();
    let peak = 0;
    const result = await new Promise<JobResult>((resolve) => {
      let settled = false;
      const finish = (r: JobResult): void => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        clearInterval(poll);
        w.proc.off('message', onMessage);
        w.proc.off('exit', onExit);
        resolve(r);
      };
      const ms = (): number => performance.now() - t0;
      const timer = setTimeout(() => finish({ kind: 'hang', ms: ms(), peakBytes: peak }), timeoutMs);
      const poll = setInterval(() => {
        peak = Math.max(peak, procStatusBytes(pid, 'VmRSS'));
        if (peak > memoryBytes) finish({ kind: 'memory', ms: ms(), peakBytes: peak });
      }, pollMs);
      const onMessage = (m: { type: string; error?: ReportedError; outputProblem?: string | null }): void => {
        if (m.type !== 'result') return;
        if (this.peakResetWorks) peak = Math.max(peak, procStatusBytes(pid, 'VmHWM'));
        if (peak > memoryBytes) finish({ kind: 'memory', ms: ms(), peakBytes: peak });
        else finish({ kind: 'done', ...(m.error ? { error: m.error } : {}), outputProblem: m.outputProblem ?? null, ms: ms(), peakBytes: peak });
      };
      const onExit = (code: number | null, signal: string | null): void => {
        const tail = w.stderr.slice(-1500);
        if (/heap out of memory|Allocation failed/i.test(tail)) finish({ kind: 'memory', ms: ms(), peakBytes: Math.max(peak, memoryBytes + 1) });
        else finish({ kind: 'crash', ms: ms(), peakBytes: peak, detail: `the child died (${signal ?? `exit code ${code}`}): ${tail}` });
      };
      w.proc.on('message', onMessage);
      w.proc.on('exit', onExit);
      w.proc.send({ type: 'job', job });
    });
    const replace = result.kind !== 'done' || procStatusBytes(pid, 'VmRSS') > recycleBytes;
    this.release(w, replace);
    return result;
  }

  /** Kills every child. */
  close(): void {
    this.closed = true;
    for (const w of this.workers) w.proc.kill('SIGKILL');
  }
}
