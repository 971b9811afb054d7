/**
 * The fuzzer's oracle: independent checks that say when an input is certainly invalid, so that a
 * reader accepting it is counted as "silently accepted". They are written from the formats'
 * specifications (COCO, pycocotools' RLE string, safetensors, the project's configuration), not
 * from the readers, and they are deliberately conservative: anything they cannot prove wrong is
 * "may be valid". Every check is bounded (it descends only where the format expects structure),
 * so a 100,000-deep document is judged without recursion.
 */
import { DEFAULT_INPUT_LIMITS, checkJsonDepth } from '../../lib/util/limits.js';

/** Whether `v` is a plain JSON object. */
export const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
/** A non-negative safe integer. */
export const isCount = (v: unknown): v is number => Number.isSafeInteger(v) && (v as number) >= 0;
/** A finite number. */
export const isFin = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v);
/** A short description of a value for oracle reasons. */
export const brief = (v: unknown): string => {
  if (typeof v === 'number') return String(v);
  if (Array.isArray(v)) return `an array of ${v.length}`;
  return v === null ? 'null' : typeof v === 'object' ? 'an object' : `${typeof v} ${JSON.stringify(v)?.slice(0, 40)}`;
};

/** Why JSON `text` is certainly invalid as JSON or nests deeper than the shared limit, or null. */
export function jsonTextProblem(text: string): string | null {
  try {
    checkJsonDepth(text, 'input', DEFAULT_INPUT_LIMITS.maxJsonDepth);
  } catch {
    return `it nests deeper than ${DEFAULT_INPUT_LIMITS.maxJsonDepth} levels (the shared JSON depth limit)`;
  }
  try {
    JSON.parse(text);
  } catch {
    return 'it is not valid JSON';
  }
  return null;
}

/**
 * Decodes a pycocotools compressed counts string exactly (BigInt), or says why it is invalid:
 * a character outside '0'..'o', a value cut off at the end, or a run that is negative or not a
 * safe integer. Written from pycocotools' `rleFrString` (5 bits a character, bit 0x20 = more,
 * bit 0x10 of the last character = sign, runs after the second are deltas from two before).
 */
export function decodeRleString(s: string): { runs: number[] } | { problem: string } {
  const runs: bigint[] = [];
  let p = 0;
  while (p < s.length) {
    let x = 0n;
    let k = 0n;
    for (;;) {
      if (p >= s.length) return { problem: 'the counts string ends inside a value' };
      const c = s.charCodeAt(p) - 48;
      if (c < 0 || c > 63) return { problem: `the counts string has the character ${JSON.stringify(s[p])}` };
      x |= BigInt(c & 0x1f) << (5n * k);
      p++;
      k++;
      if ((c & 0x20) === 0) {
        if (c & 0x10) x -= 1n << (5n * k);
        break;
      }
      if (k > 13n) return { problem: 'a counts value is longer than 64 bits' };
    }
    if (runs.length > 2) x += runs[runs.length - 2]!;
    if (x < 0n) return { problem: `run ${runs.length} is negative` };
    if (x > BigInt(Number.MAX_SAFE_INTEGER)) return { problem: `run ${runs.length} is beyond 2^53` };
    runs.push(x);
  }
  return { runs: runs.map(Number) };
}

/**
 * Why `rle` is certainly not a valid RLE mask of size `[h, w]` (when given) or at all: the size
 * must be two non-negative safe integers with h*w within the shared pixel limit, the counts
 * non-negative safe integers (or a valid string) summing to exactly h*w. `limit: false` skips the
 * pixel limit (to check a function's output against the size it was asked for).
 */
export function rleProblem(rle: unknown, h?: number, w?: number, limit = true): string | null {
  if (!isObj(rle)) return `an RLE is ${brief(rle)}, not an object`;
  const size = rle.size;
  if (!Array.isArray(size) || size.length !== 2 || !isCount(size[0]) || !isCount(size[1])) return `RLE size ${brief(size)} is not two non-negative integers`;
  if (h !== undefined && (size[0] !== h || size[1] !== w)) return `RLE size [${size[0]}, ${size[1]}] is not the image's [${h}, ${w}]`;
  const pixels = size[0] * size[1];
  if (limit && pixels > DEFAULT_INPUT_LIMITS.maxImagePixels) return `RLE size [${size[0]}, ${size[1]}] is over the pixel limit`;
  let runs: unknown[];
  if (typeof rle.counts === 'string') {
    const d = decodeRleString(rle.counts);
    if ('problem' in d) return d.problem;
    runs = d.runs;
  } else if (Array.isArray(rle.counts)) runs = rle.counts;
  else return `RLE counts are ${brief(rle.counts)}`;
  let sum = 0;
  for (const c of runs) {
    if (!isCount(c)) return `an RLE count is ${brief(c)}`;
    sum += c;
  }
  if (sum !== pixels) return `RLE counts sum to ${sum}, not h*w = ${pixels}`;
  return null;
}

