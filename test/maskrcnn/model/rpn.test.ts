import test from 'tape';
import { topIndices } from '../../../lib/maskrcnn/model/rpn.js';

test('RPN topIndices: the first k of a full sort (larger logit first, ties by index), without sorting everything', (t) => {
  let seed = 99;
  const rand = (): number => {
    seed = (seed * 1103515245 + 12345) % 2147483648;
    return seed / 2147483648;
  };
  const fullSort = (logits: Float32Array, offset: number, count: number, k: number): number[] =>
    Array.from({ length: count }, (_, j) => offset + j)
      .sort((a, b) => logits[b]! - logits[a]! || a - b)
      .slice(0, k);
  for (let trial = 0; trial < 20; trial++) {
    const n = 50 + Math.floor(rand() * 400);
    // Few distinct values (many ties), signed zeros, and infinities.
    const pool = [-3, -1, -0, 0, 0.5, 2, Infinity, -Infinity, 0.25];
    const logits = Float32Array.from({ length: n }, () => (trial % 2 ? pool[Math.floor(rand() * pool.length)]! : rand() * 8 - 4));
    const offset = Math.floor(rand() * 20);
    const count = n - offset - Math.floor(rand() * 10);
    for (const k of [0, 1, 5, Math.floor(count / 2), count - 1, count, count + 3]) {
      t.deepEqual(topIndices(logits, offset, count, k), fullSort(logits, offset, count, k), `trial ${trial}: k ${k} of ${count}`);
    }
  }
  const withNaN = Float32Array.from([1, NaN, 3, 2, NaN, 0]);
  t.deepEqual(topIndices(withNaN, 0, 6, 3), fullSort(withNaN, 0, 6, 3), 'NaN: the full sort, as before');
  t.end();
});
