/**
 * `maskrcnn train`: trains Mask R-CNN on a COCO-format folder (as `maskrcnn shapes` writes
 * it: `DIR/train` and `DIR/val`, each `annotations.json` + `images/`) or on any COCO instances
 * file with its image folder (`--images DIR --annotations FILE`), with checkpoints,
 * `--resume`, a progress bar, a JSONL log, the loss curve and COCO evaluation.
 *
 * @module
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { setBackend, describeBackend } from '../../ops/index.js';
import { defaultConfig, shapesConfig, type MaskRCNNConfig } from '../config.js';
import { CocoDetectionDataset } from '../data/dataset.js';
import { formatSummary } from '../eval/cocoeval.js';
import { train, TRAIN_FILES, consoleReporter, type TrainOptions } from '../train.js';
import { backendFlag, booleanFlag, checkExists, choiceFlag, integerFlag, integerListFlag, numberFlag, parseFlags, runCommand, stringFlag, UsageError, type ParsedFlags } from './args.js';

const HELP = `usage: maskrcnn train --data DIR --out DIR [--config shapes|paper] [--iterations N] [--resume]
                      [--seed S] [--backend wasm|reference|gpu] [options]
       maskrcnn train --images DIR --annotations FILE [--val-images DIR --val-annotations FILE]
                      --out DIR [options]

Trains Mask R-CNN from scratch on DIR/train (annotations.json + images/) and evaluates on
DIR/val when it exists (COCO bbox and segm AP); or on any COCO instances file and its image
folder (as COCO is laid out: --images train2017 --annotations instances_train2017.json; PNG or
JPEG images of any size, any category ids; 'maskrcnn convert' makes one from labelme or VIA),
evaluating on --val-annotations when given. Writes into --out:
  ${TRAIN_FILES.checkpoint}   model + optimizer state + schedule + iteration + generator (atomic)
  ${TRAIN_FILES.weights}        the trained weights, for predict / eval / inspect
  ${TRAIN_FILES.log}              one JSON record per iteration and per evaluation
  ${TRAIN_FILES.plot}         the loss terms and the evaluations over the iterations

options:
  --data DIR             dataset folder, as 'maskrcnn shapes' writes it (DIR/train, DIR/val)
  --images DIR           instead of --data: the training images (file_name is relative to DIR)
  --annotations FILE     with --images: the training COCO instances file
  --val-annotations FILE with --images: a COCO instances file to evaluate on (optional)
  --val-images DIR       its images (default: --images)
  --out DIR              output folder (required)
  --config NAME          shapes (the laptop preset, default) or paper (ResNet-50-FPN, 800 px)
  --iterations N         total iterations (default 1000); with --resume, counted from the start
  --resume               continue from --out's checkpoint exactly where it stopped
  --overwrite            start afresh even if --out holds a checkpoint
  --seed S               seed of the weights, samplers and data order (default 0)
  --batch-size N         images per iteration (default 4 for shapes, its recipe; 2 for paper)
  --optimizer NAME       sgd or adamw (default: the config's, adamw for shapes, sgd for paper)
  --lr X                 base learning rate (default: the config's, 1e-3 for shapes)
  --weight-decay X       weight decay (default: the config's, 0.05 for shapes: AdamW's
                         decoupled decay; 1e-4 for paper: SGD's L2 penalty)
  --warmup N             linear warmup iterations (default min(100, iterations/10))
  --lr-steps A,B         iterations at which the rate is divided by 10 (default 0.8 x iterations)
  --clip-grad-norm X     clip the total gradient norm to X (default: off)
  --checkpoint-every N   iterations between checkpoints (default 100)
  --eval-every N         iterations between evaluations on DIR/val (default: only at the end)
  --eval-limit N         evaluate on the first N validation images only
  --backend NAME         wasm (default), reference or gpu
  -h, --help             show this help

A value that starts with a dash is written with '=': --seed=-1.

A NaN or infinite loss stops training with the iteration and the loss term named; the last
checkpoint stays the last good one.`;

/** Where the training (and validation) annotations and images are. */
interface DatasetLocation {
  train: { annotations: string; images: string };
  val?: { annotations: string; images: string };
  /** Why there is no validation set, for the data line. */
  noVal: string;
}

