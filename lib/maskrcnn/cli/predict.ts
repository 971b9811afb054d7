/**
 * `maskrcnn predict`: runs a trained detector over PNG or JPEG images and writes one overlay PNG per
 * image (masks, boxes, `name score` labels) and the detections as a COCO results file.
 *
 * @module
 */
import { existsSync, readdirSync, statSync } from 'node:fs';
import { makeDirectory } from '../../util/atomic_write.js';
import { basename, extname, join, resolve } from 'node:path';
import { getBackend, setBackend, type BackendName } from '../../ops/index.js';
import { noGrad } from '../../tensor/index.js';
import { IMAGE_FILE_PATTERN, readImage } from '../data/image.js';
import { writeResults } from '../eval/results.js';
import type { CocoResult } from '../eval/results.js';
import { detectionsToCocoResults } from '../eval/inference.js';
import { drawDetections } from '../viz/overlay.js';
import { loadWeights } from '../model/weights.js';
import { weightsFlag, backendFlag, commandErrorLine, UsageError, listFlag, numberFlag, parseFlags, runCommand, stringFlag } from './args.js';

const HELP = `usage: maskrcnn predict [--weights FILE] --image IMAGE... --out DIR [--score-threshold 0.5] [--backend wasm|reference|gpu]

Runs Mask R-CNN on each image and writes
  DIR/<name>.png     the image (enlarged when small) with each detection's mask in its class
                     colour, its box and a 'name score' label; detections scoring at least
                     --score-threshold are drawn
  DIR/results.json   every detection of every image (down to the model's own score threshold,
                     for COCO evaluation) as COCO results: {image_id, category_id, score,
                     bbox [x, y, w, h], segmentation (compressed RLE)}. image_id is the image's
                     1-based position in the list of images (folders expanded, as printed);
                     category_id is the model's label (class index, 1..K-1)
and prints one line per image: the number of detections drawn and the best few.

options:
  --weights FILE          a weights file (maskrcnn train, saveWeights, or a converted torchvision
                          state dict); default: the model zoo's shapes detector (zoo/shapes/)
  --image PATH            a PNG or JPEG image (told apart by content, not name; a JPEG's EXIF
                          orientation is applied), or a folder (its .png, .jpg and .jpeg files,
                          sorted by name); repeat for more
  --out DIR               output folder (created if needed)
  --score-threshold S     draw detections with score >= S, 0..1 (default 0.5)
  --backend NAME          wasm (default), reference or gpu
  -h, --help              show this help`;

const FLAGS = {
  weights: { type: 'string' },
  image: { type: 'string', multiple: true },
  out: { type: 'string' },
  'score-threshold': { type: 'string' },
  backend: { type: 'string' },
} as const;

/** The image files named by `--image` values: files as given, folders expanded to their sorted PNG and JPEG files. */
function expandImages(paths: readonly string[]): string[] {
  if (paths.length === 0) throw new UsageError('--image is required (a PNG or JPEG file, or a folder of them)');
  const files: string[] = [];
  for (const p of paths) {
    if (!existsSync(p)) throw new UsageError(`--image ${p}: no such file or folder`);
    if (statSync(p).isDirectory()) {
      const pngs = readdirSync(p)
        .filter((f) => IMAGE_FILE_PATTERN.test(f))
        .sort();
      if (pngs.length === 0) throw new UsageError(`--image ${p}: the folder has no .png, .jpg or .jpeg files`);
      files.push(...pngs.map((f) => join(p, f)));
    } else files.push(p);
  }
  return files;
}

/**
 * Runs `maskrcnn predict` on `argv` (the arguments after `predict`) and returns the exit code:
 * 0 on success, 2 for a usage error (unknown flag, missing `--weights`/`--image`/`--out`, a path
 * that does not exist), 1 when a file cannot be read (the message names it).
 *
 * @param argv - the command-line arguments after `predict`.
 * @returns the process exit code.
 */
export async function runPredict(argv: string[]): Promise<number> {
  return runCommand('predict', argv, HELP, () => {
    const flags = parseFlags(argv, FLAGS);
    const weights = weightsFlag(flags);
    const out = stringFlag(flags, 'out');
    const threshold = numberFlag(flags, 'score-threshold', 0.5, 0, 1);
    const backend = backendFlag(flags);
    const images = expandImages(listFlag(flags, 'image'));
    // One output per image name; never overwrite an input.
    const outputs = new Map<string, string>();
    for (const image of images) {
      const name = `${basename(image, extname(image))}.png`;
      const previous = outputs.get(name);
      if (previous !== undefined) throw new UsageError(`--image: ${previous} and ${image} would both be written to ${join(out, name)}; rename one`);
      if (resolve(join(out, name)) === resolve(image)) throw new UsageError(`--out ${out}: writing ${name} there would overwrite the input image ${image}; choose another folder`);
      outputs.set(name, image);
    }
    return withErrors('predict', () =>
      withBackend(backend, () => {
        const { model, classes } = loadWeights(weights);
        makeDirectory(out, 'predict');
        const results: CocoResult[] = [];
        images.forEach((path, k) => {
          const image = readImage(path);
          const [detections] = noGrad(() => model.forward([image]).detections);
          const d = detections!;
          results.push(...detectionsToCocoResults(d, k + 1, { maskThreshold: model.config.roiHeads.maskThreshold }));
          const overlay = join(out, `${basename(path, extname(path))}.png`);
          drawDetections(image, d, { classes, scoreThreshold: threshold, maskThreshold: model.config.roiHeads.maskThreshold }).save(overlay);
          const kept: string[] = [];
          for (let j = 0; j < d.scores.size; j++) if (d.scores.data[j]! >= threshold) kept.push(`${classes[d.labels.data[j]!] ?? d.labels.data[j]} ${d.scores.data[j]!.toFixed(2)}`);
          const top = kept.length === 0 ? '' : ` (${kept.slice(0, 5).join(', ')}${kept.length > 5 ? ', ...' : ''})`;
          console.log(`${k + 1} ${path}: ${kept.length} detection${kept.length === 1 ? '' : 's'} >= ${threshold}${top} -> ${overlay}`);
        });
        const resultsPath = join(out, 'results.json');
        writeResults(resultsPath, results);
        console.log(`${results.length} detections of ${images.length} image${images.length === 1 ? '' : 's'} (image_id = position above) -> ${resultsPath}`);
        return 0;
      }),
    );
  });
}

/** Runs `body` on `backend` (when given), restoring the previous backend afterwards. */
function withBackend<T>(backend: BackendName | undefined, body: () => T): T {
  if (backend === undefined) return body();
  const previous = getBackend();
  setBackend(backend);
  try {
    return body();
  } finally {
    setBackend(previous);
  }
}

/** Runs `body`; an error (a file that cannot be read, a bad weights file) prints `maskrcnn NAME: message` and gives exit code 1. */
function withErrors(name: string, body: () => number): number {
  try {
    return body();
  } catch (error) {
    if (error instanceof UsageError) throw error;
    console.error(commandErrorLine(name, error));
    return 1;
  }
}
