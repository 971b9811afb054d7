/**
 * COCO instance annotations: reading, validating, indexing and writing the JSON format
 * (`images`, `annotations`, `categories`), and turning an annotation's segmentation into an
 * RLE mask the way pycocotools' `COCO.annToRLE` does.
 *
 * Validation happens once, when a file is parsed, with maps keyed by id so that a file with
 * hundreds of thousands of annotations is checked in linear time. Every error names what was
 * wrong and where, with the JSON path of the value:
 * `instances.json: annotations[12] (id 1768): bbox[2] must be a finite number, got "x"`.
 * Sizes and nesting are checked before anything is decoded, rasterised or walked recursively
 * (see `lib/util/limits.ts` for the limits and how to raise them).
 *
 * @module
 */
import { readFileSync } from 'node:fs';
import { writeFileAtomic } from '../../util/atomic_write.js';
import { checkImageSize, checkValueDepth, parseJson } from '../../util/limits.js';
import { type Bbox, type CompressedRle, type Rle, checkRle, rleCompress, rleFromPolygons } from './rle.js';
import { boxProblem, describe, isFiniteNumber, isObject } from './json_checks.js';

/** An image entry. `width` and `height` are what polygons are rasterised at. */
export interface CocoImage {
  /** Unique integer id. */
  id: number;
  /** Width in pixels (a positive integer). */
  width: number;
  /** Height in pixels (a positive integer). */
  height: number;
  /** File name relative to the image folder (optional here; COCO files always have it). */
  file_name?: string;
  /** Other fields (license, coco_url, date_captured, ...) are kept as they are. */
  [field: string]: unknown;
}

/** An object category. */
export interface CocoCategory {
  /** Unique integer id (COCO's ids are 1..90 with gaps). */
  id: number;
  /** Category name, e.g. `"person"`. */
  name: string;
  /** Optional parent name, e.g. `"animal"`. */
  supercategory?: string;
  /** Other fields are kept as they are. */
  [field: string]: unknown;
}

/** A polygon segmentation: one or more parts, each `[x1, y1, x2, y2, ...]` in pixels. */
export type CocoPolygons = number[][];

/** A segmentation: polygons, or an RLE (uncompressed for crowd ground truth, else either). */
export type CocoSegmentation = CocoPolygons | Rle;

/** An instance annotation (ground truth). */
export interface CocoAnnotation {
  /** Unique integer id. */
  id: number;
  /** The image it belongs to. */
  image_id: number;
  /** Its category. */
  category_id: number;
  /** Box `[x, y, width, height]` in pixels (width and height not negative). */
  bbox: Bbox;
  /** Area in pixels; the evaluator's small/medium/large ranges use this field. */
  area: number;
  /** 1 for a crowd region (ignored by the evaluator), else 0. A missing field reads as 0. */
  iscrowd: 0 | 1;
  /** The mask: polygons or RLE. Needed for `segm` evaluation and mask training. */
  segmentation?: CocoSegmentation;
  /** Other fields are kept as they are. */
  [field: string]: unknown;
}

/** A COCO instance-annotation file. */
export interface CocoDataset {
  /** Free-form file information. */
  info?: unknown;
  /** Licenses, kept as they are. */
  licenses?: unknown[];
  /** The images. */
  images: CocoImage[];
  /** The annotations (an empty list when the file has none). */
  annotations: CocoAnnotation[];
  /** The categories. */
  categories: CocoCategory[];
  /** Other top-level fields are kept as they are. */
  [field: string]: unknown;
}

/** Options for {@link parseCoco}. */
export interface ParseCocoOptions {
  /** Names the input (usually the file path) at the start of every error message. */
  source?: string;
}

/** Maps over a {@link CocoDataset} for lookups by id. */
export interface CocoIndex {
  /** The dataset the maps point into. */
  dataset: CocoDataset;
  /** Images by id. */
  images: Map<number, CocoImage>;
  /** Categories by id. */
  categories: Map<number, CocoCategory>;
  /** Annotations by id. */
  annotations: Map<number, CocoAnnotation>;
  /** Annotations of each image in file order (every image has an entry, maybe empty). */
  annotationsByImage: Map<number, CocoAnnotation[]>;
}

/** The largest float32 value: an area above it becomes Infinity where areas are stored as float32. */
const FLOAT32_MAX = 3.4028234663852886e38;

