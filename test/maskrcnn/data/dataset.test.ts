import test from 'tape';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Tensor } from '../../../lib/tensor/index.js';
import { generateShapes, writeShapes, type ShapesDataset } from '../../../lib/maskrcnn/data/shapes.js';
import {
  CocoDetectionDataset,
  DataLoader,
  hflip,
  rgbToTensor,
  shapesDetectionDataset,
  type DetectionSample,
} from '../../../lib/maskrcnn/data/dataset.js';
import { parseCoco, writeCoco } from '../../../lib/maskrcnn/data/coco.js';

let shared: ShapesDataset | undefined;
function shapes(): ShapesDataset {
  shared ??= generateShapes({ count: 8, seed: 21, crowdProbability: 0.5 });
  return shared;
}

/** The extent of mask i of a [N,H,W] tensor as an xyxy box in pixel-edge coordinates. */
function maskBox(masks: Tensor, i: number): number[] {
  const [, H, W] = masks.shape as number[];
  let [x0, y0, x1, y1] = [Infinity, Infinity, -Infinity, -Infinity];
  for (let y = 0; y < H!; y++) {
    for (let x = 0; x < W!; x++) {
      if (masks.data[i * H! * W! + y * W! + x]) [x0, y0, x1, y1] = [Math.min(x0, x), Math.min(y0, y), Math.max(x1, x + 1), Math.max(y1, y + 1)];
    }
  }
  return [x0, y0, x1, y1];
}

function sameTensor(a: Tensor, b: Tensor): boolean {
  return a.dtype === b.dtype && JSON.stringify(a.shape) === JSON.stringify(b.shape) && a.data.every((v, i) => v === b.data[i]);
}

function sameSample(a: DetectionSample, b: DetectionSample): boolean {
  const ta = a.target;
  const tb = b.target;
  return (
    sameTensor(a.image, b.image) &&
    sameTensor(ta.boxes, tb.boxes) &&
    sameTensor(ta.labels, tb.labels) &&
    sameTensor(ta.masks, tb.masks) &&
    sameTensor(ta.area, tb.area) &&
    sameTensor(ta.iscrowd, tb.iscrowd) &&
    ta.imageId === tb.imageId
  );
}

test('dataset: targets have torchvision shapes and dtypes; boxes are the masks’ extents', (t) => {
  const ds = shapesDetectionDataset(shapes());
  t.equal(ds.length, 8, 'one sample per image');
  t.equal(ds.numClasses, 4, 'background + 3 shapes');
  let boxesOk = true;
  let crowdFree = true;
  for (let i = 0; i < ds.length; i++) {
    const { image, target } = ds.get(i);
    const n = target.labels.shape[0]!;
    const im = shapes().images[i]!;
    if (i === 0) {
      t.deepEqual(image.shape, [3, 128, 128], 'image [3,H,W]');
      t.equal(image.dtype, 'float32', 'image float32');
      t.deepEqual(target.boxes.shape, [n, 4], 'boxes [N,4]');
      t.equal(target.boxes.dtype, 'float32', 'boxes float32');
      t.equal(target.labels.dtype, 'int32', 'labels int32');
      t.deepEqual(target.masks.shape, [n, 128, 128], 'masks [N,H,W]');
      t.equal(target.masks.dtype, 'float32', 'masks float32');
      t.ok(target.masks.data.every((v) => v === 0 || v === 1), 'masks are 0/1');
      t.deepEqual([target.area.shape, target.iscrowd.shape], [[n], [n]], 'area and iscrowd [N]');
      t.equal(target.imageId, im.id, 'imageId');
      t.equal(image.data[0], Math.fround(im.rgb[0]! / 255), 'pixels in [0, 1] from the RGB bytes');
    }
    t.equal(n, im.instances.filter((x) => !x.iscrowd).length, `image ${im.id}: every non-crowd instance, no crowd`);
    if (target.iscrowd.data.some((v) => v !== 0)) crowdFree = false;
    for (let k = 0; k < n; k++) {
      const box = Array.from(target.boxes.data.subarray(4 * k, 4 * k + 4));
      if (JSON.stringify(box) !== JSON.stringify(maskBox(target.masks, k))) boxesOk = false;
    }
  }
  t.ok(boxesOk, 'every box [x1,y1,x2,y2] is its mask’s pixel-edge extent');
  t.ok(crowdFree, 'iscrowd is 0 everywhere by default');
  const withCrowd = shapesDetectionDataset(shapes(), { includeCrowd: true });
  let crowds = 0;
  for (let i = 0; i < withCrowd.length; i++) for (const v of withCrowd.get(i).target.iscrowd.data) crowds += v;
  const expected = shapes().images.reduce((a, im) => a + im.instances.filter((x) => x.iscrowd).length, 0);
  t.ok(expected > 0, `the fixture has crowd regions (${expected})`);
  t.equal(crowds, expected, 'includeCrowd keeps them, marked in iscrowd');
  t.end();
});

