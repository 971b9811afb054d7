/**
 * safetensors: the weight format (https://github.com/huggingface/safetensors).
 *
 * ```
 * [8 bytes: n, little-endian u64][n bytes: JSON header][data]
 * header = {"__metadata__": {string: string}, name: {"dtype": "F32", "shape": [..], "data_offsets": [begin, end]}, ...}
 * ```
 * Offsets are relative to the start of the data; tensors are row-major, little-endian,
 * contiguous and cover the data exactly (no gaps, no overlaps). The header is padded with
 * spaces so that the data starts at a multiple of 8.
 *
 * Reading validates the whole header against the file size *before* allocating anything for
 * the data, so a corrupt or hostile file gives a clear error naming the file and the tensor,
 * never a huge allocation. Reading from a path is streamed: the 8-byte length, then the header,
 * then each tensor's bytes (or only the ones asked for). Writing is atomic: a temporary file in
 * the same directory, fsync, rename.
 *
 * Element types: F64, F32, F16, BF16 (read as float32), I64 (read as int32, with a range check),
 * I32, I16, I8, U8, BOOL (read as int32). Written: F32, F64, I32, I64, U8, F16, BOOL.
 */
import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import { writeFileAtomic } from '../util/atomic_write.js';
import { DEFAULT_INPUT_LIMITS, briefJson, checkTensorElements, howToRaise, inputLimits, parseJson } from '../util/limits.js';
import { endianness } from 'node:os';
import { Tensor, type DType } from '../tensor/index.js';

/** The element types of the safetensors format that this reader knows. */
export type SafetensorsDType = 'F64' | 'F32' | 'F16' | 'BF16' | 'I64' | 'I32' | 'I16' | 'I8' | 'U8' | 'BOOL';

const ITEM_SIZE: Record<SafetensorsDType, number> = { F64: 8, F32: 4, F16: 2, BF16: 2, I64: 8, I32: 4, I16: 2, I8: 1, U8: 1, BOOL: 1 };
const WRITABLE: ReadonlySet<SafetensorsDType> = new Set(['F64', 'F32', 'F16', 'I64', 'I32', 'U8', 'BOOL']);

/**
 * The largest header this reader accepts by default (100 MiB, about the reference
 * implementation's 100 MB); `MASKRCNN_MAX_HEADER_BYTES` changes it (see `lib/util/limits.ts`).
 */
export const MAX_HEADER_BYTES = DEFAULT_INPUT_LIMITS.maxHeaderBytes;

/** One tensor's entry in the header. */
export interface SafetensorsEntry {
  /** The stored element type. */
  dtype: SafetensorsDType;
  /** The tensor's shape. */
  shape: number[];
  /** `[begin, end)` byte offsets relative to the start of the data. */
  dataOffsets: [number, number];
}

/** A parsed and validated header. */
export interface SafetensorsHeader {
  /** The tensors' entries, in the header's order. */
  entries: Map<string, SafetensorsEntry>;
  /** The `__metadata__` strings, or `null` if the header has none. */
  metadata: Record<string, string> | null;
  /** Where the data starts in the file: `8 + n`. */
  dataStart: number;
  /** The size of the data section in bytes. */
  dataBytes: number;
}

/** What reading a safetensors file gives. */
export interface SafetensorsContents {
  /** The tensors by name, in the header's order. */
  tensors: Map<string, Tensor>;
  /** The stored element type of each tensor (the tensors themselves are float32/float64/int32). */
  dtypes: Map<string, SafetensorsDType>;
  /** The `__metadata__` strings, or `null`. */
  metadata: Record<string, string> | null;
}

/** A tensor with the element type to store it as. */
export interface TypedSafetensorsInput {
  /** The tensor. */
  tensor: Tensor;
  /** How to store it (e.g. `'I64'` for indices, `'U8'` for masks, `'F16'`). */
  dtype: SafetensorsDType;
}

/** A tensor to write: stored by its dtype (see {@link encodeSafetensors}), or as the type it names. */
export type SafetensorsInput = Tensor | TypedSafetensorsInput;