/** `--data DIR`, or `--images DIR --annotations FILE` (with `--val-annotations`, `--val-images`), checked to exist. */
function datasetFlags(flags: ParsedFlags): DatasetLocation {
  const given = (name: string): boolean => flags.values[name] !== undefined;
  if (given('data')) {
    for (const name of ['images', 'annotations', 'val-images', 'val-annotations']) {
      if (given(name)) throw new UsageError(`--${name} cannot be combined with --data (give --data DIR, or --images DIR --annotations FILE)`);
    }
    const data = stringFlag(flags, 'data');
    checkExists('--data', data, 'dir');
    checkExists('--data', join(data, 'train', 'annotations.json'));
    const valDir = join(data, 'val');
    const train = { annotations: join(data, 'train', 'annotations.json'), images: join(data, 'train', 'images') };
    if (!existsSync(join(valDir, 'annotations.json'))) return { train, noVal: 'no DIR/val: no evaluation' };
    return { train, val: { annotations: join(valDir, 'annotations.json'), images: join(valDir, 'images') }, noVal: '' };
  }
  if (!given('images') && !given('annotations')) throw new UsageError('--data is required (or --images DIR --annotations FILE)');
  if (!given('images')) throw new UsageError('--annotations needs --images DIR (the folder of its images)');
  if (!given('annotations')) throw new UsageError('--images needs --annotations FILE (a COCO instances file)');
  const images = stringFlag(flags, 'images');
  const annotations = stringFlag(flags, 'annotations');
  checkExists('--images', images, 'dir');
  checkExists('--annotations', annotations);
  const train = { annotations, images };
  if (!given('val-annotations')) {
    if (given('val-images')) throw new UsageError('--val-images needs --val-annotations FILE');
    return { train, noVal: 'no --val-annotations: no evaluation' };
  }
  const valAnnotations = stringFlag(flags, 'val-annotations');
  const valImages = given('val-images') ? stringFlag(flags, 'val-images') : images;
  checkExists('--val-annotations', valAnnotations);
  checkExists('--val-images', valImages, 'dir');
  return { train, val: { annotations: valAnnotations, images: valImages }, noVal: '' };
}

/**
 * The validation set must have the training set's categories (ids and names), or labels 1..K
 * would mean different classes in the two.
 */
function checkSameCategories(trainSet: CocoDetectionDataset, valSet: CocoDetectionDataset): void {
  const key = (d: CocoDetectionDataset): string => d.categories.map((c) => `${c.id}:${c.name}`).join(', ');
  if (key(trainSet) !== key(valSet)) {
    throw new Error(`train: the validation categories (${key(valSet)}) are not the training categories (${key(trainSet)}); labels would not match`);
  }
}