test('dataset: the files written by writeShapes load to the same samples as the in-memory dataset', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'maskrcnn-dataset-'));
  try {
    writeShapes(dir, shapes());
    const fromDisk = CocoDetectionDataset.fromDirectory(dir);
    const inMemory = shapesDetectionDataset(shapes());
    t.equal(fromDisk.length, inMemory.length);
    let same = true;
    for (let i = 0; i < fromDisk.length; i++) if (!sameSample(fromDisk.get(i), inMemory.get(i))) same = false;
    t.ok(same, 'identical images and targets');
    t.throws(() => fromDisk.get(99), /index 99 is out of range for 8 images/, 'index out of range named');
    const uncached = CocoDetectionDataset.fromDirectory(dir, { imageCacheBytes: 0 });
    const small = CocoDetectionDataset.fromDirectory(dir, { imageCacheBytes: 2 * 4 * 128 * 128 });
    for (let i = 0; i < fromDisk.length; i++) small.get(i);
    rmSync(join(dir, 'images', '000002.png'));
    t.ok(sameSample(fromDisk.get(1), inMemory.get(1)), 'an image read before comes from the decoded-image cache');
    t.throws(() => uncached.get(1), /annotations\.json: image 2: readImage: cannot read .*000002\.png/, 'a missing image file is named, with its annotation file and image id');
    t.ok(sameSample(small.get(1), inMemory.get(1)), 'within the byte budget: the first images read are kept');
    rmSync(join(dir, 'images', '000003.png'));
    t.throws(() => small.get(2), /cannot read .*000003\.png/, 'past the byte budget (two 128x128 RGBA images): read from disk again');
    const jpeg = join(dir, 'jpeg');
    mkdirSync(join(jpeg, 'images'), { recursive: true });
    copyFileSync(join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'fixtures', 'jpeg', 'rgb.jpg'), join(jpeg, 'images', 'x.jpg'));
    writeCoco(join(jpeg, 'annotations.json'), { images: [{ id: 1, width: 32, height: 24, file_name: 'x.jpg' }, { id: 2, width: 4, height: 4, file_name: 'x.jpg' }], annotations: [], categories: [{ id: 1, name: 'a' }] });
    t.deepEqual(CocoDetectionDataset.fromDirectory(jpeg).get(0).image.shape, [3, 24, 32], 'JPEG images are read');
    t.throws(() => CocoDetectionDataset.fromDirectory(jpeg).get(1), /image 2 \(x\.jpg\) loaded as \[3,24,32\], expected \[3,4,4\]/, 'an image of another size than its entry is named');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  t.end();
});

