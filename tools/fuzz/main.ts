/**
 * `npm run fuzz [-- --reader coco|results|rle|png|jpeg|safetensors|checkpoint|all] [--count N]
 * [--seed S] [--json FILE] [--markdown FILE] [--examples DIR] [--workers N]`
 *
 * Fuzzes the project's readers of user files (issue 18) and prints the table: for each reader
 * its inputs (seeds, the named regression inputs, N mutated inputs), how many ended in a
 * clean error, another exception, a hang (> 5 s), over 1 GiB, silently accepted, or accepted as
 * possibly valid. Each input runs in a guarded child process. Examples of every unclean outcome
 * are written to the examples folder (default `fuzz-examples-SEED` in the system's temporary
 * folder) with a `.txt` beside each that says what it is and what happened. Exits 1 on any
 * unclean outcome. The oracle rules are in tools/fuzz/README.md and each reader's header.
 */
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { writeFileAtomic } from '../../lib/util/atomic_write.js';
import { describeFailures, markdownTable, rowFails, runFuzz, type ReaderRow } from './run.js';
import { READER_NAMES, type ReaderName } from './spec.js';

const USAGE = 'usage: npm run fuzz -- [--reader coco|results|rle|png|jpeg|safetensors|checkpoint|all] [--count N] [--seed S] [--json FILE] [--markdown FILE] [--examples DIR] [--workers N]';

function parseArgs(argv: string[]): { readers: ReaderName[]; count: number; seed: number; json?: string; markdown?: string; examples: string; workers: number } {
  const out = { readers: [...READER_NAMES] as ReaderName[], count: 5000, seed: 0, workers: 2, examples: '' } as ReturnType<typeof parseArgs>;
  const int = (flag: string, v: string | undefined, min: number): number => {
    const n = Number(v);
    if (v === undefined || !Number.isSafeInteger(n) || n < min) throw new Error(`fuzz: ${flag} needs an integer >= ${min}, got ${JSON.stringify(v)}\n${USAGE}`);
    return n;
  };
  for (let i = 0; i < argv.length; i++) {
    const [flag, inline] = argv[i]!.includes('=') ? (argv[i]!.split(/=(.*)/s, 2) as [string, string]) : [argv[i]!, undefined];
    const value = (): string | undefined => inline ?? argv[++i];
    if (flag === '--reader') {
      const v = value();
      const list = v === 'all' ? [...READER_NAMES] : (v ?? '').split(',');
      for (const r of list) if (!(READER_NAMES as readonly string[]).includes(r)) throw new Error(`fuzz: unknown reader ${JSON.stringify(r)} (one of ${READER_NAMES.join(', ')}, or all)\n${USAGE}`);
      out.readers = list as ReaderName[];
    } else if (flag === '--count') out.count = int(flag, value(), 0);
    else if (flag === '--seed') out.seed = int(flag, value(), 0);
    else if (flag === '--workers') out.workers = int(flag, value(), 1);
    else if (flag === '--json') out.json = value();
    else if (flag === '--markdown') out.markdown = value();
    else if (flag === '--examples') out.examples = value() ?? '';
    else if (flag === '--help' || flag === '-h') {
      process.stdout.write(`${USAGE}\n`);
      process.exit(0);
    } else throw new Error(`fuzz: unknown argument ${JSON.stringify(argv[i])}\n${USAGE}`);
  }
  if (out.examples === '') out.examples = join(tmpdir(), `fuzz-examples-${out.seed}`);
  return out;
}

async function main(): Promise<void> {
  let args: ReturnType<typeof parseArgs>;
  try {
    args = parseArgs(process.argv.slice(2));
  } catch (error) {
    process.stderr.write(`${(error as Error).message}\n`);
    process.exit(2);
  }
  const started = new Date().toISOString();
  const done: ReaderRow[] = [];
  const save = (final: boolean, extra: Record<string, unknown> = {}): void => {
    const json = { started, final, seed: args.seed, count: args.count, examples: args.examples, rows: done, ...extra };
    if (args.json !== undefined) writeFileAtomic(args.json, `${JSON.stringify(json, null, 2)}\n`, 'fuzz report');
    if (args.markdown !== undefined) writeFileAtomic(args.markdown, `${markdownTable(done)}\n`, 'fuzz table');
  };
  const report = await runFuzz({
    readers: args.readers,
    count: args.count,
    seed: args.seed,
    workers: args.workers,
    examplesDir: args.examples,
    log: (line) => process.stderr.write(`${line}\n`),
    onReader: (row) => {
      done.push(row);
      process.stdout.write(`\n${markdownTable([row])}\n`);
      for (const line of describeFailures(row)) process.stdout.write(`${line}\n`);
      save(false);
    },
  });
  save(true, { childrenStarted: report.childrenStarted, peakResetWorks: report.peakResetWorks });
  process.stdout.write(`\n## fuzz: seed ${report.seed}, ${report.count} mutated inputs per reader\n\n${markdownTable(report.rows)}\n\nexamples: ${args.examples}\n`);
  if (!report.peakResetWorks) process.stdout.write('note: /proc/PID/clear_refs was not writable: memory was measured by 20 ms polls only\n');
  const failing = report.rows.filter(rowFails);
  if (failing.length > 0) {
    process.stdout.write(`fuzz: unclean outcomes in ${failing.map((r) => r.reader).join(', ')}\n`);
    process.exit(1);
  }
}

await main();
