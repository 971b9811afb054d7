/**
 * The synthetic shapes dataset: the project's laptop-sized COCO.
 *
 * Each image (128x128 by default) has a flat background of a random colour and one to four
 * shapes (squares, circles, triangles; random colour, size, position and rotation) drawn one
 * after another, so later shapes cover earlier ones. Some images also get a **crowd**: a
 * cluster of tiny shapes of one category, drawn first and annotated as one region with
 * `iscrowd: 1` and an RLE segmentation, as COCO annotates crowds of people; the evaluator
 * ignores detections that land on it.
 *
 * The annotations describe what is visible:
 * - each instance's mask is the part of its shape that no later shape covers, and its `bbox`
 *   and `area` are the extent and pixel count of that mask;
 * - a shape whose visible part would be tiny (fewer than `minVisibleArea` pixels or less than
 *   `minVisibleFraction` of the shape) is not drawn at all, so every pixel that differs from the
 *   background belongs to exactly one annotation;
 * - the `segmentation` of a shape nothing covers is its outline polygon (the square's 4 corners,
 *   the triangle's 3, a 16- to 64-gon for a circle), the way a person would annotate it;
 * - the `segmentation` of a partly covered shape is the outline of its visible pixels
 *   ({@link polygonsFromMask}): one polygon per connected piece, following pixel edges.
 *
 * Pixels are drawn with the same rasteriser that reads polygons back (pycocotools' `rleFrPoly`,
 * ported in `rle.ts`), and traced outlines re-rasterise to exactly the pixels they trace, so
 * every annotation decodes (as pycocotools would decode it) to exactly the pixels of its
 * instance in the PNG.
 *
 * Generation is seeded: the same options give the same images and the same JSON, byte for byte.
 * Each image has its own generator, seeded from the dataset's, so the first `k` images of a
 * dataset of `n` are the dataset of `k`.
 *
 * @module
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { Generator } from '../../tensor/index.js';
import { type CompressedRle, type UncompressedRle, rleDecode, rleEncode, rleFromPolygons, rleUncompress } from './rle.js';
import { type CocoAnnotation, type CocoCategory, type CocoDataset, type CocoImage, writeCoco } from './coco.js';
import { encodePng, writePng } from './png.js';

/** The three kinds of shape, in category-id order. */
export type ShapeKind = 'square' | 'circle' | 'triangle';

/** The COCO categories of the dataset: 1 square, 2 circle, 3 triangle. */
export const SHAPE_CATEGORIES: readonly CocoCategory[] = Object.freeze([
  { id: 1, name: 'square', supercategory: 'shape' },
  { id: 2, name: 'circle', supercategory: 'shape' },
  { id: 3, name: 'triangle', supercategory: 'shape' },
]);

const KINDS: readonly ShapeKind[] = ['square', 'circle', 'triangle'];

/** An RGB colour, each channel 0..255. */
export type Rgb = [number, number, number];

/** Options of {@link generateShapes}. Sizes are in pixels unless said otherwise. */
export interface ShapesOptions {
  /** Number of images. */
  count: number;
  /** Seed of the generator (default 0). */
  seed?: number;
  /** Image width and height (default 128). */
  size?: number;
  /** Fewest shapes drawn on an image, before dropping hidden ones (default 1). */
  minShapes?: number;
  /** Most shapes drawn on an image (default 4). */
  maxShapes?: number;
  /** Smallest shape radius (centre to corner) as a fraction of the image size (default 0.08: 10 px at 128). */
  minRadius?: number;
  /** Largest shape radius as a fraction of the image size (default 0.22: 28 px at 128). */
  maxRadius?: number;
  /** Whether squares and triangles get a random rotation (default true; false: upright). */
  rotate?: boolean;
  /** Probability that an image gets a crowd region (default 0.2). */
  crowdProbability?: number;
  /** A shape (or crowd) with fewer visible pixels than this is not drawn (default 20). */
  minVisibleArea?: number;
  /** A shape with less than this fraction of its pixels visible is not drawn (default 0.2). */
  minVisibleFraction?: number;
  /** How crowd RLEs are written: `'uncompressed'` counts arrays as in COCO's ground truth (default), or `'compressed'` strings. */
  crowdRle?: 'uncompressed' | 'compressed';
  /** Id of the first image (default 1); images are numbered consecutively. */
  startImageId?: number;
  /** Id of the first annotation (default 1). */
  startAnnotationId?: number;
}