test('dataset: COCO conversion rules (xywh -> xyxy, clamping, empty boxes dropped, contiguous labels)', (t) => {
  const coco = parseCoco({
    images: [{ id: 7, width: 10, height: 6, file_name: 'a.png' }],
    categories: [
      { id: 5, name: 'five' },
      { id: 90, name: 'ninety' },
    ],
    annotations: [
      { id: 1, image_id: 7, category_id: 90, bbox: [2, 1, 3, 2], area: 6, iscrowd: 0, segmentation: [[2, 1, 5, 1, 5, 3, 2, 3]] },
      { id: 2, image_id: 7, category_id: 5, bbox: [8, 4, 5, 5], area: 4, iscrowd: 0, segmentation: [[8, 4, 10, 4, 10, 6, 8, 6]] },
      { id: 3, image_id: 7, category_id: 5, bbox: [1, 1, 0, 3], area: 0, iscrowd: 0, segmentation: [[1, 1, 1, 4, 1, 1]] },
      { id: 4, image_id: 7, category_id: 5, bbox: [0, 0, 2, 2], area: 4, iscrowd: 1, segmentation: { size: [6, 10], counts: [0, 2, 4, 2, 52] } },
    ],
  });
  const loader = () => new Tensor(new Float32Array(3 * 6 * 10), [3, 6, 10], 'float32');
  const ds = new CocoDetectionDataset(coco, loader);
  const { target } = ds.get(0);
  t.deepEqual(Array.from(target.boxes.data), [2, 1, 5, 3, 8, 4, 10, 6], 'xywh -> xyxy, clamped to the image; empty box and crowd dropped');
  t.deepEqual(Array.from(target.labels.data), [90, 5], 'labels are category ids');
  t.deepEqual(maskBox(target.masks, 0), [2, 1, 5, 3], 'polygon mask rasterised as pycocotools');
  t.equal(ds.numClasses, 91, 'numClasses = largest id + 1');
  const contiguous = new CocoDetectionDataset(coco, loader, { contiguousLabels: true, includeCrowd: true });
  const c = contiguous.get(0).target;
  t.deepEqual(Array.from(c.labels.data), [2, 1, 1], 'contiguous labels 1..K in id order');
  t.deepEqual(Array.from(c.iscrowd.data), [0, 0, 1], 'crowd kept with includeCrowd');
  t.deepEqual(maskBox(c.masks, 2), [0, 0, 2, 2], 'uncompressed crowd RLE decoded');
  t.equal(contiguous.numClasses, 3);
  t.equal(contiguous.categoryOfLabel(2).name, 'ninety', 'label -> category');
  const wrongSize = new CocoDetectionDataset(coco, () => new Tensor(new Float32Array(3 * 4 * 4), [3, 4, 4], 'float32'), { source: 'x.json' });
  t.throws(() => wrongSize.get(0), /x\.json: image 7 \(a\.png\) loaded as \[3,4,4\], expected \[3,6,10\]/, 'image size mismatch names the image');
  t.end();
});

