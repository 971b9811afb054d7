/**
 * Golden check of lib/maskrcnn/data/rle.ts against the real pycocotools (`mask.encode`,
 * `frPyObjects`, `frBbox`, `area`, `toBbox`, `merge`, `iou`): the fixtures in
 * test/fixtures/coco/rle.json come from tools/oracle/gen_coco.py (see its header for the venv).
 * Everything is compared exactly: counts strings, run lengths, areas, boxes and IoUs.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import test from 'tape';
import {
  type Rle,
  bboxIou,
  rleArea,
  rleCompress,
  rleCountsToString,
  rleDecode,
  rleEncode,
  rleFromBbox,
  rleFromPolygons,
  rleIou,
  rleMerge,
  rleStringToCounts,
  rleToBbox,
  rleUncompress,
} from '../../../lib/maskrcnn/data/rle.js';
import { assertSameNumbers } from '../../helpers.js';

interface EncodeCase {
  name: string;
  h: number;
  w: number;
  mask?: string;
  rects?: [number, number, number, number][];
  counts: string;
  runs: number[];
  area: number;
  bbox: number[];
}
interface PolyCase {
  name: string;
  h: number;
  w: number;
  polygons: number[][];
  parts: string[];
  counts: string;
  area: number;
  bbox: number[];
}
interface BboxCase {
  h: number;
  w: number;
  box: number[];
  counts: string;
  area: number;
  bbox: number[];
}
interface UncompressedCase {
  name: string;
  size: [number, number];
  runs: number[];
  counts: string;
  area: number;
  bbox: number[];
  mask: string | null;
}
interface MergeCase {
  h: number;
  w: number;
  inputs: string[];
  union: string;
  intersection: string;
}
interface IouCase<T> {
  dt: T[];
  gt: T[];
  iscrowd: number[];
  iou: number[][];
}
interface RleFixture {
  seed: number;
  pycocotools: string;
  encode: EncodeCase[];
  poly: PolyCase[];
  bbox: BboxCase[];
  uncompressed: UncompressedCase[];
  merge: MergeCase[];
  iou_rle: IouCase<Rle>[];
  iou_bbox: IouCase<number[]>[];
}

const fixture = JSON.parse(
  readFileSync(fileURLToPath(new URL('../../fixtures/coco/rle.json', import.meta.url)), 'utf8'),
) as RleFixture;

/** Row-major 0/1 mask of a case (the '0'/'1' string, or the union of rectangles [y0, x0, y1, x1)). */
function maskOf(c: { h: number; w: number; mask?: string | null; rects?: [number, number, number, number][] }): Uint8Array {
  const m = new Uint8Array(c.h * c.w);
  if (typeof c.mask === 'string') {
    for (let i = 0; i < m.length; i++) m[i] = c.mask.charCodeAt(i) === 49 ? 1 : 0;
  } else {
    for (const [y0, x0, y1, x1] of c.rects ?? []) for (let y = y0; y < y1; y++) for (let x = x0; x < x1; x++) m[y * c.w + x] = 1;
  }
  return m;
}

function sameMatrix(t: test.Test, actual: number[][], expected: number[][], message: string): void {
  if (actual.length !== expected.length) {
    t.fail(`${message}: ${actual.length} rows, expected ${expected.length}`);
    return;
  }
  assertSameNumbers(t, actual.flat(), expected.flat(), message);
}

test('rle vs pycocotools: encode, decode, string form, area, toBbox', (t) => {
  t.ok(fixture.encode.length > 20, `${fixture.encode.length} masks (pycocotools ${fixture.pycocotools}, seed ${fixture.seed})`);
  for (const c of fixture.encode) {
    const mask = maskOf(c);
    const rle = rleEncode(mask, c.h, c.w);
    t.equal(rle.counts, c.counts, `${c.name}: encode counts`);
    assertSameNumbers(t, rle.size, [c.h, c.w], `${c.name}: size`);
    assertSameNumbers(t, rleStringToCounts(c.counts), c.runs, `${c.name}: string -> runs`);
    t.equal(rleCountsToString(c.runs), c.counts, `${c.name}: runs -> string`);
    assertSameNumbers(t, rleDecode({ size: [c.h, c.w], counts: c.counts }), mask, `${c.name}: decode`);
    t.equal(rleArea({ size: [c.h, c.w], counts: c.counts }), c.area, `${c.name}: area`);
    assertSameNumbers(t, rleToBbox({ size: [c.h, c.w], counts: c.counts }), c.bbox, `${c.name}: toBbox`);
  }
  t.end();
});

