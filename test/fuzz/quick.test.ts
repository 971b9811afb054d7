/**
 * The quick fuzz run of `npm test` (issue 18): a few hundred mutated inputs per reader with a
 * fixed seed, plus every seed and every regression input of the issue, through the same pool,
 * guards, oracle and classifier as `npm run fuzz`. Any unclean outcome (another exception, a
 * hang over 5 s, over 1 GiB, silently accepted) fails, naming the inputs.
 */
import test from 'tape';
import { UNCLEAN } from '../../tools/fuzz/classify.js';
import { describeFailures, markdownTable, runFuzz } from '../../tools/fuzz/run.js';
import { READER_NAMES } from '../../tools/fuzz/spec.js';

/** Mutated inputs per reader: the slow readers (a model built per input) get fewer. */
const COUNTS = { coco: 150, results: 300, rle: 300, png: 150, jpeg: 150, safetensors: 100, checkpoint: 40 } as const;

test('quick fuzz: every reader survives its inputs with clean errors, bounded time and memory, nothing silently accepted', async (t) => {
  const report = await runFuzz({ counts: COUNTS, seed: 1 });
  t.comment(`\n${markdownTable(report.rows)}\nseconds: ${report.rows.map((r) => `${r.reader} ${r.seconds}`).join(', ')}`);
  t.deepEqual(report.rows.map((r) => r.reader), [...READER_NAMES], 'every reader ran');
  for (const row of report.rows) {
    const unclean = UNCLEAN.map((o) => `${o} ${row.counts[o]}`).join(', ');
    const failures = describeFailures(row);
    t.equal(row.seedFailures.length, 0, `${row.reader}: every seed is accepted`);
    t.ok(row.regressions.length > 0 && row.regressions.every((r) => r.name.startsWith('regression:')), `${row.reader}: its ${row.regressions.length} regression inputs ran`);
    t.ok(UNCLEAN.every((o) => row.counts[o] === 0), `${row.reader}: ${row.inputs} inputs, no unclean outcome (${unclean})${failures.length > 0 ? `\n${failures.join('\n')}` : ''}`);
  }
  t.equal(report.rows.reduce((n, r) => n + r.inputs, 0) > 1000, true, 'more than a thousand inputs ran');
});
