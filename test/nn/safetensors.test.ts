import test from 'tape';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync, openSync, closeSync, ftruncateSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { tensor, Generator, randn } from '../../lib/index.js';
import {
  encodeSafetensors,
  decodeSafetensors,
  saveSafetensors,
  loadSafetensors,
  SafetensorsFile,
  halfToFloat,
  floatToHalf,
  Linear,
  Sequential,
  BatchNorm2d,
  Conv2d,
  type SafetensorsInput,
} from '../../lib/nn/index.js';
import { assertThrowsMessage } from '../helpers.js';

/** A file from a header object and raw data bytes, with the header length as given (or the true one). */
function rawFile(header: unknown, data: Uint8Array, claimedLength?: bigint): Uint8Array {
  const json = new TextEncoder().encode(JSON.stringify(header));
  const out = new Uint8Array(8 + json.byteLength + data.byteLength);
  new DataView(out.buffer).setBigUint64(0, claimedLength ?? BigInt(json.byteLength), true);
  out.set(json, 8);
  out.set(data, 8 + json.byteLength);
  return out;
}

function withDir(fn: (dir: string) => void): void {
  const dir = mkdtempSync(join(tmpdir(), 'nn-st-'));
  try {
    fn(dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

test('safetensors: layout (u64 length, JSON header padded with spaces to 8, insertion order), round trip of every dtype', (t) => {
  const bytes = encodeSafetensors(
    new Map<string, SafetensorsInput>([
      ['z.weight', tensor([[1.5, -2], [3.25, 1e-30]])],
      ['a.count', { tensor: tensor(7, { dtype: 'int32' }), dtype: 'I64' }],
      ['labels', { tensor: tensor([-3, 2147483647], { dtype: 'int32' }), dtype: 'I64' }],
      ['mask', { tensor: tensor([0, 255, 3], { dtype: 'int32' }), dtype: 'U8' }],
      ['half', { tensor: tensor([1, -2, 65504, 0.1]), dtype: 'F16' }],
      ['double', tensor([Math.PI], { dtype: 'float64' })],
      ['ints', tensor([-5, 6], { dtype: 'int32' })],
      ['empty', tensor([], { shape: [0, 3] })],
    ]),
    { metadata: { seed: '0', note: 'héllo' } },
  );
  const view = new DataView(bytes.buffer);
  const n = Number(view.getBigUint64(0, true));
  t.equal((8 + n) % 8, 0, 'data starts at a multiple of 8');
  const headerText = new TextDecoder().decode(bytes.subarray(8, 8 + n));
  t.ok(/^\{"__metadata__":/.test(headerText) && / *$/.test(headerText), 'metadata first, space padding');
  const header = JSON.parse(headerText) as Record<string, { dtype: string; data_offsets: number[] }>;
  t.deepEqual(Object.keys(header).slice(1), ['z.weight', 'a.count', 'labels', 'mask', 'half', 'double', 'ints', 'empty'], 'insertion order');
  t.deepEqual(header['z.weight']!.data_offsets, [0, 16], 'offsets relative to the data');
  const back = decodeSafetensors(bytes);
  t.deepEqual(back.metadata, { seed: '0', note: 'héllo' }, 'metadata');
  t.deepEqual(Array.from(back.tensors.get('z.weight')!.data), Array.from(new Float32Array([1.5, -2, 3.25, 1e-30])), 'F32 exact');
  t.deepEqual(back.tensors.get('z.weight')!.shape, [2, 2], 'shape');
  t.equal(back.tensors.get('a.count')!.item(), 7, 'I64 scalar');
  t.deepEqual(back.tensors.get('a.count')!.shape, [], 'scalar shape []');
  t.deepEqual(Array.from(back.tensors.get('labels')!.data), [-3, 2147483647], 'I64 negative and int32 max');
  t.deepEqual(Array.from(back.tensors.get('mask')!.data), [0, 255, 3], 'U8');
  t.deepEqual(Array.from(back.tensors.get('half')!.data), [1, -2, 65504, halfToFloat(floatToHalf(0.1))], 'F16');
  t.equal(back.tensors.get('double')!.data[0], Math.PI, 'F64 exact');
  t.equal(back.tensors.get('double')!.dtype, 'float64', 'F64 reads as float64');
  t.deepEqual(back.tensors.get('empty')!.shape, [0, 3], 'empty tensor');
  t.deepEqual([...back.dtypes.values()], ['F32', 'I64', 'I64', 'U8', 'F16', 'F64', 'I32', 'F32'], 'stored dtypes reported');
  assertThrowsMessage(t, () => encodeSafetensors({ m: { tensor: tensor([256], { dtype: 'int32' }), dtype: 'U8' } }), "tensor 'm' element 0 (256) cannot be stored as U8", 'U8 range');
  t.end();
});

test('safetensors: F16 and BF16 decoding from raw bytes (normal, subnormal, inf, NaN)', (t) => {
  const halves = [0x3c00, 0xc000, 0x7bff, 0x0001, 0x8000, 0x7c00, 0xfc00, 0x7e00, 0x3555];
  const data = new Uint8Array(halves.length * 2);
  halves.forEach((h, i) => new DataView(data.buffer).setUint16(2 * i, h, true));
  const f = decodeSafetensors(rawFile({ h: { dtype: 'F16', shape: [halves.length], data_offsets: [0, data.byteLength] } }, data));
  const v = Array.from(f.tensors.get('h')!.data);
  t.deepEqual(v.slice(0, 7), [1, -2, 65504, 2 ** -24, -0, Infinity, -Infinity], 'F16 values');
  t.ok(Number.isNaN(v[7]!), 'F16 NaN');
  t.equal(v[8], Math.fround(0.333251953125), 'F16 0x3555');
  t.ok(halves.every((h) => h === 0x7e00 || floatToHalf(halfToFloat(h)) === h), 'floatToHalf inverts halfToFloat');
  t.equal(floatToHalf(1 + 2 ** -11), 0x3c00, 'ties round to even (down)');
  t.equal(floatToHalf(1 + 3 * 2 ** -11), 0x3c02, 'ties round to even (up)');
  const bf = new Uint8Array(4);
  new DataView(bf.buffer).setUint16(0, 0x3f80, true); // 1.0
  new DataView(bf.buffer).setUint16(2, 0xc0a0, true); // -5.0
  t.deepEqual(Array.from(decodeSafetensors(rawFile({ b: { dtype: 'BF16', shape: [2], data_offsets: [0, 4] } }, bf)).tensors.get('b')!.data), [1, -5], 'BF16');
  t.end();
});

test('safetensors: each malformed header gives a clear error naming the file and the tensor', (t) => {
  const f32 = (offsets: number[], shape = [2]) => ({ dtype: 'F32', shape, data_offsets: offsets });
  const eight = new Uint8Array(8);
  const cases: Array<[string, Uint8Array, string]> = [
    ['too short', new Uint8Array(5), 'the file has 5 bytes, too short for the 8-byte header length'],
    ['length beyond the file', rawFile({}, eight, 1000n), 'the header length 1000 goes beyond the end of the file (18 bytes)'],
    ['hostile 2^60 length', rawFile({}, eight, 1n << 60n), 'the header length 1152921504606846976 goes beyond the end of the file'],
    ['not JSON', (() => { const b = rawFile({ a: 1 }, eight); b[8] = 0x5b; return b; })(), 'the header is not valid JSON'],
    ['unknown dtype', rawFile({ w: { dtype: 'Q4', shape: [2], data_offsets: [0, 8] } }, eight), "tensor 'w': unknown dtype \"Q4\""],
    ['shape/bytes mismatch', rawFile({ w: f32([0, 8], [3]) }, eight), "tensor 'w': shape [3] of F32 needs 12 bytes but data_offsets [0, 8] hold 8"],
    ['out of range', rawFile({ w: f32([8, 16]) }, eight), "tensor 'w': data_offsets [8, 16] go beyond the 8 bytes of data"],
    ['overlap', rawFile({ a: f32([0, 8]), b: { dtype: 'F32', shape: [1], data_offsets: [4, 8] } }, eight), "tensor 'b': data_offsets [4, 8] overlap tensor 'a'"],
    ['gap', rawFile({ a: { dtype: 'F32', shape: [1], data_offsets: [4, 8] } }, eight), "tensor 'a': data_offsets [4, 8] leave a gap of 4 bytes"],
    ['trailing bytes', rawFile({ a: { dtype: 'F32', shape: [1], data_offsets: [0, 4] } }, eight), 'the tensors cover 4 bytes of data but the file has 8 bytes'],
    ['negative shape', rawFile({ a: { dtype: 'F32', shape: [-2], data_offsets: [0, 8] } }, eight), "tensor 'a': shape must be a list of non-negative integers"],
    ['bad offsets', rawFile({ a: { dtype: 'F32', shape: [2], data_offsets: [8, 0] } }, eight), "tensor 'a': data_offsets must be [begin, end]"],
    ['metadata not strings', rawFile({ __metadata__: { seed: 0 } }, new Uint8Array(0)), "__metadata__ value 'seed' must be a string"],
    ['header an array', rawFile([1, 2], new Uint8Array(0)), 'the header must be a JSON object'],
  ];
  for (const [label, bytes, message] of cases) {
    assertThrowsMessage(t, () => decodeSafetensors(bytes, 'model.safetensors'), [`safetensors: model.safetensors: ${message}`], label);
  }
  const i64 = new Uint8Array(8);
  new DataView(i64.buffer).setBigInt64(0, 1n << 40n, true);
  assertThrowsMessage(t, () => decodeSafetensors(rawFile({ n: { dtype: 'I64', shape: [1], data_offsets: [0, 8] } }, i64)), "tensor 'n': I64 element 0 (1099511627776) does not fit in int32", 'I64 range check');
  t.end();
});

test('safetensors files: streamed reading, validation before reading data, atomic saving', (t) => {
  withDir((dir) => {
    const path = join(dir, 'w.safetensors');
    const g = new Generator(3);
    saveSafetensors(path, { a: randn([3, 4], { generator: g }), b: tensor([1, 2], { dtype: 'int32' }) }, { metadata: { k: 'v' } });
    t.deepEqual(readdirSync(dir), ['w.safetensors'], 'no temporary file left behind');
    const file = SafetensorsFile.open(path);
    t.deepEqual(file.keys(), ['a', 'b'], 'keys from the header');
    t.deepEqual(file.metadata, { k: 'v' }, 'metadata from the header');
    t.deepEqual(Array.from(file.read('b').data), [1, 2], 'read one tensor');
    assertThrowsMessage(t, () => file.read('c'), `${path} has no tensor 'c'`, 'unknown name');
    file.close();
    t.deepEqual(loadSafetensors(path).tensors.get('a')!.shape, [3, 4], 'loadSafetensors');
    t.deepEqual(new Uint8Array(readFileSync(path)), encodeSafetensors({ a: loadSafetensors(path).tensors.get('a')!, b: tensor([1, 2], { dtype: 'int32' }) }, { metadata: { k: 'v' } }), 'the file equals the in-memory encoding');

    // A failure while writing leaves the old file intact and no temporary file.
    const before = readFileSync(path);
    assertThrowsMessage(t, () => saveSafetensors(path, { a: tensor([1]), m: { tensor: tensor([-1], { dtype: 'int32' }), dtype: 'U8' } }), 'cannot be stored as U8', 'bad tensor mid-write');
    t.deepEqual(readFileSync(path), before, 'the existing checkpoint is untouched');
    t.deepEqual(readdirSync(dir), ['w.safetensors'], 'the temporary file was removed');

    // A header that claims 64 GB of data in a 1 KB file fails at open, before any data is read.
    const huge = join(dir, 'huge.safetensors');
    const header = new TextEncoder().encode(JSON.stringify({ w: { dtype: 'F32', shape: [1 << 14, 1 << 20], data_offsets: [0, 2 ** 36] } }));
    const bytes = new Uint8Array(1024);
    new DataView(bytes.buffer).setBigUint64(0, BigInt(header.byteLength), true);
    bytes.set(header, 8);
    writeFileSync(huge, bytes);
    assertThrowsMessage(t, () => SafetensorsFile.open(huge), [huge, "tensor 'w'", 'go beyond the'], 'huge claimed tensor refused at open');
    // A truncated file (killed writer of another program): the header is fine, the data is short.
    const truncated = join(dir, 'trunc.safetensors');
    writeFileSync(truncated, readFileSync(path));
    const fd = openSync(truncated, 'r+');
    ftruncateSync(fd, readFileSync(path).byteLength - 4);
    closeSync(fd);
    assertThrowsMessage(t, () => loadSafetensors(truncated), [truncated, "tensor 'b': data_offsets [48, 56] go beyond the 52 bytes of data (the file is too short)"], 'truncated data');
    assertThrowsMessage(t, () => loadSafetensors(join(dir, 'missing.safetensors')), 'cannot open', 'missing file');
  });
  t.end();
});

test('Module.saveSafetensors / loadSafetensors: state dict round trip, int buffers as I64, prefix selection', (t) => {
  withDir((dir) => {
    const g = new Generator(8);
    const net = new Sequential([new Conv2d(2, 3, 3, { generator: g }), new BatchNorm2d(3), new Linear(3, 2, { generator: g })]);
    net.at(1).forward(net.at(0).forward(randn([2, 2, 3, 3], { generator: g }))); // BatchNorm updates its running stats
    const path = join(dir, 'net.safetensors');
    net.saveSafetensors(path, { metadata: { arch: 'test' } });
    const file = SafetensorsFile.open(path);
    t.equal(file.header.entries.get('1.num_batches_tracked')!.dtype, 'I64', 'num_batches_tracked stored as I64 (like torch)');
    file.close();
    const copy = new Sequential([new Conv2d(2, 3, 3), new BatchNorm2d(3), new Linear(3, 2)]);
    copy.loadSafetensors(path);
    const same = [...net.stateDict()].every(([k, v]) => Array.from(copy.stateDict().get(k)!.data).join() === Array.from(v.data).join());
    t.ok(same, 'every tensor restored exactly');
    const part = new BatchNorm2d(3);
    part.loadSafetensors(path, { prefix: '1.' });
    t.deepEqual(Array.from(part.runningMean!.data), Array.from(net.stateDict().get('1.running_mean')!.data), 'prefix selects a part of the file');
    assertThrowsMessage(t, () => new Linear(3, 2).loadSafetensors(path), ['Missing key(s): weight, bias', `while loading ${path}`], 'strict load through a file names the file');
  });
  t.end();
});

test('safetensors: floatDType F16 stores untyped float32 tensors as half precision (ints keep intDType)', (t) => {
  const buf = encodeSafetensors({ w: tensor([1, -2.5, 0.1]), n: tensor([7], { dtype: 'int32' }) }, { floatDType: 'F16', intDType: 'I64' });
  const back = decodeSafetensors(buf);
  t.deepEqual([back.dtypes.get('w'), back.dtypes.get('n')], ['F16', 'I64'], 'F16 floats, I64 ints');
  t.deepEqual(Array.from(back.tensors.get('w')!.data), [1, -2.5, halfToFloat(floatToHalf(0.1))], 'values rounded to half precision');
  t.end();
});

/** Runs `fn` with environment variables set, restoring them after. */
function withEnv(vars: Record<string, string>, fn: () => void): void {
  const before = Object.fromEntries(Object.keys(vars).map((k) => [k, process.env[k]]));
  Object.assign(process.env, vars);
  try {
    fn();
  } finally {
    for (const [k, v] of Object.entries(before)) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  }
}

/** A file whose header is the given text (not necessarily JSON), with `data` after it. */
function rawText(text: string, data = new Uint8Array(0)): Uint8Array {
  const json = new TextEncoder().encode(text);
  const out = new Uint8Array(8 + json.byteLength + data.byteLength);
  new DataView(out.buffer).setBigUint64(0, BigInt(json.byteLength), true);
  out.set(json, 8);
  out.set(data, 8 + json.byteLength);
  return out;
}

test('safetensors: hostile headers (issue 18): deep nesting, non-objects, prototype dtypes, limits by environment, short messages', (t) => {
  const eight = new Uint8Array(8);
  const deep = `{"w":{"dtype":"F32","shape":${'['.repeat(100_000)}${']'.repeat(100_000)},"data_offsets":[0,8]}}`;
  const cases: Array<[string, Uint8Array, string]> = [
    ['a shape nested 100,000 deep', rawText(deep, eight), 'the header: JSON nests deeper than 64 levels'],
    ['header a string', rawText('"weights"'), 'the header must be a JSON object, got "weights"'],
    ['header null', rawText('null'), 'the header must be a JSON object, got null'],
    ['header a number', rawText('12'), 'the header must be a JSON object, got 12'],
    ['entry an array', rawFile({ w: ['F32', [2], [0, 8]] }, eight), "tensor 'w': the entry must be an object"],
    ['dtype from the prototype', rawFile({ w: { dtype: 'toString', shape: [2], data_offsets: [0, 8] } }, eight), "tensor 'w': unknown dtype \"toString\""],
    ['dtype not a string', rawFile({ w: { dtype: 4, shape: [2], data_offsets: [0, 8] } }, eight), "tensor 'w': unknown dtype 4"],
    ['fractional shape', rawFile({ w: { dtype: 'F32', shape: [1.5], data_offsets: [0, 6] } }, eight), "tensor 'w': shape must be a list of non-negative integers, got [1.5]"],
    ['shape beyond safe integers', rawFile({ w: { dtype: 'F32', shape: [2 ** 60, 2 ** 60], data_offsets: [0, 8] } }, eight), "tensor 'w': shape must be a list of non-negative integers"],
    ['offsets as strings', rawFile({ w: { dtype: 'F32', shape: [2], data_offsets: ['0', '8'] } }, eight), "tensor 'w': data_offsets must be [begin, end]"],
    ['not UTF-8', (() => { const b = rawFile({ w: 1 }, eight); b[10] = 0xff; return b; })(), 'the header is not valid UTF-8'],
  ];
  for (const [label, bytes, message] of cases) {
    assertThrowsMessage(t, () => decodeSafetensors(bytes, 'hostile.safetensors'), [`safetensors: hostile.safetensors: ${message}`], label);
  }
  // A long shape is cut in the message: a hostile file cannot make a megabyte error.
  const ones = Array(100_000).fill(1);
  try {
    decodeSafetensors(rawFile({ w: { dtype: 'F32', shape: ones, data_offsets: [0, 8] } }, eight), 'long.safetensors');
    t.fail('a long shape with the wrong byte count should throw');
  } catch (error) {
    const m = (error as Error).message;
    t.ok(m.includes("tensor 'w': shape [1,1,1") && m.length < 300, `the message quotes the shape briefly (${m.length} characters)`);
  }
  // The limits of lib/util/limits.ts, lowered by environment variable, name the variable that raises them.
  const three = rawFile({ w: { dtype: 'F32', shape: [3], data_offsets: [0, 12] } }, new Uint8Array(12));
  withEnv({ MASKRCNN_MAX_TENSOR_ELEMENTS: '2' }, () => {
    assertThrowsMessage(t, () => decodeSafetensors(three, 'big.safetensors'), ["tensor 'w': shape [3] has more than 2 elements", 'MASKRCNN_MAX_TENSOR_ELEMENTS'], 'the element limit');
  });
  withEnv({ MASKRCNN_MAX_HEADER_BYTES: '16' }, () => {
    assertThrowsMessage(t, () => decodeSafetensors(three, 'big.safetensors'), ['is larger than the limit of 16 bytes', 'MASKRCNN_MAX_HEADER_BYTES'], 'the header-size limit');
  });
  withEnv({ MASKRCNN_MAX_JSON_DEPTH: '1' }, () => {
    assertThrowsMessage(t, () => decodeSafetensors(three, 'big.safetensors'), ['JSON nests deeper than 1 levels', 'MASKRCNN_MAX_JSON_DEPTH'], 'the depth limit');
  });
  t.equal(decodeSafetensors(three).tensors.get('w')!.size, 3, 'the same file reads under the default limits');
  const folder = mkdtempSync(join(tmpdir(), 'nn-st-folder-'));
  t.teardown(() => rmSync(folder, { recursive: true, force: true }));
  assertThrowsMessage(t, () => loadSafetensors(folder), [`safetensors: ${folder}: `, 'EISDIR'], 'a folder given as the file is named, with the reason');
  t.end();
});

test('safetensors: 2,000 seeded mutations of a valid file (bit flips, truncation, splices) each decode or fail with a safetensors error', (t) => {
  const valid = encodeSafetensors(
    { a: tensor([[1, 2], [3, 4]]), n: { tensor: tensor([5, -6], { dtype: 'int32' }), dtype: 'I64' }, h: { tensor: tensor([0.5]), dtype: 'F16' } },
    { metadata: { note: 'x' } },
  );
  const g = new Generator(18);
  const randInt = (n: number): number => Math.floor(g.uniform() * n);
  let decoded = 0;
  let clean = 0;
  const unclean: string[] = [];
  for (let i = 0; i < 2000; i++) {
    const bytes = valid.slice();
    const kind = i % 4;
    let input: Uint8Array = bytes;
    if (kind === 0) for (let k = 0; k < 1 + randInt(4); k++) bytes[randInt(bytes.length)] ^= 1 << randInt(8);
    else if (kind === 1) input = bytes.subarray(0, randInt(bytes.length));
    else if (kind === 2) {
      // Replace a digit of the header with a random number's text.
      const text = new TextDecoder().decode(bytes.subarray(8));
      const digits = [...text.matchAll(/\d+/g)];
      const m = digits[randInt(digits.length)]!;
      const replacement = ['-1', '1e300', '0.5', '9007199254740993', 'null', '[]', '{}', '"a"'][randInt(8)]!;
      input = rawText(text.slice(0, m.index) + replacement + text.slice(m.index! + m[0].length));
    } else {
      bytes[randInt(8)] = randInt(256); // the length field
    }
    try {
      decodeSafetensors(input, 'm.safetensors');
      decoded++;
    } catch (error) {
      if (error instanceof Error && error.constructor === Error && error.message.startsWith('safetensors: m.safetensors: ')) clean++;
      else unclean.push(`${(error as Error).constructor.name}: ${(error as Error).message}`);
    }
  }
  t.deepEqual(unclean.slice(0, 5), [], `no other exception (${decoded} decoded, ${clean} clean errors, ${unclean.length} other)`);
  t.equal(decoded + clean, 2000, 'every input accounted for');
  t.end();
});
