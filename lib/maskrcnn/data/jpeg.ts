/**
 * JPEG images in, as tensors (the sibling of `png.ts`; there is no JPEG writer).
 *
 * Decoding is done by our own decoder (`jpeg_decode.ts`: pure TypeScript, synchronous, the same
 * code in Node and the browser, no WebAssembly to fetch): baseline, extended and progressive
 * Huffman-coded JPEGs with 1 (gray), 3 (YCbCr or RGB) or 4 (Adobe CMYK / YCCK) components, 8
 * bits per sample, any integer chroma subsampling, restart intervals. It computes what
 * libjpeg-turbo computes by default (the "islow" inverse DCT, "fancy" upsampling of subsampled
 * chroma, libjpeg's fixed-point YCbCr conversion), so its pixels equal Pillow's
 * (`Image.open(f).convert("RGB")`; torchvision's CPU `decode_jpeg` runs the same libjpeg-turbo
 * defaults, untested here): every fixture of `test/fixtures/jpeg` (`tools/oracle/gen_jpeg.py`)
 * is decoded to exactly Pillow's bytes. Incomplete progressive files (scans that stop before
 * the coefficients are exact) differ: libjpeg smooths them, this decoder does not.
 * Arithmetic-coded, lossless, hierarchical and 12-bit JPEGs are refused with a clear error.
 *
 * Before anything is decoded, the file's segments are walked: it must start with the SOI marker
 * and reach the EOI marker (a truncated or cut file is an error naming it), and the declared
 * size is held to the limits of `lib/util/limits.ts` (`MASKRCNN_MAX_IMAGE_PIXELS`, and the
 * decoded-to-compressed ratio `MASKRCNN_MAX_INFLATE_RATIO` for images over 16 MiB decoded), as
 * PNGs are.
 *
 * EXIF orientation (tag 0x0112 of the APP1 `Exif` segment) is honoured by default: the pixels
 * are turned and mirrored to how a viewer shows them (Pillow's `ImageOps.exif_transpose`; what
 * labelme and browsers, hence VIA, show the annotator). Pass `exifOrientation: false` for the
 * stored pixels (what `PIL.Image.open` and torchvision's `read_image` give by default).
 *
 * The result is the same {@link DecodedPng} record PNGs decode to (8 bits, `colorType` 0 for
 * gray files and 2 for colour ones, no alpha), so {@link pngToTensor}'s conversions apply: gray
 * images repeat the gray value in R, G and B, `mode: 'gray'` gives PIL's luma of colour images.
 *
 * @module
 */
import { readFileBytes } from '../../util/read_file.js';
import { type Tensor } from '../../tensor/index.js';
import { checkImageSize, howToRaise, inputLimits } from '../../util/limits.js';
import { type DecodedPng, type ReadPngOptions, pngToTensor } from './png.js';
import { type JpegPixels, decodeJpegPixels } from './jpeg_decode.js';

/** Options of {@link decodeJpeg} and {@link readJpeg}. */
export interface JpegOrientationOptions {
  /** Turn the pixels as the EXIF orientation tag says (default true); false keeps the stored pixels. */
  exifOrientation?: boolean;
}

/** Options of {@link readJpeg}: the tensor options of {@link ReadPngOptions} and the orientation. */
export interface ReadJpegOptions extends ReadPngOptions, JpegOrientationOptions {}

/** A decoded JPEG: the {@link DecodedPng} fields (8-bit RGBA, opaque) and the EXIF orientation found. */
export interface DecodedJpeg extends DecodedPng {
  /** The EXIF orientation of the file, 1..8 (1 when it has none); applied unless `exifOrientation: false`. */
  orientation: number;
  /** Number of colour components in the file: 1 (gray), 3 (YCbCr or RGB) or 4 (CMYK / YCCK). */
  components: number;
}

/** Whether `buffer` starts with a JPEG's SOI marker followed by another marker (`FF D8 FF`). */
export function isJpeg(buffer: Uint8Array): boolean {
  return buffer.length >= 3 && buffer[0] === 0xff && buffer[1] === 0xd8 && buffer[2] === 0xff;
}

