/**
 * Runs the fuzz suite: for each reader its seeds, the issue's regression inputs and `count`
 * mutated inputs, each in a guarded child (see `ChildPool`), classified by the oracle and the
 * clean-error rule; keeps example inputs of every unclean class in a folder.
 */
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { writeFileAtomic } from '../../lib/util/atomic_write.js';
import { OUTCOMES, type Outcome, UNCLEAN, classify } from './classify.js';
import { Rng, caseSeed } from './mutate.js';
import { ChildPool, type JobResult } from './pool.js';
import { READERS } from './readers/index.js';
import type { FuzzCase, ReaderContext, ReaderName } from './spec.js';

/** Options of {@link runFuzz}. */
export interface FuzzOptions {
  /** The readers to fuzz (default all). */
  readers?: readonly ReaderName[];
  /** Mutated inputs per reader (default 5000), besides the seeds and the regression inputs. */
  count?: number;
  /** Mutated inputs of particular readers (overrides `count` for them). */
  counts?: Partial<Record<ReaderName, number>>;
  /** The run's seed (default 0). */
  seed?: number;
  /** Child processes (default 2). */
  workers?: number;
  /** Time guard per input in ms (default 5000). */
  timeoutMs?: number;
  /** Memory guard in bytes (default 1 GiB). */
  memoryBytes?: number;
  /** Where example inputs of unclean outcomes are written (default: none kept). */
  examplesDir?: string;
  /** Examples kept per reader and unclean outcome (default 5). */
  examplesPerClass?: number;
  /** Where seeds are cached between runs (default `$TMPDIR/maskrcnn-ts-fuzz-cache`). */
  cacheDir?: string;
  /** Progress lines (default: none). */
  log?: (line: string) => void;
  /** Called with each reader's row when it is done (partial results). */
  onReader?: (row: ReaderRow) => void;
}

/** One input's result. */
export interface CaseResult {
  /** The case's name (`coco:17`, `regression:...`, `seed:0`). */
  name: string;
  /** Which mutator made it. */
  mutator: string;
  /** What the mutator did. */
  note: string;
  /** The oracle's verdict. */
  invalidBecause: string | null;
  /** The outcome class. */
  outcome: Outcome;
  /** The reader's message, or why the outcome is what it is. */
  why: string;
  /** Milliseconds in the child. */
  ms: number;
  /** Peak resident memory of the child in bytes (0 when not measured). */
  peakBytes: number;
  /** Where the input was kept (examples folder), if it was. */
  kept?: string;
}

/** One reader's results: a row of the table. */
export interface ReaderRow {
  /** `--reader` name. */
  reader: ReaderName;
  /** The row label. */
  title: string;
  /** Inputs run (seeds + regressions + mutated). */
  inputs: number;
  /** Inputs per outcome. */
  counts: Record<Outcome, number>;
  /** The regression inputs, each by name. */
  regressions: CaseResult[];
  /** Seeds that were not accepted (the suite or the reader is broken). */
  seedFailures: CaseResult[];
  /** A few inputs of each unclean outcome. */
  examples: Partial<Record<Outcome, CaseResult[]>>;
  /** Unclean inputs by outcome and reason (numbers and paths blanked), most frequent first: where to look. */
  reasons: Array<{ outcome: Outcome; reason: string; count: number }>;
  /** Wall-clock seconds. */
  seconds: number;
}

/** The whole run. */
export interface FuzzReport {
  /** The options that matter to reproduce it. */
  seed: number;
  /** Mutated inputs per reader. */
  count: number;
  /** The rows. */
  rows: ReaderRow[];
  /** Child processes started (replacements after hangs and memory kills included). */
  childrenStarted: number;
  /** Whether the per-input peak memory reset worked (otherwise only 20 ms polls measured memory). */
  peakResetWorks: boolean;
}

/** Whether a row has any unclean outcome or a rejected seed. */
export function rowFails(row: ReaderRow): boolean {
  return row.seedFailures.length > 0 || UNCLEAN.some((o) => row.counts[o] > 0);
}

