import test from 'tape';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Tensor } from '../../../lib/tensor/index.js';
import { writePng } from '../../../lib/maskrcnn/data/png.js';
import { writeCoco } from '../../../lib/maskrcnn/data/coco.js';
import { rleDecode, rleFromPolygons } from '../../../lib/maskrcnn/data/rle.js';
import { CocoDetectionDataset } from '../../../lib/maskrcnn/data/dataset.js';
import { formatConversionReport, labelmeToCoco, splitCoco, viaToCoco } from '../../../lib/maskrcnn/data/convert.js';

const FIXTURES = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'fixtures', 'jpeg');

/** A gray W x H PNG. */
function png(path: string, width: number, height: number): void {
  writePng(path, new Tensor(new Float32Array(3 * width * height).fill(0.5), [3, height, width], 'float32'));
}

/** The rectangle polygon with corners (x1, y1), (x2, y2) as labelme points. */
function rect(x1: number, y1: number, x2: number, y2: number): number[][] {
  return [[x1, y1], [x2, y1], [x2, y2], [x1, y2]];
}

/** A row-major W x H mask of the pixels (x, y) with x in [x1, x2), y in [y1, y2). */
function rectMask(width: number, height: number, x1: number, y1: number, x2: number, y2: number): number[] {
  const out = new Array<number>(width * height).fill(0);
  for (let y = y1; y < y2; y++) for (let x = x1; x < x2; x++) out[y * width + x] = 1;
  return out;
}

test('convert: labelme folder -> COCO -> CocoDetectionDataset: masks, boxes, areas and categories round-trip', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'labelme-'));
  try {
    png(join(dir, 'a.png'), 24, 16);
    mkdirSync(join(dir, 'pics'));
    png(join(dir, 'pics', 'b.png'), 20, 20);
    const triangle = [[4, 2], [18, 6], [8, 17]];
    writeFileSync(join(dir, 'a.json'), JSON.stringify({
      version: '5.4.1', imagePath: 'a.png', imageData: null, imageWidth: 24, imageHeight: 16,
      shapes: [
        { label: 'dog', points: rect(2, 3, 10, 9), group_id: null, shape_type: 'polygon', flags: {} },
        { label: 'cat', points: [[12, 2], [20, 12]], group_id: null, shape_type: 'rectangle', flags: {} },
      ],
    }));
    writeFileSync(join(dir, 'b.json'), JSON.stringify({
      version: '5.4.1', imagePath: 'pics/b.png', imageWidth: 20, imageHeight: 20,
      shapes: [
        { label: 'cat', points: triangle, group_id: null, shape_type: 'polygon' },
        { label: 'dog', points: rect(0, 0, 3, 3), group_id: 7, shape_type: 'polygon' },
        { label: 'dog', points: rect(15, 15, 18, 18), group_id: 7, shape_type: 'polygon' },
      ],
    }));
    writeFileSync(join(dir, 'notes.txt'), 'not json');
    const { coco, report } = labelmeToCoco(dir);
    t.deepEqual(coco.categories.map((c) => [c.id, c.name]), [[1, 'cat'], [2, 'dog']], 'categories: the labels seen, sorted, ids 1..K');
    t.deepEqual(coco.images.map((im) => [im.id, im.file_name, im.width, im.height]), [[1, 'a.png', 24, 16], [2, 'pics/b.png', 20, 20]], 'images: file names relative to the folder, labelme sizes');
    t.equal(report.kept, 4, '4 annotations (the two grouped parts are one)');
    t.deepEqual(report.problems, [], 'no problems');
    const dog = coco.annotations[0]!;
    t.deepEqual([dog.category_id, dog.bbox, dog.area, dog.iscrowd], [2, [2, 3, 8, 6], 48, 0], 'polygon: category, bbox [x, y, w, h], area, iscrowd 0');
    t.deepEqual(coco.annotations[1]!.segmentation, [[12, 2, 20, 2, 20, 12, 12, 12]], 'a rectangle becomes a 4-corner polygon');
    t.equal((coco.annotations[3]!.segmentation as number[][]).length, 2, 'shapes of one group_id are one instance of two parts');
    const annotations = join(dir, 'coco.json');
    writeCoco(annotations, coco);
    const dataset = CocoDetectionDataset.fromFiles(annotations, dir, { contiguousLabels: true });
    const a = dataset.get(0);
    t.deepEqual(a.image.shape, [3, 16, 24], 'the image loads');
    t.deepEqual(Array.from(a.target.labels.data), [2, 1], 'labels');
    t.deepEqual(Array.from(a.target.boxes.data), [2, 3, 10, 9, 12, 2, 20, 12], 'boxes [x1, y1, x2, y2]');
    t.deepEqual(Array.from(a.target.masks.data.subarray(0, 24 * 16)), rectMask(24, 16, 2, 3, 10, 9), 'the polygon mask is the rectangle of pixels it encloses');
    t.deepEqual(Array.from(a.target.masks.data.subarray(24 * 16)), rectMask(24, 16, 12, 2, 20, 12), 'and the rectangle shape likewise');
    const b = dataset.get(1);
    const tri = rleDecode(rleFromPolygons([triangle.flat()], 20, 20));
    t.ok(tri.some((v) => v === 1), 'the triangle covers pixels');
    t.deepEqual(Array.from(b.target.masks.data.subarray(0, 400)), Array.from(tri), 'the triangle mask is the rasterised polygon');
    const twoParts = Array.from(b.target.masks.data.subarray(400)).map((v, i) => v - rectMask(20, 20, 0, 0, 3, 3)[i]! - rectMask(20, 20, 15, 15, 18, 18)[i]!);
    t.ok(twoParts.every((v) => v === 0), 'the grouped instance is the union of its parts');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  t.end();
});

