/**
 * PNG images in and out, as tensors.
 *
 * Reading goes through `pngjs` and accepts every PNG it decodes: bit depths 1, 2, 4, 8 and 16;
 * gray, gray+alpha, RGB, RGBA and palette images; interlaced or not. Samples are read at their
 * full precision (`skipRescale`), so a 16-bit image keeps its 65536 levels instead of being
 * rounded to 8 bits first, and then scaled by the largest value of the image's bit depth
 * (`2^depth - 1`; 255 for palette images, whose palette entries are 8-bit).
 *
 * Before anything is inflated, a file is held to two limits of `lib/util/limits.ts`, each
 * with an environment variable to raise it: its declared pixels (`MASKRCNN_MAX_IMAGE_PIXELS`,
 * Pillow's 89,478,485 by default), and, for images over 16 MiB of decoded data, the ratio of
 * decoded to compressed bytes (`MASKRCNN_MAX_INFLATE_RATIO`, 100 by default): a decompression
 * bomb (6000x6000 pixels of one colour fit in 105 KB) fails in milliseconds, where decoding it
 * took seconds and hundreds of MB. Large images of few colours need the ratio raised: shapes
 * images written with `--size 4096` compress about 730x. The compressed
 * data is inflated no further than the declared size needs, and more data than that is an error.
 *
 * The default result is what a detector eats and what torchvision's `read_image(path,
 * ImageReadMode.RGB)` followed by `/ 255` gives: a float32 `[3, H, W]` tensor, RGB, values in
 * [0, 1]. How the other kinds of PNG become RGB:
 * - gray (and gray+alpha) images repeat the gray value in R, G and B (PIL's `convert('RGB')`);
 * - alpha is dropped, not composited: a transparent pixel keeps the colour stored under it
 *   (again as PIL and libpng's `strip_alpha` do). Ask for `mode: 'rgba'` to keep alpha as a
 *   fourth channel;
 * - palette images are looked up in their palette; a `tRNS` chunk becomes alpha;
 * - a `tRNS` transparent colour in a gray or RGB image becomes alpha 0 on the pixels of that
 *   colour, which keep their colour (pngjs alone would turn them black; we undo that).
 *
 * `mode: 'gray'` gives `[1, H, W]`: the gray value of gray images, and PIL's ITU-R 601-2 luma
 * `L = 0.299 R + 0.587 G + 0.114 B` of colour images. `range: 'byte'` gives values in
 * [0, 255] instead of [0, 1] (16-bit values are scaled by 255/65535, not rounded).
 *
 * Writing takes a `[C, H, W]` (or `[H, W]`) tensor with C = 1 (gray), 2 (gray+alpha),
 * 3 (RGB) or 4 (RGBA), or raw interleaved bytes, and writes an 8- or 16-bit PNG of that colour
 * type. Files are written atomically: to a temporary file in the same directory, then renamed,
 * so a reader never sees half a file.
 *
 * @module
 */
import { readFileBytes } from '../../util/read_file.js';
import { writeFileAtomic } from '../../util/atomic_write.js';
import { inflateSync } from 'node:zlib';
import pngjs from 'pngjs';
import { Tensor } from '../../tensor/index.js';
import { checkImageSize, howToRaise, inputLimits } from '../../util/limits.js';

const { PNG } = pngjs;

/** The eight bytes every PNG file starts with. */
const PNG_SIGNATURE = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];

/** Which channels {@link readPng} returns (torchvision's `ImageReadMode`, in lower case). */
export type PngMode = 'rgb' | 'rgba' | 'gray';

/** The value range of the tensors read and written: [0, 1] (`'unit'`) or [0, 255] (`'byte'`). */
export type PngRange = 'unit' | 'byte';

