/**
 * Fuzzed reader: the RLE functions (`rleDecode`, `rleStringToCounts`, `rleFromBbox`,
 * `rleFromPolygons`, `rleArea`, `rleToBbox`, `rleMerge`, `rleIou`, `rleCompress`,
 * `rleUncompress`, `rleEncode`). An input is a call `{fn, args}` as JSON in which a number
 * that JSON cannot hold is written `{"$fuzz": "NaN" | "Infinity" | "-Infinity"}`.
 *
 * Oracle (certainly invalid): an RLE argument that is not an object with a size of two
 * non-negative integers within the shared pixel limit and counts (an array, or a string by
 * pycocotools' rules) of non-negative integers summing to h*w; a counts string (for
 * `rleStringToCounts`) that is not a string, has a character outside '0'..'o', ends inside a
 * value or decodes to a negative or > 2^53 run; h and w that are not non-negative integers or
 * whose product is over the pixel limit; a bbox that is not 4 finite numbers of non-negative
 * size; polygons that are empty, odd, shorter than 3 points or not finite; masks of different
 * sizes given together; an `iscrowd` list of the wrong length; a mask array of the wrong length.
 *
 * The output is checked too (a wrong result counts as silently accepted): an RLE result must
 * have the size asked for and counts summing to h*w; a decoded mask h*w values of 0/1; counts
 * decoded from a string must equal the oracle's decoding; an area an integer in [0, h*w].
 */
import { readFileSync } from 'node:fs';
import { rleArea, rleCompress, rleDecode, rleEncode, rleFromBbox, rleFromPolygons, rleIou, rleMerge, rleStringToCounts, rleToBbox, rleUncompress } from '../../../lib/index.js';
import { DEFAULT_INPUT_LIMITS } from '../../../lib/util/limits.js';
import { type JsonLike, RawJson, type Rng, cloneJson, deepJson, mutateBytes, mutateJson, toJsonText } from '../mutate.js';
import { bboxProblem, brief, decodeRleString, isCount, isObj, polygonsProblem, rleProblem } from '../oracle.js';
import { type FuzzCase, type FuzzReader, makeCase } from '../spec.js';

/** A call of one RLE function. */
interface Call {
  fn: string;
  args: unknown[];
}

const MARK = '$fuzz';

/** Writes a call as JSON, with non-finite numbers as `{"$fuzz": ...}` markers. */
export function encodeCall(fn: string, args: JsonLike[]): string {
  const mark = (v: JsonLike): JsonLike => {
    if (typeof v === 'number' && !Number.isFinite(v)) return { [MARK]: String(v) };
    if (Array.isArray(v)) return v.map(mark);
    if (v !== null && typeof v === 'object' && !(v instanceof RawJson)) return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, mark(x)]));
    return v;
  };
  return toJsonText({ fn, args: args.map(mark) });
}

/** Reads a call written by {@link encodeCall} (iteratively: arguments may nest 100,000 deep). */
export function decodeCall(text: string): Call {
  const root = JSON.parse(text) as { fn: string; args: unknown };
  if (!Array.isArray(root.args)) root.args = [root.args];
  const stack: unknown[] = [root];
  while (stack.length > 0) {
    const node = stack.pop() as Record<string, unknown> | unknown[];
    for (const key of Object.keys(node)) {
      const v = (node as Record<string, unknown>)[key];
      if (isObj(v) && Object.keys(v).length === 1 && typeof v[MARK] === 'string') (node as Record<string, unknown>)[key] = Number(v[MARK]);
      else if (typeof v === 'object' && v !== null) stack.push(v);
    }
  }
  return root as Call;
}

const hwProblem = (h: unknown, w: unknown): string | null =>
  !isCount(h) || !isCount(w) ? `h, w = ${brief(h)}, ${brief(w)} are not non-negative integers` : h * w > DEFAULT_INPUT_LIMITS.maxImagePixels ? `h*w = ${h * w} is over the pixel limit` : null;

