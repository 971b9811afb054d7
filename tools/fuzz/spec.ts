/**
 * What every fuzzed reader provides: seeds, a generator of mutated inputs, the fixed
 * regression inputs, the oracle, and the code the child runs on one input.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Rng } from './mutate.js';

/** The readers, by the name `--reader` takes. */
export const READER_NAMES = ['coco', 'results', 'rle', 'png', 'jpeg', 'safetensors', 'checkpoint'] as const;
/** One of {@link READER_NAMES}. */
export type ReaderName = (typeof READER_NAMES)[number];

/** One fuzz input. */
export interface FuzzCase {
  /** Unique within a run: `seed:N`, `regression:NAME` or `READER:INDEX`. */
  name: string;
  /** The file name it is written under (its extension matters to some readers). */
  fileName: string;
  /** The file's bytes. */
  bytes: Uint8Array;
  /** Which mutator(s) made it (`seed`, `regression`, `json.number`, `bytes.bitflip`, ...). */
  mutator: string;
  /** What the mutator did. */
  note: string;
  /** The oracle's verdict: why the input is certainly invalid, or `null` when it may be valid. */
  invalidBecause: string | null;
}

/** The state a reader's seeds live in: plain JSON, so it travels to the children. */
export type ReaderContext = Record<string, unknown>;

/** A fuzzed reader. */
export interface FuzzReader {
  /** `--reader` name. */
  name: ReaderName;
  /** The table's row label. */
  title: string;
  /** Builds the seeds under `dir` (and a cache under `cacheDir`) and returns the context (parent side). */
  prepare(dir: string, cacheDir: string): Promise<ReaderContext> | ReaderContext;
  /** The valid seed inputs (their oracle verdict must be null and the reader must accept them). */
  seeds(ctx: ReaderContext): FuzzCase[];
  /** Mutated input `index`, drawn with `rng`. */
  generate(ctx: ReaderContext, rng: Rng, index: number): FuzzCase;
  /** The examples as fixed, named inputs. */
  regressions(ctx: ReaderContext): FuzzCase[];
  /** Runs the reader on the input at `path` (child side): throws its error, or returns a problem with its output (else null). */
  run(path: string, ctx: ReaderContext): Promise<string | null> | string | null;
  /** What a clean error message must name (one of: the input's file name, ...), for the input written at `path`. */
  names(path: string, ctx: ReaderContext): string[];
}

/** A case whose verdict comes from `oracle` (the usual way to build one). */
export function makeCase(
  name: string,
  fileName: string,
  bytes: Uint8Array | string,
  mutator: string,
  note: string,
  oracle: (bytes: Uint8Array) => string | null,
): FuzzCase {
  const b = typeof bytes === 'string' ? new TextEncoder().encode(bytes) : bytes;
  return { name, fileName, bytes: b, mutator, note, invalidBecause: oracle(b) };
}

/** Writes `bytes` to `dir/name` and returns the path (seed files; not user files, so not atomic). */
export function writeSeed(dir: string, name: string, bytes: Uint8Array | string): string {
  const path = join(dir, name);
  writeFileSync(path, bytes);
  return path;
}
