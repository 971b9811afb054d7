/**
 * Annotations made with the common labelling tools, converted to COCO instance JSON (what
 * {@link CocoDetectionDataset} and `maskrcnn train --images DIR --annotations FILE` read):
 *
 * - {@link labelmeToCoco}: a folder of labelme JSON files (one per image: `shapes` with a
 *   `label`, `points` and `shape_type`, and `imagePath`, `imageWidth`, `imageHeight`), as
 *   labelme's own `labelme2coco.py` example converts them: polygons, and rectangles as
 *   four-corner polygons; shapes with the same `label` and a `group_id` become one instance of
 *   several parts;
 * - {@link viaToCoco}: a VGG Image Annotator (VIA 2) region file, as matterport's balloon sample
 *   (`via_region_data.json`: per image `filename` and `regions`, each with `shape_attributes`
 *   `{name: 'polygon', all_points_x, all_points_y}` (or `rect`) and `region_attributes` naming
 *   the class), or a VIA project file (the same under `_via_img_metadata`). VIA does not store
 *   image sizes, so they are read from the images' headers;
 * - {@link splitCoco}: a seeded split of a COCO dataset's images into train and validation.
 *
 * Each annotation gets its polygons, `bbox` (the extent of its points, `[x, y, w, h]`), `area`
 * (the pixels of its rasterised mask, as pycocotools' `mask.area`) and `iscrowd: 0`.
 * Categories are the labels seen, sorted, with ids 1..K, or the `classes` given, in that order.
 *
 * Nothing is dropped silently: every problem is recorded in the {@link ConversionReport} with
 * its file and index (a polygon of fewer than 3 points, one of zero area, an unsupported shape,
 * a label outside `classes`, an image that cannot be found), and points outside the image are
 * clipped to it and counted.
 *
 * @module
 */
import { existsSync, readdirSync, statSync } from 'node:fs';
import { readFileText } from '../../util/read_file.js';
import { basename, dirname, join, relative, resolve, sep } from 'node:path';
import { makeDirectory, writeFileAtomic } from '../../util/atomic_write.js';
import { Generator } from '../../tensor/index.js';
import { parseJson } from '../../util/limits.js';
import type { CocoAnnotation, CocoCategory, CocoDataset, CocoImage } from './coco.js';
import { imageFormat, imageSize, readImageSize } from './image.js';
import { isObject, describe } from './json_checks.js';
import { rleArea, rleFromPolygons } from './rle.js';

/** One problem found while converting: where, and what happened to the shape or image. */
export interface ConversionProblem {
  /** The annotation file. */
  file: string;
  /** Which shape or region (`shape 3`, `region 0 of image 'a.jpg'`), or the image. */
  where: string;
  /** The reason key, as counted in {@link ConversionReport.dropped} or `clipped`. */
  reason: ConversionReason;
  /** A sentence for the user. */
  message: string;
}

/** Why a shape (or an image) was dropped, or that its points were clipped to the image. */
export type ConversionReason =
  | 'too-few-points'
  | 'zero-area'
  | 'unsupported-shape'
  | 'unknown-class'
  | 'no-class'
  | 'bad-points'
  | 'missing-image'
  | 'bad-image-data'
  | 'not-labelme'
  | 'clipped';

/** What a conversion kept and dropped, and why. */
export interface ConversionReport {
  /** Annotation files read. */
  files: number;
  /** Images written to the COCO file. */
  images: number;
  /** Images dropped (their shapes are counted in `dropped` under `missing-image` or `bad-image-data`). */
  droppedImages: number;
  /** labelme images written out from the copy embedded in their JSON file (`imageData`), and where (see {@link LabelmeOptions.imageDataDir}). */
  extractedImages: number;
  /** The folder the embedded images were written to, when any was. */
  extractedTo?: string;
  /** Annotations written. */
  kept: number;
  /** Shapes dropped, per reason. */
  dropped: Partial<Record<ConversionReason, number>>;
  /** Kept annotations that had points outside their image (clipped to it). */
  clipped: number;
  /** Every problem, in the order found. */
  problems: ConversionProblem[];
}