test('convert: bad labelme shapes are counted and named with their file and index; --classes fixes the categories', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'labelme-bad-'));
  try {
    png(join(dir, 'a.png'), 16, 16);
    writeFileSync(join(dir, 'a.json'), JSON.stringify({
      imagePath: 'a.png', imageWidth: 16, imageHeight: 16,
      shapes: [
        { label: 'dog', points: [[1, 1], [5, 5]], shape_type: 'polygon' },
        { label: 'dog', points: [[-4, 2], [30, 2], [30, 12], [-4, 12]], shape_type: 'polygon' },
        { label: 'bird', points: rect(1, 1, 4, 4), shape_type: 'polygon' },
        { label: 'dog', points: [[3, 3], [6, 6]], shape_type: 'circle' },
        { label: 'dog', points: [[3, 3], [6, 6], [9, 9]], shape_type: 'polygon' },
        { label: 'cat', points: rect(2, 2, 6, 6), shape_type: 'polygon' },
      ],
    }));
    writeFileSync(join(dir, 'gone.json'), JSON.stringify({ imagePath: 'gone.png', imageWidth: 8, imageHeight: 8, shapes: [{ label: 'dog', points: rect(1, 1, 4, 4) }] }));
    const { coco, report } = labelmeToCoco(dir, { classes: ['dog', 'cat'] });
    t.deepEqual(coco.categories.map((c) => [c.id, c.name]), [[1, 'dog'], [2, 'cat']], '--classes: ids 1..K in the order given');
    t.equal(report.kept, 2, 'two shapes kept (the clipped dog and the cat)');
    t.deepEqual(report.dropped, { 'too-few-points': 1, 'unsupported-shape': 1, 'missing-image': 1, 'unknown-class': 1, 'zero-area': 1 }, 'dropped, per reason');
    t.equal(report.clipped, 1, 'one annotation clipped');
    t.deepEqual(coco.annotations[0]!.segmentation, [[0, 2, 16, 2, 16, 12, 0, 12]], 'its points clipped to the image');
    t.equal(report.droppedImages, 1, 'the image without a file is dropped');
    const text = formatConversionReport(report);
    t.match(text, /a\.json: shape 0: a polygon of 2 points \(label "dog"\) needs at least 3: dropped/, 'a short polygon is named with its file and index');
    t.match(text, /a\.json: shape 1: 4 points outside the 16x16 image clipped to it/, 'clipping is named');
    t.match(text, /a\.json: shape 2: label "bird" is not one of the classes \(dog, cat\): dropped/, 'an unknown class is named');
    t.match(text, /a\.json: shape 3: shape_type "circle" .* dropped/, 'an unsupported shape is named');
    t.match(text, /a\.json: shape 4: the polygon \(label "dog"\) covers no pixel: dropped/, 'a degenerate polygon is named');
    t.match(text, /gone\.json: image "gone\.png": the image .*gone\.png does not exist: the image and its 1 shape\(s\) dropped/, 'a missing image is named');
    t.match(text, /2 annotation files: 1 images kept, 1 dropped; 2 annotations kept \(1 with points clipped to their image\), 5 dropped/, 'the summary counts');
    t.throws(() => labelmeToCoco(join(dir, 'nowhere')), /labelmeToCoco: cannot read the folder .*nowhere/, 'a missing folder is named');
    writeFileSync(join(dir, 'z.json'), '{"hello": 1}');
    const skipped = labelmeToCoco(dir, { classes: ['dog', 'cat'] });
    t.equal(skipped.report.dropped['not-labelme'], 1, 'a JSON file that is not labelme is skipped and counted');
    t.match(formatConversionReport(skipped.report), /z\.json: the file: not a labelme file \(no "shapes", or neither "imagePath" nor "imageData"\): skipped/, 'and named');
    writeFileSync(join(dir, 'zz.json'), '{"broken": ');
    t.throws(() => labelmeToCoco(dir), /zz\.json: not valid JSON/, 'a file that is not JSON is an error naming it');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  t.end();
});

