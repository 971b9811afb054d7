/**
 * One reader for every image file the project reads (datasets, `predict`, `inspect`): PNG or
 * JPEG, told apart by the file's first bytes (its magic number), not by its name, so a JPEG
 * saved as `.png` (or a PNG as `.jpg`, both common in scraped datasets) is read correctly.
 *
 * See `png.ts` and `jpeg.ts` for what each format accepts and how it becomes RGB: gray images
 * repeat the gray value in R, G and B, alpha is dropped, a JPEG's EXIF orientation is honoured.
 *
 * @module
 */
import { readFileBytes } from '../../util/read_file.js';
import type { Tensor } from '../../tensor/index.js';
import { type DecodedPng, decodePng, pngToTensor } from './png.js';
import { type ReadJpegOptions, decodeJpeg, isJpeg, jpegSize } from './jpeg.js';

/** Options of {@link readImage}: the tensor's channels and range, and (JPEG) the EXIF orientation. */
export type ReadImageOptions = ReadJpegOptions;

/** The image formats {@link readImage} reads. */
export type ImageFormat = 'png' | 'jpeg';

/** File names that {@link readImage} is expected to read (for listing a folder's images). */
export const IMAGE_FILE_PATTERN = /\.(png|jpe?g)$/i;

/** The format of image bytes by their magic number, or null when neither PNG nor JPEG. */
export function imageFormat(bytes: Uint8Array): ImageFormat | null {
  if (bytes.length >= 8 && bytes[0] === 0x89 && bytes[1] === 0x50 && bytes[2] === 0x4e && bytes[3] === 0x47) return 'png';
  if (isJpeg(bytes)) return 'jpeg';
  return null;
}

/**
 * Decodes PNG or JPEG bytes (picked by magic number) to the {@link DecodedPng} record. Errors
 * read `OP: SOURCE is not a valid PNG/JPEG: reason`, or, for other bytes,
 * `OP: SOURCE is neither a PNG nor a JPEG (it starts with ...)`.
 */
export function decodeImage(bytes: Uint8Array, source = '<buffer>', op = 'decodeImage', options: ReadImageOptions = {}): DecodedPng {
  const format = imageFormat(bytes);
  if (format === 'png') return decodePng(bytes, source, op);
  if (format === 'jpeg') return decodeJpeg(bytes, source, op, options);
  if (bytes.length === 0) throw new Error(`${op}: ${source} is empty (expected a PNG or JPEG image)`);
  const head = Array.from(bytes.subarray(0, 8), (b) => b.toString(16).padStart(2, '0')).join(' ');
  throw new Error(`${op}: ${source} is neither a PNG nor a JPEG image (it starts with the bytes ${head})`);
}

/**
 * Reads a PNG or JPEG file (the format is taken from its first bytes) into a float32 tensor:
 * `[3, H, W]` RGB in [0, 1] by default (torchvision's `read_image(path, ImageReadMode.RGB) / 255`).
 * Errors name the file: `readImage: /path/x.jpg is not a valid JPEG: the file is truncated
 * (...)`, `readImage: cannot read /path/x.png: ENOENT ...`.
 */
export function readImage(path: string, options: ReadImageOptions = {}): Tensor {
  return pngToTensor(readImageFile(path, options), options);
}

/** Reads and decodes a PNG or JPEG file without converting it to a tensor (errors as {@link readImage}). */
export function readImageFile(path: string, options: ReadImageOptions = {}): DecodedPng {
  const bytes = readFileBytes(path, 'readImage');
  return decodeImage(bytes, path, 'readImage', options);
}

/**
 * The width and height of a PNG or JPEG file as {@link readImage} would return it (a JPEG
 * turned by its EXIF orientation), read from its headers without decoding the pixels: PNG's
 * IHDR; a JPEG's frame header (the JPEG's segments are walked to its end, so a truncated JPEG
 * is an error). Errors name the file.
 */
export function readImageSize(path: string, options: ReadImageOptions = {}): {
  /** Width in pixels. */
  width: number;
  /** Height in pixels. */
  height: number;
} {
  return imageSize(readFileBytes(path, 'readImageSize'), path, 'readImageSize', options);
}

/**
 * The width and height of PNG or JPEG bytes as {@link decodeImage} would return them (a JPEG
 * turned by its EXIF orientation), from the headers only (a JPEG's segments are walked to its
 * end, so a truncated JPEG is an error). Errors read `OP: SOURCE is not a valid PNG/JPEG: ...`
 * or `OP: SOURCE is neither a PNG nor a JPEG image ...`.
 */
export function imageSize(bytes: Uint8Array, source = '<buffer>', op = 'imageSize', options: ReadImageOptions = {}): {
  /** Width in pixels. */
  width: number;
  /** Height in pixels. */
  height: number;
} {
  const format = imageFormat(bytes);
  if (format === 'png') {
    const ihdr = bytes.length >= 24 && String.fromCharCode(...bytes.subarray(12, 16)) === 'IHDR';
    if (!ihdr) throw new Error(`${op}: ${source} is not a valid PNG: no IHDR chunk first`);
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    return { width: view.getUint32(16), height: view.getUint32(20) };
  }
  if (format === 'jpeg') {
    const { width, height } = jpegSize(bytes, source, op, options);
    return { width, height };
  }
  return decodeImage(bytes, source, op, options); // throws: neither format
}