/** Options of {@link encodeSafetensors} and {@link saveSafetensors}. */
export interface SafetensorsWriteOptions {
  /** `__metadata__` strings (e.g. the seed and versions). */
  metadata?: Record<string, string>;
  /** How to store `int32` tensors that do not name their type: `'I32'` (default) or `'I64'` (PyTorch's indices, `num_batches_tracked`). */
  intDType?: 'I32' | 'I64';
  /** How to store `float32` tensors that do not name their type: `'F32'` (default) or `'F16'` (half the size). */
  floatDType?: 'F32' | 'F16';
}

const LITTLE_ENDIAN_HOST = endianness() === 'LE';

function fail(source: string, message: string): never {
  throw new Error(`safetensors: ${source}: ${message}`);
}

function isSafeCount(v: unknown): v is number {
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
}

/**
 * Parses and validates the JSON header `text` for a data section of `dataBytes` bytes
 * (`dataStart` is `8 + n`). Checks every entry's dtype, shape and offsets, that the byte size
 * matches the shape, and that the tensors tile the data exactly.
 */
export function parseSafetensorsHeader(text: string, dataStart: number, dataBytes: number, source = '<buffer>'): SafetensorsHeader {
  let raw: unknown;
  try {
    // Depth checked before parsing: a shape nested 100,000 deep must not overflow the stack.
    raw = parseJson(text, 'the header');
  } catch (error) {
    fail(source, (error as Error).message.replace(/^the header: not valid JSON/, 'the header is not valid JSON'));
  }
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) fail(source, `the header must be a JSON object, got ${briefJson(raw)}`);
  const maxElements = inputLimits().maxTensorElements;
  let metadata: Record<string, string> | null = null;
  const entries = new Map<string, SafetensorsEntry>();
  for (const [name, value] of Object.entries(raw as Record<string, unknown>)) {
    if (name === '__metadata__') {
      if (value === null || typeof value !== 'object' || Array.isArray(value)) fail(source, `__metadata__ must be an object of strings, got ${briefJson(value)}`);
      for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
        if (typeof v !== 'string') fail(source, `__metadata__ value '${k}' must be a string, got ${typeof v}`);
      }
      metadata = value as Record<string, string>;
      continue;
    }
    const where = `tensor '${name}'`;
    if (value === null || typeof value !== 'object' || Array.isArray(value)) fail(source, `${where}: the entry must be an object, got ${briefJson(value)}`);
    const e = value as Record<string, unknown>;
    const dtype = e['dtype'];
    if (typeof dtype !== 'string' || !Object.hasOwn(ITEM_SIZE, dtype)) {
      fail(source, `${where}: unknown dtype ${briefJson(dtype)} (known: ${Object.keys(ITEM_SIZE).join(', ')})`);
    }
    const shape = e['shape'];
    if (!Array.isArray(shape) || !shape.every(isSafeCount)) fail(source, `${where}: shape must be a list of non-negative integers, got ${briefJson(shape)}`);
    const offsets = e['data_offsets'];
    if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every(isSafeCount) || offsets[0] > offsets[1]) {
      fail(source, `${where}: data_offsets must be [begin, end] with 0 <= begin <= end, got ${briefJson(offsets)}`);
    }
    const [begin, end] = offsets as [number, number];
    let elements = 1;
    for (const d of shape as number[]) elements *= d;
    const bytes = elements * ITEM_SIZE[dtype as SafetensorsDType];
    if (!Number.isSafeInteger(bytes) || bytes !== end - begin) {
      fail(source, `${where}: shape ${briefJson(shape)} of ${dtype} needs ${bytes} bytes but data_offsets [${begin}, ${end}] hold ${end - begin}`);
    }
    if (end > dataBytes) {
      fail(source, `${where}: data_offsets [${begin}, ${end}] go beyond the ${dataBytes} bytes of data (the file is too short)`);
    }
    try {
      checkTensorElements(shape as number[], where, maxElements);
    } catch (error) {
      fail(source, (error as Error).message);
    }
    entries.set(name, { dtype: dtype as SafetensorsDType, shape: shape as number[], dataOffsets: [begin, end] });
  }
  // The tensors must tile [0, dataBytes) exactly: sorted by offset, each starts where the last ended.
  const sorted = [...entries].sort((a, b) => a[1].dataOffsets[0] - b[1].dataOffsets[0] || a[1].dataOffsets[1] - b[1].dataOffsets[1]);
  let cursor = 0;
  let previous = '';
  for (const [name, e] of sorted) {
    const [begin, end] = e.dataOffsets;
    if (begin < cursor) fail(source, `tensor '${name}': data_offsets [${begin}, ${end}] overlap tensor '${previous}' (which ends at ${cursor})`);
    if (begin > cursor) fail(source, `tensor '${name}': data_offsets [${begin}, ${end}] leave a gap of ${begin - cursor} bytes after ${previous ? `tensor '${previous}'` : 'the header'} (tensors must be contiguous)`);
    cursor = end;
    previous = name;
  }
  if (cursor !== dataBytes) {
    fail(source, `the tensors cover ${cursor} bytes of data but the file has ${dataBytes} bytes after the header (trailing bytes)`);
  }
  return { entries, metadata, dataStart, dataBytes };
}

