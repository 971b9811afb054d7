/**
 * Fuzzed reader: COCO instance annotations, read the way training and evaluation read them:
 * `CocoDetectionDataset.fromFiles` (which calls `readCoco`) and `get(i)` for every image (the
 * masks decoded, the images loaded from real PNG files beside the seed).
 *
 * Oracle (certainly invalid): not JSON or nested deeper than the shared limit; `images` /
 * `categories` not arrays, `annotations` present and not an array; an image that is not an
 * object, without a safe-integer id (or a duplicate one), without positive-integer width and
 * height, or whose `file_name` is not one of the seed PNGs with exactly that width and height;
 * a category without a positive safe-integer id (or a duplicate), or without a string name; an
 * annotation without a safe-integer id (or a duplicate), whose `image_id` / `category_id` is not
 * among the images / categories, whose bbox is not 4 finite numbers with non-negative size,
 * whose area is not a finite number in [0, width x height of its image], whose iscrowd is not
 * 0/1/true/false, or whose segmentation is an empty or malformed polygon list or an RLE that is
 * not the image's size or whose counts do not sum to its pixels. Anything else (boxes outside
 * the image, unknown fields, a missing segmentation) may be valid.
 */
import { mkdirSync } from 'node:fs';
import { basename, join } from 'node:path';
import { CocoDetectionDataset, annToRle, rleArea, rleEncode, rleToBbox, rleUncompress, writePng } from '../../../lib/index.js';
import { type JsonLike, RawJson, cloneJson, deepJson, toJsonText } from '../mutate.js';
import { bboxProblem, brief, isCount, isFin, isObj, jsonTextProblem, polygonsProblem, rleProblem } from '../oracle.js';
import { type FuzzCase, type FuzzReader, makeCase } from '../spec.js';
import { type DocMutator, generateJsonDoc, withValue } from './json_doc.js';

/** The seed images: file name, width, height. */
const IMAGES: ReadonlyArray<readonly [string, number, number]> = [
  ['a.png', 64, 64],
  ['b.png', 48, 40],
];

function mask(w: number, h: number, inside: (x: number, y: number) => boolean): Uint8Array {
  const m = new Uint8Array(w * h);
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) m[y * w + x] = inside(x, y) ? 1 : 0;
  return m;
}

/** The seed COCO document (polygons, an uncompressed RLE, a compressed RLE, a crowd RLE) and its images. */
export function cocoSeed(imageDir: string): Record<string, JsonLike> {
  mkdirSync(imageDir, { recursive: true });
  for (const [file, w, h] of IMAGES) {
    const data = new Uint8Array(w * h * 3);
    for (let i = 0; i < data.length; i++) data[i] = (i * 37) % 251;
    writePng(join(imageDir, file), { width: w, height: h, channels: 3, data });
  }
  const images = IMAGES.map(([file, w, h], i) => ({ id: i + 1, file_name: file, width: w, height: h }));
  const circle = rleEncode(mask(64, 64, (x, y) => (x - 44) ** 2 + (y - 20) ** 2 < 100), 64, 64);
  const tri = rleEncode(mask(48, 40, (x, y) => y > 5 && y < 30 && x > 5 && x < 5 + (y - 5)), 40, 48);
  const crowd = rleEncode(mask(48, 40, (x, y) => x > 30 && y > 20), 40, 48);
  const anns: Array<Record<string, JsonLike>> = [
    { id: 1, image_id: 1, category_id: 1, segmentation: [[10, 12, 30, 12, 30, 40, 10, 40]], iscrowd: 0 },
    { id: 2, image_id: 1, category_id: 2, segmentation: { size: [64, 64], counts: rleUncompress(circle).counts }, iscrowd: 0 },
    { id: 3, image_id: 2, category_id: 3, segmentation: { size: [40, 48], counts: tri.counts }, iscrowd: 0 },
    { id: 4, image_id: 2, category_id: 1, segmentation: { size: [40, 48], counts: rleUncompress(crowd).counts }, iscrowd: 1 },
    { id: 5, image_id: 2, category_id: 2, segmentation: [[2, 2, 8, 2, 8, 8], [12, 30, 20, 30, 16, 38]], iscrowd: 0 },
  ];
  for (const ann of anns) {
    const im = images[(ann.image_id as number) - 1]!;
    const rle = annToRle(ann as never, im);
    ann.area = rleArea(rle);
    ann.bbox = rleToBbox(rle);
  }
  return {
    info: { description: 'maskrcnn-ts fuzz seed' },
    images,
    categories: [
      { id: 1, name: 'square', supercategory: 'shape' },
      { id: 2, name: 'circle', supercategory: 'shape' },
      { id: 3, name: 'triangle', supercategory: 'shape' },
    ],
    annotations: anns,
  };
}