/** Options of {@link labelmeToCoco} and {@link viaToCoco}. */
export interface ConvertOptions {
  /** The class names, in label order (ids 1..K); shapes of other labels are dropped and reported. Default: the labels seen, sorted. */
  classes?: readonly string[];
}

/** Options of {@link labelmeToCoco}. */
export interface LabelmeOptions extends ConvertOptions {
  /**
   * Where to write the images that labelme files embed (`imageData`, base64) when their
   * `imagePath` is missing or names no file: each is written as `<JSON file's stem>.jpg` or
   * `.png` (by its bytes) in this folder (created; a file of that name is replaced), and its
   * COCO `file_name` is its path relative to the labelme folder. Without it such images are
   * dropped and reported as `missing-image`. `maskrcnn convert labelme` passes `<out>_images`.
   */
  imageDataDir?: string;
}

/** Options of {@link viaToCoco}. */
export interface ViaOptions extends ConvertOptions {
  /** The folder of the images (default: the VIA file's folder); sizes are read from the files. */
  imageDir?: string;
  /** The region attribute that holds the class name (default: the region's only attribute). */
  attribute?: string;
  /** The class of regions without one (matterport's balloon regions have no attributes). */
  defaultLabel?: string;
}

/** A conversion's result: the COCO dataset and the report. */
export interface ConversionResult {
  /** The COCO instances (images, annotations, categories). */
  coco: CocoDataset;
  /** What was kept and dropped. */
  report: ConversionReport;
}

/** A shape on its way to an annotation: its label and its polygons (flat `[x1, y1, ...]` each). */
interface PendingShape {
  label: string;
  polygons: number[][];
  where: string;
}

/** Collects images and shapes, then builds the COCO dataset and the report. */
class Builder {
  readonly report: ConversionReport = { files: 0, images: 0, droppedImages: 0, extractedImages: 0, kept: 0, dropped: {}, clipped: 0, problems: [] };
  private readonly images: Array<{ image: CocoImage; file: string; shapes: PendingShape[] }> = [];

  constructor(private readonly classes: readonly string[] | undefined) {
    if (classes !== undefined) {
      if (classes.length === 0) throw new Error('convert: the class list is empty');
      const seen = new Set<string>();
      for (const c of classes) {
        if (c === '') throw new Error('convert: a class name is empty');
        if (seen.has(c)) throw new Error(`convert: class ${JSON.stringify(c)} is listed twice`);
        seen.add(c);
      }
    }
  }

  problem(file: string, where: string, reason: ConversionReason, message: string, count = 1): void {
    this.report.problems.push({ file, where, reason, message });
    if (reason === 'clipped') this.report.clipped += count;
    else this.report.dropped[reason] = (this.report.dropped[reason] ?? 0) + count;
  }

  addImage(file: string, fileName: string, width: number, height: number, shapes: PendingShape[]): void {
    if (!Number.isSafeInteger(width) || !Number.isSafeInteger(height) || width <= 0 || height <= 0) {
      throw new Error(`${file}: image ${JSON.stringify(fileName)} has size ${describe(width)}x${describe(height)}, not two positive integers`);
    }
    this.images.push({ image: { id: this.images.length + 1, file_name: fileName, width, height }, file, shapes });
  }

  build(): ConversionResult {
    const labels = this.classes ?? [...new Set(this.images.flatMap((im) => im.shapes.map((s) => s.label)))].sort();
    const categories: CocoCategory[] = labels.map((name, i) => ({ id: i + 1, name, supercategory: '' }));
    const idOf = new Map(categories.map((c) => [c.name, c.id] as const));
    const annotations: CocoAnnotation[] = [];
    for (const { image, file, shapes } of this.images) {
      for (const shape of shapes) {
        const categoryId = idOf.get(shape.label);
        if (categoryId === undefined) {
          this.problem(file, shape.where, 'unknown-class', `label ${JSON.stringify(shape.label)} is not one of the classes (${labels.join(', ')}): dropped`);
          continue;
        }
        const ann = this.annotation(file, shape, image, categoryId, annotations.length + 1);
        if (ann !== undefined) annotations.push(ann);
      }
    }
    this.report.images = this.images.length;
    this.report.kept = annotations.length;
    return { coco: { images: this.images.map((im) => im.image), annotations, categories }, report: this.report };
  }