/** Images that decode to at most this many bytes are never held to the inflate-ratio limit (as PNGs). */
const INFLATE_RATIO_FLOOR = 16 * 1024 * 1024;

/** What the segment walk finds: the frame's size and components, the EXIF orientation. */
interface JpegHeader {
  width: number;
  height: number;
  components: number;
  orientation: number;
}

/** The orientation tag of an APP1 `Exif\0\0` segment's TIFF data, or 1 (none, or unreadable). */
function exifOrientationOf(segment: Uint8Array): number {
  // "Exif\0\0" then a TIFF header: byte order "II" or "MM", 42, offset of IFD0.
  if (segment.length < 14 || String.fromCharCode(...segment.subarray(0, 4)) !== 'Exif') return 1;
  const tiff = segment.subarray(6);
  const little = tiff[0] === 0x49 && tiff[1] === 0x49;
  if (!little && !(tiff[0] === 0x4d && tiff[1] === 0x4d)) return 1;
  const view = new DataView(tiff.buffer, tiff.byteOffset, tiff.byteLength);
  const u16 = (o: number): number => view.getUint16(o, little);
  if (u16(2) !== 42) return 1;
  const ifd = view.getUint32(4, little);
  if (ifd + 2 > tiff.length) return 1;
  const count = u16(ifd);
  for (let i = 0; i < count; i++) {
    const entry = ifd + 2 + 12 * i;
    if (entry + 12 > tiff.length) return 1;
    if (u16(entry) === 0x0112) {
      const value = u16(entry + 8); // type SHORT, count 1: the value sits in the first 2 bytes
      return value >= 1 && value <= 8 ? value : 1;
    }
  }
  return 1;
}

/**
 * Walks the segments of a JPEG (markers with lengths, and the entropy-coded data after each SOS
 * up to the next marker) to the EOI marker. Returns the frame header or the reason the file is
 * not a whole JPEG.
 */
function walkJpeg(buffer: Uint8Array): JpegHeader | string {
  let offset = 2;
  let header: Omit<JpegHeader, 'orientation'> | undefined;
  let orientation = 1;
  const n = buffer.length;
  for (;;) {
    if (offset >= n) return 'the file is truncated (it ends before the EOI marker)';
    if (buffer[offset] !== 0xff) return `expected a marker at byte ${offset}, found 0x${buffer[offset]!.toString(16).padStart(2, '0')}`;
    let marker = buffer[offset + 1];
    while (marker === 0xff) marker = buffer[++offset + 1]; // fill bytes
    if (marker === undefined) return 'the file is truncated (it ends in a marker)';
    offset += 2;
    if (marker === 0xd9) break; // EOI
    if (marker === 0x00) return `bytes FF 00 at byte ${offset - 2} outside image data (not a marker)`;
    if (marker === 0xd8) return `a second SOI marker at byte ${offset - 2}`;
    if (marker === 0x01 || (marker >= 0xd0 && marker <= 0xd7)) continue; // TEM, RSTn: no length
    if (offset + 2 > n) return `the file is truncated (the segment of marker 0x${marker.toString(16)} is cut off)`;
    const length = (buffer[offset]! << 8) | buffer[offset + 1]!;
    if (length < 2) return `the segment of marker 0x${marker.toString(16)} at byte ${offset - 2} has length ${length}`;
    if (offset + length > n) {
      return `the file is truncated (the segment of marker 0x${marker.toString(16)} at byte ${offset - 2} needs ${length} bytes, ${n - offset} remain)`;
    }
    const data = buffer.subarray(offset + 2, offset + length);
    // SOF0..SOF15 except DHT (C4), JPG (C8) and DAC (CC): the frame header
    if (marker >= 0xc0 && marker <= 0xcf && marker !== 0xc4 && marker !== 0xc8 && marker !== 0xcc) {
      if (header !== undefined) return 'a second frame header (only single-frame JPEGs are read)';
      if (data.length < 6) return 'the frame header is cut short';
      if (marker === 0xc3 || marker === 0xc7 || marker === 0xcb || marker === 0xcf) return 'lossless JPEG is not supported';
      if (data[0] !== 8) return `${data[0]}-bit samples are not supported (only 8-bit)`;
      header = { height: (data[1]! << 8) | data[2]!, width: (data[3]! << 8) | data[4]!, components: data[5]! };
      if (data.length < 6 + 3 * header.components) return 'the frame header is cut short';
      if (header.width === 0 || header.height === 0) return `the image is ${header.width}x${header.height} pixels`;
      if (![1, 3, 4].includes(header.components)) return `${header.components} colour components are not supported (1, 3 or 4)`;
    } else if (marker === 0xe1 && orientation === 1) {
      orientation = exifOrientationOf(data);
    }
    offset += length;
    if (marker === 0xda) {
      if (header === undefined) return 'image data (SOS) comes before the frame header (SOF)';
      // entropy-coded data: runs to the next marker that is not a stuffed 0xFF00 or a restart
      for (;;) {
        while (offset < n && buffer[offset] !== 0xff) offset++;
        if (offset + 1 >= n) return 'the file is truncated (the image data ends before the EOI marker)';
        const next = buffer[offset + 1]!;
        if (next === 0x00 || (next >= 0xd0 && next <= 0xd7) || next === 0xff) offset += next === 0xff ? 1 : 2;
        else break;
      }
    }
  }
  if (header === undefined) return 'there is no frame header (SOF marker)';
  return { ...header, orientation };
}

