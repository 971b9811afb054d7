/**
 * Datasets and the data loader: COCO-format annotations plus images in, the detector's
 * `(image, target)` pairs out, shuffled, augmented and batched.
 *
 * One class, {@link CocoDetectionDataset}, serves the synthetic shapes dataset and a real COCO
 * subset alike: anything with a COCO instance file (`annotations.json`) and its images. A
 * sample is what torchvision's detection models take (see `references/detection/coco_utils.py`,
 * `ConvertCocoPolysToMask`):
 * - `image`: float32 `[3, H, W]`, RGB in [0, 1];
 * - `target.boxes`: float32 `[N, 4]`, `[x1, y1, x2, y2]` in pixels, from the COCO `bbox`
 *   `[x, y, w, h]` as `[x, y, x + w, y + h]`, clamped to the image; boxes of zero width or height
 *   are dropped with their annotation (as torchvision does), and a box of positive size that
 *   lies wholly outside its image is an error (a wrong image id or image size);
 * - `target.labels`: int32 `[N]`, the COCO `category_id` (torchvision's convention, so 0 is
 *   free for the background), or 1..K with `contiguousLabels`;
 * - `target.masks`: float32 `[N, H, W]` of 0/1, decoded from the segmentation as pycocotools
 *   does (polygons rasterised with `rleFrPoly` and unioned, or RLE);
 * - `target.area` (float32 `[N]`, the COCO `area`), `target.iscrowd` (int32 `[N]`) and
 *   `target.imageId`.
 *
 * Crowd annotations (`iscrowd: 1`) are left out by default, as torchvision's reference training
 * does: a crowd region is one mask over many objects and is not a box to regress. The evaluator
 * reads crowds from the annotation file itself. Pass `includeCrowd: true` to keep them (then
 * `target.iscrowd` tells them apart).
 *
 * {@link DataLoader} draws every random choice (the order of an epoch, the flips) from a
 * {@link Generator} seeded by the loader's seed and the epoch number, so epoch `e` is the same
 * on every run and can be replayed on its own.
 *
 * @module
 */
import { join } from 'node:path';
import { Generator, Tensor } from '../../tensor/index.js';
import { type CocoAnnotation, type CocoCategory, type CocoDataset, type CocoImage, annToRle, readCoco } from './coco.js';
import { rleDecode } from './rle.js';
import { describe } from './json_checks.js';
import { checkTensorElements } from '../../util/limits.js';
import { readImageFile } from './image.js';
import { type DecodedPng, pngToTensor } from './png.js';
import { type ShapesDataset, shapesToCoco } from './shapes.js';

/** The detector's training target for one image (torchvision's target dict). */
export interface DetectionTarget {
  /** `[N, 4]` float32 boxes `[x1, y1, x2, y2]` in pixels. */
  boxes: Tensor;
  /** `[N]` int32 class labels (the COCO category ids unless `contiguousLabels`). */
  labels: Tensor;
  /** `[N, H, W]` float32 instance masks, 0 or 1. */
  masks: Tensor;
  /** The COCO image id. */
  imageId: number;
  /** `[N]` float32 annotation areas (the COCO `area` field). */
  area: Tensor;
  /** `[N]` int32: 1 for crowd regions (only present with `includeCrowd`), else 0. */
  iscrowd: Tensor;
}

/** An image and its target. */
export interface DetectionSample {
  /** `[3, H, W]` float32, RGB in [0, 1]. */
  image: Tensor;
  /** The annotations of the image. */
  target: DetectionTarget;
}

/** A random-access collection of samples (PyTorch's map-style `Dataset`). */
export interface DetectionDataset {
  /** Number of samples. */
  readonly length: number;
  /** Sample `index` (0-based). */
  get(index: number): DetectionSample;
}

/** Loads the pixels of one COCO image entry as a `[3, H, W]` float32 tensor in [0, 1]. */
export type ImageLoader = (image: CocoImage) => Tensor;

/** Options of {@link CocoDetectionDataset}. */
export interface CocoDetectionOptions {
  /** Keep crowd annotations in the targets (default false: dropped, as torchvision does). */
  includeCrowd?: boolean;
  /** Labels 1..K in ascending category-id order instead of the category ids (default false). */
  contiguousLabels?: boolean;
  /** Names the dataset in error messages (default: the annotation file, when read from one). */
  source?: string;
  /**
   * Bytes of decoded pixels that {@link CocoDetectionDataset.fromFiles} keeps in memory (default
   * 256 MiB; 0: none): the images read first are kept, decoded, until the budget is used, and
   * later epochs take them from memory instead of reading and decoding the file again. The
   * shapes demo's 1000 training images take 64 MiB. Images are assumed not to change on disk
   * during a run.
   */
  imageCacheBytes?: number;
}

