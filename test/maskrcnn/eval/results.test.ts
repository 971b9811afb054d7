import test from 'tape';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseCoco } from '../../../lib/maskrcnn/data/coco.js';
import { rleEncode, rleFromBbox } from '../../../lib/maskrcnn/data/rle.js';
import { loadResults, readResults, writeResults } from '../../../lib/maskrcnn/eval/results.js';

const gt = parseCoco({
  images: [
    { id: 1, width: 10, height: 8 },
    { id: 2, width: 10, height: 8 },
  ],
  categories: [{ id: 1, name: 'a' }],
  annotations: [],
});

function throwsWith(t: test.Test, fn: () => unknown, pattern: RegExp, message: string): void {
  try {
    fn();
    t.fail(`${message}: did not throw`);
  } catch (error) {
    t.match((error as Error).message, pattern, message);
  }
}

test('loadResults, bbox branch: id = index + 1, area = w*h, box polygon added', (t) => {
  const dets = loadResults(gt, [
    { image_id: 1, category_id: 1, bbox: [1, 2, 3, 4], score: 0.5 },
    { image_id: 2, category_id: 7, bbox: [0, 0, 2, 2], score: 0.25, extra: 'kept out' },
  ]);
  t.deepEqual(
    dets[0],
    { id: 1, image_id: 1, category_id: 1, score: 0.5, bbox: [1, 2, 3, 4], area: 12, iscrowd: 0, segmentation: [[1, 2, 1, 6, 4, 6, 4, 2]] },
    'first detection: box polygon [[x1,y1,x1,y2,x2,y2,x2,y1]]',
  );
  t.equal(dets[1]!.id, 2, 'ids count from 1 in input order');
  t.equal(dets[1]!.category_id, 7, 'unknown categories are kept (the evaluator ignores them)');
  t.end();
});

test('loadResults: with both bbox and segmentation the area is the box area (even for segm)', (t) => {
  const mask = rleEncode(Uint8Array.from({ length: 80 }, (_, i) => (i < 3 ? 1 : 0)), 8, 10); // 3 pixels
  const dets = loadResults(gt, [{ image_id: 1, category_id: 1, bbox: [0, 0, 5, 5], segmentation: mask, score: 1 }]);
  t.equal(dets[0]!.area, 25, 'w*h of the given box, not the 3 mask pixels');
  t.deepEqual(dets[0]!.segmentation, mask, 'segmentation kept');
  t.end();
});

test('loadResults, segmentation branch: area = pixel count, bbox = toBbox (quirk included)', (t) => {
  // a run from (x=0, y=5) down into column 1: toBbox takes the full height
  const m = new Uint8Array(80);
  m[5 * 10 + 0] = 1;
  m[6 * 10 + 0] = 1;
  m[7 * 10 + 0] = 1;
  m[0 * 10 + 1] = 1;
  const rle = rleEncode(m, 8, 10);
  const dets = loadResults(gt, [
    { image_id: 1, category_id: 1, segmentation: rle, score: 0.9 },
    { image_id: 2, category_id: 1, segmentation: rleFromBbox([2, 2, 3, 3], 8, 10), bbox: [9, 9, 9, 9], score: 0.8 },
  ]);
  t.equal(dets[0]!.area, 4, 'mask area');
  t.deepEqual(dets[0]!.bbox, [0, 0, 2, 8], 'toBbox of a run spanning two columns: full height');
  t.equal(dets[1]!.area, 9, 'mask area even when a bbox is given in this branch');
  t.deepEqual(dets[1]!.bbox, [9, 9, 9, 9], 'a given bbox is kept');
  const poly = loadResults(gt, [{ image_id: 1, category_id: 1, segmentation: [[0, 0, 4, 0, 4, 4, 0, 4]], score: 1 }]);
  t.equal(poly[0]!.area, 16, 'polygons (pycocotools cannot read them here) are rasterised at the image size');
  t.end();
});