test('convert: VIA region file (balloon layout and VIA 2 lists) -> COCO, sizes read from the images (JPEG too)', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'via-'));
  try {
    copyFileSync(join(FIXTURES, 'rgb.jpg'), join(dir, 'photo.jpg'));
    copyFileSync(join(FIXTURES, 'orient6.jpg'), join(dir, 'turned.jpg'));
    png(join(dir, 'b.png'), 20, 10);
    const via = {
      'photo.jpg1171': {
        fileref: '', size: 1171, filename: 'photo.jpg', base64_img_data: '', file_attributes: {},
        regions: { '0': { shape_attributes: { name: 'polygon', all_points_x: [2, 10, 10, 2], all_points_y: [3, 3, 9, 9] }, region_attributes: {} } },
      },
      'b.png1': {
        filename: 'b.png', size: 1, file_attributes: {},
        regions: [
          { shape_attributes: { name: 'rect', x: 1, y: 1, width: 5, height: 4 }, region_attributes: {} },
          { shape_attributes: { name: 'polygon', all_points_x: [1, 2], all_points_y: [1, 2] }, region_attributes: {} },
          { shape_attributes: { name: 'circle', cx: 5, cy: 5, r: 2 }, region_attributes: {} },
        ],
      },
      'turned.jpg1': { filename: 'turned.jpg', regions: [] },
      'lost.jpg1': { filename: 'lost.jpg', regions: [{ shape_attributes: { name: 'polygon', all_points_x: [1, 5, 5], all_points_y: [1, 1, 5] }, region_attributes: {} }] },
    };
    const file = join(dir, 'via_region_data.json');
    writeFileSync(file, JSON.stringify(via));
    const { coco, report } = viaToCoco(file, { defaultLabel: 'balloon' });
    t.deepEqual(coco.categories.map((c) => [c.id, c.name]), [[1, 'balloon']], 'regions without a class take --label');
    t.deepEqual(coco.images.map((im) => [im.file_name, im.width, im.height]), [['photo.jpg', 32, 24], ['b.png', 20, 10], ['turned.jpg', 24, 32]], 'sizes from the files (a JPEG turned by its EXIF orientation)');
    t.equal(report.kept, 2, 'the polygon and the rect kept');
    t.deepEqual(report.dropped, { 'too-few-points': 1, 'unsupported-shape': 1, 'missing-image': 1 }, 'the rest counted per reason');
    t.match(formatConversionReport(report), /via_region_data\.json: region 1 of image "b\.png": a polygon of 2 points/, 'named with the file and the region index');
    const annotations = join(dir, 'coco.json');
    writeCoco(annotations, coco);
    const dataset = CocoDetectionDataset.fromFiles(annotations, dir);
    t.deepEqual(Array.from(dataset.get(0).target.masks.data), rectMask(32, 24, 2, 3, 10, 9), 'the JPEG image loads and its mask is the polygon');
    t.deepEqual(Array.from(dataset.get(1).target.boxes.data), [1, 1, 6, 5], 'the rect region: box');
    t.deepEqual(dataset.get(2).image.shape, [3, 32, 24], 'the turned JPEG loads at its displayed size');
    // VIA 2: a project file with named attributes
    const project = { _via_settings: {}, _via_img_metadata: { k: { filename: 'b.png', regions: [
      { shape_attributes: { name: 'rect', x: 1, y: 1, width: 5, height: 4 }, region_attributes: { kind: 'car', note: 'red' } },
      { shape_attributes: { name: 'rect', x: 8, y: 1, width: 5, height: 4 }, region_attributes: { kind: { bus: true } } },
      { shape_attributes: { name: 'rect', x: 8, y: 6, width: 5, height: 4 }, region_attributes: {} },
    ] } } };
    writeFileSync(file, JSON.stringify(project));
    const two = viaToCoco(file, { attribute: 'kind' });
    t.deepEqual(two.coco.categories.map((c) => c.name), ['bus', 'car'], 'the class attribute (text or checkbox) names the categories');
    t.deepEqual(two.report.dropped, { 'no-class': 1 }, 'a region without the attribute is counted');
    t.match(formatConversionReport(two.report), /region 2 of image "b\.png": region_attributes has no "kind"/, 'and named');
    const ambiguous = viaToCoco(file);
    t.match(formatConversionReport(ambiguous.report), /region 0 of image "b\.png": region_attributes has several attributes \(kind, note\); choose the class with --attribute/, 'several attributes without --attribute: said so');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  t.end();
});