function rlesProblem(list: unknown, what: string, allowEmpty = false): string | null {
  if (!Array.isArray(list) || (list.length === 0 && !allowEmpty)) return `${what} is ${brief(list)}, not a ${allowEmpty ? '' : 'non-empty '}list of RLEs`;
  for (const r of list) {
    const p = rleProblem(r);
    if (p !== null) return `${what}: ${p}`;
  }
  const sizes = new Set(list.map((r) => JSON.stringify((r as { size: unknown }).size)));
  return sizes.size > 1 ? `${what} has masks of different sizes` : null;
}

/** Why a call is certainly invalid (see the module comment), or null. */
export function callProblem(bytes: Uint8Array): string | null {
  // A call is not a file: the JSON depth limit of file readers does not apply, only the functions' contracts.
  const text = new TextDecoder().decode(bytes);
  try {
    JSON.parse(text);
  } catch {
    return 'it is not valid JSON';
  }
  const { fn, args } = decodeCall(text);
  const [a, b, c] = args;
  switch (fn) {
    case 'rleStringToCounts': {
      if (typeof a !== 'string') return `the counts string is ${brief(a)}`;
      const d = decodeRleString(a);
      return 'problem' in d ? d.problem : null;
    }
    case 'rleFromBbox':
      return bboxProblem(a) ?? hwProblem(b, c);
    case 'rleFromPolygons':
      return polygonsProblem(a) ?? hwProblem(b, c);
    case 'rleEncode':
      return hwProblem(b, c) ?? (!Array.isArray(a) || a.length !== (b as number) * (c as number) || !a.every((x) => typeof x === 'number') ? `the mask is ${brief(a)}, not h*w numbers` : null);
    case 'rleMerge':
      return rlesProblem(a, 'the masks') ?? (b !== undefined && typeof b !== 'boolean' ? `intersect is ${brief(b)}` : null);
    case 'rleIou': {
      // Empty lists are valid (pycocotools' iou gives an empty matrix).
      const p = rlesProblem(a, 'dt', true) ?? rlesProblem(b, 'gt', true);
      if (p !== null) return p;
      const [da, gb] = [a as Array<{ size: unknown }>, b as Array<{ size: unknown }>];
      if (da.length > 0 && gb.length > 0 && JSON.stringify(da[0]!.size) !== JSON.stringify(gb[0]!.size)) return 'dt and gt masks differ in size';
      if (c !== undefined && (!Array.isArray(c) || c.length !== (b as unknown[]).length || !c.every((x) => [0, 1, true, false].includes(x as never)))) return `iscrowd is ${brief(c)}`;
      return null;
    }
    default:
      return rleProblem(a);
  }
}

/** Runs a call (child side) and checks its output. */
function runCall({ fn, args }: Call): string | null {
  const [a, b, c] = args as [never, never, never];
  const rleOut = (out: { size: unknown; counts: unknown }, h: number, w: number): string | null => {
    const p = rleProblem(out, h, w, false);
    return p === null ? null : `${fn} returned ${p}`;
  };
  const sizeOf = (r: unknown): [number, number] => (r as { size: [number, number] }).size;
  switch (fn) {
    case 'rleStringToCounts': {
      const out = rleStringToCounts(a);
      const d = decodeRleString(a);
      if ('problem' in d) return `returned counts for a string the oracle rejects (${d.problem})`;
      return out.length === d.runs.length && out.every((x, i) => x === d.runs[i]) ? null : `returned ${JSON.stringify(out.slice(0, 8))}... not the decoding ${JSON.stringify(d.runs.slice(0, 8))}...`;
    }
    case 'rleFromBbox':
      return rleOut(rleFromBbox(a, b, c), b, c);
    case 'rleFromPolygons':
      return rleOut(rleFromPolygons(a, b, c), b, c);
    case 'rleEncode':
      return rleOut(rleEncode(a, b, c), b, c);
    case 'rleMerge':
      return rleOut(rleMerge(a, b), ...sizeOf((a as unknown[])[0]));
    case 'rleCompress':
      return rleOut(rleCompress(a), ...sizeOf(a));
    case 'rleUncompress':
      return rleOut(rleUncompress(a), ...sizeOf(a));
    case 'rleDecode': {
      const out = rleDecode(a);
      const [h, w] = sizeOf(a);
      return out.length !== h * w ? `decoded ${out.length} values for ${h}x${w}` : out.every((v) => v === 0 || v === 1) ? null : 'decoded values other than 0/1';
    }
    case 'rleArea': {
      const area = rleArea(a);
      const [h, w] = sizeOf(a);
      return Number.isSafeInteger(area) && area >= 0 && area <= h * w ? null : `area ${area} for ${h}x${w}`;
    }
    case 'rleToBbox': {
      const box = rleToBbox(a);
      return bboxProblem(box) === null ? null : `box ${JSON.stringify(box)}`;
    }
    case 'rleIou': {
      const m = rleIou(a, b, c);
      return m.every((row) => row.every((v) => Number.isFinite(v))) ? null : 'a non-finite IoU';
    }
    default:
      throw new Error(`fuzz: unknown RLE function ${fn}`);
  }
}