test('loadResults: an empty list is no detections (a model that found nothing), not an error', (t) => {
  t.deepEqual(loadResults(gt, []), [], 'parsed []');
  t.deepEqual(loadResults(gt, ' [ ] ', { source: 'r.json' }), [], 'JSON text "[ ]"');
  t.end();
});

test('loadResults: clear errors where pycocotools crashes or asserts', (t) => {
  throwsWith(t, () => loadResults(gt, '{}'), /results must be a JSON array/, 'not an array');
  throwsWith(t, () => loadResults(gt, '[{'), /not valid JSON/, 'bad JSON');
  throwsWith(t, () => loadResults(gt, [{ image_id: 3, category_id: 1, bbox: [0, 0, 1, 1], score: 1 }]), /^results\[0\]\.image_id is 3: no image of the ground truth has that id/, 'unknown image');
  throwsWith(t, () => loadResults(gt, [{ image_id: 1, category_id: 1, bbox: [0, 0, 1, 1] }]), /^results\[0\]\.score must be a finite number, got nothing/, 'missing score');
  throwsWith(
    t,
    () => loadResults(gt, [{ image_id: 1, category_id: 1, bbox: [0, 0, 1, 1], score: 1 }, { image_id: 1, category_id: 1, segmentation: rleFromBbox([0, 0, 1, 1], 8, 10), score: 1 }]),
    /^results\[1\]\.bbox must be 4 numbers \[x, y, w, h\], got nothing/,
    'bbox branch: every result needs a bbox',
  );
  throwsWith(
    t,
    () => loadResults(gt, [{ image_id: 1, category_id: 1, segmentation: rleFromBbox([0, 0, 1, 1], 8, 10), score: 1 }, { image_id: 1, category_id: 1, bbox: [0, 0, 1, 1], score: 1 }]),
    /^results\[1\] has no segmentation/,
    'segmentation branch: every result needs a segmentation',
  );
  throwsWith(t, () => loadResults(gt, [{ image_id: 1, category_id: 1, score: 1 }]), /neither a bbox nor a segmentation/, 'nothing to evaluate');
  throwsWith(t, () => loadResults(gt, [{ image_id: 1, category_id: 1, segmentation: { size: [8, 10], counts: [1] }, score: 1 }]), /^results\[0\]\.segmentation \(RLE\): counts sum to 1 but size \[8, 10\] has 80 pixels/, 'bad RLE');
  throwsWith(t, () => loadResults(gt, [{ image_id: 1, category_id: 1, bbox: [1, 2, 3], score: 1 }], { source: 'r.json' }), /^r\.json: results\[0\]\.bbox must be 4 numbers \[x, y, w, h\], got \[1,2,3\]/, 'source prefix');
  t.end();
});