/** {@link CocoDetectionOptions.imageCacheBytes}'s default: 256 MiB. */
export const DEFAULT_IMAGE_CACHE_BYTES = 256 * 2 ** 20;

/**
 * A detection dataset over COCO instance annotations: {@link DetectionDataset.get} returns the
 * image and its target, in the order of the file's `images`.
 */
export class CocoDetectionDataset implements DetectionDataset {
  /** The validated COCO annotations. */
  readonly coco: CocoDataset;
  /** The categories, in ascending id order. */
  readonly categories: readonly CocoCategory[];
  private readonly loadImage: ImageLoader;
  private readonly includeCrowd: boolean;
  private readonly contiguous: boolean;
  private readonly source: string;
  private readonly byImage = new Map<number, CocoAnnotation[]>();
  private readonly labelOf = new Map<number, number>();

  /**
   * A dataset over `coco` (already parsed; see `parseCoco`), reading pixels with `loadImage`.
   * Most code calls {@link CocoDetectionDataset.fromDirectory} instead.
   */
  constructor(coco: CocoDataset, loadImage: ImageLoader, options: CocoDetectionOptions = {}) {
    this.coco = coco;
    this.loadImage = loadImage;
    this.includeCrowd = options.includeCrowd ?? false;
    this.contiguous = options.contiguousLabels ?? false;
    this.source = options.source ?? 'dataset';
    for (const c of coco.categories) {
      // label 0 is the background: a category id 0 (or not an integer) would train as background
      if (!Number.isSafeInteger(c.id) || c.id <= 0) throw new Error(`${this.source}: category ${describe(c.name)} has id ${describe(c.id)}; ids must be positive integers (0 is the background label)`);
    }
    this.categories = [...coco.categories].sort((a, b) => a.id - b.id);
    this.categories.forEach((c, i) => this.labelOf.set(c.id, this.contiguous ? i + 1 : c.id));
    for (const image of coco.images) this.byImage.set(image.id, []);
    for (const ann of coco.annotations) this.byImage.get(ann.image_id)?.push(ann);
  }

  /**
   * The dataset in `dir`: annotations in `dir/annotations.json`, images (PNG or JPEG) in
   * `dir/images/<file_name>` — the layout `maskrcnn shapes` writes.
   */
  static fromDirectory(dir: string, options: CocoDetectionOptions = {}): CocoDetectionDataset {
    return CocoDetectionDataset.fromFiles(join(dir, 'annotations.json'), join(dir, 'images'), options);
  }

  /**
   * The dataset of any COCO instance annotation file with its images in `imageDir`, as COCO
   * itself is laid out (`--images val2017 --annotations instances_val2017.json`): each image is
   * `imageDir/<file_name>`, PNG or JPEG (told apart by their first bytes; see `readImage`; a
   * JPEG's EXIF orientation is honoured), of any size; category ids need not be contiguous
   * (pass `contiguousLabels` for labels 1..K). A file that cannot be read, or whose size is not
   * the `width` x `height` of its entry, is an error naming the image and the annotation file.
   */
  static fromFiles(annotationFile: string, imageDir: string, options: CocoDetectionOptions = {}): CocoDetectionDataset {
    const coco = readCoco(annotationFile);
    // Decoded images kept for later epochs, first come first kept, within the byte budget.
    const cache = new Map<string, DecodedPng>();
    let budget = options.imageCacheBytes ?? DEFAULT_IMAGE_CACHE_BYTES;
    const loader: ImageLoader = (image) => {
      if (image.file_name === undefined) throw new Error(`${annotationFile}: image ${image.id} has no file_name`);
      try {
        const path = join(imageDir, image.file_name);
        let decoded = cache.get(path);
        if (decoded === undefined) {
          decoded = readImageFile(path);
          if (decoded.rgba.byteLength <= budget) {
            cache.set(path, decoded);
            budget -= decoded.rgba.byteLength;
          }
        }
        return pngToTensor(decoded);
      } catch (error) {
        throw new Error(`${annotationFile}: image ${image.id}: ${error instanceof Error ? error.message : String(error)}`);
      }
    };
    return new CocoDetectionDataset(coco, loader, { source: annotationFile, ...options });
  }

  /** Number of images. */
  get length(): number {
    return this.coco.images.length;
  }

