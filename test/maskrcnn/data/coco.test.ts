import test from 'tape';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  annToRle,
  annotationsForImage,
  categoryIds,
  indexCoco,
  parseCoco,
  readCoco,
  writeCoco,
  type CocoDataset,
} from '../../../lib/maskrcnn/data/coco.js';
import { rleArea, rleCountsToString, rleToBbox, rleUncompress } from '../../../lib/maskrcnn/data/rle.js';

function sample(): CocoDataset {
  return {
    info: { description: 'test' },
    images: [
      { id: 1, width: 20, height: 10, file_name: 'a.png' },
      { id: 7, width: 8, height: 8, file_name: 'b.png' },
    ],
    categories: [
      { id: 3, name: 'triangle' },
      { id: 1, name: 'square', supercategory: 'shape' },
    ],
    annotations: [
      { id: 10, image_id: 1, category_id: 1, bbox: [0, 0, 4, 4], area: 16, iscrowd: 0, segmentation: [[0, 0, 4, 0, 4, 4, 0, 4]] },
      { id: 11, image_id: 7, category_id: 3, bbox: [1, 1, 2, 2], area: 4, iscrowd: 1, segmentation: { size: [8, 8], counts: [9, 2, 6, 2, 45] } },
      { id: 12, image_id: 1, category_id: 3, bbox: [2, 2, 3, 3], area: 9, iscrowd: 0 },
    ],
  };
}

/** Runs `fn` and checks it throws an error whose message matches `pattern`. */
function throwsWith(t: test.Test, fn: () => unknown, pattern: RegExp, message: string): void {
  try {
    fn();
    t.fail(`${message}: did not throw`);
  } catch (error) {
    t.match((error as Error).message, pattern, message);
  }
}

function withAnn(change: Record<string, unknown>, index = 0): unknown {
  const d = sample() as unknown as { annotations: Record<string, unknown>[] };
  d.annotations[index] = { ...d.annotations[index], ...change };
  return d;
}

test('parseCoco: a valid file, from text or object; normalises iscrowd; keeps extra fields', (t) => {
  const d = sample();
  const fromText = parseCoco(JSON.stringify(d));
  t.equal(fromText.images.length, 2, 'images');
  t.equal(fromText.annotations.length, 3, 'annotations');
  t.deepEqual(fromText.info, { description: 'test' }, 'info kept');
  t.equal(fromText.categories[1]!.supercategory, 'shape', 'extra category fields kept');
  const noCrowd = withAnn({ iscrowd: undefined }) as CocoDataset;
  delete (noCrowd.annotations[0] as Record<string, unknown>).iscrowd;
  t.equal(parseCoco(noCrowd).annotations[0]!.iscrowd, 0, 'missing iscrowd reads as 0');
  t.equal(parseCoco(withAnn({ iscrowd: true })).annotations[0]!.iscrowd, 1, 'iscrowd true -> 1');
  const noAnns = { images: d.images, categories: d.categories };
  t.deepEqual(parseCoco(noAnns).annotations, [], "missing 'annotations' reads as empty");
  t.deepEqual(categoryIds(fromText), [1, 3], 'categoryIds sorted');
  t.end();
});