/**
 * Checks a COCO segmentation without rasterising or decoding it: a non-empty list of polygons,
 * each an even number (at least 6: 3 points) of finite coordinates, or an RLE object whose size
 * is within the pixel limit and whose counts (array or compressed string) are non-negative
 * integers summing to exactly height*width. Iterative and bounded: a hostile value (huge,
 * deeply nested) gives an error, not a stack overflow.
 *
 * pycocotools crashes on an empty polygon list and reads a first part of 4 numbers as a box;
 * parts of 1 or 2 points rasterise to nothing that can be right, so all of these are errors.
 * An RLE may have a size other than its image's: pycocotools evaluates such a file (the mask
 * keeps its own size, its IoU with every detection is -1), so only its own counts are checked.
 *
 * @param segm - the `segmentation` value of an annotation or a result.
 * @param path - its JSON path for error messages, e.g. `annotations[12].segmentation`.
 * @returns an error message (starting with the path of the bad value), or undefined.
 */
export function segmentationProblem(segm: unknown, path = 'segmentation'): string | undefined {
  if (Array.isArray(segm)) {
    if (segm.length === 0) return `${path} is an empty list of polygons (a mask needs at least one polygon)`;
    for (let i = 0; i < segm.length; i++) {
      const part: unknown = segm[i];
      const where = `${path}[${i}]`;
      if (!Array.isArray(part)) return `${where} must be a polygon (an array of numbers), got ${describe(part)}`;
      for (let j = 0; j < part.length; j++) {
        if (!isFiniteNumber(part[j])) return `${where}[${j}] must be a finite number, got ${describe(part[j])}`;
      }
      if (part.length % 2 !== 0) return `${where} has an odd number of coordinates (${part.length}); expected x1,y1,x2,y2,...`;
      if (part.length < 6) return `${where} has ${part.length / 2} points; a polygon needs at least 3`;
    }
    return undefined;
  }
  if (isObject(segm)) {
    try {
      checkRle(segm, `${path} (RLE)`);
    } catch (error) {
      return (error as Error).message;
    }
    return undefined;
  }
  return `${path} must be a list of polygons or an RLE object {size, counts}, got ${describe(segm)}`;
}

/**
 * Parses and validates a COCO instance-annotation file.
 *
 * Checks, before anything is rasterised or decoded: the nesting depth (of the text, or of an
 * already-parsed object); the three top-level arrays (`annotations` may be missing, read as
 * empty); image and category ids are unique positive safe integers (an id 0 would collide with
 * the background label); annotation ids are unique safe integers (0 and negative ids are kept:
 * pycocotools evaluates them, with its quirks); image sizes are positive integers within the
 * pixel limit; every annotation's `image_id` and `category_id` exist; `bbox` is 4 finite
 * numbers with width and height not negative and a finite far corner; `area` is a finite
 * number >= 0 that float32 can hold; `iscrowd` is 0/1 (or a boolean; missing reads as 0);
 * a segmentation passes {@link segmentationProblem}. The returned dataset is a normalised copy
 * of the input's arrays (the element objects are shallow copies; unknown fields are kept).
 *
 * @param input - the JSON text, or an already-parsed object.
 * @param options - `source` names the input in error messages.
 * @returns the validated dataset.
 * @throws an Error naming the source, the JSON path (`annotations[12] (id 1768): bbox[2]`)
 *   and what was wrong, at the first problem found.
 */