/** Why a COCO document is certainly invalid for the dataset (see the module comment), or null. */
export function cocoProblem(bytes: Uint8Array): string | null {
  const text = new TextDecoder().decode(bytes);
  const bad = jsonTextProblem(text);
  if (bad !== null) return bad;
  const root = JSON.parse(text) as unknown;
  if (!isObj(root)) return 'the root is not an object';
  if (!Array.isArray(root.images) || !Array.isArray(root.categories)) return 'images or categories is not an array';
  if (root.annotations !== undefined && !Array.isArray(root.annotations)) return 'annotations is not an array';
  const sizes = new Map(IMAGES.map(([f, w, h]) => [f, [w, h]]));
  const images = new Map<number, { width: number; height: number }>();
  for (const im of root.images as unknown[]) {
    if (!isObj(im)) return `an image is ${brief(im)}`;
    if (!Number.isSafeInteger(im.id) || images.has(im.id as number)) return `an image has id ${brief(im.id)} (not a new safe integer)`;
    if (!isCount(im.width) || !isCount(im.height) || im.width === 0 || im.height === 0) return `image ${im.id} has width/height ${brief(im.width)}/${brief(im.height)}`;
    const size = typeof im.file_name === 'string' ? sizes.get(im.file_name) : undefined;
    if (size === undefined) return `image ${im.id} has file_name ${brief(im.file_name)}, not an existing image`;
    if (size[0] !== im.width || size[1] !== im.height) return `image ${im.id} says ${im.width}x${im.height} but its file is ${size[0]}x${size[1]}`;
    images.set(im.id as number, { width: im.width, height: im.height });
  }
  const cats = new Set<number>();
  for (const c of root.categories as unknown[]) {
    if (!isObj(c)) return `a category is ${brief(c)}`;
    if (!Number.isSafeInteger(c.id) || (c.id as number) < 1 || cats.has(c.id as number)) return `a category has id ${brief(c.id)} (not a new positive safe integer)`;
    if (typeof c.name !== 'string') return `category ${c.id} has name ${brief(c.name)}`;
    cats.add(c.id as number);
  }
  const ids = new Set<number>();
  for (const a of (root.annotations as unknown[] | undefined) ?? []) {
    if (!isObj(a)) return `an annotation is ${brief(a)}`;
    if (!Number.isSafeInteger(a.id) || ids.has(a.id as number)) return `an annotation has id ${brief(a.id)} (not a new safe integer)`;
    ids.add(a.id as number);
    const im = images.get(a.image_id as number);
    if (!Number.isSafeInteger(a.image_id) || im === undefined) return `annotation ${a.id} has image_id ${brief(a.image_id)}`;
    if (!Number.isSafeInteger(a.category_id) || !cats.has(a.category_id as number)) return `annotation ${a.id} has category_id ${brief(a.category_id)}`;
    const box = bboxProblem(a.bbox);
    if (box !== null) return `annotation ${a.id}: ${box}`;
    // An area above the image's pixel count is odd but not invalid: pycocotools evaluates it (it only
    // sorts objects into area ranges), and the parity fixture eval_edge relies on it.
    if (!isFin(a.area) || a.area < 0 || a.area > 3.4028234663852886e38) return `annotation ${a.id} has area ${brief(a.area)} (not a finite float32 >= 0)`;
    if (a.iscrowd !== undefined && ![0, 1, true, false].includes(a.iscrowd as never)) return `annotation ${a.id} has iscrowd ${brief(a.iscrowd)}`;
    if (a.segmentation !== undefined) {
      const s = Array.isArray(a.segmentation) ? polygonsProblem(a.segmentation) : rleProblem(a.segmentation, im.height, im.width);
      if (s !== null) return `annotation ${a.id}: ${s}`;
    }
  }
  return null;
}

const annotation = (doc: Record<string, JsonLike>, i: number): Record<string, JsonLike> => (doc.annotations as Array<Record<string, JsonLike>>)[i]!;

