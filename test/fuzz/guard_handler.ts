/**
 * A fuzz-child handler for the guard tests: each job's `reader` says what to do (answer, throw,
 * hang, allocate and touch 2 GiB outside the JS heap, die).
 */
import type { ChildJob } from '../../tools/fuzz/pool.js';

/** Runs the misbehaviour `job.reader` names. */
export function handle(job: ChildJob): string | null {
  switch (job.reader) {
    case 'ok':
      return null;
    case 'wrong-output':
      return 'the output is wrong';
    case 'throw':
      throw new Error(`${job.path}: a clean error`);
    case 'type-error':
      return (null as unknown as { x: string }).x;
    case 'hang':
      for (;;) {
        // spins until the time guard kills the child
      }
    case 'allocate-2gib': {
      const chunks: Uint8Array[] = [];
      for (let i = 0; i < 16; i++) chunks.push(new Uint8Array(2 ** 27).fill(1)); // 16 x 128 MiB
      return `allocated ${chunks.length} chunks`;
    }
    case 'exit':
      process.exit(3);
    case 'exit-later':
      setTimeout(() => process.exit(0), 50);
      return null;
    default:
      throw new Error(`guard_handler: unknown job ${job.reader}`);
  }
}
