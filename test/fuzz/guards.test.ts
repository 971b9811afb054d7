/**
 * The fuzz pool's guards: an answer, an error, a hang killed at the time guard, 2 GiB of typed
 * arrays killed at the memory guard, a child that dies; each bad child is replaced and the pool
 * keeps working.
 */
import test from 'tape';
import { fileURLToPath } from 'node:url';
import { ChildPool } from '../../tools/fuzz/pool.js';

const handler = fileURLToPath(new URL('./guard_handler.ts', import.meta.url));

test('fuzz pool: results, errors, hang, memory and crash guards', async (t) => {
  const pool = new ChildPool({ handler, size: 2, timeoutMs: 2000, memoryBytes: 2 ** 30 });
  try {
    const ok = await pool.run({ reader: 'ok', path: 'x' });
    t.deepEqual([ok.kind, 'error' in ok], ['done', false], 'a job that returns is done, without an error');
    const wrong = await pool.run({ reader: 'wrong-output', path: 'x' });
    t.equal(wrong.kind === 'done' && wrong.outputProblem, 'the output is wrong', 'an output problem comes back');
    const thrown = await pool.run({ reader: 'throw', path: 'in.json' });
    t.deepEqual(thrown.kind === 'done' && thrown.error, { name: 'Error', message: 'in.json: a clean error' }, 'a thrown Error comes back with its name and message');
    const typeError = await pool.run({ reader: 'type-error', path: 'x' });
    t.equal(typeError.kind === 'done' && typeError.error?.name, 'TypeError', 'a TypeError keeps its class name');
    const startedBefore = pool.started;
    const hang = await pool.run({ reader: 'hang', path: 'x' });
    t.equal(hang.kind, 'hang', 'a child that spins is killed at the time guard and counted as a hang');
    t.ok(hang.ms >= 1900 && hang.ms < 4000, `the hang was cut at about the 2 s guard (${Math.round(hang.ms)} ms)`);
    // Filling 1 GiB takes a while on a loaded machine: this job gets a long time guard.
    const memoryPool = new ChildPool({ handler, size: 1, timeoutMs: 60_000, memoryBytes: 2 ** 30 });
    const memory = await memoryPool.run({ reader: 'allocate-2gib', path: 'x' }).finally(() => memoryPool.close());
    t.equal(memory.kind, 'memory', 'a child that touches 2 GiB of typed arrays is counted as over 1 GiB');
    t.ok(memory.peakBytes > 2 ** 30 && memory.peakBytes < 1.6 * 2 ** 30, `it was killed soon after crossing 1 GiB (peak ${(memory.peakBytes / 2 ** 30).toFixed(2)} GiB)`);
    const died = await pool.run({ reader: 'exit', path: 'x' });
    t.equal(died.kind, 'crash', 'a child that exits by itself is a crash');
    t.equal(pool.started, startedBefore + 2, 'each killed or dead child was replaced');
    const after = await Promise.all([pool.run({ reader: 'ok', path: 'x' }), pool.run({ reader: 'ok', path: 'y' })]);
    t.deepEqual(after.map((r) => r.kind), ['done', 'done'], 'the replacements run jobs');
  } finally {
    pool.close();
  }
});

test('fuzz pool: a child that dies while idle is replaced before the next input', async (t) => {
  const pool = new ChildPool({ handler, size: 1, timeoutMs: 20_000 });
  try {
    const first = await pool.run({ reader: 'exit-later', path: 'x' });
    t.equal(first.kind, 'done', 'it answered before dying');
    await new Promise((resolve) => setTimeout(resolve, 1000));
    const next = await pool.run({ reader: 'ok', path: 'x' });
    t.equal(next.kind, 'done', 'the next input runs on a fresh child, not into a dead one');
    t.equal(pool.started, 2, 'one replacement was started');
  } finally {
    pool.close();
  }
});