test('parseCoco: errors name the entry and the field', (t) => {
  throwsWith(t, () => parseCoco(withAnn({ id: 1768, bbox: [1, 2, 3] })), /^annotations\[0\] \(id 1768\): bbox must be 4 numbers \[x, y, w, h\], got \[1,2,3\]$/, 'short bbox');
  throwsWith(t, () => parseCoco(withAnn({ bbox: [1, 2, -3, 4] })), /annotations\[0\] \(id 10\): bbox width and height must not be negative, got \[1,2,-3,4\]/, 'negative box');
  throwsWith(t, () => parseCoco(withAnn({ bbox: [1, 2, 'x', 4] })), /annotations\[0\] \(id 10\): bbox\[2\] must be a finite number, got "x"/, 'non-number in box');
  throwsWith(t, () => parseCoco(withAnn({ image_id: 99 })), /annotations\[0\] \(id 10\): image_id 99 is not among the images/, 'unknown image');
  throwsWith(t, () => parseCoco(withAnn({ category_id: 5 })), /annotations\[0\] \(id 10\): category_id 5 is not among the categories/, 'unknown category');
  throwsWith(t, () => parseCoco(withAnn({ id: 11 })), /annotations\[1\] \(id 11\): duplicate annotation id/, 'duplicate annotation id');
  throwsWith(t, () => parseCoco(withAnn({ area: -1 })), /annotations\[0\] \(id 10\): area must be a finite number >= 0, got -1/, 'negative area');
  throwsWith(t, () => parseCoco(withAnn({ area: undefined })), /annotations\[0\] \(id 10\): area must be a finite number >= 0, got nothing/, 'missing area');
  throwsWith(t, () => parseCoco(withAnn({ iscrowd: 2 })), /annotations\[0\] \(id 10\): iscrowd must be 0 or 1, got 2/, 'bad iscrowd');
  throwsWith(t, () => parseCoco(withAnn({ segmentation: [[0, 0, 4, 0, 4]] })), /annotations\[0\] \(id 10\): segmentation\[0\] has an odd number of coordinates \(5\)/, 'odd polygon');
  throwsWith(t, () => parseCoco(withAnn({ segmentation: [[0, 0, 4, 0, 4, 4], [1, 1, 2, 2]] })), /annotations\[0\] \(id 10\): segmentation\[1\] has 2 points; a polygon needs at least 3/, 'two-point polygon');
  throwsWith(t, () => parseCoco(withAnn({ segmentation: { size: [8, 8], counts: [9, 2, 6, 2, 44] } }, 1)), /annotations\[1\] \(id 11\): segmentation \(RLE\): counts sum to 63 but size \[8, 8\] has 64 pixels/, 'RLE sum');
  throwsWith(t, () => parseCoco(withAnn({ segmentation: { size: [8, 8], counts: '0~' } }, 1)), /annotations\[1\] \(id 11\): segmentation \(RLE\): RLE string: bad character "~"/, 'bad RLE string');
  // pycocotools evaluates an RLE whose size differs from its image's (it keeps its own size);
  // only its counts must add up to that size.
  t.doesNotThrow(() => parseCoco(withAnn({ segmentation: { size: [9, 8], counts: [72] } }, 1)), 'an RLE may have its own size');
  throwsWith(t, () => parseCoco(withAnn({ segmentation: { size: [9, 8], counts: [64] } }, 1)), /annotations\[1\] \(id 11\): segmentation \(RLE\): counts sum to 64 but size \[9, 8\] has 72 pixels/, 'its counts must fill its own size');
  throwsWith(t, () => parseCoco(withAnn({ segmentation: 'abc' })), /annotations\[0\] \(id 10\): segmentation must be a list of polygons or an RLE object/, 'bad segmentation type');
  const d = sample() as unknown as { images: Record<string, unknown>[]; categories: Record<string, unknown>[] };
  d.images[1] = { id: 7, width: 0, height: 8 };
  throwsWith(t, () => parseCoco(d), /images\[1\] \(id 7\): width must be a positive integer, got 0/, 'zero width');
  d.images[1] = { id: 1, width: 8, height: 8 };
  throwsWith(t, () => parseCoco(d), /images\[1\] \(id 1\): duplicate image id/, 'duplicate image');
  d.images[1] = { id: 7, width: 8, height: -8 };
  throwsWith(t, () => parseCoco(d), /images\[1\] \(id 7\): height must be a positive integer, got -8/, 'negative height');
  const e = sample() as unknown as { categories: unknown[] };
  e.categories.push({ id: 3, name: 'x' });
  throwsWith(t, () => parseCoco(e), /categories\[2\] \(id 3\): duplicate category id/, 'duplicate category');
  throwsWith(t, () => parseCoco('{"images": [], '), /not valid JSON/, 'bad JSON');
  throwsWith(t, () => parseCoco({ images: {}, categories: [] }), /'images' must be an array/, 'images not an array');
  throwsWith(t, () => parseCoco(withAnn({ bbox: [1, 2, 3] }), { source: 'x.json' }), /^x\.json: annotations\[0\] \(id 10\): bbox/, 'source prefix');
  t.end();
});