test('convert: splitCoco is a seeded split of the images with their annotations', (t) => {
  const images = Array.from({ length: 10 }, (_, i) => ({ id: i + 1, width: 8, height: 8, file_name: `${i}.png` }));
  const annotations = images.map((im, i) => ({ id: i + 1, image_id: im.id, category_id: 1, bbox: [0, 0, 2, 2] as [number, number, number, number], area: 4, iscrowd: 0 as const }));
  const coco = { images, annotations, categories: [{ id: 1, name: 'a' }] };
  const { train, val } = splitCoco(coco, 0.3, 5);
  t.equal(val.images.length, 3, '30% of 10 images');
  t.equal(train.images.length + val.images.length, 10, 'every image in one part');
  t.ok(val.annotations.every((a) => val.images.some((im) => im.id === a.image_id)), 'annotations follow their images');
  t.deepEqual(splitCoco(coco, 0.3, 5).val.images, val.images, 'the same seed gives the same split');
  t.notDeepEqual(splitCoco(coco, 0.3, 6).val.images, val.images, 'another seed another');
  t.equal(splitCoco(coco, 0.01, 0).val.images.length, 1, 'a positive fraction keeps at least one validation image');
  t.throws(() => splitCoco(coco, 1, 0), /fraction must be in \[0, 1\), got 1/, 'a fraction of 1 is refused');
  t.end();
});