/** One annotated region of a generated image. */
export interface ShapesInstance {
  /** Annotation id. */
  id: number;
  /** 1 square, 2 circle, 3 triangle. */
  categoryId: number;
  /** 1 for a crowd region, else 0. */
  iscrowd: 0 | 1;
  /** The visible pixels: `height * width` values 0/1, row-major. */
  mask: Uint8Array;
  /** Extent of the mask, `[x, y, width, height]` in pixels (COCO's box). */
  bbox: [number, number, number, number];
  /** Number of pixels of the mask. */
  area: number;
  /** What goes into the COCO file: polygons, or an RLE for crowds. */
  segmentation: number[][] | UncompressedRle | CompressedRle;
  /** Whether a later shape covers part of it. */
  occluded: boolean;
  /** The colour it is drawn in. */
  color: Rgb;
}

/** One generated image with its annotations. */
export interface ShapesImage {
  /** Image id. */
  id: number;
  /** File name under `images/`, e.g. `000001.png`. */
  fileName: string;
  /** Width in pixels. */
  width: number;
  /** Height in pixels. */
  height: number;
  /** The pixels: `height * width * 3` bytes, interleaved RGB, row-major. */
  rgb: Uint8Array;
  /** The background colour. */
  background: Rgb;
  /** The annotated regions, bottom layer first. */
  instances: ShapesInstance[];
}

/** A generated dataset: images, their annotations and the categories. */
export interface ShapesDataset {
  /** The images, in id order. */
  images: ShapesImage[];
  /** {@link SHAPE_CATEGORIES}. */
  categories: CocoCategory[];
  /** The options it was generated with, defaults filled in (recorded in the COCO file's `info`). */
  options: Required<ShapesOptions>;
}

/** A shape to draw: its outline and colour. */
interface Layer {
  categoryId: number;
  iscrowd: 0 | 1;
  /** The outline polygons; a crowd has one per member. */
  polygons: number[][];
  /** The rasterised polygons (all pixels of the shape). */
  mask: Uint8Array;
  area: number;
  color: Rgb;
}

function defaults(options: ShapesOptions): Required<ShapesOptions> {
  const o: Required<ShapesOptions> = {
    count: options.count,
    seed: options.seed ?? 0,
    size: options.size ?? 128,
    minShapes: options.minShapes ?? 1,
    maxShapes: options.maxShapes ?? 4,
    minRadius: options.minRadius ?? 0.08,
    maxRadius: options.maxRadius ?? 0.22,
    rotate: options.rotate ?? true,
    crowdProbability: options.crowdProbability ?? 0.2,
    minVisibleArea: options.minVisibleArea ?? 20,
    minVisibleFraction: options.minVisibleFraction ?? 0.2,
    crowdRle: options.crowdRle ?? 'uncompressed',
    startImageId: options.startImageId ?? 1,
    startAnnotationId: options.startAnnotationId ?? 1,
  };
  const fail = (what: string): never => {
    throw new Error(`generateShapes: ${what}`);
  };
  const isInt = (v: number): boolean => Number.isInteger(v);
  if (!isInt(o.count) || o.count < 0) fail(`count must be a non-negative integer, got ${o.count}`);
  if (!Number.isFinite(o.seed)) fail(`seed must be a finite number, got ${o.seed}`);
  if (!isInt(o.size) || o.size < 16 || o.size > 4096) fail(`size must be an integer in 16..4096, got ${o.size}`);
  if (!isInt(o.minShapes) || !isInt(o.maxShapes) || o.minShapes < 0 || o.maxShapes < o.minShapes) {
    fail(`need integers 0 <= minShapes <= maxShapes, got ${o.minShapes} and ${o.maxShapes}`);
  }
  if (!(o.minRadius > 0 && o.minRadius <= o.maxRadius && o.maxRadius <= 0.5)) {
    fail(`need 0 < minRadius <= maxRadius <= 0.5 (fractions of the size), got ${o.minRadius} and ${o.maxRadius}`);
  }
  if (!(o.crowdProbability >= 0 && o.crowdProbability <= 1)) fail(`crowdProbability must be in [0, 1], got ${o.crowdProbability}`);
  if (!(o.minVisibleArea >= 1)) fail(`minVisibleArea must be at least 1, got ${o.minVisibleArea}`);
  if (!(o.minVisibleFraction >= 0 && o.minVisibleFraction <= 1)) {
    fail(`minVisibleFraction must be in [0, 1], got ${o.minVisibleFraction}`);
  }
  if (o.crowdRle !== 'uncompressed' && o.crowdRle !== 'compressed') {
    fail(`crowdRle must be 'uncompressed' or 'compressed', got '${String(o.crowdRle)}'`);
  }
  if (!isInt(o.startImageId) || !isInt(o.startAnnotationId)) fail('startImageId and startAnnotationId must be integers');
  return o;
}