  /** The annotation of a shape: points clipped to the image, area from the rasterised mask; undefined (reported) when degenerate. */
  private annotation(file: string, shape: PendingShape, image: CocoImage, categoryId: number, id: number): CocoAnnotation | undefined {
    const { width: W, height: H } = image;
    let clipped = 0;
    const polygons: number[][] = [];
    for (const polygon of shape.polygons) {
      const points = polygon.length / 2;
      if (points < 3) {
        this.problem(file, shape.where, 'too-few-points', `a polygon of ${points} point${points === 1 ? '' : 's'} (label ${JSON.stringify(shape.label)}) needs at least 3: dropped`);
        continue;
      }
      const out = polygon.slice();
      for (let i = 0; i < out.length; i += 2) {
        const x = Math.min(Math.max(out[i]!, 0), W);
        const y = Math.min(Math.max(out[i + 1]!, 0), H);
        if (x !== out[i] || y !== out[i + 1]) clipped++;
        out[i] = x;
        out[i + 1] = y;
      }
      polygons.push(out);
    }
    if (polygons.length === 0) return undefined;
    const area = rleArea(rleFromPolygons(polygons, H, W));
    if (area === 0) {
      this.problem(file, shape.where, 'zero-area', `the polygon (label ${JSON.stringify(shape.label)}) covers no pixel${clipped > 0 ? ' once clipped to the image' : ''}: dropped`);
      return undefined;
    }
    if (clipped > 0) this.problem(file, shape.where, 'clipped', `${clipped} point${clipped === 1 ? '' : 's'} outside the ${W}x${H} image clipped to it`);
    let x1 = Infinity;
    let y1 = Infinity;
    let x2 = -Infinity;
    let y2 = -Infinity;
    for (const p of polygons) {
      for (let i = 0; i < p.length; i += 2) {
        x1 = Math.min(x1, p[i]!);
        x2 = Math.max(x2, p[i]!);
        y1 = Math.min(y1, p[i + 1]!);
        y2 = Math.max(y2, p[i + 1]!);
      }
    }
    return { id, image_id: image.id, category_id: categoryId, segmentation: polygons, area, bbox: [x1, y1, x2 - x1, y2 - y1], iscrowd: 0 };
  }
}

/** Reads a JSON file (depth-checked); errors name the file. */
function readJsonFile(path: string, what: string): unknown {
  return parseJson(readFileText(path, what), path);
}

/** `[[x, y], ...]` to a flat `[x, y, ...]`, or null when a point is not two finite numbers. */
function flattenPoints(points: unknown): number[] | null {
  if (!Array.isArray(points)) return null;
  const out: number[] = [];
  for (const p of points) {
    if (!Array.isArray(p) || p.length !== 2 || !Number.isFinite(p[0]) || !Number.isFinite(p[1])) return null;
    out.push(p[0] as number, p[1] as number);
  }
  return out;
}

/** A path relative to `root`, with `/` separators (a COCO `file_name`). */
function posixRelative(root: string, path: string): string {
  return relative(resolve(root), resolve(path)).split(sep).join('/');
}