/** Why `polygons` is certainly not a valid COCO polygon list: empty, a part with < 3 points, odd or non-finite coordinates. */
export function polygonsProblem(polygons: unknown): string | null {
  if (!Array.isArray(polygons)) return `polygons are ${brief(polygons)}`;
  if (polygons.length === 0) return 'the polygon list is empty';
  for (const p of polygons) {
    if (!Array.isArray(p)) return `a polygon is ${brief(p)}`;
    if (p.length < 6 || p.length % 2 !== 0) return `a polygon has ${p.length} coordinates (needs an even number >= 6)`;
    if (!p.every(isFin)) return 'a polygon coordinate is not a finite number';
  }
  return null;
}

/** Why `bbox` is certainly not a COCO box `[x, y, w, h]`: not 4 finite numbers, or a negative size. */
export function bboxProblem(bbox: unknown): string | null {
  if (!Array.isArray(bbox) || bbox.length !== 4 || !bbox.every(isFin)) return `bbox ${brief(bbox)} is not 4 finite numbers`;
  if ((bbox[2] as number) < 0 || (bbox[3] as number) < 0) return `bbox has a negative width or height (${bbox[2]}, ${bbox[3]})`;
  return null;
}

/**
 * Why `value` certainly does not have the shape of `reference` (a valid document of the same
 * kind): a different JSON type, a missing key, an extra key where `closed` says keys are fixed,
 * an array element of another shape (tuples of mixed types compare element by element).
 * Descends only as deep as `reference`.
 */
export function shapeProblem(value: unknown, reference: unknown, path = '$', closed: (path: string) => boolean = () => false): string | null {
  const kind = (v: unknown): string => (Array.isArray(v) ? 'array' : v === null ? 'null' : typeof v);
  if (kind(value) !== kind(reference)) return `${path} is ${brief(value)}, not ${kind(reference)}`;
  if (typeof reference === 'number' && !isFin(value)) return `${path} is ${brief(value)}`;
  if (Array.isArray(reference)) {
    const items = value as unknown[];
    const mixed = new Set(reference.map(kind)).size > 1;
    if (mixed && items.length !== reference.length) return `${path} has ${items.length} items, not ${reference.length}`;
    for (let i = 0; i < items.length && reference.length > 0; i++) {
      const p = shapeProblem(items[i], mixed ? reference[i] : reference[0], `${path}[${i}]`, closed);
      if (p !== null) return p;
    }
    return null;
  }
  if (!isObj(reference)) return null;
  const obj = value as Record<string, unknown>;
  for (const key of Object.keys(reference)) {
    if (!(key in obj)) return `${path}.${key} is missing`;
    const p = shapeProblem(obj[key], reference[key], `${path}.${key}`, closed);
    if (p !== null) return p;
  }
  if (closed(path)) for (const key of Object.keys(obj)) if (!(key in reference)) return `${path}.${key} is not a known field`;
  return null;
}

// ---------------------------------------------------------------------------------------------
// safetensors

/** Bytes per element of each safetensors dtype. */
export const DTYPE_BYTES: Readonly<Record<string, number>> = { F64: 8, F32: 4, F16: 2, BF16: 2, I64: 8, I32: 4, I16: 2, I8: 1, U8: 1, BOOL: 1 };

/** A safetensors file's layout as the oracle reads it. */
export interface SafetensorsLayout {
  /** The header object (tensor entries and `__metadata__`). */
  header: Record<string, unknown>;
  /** Byte offset of the data section. */
  dataStart: number;
  /** The entries, by name. */
  entries: Map<string, { dtype: string; shape: number[]; begin: number; end: number }>;
}