/** Rounds a coordinate to 1/100 pixel, so that the JSON is short and reads back to the same number. */
function round2(v: number): number {
  return Math.round(v * 100) / 100;
}

/** The outline of a shape of circumradius `r` centred at (cx, cy), rotated by `angle`. */
function outline(kind: ShapeKind, cx: number, cy: number, r: number, angle: number): number[] {
  let n: number;
  let start: number;
  if (kind === 'square') [n, start] = [4, angle + Math.PI / 4];
  else if (kind === 'triangle') [n, start] = [3, angle - Math.PI / 2];
  else [n, start] = [Math.min(64, Math.max(16, Math.round((2 * Math.PI * r) / 3))), 0];
  const xy: number[] = [];
  for (let k = 0; k < n; k++) {
    const a = start + (2 * Math.PI * k) / n;
    xy.push(round2(cx + r * Math.cos(a)), round2(cy + r * Math.sin(a)));
  }
  return xy;
}

function rasterise(polygons: number[][], size: number): { mask: Uint8Array; area: number } {
  const mask = rleDecode(rleFromPolygons(polygons, size, size));
  let area = 0;
  for (let i = 0; i < mask.length; i++) area += mask[i]!;
  return { mask, area };
}

function randomColor(g: Generator): Rgb {
  return [g.integer(0, 256), g.integer(0, 256), g.integer(0, 256)];
}

function colorDistance(a: Rgb, b: Rgb): number {
  return Math.abs(a[0] - b[0]) + Math.abs(a[1] - b[1]) + Math.abs(a[2] - b[2]);
}

/** A colour far from the background (and, where possible, from the colours already used). */
function shapeColor(g: Generator, background: Rgb, used: Rgb[]): Rgb {
  let best = randomColor(g);
  for (let attempt = 0; attempt < 64; attempt++) {
    const c = attempt === 0 ? best : randomColor(g);
    if (colorDistance(c, background) >= 120 && used.every((u) => colorDistance(c, u) >= 60)) return c;
    if (colorDistance(c, background) > colorDistance(best, background)) best = c;
  }
  // Give up on distinct shape colours, but never draw a shape in (nearly) the background colour.
  return colorDistance(best, background) >= 48 ? best : [255 - background[0], 255 - background[1], 255 - background[2]];
}

function randomShape(g: Generator, o: Required<ShapesOptions>, rMin: number, rMax: number): { kind: ShapeKind; polygon: number[] } {
  const kind = KINDS[g.integer(0, 3)]!;
  const r = rMin + g.uniform() * (rMax - rMin);
  const cx = r + g.uniform() * (o.size - 2 * r);
  const cy = r + g.uniform() * (o.size - 2 * r);
  const angle = o.rotate && kind !== 'circle' ? g.uniform() * 2 * Math.PI : 0;
  return { kind, polygon: outline(kind, cx, cy, r, angle) };
}

/** Draws the layers of one image (crowd first, then the shapes), before occlusion. */
function makeLayers(g: Generator, o: Required<ShapesOptions>, background: Rgb): Layer[] {
  const layers: Layer[] = [];
  const used: Rgb[] = [];
  if (g.uniform() < o.crowdProbability) {
    // A crowd: 6..12 tiny shapes of one category and one colour, clustered around a point.
    const kind = KINDS[g.integer(0, 3)]!;
    const members = g.integer(6, 13);
    const spread = 0.12 * o.size;
    const ccx = spread + g.uniform() * (o.size - 2 * spread);
    const ccy = spread + g.uniform() * (o.size - 2 * spread);
    const polygons: number[][] = [];
    for (let m = 0; m < members; m++) {
      const r = Math.max(1.5, (0.02 + 0.015 * g.uniform()) * o.size);
      const cx = Math.min(o.size - r, Math.max(r, ccx + (2 * g.uniform() - 1) * spread));
      const cy = Math.min(o.size - r, Math.max(r, ccy + (2 * g.uniform() - 1) * spread));
      const angle = o.rotate && kind !== 'circle' ? g.uniform() * 2 * Math.PI : 0;
      polygons.push(outline(kind, cx, cy, r, angle));
    }
    const color = shapeColor(g, background, used);
    used.push(color);
    layers.push({ categoryId: KINDS.indexOf(kind) + 1, iscrowd: 1, polygons, color, ...rasterise(polygons, o.size) });
  }
  const n = g.integer(o.minShapes, o.maxShapes + 1);
  const rMin = o.minRadius * o.size;
  const rMax = o.maxRadius * o.size;
  for (let s = 0; s < n; s++) {
    const { kind, polygon } = randomShape(g, o, rMin, rMax);
    const color = shapeColor(g, background, used);
    used.push(color);
    layers.push({ categoryId: KINDS.indexOf(kind) + 1, iscrowd: 0, polygons: [polygon], color, ...rasterise([polygon], o.size) });
  }
  return layers;
}

