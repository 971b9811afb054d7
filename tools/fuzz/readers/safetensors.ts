/**
 * Fuzzed reader: safetensors files, as `loadSafetensors` reads a plain file and `loadWeights`
 * reads a weights file (`*.weights.safetensors`: a shapes-preset model saved by `saveWeights`,
 * float16, with its configuration and class names).
 *
 * Oracle (certainly invalid): the layout rules of the safetensors format
 * ({@link parseSafetensorsLayout}: header length, UTF-8 JSON object within the shared header and
 * depth limits, known dtypes, non-negative integer shapes within the element limit, offsets that
 * tile the data exactly, a string-to-string `__metadata__`); and for a weights file: a
 * configuration that {@link configProblem} rejects, class names that are not `numClasses`
 * strings, tensors whose names, dtypes or shapes differ from what the configuration's model has
 * (the seed's), or a float tensor holding a NaN or an infinity.
 */
import { readFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { MaskRCNN, Tensor, encodeSafetensors, loadSafetensors, loadWeights, manualSeed, saveWeights, shapesConfig, upgradeConfigJson } from '../../../lib/index.js';
import { type JsonLike, RawJson, type Rng, deepJson, mutateBytes, mutateJson, toJsonText } from '../mutate.js';
import { DTYPE_BYTES, configProblem, hasNonFinite, jsonTextProblem, parseSafetensorsLayout, type SafetensorsLayout } from '../oracle.js';
import { type FuzzCase, type FuzzReader, makeCase, writeSeed } from '../spec.js';

/** The 8 + n header bytes and the data of a safetensors file. */
export function splitSafetensors(bytes: Uint8Array): { header: Record<string, JsonLike>; data: Uint8Array } {
  const n = Number(new DataView(bytes.buffer, bytes.byteOffset, 8).getBigUint64(0, true));
  return { header: JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + n))) as Record<string, JsonLike>, data: bytes.subarray(8 + n) };
}

/** A safetensors file from header text and data (the length field computed). */
export function joinSafetensors(headerText: string, data: Uint8Array): Uint8Array {
  const header = new TextEncoder().encode(headerText);
  const out = new Uint8Array(8 + header.length + data.length);
  new DataView(out.buffer).setBigUint64(0, BigInt(header.length), true);
  out.set(header, 8);
  out.set(data, 8 + header.length);
  return out;
}

/**
 * Why a file's tensors do not match `seed`'s (same names, dtypes and shapes), or one of its float
 * tensors holds a NaN or an infinity. `prefix` selects the tensors compared (e.g. `model.`).
 */
export function tensorsProblem(bytes: Uint8Array, layout: SafetensorsLayout, seed: SafetensorsLayout, prefix = ''): string | null {
  const names = (l: SafetensorsLayout): string[] => [...l.entries.keys()].filter((k) => k.startsWith(prefix)).sort();
  const mine = names(layout);
  const want = names(seed);
  if (mine.join('\n') !== want.join('\n')) return 'the tensor names differ from the model\'s';
  for (const name of mine) {
    const e = layout.entries.get(name)!;
    const s = seed.entries.get(name)!;
    if (e.dtype !== s.dtype || e.shape.join() !== s.shape.join()) return `tensor ${name} is ${e.dtype} [${e.shape}], the model's is ${s.dtype} [${s.shape}]`;
    if (hasNonFinite(bytes, e.dtype, layout.dataStart + e.begin, layout.dataStart + e.end)) return `tensor ${name} holds a NaN or an infinity`;
  }
  return null;
}