test('parseCoco is linear-time on a large file', (t) => {
  const n = 100000;
  const images = Array.from({ length: 2000 }, (_, i) => ({ id: i + 1, width: 64, height: 64 }));
  const annotations = Array.from({ length: n }, (_, i) => ({
    id: i + 1,
    image_id: (i % 2000) + 1,
    category_id: 1,
    bbox: [1, 1, 5, 5],
    area: 25,
    iscrowd: 0,
    segmentation: [[1, 1, 6, 1, 6, 6, 1, 6]],
  }));
  const start = Date.now();
  const d = parseCoco({ images, categories: [{ id: 1, name: 'a' }], annotations });
  const index = indexCoco(d);
  const ms = Date.now() - start;
  t.equal(index.annotations.size, n, `${n} annotations indexed`);
  t.equal(annotationsForImage(index, 5).length, n / 2000, 'annotations per image');
  t.ok(ms < 5000, `parsed and indexed in ${ms} ms`);
  t.end();
});

test('indexCoco and annotationsForImage keep file order', (t) => {
  const index = indexCoco(parseCoco(sample()));
  t.deepEqual(annotationsForImage(index, 1).map((a) => a.id), [10, 12], 'image 1, file order');
  t.deepEqual(annotationsForImage(index, 1, [3]).map((a) => a.id), [12], 'filtered by category');
  t.deepEqual(annotationsForImage(index, 99), [], 'unknown image -> empty');
  t.equal(index.images.get(7)!.width, 8, 'images by id');
  t.equal(index.categories.get(3)!.name, 'triangle', 'categories by id');
  t.end();
});

test('annToRle: polygons at the image size, uncompressed crowd RLE at its own size', (t) => {
  const d = parseCoco(sample());
  const index = indexCoco(d);
  const poly = annToRle(d.annotations[0]!, index.images.get(1)!);
  t.deepEqual(poly.size, [10, 20], 'polygon rasterised at [height, width] of image 1');
  t.equal(rleArea(poly), 16, 'square 0..3');
  const crowd = annToRle(d.annotations[1]!, index.images.get(7)!);
  t.equal(typeof crowd.counts, 'string', 'compressed');
  t.deepEqual(rleUncompress(crowd).counts, [9, 2, 6, 2, 45], 'same runs');
  t.deepEqual(rleToBbox(crowd), [1, 1, 2, 2], 'box');
  // an uncompressed RLE keeps its own size even when the image says otherwise (pycocotools)
  const own = annToRle({ id: 5, segmentation: { size: [2, 2], counts: [0, 4] } }, { height: 8, width: 8 });
  t.deepEqual(own.size, [2, 2], 'own size');
  const compressed = { size: [2, 2] as [number, number], counts: rleCountsToString([1, 3]) };
  t.deepEqual(annToRle({ id: 6, segmentation: compressed }, { height: 2, width: 2 }), compressed, 'compressed RLE as is');
  throwsWith(t, () => annToRle({ id: 12 }, { height: 8, width: 8 }), /annotation 12: has no segmentation/, 'missing segmentation');
  throwsWith(t, () => annToRle({ id: 13, segmentation: [[0, 0, 4, 4]] }, { height: 8, width: 8 }), /annotation 13: segmentation polygon 0 must have at least 3 points/, '4-number first polygon (pycocotools: a box)');
  throwsWith(t, () => annToRle({ id: 14, segmentation: [] }, { height: 8, width: 8 }), /annotation 14: segmentation is an empty list/, 'empty list');
  t.end();
});

