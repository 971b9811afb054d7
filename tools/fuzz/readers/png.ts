/**
 * Fuzzed reader: `readPng`.
 *
 * Oracle (certainly invalid), from the PNG specification: no PNG signature; a chunk cut off, or
 * with a length over 2^31-1 or a CRC that does not match; the first chunk not a 13-byte IHDR;
 * a width or height of 0 or over 2^31-1; a bit depth / colour type pair the format does not
 * allow; compression or filter method not 0, interlace not 0/1; more pixels than the shared
 * limit (Pillow's MAX_IMAGE_PIXELS); a palette image without PLTE; IDAT chunks not consecutive;
 * an unknown critical chunk; no IEND; image data that does not inflate, or inflates to less than
 * the header declares, or a row with a filter type over 4. Anything else may be valid (bytes
 * after IEND; more image data than the header needs, which decoders commonly ignore). A decompression bomb within the pixel limit is valid: the reader must decode it
 * within the guards.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { crc32, deflateSync, inflateSync } from 'node:zlib';
import { Tensor, encodePng, readPng } from '../../../lib/index.js';
import { DEFAULT_INPUT_LIMITS } from '../../../lib/util/limits.js';
import { type Rng, mutateBytes } from '../mutate.js';
import { type FuzzCase, type FuzzReader, type ReaderContext, makeCase } from '../spec.js';

const SIGNATURE = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];
const ALLOWED_DEPTHS: Readonly<Record<number, readonly number[]>> = { 0: [1, 2, 4, 8, 16], 2: [8, 16], 3: [1, 2, 4, 8], 4: [8, 16], 6: [8, 16] };
const CHANNELS: Readonly<Record<number, number>> = { 0: 1, 2: 3, 3: 1, 4: 2, 6: 4 };

/** A chunk's place in a file. */
interface Chunk {
  type: string;
  /** Offset of the length field. */
  at: number;
  length: number;
}

/** The chunks of a file whose structure is intact (used to mutate valid seeds). */
function chunks(bytes: Uint8Array): Chunk[] {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const out: Chunk[] = [];
  for (let at = 8; at + 12 <= bytes.length; ) {
    const length = view.getUint32(at);
    out.push({ type: String.fromCharCode(...bytes.subarray(at + 4, at + 8)), at, length });
    at += 12 + length;
  }
  return out;
}

/** Rewrites the CRC of the chunk at `at` (after its data was changed on purpose). */
function fixCrc(bytes: Uint8Array, c: Chunk): void {
  new DataView(bytes.buffer, bytes.byteOffset).setUint32(c.at + 8 + c.length, crc32(bytes.subarray(c.at + 4, c.at + 8 + c.length)));
}

/** Bytes of the filtered image data a header declares (interlaced: the seven passes). */
function expectedBytes(width: number, height: number, depth: number, colorType: number, interlace: number): number {
  const row = (w: number): number => (w === 0 ? 0 : 1 + Math.ceil((w * CHANNELS[colorType]! * depth) / 8));
  if (interlace === 0) return height * row(width);
  const passes = [[0, 0, 8, 8], [4, 0, 8, 8], [0, 4, 4, 8], [2, 0, 4, 4], [0, 2, 2, 4], [1, 0, 2, 2], [0, 1, 1, 2]];
  let total = 0;
  for (const [x0, y0, dx, dy] of passes) {
    const w = Math.ceil((width - x0!) / dx!);
    const h = Math.ceil((height - y0!) / dy!);
    if (w > 0 && h > 0) total += h * row(w);
  }
  return total;
}