/** `rgba` (4 bytes a pixel, `width` x `height`) turned and mirrored as EXIF orientation `o` (2..8) says. */
function orient(rgba: Uint8Array, width: number, height: number, o: number): { rgba: Uint8Array; width: number; height: number } {
  const swap = o >= 5;
  const W = swap ? height : width;
  const H = swap ? width : height;
  const out = new Uint8Array(rgba.length);
  for (let oy = 0; oy < H; oy++) {
    for (let ox = 0; ox < W; ox++) {
      let sx: number;
      let sy: number;
      switch (o) {
        case 2: sx = width - 1 - ox; sy = oy; break; // mirrored left-right
        case 3: sx = width - 1 - ox; sy = height - 1 - oy; break; // rotated 180
        case 4: sx = ox; sy = height - 1 - oy; break; // mirrored top-bottom
        case 5: sx = oy; sy = ox; break; // transposed
        case 6: sx = oy; sy = height - 1 - ox; break; // shown rotated 90 degrees clockwise
        case 7: sx = width - 1 - oy; sy = height - 1 - ox; break; // transversed
        default: sx = width - 1 - oy; sy = ox; break; // 8: shown rotated 90 degrees counter-clockwise
      }
      const s = 4 * (sy * width + sx);
      const d = 4 * (oy * W + ox);
      out[d] = rgba[s]!;
      out[d + 1] = rgba[s + 1]!;
      out[d + 2] = rgba[s + 2]!;
      out[d + 3] = rgba[s + 3]!;
    }
  }
  return { rgba: out, width: W, height: H };
}

/**
 * The size of a JPEG as {@link decodeJpeg} returns it (turned by the EXIF orientation unless
 * `exifOrientation: false`) and its orientation, from the headers only: the file is walked to
 * its EOI marker (so a truncated file is an error, as in {@link decodeJpeg}) but not decoded.
 */
export function jpegSize(buffer: Uint8Array, source = '<buffer>', op = 'jpegSize', options: JpegOrientationOptions = {}): {
  /** Width in pixels as displayed (after the EXIF orientation, when it is honoured). */
  width: number;
  /** Height in pixels as displayed. */
  height: number;
  /** The EXIF orientation tag (1..8; 1 when absent or ignored). */
  orientation: number;
} {
  const invalid = (reason: string): Error => new Error(`${op}: ${source} is not a valid JPEG: ${reason}`);
  if (!isJpeg(buffer)) throw invalid('it does not start with the JPEG SOI marker (FF D8 FF)');
  const header = walkJpeg(buffer);
  if (typeof header === 'string') throw invalid(header);
  const swap = options.exifOrientation !== false && header.orientation >= 5;
  return { width: swap ? header.height : header.width, height: swap ? header.width : header.height, orientation: header.orientation };
}

