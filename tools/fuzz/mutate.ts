/**
 * The fuzzer's generic mutators: byte-level (bit flips, truncation, byte insertion/deletion,
 * chunk copies) and JSON-level (special numbers, wrong types, dropped/duplicated keys, swapped
 * values, dropped/duplicated elements, deep nesting). Every mutator is a pure function of its
 * input and a seeded {@link Rng}, so a (seed, index) pair always rebuilds the same input.
 *
 * Whether a mutated input is certainly invalid is not decided here: each reader's oracle
 * (`tools/fuzz/readers/*.ts`) judges the finished bytes, so a bit flip that happens to leave a
 * valid file is never counted as silently accepted.
 */
import { Generator } from '../../lib/tensor/index.js';

/** A seeded source of random choices (the project's xoshiro128** generator underneath). */
export class Rng {
  private readonly g: Generator;

  /** A generator for `seed` (any safe integer; mixed into 32 bits). */
  constructor(seed: number) {
    this.g = new Generator((seed >>> 0) ^ Math.floor(seed / 2 ** 32));
  }

  /** An integer in `[0, n)`. */
  int(n: number): number {
    if (!(n >= 1)) throw new Error(`Rng.int: n must be >= 1, got ${n}`);
    return Math.floor(this.g.uniform() * n);
  }

  /** A uniformly chosen element of `items` (non-empty). */
  pick<T>(items: readonly T[]): T {
    if (items.length === 0) throw new Error('Rng.pick: nothing to pick from');
    return items[this.int(items.length)]!;
  }

  /** True with probability `p`. */
  chance(p: number): boolean {
    return this.g.uniform() < p;
  }
}

/** The seed of input `index` of a reader's run: independent streams per reader and index. */
export function caseSeed(seed: number, reader: string, index: number): number {
  let h = 2166136261 ^ seed;
  for (const ch of `${reader}:${index}`) h = Math.imul(h ^ ch.charCodeAt(0), 16777619);
  return (h >>> 0) + (seed >>> 0) * 2 ** 21;
}

// ---------------------------------------------------------------------------------------------
// Bytes

/** A byte mutator: returns new bytes (never modifies its input) and a short description. */
export type ByteMutator = (bytes: Uint8Array, rng: Rng, region?: [number, number]) => { bytes: Uint8Array; note: string };

/** A position in `[lo, hi)` of `region` (default the whole buffer), clipped to the buffer. */
function position(bytes: Uint8Array, rng: Rng, region?: [number, number], end = false): number {
  const lo = Math.max(0, Math.min(region?.[0] ?? 0, bytes.length));
  const hi = Math.max(lo, Math.min(region?.[1] ?? bytes.length, bytes.length));
  return lo + rng.int(hi - lo + (end ? 1 : 0) || 1);
}