/** Options of {@link readPng} and {@link pngToTensor}. */
export interface ReadPngOptions {
  /** Channels of the result: `'rgb'` → `[3,H,W]` (default), `'rgba'` → `[4,H,W]`, `'gray'` → `[1,H,W]`. */
  mode?: PngMode;
  /** Values in [0, 1] (`'unit'`, default) or in [0, 255] (`'byte'`). */
  range?: PngRange;
}

/** A decoded PNG before conversion to a tensor: the pixels as pngjs gives them, at full precision. */
export interface DecodedPng {
  /** Width in pixels. */
  width: number;
  /** Height in pixels. */
  height: number;
  /** Bits per sample in the file: 1, 2, 4, 8 or 16 (palette images: bits per index). */
  bitDepth: number;
  /** The PNG colour type: 0 gray, 2 RGB, 3 palette, 4 gray+alpha, 6 RGBA. */
  colorType: number;
  /** Whether the file stores gray values (colour types 0 and 4). */
  gray: boolean;
  /** Whether the image has transparency (an alpha channel or a `tRNS` chunk). */
  hasAlpha: boolean;
  /** The value of a fully bright sample (and of opaque alpha): `2^bitDepth - 1`, or 255 for palette images. */
  maxValue: number;
  /** The pixels, interleaved RGBA, row-major, raw sample values in 0..maxValue. */
  rgba: Uint8Array | Uint16Array;
}

/** A raw image to write: interleaved 8-bit samples, row-major. */
export interface RawImage {
  /** Width in pixels. */
  width: number;
  /** Height in pixels. */
  height: number;
  /** Samples per pixel: 1 gray, 2 gray+alpha, 3 RGB, 4 RGBA (default 4). */
  channels?: 1 | 2 | 3 | 4;
  /** `width * height * channels` bytes. */
  data: Uint8Array;
}

/** Options of {@link writePng} and {@link encodePng}. */
export interface WritePngOptions {
  /** Bits per sample of the file: 8 (default) or 16. Raw byte images are always written at 8 bits. */
  bitDepth?: 8 | 16;
  /** The range of the tensor's values: [0, 1] (`'unit'`, default) or [0, 255] (`'byte'`). */
  range?: PngRange;
}

function hasSignature(buffer: Uint8Array): boolean {
  if (buffer.length < PNG_SIGNATURE.length) return false;
  return PNG_SIGNATURE.every((b, i) => buffer[i] === b);
}

const CRC_TABLE = (() => {
  const table = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    table[n] = c >>> 0;
  }
  return table;
})();

