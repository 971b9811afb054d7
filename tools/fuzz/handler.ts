/**
 * The fuzz children's handler (see `ChildPool`): keeps the readers' contexts and runs one
 * reader on one input file per job.
 */
import type { ChildJob } from './pool.js';
import { READERS } from './readers/index.js';
import type { ReaderContext, ReaderName } from './spec.js';

let contexts: Partial<Record<ReaderName, ReaderContext>> = {};

/** Receives the readers' contexts (built by the parent). */
export function setup(init: unknown): void {
  contexts = (init as { contexts: typeof contexts }).contexts;
}

/** Runs the reader of `job` on its file: throws the reader's error, or returns an output problem. */
export function handle(job: ChildJob): Promise<string | null> | string | null {
  const reader = READERS[job.reader as ReaderName];
  const ctx = contexts[job.reader as ReaderName];
  if (reader === undefined || ctx === undefined) throw new Error(`fuzz harness: no reader ${job.reader} in this child`);
  return reader.run(job.path, ctx);
}