/** Why PNG bytes are certainly invalid (see the module comment), or null. */
export function pngProblem(bytes: Uint8Array): string | null {
  if (bytes.length < 8 || SIGNATURE.some((b, i) => bytes[i] !== b)) return 'no PNG signature';
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let header: { width: number; height: number; depth: number; colorType: number; interlace: number } | undefined;
  let plte = false;
  let idatState: 'none' | 'open' | 'closed' = 'none';
  const idat: Uint8Array[] = [];
  let at = 8;
  for (;;) {
    if (at + 12 > bytes.length) return `a chunk is cut off at byte ${at} (no IEND)`;
    const length = view.getUint32(at);
    if (length > 2 ** 31 - 1) return `chunk length ${length} over 2^31-1`;
    if (at + 12 + length > bytes.length) return `a chunk at byte ${at} runs past the end of the file`;
    const type = String.fromCharCode(...bytes.subarray(at + 4, at + 8));
    if (crc32(bytes.subarray(at + 4, at + 8 + length)) !== view.getUint32(at + 8 + length)) return `chunk ${JSON.stringify(type)} at byte ${at} has a bad CRC`;
    const data = bytes.subarray(at + 8, at + 8 + length);
    if (header === undefined) {
      if (type !== 'IHDR' || length !== 13) return 'the first chunk is not a 13-byte IHDR';
      const d = new DataView(data.buffer, data.byteOffset, 13);
      header = { width: d.getUint32(0), height: d.getUint32(4), depth: data[8]!, colorType: data[9]!, interlace: data[12]! };
      const { width, height, depth, colorType, interlace } = header;
      if (width === 0 || height === 0 || width > 2 ** 31 - 1 || height > 2 ** 31 - 1) return `size ${width}x${height}`;
      if (!ALLOWED_DEPTHS[colorType]?.includes(depth)) return `bit depth ${depth} with colour type ${colorType}`;
      if (data[10] !== 0 || data[11] !== 0 || interlace > 1) return 'compression, filter or interlace method not allowed';
      if (width * height > DEFAULT_INPUT_LIMITS.maxImagePixels) return `${width}x${height} is over the pixel limit`;
    } else if (type === 'IHDR') return 'a second IHDR';
    else if (type === 'PLTE') plte = true;
    else if (type === 'IDAT') {
      if (idatState === 'closed') return 'IDAT chunks are not consecutive';
      idatState = 'open';
      idat.push(data);
    } else if (type === 'IEND') break;
    else if (/^[A-Z]/.test(type)) return `unknown critical chunk ${JSON.stringify(type)}`;
    if (type !== 'IDAT' && idatState === 'open') idatState = 'closed';
    at += 12 + length;
  }
  const { width, height, depth, colorType, interlace } = header!;
  if (colorType === 3 && !plte) return 'a palette image without PLTE';
  if (idat.length === 0) return 'no IDAT';
  const expected = expectedBytes(width, height, depth, colorType, interlace);
  let raw: Buffer;
  try {
    raw = inflateSync(Buffer.concat(idat), { maxOutputLength: expected });
  } catch (error) {
    // More data than the header needs: decoders commonly read what they need and ignore the rest.
    if ((error as { code?: string }).code === 'ERR_BUFFER_TOO_LARGE') return null;
    return 'the image data does not inflate (corrupt or cut off)';
  }
  if (raw.length !== expected) return `the image data inflates to ${raw.length} bytes, not ${expected}`;
  if (interlace === 0) {
    const row = expected / height;
    for (let y = 0; y < height; y++) if (raw[y * row]! > 4) return `row ${y} has filter type ${raw[y * row]}`;
  }
  return null;
}

/** A valid PNG of `width` x `height` black RGB pixels compressed from zeros: a decompression bomb. */
function bomb(width: number, height: number): Uint8Array {
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr.set([8, 2, 0, 0, 0], 8);
  const chunk = (type: string, data: Uint8Array): Buffer => {
    const out = Buffer.alloc(12 + data.length);
    out.writeUInt32BE(data.length, 0);
    out.write(type, 4, 'latin1');
    out.set(data, 8);
    out.writeUInt32BE(crc32(out.subarray(4, 8 + data.length)), 8 + data.length);
    return out;
  };
  const idat = deflateSync(Buffer.alloc(height * (1 + 3 * width)), { level: 9 });
  return Buffer.concat([Buffer.from(SIGNATURE), chunk('IHDR', ihdr), chunk('IDAT', idat), chunk('IEND', new Uint8Array(0))]);
}

/** Bomb sizes kept as regressions: the two and one just over the pixel limit. */
const BOMBS: ReadonlyArray<readonly [number, number]> = [[4096, 4096], [6000, 6000], [9500, 9500]];

function seedImages(): Uint8Array[] {
  const raw = (width: number, height: number, channels: 1 | 2 | 3 | 4): Uint8Array => {
    const data = new Uint8Array(width * height * channels);
    for (let i = 0; i < data.length; i++) data[i] = (i * 53 + 7) % 256;
    return encodePng({ width, height, channels, data });
  };
  const t = new Float32Array(3 * 4 * 6).map((_, i) => (i % 11) / 10);
  return [raw(16, 12, 3), raw(9, 7, 1), raw(5, 5, 4), raw(7, 3, 2), encodePng(new Tensor(t, [3, 4, 6], 'float32'), { bitDepth: 16 })];
}