/**
 * Converts a folder of labelme JSON files (`*.json`, sorted by name; other files are ignored)
 * to COCO. `file_name` is each image's path relative to `dir` (labelme's `imagePath` is
 * relative to its JSON file), so `--images DIR` finds them; the sizes are labelme's
 * `imageWidth` and `imageHeight` (labelme shows images turned by their EXIF orientation, as
 * `readImage` reads them; when they are missing, the image's own header gives them).
 *
 * labelme can embed the image in its JSON file (`imageData`, base64; "Save With Image Data",
 * its default in older versions), and `imagePath` may then be missing or name a file that is
 * not there (a folder shared without its images, a path from another machine). The image
 * file at `imagePath` is used when it exists (`imageData` is a copy of it); otherwise, with
 * `options.imageDataDir`, the embedded image is written there (see {@link LabelmeOptions}),
 * its size read from its header where the JSON file lacks it. Otherwise the image is dropped
 * with its shapes and reported (`missing-image`); `imageData` that is not a base64 PNG or JPEG
 * is dropped and reported as `bad-image-data`.
 *
 * Shapes: `polygon` (3 points or more), `rectangle` (two corners, made a 4-point polygon);
 * shapes sharing a `label` and a non-null `group_id` are one instance of several parts. Other
 * shape types (circle, line, linestrip, point, mask) are dropped and reported.
 *
 * A JSON file of the folder that is not a labelme file (a COCO file written there, say) is
 * skipped and reported (`not-labelme`).
 *
 * @throws when `dir` cannot be read or has no JSON file, or a JSON file cannot be parsed (the message names it).
 */
export function labelmeToCoco(dir: string, options: LabelmeOptions = {}): ConversionResult {
  let names: string[];
  try {
    names = readdirSync(dir).filter((f) => f.toLowerCase().endsWith('.json')).sort();
  } catch (error) {
    throw new Error(`labelmeToCoco: cannot read the folder ${dir}: ${error instanceof Error ? error.message : String(error)}`);
  }
  if (names.length === 0) throw new Error(`labelmeToCoco: ${dir} has no .json files (labelme writes one per image)`);
  const builder = new Builder(options.classes);
  for (const name of names) {
    const file = join(dir, name);
    const json = readJsonFile(file, 'labelmeToCoco');
    const givenPath = isObject(json) && typeof json['imagePath'] === 'string' && json['imagePath'] !== '' ? json['imagePath'] : undefined;
    const imageData = isObject(json) && typeof json['imageData'] === 'string' && json['imageData'] !== '' ? json['imageData'] : undefined;
    if (!isObject(json) || !Array.isArray(json['shapes']) || (givenPath === undefined && imageData === undefined)) {
      // e.g. a COCO file written into the folder: skipped, and said so
      builder.problem(file, 'the file', 'not-labelme', 'not a labelme file (no "shapes", or neither "imagePath" nor "imageData"): skipped');
      continue;
    }
    builder.report.files++;
    let imagePath = givenPath === undefined ? undefined : join(dirname(file), givenPath.replace(/\\/g, '/'));
    const shapes: PendingShape[] = [];
    const groups = new Map<string, PendingShape>();
    (json['shapes'] as unknown[]).forEach((raw, index) => {
      const where = `shape ${index}`;
      if (!isObject(raw) || typeof raw['label'] !== 'string' || raw['label'] === '') {
        builder.problem(file, where, 'no-class', `has no label (${describe(raw)}): dropped`);
        return;
      }
      const label = raw['label'];
      const type = raw['shape_type'] ?? 'polygon';
      const flat = flattenPoints(raw['points']);
      if (flat === null) {
        builder.problem(file, where, 'bad-points', `points ${describe(raw['points'])} are not a list of [x, y] numbers (label ${JSON.stringify(label)}): dropped`);
        return;
      }
      let polygon: number[];
      if (type === 'polygon') polygon = flat;
      else if (type === 'rectangle' && flat.length === 4) {
        const [ax, ay, bx, by] = flat as [number, number, number, number];
        const [x1, x2] = [Math.min(ax, bx), Math.max(ax, bx)];
        const [y1, y2] = [Math.min(ay, by), Math.max(ay, by)];
        polygon = [x1, y1, x2, y1, x2, y2, x1, y2];
      } else {
        builder.problem(file, where, 'unsupported-shape', `shape_type ${describe(type)} (label ${JSON.stringify(label)}) is not a polygon or a rectangle: dropped`);
        return;
      }
      const group = raw['group_id'];
      if (group !== null && group !== undefined) {
        const key = `${label}\u0000${String(group)}`;
        const existing = groups.get(key);
        if (existing !== undefined) {
          existing.polygons.push(polygon);
          return;
        }
        const shape = { label, polygons: [polygon], where: `${where} (group ${String(group)})` };
        groups.set(key, shape);
        shapes.push(shape);
      } else shapes.push({ label, polygons: [polygon], where });
    });
    const where = givenPath === undefined ? 'imageData' : `image ${JSON.stringify(givenPath)}`;
    const drop = (reason: ConversionReason, why: string): void => {
      builder.report.droppedImages++;
      builder.problem(file, where, reason, `${why}: the image and its ${shapes.length} shape(s) dropped`, shapes.length);
    };
    let size: { width: number; height: number } | undefined;
    if (imagePath === undefined || !isFile(imagePath)) {
      const missing = imagePath === undefined ? 'there is no imagePath' : `the image ${imagePath} does not exist`;
      if (imageData === undefined) {
        drop('missing-image', missing);
        continue;
      }
      if (options.imageDataDir === undefined) {
        drop('missing-image', `${missing} (the file embeds the image, imageData: give imageDataDir to write it out)`);
        continue;
      }
      const extracted = extractImageData(imageData, file, options.imageDataDir);
      if (typeof extracted === 'string') {
        drop('bad-image-data', extracted);
        continue;
      }
      imagePath = extracted.path;
      size = extracted;
      builder.report.extractedImages++;
      builder.report.extractedTo = options.imageDataDir;
    }
    let width = json['imageWidth'];
    let height = json['imageHeight'];
    if (!isPositiveInteger(width) || !isPositiveInteger(height)) {
      size ??= readImageSize(imagePath);
      ({ width, height } = size);
    }
    builder.addImage(file, posixRelative(dir, imagePath), width as number, height as number, shapes);
  }
  return builder.build();
}