/** The extent `[x, y, w, h]` of a row-major mask (all zeros for an empty mask). */
function maskBbox(mask: Uint8Array, h: number, w: number): [number, number, number, number] {
  let [x0, y0, x1, y1] = [w, h, -1, -1];
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      if (mask[y * w + x]) {
        if (x < x0) x0 = x;
        if (x > x1) x1 = x;
        if (y < y0) y0 = y;
        y1 = y;
      }
    }
  }
  return x1 < 0 ? [0, 0, 0, 0] : [x0, y0, x1 - x0 + 1, y1 - y0 + 1];
}

/** Generates one image from its own generator. */
function generateImage(g: Generator, o: Required<ShapesOptions>, id: number, nextAnnotationId: () => number): ShapesImage {
  const size = o.size;
  const plane = size * size;
  const background = randomColor(g);
  const layers = makeLayers(g, o, background);

  // Occlusion, top layer first: a layer sees what no kept layer above it covers. A layer with
  // too little left in view is dropped (not drawn), so it covers nothing below it either.
  const covered = new Uint8Array(plane);
  const kept: Array<{ layer: Layer; visible: Uint8Array; visibleArea: number }> = [];
  for (let i = layers.length - 1; i >= 0; i--) {
    const layer = layers[i]!;
    const visible = new Uint8Array(plane);
    let visibleArea = 0;
    for (let p = 0; p < plane; p++) {
      if (layer.mask[p] && !covered[p]) {
        visible[p] = 1;
        visibleArea++;
      }
    }
    if (visibleArea < o.minVisibleArea || visibleArea < o.minVisibleFraction * layer.area) continue;
    for (let p = 0; p < plane; p++) if (visible[p]) covered[p] = 1;
    kept.push({ layer, visible, visibleArea });
  }
  kept.reverse(); // bottom layer first again

  const rgb = new Uint8Array(plane * 3);
  for (let p = 0; p < plane; p++) rgb.set(background, 3 * p);
  const instances: ShapesInstance[] = [];
  for (const { layer, visible, visibleArea } of kept) {
    for (let p = 0; p < plane; p++) if (visible[p]) rgb.set(layer.color, 3 * p);
    const occluded = visibleArea < layer.area;
    let segmentation: ShapesInstance['segmentation'];
    if (layer.iscrowd) {
      const rle = rleEncode(visible, size, size);
      segmentation = o.crowdRle === 'compressed' ? rle : rleUncompress(rle);
    } else {
      segmentation = occluded ? polygonsFromMask(visible, size, size) : layer.polygons;
    }
    instances.push({
      id: nextAnnotationId(),
      categoryId: layer.categoryId,
      iscrowd: layer.iscrowd,
      mask: visible,
      bbox: maskBbox(visible, size, size),
      area: visibleArea,
      segmentation,
      occluded,
      color: layer.color,
    });
  }
  return { id, fileName: `${String(id).padStart(6, '0')}.png`, width: size, height: size, rgb, background, instances };
}

/**
 * Generates the shapes dataset in memory: `count` images with their annotations (see the module
 * notes for what is drawn and how it is annotated).
 */
export function generateShapes(options: ShapesOptions): ShapesDataset {
  const o = defaults(options);
  const master = new Generator(o.seed);
  let annotationId = o.startAnnotationId;
  const nextAnnotationId = (): number => annotationId++;
  const images: ShapesImage[] = [];
  for (let i = 0; i < o.count; i++) {
    // One generator per image, seeded from the dataset's stream.
    const g = new Generator(master.nextUint32());
    images.push(generateImage(g, o, o.startImageId + i, nextAnnotationId));
  }
  return { images, categories: SHAPE_CATEGORIES.map((c) => ({ ...c })), options: o };
}

