/**
 * Fuzzed reader: `readImage` on JPEG files (so `decodeJpeg` and the decoder of
 * `lib/maskrcnn/data/jpeg_decode.ts`, after the magic-number check every image read goes through).
 *
 * Seeds: the committed Pillow / cjpeg fixtures of `test/fixtures/jpeg` (baseline 4:4:4 and
 * 4:2:0, gray, progressive, restart intervals, progressive with restarts, 4:4:0, CMYK, EXIF).
 *
 * Oracle (certainly invalid), from ITU-T T.81 Annex B and G: no SOI marker; bytes between
 * segments that are not a marker (fill bytes `FF` allowed, B.1.1.2), `FF 00` or a second SOI
 * outside image data; a segment length under 2 or past the end; the file ending before EOI; a
 * second frame header, or none before the first scan, or no scan; a frame header whose length
 * is not 8 + 3 Nf, with no component, a zero width, sampling factors outside 1..4, a
 * quantisation table selector over 3, a repeated component identifier, or more pixels than the
 * shared limit; a DQT with Pq over 1 or Tq over 3 or cut short; a DHT with Tc over 1 or Th over
 * 3, more than 256 values, cut short, or more codes of a length than the lengths allow (the
 * all-ones code is reserved, C.2); a DRI that is not 4 bytes; a scan header whose length is not
 * 6 + 2 Ns, with Ns outside 1..4, a component not in the frame or named twice, more than 10
 * blocks per MCU, a Huffman or quantisation table it uses not defined before it, or band and
 * bit positions outside what the frame's process allows (sequential: Ss 0, Se 63, Ah Al 0;
 * progressive: a DC band alone, an AC band of one component within 1..63, Ah 0 or Al + 1); in
 * the entropy-coded data, restart markers not numbered RST0, RST1, ... RST7, RST0 in turn or
 * not exactly one per restart interval (none without a DRI), B.2.1 and F.2.1.3.1. The coded
 * bits themselves are not judged: a flipped bit there may well decode to another valid image.
 * A decompression bomb within the pixel limit is valid: the reader must decode it within the
 * guards (or refuse it by its decoded-to-compressed ratio limit, with how to raise it).
 */
import { copyFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { readImage } from '../../../lib/maskrcnn/data/image.js';
import { DEFAULT_INPUT_LIMITS } from '../../../lib/util/limits.js';
import { type Rng, mutateBytes } from '../mutate.js';
import { type FuzzCase, type FuzzReader, type ReaderContext, makeCase } from '../spec.js';

/** The committed fixtures used as seeds. */
const FIXTURES = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..', 'test', 'fixtures', 'jpeg');
const SEED_FILES = ['rgb.jpg', 's420.jpg', 'gray.jpg', 'progressive.jpg', 'restart.jpg', 'progressive_restart.jpg', 's440.jpg', 'cmyk.jpg', 'orient8.jpg'];

/** A marker segment's place in a file: the marker code, the offset of its `FF`, its length field. */
interface Segment {
  marker: number;
  at: number;
  /** The length field (the segment's bytes after the marker, length field included); 0 for markers without one. */
  length: number;
  /** For SOS: where its entropy-coded data ends (the next marker that is not RSTn). */
  dataEnd?: number;
}

/** The segments of a well-formed file, in order (to aim mutations; stops at the first oddity). */
function segments(bytes: Uint8Array): Segment[] {
  const out: Segment[] = [];
  let at = 2;
  while (at + 4 <= bytes.length && bytes[at] === 0xff) {
    const marker = bytes[at + 1]!;
    if (marker === 0xd9) break;
    const length = (bytes[at + 2]! << 8) | bytes[at + 3]!;
    const seg: Segment = { marker, at, length };
    out.push(seg);
    at += 2 + length;
    if (marker === 0xda) {
      while (at + 1 < bytes.length && !(bytes[at] === 0xff && bytes[at + 1] !== 0x00 && !(bytes[at + 1]! >= 0xd0 && bytes[at + 1]! <= 0xd7))) at++;
      seg.dataEnd = at;
    }
  }
  return out;
}

/** Why JPEG bytes are certainly invalid (see the module comment), or null. */
export function jpegProblem(bytes: Uint8Array): string | null {
  if (bytes.length < 2 || bytes[0] !== 0xff || bytes[1] !== 0xd8) return 'no SOI marker';
  const n = bytes.length;
  let frame: { progressive: boolean; width: number; height: number; comps: Map<number, { h: number; v: number; tq: number }>; maxH: number; maxV: number } | undefined;
  const quant = [false, false, false, false];
  const huff = [[false, false, false, false], [false, false, false, false]];
  const latched = new Set<number>();
  let restart = 0;
  let scans = 0;
  let at = 2;
  for (;;) {
    if (at >= n) return 'the file ends before the EOI marker';
    if (bytes[at] !== 0xff) return `no marker at byte ${at}`;
    while (bytes[at + 1] === 0xff) at++;
    const marker = bytes[at + 1];
    if (marker === undefined) return 'the file ends in a marker';
    at += 2;
    if (marker === 0xd9) break;
    if (marker === 0x00) return 'FF 00 outside entropy-coded data';
    if (marker === 0xd8) return 'a second SOI';
    if (marker === 0x01 || (marker >= 0xd0 && marker <= 0xd7)) continue;
    if (at + 2 > n) return 'a segment length is cut off';
    const length = (bytes[at]! << 8) | bytes[at + 1]!;
    if (length < 2 || at + length > n) return `segment 0x${marker.toString(16)} has length ${length} (past the end or under 2)`;
    const seg = bytes.subarray(at + 2, at + length);
    at += length;
    if (marker >= 0xc0 && marker <= 0xcf && marker !== 0xc4 && marker !== 0xc8 && marker !== 0xcc) {
      if (frame !== undefined) return 'a second frame header';
      const nf = seg[5] ?? 0;
      if (seg.length !== 6 + 3 * nf) return `a frame header of ${length} bytes for ${nf} components`;
      if (nf === 0) return 'a frame with no component';
      const width = (seg[3]! << 8) | seg[4]!;
      const height = (seg[1]! << 8) | seg[2]!;
      if (width === 0) return 'a zero width';
      if (width * height > DEFAULT_INPUT_LIMITS.maxImagePixels) return `${width}x${height} is over the pixel limit`;
      const comps = new Map<number, { h: number; v: number; tq: number }>();
      for (let i = 0; i < nf; i++) {
        const id = seg[6 + 3 * i]!;
        const h = seg[7 + 3 * i]! >> 4;
        const v = seg[7 + 3 * i]! & 15;
        const tq = seg[8 + 3 * i]!;
        if (h < 1 || h > 4 || v < 1 || v > 4) return `sampling factors ${h}x${v}`;
        if (tq > 3) return `quantisation table selector ${tq}`;
        if (comps.has(id)) return `component ${id} twice in the frame`;
        comps.set(id, { h, v, tq });
      }
      const maxH = Math.max(...[...comps.values()].map((c) => c.h));
      const maxV = Math.max(...[...comps.values()].map((c) => c.v));
      frame = { progressive: marker === 0xc2 || marker === 0xc6 || marker === 0xca || marker === 0xce, width, height, comps, maxH, maxV };
    } else if (marker === 0xdb) {
      for (let p = 0; p < seg.length; ) {
        const pq = seg[p]! >> 4;
        const tq = seg[p]! & 15;
        if (pq > 1 || tq > 3) return `DQT with Pq ${pq}, Tq ${tq}`;
        if (p + 1 + 64 * (pq + 1) > seg.length) return 'a DQT cut short';
        quant[tq] = true;
        p += 1 + 64 * (pq + 1);
      }
    } else if (marker === 0xc4) {
      for (let p = 0; p < seg.length; ) {
        const tc = seg[p]! >> 4;
        const th = seg[p]! & 15;
        if (tc > 1 || th > 3) return `DHT with Tc ${tc}, Th ${th}`;
        if (p + 17 > seg.length) return 'a DHT cut short';
        let total = 0;
        let code = 0;
        for (let len = 1; len <= 16; len++) {
          const count = seg[p + len]!;
          total += count;
          code += count;
          if (code >= 1 << len && count > 0) return `a DHT with more codes of length ${len} than fit (the all-ones code is reserved)`;
          code *= 2;
        }
        if (total > 256 || p + 17 + total > seg.length) return 'a DHT with over 256 values, or cut short';
        huff[tc]![th] = true;
        p += 17 + total;
      }
    } else if (marker === 0xdd) {
      if (seg.length !== 2) return 'a DRI that is not 4 bytes';
      restart = (seg[0]! << 8) | seg[1]!;
    } else if (marker === 0xda) {
      if (frame === undefined) return 'a scan before the frame header';
      const ns = seg[0] ?? 0;
      if (ns < 1 || ns > 4 || seg.length !== 4 + 2 * ns) return `a scan header of ${length} bytes with Ns ${ns}`;
      const ss = seg[1 + 2 * ns]!;
      const se = seg[2 + 2 * ns]!;
      const ah = seg[3 + 2 * ns]! >> 4;
      const al = seg[3 + 2 * ns]! & 15;
      const ids: number[] = [];
      let blocks = 0;
      for (let i = 0; i < ns; i++) {
        const id = seg[1 + 2 * i]!;
        const c = frame.comps.get(id);
        if (c === undefined || ids.includes(id)) return `scan component ${id} not in the frame or twice`;
        ids.push(id);
        blocks += c.h * c.v;
        const td = seg[2 + 2 * i]! >> 4;
        const ta = seg[2 + 2 * i]! & 15;
        const needsDc = !frame.progressive || (ss === 0 && ah === 0);
        const needsAc = !frame.progressive || ss > 0;
        if ((needsDc && (td > 3 || !huff[0]![td])) || (needsAc && (ta > 3 || !huff[1]![ta]))) return 'a scan uses a Huffman table not defined before it';
        if (!latched.has(id)) {
          if (!quant[c.tq]) return `component ${id}'s quantisation table is not defined before its first scan`;
          latched.add(id);
        }
      }
      if (ns > 1 && blocks > 10) return 'more than 10 blocks per MCU';
      if (frame.progressive) {
        if (ss === 0 ? se !== 0 : se < ss || se > 63 || ns !== 1) return `progressive band Ss ${ss}, Se ${se} with ${ns} components`;
        if (ah !== 0 && ah !== al + 1) return `successive approximation Ah ${ah}, Al ${al}`;
        if (al > 13) return `Al ${al} over 13`;
      } else if (ss !== 0 || se !== 63 || ah !== 0 || al !== 0) return `a sequential scan with Ss ${ss}, Se ${se}, Ah ${ah}, Al ${al}`;
      scans++;
      // The units of the scan (A.2): MCUs when interleaved, else the blocks of the component proper.
      let units: number;
      if (ns === 1) {
        const c = frame.comps.get(ids[0]!)!;
        units = Math.ceil(Math.ceil((frame.width * c.h) / frame.maxH) / 8) * Math.ceil(Math.ceil((frame.height * c.v) / frame.maxV) / 8);
      } else units = Math.ceil(frame.width / (8 * frame.maxH)) * Math.ceil(frame.height / (8 * frame.maxV));
      const expected = restart > 0 ? Math.ceil(units / restart) - 1 : 0;
      let seen = 0;
      for (;;) {
        while (at < n && bytes[at] !== 0xff) at++;
        if (at + 1 >= n) return 'the entropy-coded data runs to the end of the file';
        const next = bytes[at + 1]!;
        if (next === 0x00) at += 2;
        else if (next === 0xff) at += 1;
        else if (next >= 0xd0 && next <= 0xd7) {
          if (next - 0xd0 !== seen % 8) return `restart marker RST${next - 0xd0} where RST${seen % 8} is due`;
          seen++;
          at += 2;
        } else break;
      }
      if (seen !== expected) return `${seen} restart markers in a scan of ${units} units with interval ${restart} (${expected} due)`;
    }
  }
  if (frame === undefined) return 'no frame header';
  if (scans === 0) return 'no scan';
  return null;
}

/**
 * A valid JPEG of `width` x `height` mid-gray pixels that compresses to almost nothing (a
 * decompression bomb): one component, quantisation table of ones, one Huffman code of one bit
 * for a DC difference of 0 and one for end-of-block, so 2 bits a block (sequential), or 1 bit a
 * block with only a DC scan (progressive, the AC bands left out, which is allowed).
 */
export function jpegBomb(width: number, height: number, progressive: boolean): Uint8Array {
  const parts: number[] = [0xff, 0xd8];
  const segment = (marker: number, body: number[]): void => {
    parts.push(0xff, marker, (body.length + 2) >> 8, (body.length + 2) & 255, ...body);
  };
  segment(0xdb, [0x00, ...new Array<number>(64).fill(1)]);
  segment(progressive ? 0xc2 : 0xc0, [8, height >> 8, height & 255, width >> 8, width & 255, 1, 1, 0x11, 0]);
  const oneCode = (tcTh: number): number[] => [tcTh, 1, ...new Array<number>(15).fill(0), 0x00];
  segment(0xc4, [...oneCode(0x00), ...oneCode(0x10)]);
  segment(0xda, [1, 1, 0x00, 0, progressive ? 0 : 63, 0]);
  const blocks = Math.ceil(width / 8) * Math.ceil(height / 8);
  const bits = blocks * (progressive ? 1 : 2);
  const data = new Uint8Array(Math.ceil(bits / 8));
  if (bits % 8 !== 0) data[data.length - 1] = (1 << (8 - (bits % 8))) - 1; // pad the last byte with 1-bits
  const out = new Uint8Array(parts.length + data.length + 2);
  out.set(parts, 0);
  out.set(data, parts.length);
  out.set([0xff, 0xd9], parts.length + data.length);
  return out;
}

/** Bomb sizes kept as regressions: within the 16 MiB decoded floor (decoded), over it (ratio limit), over the pixel limit. */
const BOMBS: ReadonlyArray<readonly [number, number, boolean]> = [[2000, 2000, false], [2000, 2000, true], [6000, 6000, true], [9500, 9500, true]];

/** A copy of `bytes` with `count` bytes set at `at` by `values`. */
function patched(bytes: Uint8Array, at: number, values: number[]): Uint8Array {
  const out = bytes.slice();
  values.forEach((v, i) => {
    if (at + i < out.length) out[at + i] = v;
  });
  return out;
}

function generate(ctx: ReaderContext, rng: Rng, index: number): FuzzCase {
  const seeds = (ctx.seeds as string[]).map((p) => new Uint8Array(readFileSync(p)));
  const s = rng.int(seeds.length);
  const bytes = seeds[s]!;
  const segs = segments(bytes);
  const name = `jpeg:${index}`;
  const file = `case-${index}.jpg`;
  const mk = (b: Uint8Array, mutator: string, note: string): FuzzCase => makeCase(name, file, b, mutator, `seed ${s}: ${note}`, jpegProblem);
  const sof = segs.find((g) => g.marker === 0xc0 || g.marker === 0xc2)!;
  const scansOf = segs.filter((g) => g.marker === 0xda);
  const headerEnd = scansOf[0] !== undefined ? scansOf[0].at : Math.min(bytes.length, 256);
  const roll = rng.int(100);
  if (roll < 12) {
    const v = rng.pick([0, 1, 7, 8, 9, 17, 255, 4096, 9459, 20000, 65535]);
    const field = rng.pick([5, 7]);
    return mk(patched(bytes, sof.at + field, [v >> 8, v & 255]), 'targeted.frameSize', `frame ${field === 5 ? 'height' : 'width'} = ${v}`);
  }
  if (roll < 20) {
    const comps = bytes[sof.at + 9]!;
    const c = rng.int(comps);
    const which = rng.pick(['sampling', 'tq', 'count', 'precision']);
    if (which === 'sampling') {
      const v = rng.pick([0x00, 0x11, 0x12, 0x21, 0x22, 0x44, 0x55, 0x31, 0x13, 0x41, 0xff]);
      return mk(patched(bytes, sof.at + 11 + 3 * c, [v]), 'targeted.frameComponent', `component ${c} sampling factors 0x${v.toString(16)}`);
    }
    if (which === 'tq') return mk(patched(bytes, sof.at + 12 + 3 * c, [rng.pick([1, 2, 3, 4, 255])]), 'targeted.frameComponent', `component ${c} quantisation table changed`);
    if (which === 'count') return mk(patched(bytes, sof.at + 9, [rng.pick([0, 1, 2, 3, 4, 5, 255])]), 'targeted.frameComponent', 'component count changed');
    return mk(patched(bytes, sof.at + 4, [rng.pick([0, 7, 12, 16, 255])]), 'targeted.frameComponent', 'sample precision changed');
  }
  if (roll < 30 && scansOf.length > 0) {
    const sos = rng.pick(scansOf);
    const ns = bytes[sos.at + 4]!;
    const off = rng.pick([4, 5 + 2 * rng.int(ns), 6 + 2 * rng.int(ns), 5 + 2 * ns, 6 + 2 * ns, 7 + 2 * ns]);
    const v = rng.pick([0, 1, 2, 0x10, 0x11, 0x21, 0x32, 63, 64, 255]);
    return mk(patched(bytes, sos.at + off, [v]), 'targeted.scanHeader', `scan header byte ${off} = 0x${v.toString(16)}`);
  }
  if (roll < 40) {
    const g = rng.pick(segs);
    const v = rng.pick([0, 1, 2, 3, g.length - 1, g.length + 1, g.length + 64, 0xffff]);
    return mk(patched(bytes, g.at + 2, [v >> 8, v & 255]), 'targeted.segmentLength', `segment 0x${g.marker.toString(16)} length = ${v}`);
  }
  if (roll < 48) {
    const g = rng.pick(segs);
    const end = g.dataEnd ?? g.at + 2 + g.length;
    const piece = bytes.subarray(g.at, end);
    const out = rng.chance(0.5)
      ? Buffer.concat([bytes.subarray(0, g.at), bytes.subarray(end)])
      : Buffer.concat([bytes.subarray(0, g.at), piece, bytes.subarray(g.at)]);
    return mk(new Uint8Array(out), 'targeted.segmentDropOrDuplicate', `segment 0x${g.marker.toString(16)} dropped or duplicated`);
  }
  if (roll < 56) {
    const tables = segs.filter((g) => g.marker === 0xc4 || g.marker === 0xdb || g.marker === 0xdd);
    const g = rng.pick(tables);
    const out = bytes.slice();
    const flips = 1 + rng.int(3);
    for (let i = 0; i < flips; i++) out[g.at + 4 + rng.int(Math.max(1, g.length - 2))]! ^= 1 << rng.int(8);
    return mk(out, 'targeted.tableFlip', `${flips} bit(s) flipped in segment 0x${g.marker.toString(16)}`);
  }
  if (roll < 72 && scansOf.length > 0) {
    // the entropy-coded data: bit flips, a cut, or a marker written into it
    const sos = rng.pick(scansOf);
    const from = sos.at + 2 + sos.length;
    const to = sos.dataEnd ?? bytes.length;
    const out = bytes.slice();
    const kind = rng.int(3);
    if (kind === 0 || to <= from + 2) {
      const flips = 1 + rng.int(4);
      for (let i = 0; i < flips; i++) out[from + rng.int(Math.max(1, to - from))]! ^= 1 << rng.int(8);
      return mk(out, 'targeted.entropyFlip', `${flips} bit(s) flipped in the data of scan at ${sos.at}`);
    }
    const p = from + rng.int(to - from - 1);
    if (kind === 1) return mk(new Uint8Array(Buffer.concat([bytes.subarray(0, p), bytes.subarray(to)])), 'targeted.entropyCut', `the data of scan at ${sos.at} cut at ${p}`);
    const m = rng.pick([0xd0, 0xd1, 0xd7, 0xd9, 0xd8, 0xda, 0xc4, 0xff, 0x00]);
    return mk(patched(bytes, p, [0xff, m]), 'targeted.entropyMarker', `FF ${m.toString(16)} written at ${p} in the data of scan at ${sos.at}`);
  }
  const m = mutateBytes(bytes, rng, [0, headerEnd], 0.5);
  return mk(m.bytes, m.mutator, m.note);
}

/** The JPEG reader. */
export const jpegReader: FuzzReader = {
  name: 'jpeg',
  title: 'JPEG (`readImage`)',
  prepare(dir, cacheDir) {
    const seeds = SEED_FILES.map((f, i) => {
      const p = join(dir, `seed-${i}.jpg`);
      copyFileSync(join(FIXTURES, f), p);
      return p;
    });
    mkdirSync(cacheDir, { recursive: true });
    const bombs = BOMBS.map(([w, h, progressive]) => {
      const p = join(cacheDir, `bomb-${w}x${h}${progressive ? '-progressive' : ''}.jpg`);
      if (!existsSync(p)) writeFileSync(p, jpegBomb(w, h, progressive));
      return p;
    });
    return { seeds, bombs };
  },
  seeds: (ctx) => (ctx.seeds as string[]).map((p, i) => makeCase(`seed:${i}`, `seed-${i}.jpg`, new Uint8Array(readFileSync(p)), 'seed', `seed ${i} (${SEED_FILES[i]})`, jpegProblem)),
  generate,
  regressions(ctx): FuzzCase[] {
    const out = (ctx.bombs as string[]).map((p, i) => {
      const [w, h, progressive] = BOMBS[i]!;
      const tag = `${w}x${h}${progressive ? '-progressive' : ''}`;
      return makeCase(`regression:jpeg-bomb-${tag}`, `bomb-${i}.jpg`, new Uint8Array(readFileSync(p)), 'regression', `a ${tag} decompression bomb`, jpegProblem);
    });
    const whole = new Uint8Array(readFileSync((ctx.seeds as string[])[1]!));
    for (const fraction of [0.3, 0.85, 0.95]) {
      const cut = Math.floor(whole.length * fraction);
      out.push(makeCase(`regression:jpeg-truncated-${Math.round(fraction * 100)}`, `truncated-${Math.round(fraction * 100)}.jpg`, whole.subarray(0, cut), 'regression', `a 4:2:0 JPEG cut to ${cut} of ${whole.length} bytes`, jpegProblem));
    }
    const sof = segments(whole).find((g) => g.marker === 0xc0)!;
    out.push(makeCase('regression:jpeg-sof-65535', 'sof-65535.jpg', patched(whole, sof.at + 5, [0xff, 0xff, 0xff, 0xff]), 'regression', 'the frame header declares 65535x65535 over a 32x24 image', jpegProblem));
    return out;
  },
  run(path) {
    readImage(path);
    return null;
  },
  names: (path) => [basename(path)],
};