test('parseCoco against hostile input (issue 18): depth, ids, geometry, sizes; all fail fast', (t) => {
  const started = Date.now();
  // deep nesting: in the text (checked before JSON.parse) and in an object built in JavaScript
  const deepText = JSON.stringify(sample()).replace('"segmentation":[[0,0,4,0,4,4,0,4]]', `"segmentation":${'['.repeat(100000)}${']'.repeat(100000)}`);
  throwsWith(t, () => parseCoco(deepText, { source: 'deep.json' }), /^deep\.json: JSON nests deeper than 64 levels \(at character \d+\); raise it with the environment variable MASKRCNN_MAX_JSON_DEPTH=N/, 'a segmentation nested 100,000 deep (text)');
  let deep: unknown = [];
  for (let i = 0; i < 100000; i++) deep = [deep];
  throwsWith(t, () => parseCoco(withAnn({ segmentation: deep }), { source: 'obj' }), /^obj: nests deeper than 64 levels \(at \.annotations\[0\]\.segmentation(\[0\])+\)/, 'nested 100,000 deep (object): the JSON path, no stack overflow');
  throwsWith(t, () => parseCoco(withAnn({ bbox: [deep, 0, 1, 1] })), /nests deeper than 64 levels \(at \.annotations\[0\]\.bbox\[0\]/, 'a deep value inside a bbox');
  // geometry must be finite (and fit the float32 the dataset stores)
  throwsWith(t, () => parseCoco(withAnn({ area: 1e308 })), /annotations\[0\] \(id 10\): area 1e\+308 is beyond the float32 range/, 'area 1e308');
  throwsWith(t, () => parseCoco(withAnn({ area: Infinity })), /area must be a finite number >= 0, got Infinity/, 'area Infinity (built in JS)');
  throwsWith(t, () => parseCoco(withAnn({ area: NaN })), /area must be a finite number >= 0, got NaN/, 'area NaN');
  throwsWith(t, () => parseCoco(withAnn({ bbox: [0, 0, NaN, 1] })), /bbox\[2\] must be a finite number, got NaN/, 'NaN width');
  throwsWith(t, () => parseCoco(withAnn({ bbox: [1e308, 0, 1e308, 1] })), /bbox's far corner x\+w, y\+h is not finite/, 'x + w overflows');
  throwsWith(t, () => parseCoco(withAnn({ segmentation: [[0, 0, 4, 0, Infinity, 4]] })), /segmentation\[0\]\[4\] must be a finite number, got Infinity/, 'polygon coordinate');
  // ids: category and image ids positive safe integers (0 is the background label)
  const cat0 = sample() as unknown as { categories: Record<string, unknown>[]; annotations: Record<string, unknown>[] };
  cat0.categories[0]!.id = 0;
  cat0.annotations[1]!.category_id = 0;
  cat0.annotations[2]!.category_id = 0;
  throwsWith(t, () => parseCoco(cat0), /categories\[0\]\.id must be a positive integer \(0 is the background label\), got 0/, 'category id 0');
  const unsafe = sample() as unknown as { categories: Record<string, unknown>[] };
  unsafe.categories[0]!.id = 2 ** 53 + 2;
  throwsWith(t, () => parseCoco(unsafe), /categories\[0\]\.id must be a positive integer .*got 9007199254740994/, 'a category id beyond 2^53');
  throwsWith(t, () => parseCoco(withAnn({ category_id: 0 })), /annotations\[0\] \(id 10\): category_id must be a positive integer \(0 is the background label\), got 0/, 'an annotation of category 0');
  const img0 = sample() as unknown as { images: Record<string, unknown>[] };
  img0.images[0]!.id = 0;
  throwsWith(t, () => parseCoco(img0), /images\[0\]\.id must be a positive integer, got 0/, 'image id 0');
  throwsWith(t, () => parseCoco(withAnn({ image_id: 1.5 })), /image_id must be a positive integer, got 1\.5/, 'fractional image_id');
  t.doesNotThrow(() => parseCoco(withAnn({ id: 0 })), 'annotation id 0 is kept (pycocotools evaluates it, quirk included)');
  throwsWith(t, () => parseCoco(withAnn({ id: 2 ** 60 })), /annotations\[0\]\.id must be an integer, got 1152921504606847000/, 'an unsafe annotation id');
  // polygons: an empty list is an error (pycocotools crashes on it), as is a part of < 3 points
  throwsWith(t, () => parseCoco(withAnn({ segmentation: [] })), /annotations\[0\] \(id 10\): segmentation is an empty list of polygons/, 'empty polygon list');
  throwsWith(t, () => parseCoco(withAnn({ segmentation: [[]] })), /segmentation\[0\] has 0 points; a polygon needs at least 3/, 'an empty polygon');
  // sizes: images and RLEs within the pixel limit, checked before anything is decoded
  const huge = sample() as unknown as { images: Record<string, unknown>[] };
  huge.images[0] = { id: 1, width: 65536, height: 65536 };
  throwsWith(t, () => parseCoco(huge), /images\[0\] \(id 1\): 65536x65536 = 4294967296 pixels is more than the limit of 89478485 .*MASKRCNN_MAX_IMAGE_PIXELS/, 'a 65536x65536 image');
  throwsWith(t, () => parseCoco(withAnn({ segmentation: { size: [40000, 40000], counts: [0, 1600000000] } }, 1)), /annotations\[1\] \(id 11\): segmentation \(RLE\): a 40000x40000 mask has 1600000000 pixels, more than the limit/, 'the 300-byte RLE bomb');
  throwsWith(t, () => parseCoco(withAnn({ segmentation: { size: [8, 8], counts: [1, 2 ** 40, 3] } }, 1)), /counts\[0\.\.1\] already sum to/, 'a huge count');
  throwsWith(t, () => parseCoco(withAnn({ segmentation: { size: [8, 8], counts: null } }, 1)), /segmentation \(RLE\): counts must be a string or an array of numbers, got null/, 'counts null');
  throwsWith(t, () => parseCoco(withAnn({ segmentation: { size: [8, 8], counts: 'o'.repeat(200) } }, 1)), /has more than 11 characters/, 'a counts string that decoded to NaN');
  // A hang guard (issue 18's cases ran for tens of seconds or did not end), not a speed goal.
  t.ok(Date.now() - started < 10_000, `every case fails fast (${Date.now() - started} ms in all, under a 10 s hang guard)`);
  t.end();
});

test('readCoco / writeCoco: round trip, atomic write, clear errors', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'coco-test-'));
  try {
    const path = join(dir, 'ann.json');
    writeCoco(path, sample());
    t.deepEqual(readdirSync(dir), ['ann.json'], 'no temporary file left behind');
    const back = readCoco(path);
    t.deepEqual(back.annotations.map((a) => a.id), [10, 11, 12], 'round trip');
    t.deepEqual(back.annotations[1]!.segmentation, { size: [8, 8], counts: [9, 2, 6, 2, 45] }, 'segmentation preserved');
    writeCoco(path, { ...sample(), annotations: [] });
    t.equal(JSON.parse(readFileSync(path, 'utf8')).annotations.length, 0, 'overwrite replaces the file');
    throwsWith(t, () => writeCoco(path, withAnn({ bbox: [1] }) as CocoDataset), /annotations\[0\] \(id 10\): bbox must be 4 numbers \[x, y, w, h\], got \[1\]/, 'invalid dataset not written');
    t.equal(JSON.parse(readFileSync(path, 'utf8')).annotations.length, 0, 'old file intact after a refused write');
    throwsWith(t, () => readCoco(join(dir, 'missing.json')), /cannot read COCO file .*missing\.json/, 'missing file named');
    writeFileSync(join(dir, 'bad.json'), JSON.stringify(withAnn({ category_id: 42 })));
    throwsWith(t, () => readCoco(join(dir, 'bad.json')), /bad\.json: annotations\[0\] \(id 10\): category_id 42/, 'file name in validation errors');
    throwsWith(t, () => writeCoco(join(dir, 'no', 'such', 'dir.json'), sample()), /cannot write/, 'unwritable path');
    writeFileSync(join(dir, 'deep.json'), `{"images":${'['.repeat(5000)}${']'.repeat(5000)}}`);
    throwsWith(t, () => readCoco(join(dir, 'deep.json')), /deep\.json: JSON nests deeper than 64 levels/, 'a deep file is named');
    writeFileSync(join(dir, 'cut.json'), '{"images": [');
    throwsWith(t, () => readCoco(join(dir, 'cut.json')), /cut\.json: not valid JSON \(/, 'a truncated file is named');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  t.end();
});