  /** The number of classes including the background: the largest label + 1 (4 for shapes). */
  get numClasses(): number {
    let max = 0;
    for (const label of this.labelOf.values()) max = Math.max(max, label);
    return max + 1;
  }

  /** The label used for a category id (the id itself unless `contiguousLabels`). */
  labelOfCategory(categoryId: number): number {
    const label = this.labelOf.get(categoryId);
    if (label === undefined) throw new Error(`${this.source}: unknown category id ${categoryId}`);
    return label;
  }

  /** The category of a label (inverse of {@link CocoDetectionDataset.labelOfCategory}). */
  categoryOfLabel(label: number): CocoCategory {
    const category = this.categories.find((c) => this.labelOf.get(c.id) === label);
    if (category === undefined) throw new Error(`${this.source}: no category has label ${label}`);
    return category;
  }

  /** The COCO entry of image `index`. */
  imageInfo(index: number): CocoImage {
    this.checkIndex(index);
    return this.coco.images[index]!;
  }

  /** The annotations that go into the target of image `index` (crowds dropped unless `includeCrowd`). */
  annotations(index: number): CocoAnnotation[] {
    const info = this.imageInfo(index);
    const all = this.byImage.get(info.id) ?? [];
    return this.includeCrowd ? all.slice() : all.filter((a) => !a.iscrowd);
  }

  /**
   * Image `index` and its target (see the module notes for the target's fields). Everything
   * that can be checked without decoding is checked first: an RLE mask must have its image's
   * size, and the masks tensor `[N, H, W]` must be within the tensor element limit.
   */
  get(index: number): DetectionSample {
    const info = this.imageInfo(index);
    const { width: W, height: H } = info;
    const kept: Array<{ ann: CocoAnnotation; box: [number, number, number, number] }> = [];
    for (const ann of this.annotations(index)) {
      const [x, y, w, h] = ann.bbox;
      const box: [number, number, number, number] = [
        Math.min(Math.max(x, 0), W),
        Math.min(Math.max(y, 0), H),
        Math.min(Math.max(x + w, 0), W),
        Math.min(Math.max(y + h, 0), H),
      ];
      if (box[2] > box[0] && box[3] > box[1]) kept.push({ ann, box });
      else if (w > 0 && h > 0) {
        // an object of positive size that lies wholly outside its image: a wrong image id or size, not a box to drop
        throw new Error(`${this.source}: annotation ${ann.id}: bbox ${describe(ann.bbox)} lies entirely outside image ${info.id} (${W}x${H})`);
      }
    }
    for (const { ann } of kept) {
      const segm = ann.segmentation;
      if (segm !== undefined && !Array.isArray(segm)) {
        const size: unknown = (segm as { size?: unknown }).size;
        if (!Array.isArray(size) || size[0] !== H || size[1] !== W) {
          throw new Error(
            `${this.source}: annotation ${ann.id}: its RLE mask has size ${describe(size)} but image ${info.id} is [${H}, ${W}] ([height, width]); ` +
              'a training mask must have its image\'s size',
          );
        }
      }
    }
    const n = kept.length;
    checkTensorElements([n, H, W], `${this.source}: image ${info.id}: the masks of its ${n} objects`);
    const image = this.loadImage(info);
    const s = image.shape;
    if (s.length !== 3 || s[0] !== 3 || s[1] !== H || s[2] !== W) {
      throw new Error(
        `${this.source}: image ${info.id} (${info.file_name ?? 'no file name'}) loaded as [${s.join(',')}], ` +
          `expected [3,${H},${W}] from its height and width` +
          (s[1] === W && s[2] === H ? ' (turned by 90 degrees: a JPEG whose EXIF orientation the annotations did not apply?)' : ''),
      );
    }
    const boxes = new Float32Array(n * 4);
    const labels = new Int32Array(n);
    const masks = new Float32Array(n * H * W);
    const area = new Float32Array(n);
    const iscrowd = new Int32Array(n);
    kept.forEach(({ ann, box }, i) => {
      boxes.set(box, 4 * i);
      labels[i] = this.labelOfCategory(ann.category_id);
      area[i] = ann.area;
      iscrowd[i] = ann.iscrowd;
      let mask: Uint8Array;
      try {
        mask = rleDecode(annToRle(ann, info));
      } catch (error) {
        throw new Error(`${this.source}: image ${info.id}: ${(error as Error).message}`);
      }
      const base = i * H * W;
      for (let p = 0; p < mask.length; p++) if (mask[p]) masks[base + p] = 1;
    });
    return {
      image,
      target: {
        boxes: new Tensor(boxes, [n, 4], 'float32'),
        labels: new Tensor(labels, [n], 'int32'),
        masks: new Tensor(masks, [n, H, W], 'float32'),
        imageId: info.id,
        area: new Tensor(area, [n], 'float32'),
        iscrowd: new Tensor(iscrowd, [n], 'int32'),
      },
    };
  }