/** Safetensors-level mutations shared with the checkpoint reader: header JSON, giant shapes, offsets, length field, bytes. */
export function mutateSafetensors(bytes: Uint8Array, rng: Rng): { bytes: Uint8Array; mutator: string; note: string } {
  const { header, data } = splitSafetensors(bytes);
  const names = Object.keys(header).filter((k) => k !== '__metadata__');
  const entry = (): Record<string, JsonLike> => header[rng.pick(names)] as Record<string, JsonLike>;
  const roll = rng.int(100);
  if (roll < 35) {
    const m = mutateJson(header, rng);
    return { bytes: joinSafetensors(m.text, data), mutator: `header.${m.mutator}`, note: m.note };
  }
  if (roll < 45) {
    const e = entry();
    const shape = rng.pick<JsonLike>([[2 ** 31, 2 ** 31], [1e9], [2 ** 53], [65536, 65536, 4], [-1, 4], [1.5], [3e8]]);
    e.shape = shape;
    return { bytes: joinSafetensors(toJsonText(header), data), mutator: 'targeted.giantShape', note: `a shape = ${toJsonText(shape)}` };
  }
  if (roll < 55) {
    const e = entry();
    const [b, end] = e.data_offsets as number[];
    const v = rng.pick<JsonLike>([[b!, data.length + 4], [b!, 2 ** 40], [end!, b!], [-4, end!], [b! + 1, end! + 1], [0, 2 ** 53 + 2], [b!, end! - 2]]);
    e.data_offsets = v;
    return { bytes: joinSafetensors(toJsonText(header), data), mutator: 'targeted.offsets', note: `data_offsets = ${toJsonText(v)}` };
  }
  if (roll < 60) {
    const e = entry();
    const dtype = rng.pick(['I32', 'F16', 'F64', 'U8', 'BOOL', 'F8', 'f32', '']);
    const before = e.dtype;
    e.dtype = dtype;
    return { bytes: joinSafetensors(toJsonText(header), data), mutator: 'targeted.dtype', note: `a ${String(before)} tensor relabelled ${dtype}` };
  }
  if (roll < 65) {
    const out = bytes.slice();
    const n = Number(new DataView(bytes.buffer, bytes.byteOffset, 8).getBigUint64(0, true));
    const v = rng.pick([0n, 1n, BigInt(n + 1), BigInt(n - 1), 2n ** 63n, 2n ** 64n - 1n, BigInt(bytes.length), 100_000_001n]);
    new DataView(out.buffer).setBigUint64(0, v, true);
    return { bytes: out, mutator: 'targeted.headerLength', note: `header length = ${v}` };
  }
  if (roll < 70) {
    const out = bytes.slice();
    const layout = parseSafetensorsLayout(bytes) as SafetensorsLayout;
    const floats = [...layout.entries.values()].filter((e) => e.dtype.startsWith('F') && e.end > e.begin);
    const e = rng.pick(floats);
    const item = DTYPE_BYTES[e.dtype]!;
    const aligned = layout.dataStart + e.begin + rng.int((e.end - e.begin) / item) * item;
    const view = new DataView(out.buffer);
    if (e.dtype === 'F16') view.setUint16(aligned, 0x7e00, true);
    else if (e.dtype === 'F32') view.setFloat32(aligned, rng.chance(0.5) ? NaN : Infinity, true);
    else view.setFloat64(aligned, NaN, true);
    return { bytes: out, mutator: 'targeted.nanData', note: `a NaN/Inf written into a ${e.dtype} tensor at byte ${aligned}` };
  }
  const n = Number(new DataView(bytes.buffer, bytes.byteOffset, 8).getBigUint64(0, true));
  const m = mutateBytes(bytes, rng, [0, 8 + n], 0.85);
  return { bytes: m.bytes, mutator: m.mutator, note: m.note };
}

function plainSeed(): Uint8Array {
  const t = (data: number[], shape: number[], dtype: 'float32' | 'int32' = 'float32'): Tensor => new Tensor(dtype === 'int32' ? Int32Array.from(data) : Float32Array.from(data), shape, dtype);
  return encodeSafetensors(
    {
      weight: t([1, -2, 3.5, 0, 1e-3, 7], [2, 3]),
      bias: { tensor: t([0.5, -0.25], [2]), dtype: 'F16' },
      index: { tensor: t([3, 1, 4, 1], [4], 'int32'), dtype: 'I64' },
      mask: { tensor: t([1, 0, 1], [3], 'int32'), dtype: 'U8' },
      scalar: t([42], []),
      empty: t([], [0, 3]),
    },
    { metadata: { format: 'pt', note: 'maskrcnn-ts fuzz seed' } },
  );
}

/** Why a safetensors input is certainly invalid (see the module comment), or null. */
function safetensorsProblem(bytes: Uint8Array, weightsSeed: SafetensorsLayout | null, seedConfig: unknown): string | null {
  const layout = parseSafetensorsLayout(bytes);
  if ('problem' in layout) return layout.problem;
  if (weightsSeed === null) return null;
  const meta = layout.header.__metadata__ as Record<string, string> | undefined;
  const configText = meta?.['maskrcnn.config'];
  if (configText === undefined) return 'the weights file has no configuration';
  const bad = jsonTextProblem(configText);
  if (bad !== null) return `the configuration: ${bad}`;
  const config = configProblem(upgradeConfigJson(JSON.parse(configText)), seedConfig);
  if (config !== null) return config;
  const classes = meta?.['maskrcnn.classes'];
  if (classes !== undefined) {
    const c = jsonTextProblem(classes) === null ? (JSON.parse(classes) as unknown) : null;
    if (!Array.isArray(c) || c.length !== (seedConfig as { numClasses: number }).numClasses || !c.every((s) => typeof s === 'string')) return 'the class names are not numClasses strings';
  }
  return tensorsProblem(bytes, layout, weightsSeed);
}