/** The CRC-32 of `bytes[start, end)` (the PNG/zlib polynomial). */
function crc32(bytes: Uint8Array, start: number, end: number): number {
  let c = 0xffffffff;
  for (let i = start; i < end; i++) c = CRC_TABLE[(c ^ bytes[i]!) & 0xff]! ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

/** Samples per pixel of each PNG colour type. */
const CHANNELS: Record<number, number> = { 0: 1, 2: 3, 3: 1, 4: 2, 6: 4 };

/** Adam7 passes: x start, y start, x step, y step. */
const ADAM7 = [
  [0, 0, 8, 8],
  [4, 0, 8, 8],
  [0, 4, 4, 8],
  [2, 0, 4, 4],
  [0, 2, 2, 4],
  [1, 0, 2, 2],
  [0, 1, 1, 2],
] as const;

/** Bytes of filtered scanlines (a filter byte per row) that an image's IDAT must inflate to. */
function expectedImageBytes(width: number, height: number, bitsPerPixel: number, interlaced: boolean): number {
  const rowBytes = (w: number): number => 1 + Math.ceil((w * bitsPerPixel) / 8);
  if (!interlaced) return height * rowBytes(width);
  let total = 0;
  for (const [xs, ys, dx, dy] of ADAM7) {
    const w = width > xs ? Math.ceil((width - xs) / dx) : 0;
    const h = height > ys ? Math.ceil((height - ys) / dy) : 0;
    if (w > 0 && h > 0) total += h * rowBytes(w);
  }
  return total;
}

/** Bit depths the PNG specification allows for each colour type. */
const DEPTHS: Record<number, readonly number[]> = { 0: [1, 2, 4, 8, 16], 2: [8, 16], 3: [1, 2, 4, 8], 4: [8, 16], 6: [8, 16] };

/** Images that decode to at most this many bytes are never held to the inflate-ratio limit. */
const INFLATE_RATIO_FLOOR = 16 * 1024 * 1024;

/**
 * Walks the chunk list (length, type, data, CRC), inflates the image data and returns why the
 * file is broken, or null. pngjs checks some of this, but its synchronous reader reports most
 * problems as a vague "content at end of stream", and it does not notice corrupt compressed
 * data (it then decodes uninitialised memory), so this pass runs first and names the problem.
 *
 * Before anything is inflated, the declared size is checked against the pixel limit and, for
 * images over 16 MiB of decoded data, the ratio of decoded to compressed bytes against the
 * inflate-ratio limit (a decompression bomb: 6000x6000 pixels of one colour fit in 105 KB);
 * these throw an error saying how to raise the limit. Inflating stops at the bytes the
 * declared size needs, so memory is bounded by the declared size, not by the data.
 */
function pngProblem(buffer: Uint8Array, what: string): string | null {
  const view = new DataView(buffer.buffer, buffer.byteOffset, buffer.byteLength);
  let offset = PNG_SIGNATURE.length;
  let header: { width: number; height: number; depth: number; colorType: number; interlaced: boolean } | undefined;
  const idat: Uint8Array[] = [];
  for (;;) {
    if (offset >= buffer.length) return 'the file is truncated (no IEND chunk)';
    if (offset + 8 > buffer.length) return `the file is truncated (a chunk header at byte ${offset} is cut off)`;
    const length = view.getUint32(offset);
    const type = String.fromCharCode(...buffer.subarray(offset + 4, offset + 8));
    if (!/^[A-Za-z]{4}$/.test(type)) return `bad chunk type ${JSON.stringify(type)} at byte ${offset}`;
    if (header === undefined && type !== 'IHDR') return `the first chunk is ${type}, expected IHDR`;
    const end = offset + 8 + length + 4;
    if (end > buffer.length) {
      return `the file is truncated (chunk ${type} at byte ${offset} needs ${length + 12} bytes, ${buffer.length - offset} remain)`;
    }
    if (crc32(buffer, offset + 4, offset + 8 + length) !== view.getUint32(offset + 8 + length)) {
      return `chunk ${type} at byte ${offset} has a bad CRC (the data is corrupt)`;
    }
    const data = buffer.subarray(offset + 8, offset + 8 + length);
    if (type === 'IHDR') {
      if (header !== undefined) return `a second IHDR chunk at byte ${offset} (a PNG has exactly one)`;
      if (length !== 13) return `the IHDR chunk has ${length} bytes, expected 13`;
      header = {
        width: view.getUint32(offset + 8),
        height: view.getUint32(offset + 12),
        depth: data[8]!,
        colorType: data[9]!,
        interlaced: data[12] === 1,
      };
      if (header.width === 0 || header.height === 0) return `the image is ${header.width}x${header.height} pixels`;
      if (CHANNELS[header.colorType] === undefined) return `unknown colour type ${header.colorType}`;
      if (!DEPTHS[header.colorType]!.includes(header.depth)) return `bit depth ${header.depth} is not allowed for colour type ${header.colorType}`;
      if (data[10] !== 0 || data[11] !== 0 || data[12]! > 1) {
        return `unknown compression, filter or interlace method (${data[10]}, ${data[11]}, ${data[12]}; expected 0, 0, 0 or 1)`;
      }
      checkImageSize(header.width, header.height, what);
    } else if (type === 'IDAT') idat.push(data);
    else if (type === 'IEND') break;
    offset = end;
  }
  if (idat.length === 0) return 'there is no image data (no IDAT chunk)';
  const { width, height, depth, colorType, interlaced } = header!;
  const expected = expectedImageBytes(width, height, CHANNELS[colorType]! * depth, interlaced);
  const compressed = idat.reduce((n, d) => n + d.length, 0);
  const maxRatio = inputLimits().maxInflateRatio;
  if (expected > INFLATE_RATIO_FLOOR && expected > compressed * maxRatio) {
    throw new Error(
      `${what}: a ${width}x${height} image that decodes to ${expected} bytes from ${compressed} bytes of compressed data ` +
        `(${Math.round(expected / compressed)}x) is over the limit of ${maxRatio}x for images over ${INFLATE_RATIO_FLOOR} bytes ` +
        `(a decompression bomb guard; photographs compress far less); ${howToRaise('maxInflateRatio')}`,
    );
  }
  let inflated: Buffer;
  try {
    inflated = inflateSync(Buffer.concat(idat), { maxOutputLength: expected });
  } catch (error) {
    if ((error as { code?: string }).code === 'ERR_BUFFER_TOO_LARGE') {
      return `the image data inflates to more than the ${expected} bytes a ${width}x${height} image needs`;
    }
    return `the compressed image data is corrupt (${error instanceof Error ? error.message : String(error)})`;
  }
  if (inflated.length < expected) {
    return `the image data inflates to ${inflated.length} bytes, a ${width}x${height} image needs ${expected}`;
  }
  return null;
}

/**
 * Decodes PNG bytes.
 *
 * Throws `decodePng: SOURCE is not a valid PNG: REASON` for anything that is not a whole, valid
 * PNG: a wrong signature, a truncated file, a chunk with a bad CRC, corrupt compressed data.
 * Throws `decodePng: SOURCE: ...` with how to raise the limit for an image over the pixel
 * limit (Pillow's `MAX_IMAGE_PIXELS` by default) or a decompression bomb (more than 16 MiB
 * decoded at more than `maxInflateRatio` times the compressed size); both are checked before
 * anything is inflated.
 *
 * @param buffer - the file's bytes.
 * @param source - names the bytes in errors, e.g. the file's path.
 * @param op - names the operation at the start of errors (`readPng` passes its own name).
 */
export function decodePng(buffer: Uint8Array, source = '<buffer>', op = 'decodePng'): DecodedPng {
  const invalid = (reason: string): Error => new Error(`${op}: ${source} is not a valid PNG: ${reason}`);
  if (buffer.length === 0) throw invalid('the file is empty');
  if (!hasSignature(buffer)) throw invalid('it does not start with the PNG signature');
  const problem = pngProblem(buffer, `${op}: ${source}`);
  if (problem !== null) throw invalid(problem);
  let png: ReturnType<typeof PNG.sync.read>;
  try {
    const bytes = Buffer.isBuffer(buffer) ? buffer : Buffer.from(buffer.buffer, buffer.byteOffset, buffer.byteLength);
    png = PNG.sync.read(bytes, { skipRescale: true });
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    // pngjs reports a file that ends early as pending reads "waitng on finished stream".
    throw invalid(/finished stream|Ran out of data|unexpected end/i.test(message) ? `the image data ends early (${message})` : message);
  }
  const { width, height, depth, colorType } = png;
  const raw = png.data as unknown as Uint8Array | Uint16Array;
  if (raw.length !== width * height * 4) {
    throw invalid(`decoded ${raw.length} samples for a ${width}x${height} image, expected ${width * height * 4}`);
  }
  const palette = (colorType as number) === 3;
  const maxValue = palette ? 255 : 2 ** depth - 1;
  const rgba = depth === 16 ? new Uint16Array(raw) : new Uint8Array(raw.buffer, raw.byteOffset, raw.length).slice();
  // pngjs zeroes all four samples of a pixel that matches the tRNS colour of a gray or RGB
  // image. Those pixels had exactly that colour, and only they can have alpha 0 here (these
  // colour types have no alpha channel), so put the colour back and keep alpha 0.
  const transColor = (png as unknown as { transColor?: number[] }).transColor;
  if (transColor !== undefined && (colorType === 0 || colorType === 2)) {
    const [r, g, b] = transColor.length === 1 ? [transColor[0]!, transColor[0]!, transColor[0]!] : transColor;
    for (let p = 0; p < rgba.length; p += 4) {
      if (rgba[p + 3] === 0) {
        rgba[p] = r!;
        rgba[p + 1] = g!;
        rgba[p + 2] = b!;
      }
    }
  }
  return {
    width,
    height,
    bitDepth: depth,
    colorType,
    gray: colorType === 0 || colorType === 4,
    hasAlpha: png.alpha || transColor !== undefined,
    maxValue,
    rgba,
  };
}

/** Converts a decoded PNG to a float32 `[C, H, W]` tensor (see the module notes for the rules). */
export function pngToTensor(png: DecodedPng, options: ReadPngOptions = {}): Tensor {
  const mode = options.mode ?? 'rgb';
  const range = options.range ?? 'unit';
  if (mode !== 'rgb' && mode !== 'rgba' && mode !== 'gray') {
    throw new Error(`pngToTensor: mode must be 'rgb', 'rgba' or 'gray', got '${String(mode)}'`);
  }
  if (range !== 'unit' && range !== 'byte') {
    throw new Error(`pngToTensor: range must be 'unit' or 'byte', got '${String(range)}'`);
  }
  const { width, height, rgba } = png;
  const plane = width * height;
  // Divide last, so that 8-bit values give exactly fround(v / 255).
  const top = range === 'unit' ? 1 : 255;
  const max = png.maxValue;
  if (mode === 'gray') {
    const out = new Float32Array(plane);
    for (let p = 0; p < plane; p++) {
      const r = rgba[4 * p]!;
      // Gray images store R = G = B; colour ones get PIL's luma.
      out[p] = ((png.gray ? r : 0.299 * r + 0.587 * rgba[4 * p + 1]! + 0.114 * rgba[4 * p + 2]!) * top) / max;
    }
    return new Tensor(out, [1, height, width], 'float32');
  }
  const channels = mode === 'rgba' ? 4 : 3;
  const out = new Float32Array(channels * plane);
  for (let c = 0; c < channels; c++) {
    const base = c * plane;
    for (let p = 0; p < plane; p++) out[base + p] = (rgba[4 * p + c]! * top) / max;
  }
  return new Tensor(out, [channels, height, width], 'float32');
}

/**
 * Reads a PNG file into a float32 tensor: `[3, H, W]` RGB in [0, 1] by default.
 *
 * Errors name the file: `readPng: /path/x.png is not a valid PNG: the file is truncated (...)`,
 * `readPng: cannot read /path/x.png: ENOENT ...`.
 */
export function readPng(path: string, options: ReadPngOptions = {}): Tensor {
  return pngToTensor(readPngFile(path), options);
}

/** Reads and decodes a PNG file without converting it to a tensor (errors as {@link readPng}). */
export function readPngFile(path: string): DecodedPng {
  const bytes = readFileBytes(path, 'readPng');
  return decodePng(bytes, path, 'readPng');
}

const COLOR_TYPES = { 1: 0, 2: 4, 3: 2, 4: 6 } as const;

/** Samples per pixel, height, width and a sample reader of a tensor or raw image to write. */
function layoutOf(op: string, image: Tensor | RawImage): { channels: 1 | 2 | 3 | 4; height: number; width: number } {
  if (image instanceof Tensor) {
    const shape = image.shape;
    if (shape.length === 2) return { channels: 1, height: shape[0]!, width: shape[1]! };
    if (shape.length === 3 && shape[0]! >= 1 && shape[0]! <= 4) {
      return { channels: shape[0] as 1 | 2 | 3 | 4, height: shape[1]!, width: shape[2]! };
    }
    throw new Error(`${op}: expected a [C,H,W] tensor with C in 1..4 or an [H,W] tensor, got shape [${shape.join(',')}]`);
  }
  const channels = image.channels ?? 4;
  if (![1, 2, 3, 4].includes(channels)) throw new Error(`${op}: channels must be 1, 2, 3 or 4, got ${channels}`);
  const { width, height } = image;
  if (!Number.isInteger(width) || !Number.isInteger(height) || width < 1 || height < 1) {
    throw new Error(`${op}: width and height must be positive integers, got ${width}x${height}`);
  }
  if (image.data.length !== width * height * channels) {
    throw new Error(
      `${op}: a ${width}x${height} image with ${channels} channels needs ${width * height * channels} bytes, got ${image.data.length}`,
    );
  }
  return { channels, height, width };
}

/**
 * Encodes an image as PNG bytes: a `[C, H, W]` or `[H, W]` tensor (values in [0, 1], or
 * [0, 255] with `range: 'byte'`; rounded and clamped), or raw interleaved 8-bit samples.
 * C = 1, 2, 3, 4 give gray, gray+alpha, RGB and RGBA files. NaN values are an error.
 */
export function encodePng(image: Tensor | RawImage, options: WritePngOptions = {}): Buffer {
  const op = 'encodePng';
  const { channels, height, width } = layoutOf(op, image);
  if (width < 1 || height < 1) throw new Error(`${op}: cannot encode an empty ${width}x${height} image`);
  const colorType = COLOR_TYPES[channels];
  const plane = width * height;
  let data: Buffer;
  let bitDepth: 8 | 16 = 8;
  if (image instanceof Tensor) {
    bitDepth = options.bitDepth ?? 8;
    if (bitDepth !== 8 && bitDepth !== 16) throw new Error(`${op}: bitDepth must be 8 or 16, got ${String(bitDepth)}`);
    const range = options.range ?? 'unit';
    if (range !== 'unit' && range !== 'byte') throw new Error(`${op}: range must be 'unit' or 'byte', got '${String(range)}'`);
    const maxValue = bitDepth === 16 ? 65535 : 255;
    const scale = maxValue / (range === 'unit' ? 1 : 255);
    const samples = bitDepth === 16 ? new Uint16Array(plane * channels) : new Uint8Array(plane * channels);
    const src = image.data;
    for (let c = 0; c < channels; c++) {
      for (let p = 0; p < plane; p++) {
        const v = src[c * plane + p]!;
        if (Number.isNaN(v)) throw new Error(`${op}: the tensor has a NaN at channel ${c}, pixel ${p}`);
        samples[p * channels + c] = Math.min(maxValue, Math.max(0, Math.round(v * scale)));
      }
    }
    // pngjs reads 16-bit input as a Uint16Array over the buffer (native byte order).
    data = Buffer.from(samples.buffer, 0, samples.byteLength);
  } else {
    if (options.bitDepth === 16) throw new Error(`${op}: raw byte images are written at 8 bits; pass a tensor for 16 bits`);
    data = Buffer.from(image.data.buffer, image.data.byteOffset, image.data.byteLength);
  }
  const png = { width, height, data } as unknown as InstanceType<typeof PNG>;
  return PNG.sync.write(png, {
    colorType,
    inputColorType: colorType,
    inputHasAlpha: channels === 2 || channels === 4,
    bitDepth,
  });
}

/** Encodes an image as PNG (see {@link encodePng}) and writes it to `path` atomically. */
export function writePng(path: string, image: Tensor | RawImage, options: WritePngOptions = {}): void {
  let bytes: Buffer;
  try {
    bytes = encodePng(image, options);
  } catch (error) {
    throw new Error(`writePng: ${path}: ${error instanceof Error ? error.message : String(error)}`);
  }
  writeFileAtomic(path, bytes, 'writePng');
}