  private checkIndex(index: number): void {
    if (!Number.isInteger(index) || index < 0 || index >= this.length) {
      throw new Error(`${this.source}: index ${index} is out of range for ${this.length} images`);
    }
  }
}

/**
 * The in-memory shapes dataset (from `generateShapes`) as a {@link CocoDetectionDataset}: the
 * same code path as the files `maskrcnn shapes` writes, without touching the disk.
 */
export function shapesDetectionDataset(shapes: ShapesDataset, options: CocoDetectionOptions = {}): CocoDetectionDataset {
  const coco = shapesToCoco(shapes);
  const pixels = new Map(shapes.images.map((im) => [im.id, im] as const));
  const loader: ImageLoader = (image) => {
    const im = pixels.get(image.id);
    if (im === undefined) throw new Error(`shapes: no pixels for image ${image.id}`);
    return rgbToTensor(im.rgb, im.height, im.width);
  };
  return new CocoDetectionDataset(coco, loader, { source: 'shapes', ...options });
}

/** Interleaved 8-bit RGB (`H * W * 3` bytes, row-major) to a float32 `[3, H, W]` tensor in [0, 1]. */
export function rgbToTensor(rgb: Uint8Array, height: number, width: number): Tensor {
  const plane = height * width;
  if (rgb.length !== plane * 3) throw new Error(`rgbToTensor: expected ${plane * 3} bytes for ${height}x${width} RGB, got ${rgb.length}`);
  const out = new Float32Array(3 * plane);
  for (let c = 0; c < 3; c++) for (let p = 0; p < plane; p++) out[c * plane + p] = rgb[3 * p + c]! / 255;
  return new Tensor(out, [3, height, width], 'float32');
}

/** Reverses the last dimension of a `[..., W]` tensor (a horizontal flip of images and masks). */
function flipLastDim(t: Tensor): Tensor {
  const shape = t.shape;
  const w = shape[shape.length - 1] ?? 1;
  const src = t.data;
  const out = new (src.constructor as new (n: number) => typeof src)(src.length);
  for (let row = 0; row < src.length; row += w) {
    for (let x = 0; x < w; x++) out[row + x] = src[row + w - 1 - x]!;
  }
  return new Tensor(out, [...shape], t.dtype);
}

/**
 * Flips a sample left to right: the image and the masks are mirrored and each box
 * `[x1, y1, x2, y2]` becomes `[W - x2, y1, W - x1, y2]` (boxes are in pixel-edge coordinates,
 * so the flipped box is exactly the flipped mask's extent). Flipping twice gives the sample back.
 */
export function hflip(sample: DetectionSample): DetectionSample {
  const { image, target } = sample;
  const W = image.shape[image.shape.length - 1]!;
  const src = target.boxes.data;
  const boxes = new Float32Array(src.length);
  for (let i = 0; i < src.length; i += 4) {
    boxes[i] = W - src[i + 2]!;
    boxes[i + 1] = src[i + 1]!;
    boxes[i + 2] = W - src[i]!;
    boxes[i + 3] = src[i + 3]!;
  }
  return {
    image: flipLastDim(image),
    target: { ...target, boxes: new Tensor(boxes, [...target.boxes.shape], 'float32'), masks: flipLastDim(target.masks) },
  };
}

/** A per-sample transform run by the {@link DataLoader}, with the epoch's generator for its random choices. */
export type SampleTransform = (sample: DetectionSample, generator: Generator) => DetectionSample;

/** Options of {@link DataLoader}. */
export interface DataLoaderOptions {
  /** Samples per batch (default 1). */
  batchSize?: number;
  /** Visit the samples in a new random order every epoch (default false: in order). */
  shuffle?: boolean;
  /** Seed of the loader's random choices (default 0). */
  seed?: number;
  /** Drop the last batch when it is smaller than `batchSize` (default false). */
  dropLast?: boolean;
  /** Probability of flipping each sample horizontally (default 0). */
  hflipProb?: number;
  /** Runs after the flip on every sample. */
  transform?: SampleTransform;
}

/** A batch: lists of images and targets (images keep their own sizes; the model pads them). */
export interface Batch {
  /** The images, `[3, H, W]` each. */
  images: Tensor[];
  /** Their targets. */
  targets: DetectionTarget[];
  /** The dataset indices of the samples. */
  indices: number[];
  /** Whether each sample was flipped. */
  flipped: boolean[];
}