test('dataset against hostile annotations (issue 18): an RLE of another size fails before decoding; ids and sizes', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'dataset-hostile-'));
  try {
    // the 300-byte annotation: a 40000x40000 RLE on a 64x64 image
    const bomb = {
      images: [{ id: 1, width: 64, height: 64, file_name: 'a.png' }],
      categories: [{ id: 1, name: 'a' }],
      annotations: [{ id: 1, image_id: 1, category_id: 1, bbox: [0, 0, 8, 8], area: 64, iscrowd: 0, segmentation: { size: [40000, 40000], counts: [0, 1600000000] } }],
    };
    const file = join(dir, 'annotations.json');
    writeFileSync(file, JSON.stringify(bomb));
    t.ok(readFileSync(file).length < 300, `the annotation file is ${readFileSync(file).length} bytes`);
    let started = Date.now();
    t.throws(() => CocoDetectionDataset.fromDirectory(dir), /annotations\.json: annotations\[0\] \(id 1\): segmentation \(RLE\): a 40000x40000 mask has 1600000000 pixels, more than the limit of 89478485/, 'refused when the file is read (pixel limit)');
    t.ok(Date.now() - started < 10_000, `at once (${Date.now() - started} ms, under a 10 s hang guard; the issue measured 35 s and 1.6 GB before)`);
    // with the pixel limit raised, the dataset still refuses it before decoding anything
    const saved = process.env['MASKRCNN_MAX_IMAGE_PIXELS'];
    process.env['MASKRCNN_MAX_IMAGE_PIXELS'] = String(2 ** 31);
    try {
      const ds = CocoDetectionDataset.fromDirectory(dir);
      started = Date.now();
      t.throws(() => ds.get(0), /annotations\.json: annotation 1: its RLE mask has size \[40000,40000\] but image 1 is \[64, 64\]/, 'a mask of another size than its image');
      t.ok(Date.now() - started < 10_000, `before decoding or loading the image (${Date.now() - started} ms, under a 10 s hang guard; the image file does not even exist)`);
    } finally {
      if (saved === undefined) delete process.env['MASKRCNN_MAX_IMAGE_PIXELS'];
      else process.env['MASKRCNN_MAX_IMAGE_PIXELS'] = saved;
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  const loader = (): Tensor => new Tensor(new Float32Array(3 * 8 * 8), [3, 8, 8], 'float32');
  const coco = parseCoco({ images: [{ id: 1, width: 8, height: 8 }], categories: [{ id: 1, name: 'a' }], annotations: [] });
  const zero = { ...coco, categories: [{ id: 0, name: 'zero' }] };
  const outside = parseCoco({ images: [{ id: 1, width: 8, height: 8 }], categories: [{ id: 1, name: 'a' }], annotations: [{ id: 4, image_id: 1, category_id: 1, bbox: [4294967295, 3, 20, 10], area: 20, iscrowd: 0 }] });
  t.throws(() => new CocoDetectionDataset(outside, loader, { source: 'o.json' }).get(0), /o\.json: annotation 4: bbox \[4294967295,3,20,10\] lies entirely outside image 1 \(8x8\)/, 'a box wholly outside its image is an error, not silently dropped');
  t.throws(() => new CocoDetectionDataset(zero, loader, { source: 'hand.json' }), /hand\.json: category "zero" has id 0; ids must be positive integers \(0 is the background label\)/, 'a hand-built dataset with category id 0');
  // masks [N, H, W] are checked against the tensor element limit before they are allocated
  const many = parseCoco({
    images: [{ id: 1, width: 8000, height: 8000 }],
    categories: [{ id: 1, name: 'a' }],
    annotations: Array.from({ length: 5 }, (_, i) => ({ id: i + 1, image_id: 1, category_id: 1, bbox: [0, 0, 10, 10], area: 100, iscrowd: 0, segmentation: [[0, 0, 10, 0, 10, 10]] })),
  });
  let loaded = false;
  const big = new CocoDetectionDataset(many, () => ((loaded = true), loader()), { source: 'big.json' });
  t.throws(() => big.get(0), /big\.json: image 1: the masks of its 5 objects: shape \[5, 8000, 8000\] has more than 268435456 elements; raise it with the environment variable MASKRCNN_MAX_TENSOR_ELEMENTS/, '5 masks of 8000x8000 (1.3 GB of float32)');
  t.notOk(loaded, 'refused before the image was loaded');
  t.end();
});

test('dataset: horizontal flip — twice is identity, flipped boxes are flipped masks’ extents', (t) => {
  const ds = shapesDetectionDataset(shapes());
  let twiceIdentity = true;
  let boxesMatch = true;
  let pixelsMirrored = true;
  for (let i = 0; i < ds.length; i++) {
    const sample = ds.get(i);
    const flipped = hflip(sample);
    if (!sameSample(hflip(flipped), sample)) twiceIdentity = false;
    const n = flipped.target.labels.shape[0]!;
    for (let k = 0; k < n; k++) {
      const box = Array.from(flipped.target.boxes.data.subarray(4 * k, 4 * k + 4));
      if (JSON.stringify(box) !== JSON.stringify(maskBox(flipped.target.masks, k))) boxesMatch = false;
    }
    const [, H, W] = sample.image.shape as number[];
    for (let c = 0; c < 3; c++) {
      for (let y = 0; y < H!; y += 7) {
        for (let x = 0; x < W!; x += 5) {
          if (flipped.image.data[(c * H! + y) * W! + x] !== sample.image.data[(c * H! + y) * W! + W! - 1 - x]) pixelsMirrored = false;
        }
      }
    }
  }
  t.ok(twiceIdentity, 'hflip(hflip(s)) equals s (image, boxes, masks, labels)');
  t.ok(boxesMatch, 'x1 = W - x2, x2 = W - x1 is the flipped mask’s extent');
  t.ok(pixelsMirrored, 'image mirrored');
  const tiny: DetectionSample = {
    image: rgbToTensor(Uint8Array.from([0, 0, 0, 255, 255, 255]), 1, 2),
    target: {
      boxes: new Tensor(Float32Array.from([0, 0, 1, 1]), [1, 4], 'float32'),
      labels: new Tensor(Int32Array.from([1]), [1], 'int32'),
      masks: new Tensor(Float32Array.from([1, 0]), [1, 1, 2], 'float32'),
      imageId: 1,
      area: new Tensor(Float32Array.from([1]), [1], 'float32'),
      iscrowd: new Tensor(Int32Array.from([0]), [1], 'int32'),
    },
  };
  const f = hflip(tiny);
  t.deepEqual(Array.from(f.target.boxes.data), [1, 0, 2, 1], 'box of pixel 0 in a 2-wide image becomes the box of pixel 1');
  t.deepEqual(Array.from(f.target.masks.data), [0, 1], 'mask flipped');
  t.deepEqual(Array.from(f.image.data), [1, 0, 1, 0, 1, 0], 'image flipped per channel');
  t.end();
});

