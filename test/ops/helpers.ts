/**
 * Helpers for operator tests: run a computation on every backend present and compare each
 * with the reference backend.
 */
import type { Test } from 'tape';
import { Tensor } from '../../lib/index.js';
import { type BackendName, availableBackends, describeBackend, withBackend } from '../../lib/ops/index.js';
import { assertClose } from '../helpers.js';

/** The backends this process can run, with a TAP comment saying what each really is (which gpu.js mode). */
export function backendsUnderTest(t: Test): BackendName[] {
  const backends = availableBackends();
  for (const b of backends) t.comment(describeBackend(b));
  return backends;
}

/**
 * Runs `compute` (which returns named tensors: outputs and gradients) on the reference backend
 * and on every other backend present, and asserts that each agrees with the reference.
 */
export function assertBackendsAgree(t: Test, label: string, compute: () => Record<string, Tensor>, atol = 1e-5, rtol = 1e-4): void {
  const backends = backendsUnderTest(t);
  const want = withBackend('reference', compute);
  for (const backend of backends.filter((b) => b !== 'reference')) {
    let got: Record<string, Tensor>;
    try {
      got = withBackend(backend, compute);
    } catch (error) {
      t.fail(`${label} on ${backend}: threw ${(error as Error).message}`);
      continue;
    }
    for (const [name, w] of Object.entries(want)) {
      const g = got[name];
      if (g === undefined) {
        t.fail(`${label} on ${backend}: ${name} missing`);
        continue;
      }
      t.deepEqual(g.shape, w.shape, `${label} on ${backend}: ${name} shape`);
      assertClose(t, g, w, `${label} on ${backend}: ${name} matches reference`, atol, rtol);
    }
  }
}