/**
 * Serves a dataset in batches (PyTorch's `DataLoader` with a list collate function): seeded
 * shuffling, horizontal-flip augmentation, optional extra transform.
 *
 * `for (const batch of loader)` runs the next epoch (0, 1, 2, ...); `loader.batches(e)` runs
 * epoch `e` again, identically, since all randomness of an epoch comes from a generator seeded
 * with `(seed, e)`.
 */
export class DataLoader implements Iterable<Batch> {
  /** The dataset served. */
  readonly dataset: DetectionDataset;
  /** Samples per batch. */
  readonly batchSize: number;
  /** Whether epochs are shuffled. */
  readonly shuffle: boolean;
  /** The seed of all random choices. */
  readonly seed: number;
  /** Whether a short last batch is dropped. */
  readonly dropLast: boolean;
  /** Probability of a horizontal flip per sample. */
  readonly hflipProb: number;
  /** The epoch the next `for ... of` runs. */
  epoch = 0;
  private readonly transform: SampleTransform | undefined;

  /** A loader over `dataset` (see {@link DataLoaderOptions} for the defaults). */
  constructor(dataset: DetectionDataset, options: DataLoaderOptions = {}) {
    this.dataset = dataset;
    this.batchSize = options.batchSize ?? 1;
    this.shuffle = options.shuffle ?? false;
    this.seed = options.seed ?? 0;
    this.dropLast = options.dropLast ?? false;
    this.hflipProb = options.hflipProb ?? 0;
    this.transform = options.transform;
    if (!Number.isInteger(this.batchSize) || this.batchSize < 1) {
      throw new Error(`DataLoader: batchSize must be a positive integer, got ${this.batchSize}`);
    }
    if (!Number.isFinite(this.seed)) throw new Error(`DataLoader: seed must be a finite number, got ${this.seed}`);
    if (!(this.hflipProb >= 0 && this.hflipProb <= 1)) throw new Error(`DataLoader: hflipProb must be in [0, 1], got ${this.hflipProb}`);
  }

  /** Number of batches per epoch. */
  get length(): number {
    const n = this.dataset.length;
    return this.dropLast ? Math.floor(n / this.batchSize) : Math.ceil(n / this.batchSize);
  }

  /** The generator of epoch `epoch`: a pure function of the loader's seed and the epoch. */
  generatorFor(epoch: number): Generator {
    if (!Number.isInteger(epoch) || epoch < 0) throw new Error(`DataLoader: epoch must be a non-negative integer, got ${epoch}`);
    const base = new Generator(this.seed).nextUint32();
    // Odd-constant multiplication is a bijection mod 2^32, so epochs never share a stream.
    return new Generator((base ^ Math.imul(epoch + 1, 0x9e3779b1)) >>> 0);
  }

  /** The order in which epoch `epoch` visits the dataset (Fisher-Yates with the epoch's generator). */
  order(epoch: number): number[] {
    return this.plan(epoch).order;
  }

  private plan(epoch: number): { order: number[]; generator: Generator } {
    const generator = this.generatorFor(epoch);
    const n = this.dataset.length;
    const order = Array.from({ length: n }, (_, i) => i);
    if (this.shuffle) {
      for (let i = n - 1; i > 0; i--) {
        const j = generator.integer(0, i + 1);
        [order[i], order[j]] = [order[j]!, order[i]!];
      }
    }
    return { order, generator };
  }

  /** The batches of epoch `epoch` (lazily: samples are loaded as the batches are consumed). */
  *batches(epoch: number): IterableIterator<Batch> {
    const { order, generator } = this.plan(epoch);
    const count = this.length;
    for (let b = 0; b < count; b++) {
      const indices = order.slice(b * this.batchSize, (b + 1) * this.batchSize);
      const batch: Batch = { images: [], targets: [], indices, flipped: [] };
      for (const index of indices) {
        let sample = this.dataset.get(index);
        const flip = this.hflipProb > 0 && generator.uniform() < this.hflipProb;
        if (flip) sample = hflip(sample);
        if (this.transform !== undefined) sample = this.transform(sample, generator);
        batch.images.push(sample.image);
        batch.targets.push(sample.target);
        batch.flipped.push(flip);
      }
      yield batch;
    }
  }

  /** Runs the next epoch and advances {@link DataLoader.epoch}. */
  [Symbol.iterator](): IterableIterator<Batch> {
    return this.batches(this.epoch++);
  }
}