/** The byte mutators by name. `region` biases where they act (e.g. a file's header). */
export const BYTE_MUTATORS: Readonly<Record<string, ByteMutator>> = {
  bitflip(bytes, rng, region) {
    const out = bytes.slice();
    const flips = 1 + rng.int(4);
    const at: number[] = [];
    for (let i = 0; i < flips && out.length > 0; i++) {
      const p = position(out, rng, region);
      const bit = rng.int(8);
      out[p]! ^= 1 << bit;
      at.push(p * 8 + bit);
    }
    return { bytes: out, note: `flipped bit(s) ${at.join(', ')}` };
  },
  truncate(bytes, rng, region) {
    const p = rng.chance(0.5) ? position(bytes, rng, region) : rng.int(bytes.length || 1);
    return { bytes: bytes.slice(0, p), note: `truncated to ${p} of ${bytes.length} bytes` };
  },
  insertByte(bytes, rng, region) {
    const p = position(bytes, rng, region, true);
    const b = rng.pick([0, 0xff, 0x22, 0x7b, 0x5b, 0x2c, 0x3a, 0x5c, 0x30, 0x2d, 0x80, rng.int(256)]);
    const out = new Uint8Array(bytes.length + 1);
    out.set(bytes.subarray(0, p), 0);
    out[p] = b;
    out.set(bytes.subarray(p), p + 1);
    return { bytes: out, note: `inserted byte 0x${b.toString(16)} at ${p}` };
  },
  deleteBytes(bytes, rng, region) {
    const p = position(bytes, rng, region);
    const n = Math.min(1 + (rng.chance(0.7) ? 0 : rng.int(16)), bytes.length - p);
    const out = new Uint8Array(bytes.length - n);
    out.set(bytes.subarray(0, p), 0);
    out.set(bytes.subarray(p + n), p);
    return { bytes: out, note: `deleted ${n} byte(s) at ${p}` };
  },
  setByte(bytes, rng, region) {
    const out = bytes.slice();
    const p = position(out, rng, region);
    const b = rng.pick([0, 0xff, 0x7f, 0x80, 0x22, 0x5d, 0x7d, rng.int(256)]);
    if (out.length > 0) out[p] = b;
    return { bytes: out, note: `set byte ${p} to 0x${b.toString(16)}` };
  },
  copyChunk(bytes, rng, region) {
    const from = position(bytes, rng);
    const n = Math.min(1 + rng.int(64), bytes.length - from);
    const to = position(bytes, rng, region, true);
    const out = new Uint8Array(bytes.length + n);
    out.set(bytes.subarray(0, to), 0);
    out.set(bytes.subarray(from, from + n), to);
    out.set(bytes.subarray(to), to + n);
    return { bytes: out, note: `copied ${n} byte(s) from ${from} to ${to}` };
  },
};

/** Applies a random byte mutator (biased to `region` with probability `bias`). */
export function mutateBytes(bytes: Uint8Array, rng: Rng, region?: [number, number], bias = 0.7): { bytes: Uint8Array; mutator: string; note: string } {
  const name = rng.pick(Object.keys(BYTE_MUTATORS));
  const { bytes: out, note } = BYTE_MUTATORS[name]!(bytes, rng, region !== undefined && rng.chance(bias) ? region : undefined);
  return { bytes: out, mutator: `bytes.${name}`, note };
}

// ---------------------------------------------------------------------------------------------
// JSON

/** Text spliced verbatim into serialized JSON: special numbers, deep nesting, duplicate keys. */
export class RawJson {
  /** @param text - what to write in place of the value. */
  constructor(readonly text: string) {}
}

/** A JSON value, possibly holding {@link RawJson} pieces. */
export type JsonLike = null | boolean | number | string | RawJson | JsonLike[] | { [key: string]: JsonLike };

/**
 * Serializes a value like `JSON.stringify`, but writes {@link RawJson} verbatim and non-finite
 * numbers as `1e999` / `-1e999` (which `JSON.parse` reads as Infinity) or `NaN` (not JSON).
 */
export function toJsonText(value: JsonLike): string {
  if (value instanceof RawJson) return value.text;
  if (typeof value === 'number') {
    if (Number.isNaN(value)) return 'NaN';
    if (!Number.isFinite(value)) return value > 0 ? '1e999' : '-1e999';
    return JSON.stringify(value);
  }
  if (value === null || typeof value !== 'object') return JSON.stringify(value);
  if (Array.isArray(value)) return `[${value.map(toJsonText).join(',')}]`;
  return `{${Object.entries(value)
    .map(([k, v]) => (v instanceof RawJson && v.text.startsWith(DUP_MARK) ? v.text.slice(DUP_MARK.length) : `${JSON.stringify(k)}:${toJsonText(v)}`))
    .join(',')}}`;
}

const DUP_MARK = '\u0000dup:';

/** A deep copy of a JSON tree that keeps {@link RawJson} pieces as they are. */
export function cloneJson<T extends JsonLike>(value: T): T {
  if (value === null || typeof value !== 'object' || value instanceof RawJson) return value;
  if (Array.isArray(value)) return value.map((v) => cloneJson(v)) as T;
  return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, cloneJson(v)])) as T;
}

/** One place in a JSON tree: the path of keys/indices from the root. */
export type JsonPath = Array<string | number>;