/** Whether `path` is an existing file (not a folder). */
function isFile(path: string): boolean {
  try {
    return statSync(path).isFile();
  } catch {
    return false;
  }
}

/** Whether `v` is a positive safe integer. */
function isPositiveInteger(v: unknown): v is number {
  return Number.isSafeInteger(v) && (v as number) > 0;
}

/**
 * Writes the image embedded in a labelme file (`imageData`: base64 of the image file's bytes,
 * as labelme's `LabelFile` stores it) to `dir/<stem of the JSON file>.jpg|.png` and returns the
 * path and the image's size (from its header), or why it cannot be used.
 */
function extractImageData(imageData: string, file: string, dir: string): { path: string; width: number; height: number } | string {
  const text = imageData.replace(/^data:[^,]*,/, '').replace(/\s+/g, '');
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(text) || text.length % 4 === 1) return 'imageData is not base64';
  const bytes = Buffer.from(text, 'base64');
  const format = imageFormat(bytes);
  if (format === null) {
    const head = Array.from(bytes.subarray(0, 8), (b) => b.toString(16).padStart(2, '0')).join(' ');
    return `imageData is neither a PNG nor a JPEG image (it starts with the bytes ${head || 'nothing'})`;
  }
  let size: { width: number; height: number };
  try {
    size = imageSize(bytes, `${file} (imageData)`, 'labelmeToCoco');
  } catch (error) {
    return error instanceof Error ? error.message : String(error);
  }
  makeDirectory(dir, 'labelmeToCoco');
  const path = join(dir, `${basename(file).replace(/\.json$/i, '')}.${format === 'png' ? 'png' : 'jpg'}`);
  writeFileAtomic(path, bytes, 'labelmeToCoco');
  return { path, ...size };
}

