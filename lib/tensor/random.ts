/**
 * Seeded random numbers: the same seed gives the same numbers on every machine.
 *
 * The generator is xoshiro128** (Blackman and Vigna), seeded through SplitMix32; it uses only
 * 32-bit integer arithmetic (`Math.imul`, shifts), which JavaScript defines exactly.
 * Normal samples use the Box-Muller transform.
 */
import { Tensor } from './tensor.js';
import { allocate } from './dtype.js';
import { type Shape, checkShape, shapeSize } from './shape.js';
import type { TensorOptions } from './creation.js';

/** A seedable stream of random numbers (PyTorch's `torch.Generator`). */
export class Generator {
  private s = new Uint32Array(4);
  private spareNormal: number | null = null;

  /** A generator seeded with `seed` (an integer). */
  constructor(seed = 0) {
    this.manualSeed(seed);
  }

  /** Restarts the stream from `seed`. */
  manualSeed(seed: number): this {
    if (!Number.isFinite(seed)) throw new Error(`manualSeed: seed must be a finite number, got ${seed}`);
    // SplitMix32 spreads the seed's bits over the four words of state.
    let z = (Math.trunc(seed) >>> 0) ^ Math.trunc(seed / 4294967296);
    for (let i = 0; i < 4; i++) {
      z = (z + 0x9e3779b9) | 0;
      let t = z ^ (z >>> 16);
      t = Math.imul(t, 0x21f0aaad);
      t ^= t >>> 15;
      t = Math.imul(t, 0x735a2d97);
      t ^= t >>> 15;
      this.s[i] = t;
    }
    this.spareNormal = null;
    return this;
  }

  /** The generator's state, to save in a checkpoint and restore with {@link Generator.setState}. */
  getState(): number[] {
    return [...this.s, this.spareNormal === null ? NaN : this.spareNormal];
  }

  /** Restores a state returned by {@link Generator.getState}. */
  setState(state: readonly number[]): this {
    if (state.length !== 5) throw new Error(`Generator.setState: expected 5 numbers, got ${state.length}`);
    for (let i = 0; i < 4; i++) this.s[i] = state[i]!;
    this.spareNormal = Number.isNaN(state[4]) ? null : state[4]!;
    return this;
  }

  /** The next 32 random bits, as an unsigned integer (xoshiro128**). */
  nextUint32(): number {
    const s = this.s;
    const result = Math.imul(rotl(Math.imul(s[1]!, 5), 7), 9) >>> 0;
    const t = s[1]! << 9;
    s[2]! ^= s[0]!;
    s[3]! ^= s[1]!;
    s[1]! ^= s[2]!;
    s[0]! ^= s[3]!;
    s[2]! ^= t;
    s[3] = rotl(s[3]!, 11);
    return result;
  }

  /** A uniform number in [0, 1) with 53 random bits. */
  uniform(): number {
    const hi = this.nextUint32() >>> 5; // 27 bits
    const lo = this.nextUint32() >>> 6; // 26 bits
    return (hi * 67108864 + lo) / 9007199254740992;
  }

  /** A standard normal sample (Box-Muller: two uniforms give two independent normals). */
  normal(): number {
    if (this.spareNormal !== null) {
      const z = this.spareNormal;
      this.spareNormal = null;
      return z;
    }
    const u1 = 1 - this.uniform(); // in (0, 1], so the log is finite
    const u2 = this.uniform();
    const r = Math.sqrt(-2 * Math.log(u1));
    this.spareNormal = r * Math.sin(2 * Math.PI * u2);
    return r * Math.cos(2 * Math.PI * u2);
  }

  /** A uniform integer in [low, high). */
  integer(low: number, high: number): number {
    if (!Number.isInteger(low) || !Number.isInteger(high) || high <= low) {
      throw new Error(`randint: need integers low < high, got [${low}, ${high})`);
    }
    return low + Math.floor(this.uniform() * (high - low));
  }
}

function rotl(x: number, k: number): number {
  return (x << k) | (x >>> (32 - k));
}

/** The process-wide generator used when none is passed. */
export const defaultGenerator = new Generator(0);

/** Seeds the default generator (PyTorch's `torch.manual_seed`). */
export function manualSeed(seed: number): void {
  defaultGenerator.manualSeed(seed);
}

/** Options of the random factories. */
export interface RandomOptions extends TensorOptions {
  /** The stream to draw from (default: the process-wide one seeded by {@link manualSeed}). */
  generator?: Generator;
}

function sample(op: string, shape: Shape, options: RandomOptions, draw: (g: Generator) => number): Tensor {
  checkShape(op, shape);
  const g = options.generator ?? defaultGenerator;
  const dtype = options.dtype ?? 'float32';
  const data = allocate(dtype, shapeSize(shape));
  for (let i = 0; i < data.length; i++) data[i] = draw(g);
  const t = new Tensor(data, shape, dtype);
  if (options.requiresGrad) t.requiresGrad = true;
  return t;
}

/** Uniform samples in [0, 1). */
export function rand(shape: Shape, options: RandomOptions = {}): Tensor {
  return sample('rand', shape, options, (g) => {
    const u = g.uniform();
    // Rounding to float32 could turn a value just below 1 into 1; keep the interval half-open.
    return Math.fround(u) === 1 ? 0.99999994 : u;
  });
}

/** Standard normal samples (mean 0, variance 1). */
export function randn(shape: Shape, options: RandomOptions = {}): Tensor {
  return sample('randn', shape, options, (g) => g.normal());
}

/** Uniform integers in [low, high), `int32` unless another dtype is given. */
export function randint(low: number, high: number, shape: Shape, options: RandomOptions = {}): Tensor {
  return sample('randint', shape, { dtype: 'int32', ...options }, (g) => g.integer(low, high));
}

/** A random permutation of `0..n-1` (`int32`), by Fisher-Yates shuffling. */
export function randperm(n: number, options: RandomOptions = {}): Tensor {
  if (!Number.isInteger(n) || n < 0) throw new Error(`randperm: n must be a non-negative integer, got ${n}`);
  const g = options.generator ?? defaultGenerator;
  const p = new Int32Array(n);
  for (let i = 0; i < n; i++) p[i] = i;
  for (let i = n - 1; i > 0; i--) {
    const j = g.integer(0, i + 1);
    [p[i], p[j]] = [p[j]!, p[i]!];
  }
  return new Tensor(p, [n], 'int32');
}