export function parseCoco(input: string | unknown, options: ParseCocoOptions = {}): CocoDataset {
  const prefix = options.source !== undefined ? `${options.source}: ` : '';
  const fail = (message: string): never => {
    throw new Error(`${prefix}${message}`);
  };
  const what = options.source ?? 'COCO annotations';
  let root: unknown = input;
  if (typeof input === 'string') root = parseJson(input, what);
  else checkValueDepth(input, what);
  if (!isObject(root)) return fail(`a COCO file must be a JSON object, got ${describe(root)}`);
  for (const key of ['images', 'categories']) {
    if (!Array.isArray(root[key])) fail(`'${key}' must be an array, got ${describe(root[key])}`);
  }
  if (root.annotations !== undefined && !Array.isArray(root.annotations)) {
    fail(`'annotations' must be an array, got ${describe(root.annotations)}`);
  }
  const positiveId = (v: unknown): v is number => Number.isSafeInteger(v) && (v as number) > 0;

  const images = new Map<number, CocoImage>();
  const imageList: CocoImage[] = (root.images as unknown[]).map((raw, i) => {
    if (!isObject(raw)) return fail(`images[${i}] must be an object, got ${describe(raw)}`);
    if (!positiveId(raw.id)) return fail(`images[${i}].id must be a positive integer, got ${describe(raw.id)}`);
    const where = `images[${i}] (id ${raw.id})`;
    if (images.has(raw.id)) fail(`${where}: duplicate image id`);
    for (const key of ['width', 'height']) {
      const v = raw[key];
      if (!positiveId(v)) fail(`${where}: ${key} must be a positive integer, got ${describe(v)}`);
    }
    try {
      checkImageSize(raw.width, raw.height, where);
    } catch (error) {
      fail((error as Error).message);
    }
    if (raw.file_name !== undefined && typeof raw.file_name !== 'string') {
      fail(`${where}: file_name must be a string, got ${describe(raw.file_name)}`);
    }
    const image = { ...raw } as CocoImage;
    images.set(image.id, image);
    return image;
  });

  const categories = new Map<number, CocoCategory>();
  const categoryList: CocoCategory[] = (root.categories as unknown[]).map((raw, i) => {
    if (!isObject(raw)) return fail(`categories[${i}] must be an object, got ${describe(raw)}`);
    if (!positiveId(raw.id)) {
      return fail(`categories[${i}].id must be a positive integer (0 is the background label), got ${describe(raw.id)}`);
    }
    const where = `categories[${i}] (id ${raw.id})`;
    if (categories.has(raw.id)) fail(`${where}: duplicate category id`);
    if (typeof raw.name !== 'string') fail(`${where}: name must be a string, got ${describe(raw.name)}`);
    const category = { ...raw } as CocoCategory;
    categories.set(category.id, category);
    return category;
  });

  const annotationIds = new Set<number>();
  const annotationList: CocoAnnotation[] = ((root.annotations as unknown[] | undefined) ?? []).map((raw, i) => {
    if (!isObject(raw)) return fail(`annotations[${i}] must be an object, got ${describe(raw)}`);
    if (!Number.isSafeInteger(raw.id)) return fail(`annotations[${i}].id must be an integer, got ${describe(raw.id)}`);
    const where = `annotations[${i}] (id ${raw.id})`;
    if (annotationIds.has(raw.id as number)) fail(`${where}: duplicate annotation id`);
    annotationIds.add(raw.id as number);
    if (!positiveId(raw.image_id)) fail(`${where}: image_id must be a positive integer, got ${describe(raw.image_id)}`);
    const image = images.get(raw.image_id as number);
    if (image === undefined) fail(`${where}: image_id ${raw.image_id} is not among the images`);
    if (!positiveId(raw.category_id)) {
      fail(`${where}: category_id must be a positive integer (0 is the background label), got ${describe(raw.category_id)}`);
    }
    if (!categories.has(raw.category_id as number)) fail(`${where}: category_id ${raw.category_id} is not among the categories`);
    const boxBad = boxProblem(raw.bbox, 'bbox');
    if (boxBad !== undefined) fail(`${where}: ${boxBad}`);
    const [x, y, w, h] = raw.bbox as Bbox;
    if (!isFiniteNumber(raw.area) || raw.area < 0) fail(`${where}: area must be a finite number >= 0, got ${describe(raw.area)}`);
    if ((raw.area as number) > FLOAT32_MAX) fail(`${where}: area ${describe(raw.area)} is beyond the float32 range (it would become Infinity)`);
    let iscrowd: 0 | 1 = 0;
    if (raw.iscrowd !== undefined) {
      if (raw.iscrowd === 1 || raw.iscrowd === true) iscrowd = 1;
      else if (raw.iscrowd === 0 || raw.iscrowd === false) iscrowd = 0;
      else fail(`${where}: iscrowd must be 0 or 1, got ${describe(raw.iscrowd)}`);
    }
    if (raw.segmentation !== undefined) {
      const problem = segmentationProblem(raw.segmentation);
      if (problem !== undefined) fail(`${where}: ${problem}`);
    }
    return { ...raw, bbox: [x, y, w, h], iscrowd } as CocoAnnotation;
  });

  const dataset: CocoDataset = { ...root, images: imageList, annotations: annotationList, categories: categoryList };
  return dataset;
}

/**
 * Reads and validates a COCO instance-annotation file (see {@link parseCoco}).
 *
 * @param path - the JSON file.
 * @returns the validated dataset.
 * @throws if the file cannot be read or is not valid; the message names the file.
 */
export function readCoco(path: string): CocoDataset {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    throw new Error(`cannot read COCO file ${path}: ${(error as Error).message}`);
  }
  return parseCoco(text, { source: path });
}