function seedCalls(): Array<[string, JsonLike[]]> {
  const r1: JsonLike = { size: [6, 5], counts: [3, 4, 10, 13] };
  const r2: JsonLike = { size: [6, 5], counts: rleCompress({ size: [6, 5], counts: [0, 7, 2, 9, 12] }).counts };
  const mask = Array.from({ length: 30 }, (_, i) => (i % 7 < 3 ? 1 : 0));
  return [
    ['rleDecode', [r1]],
    ['rleDecode', [r2]],
    ['rleStringToCounts', [(r2 as { counts: string }).counts]],
    ['rleStringToCounts', [rleCompress({ size: [100, 90], counts: [120, 40, 3000, 1, 5839] }).counts]],
    ['rleFromBbox', [[1, 1, 3, 2], 6, 5]],
    ['rleFromPolygons', [[[0, 0, 4, 0, 4, 3]], 6, 5]],
    ['rleFromPolygons', [[[0, 0, 2, 0, 2, 2], [3, 3, 4, 3, 4, 5]], 6, 5]],
    ['rleArea', [r1]],
    ['rleToBbox', [r2]],
    ['rleMerge', [[r1, r2], false]],
    ['rleIou', [[r1], [r2, r1], [0, 1]]],
    ['rleCompress', [r1]],
    ['rleUncompress', [r2]],
    ['rleEncode', [mask, 6, 5]],
  ];
}

/** Giant sizes for the targeted mutator: [h, w]. */
const GIANT: ReadonlyArray<readonly [number, number]> = [[100000, 65536], [65536, 65536], [2 ** 32, 1], [40000, 40000], [2 ** 26, 2 ** 26]];

function generate(rng: Rng, index: number): FuzzCase {
  const calls = seedCalls();
  const [fn, args] = rng.pick(calls);
  const name = `rle:${index}`;
  const file = `case-${index}.json`;
  const roll = rng.int(100);
  if (roll < 20) {
    // giant sizes, with counts that do or do not sum to h*w
    const [h, w] = rng.pick(GIANT);
    const a = cloneJson(args);
    if (fn === 'rleFromBbox' || fn === 'rleFromPolygons' || fn === 'rleEncode') {
      a[1] = h;
      a[2] = w;
    } else if (fn === 'rleStringToCounts') a[0] = rleCompressString([h * w - 1, 1]);
    else if (fn === 'rleMerge' || fn === 'rleIou') (a[0] as JsonLike[])[0] = { size: [h, w], counts: [h * w - 1, 1] };
    else a[0] = { size: [h, w], counts: rng.chance(0.5) ? [h * w - 1, 1] : [h * w, 5] };
    return makeCase(name, file, encodeCall(fn, a), 'targeted.giantSize', `${fn} with size ${h}x${w}`, callProblem);
  }
  if (roll < 45 && (fn === 'rleStringToCounts' || fn === 'rleDecode')) {
    // byte mutations of a counts string
    const s = (fn === 'rleStringToCounts' ? args[0] : (args[0] as { counts: JsonLike }).counts) as string | number[];
    const str = typeof s === 'string' ? s : rleCompressString(s);
    const m = mutateBytes(new TextEncoder().encode(str), rng);
    const text = String.fromCharCode(...m.bytes);
    const a = fn === 'rleStringToCounts' ? [text] : [{ size: (args[0] as { size: JsonLike }).size, counts: text }];
    return makeCase(name, file, encodeCall(fn, a), m.mutator, `${fn}: counts string ${m.note}`, callProblem);
  }
  if (roll < 50) {
    const text = rng.pick(['P'.repeat(210) + '0', 'o'.repeat(20), '\u0000', '0'.repeat(5) + 'a', 'ooooooooooooo1']);
    return makeCase(name, file, encodeCall('rleStringToCounts', [text]), 'targeted.longValue', `counts string ${JSON.stringify(text.slice(0, 20))}`, callProblem);
  }
  const m = mutateJson(args, rng);
  return makeCase(name, file, `{"fn":${JSON.stringify(fn)},"args":${markText(m.text)}}`, m.mutator, `${fn}: ${m.note}`, callProblem);
}