/**
 * Decodes JPEG bytes to 8-bit RGBA (alpha 255), turned by the EXIF orientation unless
 * `exifOrientation: false`.
 *
 * Throws `decodeJpeg: SOURCE is not a valid JPEG: REASON` for anything that is not a whole JPEG
 * (no SOI marker, truncated, corrupt entropy-coded data, an unsupported kind such as 12-bit or
 * lossless), and `decodeJpeg: SOURCE: ...` with how to raise the limit for an image over the
 * pixel limit or the decoded-to-compressed ratio; both are checked before decoding.
 *
 * @param buffer - the file's bytes.
 * @param source - names the bytes in errors, e.g. the file's path.
 * @param op - names the operation at the start of errors (`readJpeg` passes its own name).
 * @param options - whether to honour the EXIF orientation (default true).
 */
export function decodeJpeg(buffer: Uint8Array, source = '<buffer>', op = 'decodeJpeg', options: JpegOrientationOptions = {}): DecodedJpeg {
  const invalid = (reason: string): Error => new Error(`${op}: ${source} is not a valid JPEG: ${reason}`);
  if (buffer.length === 0) throw invalid('the file is empty');
  if (!isJpeg(buffer)) throw invalid('it does not start with the JPEG SOI marker (FF D8 FF)');
  const header = walkJpeg(buffer);
  if (typeof header === 'string') throw invalid(header);
  const { width, height, components } = header;
  checkImageSize(width, height, `${op}: ${source}`);
  const decodedBytes = width * height * 4;
  const maxRatio = inputLimits().maxInflateRatio;
  if (decodedBytes > INFLATE_RATIO_FLOOR && decodedBytes > buffer.length * maxRatio) {
    throw new Error(
      `${op}: ${source}: a ${width}x${height} image that decodes to ${decodedBytes} bytes from a ${buffer.length}-byte file ` +
        `(${Math.round(decodedBytes / buffer.length)}x) is over the limit of ${maxRatio}x for images over ${INFLATE_RATIO_FLOOR} bytes ` +
        `(a decompression bomb guard; photographs compress far less); ${howToRaise('maxInflateRatio')}`,
    );
  }
  let image: JpegPixels;
  try {
    image = decodeJpegPixels(buffer);
  } catch (error) {
    // the decoder's own errors are plain Errors giving the reason; anything else is a bug, kept as it is
    if (error instanceof Error && error.constructor === Error) throw invalid(error.message);
    throw error;
  }
  if (image.width !== width || image.height !== height || image.components !== components) {
    throw invalid(`decoded ${image.width}x${image.height} with ${image.components} components for a ${width}x${height} image with ${components}`);
  }
  const turned = options.exifOrientation === false || header.orientation === 1 ? { rgba: image.rgba, width, height } : orient(image.rgba, width, height, header.orientation);
  const gray = components === 1;
  return {
    width: turned.width,
    height: turned.height,
    bitDepth: 8,
    colorType: gray ? 0 : 2,
    gray,
    hasAlpha: false,
    maxValue: 255,
    rgba: turned.rgba,
    orientation: header.orientation,
    components,
  };
}

/** Converts a decoded JPEG to a float32 `[C, H, W]` tensor (as {@link pngToTensor}; `'rgba'` gives alpha 1). */
export function jpegToTensor(decoded: DecodedJpeg, options: ReadPngOptions = {}): Tensor {
  return pngToTensor(decoded, options);
}

/** Reads and decodes a JPEG file without converting it to a tensor (errors as {@link readJpeg}). */
export function readJpegFile(path: string, options: JpegOrientationOptions = {}): DecodedJpeg {
  const bytes = readFileBytes(path, 'readJpeg');
  return decodeJpeg(bytes, path, 'readJpeg', options);
}

/**
 * Reads a JPEG file into a float32 tensor: `[3, H, W]` RGB in [0, 1] by default, turned by its
 * EXIF orientation. Errors name the file: `readJpeg: /path/x.jpg is not a valid JPEG: the file
 * is truncated (...)`, `readJpeg: cannot read /path/x.jpg: ENOENT ...`.
 */
export function readJpeg(path: string, options: ReadJpegOptions = {}): Tensor {
  return jpegToTensor(readJpegFile(path, options), options);
}
