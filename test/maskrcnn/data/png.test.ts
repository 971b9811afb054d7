import test from 'tape';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { deflateSync } from 'node:zlib';
import pngjs from 'pngjs';
import { Tensor } from '../../../lib/tensor/index.js';
import { decodePng, encodePng, readPng, readPngFile, writePng } from '../../../lib/maskrcnn/data/png.js';

const { PNG } = pngjs;

// ---- a tiny PNG writer for fixtures pngjs cannot write (palette, 1/2/4-bit, tRNS) ----

const CRC_TABLE = (() => {
  const table = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    table[n] = c >>> 0;
  }
  return table;
})();

function crc32(bytes: Uint8Array): number {
  let c = 0xffffffff;
  for (const b of bytes) c = CRC_TABLE[(c ^ b) & 0xff]! ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

function chunk(type: string, data: Uint8Array): Buffer {
  const out = Buffer.alloc(12 + data.length);
  out.writeUInt32BE(data.length, 0);
  out.write(type, 4, 'ascii');
  Buffer.from(data).copy(out, 8);
  out.writeUInt32BE(crc32(out.subarray(4, 8 + data.length)), 8 + data.length);
  return out;
}

/** A PNG from packed rows (each row already packed at `depth` bits per sample, no filter byte). */
function rawPng(width: number, height: number, depth: number, colorType: number, rows: Uint8Array[], extra: Buffer[] = []): Buffer {
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr[8] = depth;
  ihdr[9] = colorType;
  const filtered = Buffer.concat(rows.map((r) => Buffer.concat([Buffer.from([0]), Buffer.from(r)])));
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', ihdr),
    ...extra,
    chunk('IDAT', deflateSync(filtered)),
    chunk('IEND', new Uint8Array(0)),
  ]);
}

function tempDir(): string {
  return mkdtempSync(join(tmpdir(), 'maskrcnn-png-'));
}

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}