/** The class of a VIA region from its attributes, or an explanation of why there is none. */
function viaLabel(attributes: unknown, options: ViaOptions): { label: string } | { why: string } {
  const attrs = isObject(attributes) ? attributes : {};
  const fromValue = (v: unknown): string | undefined => {
    if (typeof v === 'string' && v !== '') return v;
    if (isObject(v)) {
      // checkbox attributes: {"cat": true}
      const on = Object.keys(v).filter((k) => v[k] === true);
      if (on.length === 1) return on[0];
    }
    return undefined;
  };
  let value: string | undefined;
  if (options.attribute !== undefined) value = fromValue(attrs[options.attribute]);
  else {
    const keys = Object.keys(attrs).filter((k) => fromValue(attrs[k]) !== undefined);
    if (keys.length === 1) value = fromValue(attrs[keys[0]!]);
    else if (keys.length > 1) return { why: `region_attributes has several attributes (${keys.join(', ')}); choose the class with --attribute` };
  }
  if (value !== undefined) return { label: value };
  if (options.defaultLabel !== undefined) return { label: options.defaultLabel };
  return {
    why: options.attribute !== undefined
      ? `region_attributes has no ${JSON.stringify(options.attribute)} (${describe(attributes)})`
      : `region_attributes names no class (${describe(attributes)}); give every region without one a class with --label`,
  };
}

/**
 * Converts a VIA 2 region file (or VIA project file) to COCO. Regions: `polygon` (and
 * `polyline` is not a region: dropped), `rect` (`x, y, width, height`, made a 4-point polygon);
 * other shapes (circle, ellipse, point) are dropped and reported. The class of a region is its
 * `attribute` in `region_attributes` (default: its only attribute with a value), else
 * `defaultLabel`, else the region is dropped and reported. `file_name` is VIA's `filename`;
 * the image is read from `imageDir` for its size, and an image that cannot be found is dropped
 * and reported.
 *
 * @throws when the file is not a VIA file (the message names it).
 */
export function viaToCoco(path: string, options: ViaOptions = {}): ConversionResult {
  const json = readJsonFile(path, 'viaToCoco');
  const metadata = isObject(json) && isObject(json['_via_img_metadata']) ? json['_via_img_metadata'] : json;
  if (!isObject(metadata)) throw new Error(`${path}: not a VIA file (expected an object of images)`);
  const imageDir = options.imageDir ?? dirname(path);
  const builder = new Builder(options.classes);
  builder.report.files = 1;
  for (const [key, entry] of Object.entries(metadata)) {
    if (!isObject(entry) || typeof entry['filename'] !== 'string') {
      throw new Error(`${path}: entry ${JSON.stringify(key)} is not a VIA image (expected "filename" and "regions")`);
    }
    const fileName = entry['filename'];
    const rawRegions = entry['regions'] ?? [];
    // VIA 2 writes a list; VIA 1 (and matterport's balloon file) an object keyed "0", "1", ...
    const regions: unknown[] = Array.isArray(rawRegions) ? rawRegions : isObject(rawRegions) ? Object.values(rawRegions) : [];
    const shapes: PendingShape[] = [];
    regions.forEach((region, index) => {
      const where = `region ${index} of image ${JSON.stringify(fileName)}`;
      const shapeAttributes = isObject(region) ? region['shape_attributes'] : undefined;
      if (!isObject(region) || !isObject(shapeAttributes)) {
        builder.problem(path, where, 'bad-points', `has no shape_attributes (${describe(region)}): dropped`);
        return;
      }
      const found = viaLabel(region['region_attributes'], options);
      if ('why' in found) {
        builder.problem(path, where, 'no-class', `${found.why}: dropped`);
        return;
      }
      const name = shapeAttributes['name'];
      let polygon: number[];
      if (name === 'polygon') {
        const xs = shapeAttributes['all_points_x'];
        const ys = shapeAttributes['all_points_y'];
        if (!Array.isArray(xs) || !Array.isArray(ys) || xs.length !== ys.length || ![...xs, ...ys].every((v) => Number.isFinite(v))) {
          builder.problem(path, where, 'bad-points', `all_points_x ${describe(xs)} and all_points_y ${describe(ys)} are not two number lists of one length (label ${JSON.stringify(found.label)}): dropped`);
          return;
        }
        polygon = [];
        for (let i = 0; i < xs.length; i++) polygon.push(xs[i] as number, ys[i] as number);
      } else if (name === 'rect') {
        const { x, y, width, height } = shapeAttributes as Record<string, unknown>;
        if (![x, y, width, height].every((v) => Number.isFinite(v))) {
          builder.problem(path, where, 'bad-points', `rect ${describe(shapeAttributes)} lacks x, y, width or height: dropped`);
          return;
        }
        const [x1, y1] = [x as number, y as number];
        const [x2, y2] = [x1 + (width as number), y1 + (height as number)];
        polygon = [x1, y1, x2, y1, x2, y2, x1, y2];
      } else {
        builder.problem(path, where, 'unsupported-shape', `shape ${describe(name)} (label ${JSON.stringify(found.label)}) is not a polygon or a rect: dropped`);
        return;
      }
      shapes.push({ label: found.label, polygons: [polygon], where });
    });
    const imagePath = join(imageDir, fileName);
    if (!existsSync(imagePath)) {
      builder.report.droppedImages++;
      builder.problem(path, `image ${JSON.stringify(fileName)}`, 'missing-image', `the image ${imagePath} does not exist: the image and its ${shapes.length} region(s) dropped`, shapes.length);
      continue;
    }
    const { width, height } = readImageSize(imagePath);
    builder.addImage(path, fileName, width, height, shapes);
  }
  return builder.build();
}