test('convert: labelme files that embed their image (imageData) without the file: written out with imageDataDir, else reported', (t) => {
  const root = mkdtempSync(join(tmpdir(), 'labelme-data-'));
  const dir = join(root, 'lm');
  mkdirSync(dir);
  try {
    const jpeg = readFileSync(join(FIXTURES, 'rgb.jpg')); // 32x24
    png(join(root, 'gray.png'), 20, 10);
    const pngBytes = readFileSync(join(root, 'gray.png'));
    const shape = { label: 'sun', points: rect(8, 4, 22, 18), shape_type: 'polygon' };
    const lm = (name: string, fields: object): void => writeFileSync(join(dir, `${name}.json`), JSON.stringify({ version: '5.4.1', flags: {}, shapes: [shape], ...fields }));
    // a: imagePath names a file that is not there (a path from another machine), no sizes
    lm('a', { imagePath: '..\\photos\\IMG_0001.jpg', imageData: jpeg.toString('base64') });
    // b: no imagePath at all, a PNG embedded, labelme's sizes
    lm('b', { imageData: pngBytes.toString('base64'), imageWidth: 20, imageHeight: 10 });
    // c: the file exists: it is used, the embedded copy is not written
    copyFileSync(join(FIXTURES, 'rgb.jpg'), join(dir, 'c.jpg'));
    lm('c', { imagePath: 'c.jpg', imageData: jpeg.toString('base64'), imageWidth: 32, imageHeight: 24 });
    // d, e, f: embedded data that is not base64, not an image, a cut JPEG
    lm('d', { imagePath: 'd.jpg', imageData: 'not base64!' });
    lm('e', { imagePath: 'e.jpg', imageData: Buffer.from('hello, world').toString('base64') });
    lm('f', { imagePath: 'f.jpg', imageData: jpeg.subarray(0, 300).toString('base64') });

    const without = labelmeToCoco(dir);
    t.deepEqual(without.coco.images.map((im) => im.file_name), ['c.jpg'], 'without imageDataDir only the image found on disk is kept');
    t.equal(without.report.dropped['missing-image'], 5, 'the others are missing images, counted with their shapes');
    t.match(formatConversionReport(without.report), /a\.json: image "\.\.\\\\photos\\\\IMG_0001\.jpg": the image .*IMG_0001\.jpg does not exist \(the file embeds the image, imageData: give imageDataDir to write it out\): the image and its 1 shape\(s\) dropped/, 'and the report says the image is embedded');
    t.match(formatConversionReport(without.report), /b\.json: imageData: there is no imagePath \(the file embeds/, 'a file without imagePath is named too');

    const out = join(root, 'data', 'train_images');
    const { coco, report } = labelmeToCoco(dir, { imageDataDir: out });
    t.deepEqual(coco.images.map((im) => [im.file_name, im.width, im.height]), [['../data/train_images/a.jpg', 32, 24], ['../data/train_images/b.png', 20, 10], ['c.jpg', 32, 24]],
      'embedded images written as <JSON stem>.jpg/.png, file_name relative to the labelme folder, sizes from the image when the JSON has none');
    t.deepEqual(readFileSync(join(out, 'a.jpg')), jpeg, 'the JPEG written is the embedded bytes');
    t.deepEqual(readFileSync(join(out, 'b.png')), pngBytes, 'the PNG too');
    t.notOk(existsSync(join(out, 'c.jpg')), 'an image found on disk is not written again');
    t.equal(report.extractedImages, 2, 'two images extracted');
    t.deepEqual(report.dropped, { 'bad-image-data': 3 }, 'three bad embedded images dropped with their shapes');
    const text = formatConversionReport(report);
    t.match(text, /d\.json: image "d\.jpg": imageData is not base64: the image and its 1 shape\(s\) dropped/, 'not base64: named');
    t.match(text, /e\.json: image "e\.jpg": imageData is neither a PNG nor a JPEG image \(it starts with the bytes 68 65 6c 6c/, 'not an image: named');
    t.match(text, /f\.json: image "f\.jpg": labelmeToCoco: .*f\.json \(imageData\) is not a valid JPEG: the file is truncated/, 'a cut JPEG: named');
    t.match(text, new RegExp(`2 images embedded in labelme files \\(imageData\\) written to ${out.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}`), 'the summary says where the images went');

    // the converted set trains with --images <the labelme folder>: every image is found, masks as drawn
    const annotations = join(root, 'coco.json');
    writeCoco(annotations, coco);
    const dataset = CocoDetectionDataset.fromFiles(annotations, dir);
    const boxes = [[8, 4, 22, 18], [8, 4, 20, 10], [8, 4, 22, 18]]; // b is 20x10: its shape clipped to it
    for (let i = 0; i < 3; i++) {
      const { image, target } = dataset.get(i);
      t.deepEqual(image.shape, [3, coco.images[i]!.height, coco.images[i]!.width], `image ${i} (${coco.images[i]!.file_name}) loads at its size`);
      t.deepEqual(Array.from(target.boxes.data), boxes[i], `image ${i}: its box`);
    }
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
  t.end();
});