/** Runs `maskrcnn train` on `argv` (the arguments after `train`) and returns the exit code. */
export async function runTrain(argv: string[]): Promise<number> {
  return runCommand('train', argv, HELP, () => {
    const flags = parseFlags(argv, {
      data: { type: 'string' },
      images: { type: 'string' },
      annotations: { type: 'string' },
      'val-images': { type: 'string' },
      'val-annotations': { type: 'string' },
      out: { type: 'string' },
      config: { type: 'string' },
      iterations: { type: 'string' },
      resume: { type: 'boolean' },
      overwrite: { type: 'boolean' },
      seed: { type: 'string' },
      'batch-size': { type: 'string' },
      lr: { type: 'string' },
      optimizer: { type: 'string' },
      'weight-decay': { type: 'string' },
      warmup: { type: 'string' },
      'lr-steps': { type: 'string' },
      'clip-grad-norm': { type: 'string' },
      'checkpoint-every': { type: 'string' },
      'eval-every': { type: 'string' },
      'eval-limit': { type: 'string' },
      backend: { type: 'string' },
    });
    const location = datasetFlags(flags);
    const out = stringFlag(flags, 'out');
    const preset = choiceFlag(flags, 'config', 'shapes', ['shapes', 'paper'] as const);
    const iterations = integerFlag(flags, 'iterations', 1000, 1, 100_000_000);
    const backend = backendFlag(flags);
    const resume = booleanFlag(flags, 'resume');
    const overwrite = booleanFlag(flags, 'overwrite');
    if (resume && overwrite) throw new UsageError('--resume and --overwrite contradict each other');
    if (!resume && !overwrite && existsSync(join(out, TRAIN_FILES.checkpoint))) {
      throw new UsageError(`--out ${out} already holds ${TRAIN_FILES.checkpoint}: pass --resume to continue it or --overwrite to start afresh`);
    }
    const trainSet = CocoDetectionDataset.fromFiles(location.train.annotations, location.train.images, { contiguousLabels: true });
    const valSet = location.val ? CocoDetectionDataset.fromFiles(location.val.annotations, location.val.images, { contiguousLabels: true }) : undefined;
    if (valSet !== undefined) checkSameCategories(trainSet, valSet);
    const numClasses = trainSet.categories.length + 1;
    const config: MaskRCNNConfig = preset === 'shapes' ? shapesConfig(numClasses) : defaultConfig(numClasses);
    const options: TrainOptions = {
      config,
      train: trainSet,
      outDir: out,
      iterations,
      resume,
      overwrite,
      reporter: consoleReporter(),
      checkpointEvery: integerFlag(flags, 'checkpoint-every', 100, 1, 100_000_000),
      evalEvery: integerFlag(flags, 'eval-every', 0, 0, 100_000_000),
      ...(valSet ? { val: valSet } : {}),
    };
    if (flags.values['seed'] !== undefined) options.seed = integerFlag(flags, 'seed', 0, -(2 ** 31), 2 ** 32 - 1);
    options.batchSize = integerFlag(flags, 'batch-size', preset === 'shapes' ? 4 : 2, 1, 1024);
    if (flags.values['lr'] !== undefined) options.lr = numberFlag(flags, 'lr', undefined, 1e-12, 10);
    if (flags.values['optimizer'] !== undefined) options.optimizer = choiceFlag(flags, 'optimizer', 'sgd', ['sgd', 'adamw'] as const);
    if (flags.values['weight-decay'] !== undefined) options.weightDecay = numberFlag(flags, 'weight-decay', undefined, 0, 10);
    if (flags.values['warmup'] !== undefined) options.warmupIterations = integerFlag(flags, 'warmup', 0, 0, 100_000_000);
    if (flags.values['clip-grad-norm'] !== undefined) options.clipGradNorm = numberFlag(flags, 'clip-grad-norm', undefined, 0, 1e12);
    if (flags.values['eval-limit'] !== undefined) options.evalLimit = integerFlag(flags, 'eval-limit', undefined, 1, 100_000_000);
    const lrSteps = integerListFlag(flags, 'lr-steps', 0, 100_000_000);
    if (lrSteps !== undefined) options.lrSteps = lrSteps;
    if (backend !== undefined) setBackend(backend);
    console.log(`backend: ${describeBackend()}`);
    console.log(`data: ${trainSet.length} training images${valSet ? `, ${valSet.length} validation images` : ` (${location.noVal})`}, ${numClasses - 1} classes (${trainSet.categories.map((c) => c.name).join(', ')})`);
    const result = train(options);
    console.log(`trained ${result.iteration} iterations in ${result.trainSeconds.toFixed(1)} s of training`);
    if (result.evaluation) {
      console.log(`\nbbox (${result.evaluation.images} validation images):\n${formatSummary(result.evaluation.bbox.stats)}`);
      console.log(`\nsegm:\n${formatSummary(result.evaluation.segm.stats)}`);
    }
    console.log(`\nwrote ${result.files.weights}\n      ${result.files.checkpoint}\n      ${result.files.log}\n      ${result.files.plot}`);
    return 0;
  });
}