function outcomeOf(c: FuzzCase, r: JobResult, names: string[]): { outcome: Outcome; why: string } {
  if (r.kind === 'hang') return { outcome: 'hang', why: `no answer within the time guard (${Math.round(r.ms)} ms)` };
  if (r.kind === 'memory') return { outcome: 'memory', why: `resident memory reached ${(r.peakBytes / 2 ** 30).toFixed(2)} GiB` };
  if (r.kind === 'crash') return { outcome: 'other-exception', why: r.detail };
  return classify(r, c.invalidBecause, names);
}

/** A reason with the numbers, paths and quoted values blanked, so that inputs failing the same way group together. */
export function reasonKey(why: string): string {
  return why
    .replace(/\/[^\s:'"]+/g, 'PATH')
    .replace(/"[^"]*"|'[^']*'/g, 'Q')
    .replace(/-?\d+(\.\d+)?(e[+-]?\d+)?/gi, 'N')
    .slice(0, 160);
}

const HANDLER = fileURLToPath(new URL('./handler.ts', import.meta.url));

/** Runs the suite (see the module comment). */
export async function runFuzz(options: FuzzOptions = {}): Promise<FuzzReport> {
  const readers = options.readers ?? (Object.keys(READERS) as ReaderName[]);
  const count = options.count ?? 5000;
  const seed = options.seed ?? 0;
  const log = options.log ?? (() => {});
  const perClass = options.examplesPerClass ?? 5;
  const cacheDir = options.cacheDir ?? join(tmpdir(), 'maskrcnn-ts-fuzz-cache');
  const work = mkdtempSync(join(existsSync('/dev/shm') ? '/dev/shm' : tmpdir(), 'maskrcnn-fuzz-'));
  const contexts: Partial<Record<ReaderName, ReaderContext>> = {};
  for (const name of readers) {
    const dir = join(work, name, 'seeds');
    mkdirSync(dir, { recursive: true });
    contexts[name] = await READERS[name].prepare(dir, join(cacheDir, name));
  }
  const pool = new ChildPool({ handler: HANDLER, init: { contexts }, size: options.workers ?? 2, timeoutMs: options.timeoutMs ?? 5000, memoryBytes: options.memoryBytes ?? 2 ** 30 });
  const rows: ReaderRow[] = [];
  // Interrupted (Ctrl-C, kill): no child and no temporary input is left behind.
  const interrupted = (signal: NodeJS.Signals): void => {
    pool.close();
    rmSync(work, { recursive: true, force: true });
    process.exit(signal === 'SIGINT' ? 130 : 143);
  };
  process.once('SIGINT', interrupted);
  process.once('SIGTERM', interrupted);
  try {
    for (const name of readers) {
      const reader = READERS[name];
      const ctx = contexts[name]!;
      const t0 = performance.now();
      const fixed = [...reader.seeds(ctx), ...reader.regressions(ctx)];
      const total = fixed.length + (options.counts?.[name] ?? count);
      const row: ReaderRow = { reader: name, title: reader.title, inputs: 0, counts: Object.fromEntries(OUTCOMES.map((o) => [o, 0])) as Record<Outcome, number>, regressions: [], seedFailures: [], examples: {}, reasons: [], seconds: 0 };
      const reasons = new Map<string, number>();
      const inputs = join(work, name, 'inputs');
      mkdirSync(inputs, { recursive: true });
      const caseAt = (i: number): FuzzCase => (i < fixed.length ? fixed[i]! : reader.generate(ctx, new Rng(caseSeed(seed, name, i - fixed.length)), i - fixed.length));
      let next = 0;
      const runOne = async (c: FuzzCase): Promise<void> => {
        const path = join(inputs, c.fileName);
        writeFileSync(path, c.bytes);
        const r = await pool.run({ reader: name, path });
        const { outcome, why } = outcomeOf(c, r, reader.names(path, ctx));
        const result: CaseResult = { name: c.name, mutator: c.mutator, note: c.note, invalidBecause: c.invalidBecause, outcome, why, ms: Math.round(r.ms), peakBytes: r.peakBytes };
        row.inputs++;
        row.counts[outcome]++;
        const keep = UNCLEAN.includes(outcome) && (row.examples[outcome]?.length ?? 0) < perClass;
        if ((keep || c.name.startsWith('regression:') || (c.name.startsWith('seed:') && outcome !== 'accepted-valid')) && options.examplesDir !== undefined) {
          const dir = join(options.examplesDir, name, c.name.startsWith('regression:') ? 'regressions' : outcome);
          mkdirSync(dir, { recursive: true });
          result.kept = join(dir, c.fileName);
          writeFileAtomic(result.kept, c.bytes, 'fuzz example');
          writeFileAtomic(`${result.kept}.txt`, `${JSON.stringify({ reader: name, ...result }, null, 2)}\n`, 'fuzz example');
        }
        if (keep) (row.examples[outcome] ??= []).push(result);
        if (UNCLEAN.includes(outcome)) {
          const key = `${outcome}\u0000${reasonKey(why)}`;
          reasons.set(key, (reasons.get(key) ?? 0) + 1);
        }
        if (c.name.startsWith('regression:')) row.regressions.push(result);
        if (c.name.startsWith('seed:') && outcome !== 'accepted-valid') row.seedFailures.push(result);
        rmSync(path, { force: true });
        if (row.inputs % 500 === 0) log(`${name}: ${row.inputs}/${total} ${OUTCOMES.map((o) => `${o} ${row.counts[o]}`).join(', ')}`);
      };
      const lane = async (): Promise<void> => {
        while (next < total) await runOne(caseAt(next++));
      };
      await Promise.all(Array.from({ length: options.workers ?? 2 }, lane));
      row.seconds = Math.round((performance.now() - t0) / 100) / 10;
      row.reasons = [...reasons]
        .map(([key, n]) => ({ outcome: key.split('\u0000')[0] as Outcome, reason: key.split('\u0000')[1]!, count: n }))
        .sort((a, b) => b.count - a.count)
        .slice(0, 25);
      rows.push(row);
      log(`${name}: done, ${row.inputs} inputs in ${row.seconds} s`);
      options.onReader?.(row);
    }
  } finally {
    process.off('SIGINT', interrupted);
    process.off('SIGTERM', interrupted);
    pool.close();
    rmSync(work, { recursive: true, force: true });
  }
  return { seed, count, rows, childrenStarted: pool.started, peakResetWorks: pool.peakResetWorks };
}

/** The issue's table as Markdown (plus the accepted-valid count). */
export function markdownTable(rows: readonly ReaderRow[]): string {
  const n = (x: number): string => x.toLocaleString('en-US');
  const lines = [
    '| reader | inputs | clean errors | other exceptions | hangs (> 5 s) | > 1 GiB | silently accepted | accepted (may be valid) |',
    '|---|---|---|---|---|---|---|---|',
  ];
  for (const r of rows) {
    const c = r.counts;
    lines.push(`| ${r.title} | ${n(r.inputs)} | ${n(c['clean-error'])} | ${n(c['other-exception'])} | ${n(c.hang)} | ${n(c.memory)} | ${n(c['silently-accepted'])} | ${n(c['accepted-valid'])} |`);
  }
  return lines.join('\n');
}

/** The unclean regression inputs and examples of a row, as lines for a developer. */
export function describeFailures(row: ReaderRow): string[] {
  const lines: string[] = [];
  for (const s of row.seedFailures) lines.push(`  SEED REJECTED ${s.name}: ${s.outcome}: ${s.why}`);
  for (const r of row.regressions) if (UNCLEAN.includes(r.outcome)) lines.push(`  ${r.name} (${r.note}): ${r.outcome}: ${r.why.slice(0, 300)}${r.kept ? ` [${r.kept}]` : ''}`);
  for (const o of UNCLEAN) {
    for (const e of row.examples[o] ?? []) if (!e.name.startsWith('regression:')) lines.push(`  ${e.name} ${e.mutator} (${e.note.slice(0, 160)}): ${o}: ${e.why.slice(0, 300)}${e.kept ? ` [${e.kept}]` : ''}`);
  }
  if (row.reasons.length > 0) lines.push('  most frequent reasons:');
  for (const r of row.reasons.slice(0, 12)) lines.push(`    ${r.count} x ${r.outcome}: ${r.reason}`);
  return lines;
}