test('rle vs pycocotools: frPyObjects of polygons (each part, and their merge)', (t) => {
  for (const c of fixture.poly) {
    c.polygons.forEach((part, i) => {
      t.equal(rleFromPolygons([part], c.h, c.w).counts, c.parts[i], `${c.name}: part ${i} [${part.join(',')}]`);
    });
    const rle = rleFromPolygons(c.polygons, c.h, c.w);
    t.equal(rle.counts, c.counts, `${c.name}: merged`);
    t.equal(rleArea(rle), c.area, `${c.name}: area`);
    assertSameNumbers(t, rleToBbox(rle), c.bbox, `${c.name}: toBbox`);
  }
  t.end();
});

test('rle vs pycocotools: frBbox', (t) => {
  for (const c of fixture.bbox) {
    const rle = rleFromBbox(c.box, c.h, c.w);
    t.equal(rle.counts, c.counts, `frBbox [${c.box.join(', ')}] at ${c.h}x${c.w}`);
    t.equal(rleArea(rle), c.area, `frBbox [${c.box.join(', ')}]: area`);
    assertSameNumbers(t, rleToBbox(rle), c.bbox, `frBbox [${c.box.join(', ')}]: toBbox`);
  }
  t.end();
});

test('rle vs pycocotools: uncompressed RLE (frPyObjects of a dict), non-canonical counts included', (t) => {
  for (const c of fixture.uncompressed) {
    const raw: Rle = { size: c.size, counts: c.runs };
    const compressed = rleCompress(raw);
    t.equal(compressed.counts, c.counts, `${c.name}: compressed counts`);
    assertSameNumbers(t, rleUncompress(compressed).counts, c.runs, `${c.name}: uncompress`);
    for (const [form, r] of [
      ['uncompressed', raw],
      ['compressed', compressed],
    ] as const) {
      t.equal(rleArea(r), c.area, `${c.name}: area (${form})`);
      assertSameNumbers(t, rleToBbox(r), c.bbox, `${c.name}: toBbox (${form})`);
    }
    if (c.mask !== null) {
      assertSameNumbers(t, rleDecode(raw), maskOf({ h: c.size[0], w: c.size[1], mask: c.mask }), `${c.name}: decode`);
    }
  }
  t.end();
});

test('rle vs pycocotools: merge (union and intersection)', (t) => {
  fixture.merge.forEach((c, i) => {
    const rles: Rle[] = c.inputs.map((counts) => ({ size: [c.h, c.w], counts }));
    t.equal(rleMerge(rles, false).counts, c.union, `merge ${i} (${c.inputs.length} masks ${c.h}x${c.w}): union`);
    t.equal(rleMerge(rles, true).counts, c.intersection, `merge ${i}: intersection`);
  });
  t.end();
});

test('rle vs pycocotools: iou on RLEs (crowd, size mismatch -1, empty lists) and on boxes', (t) => {
  fixture.iou_rle.forEach((c, i) => {
    sameMatrix(t, rleIou(c.dt, c.gt, c.iscrowd), c.iou, `rle iou ${i} (${c.dt.length}x${c.gt.length}, crowd ${c.iscrowd.join('')})`);
  });
  fixture.iou_bbox.forEach((c, i) => {
    sameMatrix(t, bboxIou(c.dt, c.gt, c.iscrowd), c.iou, `bbox iou ${i} (${c.dt.length}x${c.gt.length}, crowd ${c.iscrowd.join('')})`);
  });
  t.end();
});