/** Targeted COCO mutators (the classes of bad annotations). */
const TARGETED: Readonly<Record<string, DocMutator>> = {
  giantRle(doc, rng) {
    const [h, w] = rng.pick([[40000, 40000], [100000, 65536], [65536, 65536], [2 ** 31, 2], [64, 2 ** 40]] as const);
    const a = annotation(doc, rng.int(5));
    a.segmentation = rng.chance(0.5) ? { size: [h, w], counts: [0, h * w] } : { size: [h, w], counts: [h * w - 1, 1] };
    return `annotation ${a.id} segmentation size [${h}, ${w}]`;
  },
  categoryId(doc, rng) {
    const v = rng.pick([0, -1, 2 ** 53 + 2, 1.5, 4]);
    const cats = doc.categories as Array<Record<string, JsonLike>>;
    if (rng.chance(0.5)) cats[rng.int(cats.length)]!.id = v;
    else annotation(doc, rng.int(5)).category_id = v;
    return `a category id = ${v}`;
  },
  area(doc, rng) {
    const v = rng.pick([1e308, -1, Infinity, 1e9, 4097]);
    annotation(doc, rng.int(5)).area = v;
    return `an area = ${v}`;
  },
  polygons(doc, rng) {
    const v: JsonLike = rng.pick<JsonLike>([[], [[]], [[1, 2, 3, 4]], [[1, 2, 3]], [[0, 0, 1e308, 0, 1e308, 1e308]], [[0, 0, 10, 0, NaN, 10]]]);
    annotation(doc, rng.pick([0, 4])).segmentation = v;
    return `a polygon segmentation = ${JSON.stringify(v)}`;
  },
  imageSize(doc, rng) {
    const im = (doc.images as Array<Record<string, JsonLike>>)[rng.int(2)]!;
    const v = rng.pick([65536, 40000, 0, -64, 1e9, 2 ** 32]);
    im[rng.pick(['width', 'height'])] = v;
    return `image ${im.id} width or height = ${v}`;
  },
  box(doc, rng) {
    const a = annotation(doc, rng.int(5));
    const box = [...(a.bbox as number[])];
    box[rng.int(4)] = rng.pick([-5, NaN, Infinity, 1e308, -1e308]);
    a.bbox = box;
    return `annotation ${a.id} bbox = ${JSON.stringify(box)}`;
  },
};

/** The COCO annotations reader. */
export const cocoReader: FuzzReader = {
  name: 'coco',
  title: 'COCO annotations (`readCoco`, dataset)',
  prepare(dir) {
    const imageDir = join(dir, 'images');
    return { imageDir, seed: cocoSeed(imageDir) };
  },
  seeds(ctx) {
    return [makeCase('seed:0', 'seed-0.json', JSON.stringify(ctx.seed), 'seed', 'the seed', cocoProblem)];
  },
  generate(ctx, rng, index) {
    return generateJsonDoc('coco', index, [ctx.seed as JsonLike], TARGETED, rng, cocoProblem);
  },
  regressions(ctx): FuzzCase[] {
    const seed = ctx.seed as JsonLike;
    const r = (name: string, at: Array<string | number>, value: JsonLike, note: string): FuzzCase =>
      makeCase(`regression:${name}`, `${name}.json`, withValue(seed, at, value), 'regression', note, cocoProblem);
    // Category 1 renumbered everywhere it is used, so that only the id itself is wrong.
    const recategorized = (name: string, id: JsonLike, note: string): FuzzCase => {
      const doc = cloneJson(seed) as Record<string, Array<Record<string, JsonLike>>>;
      doc.categories![0]!.id = id;
      for (const a of doc.annotations!) if (a.category_id === 1) a.category_id = id;
      return makeCase(`regression:${name}`, `${name}.json`, toJsonText(doc as unknown as JsonLike), 'regression', note, cocoProblem);
    };
    return [
      r('coco-deep-segmentation', ['annotations', 0, 'segmentation'], new RawJson(deepJson(100_000, 'array')), 'a segmentation nested 100,000 deep (stack overflow)'),
      r('coco-area-1e308', ['annotations', 0, 'area'], 1e308, 'area: 1e308 (infinite area downstream)'),
      recategorized('coco-category-id-0', 0, 'a category id 0, its annotations too (maps them to the background label)'),
      recategorized('coco-category-id-unsafe', new RawJson('9007199254740993'), 'a category id beyond 2^53, its annotations too'),
      r('coco-empty-polygon-list', ['annotations', 0, 'segmentation'], [], 'an empty polygon list'),
      r('coco-rle-40000-on-64x64', ['annotations', 1, 'segmentation'], { size: [40000, 40000], counts: [0, 1600000000] }, 'a 40000x40000 RLE on a 64x64 image (35 s and 1.6 GB before its error)'),
    ];
  },
  run(path, ctx) {
    const dataset = CocoDetectionDataset.fromFiles(path, ctx.imageDir as string);
    for (let i = 0; i < dataset.length; i++) dataset.get(i);
    return null;
  },
  // An image that cannot be read is named by its own path (in the images folder).
  names: (path, ctx) => [basename(path), ctx.imageDir as string],
};