/** The COCO instance-annotation file of a generated dataset (images refer to `images/<fileName>`). */
export function shapesToCoco(dataset: ShapesDataset): CocoDataset {
  const images: CocoImage[] = dataset.images.map((im) => ({ id: im.id, width: im.width, height: im.height, file_name: im.fileName }));
  const annotations: CocoAnnotation[] = [];
  for (const im of dataset.images) {
    for (const inst of im.instances) {
      annotations.push({
        id: inst.id,
        image_id: im.id,
        category_id: inst.categoryId,
        segmentation: inst.segmentation,
        area: inst.area,
        bbox: inst.bbox,
        iscrowd: inst.iscrowd,
      });
    }
  }
  return {
    info: { description: 'synthetic shapes dataset (maskrcnn-ts)', options: dataset.options },
    licenses: [],
    images,
    annotations,
    categories: dataset.categories,
  };
}

/** What {@link writeShapes} wrote. */
export interface ShapesSummary {
  /** The dataset folder. */
  dir: string;
  /** Number of images. */
  images: number;
  /** Number of non-crowd instances. */
  instances: number;
  /** Number of crowd regions. */
  crowds: number;
  /** Number of non-crowd instances that are partly covered. */
  occluded: number;
  /** Instances per category name. */
  perCategory: Record<string, number>;
}

/**
 * Writes a dataset to `dir`: `dir/images/<fileName>` (RGB PNGs) and `dir/annotations.json`
 * (COCO), every file atomically. Creates the folders. Accepts options (and generates) or an
 * already generated dataset.
 */
export function writeShapes(dir: string, data: ShapesOptions | ShapesDataset): ShapesSummary {
  const dataset = 'images' in data ? data : generateShapes(data);
  const imageDir = join(dir, 'images');
  mkdirSync(imageDir, { recursive: true });
  for (const im of dataset.images) {
    writePng(join(imageDir, im.fileName), { width: im.width, height: im.height, channels: 3, data: im.rgb });
  }
  writeCoco(join(dir, 'annotations.json'), shapesToCoco(dataset));
  return summarise(dir, dataset);
}

function summarise(dir: string, dataset: ShapesDataset): ShapesSummary {
  const summary: ShapesSummary = { dir, images: dataset.images.length, instances: 0, crowds: 0, occluded: 0, perCategory: {} };
  for (const c of dataset.categories) summary.perCategory[c.name] = 0;
  for (const im of dataset.images) {
    for (const inst of im.instances) {
      if (inst.iscrowd) {
        summary.crowds++;
        continue;
      }
      summary.instances++;
      if (inst.occluded) summary.occluded++;
      const name = dataset.categories.find((c) => c.id === inst.categoryId)?.name ?? String(inst.categoryId);
      summary.perCategory[name] = (summary.perCategory[name] ?? 0) + 1;
    }
  }
  return summary;
}

/** PNG bytes of a generated image (for tests and previews; {@link writeShapes} writes the same bytes). */
export function shapesImagePng(image: ShapesImage): Buffer {
  return encodePng({ width: image.width, height: image.height, channels: 3, data: image.rgb });
}

/**
 * Outlines of a binary mask as COCO polygons that re-rasterise to exactly the mask.
 *
 * Each 4-connected piece of the mask gives one polygon. Its vertices are pixel corners (integer
 * coordinates): the boundary between the piece's pixels and the rest is followed along pixel
 * edges and straight runs are merged. A piece with holes has several boundary loops; they are
 * joined into one polygon by "bridges" walked once in each direction, which cancel under the
 * even-odd rule that pycocotools' rasteriser (`rleFrPoly`) applies within a polygon. Since
 * pycocotools samples pixel `(x, y)` near its centre, `(x + 0.4, y + 0.4)` on a 1/5-pixel grid,
 * and these edges lie on integer lines, the rasterised polygon is exactly the piece.
 *
 * @param mask - `h * w` values, row-major; non-zero is foreground.
 * @param h - mask height.
 * @param w - mask width.
 * @returns one flat `[x1, y1, x2, y2, ...]` polygon per piece, in raster order of the pieces.
 */