/** Re-marks the non-finite numbers a JSON mutator wrote as text (`1e999`, `-1e999`, `NaN`). */
function markText(text: string): string {
  return text.replace(/(?<=[[,:])(-?1e999|NaN)(?=[\],}])/g, (t) => `{"${MARK}":"${t === 'NaN' ? 'NaN' : t.startsWith('-') ? '-Infinity' : 'Infinity'}"}`);
}

/**
 * COCO's compressed counts string of `counts` (pycocotools' `rleToString`: each count, less the
 * one two places before it from the fourth on, in 5-bit groups with a continuation bit, + 48),
 * written here in plain arithmetic rather than by the library, which refuses the giant sizes
 * these inputs are made to test (run lengths beyond 2^32 do not fit 32-bit shifts).
 */
const rleCompressString = (counts: number[]): string => {
  let out = '';
  counts.forEach((count, i) => {
    let x = i > 2 ? count - counts[i - 2]! : count;
    let more = true;
    while (more) {
      let c = ((x % 32) + 32) % 32;
      x = Math.floor(x / 32);
      more = c & 0x10 ? x !== -1 : x !== 0;
      if (more) c |= 0x20;
      out += String.fromCharCode(c + 48);
    }
  });
  return out;
};

/** The RLE functions' reader. */
export const rleReader: FuzzReader = {
  name: 'rle',
  title: 'RLE (decode, strings, from bbox/polygons)',
  prepare: () => ({}),
  seeds: () => seedCalls().map(([fn, args], i) => makeCase(`seed:${i}`, `seed-${i}.json`, encodeCall(fn, args), 'seed', fn, callProblem)),
  generate: (_ctx, rng, index) => generate(rng, index),
  regressions(): FuzzCase[] {
    const r = (name: string, fn: string, args: JsonLike[], note: string): FuzzCase => makeCase(`regression:${name}`, `${name}.json`, encodeCall(fn, args), 'regression', note, callProblem);
    return [
      r('rle-decode-giant', 'rleDecode', [{ size: [100000, 65536], counts: [6553599999, 1] }], 'Invalid typed array length'),
      r('rle-string-nan', 'rleStringToCounts', ['P'.repeat(210) + '0'], 'a string that decodes to NaN'),
      r('rle-string-negative-run', 'rleStringToCounts', ['531F'], 'a string whose fourth run decodes to -7'),
      r('rle-string-null', 'rleStringToCounts', [null], 'rleStringToCounts(null) is a TypeError'),
      r('rle-bbox-2pow32', 'rleFromBbox', [[0, 0, 10, 10], 65536, 65536], 'size 2^32: counts do not sum to h*w'),
      r('rle-polygons-65536-two-parts', 'rleFromPolygons', [[[0, 0, 10, 0, 10, 10], [20, 20, 30, 20, 30, 30]], 65536, 65536], 'loops forever (32-bit run counts wrap)'),
      r('rle-polygons-65536-one-part', 'rleFromPolygons', [[[0, 0, 10, 0, 10, 10]], 65536, 65536], 'counts do not sum to h*w'),
      r('rle-deep-counts', 'rleDecode', [{ size: [6, 5], counts: new RawJson(deepJson(100_000, 'array')) }], 'counts nested 100,000 deep'),
    ];
  },
  run(path) {
    // A mutation can break the call description itself; that input never reaches an RLE function.
    let call: Call;
    try {
      call = decodeCall(readFileSync(path, 'utf8'));
    } catch (error) {
      throw new Error(`fuzz harness: ${path} is not a call description (${(error as Error).message}); no RLE function was called`);
    }
    return runCall(call);
  },
  names: () => [],
};
