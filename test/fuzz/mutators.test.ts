/**
 * The fuzz suite's mutators (deterministic for a seed, doing what they say) and its oracle
 * (seeds judged valid, the issue's examples judged as the issue says, the RLE string decoder
 * equal to the project's writer on valid strings).
 */
import test from 'tape';
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { rleCountsToString } from '../../lib/index.js';
import { BYTE_MUTATORS, JSON_MUTATORS, RawJson, Rng, caseSeed, cloneJson, deepJson, mutateJson, toJsonText, type JsonLike } from '../../tools/fuzz/mutate.js';
import { decodeRleString, jsonTextProblem, rleProblem } from '../../tools/fuzz/oracle.js';
import { READERS } from '../../tools/fuzz/readers/index.js';
import { pngProblem } from '../../tools/fuzz/readers/png.js';
import { jpegBomb, jpegProblem } from '../../tools/fuzz/readers/jpeg.js';
import { decodeJpeg } from '../../lib/maskrcnn/data/jpeg.js';

const JPEG_FIXTURES = join(dirname(fileURLToPath(import.meta.url)), '..', 'fixtures', 'jpeg');
import type { ReaderName } from '../../tools/fuzz/spec.js';

const bitsDiffer = (a: Uint8Array, b: Uint8Array): number => {
  let n = 0;
  for (let i = 0; i < a.length; i++) for (let x = a[i]! ^ b[i]!; x; x &= x - 1) n++;
  return n;
};

test('Rng and caseSeed: the same seed gives the same choices, other seeds others', (t) => {
  const draw = (seed: number): number[] => {
    const r = new Rng(seed);
    return Array.from({ length: 8 }, () => r.int(1000));
  };
  t.deepEqual(draw(7), draw(7), 'same seed, same draws');
  t.notDeepEqual(draw(7), draw(8), 'another seed, other draws');
  t.notEqual(caseSeed(0, 'coco', 1), caseSeed(0, 'coco', 2), 'inputs of one reader get their own seeds');
  t.notEqual(caseSeed(0, 'coco', 1), caseSeed(0, 'png', 1), 'readers get their own streams');
  t.throws(() => new Rng(1).int(0), /n must be >= 1/, 'int(0) is an error');
  t.end();
});

test('byte mutators: deterministic, the input untouched, the change as described', (t) => {
  const input = new Uint8Array(Array.from({ length: 200 }, (_, i) => i));
  for (const [name, mutate] of Object.entries(BYTE_MUTATORS)) {
    const a = mutate(input, new Rng(11));
    const b = mutate(input, new Rng(11));
    t.deepEqual([a.bytes, a.note], [b.bytes, b.note], `${name}: same seed, same output`);
    t.deepEqual(input, new Uint8Array(Array.from({ length: 200 }, (_, i) => i)), `${name}: the input is not modified`);
  }
  for (let s = 0; s < 20; s++) {
    const flip = BYTE_MUTATORS.bitflip!(input, new Rng(s));
    const d = bitsDiffer(input, flip.bytes);
    t.ok(flip.bytes.length === 200 && d >= 0 && d <= 4, `bitflip ${s}: ${d} bit(s) differ (flips may cancel)`);
    t.ok(BYTE_MUTATORS.truncate!(input, new Rng(s)).bytes.length < 200, `truncate ${s}: shorter`);
    t.equal(BYTE_MUTATORS.insertByte!(input, new Rng(s)).bytes.length, 201, `insertByte ${s}: one byte longer`);
    t.ok(BYTE_MUTATORS.deleteBytes!(input, new Rng(s)).bytes.length < 200, `deleteBytes ${s}: shorter`);
  }
  const region = BYTE_MUTATORS.setByte!(input, new Rng(3), [10, 12]);
  const changed = [...region.bytes].flatMap((b, i) => (b !== input[i] ? [i] : []));
  t.ok(changed.every((i) => i >= 10 && i < 12), `a region keeps the change inside it (changed ${changed.join(',') || 'nothing'})`);
  t.end();
});

test('toJsonText: special numbers, raw pieces, deep nesting', (t) => {
  t.equal(JSON.parse(toJsonText([Infinity, -Infinity, 1e308])).join(), 'Infinity,-Infinity,1e+308', 'Infinity is written 1e999, which JSON.parse reads back');
  t.ok(jsonTextProblem(toJsonText({ a: NaN })) !== null, 'NaN is written NaN, which is not JSON');
  t.equal(toJsonText({ id: new RawJson('9007199254740993') }), '{"id":9007199254740993}', 'raw text is written verbatim');
  const deep = deepJson(100_000, 'array');
  t.equal(deep.length, 200_000, 'deepJson makes 100,000 levels');
  t.match(jsonTextProblem(deep) ?? '', /nests deeper/, 'the oracle judges it by the shared depth limit, without recursion');
  t.end();
});

test('JSON mutators: deterministic for a seed, the input untouched', (t) => {
  const doc: JsonLike = { images: [{ id: 1, width: 64, height: 64, file_name: 'a.png' }], annotations: [{ id: 1, bbox: [1, 2, 3, 4], area: 12 }], categories: [{ id: 1, name: 'x' }] };
  const before = toJsonText(doc);
  for (const name of Object.keys(JSON_MUTATORS)) {
    const run = (): string | null => {
      const r = JSON_MUTATORS[name]!(cloneJson(doc), new Rng(5));
      return r === null ? null : `${toJsonText(r.root)} ${r.note}`;
    };
    t.equal(run(), run(), `${name}: same seed, same result`);
  }
  const m = mutateJson(doc, new Rng(9));
  t.deepEqual(mutateJson(doc, new Rng(9)), m, 'mutateJson: same seed, same text');
  t.equal(toJsonText(doc), before, 'mutateJson leaves its input alone');
  const dup = JSON_MUTATORS.duplicateKey!(cloneJson(doc), new Rng(2))!;
  const text = toJsonText(dup.root);
  const key = /duplicated key \$[^ ]*\.(\w+) /.exec(dup.note)![1]!;
  t.ok(text.split(`"${key}":`).length - 1 >= 2, `duplicateKey writes the key twice (${dup.note})`);
  t.end();
});