/** Reads the 8-byte little-endian header length, checking it against `fileSize`. */
function headerLength(bytes: Uint8Array, fileSize: number, source: string): number {
  if (fileSize < 8) fail(source, `the file has ${fileSize} bytes, too short for the 8-byte header length`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, 8);
  const lo = view.getUint32(0, true);
  const hi = view.getUint32(4, true);
  const n = hi * 4294967296 + lo;
  if (hi >= 2097152 || n > fileSize - 8) {
    fail(source, `the header length ${hi === 0 ? n : `${BigInt(hi) * 4294967296n + BigInt(lo)}`} goes beyond the end of the file (${fileSize} bytes)`);
  }
  const limit = inputLimits().maxHeaderBytes;
  if (n > limit) fail(source, `the header length ${n} is larger than the limit of ${limit} bytes; ${howToRaise('maxHeaderBytes')}`);
  if (n < 2) fail(source, `the header length ${n} is too small for a JSON object`);
  return n;
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

function decodeHeaderText(bytes: Uint8Array, source: string): string {
  try {
    return utf8.decode(bytes);
  } catch {
    fail(source, 'the header is not valid UTF-8');
  }
}

/** float16 bits to a number (IEEE 754 binary16: 1 sign, 5 exponent, 10 mantissa bits). */
export function halfToFloat(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exponent = (h >> 10) & 0x1f;
  const mantissa = h & 0x3ff;
  if (exponent === 0) return sign * mantissa * 2 ** -24; // zero and subnormals
  if (exponent === 31) return mantissa === 0 ? sign * Infinity : NaN;
  return sign * (1 + mantissa / 1024) * 2 ** (exponent - 15);
}

/** A number to float16 bits, rounding to nearest even (overflow gives infinity). */
export function floatToHalf(value: number): number {
  const f32 = new Float32Array([value]);
  const bits = new Uint32Array(f32.buffer)[0]!;
  const sign = (bits >>> 16) & 0x8000;
  const exponent = (bits >>> 23) & 0xff;
  let mantissa = bits & 0x7fffff;
  if (exponent === 0xff) return sign | 0x7c00 | (mantissa !== 0 ? 0x200 : 0); // inf / NaN
  const e = exponent - 127 + 15;
  if (e >= 31) return sign | 0x7c00; // overflow
  if (e <= 0) {
    // Subnormal half (or zero): shift the full mantissa (with its implicit 1) into place.
    if (e < -10) return sign;
    mantissa |= 0x800000;
    const shift = 14 - e;
    let half = mantissa >>> shift;
    const rest = mantissa & ((1 << shift) - 1);
    const halfway = 1 << (shift - 1);
    if (rest > halfway || (rest === halfway && (half & 1) === 1)) half++;
    return sign | half;
  }
  let half = (e << 10) | (mantissa >>> 13);
  const rest = mantissa & 0x1fff;
  if (rest > 0x1000 || (rest === 0x1000 && (half & 1) === 1)) half++; // may carry into the exponent: correct
  return sign | half;
}

/** Turns the raw little-endian bytes of one tensor into a project tensor. */
function decodeTensor(bytes: Uint8Array, entry: SafetensorsEntry, name: string, source: string): Tensor {
  const n = entry.shape.reduce((a, d) => a * d, 1);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  switch (entry.dtype) {
    case 'F32': {
      const out = new Float32Array(n);
      if (LITTLE_ENDIAN_HOST) new Uint8Array(out.buffer).set(bytes);
      else for (let i = 0; i < n; i++) out[i] = view.getFloat32(4 * i, true);
      return new Tensor(out, entry.shape, 'float32');
    }
    case 'F64': {
      const out = new Float64Array(n);
      if (LITTLE_ENDIAN_HOST) new Uint8Array(out.buffer).set(bytes);
      else for (let i = 0; i < n; i++) out[i] = view.getFloat64(8 * i, true);
      return new Tensor(out, entry.shape, 'float64');
    }
    case 'F16': {
      const out = new Float32Array(n);
      for (let i = 0; i < n; i++) out[i] = halfToFloat(view.getUint16(2 * i, true));
      return new Tensor(out, entry.shape, 'float32');
    }
    case 'BF16': {
      const out = new Float32Array(n);
      const bits = new Uint32Array(out.buffer);
      for (let i = 0; i < n; i++) bits[i] = view.getUint16(2 * i, true) << 16;
      return new Tensor(out, entry.shape, 'float32');
    }
    case 'I64': {
      const out = new Int32Array(n);
      for (let i = 0; i < n; i++) {
        const lo = view.getInt32(8 * i, true);
        const hi = view.getInt32(8 * i + 4, true);
        // In int32 range iff the high word is the sign extension of the low word.
        if (hi !== lo >> 31) {
          fail(source, `tensor '${name}': I64 element ${i} (${view.getBigInt64(8 * i, true)}) does not fit in int32`);
        }
        out[i] = lo;
      }
      return new Tensor(out, entry.shape, 'int32');
    }
    case 'I32': {
      const out = new Int32Array(n);
      for (let i = 0; i < n; i++) out[i] = view.getInt32(4 * i, true);
      return new Tensor(out, entry.shape, 'int32');
    }
    case 'I16': {
      const out = new Int32Array(n);
      for (let i = 0; i < n; i++) out[i] = view.getInt16(2 * i, true);
      return new Tensor(out, entry.shape, 'int32');
    }
    case 'I8':
    case 'U8':
    case 'BOOL': {
      const out = new Int32Array(n);
      for (let i = 0; i < n; i++) out[i] = entry.dtype === 'I8' ? view.getInt8(i) : view.getUint8(i);
      return new Tensor(out, entry.shape, 'int32');
    }
  }
}

/** Decodes a whole safetensors file held in memory. */
export function decodeSafetensors(buffer: Uint8Array, source = '<buffer>'): SafetensorsContents {
  const n = headerLength(buffer, buffer.byteLength, source);
  const header = parseSafetensorsHeader(decodeHeaderText(buffer.subarray(8, 8 + n), source), 8 + n, buffer.byteLength - 8 - n, source);
  const tensors = new Map<string, Tensor>();
  const dtypes = new Map<string, SafetensorsDType>();
  for (const [name, e] of header.entries) {
    const bytes = buffer.subarray(header.dataStart + e.dataOffsets[0], header.dataStart + e.dataOffsets[1]);
    tensors.set(name, decodeTensor(bytes, e, name, source));
    dtypes.set(name, e.dtype);
  }
  return { tensors, dtypes, metadata: header.metadata };
}

/**
 * An open safetensors file: the header is read and validated when it opens; tensors are read
 * one by one on request (so a reader can pick a few tensors out of a large checkpoint).
 * Call {@link SafetensorsFile.close} when done (or use {@link loadSafetensors}).
 */
export class SafetensorsFile {
  /** The validated header. */
  readonly header: SafetensorsHeader;
  private fd: number | null;

  private constructor(
    /** The file's path. */
    readonly path: string,
    fd: number,
    header: SafetensorsHeader,
  ) {
    this.fd = fd;
    this.header = header;
  }

  /** Opens `path` and reads and validates its header (8 + n bytes; the data is not read). */
  static open(path: string): SafetensorsFile {
    let fd: number;
    try {
      fd = openSync(path, 'r');
    } catch (error) {
      throw new Error(`safetensors: cannot open ${path}: ${(error as Error).message}`);
    }
    try {
      const size = fstatSync(fd).size;
      const lengthBytes = new Uint8Array(8);
      readExactly(fd, lengthBytes, 0, path, 'the header length');
      const n = headerLength(lengthBytes, size, path);
      const headerBytes = new Uint8Array(n);
      readExactly(fd, headerBytes, 8, path, 'the header');
      const header = parseSafetensorsHeader(decodeHeaderText(headerBytes, path), 8 + n, size - 8 - n, path);
      return new SafetensorsFile(path, fd, header);
    } catch (error) {
      closeSync(fd);
      throw error;
    }
  }

  /** The tensors' names, in the header's order. */
  keys(): string[] {
    return [...this.header.entries.keys()];
  }

  /** The `__metadata__` strings, or `null`. */
  get metadata(): Record<string, string> | null {
    return this.header.metadata;
  }

  /** Reads one tensor. */
  read(name: string): Tensor {
    if (this.fd === null) throw new Error(`safetensors: ${this.path} is closed`);
    const e = this.header.entries.get(name);
    if (e === undefined) throw new Error(`safetensors: ${this.path} has no tensor '${name}'`);
    const bytes = new Uint8Array(e.dataOffsets[1] - e.dataOffsets[0]);
    readExactly(this.fd, bytes, this.header.dataStart + e.dataOffsets[0], this.path, `tensor '${name}'`);
    return decodeTensor(bytes, e, name, this.path);
  }

  /** Reads every tensor (or those in `names`). */
  readAll(names: Iterable<string> = this.keys()): SafetensorsContents {
    const tensors = new Map<string, Tensor>();
    const dtypes = new Map<string, SafetensorsDType>();
    for (const name of names) {
      tensors.set(name, this.read(name));
      dtypes.set(name, this.header.entries.get(name)!.dtype);
    }
    return { tensors, dtypes, metadata: this.header.metadata };
  }

  /** Closes the file. */
  close(): void {
    if (this.fd !== null) closeSync(this.fd);
    this.fd = null;
  }
}

function readExactly(fd: number, into: Uint8Array, position: number, path: string, what: string): void {
  let done = 0;
  while (done < into.byteLength) {
    let got: number;
    try {
      got = readSync(fd, into, done, into.byteLength - done, position + done);
    } catch (error) {
      fail(path, `cannot read ${what}: ${(error as Error).message}`); // e.g. EISDIR: a folder, EIO
    }
    if (got === 0) fail(path, `the file ended while reading ${what}`);
    done += got;
  }
}

/** Reads a safetensors file (header first, validated, then the data). */
export function loadSafetensors(path: string): SafetensorsContents {
  const file = SafetensorsFile.open(path);
  try {
    return file.readAll();
  } finally {
    file.close();
  }
}

/** The plan of a file to write: header bytes, and for each tensor how to encode it. */
interface WritePlan {
  header: Uint8Array;
  items: Array<{ name: string; tensor: Tensor; dtype: SafetensorsDType; bytes: number }>;
}

function defaultDType(t: Tensor, options: SafetensorsWriteOptions): SafetensorsDType {
  const byType: Record<DType, SafetensorsDType> = { float32: options.floatDType ?? 'F32', float64: 'F64', int32: options.intDType ?? 'I32' };
  return byType[t.dtype];
}

function planWrite(tensors: Map<string, SafetensorsInput> | Record<string, SafetensorsInput>, options: SafetensorsWriteOptions): WritePlan {
  const entries = tensors instanceof Map ? [...tensors] : Object.entries(tensors);
  const header: Record<string, unknown> = {};
  if (options.metadata !== undefined) {
    for (const [k, v] of Object.entries(options.metadata)) {
      if (typeof v !== 'string') throw new Error(`safetensors: __metadata__ value '${k}' must be a string, got ${typeof v}`);
    }
    header['__metadata__'] = options.metadata;
  }
  const items: WritePlan['items'] = [];
  let offset = 0;
  for (const [name, input] of entries) {
    if (name === '__metadata__') throw new Error("safetensors: '__metadata__' cannot be a tensor name");
    const tensor = input instanceof Tensor ? input : input.tensor;
    const dtype = input instanceof Tensor ? defaultDType(input, options) : input.dtype;
    if (!WRITABLE.has(dtype)) throw new Error(`safetensors: cannot write tensor '${name}' as ${dtype} (writable: ${[...WRITABLE].join(', ')})`);
    const bytes = tensor.size * ITEM_SIZE[dtype];
    header[name] = { dtype, shape: [...tensor.shape], data_offsets: [offset, offset + bytes] };
    items.push({ name, tensor, dtype, bytes });
    offset += bytes;
  }
  let json = JSON.stringify(header);
  const length = Buffer.byteLength(json, 'utf8');
  json += ' '.repeat((8 - ((8 + length) % 8)) % 8); // data starts at a multiple of 8
  return { header: new TextEncoder().encode(json), items };
}

/** The little-endian bytes of one tensor stored as `dtype`, with range checks for the narrow integer types. */
function encodeTensor(name: string, t: Tensor, dtype: SafetensorsDType): Uint8Array {
  const n = t.size;
  const out = new Uint8Array(n * ITEM_SIZE[dtype]);
  const view = new DataView(out.buffer);
  const src = t.data;
  const checkInteger = (lo: number, hi: number): void => {
    for (let i = 0; i < n; i++) {
      const v = src[i]!;
      if (!Number.isInteger(v) || v < lo || v > hi) throw new Error(`safetensors: tensor '${name}' element ${i} (${v}) cannot be stored as ${dtype}`);
    }
  };
  switch (dtype) {
    case 'F32':
      for (let i = 0; i < n; i++) view.setFloat32(4 * i, src[i]!, true);
      break;
    case 'F64':
      for (let i = 0; i < n; i++) view.setFloat64(8 * i, src[i]!, true);
      break;
    case 'F16':
      for (let i = 0; i < n; i++) view.setUint16(2 * i, floatToHalf(src[i]!), true);
      break;
    case 'I64':
      checkInteger(-(2 ** 53), 2 ** 53);
      for (let i = 0; i < n; i++) view.setBigInt64(8 * i, BigInt(src[i]!), true);
      break;
    case 'I32':
      checkInteger(-(2 ** 31), 2 ** 31 - 1);
      for (let i = 0; i < n; i++) view.setInt32(4 * i, src[i]!, true);
      break;
    case 'U8':
      checkInteger(0, 255);
      out.set(src);
      break;
    case 'BOOL':
      checkInteger(0, 1);
      out.set(src);
      break;
    default:
      throw new Error(`safetensors: cannot write ${dtype}`);
  }
  return out;
}

/**
 * Encodes tensors as a safetensors file in memory, in insertion order. Each tensor is stored as
 * its dtype says (float32 -> F32, float64 -> F64, int32 -> I32, or I64 with `intDType: 'I64'`)
 * unless given as `{tensor, dtype}`.
 */
export function encodeSafetensors(tensors: Map<string, SafetensorsInput> | Record<string, SafetensorsInput>, options: SafetensorsWriteOptions = {}): Uint8Array {
  const plan = planWrite(tensors, options);
  const total = 8 + plan.header.byteLength + plan.items.reduce((s, it) => s + it.bytes, 0);
  const out = new Uint8Array(total);
  new DataView(out.buffer).setBigUint64(0, BigInt(plan.header.byteLength), true);
  out.set(plan.header, 8);
  let offset = 8 + plan.header.byteLength;
  for (const it of plan.items) {
    out.set(encodeTensor(it.name, it.tensor, it.dtype), offset);
    offset += it.bytes;
  }
  return out;
}

/**
 * Writes tensors to `path` as safetensors, atomically: the bytes go to a temporary file in the
 * same directory, which is flushed to disk (fsync) and then renamed over `path`, so that a
 * process killed mid-write never leaves a truncated file under the real name. Tensors are
 * encoded one at a time (no copy of the whole file in memory).
 */
export function saveSafetensors(path: string, tensors: Map<string, SafetensorsInput> | Record<string, SafetensorsInput>, options: SafetensorsWriteOptions = {}): void {
  const plan = planWrite(tensors, options);
  const length = new Uint8Array(8);
  new DataView(length.buffer).setBigUint64(0, BigInt(plan.header.byteLength), true);
  writeFileAtomic(
    path,
    (write) => {
      write(length);
      write(plan.header);
      for (const it of plan.items) write(encodeTensor(it.name, it.tensor, it.dtype));
    },
    'safetensors',
  );
}