test('png: 8-bit RGB round trip through a file is exact (in 0..255)', (t) => {
  const dir = tempDir();
  try {
    const [h, w] = [5, 7];
    const data = new Float32Array(3 * h * w);
    for (let i = 0; i < data.length; i++) data[i] = (i * 37) % 256;
    const image = new Tensor(data, [3, h, w], 'float32');
    const path = join(dir, 'rgb.png');
    writePng(path, image, { range: 'byte' });
    const decoded = readPngFile(path);
    t.equal(decoded.colorType, 2, 'written as an RGB PNG');
    t.equal(decoded.bitDepth, 8);
    const back = readPng(path, { range: 'byte' });
    t.deepEqual(back.shape, [3, h, w]);
    t.equal(back.dtype, 'float32');
    t.equal(maxAbsDiff(back.data, data), 0, 'byte values exact');
    const unit = readPng(path);
    t.ok(maxAbsDiff(unit.data, Array.from(data, (v) => v / 255)) < 1e-7, 'default range is [0, 1]');
    t.deepEqual(readdirSync(dir), ['rgb.png'], 'no temporary file left behind');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  t.end();
});

test('png: 16-bit round trip keeps 16-bit precision', (t) => {
  const [h, w] = [4, 6];
  for (const channels of [1, 3, 4] as const) {
    const data = new Float32Array(channels * h * w);
    for (let i = 0; i < data.length; i++) data[i] = ((i * 7919) % 65536) / 65535;
    const bytes = encodePng(new Tensor(data, [channels, h, w], 'float32'), { bitDepth: 16 });
    const decoded = decodePng(bytes);
    t.equal(decoded.bitDepth, 16, `${channels} channels: 16-bit file`);
    t.equal(decoded.maxValue, 65535);
    const mode = channels === 1 ? 'gray' : channels === 3 ? 'rgb' : 'rgba';
    const back = readPngBytes(bytes, mode);
    t.deepEqual(back.shape, [channels, h, w]);
    t.ok(maxAbsDiff(back.data, data) < 1e-6, `${channels} channels: values within float rounding (max diff ${maxAbsDiff(back.data, data)})`);
  }
  // Two 16-bit values that round to the same 8-bit value stay different.
  const twoLevels = new Tensor(new Float32Array([1000 / 65535, 1001 / 65535]), [1, 1, 2], 'float32');
  const back = readPngBytes(encodePng(twoLevels, { bitDepth: 16 }), 'gray');
  t.ok(back.data[1]! > back.data[0]!, 'neighbouring 16-bit levels are distinguished');
  t.end();
});

function readPngBytes(bytes: Buffer, mode: 'rgb' | 'rgba' | 'gray'): Tensor {
  const dir = tempDir();
  try {
    const path = join(dir, 'x.png');
    writeFileSync(path, bytes);
    return readPng(path, { mode });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

test('png: gray and gray+alpha files become RGB by repeating gray; alpha is dropped or kept', (t) => {
  const [h, w] = [3, 4];
  const gray = new Uint8Array(h * w).map((_, i) => i * 20);
  const alpha = new Uint8Array(h * w).map((_, i) => 255 - i * 10);
  const grayBytes = encodePng({ width: w, height: h, channels: 1, data: gray });
  t.equal(decodePng(grayBytes).colorType, 0, 'gray file');
  const rgb = readPngBytes(grayBytes, 'rgb');
  t.deepEqual(rgb.shape, [3, h, w]);
  for (let c = 0; c < 3; c++) {
    t.equal(maxAbsDiff(rgb.data.subarray(c * h * w, (c + 1) * h * w), Float32Array.from(gray, (v) => v / 255)), 0, `gray repeated in channel ${c}`);
  }
  const g1 = readPngBytes(grayBytes, 'gray');
  t.deepEqual(g1.shape, [1, h, w]);
  t.equal(maxAbsDiff(g1.data, Float32Array.from(gray, (v) => v / 255)), 0, 'gray mode returns the gray values');

  const ga = new Uint8Array(2 * h * w);
  for (let p = 0; p < h * w; p++) [ga[2 * p], ga[2 * p + 1]] = [gray[p]!, alpha[p]!];
  const gaBytes = encodePng({ width: w, height: h, channels: 2, data: ga });
  t.equal(decodePng(gaBytes).colorType, 4, 'gray+alpha file');
  const gaRgb = readPngBytes(gaBytes, 'rgb');
  t.equal(maxAbsDiff(gaRgb.data.subarray(0, h * w), Float32Array.from(gray, (v) => v / 255)), 0, 'alpha dropped, colour kept (not composited)');
  const gaRgba = readPngBytes(gaBytes, 'rgba');
  t.deepEqual(gaRgba.shape, [4, h, w]);
  t.equal(maxAbsDiff(gaRgba.data.subarray(3 * h * w), Float32Array.from(alpha, (v) => v / 255)), 0, 'rgba mode keeps alpha');
  t.end();
});

test('png: RGBA raw bytes round trip, and gray mode of colour images is the luma', (t) => {
  const [h, w] = [2, 3];
  const rgba = new Uint8Array(4 * h * w).map((_, i) => (i * 53) % 256);
  const bytes = encodePng({ width: w, height: h, data: rgba });
  const decoded = decodePng(bytes);
  t.equal(decoded.colorType, 6, 'RGBA file');
  t.deepEqual(Array.from(decoded.rgba), Array.from(rgba), 'raw RGBA bytes round trip exactly');
  const gray = readPngBytes(bytes, 'gray');
  const expected = Array.from({ length: h * w }, (_, p) => (0.299 * rgba[4 * p]! + 0.587 * rgba[4 * p + 1]! + 0.114 * rgba[4 * p + 2]!) / 255);
  t.ok(maxAbsDiff(gray.data, expected) < 1e-6, 'luma 0.299 R + 0.587 G + 0.114 B');
  t.end();
});

test('png: palette images (with tRNS), 1/2/4-bit gray and a tRNS gray key colour', (t) => {
  // A 4-bit palette image: 3x2 pixels, indices 0..5.
  const palette = [
    [255, 0, 0],
    [0, 255, 0],
    [0, 0, 255],
    [10, 20, 30],
    [200, 100, 50],
    [1, 2, 3],
  ];
  const indices = [
    [0, 1, 2],
    [3, 4, 5],
  ];
  const rows = indices.map((r) => {
    const packed = new Uint8Array(2);
    r.forEach((v, x) => (packed[x >> 1]! |= x % 2 === 0 ? v << 4 : v));
    return packed;
  });
  const plte = chunk('PLTE', Uint8Array.from(palette.flat()));
  const trns = chunk('tRNS', Uint8Array.from([255, 128, 0]));
  const bytes = rawPng(3, 2, 4, 3, rows, [plte, trns]);
  const decoded = decodePng(bytes);
  t.equal(decoded.colorType, 3, 'palette file');
  t.equal(decoded.maxValue, 255, 'palette colours are 8-bit whatever the index depth');
  const rgba = readPngBytes(bytes, 'rgba');
  const plane = 6;
  const flat = indices.flat();
  let ok = true;
  for (let p = 0; p < plane; p++) {
    for (let c = 0; c < 3; c++) if (Math.abs(rgba.data[c * plane + p]! - palette[flat[p]!]![c]! / 255) > 1e-7) ok = false;
  }
  t.ok(ok, 'palette colours looked up');
  t.deepEqual(Array.from(rgba.data.subarray(3 * plane), (v) => Math.round(v * 255)), [255, 128, 0, 255, 255, 255], 'tRNS gives alpha');

  for (const depth of [1, 2, 4]) {
    const maxValue = 2 ** depth - 1;
    const values = [0, maxValue, Math.floor(maxValue / 2), 1];
    let bits = 0;
    let nbits = 0;
    const packed: number[] = [];
    for (const v of values) {
      bits = (bits << depth) | v;
      nbits += depth;
      if (nbits === 8) [packed[packed.length], bits, nbits] = [bits, 0, 0];
    }
    if (nbits > 0) packed.push(bits << (8 - nbits));
    const g = readPngBytes(rawPng(4, 1, depth, 0, [Uint8Array.from(packed)]), 'gray');
    t.deepEqual(Array.from(g.data), values.map((v) => Math.fround(v / maxValue)), `${depth}-bit gray scaled by ${maxValue}`);
  }

  // 8-bit gray with a tRNS key colour 7: those pixels get alpha 0 and keep their gray value.
  const keyed = rawPng(3, 1, 8, 0, [Uint8Array.from([7, 100, 7])], [chunk('tRNS', Uint8Array.from([0, 7]))]);
  const k = readPngBytes(keyed, 'rgba');
  t.deepEqual(Array.from(k.data, (v) => Math.round(v * 255)), [7, 100, 7, 7, 100, 7, 7, 100, 7, 0, 255, 0], 'key colour kept, alpha 0');
  t.end();
});

test('png: interlaced (Adam7) files decode', (t) => {
  // A 5x3 8-bit gray image, written as the 7 Adam7 sub-images, each a run of filtered rows.
  const [w, h] = [5, 3];
  const values = Array.from({ length: w * h }, (_, i) => i * 17);
  const passes = [
    [0, 0, 8, 8],
    [4, 0, 8, 8],
    [0, 4, 4, 8],
    [2, 0, 4, 4],
    [0, 2, 2, 4],
    [1, 0, 2, 2],
    [0, 1, 1, 2],
  ];
  const rows: Uint8Array[] = [];
  for (const [xs, ys, dx, dy] of passes) {
    for (let y = ys!; y < h; y += dy!) {
      const row: number[] = [];
      for (let x = xs!; x < w; x += dx!) row.push(values[y * w + x]!);
      if (row.length > 0) rows.push(Uint8Array.from(row));
    }
  }
  const bytes = rawPng(w, h, 8, 0, rows);
  bytes[8 + 8 + 12] = 1; // IHDR interlace byte
  const ihdrStart = 8;
  const fixed = Buffer.concat([bytes.subarray(0, ihdrStart), chunk('IHDR', bytes.subarray(ihdrStart + 8, ihdrStart + 21)), bytes.subarray(ihdrStart + 25)]);
  const g = readPngBytes(fixed, 'gray');
  t.deepEqual(Array.from(g.data, (v) => Math.round(v * 255)), values, 'pixels in place');
  t.end();
});

test('png: pngjs-written 16-bit files read at full precision (not rescaled to 8 bits)', (t) => {
  const png = new PNG({ width: 2, height: 1 });
  // pngjs takes 16-bit input as native-endian Uint16 samples.
  const samples = new Uint16Array([1000, 2000, 3000, 65535, 1001, 0, 65535, 65535]);
  png.data = Buffer.from(samples.buffer);
  const bytes = PNG.sync.write(png, { bitDepth: 16, colorType: 6, inputColorType: 6 });
  const decoded = decodePng(bytes);
  t.deepEqual(Array.from(decoded.rgba), Array.from(samples), 'raw 16-bit samples');
  t.end();
});

test('png: corrupt, truncated, empty and missing files give errors naming the file', (t) => {
  const dir = tempDir();
  try {
    const good = encodePng({ width: 8, height: 8, channels: 3, data: new Uint8Array(192).fill(9) });
    const ihdr = Buffer.alloc(13);
    ihdr.writeUInt32BE(4, 0);
    ihdr.writeUInt32BE(4, 4);
    [ihdr[8], ihdr[9]] = [8, 2];
    const badZlib = Buffer.concat([good.subarray(0, 8), chunk('IHDR', ihdr), chunk('IDAT', Uint8Array.from([1, 2, 3, 4, 5, 6])), chunk('IEND', new Uint8Array(0))]);
    const short = Buffer.concat([good.subarray(0, 8), chunk('IHDR', ihdr), chunk('IDAT', deflateSync(Buffer.alloc(10))), chunk('IEND', new Uint8Array(0))]);
    const cases: Array<[string, Buffer, RegExp]> = [
      ['short-data.png', short, /is not a valid PNG: the image data inflates to 10 bytes, a 4x4 image needs 52/],
      ['truncated.png', good.subarray(0, good.length - 20), /is not a valid PNG: the file is truncated/],
      ['header-only.png', good.subarray(0, 20), /is not a valid PNG: the file is truncated/],
      ['no-iend.png', good.subarray(0, good.length - 12), /is not a valid PNG: the file is truncated \(no IEND chunk\)/],
      ['bad-zlib.png', badZlib, /is not a valid PNG: the compressed image data is corrupt/],
      ['not-png.png', Buffer.from('hello, I am a text file'), /is not a valid PNG: it does not start with the PNG signature/],
      ['empty.png', Buffer.alloc(0), /is not a valid PNG: the file is empty/],
    ];
    const corrupt = Buffer.from(good);
    corrupt[45] = corrupt[45]! ^ 0xff; // inside the IDAT data: the CRC no longer matches
    cases.push(['corrupt.png', corrupt, /is not a valid PNG: chunk IDAT at byte 33 has a bad CRC/]);
    for (const [name, bytes, pattern] of cases) {
      const path = join(dir, name);
      writeFileSync(path, bytes);
      t.throws(() => readPng(path), (e: Error) => pattern.test(e.message) && e.message.startsWith(`readPng: ${path} `), `${name}: error names the file`);
    }
    const missing = join(dir, 'missing.png');
    t.throws(() => readPng(missing), (e: Error) => e.message.startsWith(`readPng: cannot read ${missing}`), 'missing file named');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  t.end();
});

/** An 8-bit PNG of one colour (all zero) whose IDAT inflates to exactly its declared size: a real bomb when large. */
function zeroPng(width: number, height: number, colorType: 2 | 6, level = 1, extraBytes = 0): Buffer {
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  [ihdr[8], ihdr[9]] = [8, colorType];
  const raw = Buffer.alloc(height * (1 + width * (colorType === 2 ? 3 : 4)) + extraBytes);
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', ihdr),
    chunk('IDAT', deflateSync(raw, { level })),
    chunk('IEND', new Uint8Array(0)),
  ]);
}

/** Runs `fn` with environment variable `name` set to `value`, restoring it after. */
function withEnv<T>(name: string, value: string, fn: () => T): T {
  const saved = process.env[name];
  process.env[name] = value;
  try {
    return fn();
  } finally {
    if (saved === undefined) delete process.env[name];
    else process.env[name] = saved;
  }
}

test('png against hostile files (issue 18): pixel limit and decompression bombs fail before inflating', (t) => {
  for (const [w, h, colorType] of [[4096, 4096, 2], [6000, 6000, 6]] as const) {
    const bomb = zeroPng(w, h, colorType);
    const started = performance.now();
    t.throws(
      () => decodePng(bomb, 'bomb.png'),
      new RegExp(`^Error: decodePng: bomb\\.png: a ${w}x${h} image that decodes to \\d+ bytes from \\d+ bytes of compressed data \\(\\d+x\\) is over the limit of 100x .*raise it with the environment variable MASKRCNN_MAX_INFLATE_RATIO=N`),
      `a ${w}x${h} bomb in ${Math.round(bomb.length / 1024)} KB is refused, saying how to raise the limit`,
    );
    const ms = performance.now() - started;
    t.ok(ms < 500, `at once (${ms.toFixed(0)} ms; decoding it took seconds and hundreds of MB)`);
  }
  // a declared size over the pixel limit (Pillow's MAX_IMAGE_PIXELS) fails on the header alone
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(10000, 0);
  ihdr.writeUInt32BE(10000, 4);
  [ihdr[8], ihdr[9]] = [8, 2];
  const huge = Buffer.concat([zeroPng(1, 1, 2).subarray(0, 8), chunk('IHDR', ihdr), chunk('IDAT', deflateSync(Buffer.alloc(4))), chunk('IEND', new Uint8Array(0))]);
  t.throws(() => decodePng(huge, 'huge.png'), /^Error: decodePng: huge\.png: 10000x10000 = 100000000 pixels is more than the limit of 89478485 .*MASKRCNN_MAX_IMAGE_PIXELS=N/, '10000x10000 declared in a tiny file');
  ihdr.writeUInt32BE(0xffffffff, 0);
  const widest = Buffer.concat([huge.subarray(0, 8), chunk('IHDR', ihdr), chunk('IDAT', deflateSync(Buffer.alloc(4))), chunk('IEND', new Uint8Array(0))]);
  t.throws(() => decodePng(widest, 'w.png'), /w\.png: 4294967295x10000 = .* pixels is more than the limit/, 'a width of 2^32 - 1');
  // under 16 MiB decoded, the ratio does not matter (one colour compresses ~1000x, legitimately)
  const flat = decodePng(zeroPng(1024, 1024, 2, 9), 'flat.png');
  t.deepEqual([flat.width, flat.height], [1024, 1024], 'a flat 1024x1024 image (3 MB decoded, ~1000x) reads');
  // over 16 MiB the limit applies, and raising it as the message says lets the file through
  const big = zeroPng(2400, 2400, 2);
  t.throws(() => decodePng(big, 'big.png'), /big\.png: a 2400x2400 image that decodes to 17282400 bytes/, 'a flat 2400x2400 image (17 MB decoded) is held to the limit');
  const read = withEnv('MASKRCNN_MAX_INFLATE_RATIO', '2000', () => decodePng(big, 'big.png'));
  t.deepEqual([read.width, read.height], [2400, 2400], 'MASKRCNN_MAX_INFLATE_RATIO=2000 reads it');
  t.end();
});

test('png against hostile files (issue 18): bad headers and too much data are named', (t) => {
  const good = zeroPng(4, 4, 2);
  const withIhdr = (edit: (ihdr: Buffer) => void): Buffer => {
    const ihdr = Buffer.from(good.subarray(16, 29));
    edit(ihdr);
    return Buffer.concat([good.subarray(0, 8), chunk('IHDR', ihdr), good.subarray(33)]);
  };
  t.throws(() => decodePng(withIhdr((h) => (h[8] = 4)), 'd.png'), /d\.png is not a valid PNG: bit depth 4 is not allowed for colour type 2/, 'a bit depth the colour type cannot have');
  t.throws(() => decodePng(withIhdr((h) => (h[12] = 2)), 'i.png'), /i\.png is not a valid PNG: unknown compression, filter or interlace method \(0, 0, 2/, 'an unknown interlace method');
  t.throws(() => decodePng(zeroPng(4, 4, 2, 1, 100000), 'x.png'), /x\.png is not a valid PNG: the image data inflates to more than the 52 bytes a 4x4 image needs/, 'extra data is not inflated beyond the declared size');
  t.end();
});

test('png: writing checks its input and leaves no temporary file on failure', (t) => {
  const dir = tempDir();
  try {
    t.throws(() => encodePng(new Tensor(new Float32Array(10), [5, 1, 2], 'float32')), /\[C,H,W\] tensor with C in 1\.\.4/, '5 channels rejected');
    t.throws(() => encodePng({ width: 2, height: 2, data: new Uint8Array(3) }), /needs 16 bytes, got 3/, 'wrong byte count');
    t.throws(() => encodePng(new Tensor(new Float32Array([NaN]), [1, 1, 1], 'float32')), /NaN/, 'NaN rejected');
    const clamped = decodePng(encodePng(new Tensor(new Float32Array([-1, 0.5, 2]), [1, 1, 3], 'float32')));
    t.deepEqual(Array.from(clamped.rgba.filter((_, i) => i % 4 === 0)), [0, 128, 255], 'values clamped and rounded');
    const path = join(dir, 'no-such-dir', 'x.png');
    t.throws(() => writePng(path, { width: 1, height: 1, data: new Uint8Array(4) }), /writePng: cannot write .*no-such-dir/, 'unwritable path named');
    const target = join(dir, 'a.png');
    writePng(target, { width: 1, height: 1, channels: 1, data: Uint8Array.from([10]) });
    writePng(target, { width: 1, height: 1, channels: 1, data: Uint8Array.from([20]) });
    t.equal(decodePng(readFileSync(target)).rgba[0], 20, 'atomic overwrite replaces the file');
    t.deepEqual(readdirSync(dir), ['a.png'], 'only the target file remains (no temporary files)');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  t.end();
});