test('oracle: the RLE string decoder agrees with the writer and rejects what cannot be right', (t) => {
  const rng = new Rng(3);
  for (let k = 0; k < 50; k++) {
    const counts = Array.from({ length: 1 + rng.int(12) }, () => (rng.chance(0.2) ? rng.int(2 ** 40) : rng.int(300)));
    const d = decodeRleString(rleCountsToString(counts));
    t.deepEqual('runs' in d ? d.runs : d.problem, counts, `round trip ${k}`);
  }
  t.match((decodeRleString('P'.repeat(210) + '0') as { problem: string }).problem, /longer than 64 bits/, 'a value longer than 64 bits (NaN in a float decoder) is invalid');
  t.match((decodeRleString('0P') as { problem: string }).problem, /ends inside a value/, 'a cut-off value is invalid');
  t.match((decodeRleString('01p') as { problem: string }).problem, /character/, 'a character after o is invalid');
  t.equal(rleProblem({ size: [2, 3], counts: [1, 2, 3] }), null, 'a valid RLE');
  t.match(rleProblem({ size: [2, 3], counts: [1, 2, 2] }) ?? '', /sum to 5/, 'counts that do not sum to h*w');
  t.match(rleProblem({ size: [100000, 65536], counts: [6553599999, 1] }) ?? '', /pixel limit/, 'a size over the shared pixel limit');
  t.match(rleProblem({ size: [2, 3], counts: [1, -2, 7] }) ?? '', /count is -2/, 'a negative count');
  t.end();
});

test('readers: seeds are valid, the issue examples are judged as the issue says, inputs are deterministic', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'fuzz-mutators-'));
  try {
    for (const name of ['coco', 'results', 'rle', 'png', 'jpeg', 'safetensors'] as ReaderName[]) {
      const reader = READERS[name];
      mkdirSync(join(dir, name));
      const ctx = await reader.prepare(join(dir, name), join(dir, 'cache', name));
      for (const s of reader.seeds(ctx)) t.equal(s.invalidBecause, null, `${name} ${s.name}: the oracle accepts the seed`);
      for (const r of reader.regressions(ctx)) {
        const valid = /png-bomb-(4096|6000)|jpeg-bomb-(2000|6000)/.test(r.name);
        t.equal(r.invalidBecause === null, valid, `${name} ${r.name}: ${valid ? 'valid (it must be read within the guards)' : `invalid (${r.invalidBecause})`}`);
      }
      const a = reader.generate(ctx, new Rng(caseSeed(4, name, 17)), 17);
      const b = reader.generate(ctx, new Rng(caseSeed(4, name, 17)), 17);
      t.deepEqual([a.bytes, a.mutator, a.note, a.invalidBecause], [b.bytes, b.mutator, b.note, b.invalidBecause], `${name}: input 17 of seed 4 is the same twice (${a.mutator})`);
      let invalid = 0;
      for (let i = 0; i < 40; i++) if (reader.generate(ctx, new Rng(caseSeed(4, name, i)), i).invalidBecause !== null) invalid++;
      t.ok(invalid > 10 && invalid < 40, `${name}: the oracle calls some mutated inputs invalid and not all (${invalid} of 40)`);
    }
    mkdirSync(join(dir, 'png2'));
    const png = new Uint8Array(READERS.png.seeds(await READERS.png.prepare(join(dir, 'png2'), join(dir, 'cache', 'png')))[0]!.bytes);
    t.match(pngProblem(png.subarray(0, png.length - 6)) ?? '', /cut off|past the end/, 'a truncated PNG is invalid');
    const flipped = png.slice();
    flipped[20]! ^= 1;
    t.match(pngProblem(flipped) ?? '', /bad CRC/, 'a flipped bit in IHDR breaks its CRC');
    const jpeg = new Uint8Array(readFileSync(join(JPEG_FIXTURES, 'restart.jpg')));
    t.equal(jpegProblem(jpeg), null, 'a JPEG with restart markers is valid');
    t.match(jpegProblem(jpeg.subarray(0, jpeg.length - 2)) ?? '', /runs to the end|ends before/, 'a JPEG without its EOI is invalid');
    const rst = jpeg.findIndex((b, i) => b === 0xff && jpeg[i + 1] === 0xd1);
    const misnumbered = jpeg.slice();
    misnumbered[rst + 1] = 0xd3;
    t.match(jpegProblem(misnumbered) ?? '', /RST3 where RST1 is due/, 'a restart marker out of turn is invalid');
    t.throws(() => decodeJpeg(misnumbered, 'm.jpg'), /m\.jpg is not a valid JPEG: expected the restart marker RST1 after 4 MCUs of a scan, found marker 0xd3/, 'and the reader refuses it, naming the file');
    const bomb = jpegBomb(40, 24, true);
    t.equal(jpegProblem(bomb), null, 'a hand-made bomb is valid');
    t.deepEqual([...new Set(decodeJpeg(bomb).rgba)].sort((a, b) => a - b), [128, 255], 'and decodes to mid-gray');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
