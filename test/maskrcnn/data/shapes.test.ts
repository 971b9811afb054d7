import test from 'tape';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Generator } from '../../../lib/tensor/index.js';
import {
  SHAPE_CATEGORIES,
  generateShapes,
  polygonsFromMask,
  shapesImagePng,
  shapesToCoco,
  writeShapes,
  type ShapesDataset,
} from '../../../lib/maskrcnn/data/shapes.js';
import { rleArea, rleDecode, rleFromPolygons, rleToBbox } from '../../../lib/maskrcnn/data/rle.js';
import { annToRle, parseCoco } from '../../../lib/maskrcnn/data/coco.js';
import { decodePng } from '../../../lib/maskrcnn/data/png.js';

// One dataset shared by the checks below: enough images for occlusion and crowds to occur.
let shared: ShapesDataset | undefined;
function dataset(): ShapesDataset {
  shared ??= generateShapes({ count: 60, seed: 11, crowdProbability: 0.4 });
  return shared;
}

function iou(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let inter = 0;
  let union = 0;
  for (let i = 0; i < a.length; i++) {
    if (a[i] && b[i]) inter++;
    if (a[i] || b[i]) union++;
  }
  return union === 0 ? 1 : inter / union;
}

function extent(mask: Uint8Array, h: number, w: number): number[] {
  let [x0, y0, x1, y1] = [w, h, -1, -1];
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      if (mask[y * w + x]) [x0, y0, x1, y1] = [Math.min(x0, x), Math.min(y0, y), Math.max(x1, x), Math.max(y1, y)];
    }
  }
  return [x0, y0, x1 - x0 + 1, y1 - y0 + 1];
}

test('shapes: same seed gives the same bytes, a different seed differs, prefixes agree', (t) => {
  const a = generateShapes({ count: 5, seed: 3 });
  const b = generateShapes({ count: 5, seed: 3 });
  const c = generateShapes({ count: 5, seed: 4 });
  t.equal(JSON.stringify(shapesToCoco(a)), JSON.stringify(shapesToCoco(b)), 'same COCO JSON');
  t.ok(a.images.every((im, i) => shapesImagePng(im).equals(shapesImagePng(b.images[i]!))), 'same PNG bytes');
  t.notEqual(JSON.stringify(shapesToCoco(a).annotations), JSON.stringify(shapesToCoco(c).annotations), 'different seed: different annotations');
  t.notOk(shapesImagePng(a.images[0]!).equals(shapesImagePng(c.images[0]!)), 'different seed: different pixels');
  const prefix = generateShapes({ count: 2, seed: 3 });
  t.deepEqual(
    prefix.images.map((im) => Buffer.from(im.rgb).toString('base64')),
    a.images.slice(0, 2).map((im) => Buffer.from(im.rgb).toString('base64')),
    'the first 2 images of 5 are the dataset of 2',
  );
  t.end();
});

test('shapes: writeShapes twice writes identical files', (t) => {
  const dirs = [mkdtempSync(join(tmpdir(), 'maskrcnn-shapes-')), mkdtempSync(join(tmpdir(), 'maskrcnn-shapes-'))];
  try {
    const summaries = dirs.map((dir) => writeShapes(dir, { count: 4, seed: 9, size: 64 }));
    t.equal(summaries[0]!.images, 4, 'summary counts images');
    const files = readdirSync(join(dirs[0]!, 'images')).sort();
    t.deepEqual(files, ['000001.png', '000002.png', '000003.png', '000004.png'], 'one PNG per image, named by id');
    t.deepEqual(readdirSync(dirs[0]!).sort(), ['annotations.json', 'images'], 'no temporary files left');
    const same = ['annotations.json', ...files.map((f) => join('images', f))].every((f) =>
      readFileSync(join(dirs[0]!, f)).equals(readFileSync(join(dirs[1]!, f))),
    );
    t.ok(same, 'annotations.json and every PNG are byte-identical');
    const png = decodePng(readFileSync(join(dirs[0]!, 'images', '000001.png')));
    t.deepEqual([png.width, png.height, png.colorType, png.bitDepth], [64, 64, 2, 8], '64x64 8-bit RGB PNG');
  } finally {
    for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
  }
  t.end();
});