function generate(ctx: ReaderContext, rng: Rng, index: number): FuzzCase {
  const seeds = (ctx.seeds as string[]).map((p) => new Uint8Array(readFileSync(p)));
  const s = rng.int(seeds.length);
  const bytes = seeds[s]!.slice();
  const cs = chunks(bytes);
  const name = `png:${index}`;
  const file = `case-${index}.png`;
  const mk = (b: Uint8Array, mutator: string, note: string): FuzzCase => makeCase(name, file, b, mutator, `seed ${s}: ${note}`, pngProblem);
  const view = new DataView(bytes.buffer);
  const ihdr = cs[0]!;
  const roll = rng.int(100);
  if (roll < 15) {
    const v = rng.pick([65535, 100000, 2 ** 31 - 1, 40000, 6000, 4096, 0, 2 ** 31, 2 ** 32 - 1, 1]);
    const field = rng.pick([0, 4, -1]);
    if (field !== 4) view.setUint32(ihdr.at + 8, v);
    if (field !== 0) view.setUint32(ihdr.at + 12, v);
    fixCrc(bytes, ihdr);
    return mk(bytes, 'targeted.giantIhdr', `IHDR ${field === 0 ? 'width' : field === 4 ? 'height' : 'width and height'} = ${v} (CRC fixed)`);
  }
  if (roll < 25) {
    const off = rng.pick([8, 9, 10, 11, 12]);
    const v = rng.pick([0, 1, 2, 3, 4, 5, 6, 7, 8, 16, 32, 255]);
    bytes[ihdr.at + 8 + off] = v;
    fixCrc(bytes, ihdr);
    return mk(bytes, 'targeted.ihdrField', `IHDR byte ${off} = ${v} (CRC fixed)`);
  }
  if (roll < 45) {
    const c = rng.pick(cs.filter((x) => x.length > 0));
    const flips = 1 + rng.int(3);
    for (let i = 0; i < flips; i++) bytes[c.at + 8 + rng.int(c.length)]! ^= 1 << rng.int(8);
    fixCrc(bytes, c);
    return mk(bytes, 'targeted.crcFixedFlip', `${flips} bit(s) flipped in ${c.type} (CRC fixed)`);
  }
  if (roll < 55) {
    const c = rng.pick(cs);
    const v = rng.pick([0xffffffff, 0x7fffffff, c.length + 1, Math.max(0, c.length - 1), 0, 2 ** 24]);
    view.setUint32(c.at, v);
    return mk(bytes, 'targeted.chunkLength', `${c.type} length = ${v}`);
  }
  if (roll < 60) {
    const c = rng.pick(cs);
    const piece = bytes.subarray(c.at, c.at + 12 + c.length);
    const out = rng.chance(0.5)
      ? Buffer.concat([bytes.subarray(0, c.at), bytes.subarray(c.at + 12 + c.length)])
      : Buffer.concat([bytes.subarray(0, c.at), piece, bytes.subarray(c.at)]);
    return mk(new Uint8Array(out), 'targeted.chunkDropOrDuplicate', `${c.type} dropped or duplicated`);
  }
  const m = mutateBytes(bytes, rng, [0, Math.min(bytes.length, 64)], 0.4);
  return mk(m.bytes, m.mutator, m.note);
}

/** The PNG reader. */
export const pngReader: FuzzReader = {
  name: 'png',
  title: 'PNG (`readPng`)',
  prepare(dir, cacheDir) {
    const seeds = seedImages().map((b, i) => {
      const p = join(dir, `seed-${i}.png`);
      writeFileSync(p, b);
      return p;
    });
    mkdirSync(cacheDir, { recursive: true });
    const bombs = BOMBS.map(([w, h]) => {
      const p = join(cacheDir, `bomb-${w}x${h}.png`);
      if (!existsSync(p)) writeFileSync(p, bomb(w, h));
      return p;
    });
    return { seeds, bombs };
  },
  seeds: (ctx) => (ctx.seeds as string[]).map((p, i) => makeCase(`seed:${i}`, `seed-${i}.png`, new Uint8Array(readFileSync(p)), 'seed', `seed ${i}`, pngProblem)),
  generate,
  regressions(ctx): FuzzCase[] {
    const out = (ctx.bombs as string[]).map((p, i) =>
      makeCase(`regression:png-bomb-${BOMBS[i]![0]}x${BOMBS[i]![1]}`, `bomb-${i}.png`, new Uint8Array(readFileSync(p)), 'regression', `a ${BOMBS[i]![0]}x${BOMBS[i]![1]} decompression bomb`, pngProblem),
    );
    const giant = new Uint8Array(readFileSync((ctx.seeds as string[])[0]!));
    const c = chunks(giant)[0]!;
    new DataView(giant.buffer).setUint32(c.at + 8, 65535);
    new DataView(giant.buffer).setUint32(c.at + 12, 65535);
    fixCrc(giant, c);
    out.push(makeCase('regression:png-ihdr-65535', 'ihdr-65535.png', giant, 'regression', 'IHDR declares 65535x65535 (valid CRC) over a 16x12 image', pngProblem));
    return out;
  },
  run(path) {
    readPng(path);
    return null;
  },
  names: (path) => [basename(path)],
};