test('dataLoader: seeded shuffling is reproducible; batching; flips', (t) => {
  const ds = shapesDetectionDataset(shapes());
  const a = new DataLoader(ds, { batchSize: 3, shuffle: true, seed: 5 });
  const b = new DataLoader(ds, { batchSize: 3, shuffle: true, seed: 5 });
  const c = new DataLoader(ds, { batchSize: 3, shuffle: true, seed: 6 });
  t.deepEqual(a.order(0), b.order(0), 'same seed, same epoch: same order');
  t.deepEqual(a.order(3), b.order(3), 'epoch 3 too');
  t.deepEqual([...a.order(0)].sort((x, y) => x - y), [0, 1, 2, 3, 4, 5, 6, 7], 'an order is a permutation');
  t.notDeepEqual(a.order(0), a.order(1), 'epochs differ');
  t.notDeepEqual(a.order(0), c.order(0), 'seeds differ');
  t.deepEqual(new DataLoader(ds, { batchSize: 3 }).order(0), [0, 1, 2, 3, 4, 5, 6, 7], 'no shuffle: in order');

  t.equal(a.length, 3, '8 samples in batches of 3: 3 batches');
  const epoch0 = [...a];
  t.deepEqual(epoch0.map((x) => x.images.length), [3, 3, 2], 'last batch is short');
  t.deepEqual(epoch0.flatMap((x) => x.indices), a.order(0), 'batches follow the order');
  t.ok(epoch0.every((x) => x.targets.length === x.images.length), 'a target per image');
  t.equal(a.epoch, 1, 'iterating advanced the epoch');
  const epoch1 = [...a];
  t.deepEqual(epoch1.flatMap((x) => x.indices), a.order(1), 'the next iteration runs epoch 1');
  const replay = [...b.batches(1)];
  t.deepEqual(replay.flatMap((x) => x.indices), epoch1.flatMap((x) => x.indices), 'batches(1) replays epoch 1');
  t.equal(new DataLoader(ds, { batchSize: 3, dropLast: true }).length, 2, 'dropLast drops the short batch');

  const flips = (seed: number) => [...new DataLoader(ds, { shuffle: true, seed, hflipProb: 0.5 }).batches(2)].flatMap((x) => x.flipped);
  t.deepEqual(flips(1), flips(1), 'flip decisions reproducible');
  t.ok(flips(1).some((f) => f) && flips(1).some((f) => !f), `p = 0.5 flips some, not all (${flips(1).map(Number).join('')})`);
  const all = [...new DataLoader(ds, { hflipProb: 1 }).batches(0)];
  t.ok(all.every((x) => x.flipped[0]), 'p = 1 flips every sample');
  t.ok(sameSample({ image: all[0]!.images[0]!, target: all[0]!.targets[0]! }, hflip(ds.get(0))), 'a flipped sample is hflip(sample)');
  t.ok([...new DataLoader(ds).batches(0)].every((x) => !x.flipped[0]), 'p = 0 flips none');

  let seen = 0;
  const counted = new DataLoader(ds, { transform: (s, g) => (seen++, g.uniform(), s) });
  [...counted];
  t.equal(seen, 8, 'the transform runs on every sample');
  t.throws(() => new DataLoader(ds, { batchSize: 0 }), /batchSize must be a positive integer, got 0/);
  t.throws(() => new DataLoader(ds, { hflipProb: 1.5 }), /hflipProb must be in \[0, 1\], got 1\.5/);
  t.end();
});