test('shapes: occlusion — masks are disjoint, boxes and areas are the masks’, every drawn pixel is annotated', (t) => {
  const ds = dataset();
  const o = ds.options;
  let disjoint = true;
  let boxesOk = true;
  let areasOk = true;
  let bigEnough = true;
  let coloursOk = true;
  let pixelsAnnotated = true;
  let occluded = 0;
  let crowds = 0;
  let instances = 0;
  for (const im of ds.images) {
    const plane = im.width * im.height;
    const owner = new Int32Array(plane).fill(-1);
    im.instances.forEach((inst, k) => {
      if (inst.iscrowd) crowds++;
      else instances++;
      if (inst.occluded && !inst.iscrowd) occluded++;
      let area = 0;
      for (let p = 0; p < plane; p++) {
        if (!inst.mask[p]) continue;
        area++;
        if (owner[p] !== -1) disjoint = false;
        owner[p] = k;
        const rgb = [im.rgb[3 * p], im.rgb[3 * p + 1], im.rgb[3 * p + 2]];
        if (rgb.some((v, c) => v !== inst.color[c])) coloursOk = false;
      }
      if (area !== inst.area) areasOk = false;
      if (area < o.minVisibleArea) bigEnough = false;
      if (JSON.stringify(extent(inst.mask, im.height, im.width)) !== JSON.stringify(inst.bbox)) boxesOk = false;
    });
    for (let p = 0; p < plane; p++) {
      const isBackground = im.background.every((v, c) => im.rgb[3 * p + c] === v);
      if (isBackground === (owner[p] !== -1)) pixelsAnnotated = false;
    }
  }
  t.ok(disjoint, 'no pixel belongs to two annotations (crowds included)');
  t.ok(boxesOk, 'every bbox is the extent of its visible mask');
  t.ok(areasOk, 'every area is the pixel count of its visible mask');
  t.ok(bigEnough, `every kept instance has at least ${o.minVisibleArea} visible pixels`);
  t.ok(coloursOk, 'every mask pixel has its instance colour in the image');
  t.ok(pixelsAnnotated, 'a pixel differs from the background exactly when some annotation covers it (hidden shapes are not drawn)');
  t.ok(occluded > 5, `occlusion occurs (${occluded} partly covered of ${instances} instances)`);
  t.ok(crowds > 5, `crowd regions occur (${crowds})`);
  t.end();
});

test('shapes: tiny or hidden shapes are dropped', (t) => {
  // Many large shapes on a small image: most get buried.
  const ds = generateShapes({ count: 10, seed: 5, size: 48, minShapes: 8, maxShapes: 8, minRadius: 0.3, maxRadius: 0.45, crowdProbability: 0, minVisibleArea: 30, minVisibleFraction: 0.25 });
  const kept = ds.images.map((im) => im.instances.length);
  t.ok(kept.every((n) => n >= 1 && n < 8), `fewer than the 8 drawn shapes survive (${kept.join(' ')})`);
  let ok = true;
  for (const im of ds.images) for (const inst of im.instances) if (inst.area < 30) ok = false;
  t.ok(ok, 'no kept shape has fewer than minVisibleArea pixels');
  t.end();
});

test('shapes: polygons re-rasterised with rleFromPolygons give exactly the visible masks', (t) => {
  const ds = dataset();
  let minIou = 1;
  let minOccludedIou = 1;
  let polygonsChecked = 0;
  let occludedChecked = 0;
  let crowdsExact = true;
  for (const im of ds.images) {
    for (const inst of im.instances) {
      if (inst.iscrowd) {
        const decoded = rleDecode(inst.segmentation as { size: [number, number]; counts: number[] });
        if (iou(decoded, inst.mask) !== 1) crowdsExact = false;
        continue;
      }
      const polygons = inst.segmentation as number[][];
      const v = iou(rleDecode(rleFromPolygons(polygons, im.height, im.width)), inst.mask);
      minIou = Math.min(minIou, v);
      polygonsChecked++;
      if (inst.occluded) {
        minOccludedIou = Math.min(minOccludedIou, v);
        occludedChecked++;
      }
    }
  }
  t.equal(minIou, 1, `all ${polygonsChecked} polygon annotations re-rasterise to their mask (min IoU ${minIou})`);
  t.equal(minOccludedIou, 1, `including the ${occludedChecked} traced outlines of occluded shapes (min IoU ${minOccludedIou})`);
  t.ok(crowdsExact, 'crowd RLEs decode to their masks');
  t.end();
});

test('shapes: unoccluded shapes are annotated with their outline polygon', (t) => {
  const ds = generateShapes({ count: 30, seed: 2, crowdProbability: 0, maxShapes: 1, rotate: false });
  const vertices: Record<number, Set<number>> = { 1: new Set(), 2: new Set(), 3: new Set() };
  for (const im of ds.images) {
    for (const inst of im.instances) {
      const polygons = inst.segmentation as number[][];
      t.equal(polygons.length, 1, `image ${im.id}: one polygon`);
      vertices[inst.categoryId]!.add(polygons[0]!.length / 2);
    }
  }
  t.deepEqual([...vertices[1]!], [4], 'squares have 4 corners');
  t.deepEqual([...vertices[3]!], [3], 'triangles have 3 corners');
  t.ok([...vertices[2]!].every((n) => n >= 16 && n <= 64), 'circles are 16- to 64-gons');
  t.end();
});