test('loadResults against hostile input (issue 18): boxes, scores, ids, segmentations, depth', (t) => {
  const r = (change: Record<string, unknown>): Record<string, unknown> => ({ image_id: 1, category_id: 1, bbox: [1, 1, 2, 2], score: 0.5, ...change });
  throwsWith(t, () => loadResults(gt, [r({}), r({ bbox: [1, 1, -2, 2] })]), /^results\[1\]\.bbox width and height must not be negative, got \[1,1,-2,2\]/, 'negative width (was accepted with a negative area)');
  throwsWith(t, () => loadResults(gt, [r({ bbox: [1, 1, 2, -0.5] })]), /results\[0\]\.bbox width and height must not be negative/, 'negative height');
  throwsWith(t, () => loadResults(gt, [r({ bbox: [1, 1, 2, NaN] })]), /results\[0\]\.bbox\[3\] must be a finite number, got NaN/, 'NaN in a box');
  throwsWith(t, () => loadResults(gt, [r({ bbox: [1e308, 1, 1e308, 2] })]), /results\[0\]\.bbox's far corner x\+w, y\+h is not finite/, 'x + w overflows');
  throwsWith(t, () => loadResults(gt, '[{"image_id":1,"category_id":1,"bbox":[1,1,2,2],"score":1e999}]', { source: 'r.json' }), /^r\.json: results\[0\]\.score must be a finite number, got Infinity/, 'an infinite score (1e999 in the file)');
  throwsWith(t, () => loadResults(gt, [r({ category_id: 0 })]), /results\[0\]\.category_id must be a positive integer, got 0/, 'category 0');
  throwsWith(t, () => loadResults(gt, [r({ category_id: 1.5 })]), /category_id must be a positive integer, got 1\.5/, 'fractional category');
  throwsWith(t, () => loadResults(gt, [r({ category_id: 2 ** 53 + 2 })]), /category_id must be a positive integer, got 9007199254740994/, 'unsafe category id');
  // segmentations are checked in both branches, before anything is rasterised
  throwsWith(t, () => loadResults(gt, [r({ segmentation: { size: [40000, 40000], counts: [0, 1600000000] } })]), /results\[0\]\.segmentation \(RLE\): a 40000x40000 mask has 1600000000 pixels, more than the limit/, 'an RLE bomb in the bbox branch');
  throwsWith(t, () => loadResults(gt, [r({ segmentation: [] })]), /results\[0\]\.segmentation is an empty list of polygons/, 'empty polygon list');
  throwsWith(t, () => loadResults(gt, [{ image_id: 1, category_id: 1, score: 1, segmentation: { size: [8, 10], counts: null } }]), /results\[0\]\.segmentation \(RLE\): counts must be a string or an array/, 'counts null (segm branch)');
  throwsWith(t, () => loadResults(gt, [{ image_id: 1, category_id: 1, score: 1, segmentation: { size: [8, 10], counts: 'o'.repeat(99) } }]), /more than 11 characters/, 'a counts string that decoded to NaN');
  // depth, from the text and from an array built in JavaScript
  const deepText = `[{"image_id":1,"category_id":1,"score":1,"segmentation":${'['.repeat(100000)}${']'.repeat(100000)}}]`;
  throwsWith(t, () => loadResults(gt, deepText, { source: 'deep.json' }), /^deep\.json: JSON nests deeper than 64 levels/, 'nested 100,000 deep (text)');
  let deep: unknown = [];
  for (let i = 0; i < 100000; i++) deep = [deep];
  throwsWith(t, () => loadResults(gt, [r({ segmentation: deep })]), /^results: nests deeper than 64 levels \(at \[0\]\.segmentation/, 'nested 100,000 deep (object): no stack overflow');
  throwsWith(t, () => writeResults('/nonexistent/x.json', [r({ segmentation: deep }) as never]), /writeResults: \/nonexistent\/x\.json: nests deeper than 64 levels/, 'writeResults checks depth before JSON.stringify');
  throwsWith(t, () => writeResults('/nonexistent/x.json', [r({ bbox: [0, 0, -1, 1] }) as never]), /writeResults: results\[0\]\.bbox width and height must not be negative/, 'writeResults refuses a negative box');
  t.end();
});

test('writeResults / readResults: atomic round trip', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'results-test-'));
  try {
    const path = join(dir, 'dt.json');
    const results = [{ image_id: 2, category_id: 1, bbox: [1, 1, 2, 2], score: 0.125 }];
    writeResults(path, results);
    t.deepEqual(readdirSync(dir), ['dt.json'], 'no temporary file left');
    t.deepEqual(JSON.parse(readFileSync(path, 'utf8')), results, 'JSON array written');
    t.equal(readResults(path, gt)[0]!.area, 4, 'read back and loaded');
    throwsWith(t, () => writeResults(path, [{ image_id: 1, category_id: 1, score: Number.NaN, bbox: [0, 0, 1, 1] }]), /score must be a finite number/, 'NaN score refused');
    throwsWith(t, () => readResults(join(dir, 'nope.json'), gt), /cannot read results file .*nope\.json/, 'missing file named');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  t.end();
});