/**
 * Parses a safetensors file by its specification, or says why it is certainly invalid: the
 * 8-byte little-endian header length beyond the file or over the shared header limit, a header
 * that is not UTF-8 JSON of an object (or nests too deep), an entry without a known dtype, a
 * shape of non-negative integers, offsets `[begin, end]` inside the data with `end - begin` =
 * elements x item size, entries that overlap or leave holes, data left over, a `__metadata__`
 * that is not a string-to-string map, or a tensor over the shared element limit.
 */
export function parseSafetensorsLayout(bytes: Uint8Array): SafetensorsLayout | { problem: string } {
  if (bytes.length < 8) return { problem: 'the file is shorter than the 8-byte header length' };
  const n = Number(new DataView(bytes.buffer, bytes.byteOffset, 8).getBigUint64(0, true));
  if (n > bytes.length - 8) return { problem: `the header length ${n} is beyond the file` };
  if (n > DEFAULT_INPUT_LIMITS.maxHeaderBytes) return { problem: 'the header is over the header limit' };
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(bytes.subarray(8, 8 + n));
  } catch {
    return { problem: 'the header is not UTF-8' };
  }
  const jsonProblem = jsonTextProblem(text);
  if (jsonProblem !== null) return { problem: `the header: ${jsonProblem}` };
  const header = JSON.parse(text) as unknown;
  if (!isObj(header)) return { problem: 'the header is not a JSON object' };
  const dataStart = 8 + n;
  const dataLen = bytes.length - dataStart;
  const entries: SafetensorsLayout['entries'] = new Map();
  for (const [name, e] of Object.entries(header)) {
    if (name === '__metadata__') {
      if (!isObj(e) || !Object.values(e).every((v) => typeof v === 'string')) return { problem: '__metadata__ is not a map of strings' };
      continue;
    }
    if (!isObj(e)) return { problem: `entry ${name} is not an object` };
    const item = DTYPE_BYTES[e.dtype as string];
    if (item === undefined) return { problem: `entry ${name} has dtype ${brief(e.dtype)}` };
    if (!Array.isArray(e.shape) || !e.shape.every(isCount)) return { problem: `entry ${name} has shape ${brief(e.shape)}` };
    const shape = e.shape as number[];
    const elements = shape.reduce((a, b) => a * b, 1);
    if (elements > DEFAULT_INPUT_LIMITS.maxTensorElements) return { problem: `entry ${name} has more elements than the tensor limit` };
    const o = e.data_offsets;
    if (!Array.isArray(o) || o.length !== 2 || !isCount(o[0]) || !isCount(o[1]) || o[0] > o[1] || o[1] > dataLen) {
      return { problem: `entry ${name} has data_offsets ${JSON.stringify(o)?.slice(0, 60)} outside the ${dataLen} data bytes` };
    }
    if (o[1] - o[0] !== elements * item) return { problem: `entry ${name} has ${o[1] - o[0]} bytes for ${elements} elements of ${e.dtype}` };
    entries.set(name, { dtype: e.dtype as string, shape, begin: o[0], end: o[1] });
  }
  const spans = [...entries.values()].filter((e) => e.end > e.begin).sort((a, b) => a.begin - b.begin);
  let at = 0;
  for (const s of spans) {
    if (s.begin !== at) return { problem: s.begin < at ? 'two tensors overlap' : 'the data has a hole between tensors' };
    at = s.end;
  }
  if (at !== dataLen) return { problem: `the data section has ${dataLen - at} bytes that belong to no tensor` };
  return { header, dataStart, entries };
}

/** Whether a float tensor's data holds a NaN or an infinity (F16/BF16/F32/F64). */
export function hasNonFinite(bytes: Uint8Array, dtype: string, begin: number, end: number): boolean {
  const view = new DataView(bytes.buffer, bytes.byteOffset + begin, end - begin);
  if (dtype === 'F32') for (let i = 0; i + 4 <= view.byteLength; i += 4) if (!Number.isFinite(view.getFloat32(i, true))) return true;
  if (dtype === 'F64') for (let i = 0; i + 8 <= view.byteLength; i += 8) if (!Number.isFinite(view.getFloat64(i, true))) return true;
  if (dtype === 'F16') for (let i = 0; i + 2 <= view.byteLength; i += 2) if ((view.getUint16(i, true) & 0x7c00) === 0x7c00) return true;
  if (dtype === 'BF16') for (let i = 0; i + 2 <= view.byteLength; i += 2) if ((view.getUint16(i, true) & 0x7f80) === 0x7f80) return true;
  return false;
}

