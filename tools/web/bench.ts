/**
 * The zoo model's inference time per image in headless Chromium against Node on the same
 * machine: the live detector page (`web/detector.ts`) served cross-origin isolated (wasm on N
 * threads, then one thread, then gpu.js on WebGL where Chromium has it) and served without the
 * isolation headers (wasm, one thread on an unshared memory), and the same model and image
 * (shapes seed 0, 128x128) in Node with the wasm backend on N threads and on one. Each time is
 * the median of several inference passes, each mode after a warm-up pass; the modes are timed
 * round-robin (one pass of each per round), so that a load from other processes that comes and
 * goes weighs on them alike. Prints a Markdown table.
 *
 * ```sh
 * node --import tsx tools/web/bench.ts [--runs 7] [--gpu-runs 3] [--lab DIR]
 * ```
 *
 * `--lab DIR` times the pages already built there; otherwise they are built into a temporary
 * folder (`tools/web/build.ts`). Chromium: Debian's `chromium` (or `CHROMIUM=path`).
 *
 * Priorities: Chromium sets its own (run as root, its browser process takes nice -8 and its
 * renderers nice 5, whatever nice the bench was started with), which on a loaded machine makes
 * the page look faster than Node. Before each timing the bench puts every thread of every
 * Chromium process it started at its own nice value (Linux, `/proc`), so both sides compete for
 * the cores alike.
 */
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { getPriority, setPriority, tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { noGrad } from '../../lib/tensor/index.js';
import { setWasmThreads, wasmThreads } from '../../lib/ops/wasm/index.js';
import { waitForWasmWorkers } from '../../lib/ops/wasm/runtime.js';
import { describeBackend } from '../../lib/ops/index.js';
import { generateShapes, loadWeights, shapesDetectionDataset, zooWeightsPath } from '../../lib/maskrcnn/index.js';
import { buildLab } from './build.js';
import { serveStatic } from './serve.js';

/** One row of the table. */
interface Row {
  where: string;
  mode: string;
  runs: number;
  medianMs: number;
  minMs: number;
}

function flag(name: string, fallback: string): string {
  const i = process.argv.indexOf(name);
  return i >= 0 && process.argv[i + 1] !== undefined ? process.argv[i + 1]! : fallback;
}

function median(times: number[]): number {
  const s = [...times].sort((a, b) => a - b);
  return s.length % 2 === 1 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
}

/** The processes started by this one (Chromium's), from `/proc` (empty elsewhere). */
function descendants(): number[] {
  if (!existsSync('/proc')) return [];
  const parent = new Map<number, number>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      parent.set(Number(entry), Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]));
    } catch {
      // gone meanwhile
    }
  }
  const out: number[] = [];
  const todo = [process.pid];
  while (todo.length > 0) {
    const p = todo.pop()!;
    for (const [child, pp] of parent) if (pp === p) {
      out.push(child);
      todo.push(child);
    }
  }
  return out;
}

/** Gives every thread of the Chromium processes this bench started its own nice value; returns how many threads. */
function matchPriority(): number {
  const nice = getPriority();
  let threads = 0;
  for (const pid of descendants()) {
    let tids: string[] = [];
    try {
      tids = readdirSync(`/proc/${pid}/task`);
    } catch {
      continue;
    }
    for (const tid of tids) {
      try {
        setPriority(Number(tid), nice);
        threads++;
      } catch {
        // a thread that ended meanwhile
      }
    }
  }
  return threads;
}

/** The page's API (`globalThis.detector` in `web/detector.ts`). */
type DetectorApi = {
  result: { ready: boolean; error: string | null };
  setThreads(n: number): Promise<number>;
  setBackend(name: string): void;
  time(runs: number): { times: number[]; medianMs: number; mode: string };
};

/** Opens the detector page at `url` and waits for its first run. */
async function openDetector(browser: Browser, url: string): Promise<{ page: Page; errors: string[] }> {
  const page = await browser.newPage();
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(e.message));
  await page.goto(url);
  await page.waitForFunction(() => {
    const r = (globalThis as unknown as { detector?: DetectorApi }).detector?.result;
    return r !== undefined && (r.ready || r.error !== null);
  }, undefined, { timeout: 300_000 });
  return { page, errors };
}

/** One mode to time: `setup` puts it in place (untimed), `pass` runs one timed inference pass and says what ran. */
interface Mode {
  where: 'Chromium' | 'Node';
  setup(): Promise<void>;
  pass(): Promise<{ ms: number; mode: string }>;
}

