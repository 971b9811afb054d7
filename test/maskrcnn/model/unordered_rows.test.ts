import test from 'tape';
import { Tensor } from '../../../lib/tensor/index.js';
import { matchRowsUnordered } from '../../../tools/parity/model.js';

const t2 = (rows: number[][]): Tensor => new Tensor(Float32Array.from(rows.flat()), [rows.length, rows[0]!.length]);

test('parity: rows compared as a set keep their pairs aligned (train proposals / regression targets)', (t) => {
  const props = [[0, 0, 10, 10], [0, 0, 10, 12], [5, 5, 9, 9]];
  const regs = [[1, 1, 1, 1], [2, 2, 2, 2], [3, 3, 3, 3]];
  const perm = [2, 0, 1];
  const got = [t2(perm.map((p) => props[p]!)), t2(perm.map((p) => regs[p]!))];
  const m = matchRowsUnordered(got, [t2(props), t2(regs)], [1e-3, 1e-3]);
  t.ok('perm' in m && Array.from(m.perm).join() === '1,2,0', 'the permutation pairs each golden row with its computed row');
  // The same proposals with two regression targets swapped: sorting each tensor on its own would pass; the joint rows do not.
  const swapped = [t2(props), t2([regs[1]!, regs[0]!, regs[2]!])];
  const bad = matchRowsUnordered(swapped, [t2(props), t2(regs)], [1e-3, 1e-3]);
  t.ok('error' in bad, `a regression target paired with the wrong proposal fails: ${'error' in bad ? bad.error : ''}`);
  // Float32 noise below tolerance that reorders the lexicographic sort still matches (greedy fallback).
  const noisy = [t2([[0.0005, 0, 10, 12], [0, 0, 10, 10], [5, 5, 9, 9]]), t2([regs[1]!, regs[0]!, regs[2]!])];
  const ok = matchRowsUnordered(noisy, [t2([[0, 0, 10, 12], [0.0004, 0, 10, 10], [5, 5, 9, 9]]), t2([regs[1]!, regs[0]!, regs[2]!])], [1e-3, 1e-3]);
  t.ok('perm' in ok, 'rows whose sort order flips within tolerance still match');
  t.end();
});
