/**
 * Shared assertions for the tape tests: closeness of numbers and tensors, gradchecks, and
 * error messages.
 */
import type { Test } from 'tape';
import { Tensor, gradcheck, type GradcheckOptions, type Nested } from '../lib/index.js';

/** Asserts `|actual - expected| <= atol + rtol |expected|` elementwise (NaN matches NaN), with the shape checked too. */
export function assertClose(
  t: Test,
  actual: Tensor | number[] | number,
  expected: Nested | Tensor | ArrayLike<number>,
  message: string,
  atol = 1e-5,
  rtol = 1e-5,
): void {
  const got = actual instanceof Tensor ? Array.from(actual.data) : typeof actual === 'number' ? [actual] : actual;
  const want = expected instanceof Tensor ? Array.from(expected.data) : typeof expected === 'number' ? [expected] : flat(expected);
  if (actual instanceof Tensor && !(expected instanceof Tensor) && typeof expected !== 'number' && Array.isArray(expected)) {
    const shape = shapeOf(expected as Nested);
    if (shape.join() !== actual.shape.join()) {
      t.fail(`${message}: shape [${actual.shape}] != expected [${shape}]`);
      return;
    }
  }
  if (got.length !== want.length) {
    t.fail(`${message}: ${got.length} elements, expected ${want.length}`);
    return;
  }
  for (let i = 0; i < got.length; i++) {
    const a = got[i]!;
    const b = want[i]!;
    const ok = (Number.isNaN(a) && Number.isNaN(b)) || a === b || Math.abs(a - b) <= atol + rtol * Math.abs(b);
    if (!ok) {
      t.fail(`${message}: element ${i} is ${a}, expected ${b}`);
      return;
    }
  }
  t.pass(message);
}

function flat(x: Nested | ArrayLike<number>): number[] {
  if (typeof x === 'number') return [x];
  if (Array.isArray(x)) return (x as Nested[]).flatMap((v) => flat(v));
  return Array.from(x as ArrayLike<number>);
}

function shapeOf(x: Nested): number[] {
  const shape: number[] = [];
  let level: Nested = x;
  while (Array.isArray(level)) {
    shape.push(level.length);
    if (level.length === 0) break;
    level = level[0]!;
  }
  return shape;
}

/** Asserts that `fn`'s gradients with respect to `inputs` pass {@link gradcheck}. */
export function assertGradcheck(t: Test, fn: (...inputs: Tensor[]) => Tensor, inputs: Tensor[], message: string, options?: GradcheckOptions): void {
  let result;
  try {
    result = gradcheck(fn, inputs, options);
  } catch (error) {
    t.fail(`${message}: gradcheck threw ${(error as Error).stack}`);
    return;
  }
  t.ok(result.ok, `${message}: ${result.message}`);
}

/** Asserts that `fn` throws an error whose message contains every fragment. */
export function assertThrowsMessage(t: Test, fn: () => unknown, fragments: string | string[], message: string): void {
  const parts = typeof fragments === 'string' ? [fragments] : fragments;
  try {
    fn();
  } catch (error) {
    const text = (error as Error).message;
    const missing = parts.filter((p) => !text.includes(p));
    t.ok(missing.length === 0, `${message} (got: ${text})`);
    return;
  }
  t.fail(`${message}: did not throw`);
}

/** Exact (===) equality of two number arrays; reports the first difference. */
export function assertSameNumbers(t: Test, actual: ArrayLike<number>, expected: ArrayLike<number>, message: string): void {
  if (actual.length !== expected.length) {
    t.fail(`${message}: length ${actual.length}, expected ${expected.length}`);
    return;
  }
  for (let i = 0; i < expected.length; i++) {
    if (actual[i] !== expected[i]) {
      t.fail(`${message}: element ${i} is ${actual[i]}, expected ${expected[i]}`);
      return;
    }
  }
  t.pass(message);
}