test('shapes: polygonsFromMask is exact on masks with holes, pinches and borders', (t) => {
  const g = new Generator(1);
  let exact = 0;
  const total = 40;
  let minIou = 1;
  for (let k = 0; k < total; k++) {
    const h = g.integer(1, 14);
    const w = g.integer(1, 14);
    const density = 0.2 + 0.6 * g.uniform();
    const mask = new Uint8Array(h * w).map(() => (g.uniform() < density ? 1 : 0));
    if (!mask.some((v) => v)) mask[0] = 1;
    const polygons = polygonsFromMask(mask, h, w);
    const back = rleDecode(rleFromPolygons(polygons, h, w));
    const v = iou(back, mask);
    minIou = Math.min(minIou, v);
    if (v === 1) exact++;
  }
  t.equal(exact, total, `${exact}/${total} random masks round-trip exactly (min IoU ${minIou})`);
  // A ring: one piece with a hole is one polygon (outer loop and hole joined by a bridge).
  const ring = new Uint8Array(25);
  for (let y = 0; y < 5; y++) for (let x = 0; x < 5; x++) ring[y * 5 + x] = x === 2 && y === 2 ? 0 : 1;
  const ringPolygons = polygonsFromMask(ring, 5, 5);
  t.equal(ringPolygons.length, 1, 'a ring is one polygon');
  t.equal(rleArea(rleFromPolygons(ringPolygons, 5, 5)), 24, 'and re-rasterises with its hole');
  // Two pixels touching at a corner are two 4-connected pieces.
  t.equal(polygonsFromMask(Uint8Array.from([1, 0, 0, 1]), 2, 2).length, 2, 'diagonal pixels: two polygons');
  t.deepEqual(polygonsFromMask(Uint8Array.from([0, 0, 0, 0]), 2, 2), [], 'empty mask: no polygons');
  t.throws(() => polygonsFromMask(new Uint8Array(3), 2, 2), /mask has 3 values but h\*w = 4/, 'size mismatch named');
  t.end();
});

test('shapes: the COCO JSON is valid and consistent with pycocotools semantics', (t) => {
  const ds = dataset();
  const coco = shapesToCoco(ds);
  const text = JSON.stringify(coco);
  let parsed: ReturnType<typeof parseCoco> | undefined;
  t.doesNotThrow(() => (parsed = parseCoco(text, { source: 'shapes' })), 'parseCoco accepts it');
  if (parsed === undefined) return t.end();
  t.deepEqual(
    parsed.categories.map((c) => [c.id, c.name]),
    SHAPE_CATEGORIES.map((c) => [c.id, c.name]),
    'categories 1 square, 2 circle, 3 triangle',
  );
  t.equal(parsed.images.length, 60);
  t.ok(parsed.images.every((im) => im.width === 128 && im.height === 128 && /^\d{6}\.png$/.test(im.file_name ?? '')), '128x128, file names 000001.png ...');
  const ids = parsed.annotations.map((a) => a.id);
  t.equal(new Set(ids).size, ids.length, 'annotation ids are unique');
  let areasMatch = true;
  let boxesMatch = true;
  let crowdForm = true;
  for (const ann of parsed.annotations) {
    const rle = annToRle(ann, { height: 128, width: 128 });
    if (rleArea(rle) !== ann.area) areasMatch = false;
    if (JSON.stringify(rleToBbox(rle)) !== JSON.stringify(ann.bbox)) boxesMatch = false;
    if (ann.iscrowd === 1) {
      const seg = ann.segmentation as { counts: unknown; size: unknown };
      if (!Array.isArray(seg.counts) || JSON.stringify(seg.size) !== '[128,128]') crowdForm = false;
    } else if (!Array.isArray(ann.segmentation)) crowdForm = false;
  }
  t.ok(areasMatch, 'area = pycocotools area of the decoded segmentation');
  t.ok(boxesMatch, 'bbox = pycocotools toBbox of the decoded segmentation');
  t.ok(crowdForm, 'crowds are uncompressed RLE {counts: [...], size: [h, w]}, others polygons');
  const compressed = shapesToCoco(generateShapes({ count: 10, seed: 11, crowdProbability: 1, crowdRle: 'compressed' }));
  const crowd = compressed.annotations.filter((a) => a.iscrowd === 1);
  t.ok(crowd.length > 0 && crowd.every((a) => typeof (a.segmentation as { counts: unknown }).counts === 'string'), "crowdRle: 'compressed' writes string counts");
  t.doesNotThrow(() => parseCoco(compressed), 'which is valid too');
  t.end();
});

test('shapes: bad options are named', (t) => {
  t.throws(() => generateShapes({ count: -1 }), /generateShapes: count must be a non-negative integer, got -1/);
  t.throws(() => generateShapes({ count: 1, size: 8 }), /size must be an integer in 16\.\.4096, got 8/);
  t.throws(() => generateShapes({ count: 1, minShapes: 3, maxShapes: 2 }), /minShapes <= maxShapes/);
  t.throws(() => generateShapes({ count: 1, maxRadius: 0.7 }), /maxRadius <= 0\.5/);
  t.throws(() => generateShapes({ count: 1, crowdProbability: 2 }), /crowdProbability must be in \[0, 1\]/);
  t.equal(generateShapes({ count: 0 }).images.length, 0, 'count 0 is an empty dataset');
  t.end();
});