/**
 * Validates `dataset` (as {@link parseCoco} does) and writes it as JSON, atomically.
 *
 * @param path - destination file.
 * @param dataset - the dataset to write.
 */
export function writeCoco(path: string, dataset: CocoDataset): void {
  parseCoco(dataset, { source: path });
  writeFileAtomic(path, JSON.stringify(dataset), 'writeCoco');
}

/**
 * Builds id maps over a dataset, in linear time. The dataset is assumed valid (from
 * {@link parseCoco}); annotations of unknown images are still grouped under their image id.
 *
 * @param dataset - a validated dataset.
 * @returns the index.
 */
export function indexCoco(dataset: CocoDataset): CocoIndex {
  const images = new Map<number, CocoImage>();
  const annotationsByImage = new Map<number, CocoAnnotation[]>();
  for (const image of dataset.images) {
    images.set(image.id, image);
    annotationsByImage.set(image.id, []);
  }
  const categories = new Map<number, CocoCategory>();
  for (const category of dataset.categories) categories.set(category.id, category);
  const annotations = new Map<number, CocoAnnotation>();
  for (const ann of dataset.annotations) {
    annotations.set(ann.id, ann);
    let list = annotationsByImage.get(ann.image_id);
    if (list === undefined) annotationsByImage.set(ann.image_id, (list = []));
    list.push(ann);
  }
  return { dataset, images, categories, annotations, annotationsByImage };
}

/**
 * The annotations of one image in file order, optionally only those of some categories.
 *
 * @param index - from {@link indexCoco}.
 * @param imageId - the image.
 * @param categoryIds - keep only these categories (all when omitted).
 * @returns the annotations (empty for an unknown image).
 */
export function annotationsForImage(
  index: CocoIndex,
  imageId: number,
  categoryIds?: readonly number[],
): CocoAnnotation[] {
  const list = index.annotationsByImage.get(imageId) ?? [];
  if (categoryIds === undefined) return list.slice();
  const keep = new Set(categoryIds);
  return list.filter((a) => keep.has(a.category_id));
}

/**
 * The category ids in ascending order (the evaluator's category order).
 *
 * @param dataset - the dataset.
 * @returns sorted category ids.
 */
export function categoryIds(dataset: CocoDataset): number[] {
  return dataset.categories.map((c) => c.id).sort((a, b) => a - b);
}

/** Anything with an `id` and a `segmentation`, for {@link annToRle}. */
export interface HasSegmentation {
  /** Names the annotation in error messages. */
  id?: unknown;
  /** Polygons or an RLE. */
  segmentation?: unknown;
}

/**
 * An annotation's mask as a compressed RLE, as pycocotools' `COCO.annToRLE`:
 * - polygons are rasterised at the image's `height` x `width` (each part with `rleFrPoly`,
 *   then unioned);
 * - an uncompressed RLE (crowd ground truth) is compressed with **its own** `size`;
 * - a compressed RLE is returned as it is (after validation).
 *
 * pycocotools reads a polygon list whose first part has exactly 4 numbers as a box and fails;
 * here that, and a first part with fewer numbers, is a clear error.
 *
 * @param ann - the annotation (or detection result).
 * @param image - its image (for the polygon raster size).
 * @returns the mask.
 */
export function annToRle(ann: HasSegmentation, image: { height: number; width: number }): CompressedRle {
  const where = `annotation ${ann.id === undefined ? '?' : String(ann.id)}`;
  const segm = ann.segmentation;
  if (segm === undefined) throw new Error(`${where}: has no segmentation (needed for segm evaluation / masks)`);
  if (Array.isArray(segm)) {
    if (segm.length === 0) throw new Error(`${where}: segmentation is an empty list of polygons`);
    const first = segm[0] as unknown;
    if (!Array.isArray(first) || first.length <= 4) {
      throw new Error(
        `${where}: segmentation polygon 0 must have at least 3 points (6 numbers), got ${describe(first)} ` +
          '(pycocotools reads a 4-number first polygon as a box and fails)',
      );
    }
    try {
      return rleFromPolygons(segm as number[][], image.height, image.width);
    } catch (error) {
      throw new Error(`${where}: ${(error as Error).message}`);
    }
  }
  if (isObject(segm)) {
    try {
      return rleCompress(segm as unknown as Rle);
    } catch (error) {
      throw new Error(`${where}: segmentation ${(error as Error).message}`);
    }
  }
  throw new Error(`${where}: segmentation must be polygons or an RLE object, got ${describe(segm)}`);
}
