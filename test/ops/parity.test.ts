/**
 * The committed seed-0 torchvision fixtures (tools/oracle/gen_ops.py), replayed on every backend
 * present: the same check as `npm run parity -- test/fixtures/ops`.
 */
import test from 'tape';
import { fileURLToPath } from 'node:url';
import { runParity, formatLine } from '../../tools/parity/harness.js';
import { backendsUnderTest } from './helpers.js';

const dir = fileURLToPath(new URL('../fixtures/ops', import.meta.url));

test('torchvision parity on the committed fixtures, every backend', (t) => {
  for (const backend of backendsUnderTest(t)) {
    const lines = runParity(dir, { backend });
    t.ok(lines.length > 0, `${backend}: fixtures found`);
    for (const line of lines) {
      // Ops of later issues may have fixtures before they have an implementation.
      if (line.status === 'MISSING') continue;
      t.equal(line.status, 'PASS', `${backend}: ${formatLine(line)}`);
    }
  }
  t.end();
});