/** Every node of `root` with its path (iteratively; the seeds are shallow but this never recurses). */
export function jsonNodes(root: JsonLike): Array<{ path: JsonPath; value: JsonLike }> {
  const out: Array<{ path: JsonPath; value: JsonLike }> = [];
  const stack: Array<{ path: JsonPath; value: JsonLike }> = [{ path: [], value: root }];
  while (stack.length > 0) {
    const node = stack.pop()!;
    out.push(node);
    const v = node.value;
    if (Array.isArray(v)) v.forEach((c, i) => stack.push({ path: [...node.path, i], value: c }));
    else if (v !== null && typeof v === 'object' && !(v instanceof RawJson)) {
      for (const [k, c] of Object.entries(v)) stack.push({ path: [...node.path, k], value: c });
    }
  }
  return out;
}

/** Replaces the node at `path` (the root when empty) and returns the new root. */
export function setAt(root: JsonLike, path: JsonPath, value: JsonLike): JsonLike {
  if (path.length === 0) return value;
  let parent = root as Record<string | number, JsonLike>;
  for (const key of path.slice(0, -1)) parent = parent[key] as Record<string | number, JsonLike>;
  parent[path[path.length - 1]!] = value;
  return root;
}

/** Numbers that break readers: huge, negative, non-integer, non-finite, beyond 2^53. */
export const SPECIAL_NUMBERS: readonly JsonLike[] = [
  Infinity, -Infinity, NaN, 1e308, -1e308, -1, -5, 0, -0.5, 0.5, 1.5, 1e-300, 2 ** 31, 2 ** 32, 65536, 100000, 40000, 1e9,
  new RawJson('9007199254740993'), 2 ** 53, -(2 ** 31),
];

/** Values of the wrong type for whatever they replace. */
export const WRONG_TYPES: readonly JsonLike[] = ['a string', '', '12', null, true, false, {}, [], [[]], { a: 1 }, [null], ['1', '2']];

/** Text `depth` levels deep: arrays (`[[[...]]]`) or objects (`{"a":{"a":...}}`). */
export function deepJson(depth: number, kind: 'array' | 'object'): string {
  return kind === 'array' ? '['.repeat(depth) + ']'.repeat(depth) : '{"a":'.repeat(depth) + '0' + '}'.repeat(depth);
}

/** A JSON mutator: edits a (cloned) tree in place or returns a new root; `note` says what it did. */
export type JsonMutator = (root: JsonLike, rng: Rng) => { root: JsonLike; note: string } | null;

function randomNode(root: JsonLike, rng: Rng, filter: (v: JsonLike, path: JsonPath) => boolean): { path: JsonPath; value: JsonLike } | null {
  const nodes = jsonNodes(root).filter((n) => filter(n.value, n.path));
  return nodes.length === 0 ? null : rng.pick(nodes);
}

const isContainer = (v: JsonLike): boolean => v !== null && typeof v === 'object' && !(v instanceof RawJson);
const show = (path: JsonPath): string => (path.length === 0 ? '$' : '$' + path.map((k) => (typeof k === 'number' ? `[${k}]` : `.${k}`)).join(''));