export function polygonsFromMask(mask: ArrayLike<number>, h: number, w: number): number[][] {
  if (mask.length !== h * w) throw new Error(`polygonsFromMask: mask has ${mask.length} values but h*w = ${h * w}`);
  const label = new Int32Array(h * w).fill(-1);
  const polygons: number[][] = [];
  const stack: number[] = [];
  let pieces = 0;
  for (let start = 0; start < h * w; start++) {
    if (!mask[start] || label[start] !== -1) continue;
    // Flood-fill one 4-connected piece.
    const piece = pieces++;
    const pixels: number[] = [];
    label[start] = piece;
    stack.push(start);
    while (stack.length > 0) {
      const p = stack.pop()!;
      pixels.push(p);
      const x = p % w;
      const y = (p - x) / w;
      const neighbours = [x > 0 ? p - 1 : -1, x < w - 1 ? p + 1 : -1, y > 0 ? p - w : -1, y < h - 1 ? p + w : -1];
      for (const q of neighbours) {
        if (q >= 0 && mask[q] && label[q] === -1) {
          label[q] = piece;
          stack.push(q);
        }
      }
    }
    pixels.sort((a, b) => a - b);
    polygons.push(tracePiece(pixels, label, piece, h, w));
  }
  return polygons;
}

/** The boundary loops of one piece, joined into one polygon (see {@link polygonsFromMask}). */
function tracePiece(pixels: number[], label: Int32Array, piece: number, h: number, w: number): number[] {
  const W1 = w + 1; // vertices are (x, y) with 0 <= x <= w, 0 <= y <= h, numbered y * (w + 1) + x
  const inside = (x: number, y: number): boolean => x >= 0 && x < w && y >= 0 && y < h && label[y * w + x] === piece;
  // Directed boundary edges, clockwise on screen around the piece (y down): right along a top
  // edge, down a right edge, left along a bottom edge, up a left edge.
  const from: number[] = [];
  const to: number[] = [];
  const outgoing = new Map<number, number[]>();
  const addEdge = (x0: number, y0: number, x1: number, y1: number): void => {
    const a = y0 * W1 + x0;
    from.push(a);
    to.push(y1 * W1 + x1);
    const list = outgoing.get(a);
    if (list === undefined) outgoing.set(a, [from.length - 1]);
    else list.push(from.length - 1);
  };
  for (const p of pixels) {
    const x = p % w;
    const y = (p - x) / w;
    if (!inside(x, y - 1)) addEdge(x, y, x + 1, y);
    if (!inside(x + 1, y)) addEdge(x + 1, y, x + 1, y + 1);
    if (!inside(x, y + 1)) addEdge(x + 1, y + 1, x, y + 1);
    if (!inside(x - 1, y)) addEdge(x, y + 1, x, y);
  }
  const used = new Uint8Array(from.length);
  const direction = (e: number): [number, number] => {
    const dx = (to[e]! % W1) - (from[e]! % W1);
    const dy = Math.floor(to[e]! / W1) - Math.floor(from[e]! / W1);
    return [dx, dy];
  };
  const loops: number[][] = [];
  for (let first = 0; first < from.length; first++) {
    if (used[first]) continue;
    const corners: number[] = []; // vertex ids where the direction changes
    let e = first;
    let prevDir = direction(first);
    // Walk until back at the first edge; record a vertex wherever the direction turns.
    for (;;) {
      used[e] = 1;
      const v = to[e]!;
      const choices = outgoing.get(v)!.filter((c) => !used[c] || c === first);
      let next: number;
      if (choices.length === 1) next = choices[0]!;
      else {
        // A pinch (two pieces of boundary meet at a corner): take the right turn, which keeps
        // this loop on one side of the pinch. Either choice rasterises the same.
        const [dx, dy] = direction(e);
        next = choices.find((c) => {
          const [ex, ey] = direction(c);
          return ex === -dy && ey === dx;
        }) ?? choices[0]!;
      }
      const dir = direction(next);
      if (dir[0] !== prevDir[0] || dir[1] !== prevDir[1]) corners.push(v);
      prevDir = dir;
      if (next === first) break;
      e = next;
    }
    loops.push(corners);
  }
  // Join the loops: L1, back to L1's start, over to L2's start, around L2, back to L1's start, ...
  const vertices: number[] = [];
  const l0 = loops[0]!;
  vertices.push(...l0);
  for (let i = 1; i < loops.length; i++) {
    const li = loops[i]!;
    vertices.push(l0[0]!, ...li, li[0]!);
  }
  // Drop repeated consecutive vertices (a zero-length bridge), wrap-around included.
  const out: number[] = [];
  for (let i = 0; i < vertices.length; i++) {
    const v = vertices[i]!;
    if (out.length > 0 && out[out.length - 1] === v) continue;
    out.push(v);
  }
  while (out.length > 1 && out[out.length - 1] === out[0]) out.pop();
  const xy: number[] = [];
  for (const v of out) xy.push(v % W1, Math.floor(v / W1));
  return xy;
}