/** The two halves of {@link splitCoco}. */
export interface CocoSplit {
  /** The training images and their annotations. */
  train: CocoDataset;
  /** The validation images and their annotations. */
  val: CocoDataset;
}

/**
 * Splits a dataset's images (with their annotations) into train and validation: a seeded
 * shuffle (the project's {@link Generator}, so the same seed gives the same split everywhere),
 * `round(fraction x images)` validation images (at least 1 when `fraction > 0` and there are
 * 2 images or more, at most all but one). Both keep every category and the file's order.
 */
export function splitCoco(coco: CocoDataset, fraction: number, seed = 0): CocoSplit {
  if (!(fraction >= 0 && fraction < 1)) throw new Error(`splitCoco: the validation fraction must be in [0, 1), got ${fraction}`);
  const n = coco.images.length;
  let count = Math.round(fraction * n);
  if (fraction > 0 && n >= 2) count = Math.min(Math.max(count, 1), n - 1);
  const order = Array.from({ length: n }, (_, i) => i);
  const generator = new Generator(seed);
  for (let i = n - 1; i > 0; i--) {
    const j = generator.integer(0, i + 1);
    [order[i], order[j]] = [order[j]!, order[i]!];
  }
  const valIndex = new Set(order.slice(0, count));
  const part = (inVal: boolean): CocoDataset => {
    const images = coco.images.filter((_, i) => valIndex.has(i) === inVal);
    const ids = new Set(images.map((im) => im.id));
    return { ...coco, images, annotations: coco.annotations.filter((a) => ids.has(a.image_id)), categories: coco.categories };
  };
  return { train: part(false), val: part(true) };
}

/** The report as lines for a person: each problem (`FILE: WHERE: message`), then the counts. */
export function formatConversionReport(report: ConversionReport): string {
  const lines = report.problems.map((p) => `${p.file}: ${p.where}: ${p.message}`);
  const dropped = Object.entries(report.dropped);
  const total = dropped.reduce((n, [, c]) => n + (c ?? 0), 0);
  if (report.extractedImages > 0) {
    lines.push(`${report.extractedImages} image${report.extractedImages === 1 ? '' : 's'} embedded in labelme files (imageData) written to ${report.extractedTo ?? '?'}`);
  }
  lines.push(
    `${report.files} annotation file${report.files === 1 ? '' : 's'}: ${report.images} images kept, ${report.droppedImages} dropped; ` +
      `${report.kept} annotations kept (${report.clipped} with points clipped to their image), ${total} dropped` +
      (dropped.length === 0 ? '' : ` (${dropped.map(([r, c]) => `${r}: ${c}`).join(', ')})`),
  );
  return lines.join('\n');
}