/** The safetensors reader (plain files and weights files). */
export const safetensorsReader: FuzzReader = {
  name: 'safetensors',
  title: 'safetensors (`loadSafetensors`, `loadWeights`)',
  prepare(dir) {
    const plain = writeSeed(dir, 'seed-0.safetensors', plainSeed());
    manualSeed(0);
    const weights = join(dir, 'seed-1.weights.safetensors');
    saveWeights(weights, new MaskRCNN(shapesConfig()), { half: true, classes: ['__background__', 'square', 'circle', 'triangle'] });
    return { plain, weights, config: JSON.parse(JSON.stringify(shapesConfig())) as unknown };
  },
  seeds(ctx) {
    return [ctx.plain as string, ctx.weights as string].map((p, i) => {
      const bytes = new Uint8Array(readFileSync(p));
      return makeCase(`seed:${i}`, basename(p), bytes, 'seed', basename(p), oracleFor(ctx, i === 1));
    });
  },
  generate(ctx, rng, index) {
    const weights = rng.chance(0.5);
    const bytes = new Uint8Array(readFileSync((weights ? ctx.weights : ctx.plain) as string));
    let m: { bytes: Uint8Array; mutator: string; note: string };
    if (weights && rng.chance(0.25)) {
      const { header, data } = splitSafetensors(bytes);
      const meta = header.__metadata__ as Record<string, JsonLike>;
      const key = rng.pick(['maskrcnn.config', 'maskrcnn.config', 'maskrcnn.classes']);
      const j = mutateJson(JSON.parse(meta[key] as string) as JsonLike, rng);
      meta[key] = j.text;
      m = { bytes: joinSafetensors(toJsonText(header), data), mutator: `metadata.${j.mutator}`, note: `${key}: ${j.note}` };
    } else m = mutateSafetensors(bytes, rng);
    return makeCase(`safetensors:${index}`, weights ? `case-${index}.weights.safetensors` : `case-${index}.safetensors`, m.bytes, m.mutator, m.note, oracleFor(ctx, weights));
  },
  regressions(ctx): FuzzCase[] {
    const weights = new Uint8Array(readFileSync(ctx.weights as string));
    const { header, data } = splitSafetensors(weights);
    const withConfig = (edit: (c: Record<string, Record<string, JsonLike>>) => void): Uint8Array => {
      const h = JSON.parse(JSON.stringify(header)) as Record<string, JsonLike>;
      const meta = h.__metadata__ as Record<string, string>;
      const c = JSON.parse(meta['maskrcnn.config']!) as Record<string, Record<string, JsonLike>>;
      edit(c);
      meta['maskrcnn.config'] = JSON.stringify(c);
      return joinSafetensors(JSON.stringify(h), data);
    };
    const first = Object.keys(header).find((k) => k !== '__metadata__')!;
    const relabel = JSON.parse(JSON.stringify(header)) as Record<string, Record<string, JsonLike>>;
    // The same bytes and shape read as integers: F16 -> I16 (the seed is float16).
    relabel[first]!.dtype = 'I16';
    const nan = weights.slice();
    const layout = parseSafetensorsLayout(weights) as SafetensorsLayout;
    new DataView(nan.buffer).setUint16(layout.dataStart + layout.entries.get(first)!.begin, 0x7e00, true);
    const deep = JSON.parse(JSON.stringify(splitSafetensors(new Uint8Array(readFileSync(ctx.plain as string))).header)) as Record<string, Record<string, JsonLike>>;
    deep.weight!.shape = new RawJson(deepJson(100_000, 'array'));
    const plainData = splitSafetensors(new Uint8Array(readFileSync(ctx.plain as string))).data;
    const r = (name: string, file: string, bytes: Uint8Array, note: string): FuzzCase => makeCase(`regression:${name}`, file, bytes, 'regression', note, oracleFor(ctx, file.includes('.weights.')));
    return [
      r('safetensors-deep-shape', 'deep-shape.safetensors', joinSafetensors(toJsonText(deep as JsonLike), plainData), 'a shape nested 100,000 deep (stack overflow)'),
      r('weights-blocks-1e8', 'blocks.weights.safetensors', withConfig((c) => (c.backbone!.blocksPerStage = [1, 1e8, 1, 1])), 'blocksPerStage [1,1e8,1,1] (grows to 1.5 GiB)'),
      r('weights-fpn-channels-1e9', 'fpn.weights.safetensors', withConfig((c) => (c.backbone!.fpnChannels = 1e9)), 'fpnChannels 1e9 (a RangeError)'),
      r('weights-f16-relabelled-i16', 'relabel.weights.safetensors', joinSafetensors(JSON.stringify(relabel), data), 'a float tensor relabelled as integers, same shape (loads and predicts nothing)'),
      r('weights-nan', 'nan.weights.safetensors', nan, 'a NaN weight'),
    ];
  },
  run(path) {
    if (path.endsWith('.weights.safetensors')) loadWeights(path);
    else loadSafetensors(path);
    return null;
  },
  names: (path) => [basename(path)],
};

const layoutCache = new Map<string, SafetensorsLayout>();

function oracleFor(ctx: Record<string, unknown>, weights: boolean): (bytes: Uint8Array) => string | null {
  if (!weights) return (b) => safetensorsProblem(b, null, null);
  const path = ctx.weights as string;
  let seed = layoutCache.get(path);
  if (seed === undefined) {
    seed = parseSafetensorsLayout(new Uint8Array(readFileSync(path))) as SafetensorsLayout;
    layoutCache.set(path, seed);
  }
  const s = seed;
  return (b) => safetensorsProblem(b, s, ctx.config);
}