/** The JSON mutators by name (each returns null when the tree has no node it can act on). */
export const JSON_MUTATORS: Readonly<Record<string, JsonMutator>> = {
  number(root, rng) {
    const n = randomNode(root, rng, (v) => typeof v === 'number');
    if (n === null) return null;
    const v = rng.pick(SPECIAL_NUMBERS);
    return { root: setAt(root, n.path, v), note: `${show(n.path)} = ${toJsonText(v)}` };
  },
  type(root, rng) {
    const n = randomNode(root, rng, (_v, p) => p.length > 0);
    if (n === null) return null;
    const v = rng.pick(WRONG_TYPES);
    return { root: setAt(root, n.path, cloneJson(v)), note: `${show(n.path)} = ${toJsonText(v)}` };
  },
  dropKey(root, rng) {
    const n = randomNode(root, rng, (v) => isContainer(v) && !Array.isArray(v) && Object.keys(v as object).length > 0);
    if (n === null) return null;
    const obj = n.value as Record<string, JsonLike>;
    const key = rng.pick(Object.keys(obj));
    delete obj[key];
    return { root, note: `deleted ${show([...n.path, key])}` };
  },
  duplicateKey(root, rng) {
    const n = randomNode(root, rng, (v) => isContainer(v) && !Array.isArray(v) && Object.keys(v as object).length > 0);
    if (n === null) return null;
    const obj = n.value as Record<string, JsonLike>;
    const key = rng.pick(Object.keys(obj));
    const other = rng.chance(0.5) ? rng.pick(SPECIAL_NUMBERS) : rng.pick(WRONG_TYPES);
    const [first, second] = rng.chance(0.5) ? [obj[key]!, other] : [other, obj[key]!];
    obj[key] = new RawJson(`${DUP_MARK}${JSON.stringify(key)}:${toJsonText(first)},${JSON.stringify(key)}:${toJsonText(second)}`);
    return { root, note: `duplicated key ${show([...n.path, key])} (values ${toJsonText(first)} then ${toJsonText(second)})` };
  },
  swap(root, rng) {
    const nodes = jsonNodes(root).filter((n) => n.path.length > 0);
    if (nodes.length < 2) return null;
    const a = rng.pick(nodes);
    const b = rng.pick(nodes);
    const prefix = (p: JsonPath, q: JsonPath): boolean => p.length <= q.length && p.every((k, i) => q[i] === k);
    if (prefix(a.path, b.path) || prefix(b.path, a.path)) return null;
    const va = cloneJson(a.value);
    setAt(root, a.path, cloneJson(b.value));
    setAt(root, b.path, va);
    return { root, note: `swapped ${show(a.path)} and ${show(b.path)}` };
  },
  dropElement(root, rng) {
    const n = randomNode(root, rng, (v) => Array.isArray(v) && v.length > 0);
    if (n === null) return null;
    const arr = n.value as JsonLike[];
    const i = rng.int(arr.length);
    arr.splice(i, 1);
    return { root, note: `deleted ${show([...n.path, i])}` };
  },
  duplicateElement(root, rng) {
    const n = randomNode(root, rng, (v) => Array.isArray(v) && v.length > 0);
    if (n === null) return null;
    const arr = n.value as JsonLike[];
    const i = rng.int(arr.length);
    arr.splice(i, 0, cloneJson(arr[i]!));
    return { root, note: `duplicated ${show([...n.path, i])}` };
  },
  emptyContainer(root, rng) {
    const n = randomNode(root, rng, (v, p) => isContainer(v) && p.length > 0);
    if (n === null) return null;
    const v: JsonLike = Array.isArray(n.value) ? [] : {};
    return { root: setAt(root, n.path, v), note: `${show(n.path)} emptied` };
  },
  deep(root, rng) {
    const n = randomNode(root, rng, () => true);
    if (n === null) return null;
    const depth = rng.pick([100_000, 100_000, 10_000, 1000, 65, 200]);
    const kind = rng.chance(0.7) ? 'array' : 'object';
    return { root: setAt(root, n.path, new RawJson(deepJson(depth, kind))), note: `${show(n.path)} = ${kind} nested ${depth} deep` };
  },
};

/**
 * Applies 1-3 random JSON mutators to a clone of `root` and returns the text. Mutators that find
 * nothing to act on are skipped (at least one always acts: `type` can always replace a node
 * when the root is a container; `deep` always can).
 */
export function mutateJson(root: JsonLike, rng: Rng, names: readonly string[] = Object.keys(JSON_MUTATORS)): { text: string; mutator: string; note: string } {
  let tree = cloneJson(root);
  const applied: string[] = [];
  const notes: string[] = [];
  const rounds = rng.chance(0.75) ? 1 : 2 + rng.int(2);
  for (let tries = 0; applied.length < rounds && tries < 20; tries++) {
    const name = rng.pick(names);
    const r = JSON_MUTATORS[name]!(tree, rng);
    if (r === null) continue;
    tree = r.root;
    applied.push(name);
    notes.push(r.note);
  }
  return { text: toJsonText(tree), mutator: `json.${applied.join('+') || 'none'}`, note: notes.join('; ') };
}