// ---------------------------------------------------------------------------------------------
// The detector's configuration (kept in weights files and checkpoints)

/** Fields the weights' shapes depend on: a file whose configuration changes one no longer fits its own tensors. */
const STRUCTURAL = ['numClasses', 'backbone.block', 'backbone.blocksPerStage', 'backbone.stemChannels', 'backbone.widths', 'backbone.norm', 'backbone.fpnChannels', 'backbone.fpnNorm', 'roiHeads.representationSize', 'roiHeads.maskHeadLayers', 'roiHeads.maskHeadNorm', 'roiHeads.maskDimReduced', 'roiHeads.boxRoiOutputSize'];
/** Counts that must be positive integers. */
const POSITIVE_COUNTS = ['transform.minSize', 'transform.maxSize', 'transform.sizeDivisible', 'rpn.preNmsTopNTrain', 'rpn.preNmsTopNTest', 'rpn.postNmsTopNTrain', 'rpn.postNmsTopNTest', 'rpn.batchSizePerImage', 'roiHeads.maskRoiOutputSize', 'roiHeads.boxDetectionsPerImg', 'roiHeads.boxBatchSizePerImage', 'roiHeads.maskResolution', 'roiHeads.maskHeadDilation'];
/** Probabilities, fractions and IoU thresholds: in [0, 1]. */
const UNIT = ['rpn.nmsThresh', 'rpn.fgIouThresh', 'rpn.bgIouThresh', 'rpn.positiveFraction', 'rpn.scoreThresh', 'roiHeads.boxScoreThresh', 'roiHeads.boxNmsThresh', 'roiHeads.boxFgIouThresh', 'roiHeads.boxBgIouThresh', 'roiHeads.boxPositiveFraction', 'roiHeads.maskThreshold', 'optimizer.momentum'];
/** Numbers that must be > 0 (divisors, scales, sizes, rates). */
const POSITIVE = ['transform.imageStd', 'rpn.anchorSizes', 'rpn.aspectRatios', 'rpn.boxCoderWeights', 'roiHeads.bboxRegWeights', 'roiHeads.canonicalScale', 'optimizer.lr', 'optimizer.lrDecay'];
/** Numbers that must be >= 0. */
const NON_NEGATIVE = ['rpn.minSize', 'rpn.smoothL1Beta', 'roiHeads.smoothL1Beta', 'optimizer.weightDecay'];

const get = (root: unknown, path: string): unknown => path.split('.').reduce<unknown>((v, k) => (isObj(v) ? v[k] : undefined), root);
const leaves = (v: unknown): unknown[] => (Array.isArray(v) ? v.flatMap((x) => (Array.isArray(x) ? x : [x])) : [v]);

/**
 * Why a configuration read from a file is certainly wrong for the tensors saved with it: not
 * the shape of `seed` (same keys and types; the sections are closed), a structural field changed
 * (see STRUCTURAL), a count that is not a positive integer, a threshold outside [0, 1], a
 * divisor or rate not > 0, or a non-finite number.
 */
export function configProblem(config: unknown, seed: unknown): string | null {
  const shape = shapeProblem(config, seed, 'config', (p) => p === 'config' || /^config\.[a-zA-Z]+$/.test(p));
  if (shape !== null) return shape;
  for (const key of STRUCTURAL) if (JSON.stringify(get(config, key)) !== JSON.stringify(get(seed, key))) return `config.${key} no longer fits the saved tensors`;
  const check = (keys: string[], ok: (x: number) => boolean, what: string): string | null => {
    for (const key of keys) for (const x of leaves(get(config, key))) if (typeof x !== 'number' || !ok(x)) return `config.${key} has ${brief(x)} (${what})`;
    return null;
  };
  return (
    check(POSITIVE_COUNTS, (x) => Number.isSafeInteger(x) && x >= 1, 'must be a positive integer') ??
    check(UNIT, (x) => x >= 0 && x <= 1, 'must be in [0, 1]') ??
    check(POSITIVE, (x) => isFin(x) && x > 0, 'must be > 0') ??
    check(NON_NEGATIVE, (x) => isFin(x) && x >= 0, 'must be >= 0') ??
    check(['roiHeads.samplingRatio'], Number.isSafeInteger, 'must be an integer')
  );
}