/** A mode of the detector page: backend and threads set, then `time(1)` (a warm-up pass, then the timed one). */
function pageMode(page: Page, setting: { threads?: number; backend?: string }): Mode {
  return {
    where: 'Chromium',
    setup: async () => {
      await page.evaluate(async (s) => {
        const d = (globalThis as unknown as { detector: DetectorApi }).detector;
        if (s.backend !== undefined) d.setBackend(s.backend);
        if (s.threads !== undefined) await d.setThreads(s.threads);
      }, setting);
      matchPriority();
    },
    pass: async () => {
      const t = await page.evaluate(() => (globalThis as unknown as { detector: DetectorApi }).detector.time(1));
      return { ms: t.times[0]!, mode: t.mode };
    },
  };
}

/** Times every mode round-robin, `runs` rounds (one pass of each mode per round: a load that comes and goes hits them alike). */
async function roundRobin(modes: Mode[], runs: number): Promise<Row[]> {
  const times = modes.map(() => [] as number[]);
  const names = modes.map(() => '');
  for (let round = 0; round < runs; round++) {
    for (let i = 0; i < modes.length; i++) {
      await modes[i]!.setup();
      const { ms, mode } = await modes[i]!.pass();
      times[i]!.push(ms);
      names[i] = mode;
    }
  }
  return modes.map((m, i) => ({ where: m.where, mode: names[i]!, runs, medianMs: median(times[i]!), minMs: Math.min(...times[i]!) }));
}

async function main(): Promise<void> {
  const runs = Number(flag('--runs', '7'));
  const gpuRuns = Number(flag('--gpu-runs', '3'));
  const executable = [process.env['CHROMIUM'], '/usr/bin/chromium', '/usr/bin/chromium-browser', '/usr/bin/google-chrome'].find((p) => p !== undefined && existsSync(p));
  if (executable === undefined) throw new Error('no Chromium found: apt-get install chromium, or set CHROMIUM');
  const given = process.argv.includes('--lab') ? flag('--lab', '') : null;
  const lab = given ?? mkdtempSync(join(tmpdir(), 'lab-bench-'));
  if (given === null) await buildLab(lab);
  const isolated = await serveStatic(lab, { port: 0 });
  const plain = await serveStatic(lab, { port: 0, isolated: false });
  const browser = await chromium.launch({ executablePath: executable, args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update'] });
  // Node: the same model and image.
  const { model } = loadWeights(zooWeightsPath());
  const image = shapesDetectionDataset(generateShapes({ count: 1, size: 128, seed: 0 }), { contiguousLabels: true }).get(0).image;
  const nodeAll = wasmThreads();
  const nodeMode = (n: number): Mode => ({
    where: 'Node',
    setup: async () => {
      setWasmThreads(n);
      if (n > 1) waitForWasmWorkers();
      noGrad(() => model.forward([image]));
    },
    pass: async () => {
      const t0 = performance.now();
      noGrad(() => model.forward([image]));
      return { ms: performance.now() - t0, mode: `wasm, ${n} thread${n === 1 ? '' : 's'}` };
    },
  });
  const rows: Row[] = [];
  try {
    const a = await openDetector(browser, `${isolated.url}detector.html`);
    const b = await openDetector(browser, `${plain.url}detector.html`);
    const cores = await a.page.evaluate(() => (globalThis as unknown as { navigator: { hardwareConcurrency: number } }).navigator.hardwareConcurrency);
    const threads = Math.max(2, Math.min(16, cores));
    rows.push(...(await roundRobin([
      pageMode(a.page, { threads }),
      pageMode(a.page, { threads: 1 }),
      pageMode(b.page, {}),
      ...[...new Set([nodeAll, 1])].map(nodeMode),
    ], runs)));
    // gpu.js last, on its own (seconds per pass on a software GL).
    rows.push(...(await roundRobin([pageMode(a.page, { backend: 'gpu' })], gpuRuns)));
    const errors = [...a.errors, ...b.errors];
    if (errors.length > 0) throw new Error(`page errors: ${errors.join('; ')}`);
  } finally {
    await browser.close();
    await isolated.close();
    await plain.close();
    if (given === null) rmSync(lab, { recursive: true, force: true });
  }
  const nodeOne = rows.find((r) => r.where === 'Node' && r.mode === 'wasm, 1 thread')!.medianMs;
  console.log(`\nzoo model inference, one 128x128 shapes image (seed 0), modes timed round-robin; ${describeBackend().split(';')[0]}); Node ${process.version}, nice ${getPriority()} (Chromium's threads set to it too)\n`);
  console.log('| where | what ran | passes | median ms | min ms | median / Node 1 thread |');
  console.log('|---|---|---:|---:|---:|---:|');
  for (const r of rows) console.log(`| ${r.where} | ${r.mode} | ${r.runs} | ${r.medianMs.toFixed(0)} | ${r.minMs.toFixed(0)} | ${(r.medianMs / nodeOne).toFixed(2)} |`);
}

main().catch((error: Error) => {
  console.error(error.stack ?? error.message);
  process.exitCode = 1;
});
