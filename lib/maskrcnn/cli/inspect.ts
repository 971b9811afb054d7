/**
 * `maskrcnn inspect`: one image through every stage of the detector, drawn to PNG with an
 * index page (matterport's `inspect_model` notebook as a command; see `lib/maskrcnn/viz/inspect.ts`).
 *
 * @module
 */
import { basename } from 'node:path';
import { getBackend, setBackend } from '../../ops/index.js';
import { makeDirectory } from '../../util/atomic_write.js';
import { readCoco } from '../data/coco.js';
import { CocoDetectionDataset, type DetectionTarget } from '../data/dataset.js';
import { readImage } from '../data/image.js';
import { writeInspection } from '../viz/inspect.js';
import type { MaskRCNN } from '../model/mask_rcnn.js';
import type { Tensor } from '../../tensor/index.js';
import { loadWeights } from '../model/weights.js';
import { weightsFlag, backendFlag, commandErrorLine, UsageError, checkExists, listFlag, numberFlag, parseFlags, runCommand, stringFlag } from './args.js';

const HELP = `usage: maskrcnn inspect [--weights FILE] --image IMAGE --out DIR [--annotations COCO.json] [--score-threshold 0.5] [--backend wasm|reference|gpu]

Runs Mask R-CNN on one image with every intermediate traced and writes into DIR one PNG per
stage (anchors, RPN objectness per FPN level, proposals before and after NMS, RoI features,
mask logits per detection and per class, final detections, FPN maps P2..P6), trace.json (shape,
min, max and mean of every traced tensor) and index.html, a page with each picture captioned by
the paper's term and section. Prints the path of index.html.

With --annotations, the image's ground truth (the image whose file_name is the image's file
name) also goes through a training-mode pass (no weights change) to draw the RPN targets, the
sampled RoIs, the mask targets and the five loss terms.

options:
  --weights FILE          a weights file (maskrcnn train, saveWeights, or a converted torchvision
                          state dict); default: the model zoo's shapes detector (zoo/shapes/)
  --image IMAGE           the image, PNG or JPEG (a JPEG's EXIF orientation is applied)
  --out DIR               output folder (created if needed)
  --annotations FILE      COCO instance annotations that include the image (optional)
  --score-threshold S     the final-detections picture draws scores >= S, 0..1 (default 0.5)
  --backend NAME          wasm (default), reference or gpu
  -h, --help              show this help`;

const FLAGS = {
  weights: { type: 'string' },
  image: { type: 'string', multiple: true },
  out: { type: 'string' },
  annotations: { type: 'string' },
  'score-threshold': { type: 'string' },
  backend: { type: 'string' },
} as const;

/**
 * Runs `maskrcnn inspect` on `argv` (the arguments after `inspect`) and returns the exit code:
 * 0 on success, 2 for a usage error (unknown flag, missing `--weights`/`--image`/`--out`, a
 * path that does not exist), 1 when a file cannot be read or the annotations do not describe
 * the image (the message names the file).
 *
 * @param argv - the command-line arguments after `inspect`.
 * @returns the process exit code.
 */
export async function runInspect(argv: string[]): Promise<number> {
  return runCommand('inspect', argv, HELP, () => {
    const flags = parseFlags(argv, FLAGS);
    const weights = weightsFlag(flags);
    const images = listFlag(flags, 'image');
    if (images.length === 0) throw new UsageError('--image is required');
    if (images.length > 1) throw new UsageError(`--image takes one image, got ${images.length} (maskrcnn predict runs many)`);
    const imagePath = images[0]!;
    if (imagePath === '') throw new UsageError('--image needs a non-empty value');
    const out = stringFlag(flags, 'out');
    const annotations = flags.values['annotations'] === undefined ? undefined : stringFlag(flags, 'annotations');
    const scoreThreshold = numberFlag(flags, 'score-threshold', 0.5, 0, 1);
    const backend = backendFlag(flags);
    checkExists('--image', imagePath);
    if (annotations !== undefined) checkExists('--annotations', annotations);
    const previous = getBackend();
    try {
      if (backend !== undefined) setBackend(backend);
      const { model, classes } = loadWeights(weights);
      const image = readImage(imagePath);
      makeDirectory(out, 'inspect');
      const target = annotations === undefined ? undefined : groundTruth(annotations, imagePath, image, model);
      const { index, files } = writeInspection(model, image, out, { classes, title: `Mask R-CNN inspection: ${basename(imagePath)}`, scoreThreshold, ...(target ? { target } : {}) });
      console.log(`${files.length - 2} pictures, trace.json and index.html in ${out}`);
      console.log(index);
      return 0;
    } catch (error) {
      if (error instanceof UsageError) throw error;
      console.error(commandErrorLine('inspect', error));
      return 1;
    } finally {
      setBackend(previous);
    }
  });
}

/**
 * The ground truth of `imagePath` in the COCO file `path` (the image whose `file_name` has the
 * same base name), with labels in the model's label space: 1..K in category-id order when the
 * file has K = numClasses - 1 categories (as `maskrcnn shapes` and training use), else the
 * category ids themselves (torchvision's COCO models).
 */
function groundTruth(path: string, imagePath: string, image: Tensor, model: MaskRCNN): DetectionTarget {
  const coco = readCoco(path);
  const name = basename(imagePath);
  const index = coco.images.findIndex((im) => im.file_name !== undefined && basename(im.file_name) === name);
  if (index < 0) throw new Error(`${path}: no image has file_name '${name}' (the --image file's name)`);
  const contiguous = coco.categories.length + 1 === model.config.numClasses;
  const maxId = Math.max(0, ...coco.categories.map((c) => c.id));
  if (!contiguous && maxId >= model.config.numClasses) {
    throw new Error(`${path}: ${coco.categories.length} categories (ids up to ${maxId}) do not fit the model's ${model.config.numClasses} classes (background included)`);
  }
  const dataset = new CocoDetectionDataset(coco, () => image, { contiguousLabels: contiguous, source: path });
  return dataset.get(index).target;
}
