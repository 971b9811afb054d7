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
import { defaultConfig, shapesConfig, type MaskRCNNConfig } from '../model/config.js';
import { CocoDetectionDataset } from '../data/dataset.js';
import { formatSummary } from '../eval/cocoeval.js';
import { train, TRAIN_FILES, LR_STEP_FRACTION, consoleReporter, type TrainOptions } from '../train/train.js';
import { readWeightsConfig } from '../model/weights.js';
import { ZOO_PREFIX, weightsSourcePath } from '../train/zoo.js';
import { backendFlag, booleanFlag, checkExists, choiceFlag, imagesAnnotationsFlags, integerFlag, integerListFlag, numberFlag, parseFlags, runCommand, stringFlag, UsageError, type ParsedFlags } from './args.js';

const HELP = `usage: maskrcnn train --data DIR --out DIR [--config shapes|paper] [--iterations N] [--minutes M] [--resume]
                      [--weights FILE|zoo:NAME] [--seed S] [--backend wasm|reference|gpu] [options]
       maskrcnn train --images DIR --annotations FILE [--val-images DIR --val-annotations FILE]
                      --out DIR [options]

Trains Mask R-CNN on DIR/train (annotations.json + images/), from scratch or, with --weights,
fine-tuning trained weights, and evaluates on DIR/val when it exists (COCO bbox and segm AP);
or on any COCO instances file and its image folder (as COCO is laid out: --images train2017
--annotations instances_train2017.json; PNG or JPEG images of any size, any category ids;
'maskrcnn convert' makes one from labelme or VIA), evaluating on --val-annotations when given.
Writes into --out:
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
  --config NAME          shapes (the laptop preset, default) or paper (ResNet-50-FPN, 800 px;
                         the default with torchvision --weights)
  --image-size N         resize images to a shorter side of N px and a longer side of at most
                         round(N x 1333 / 800) (the paper: 800 and 1333; shapes: 128)
  --iterations N         total iterations (default 1000); with --resume, counted from the start
  --minutes M            train for about M minutes instead: the iterations are planned from the
                         measured speed (again every 50), at most --iterations when given, and
                         the learning-rate step follows the plan at 80% (not with --lr-steps)
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

fine-tuning:
  --weights FILE         start from trained weights: a torchvision state dict converted by
                         tools/convert_torchvision.py (architecture: --config, default paper),
                         a model.safetensors or checkpoint written by train (architecture: the
                         file's own configuration; --config is refused), or zoo:NAME (zoo/NAME).
                         The number of classes comes from --data: when it differs from the
                         file's, the class-specific predictors (box predictor cls_score and
                         bbox_pred, the mask predictor's mask_fcn_logits) start from fresh
                         weights and every other tensor is loaded; any other mismatch is an
                         error naming the tensor and both shapes. The source is recorded in the
                         checkpoint: --resume does not need --weights again (if given, it must
                         be the same)
  --trainable-layers N   how many ResNet stages train, from the top, 0..5 (torchvision's
                         trainable_backbone_layers): 5 all, 4 layer1..layer4, 3 layer2..layer4,
                         ..., 0 none (frozen stages also keep their BatchNorm statistics).
                         Default: the configuration's (shapes 5, paper 3)
  --heads-only           freeze the whole backbone (ResNet body and FPN): only the RPN and the
                         RoI heads train (matterport's layers='heads')
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
  const train = imagesAnnotationsFlags(flags);
  const { images } = train;
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
      minutes: { type: 'string' },
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
      weights: { type: 'string' },
      'trainable-layers': { type: 'string' },
      'heads-only': { type: 'boolean' },
      'image-size': { type: 'string' },
    });
    const location = datasetFlags(flags);
    const out = stringFlag(flags, 'out');
    const weights = flags.values['weights'] === undefined ? undefined : stringFlag(flags, 'weights');
    const headsOnly = booleanFlag(flags, 'heads-only');
    const trainableLayers = flags.values['trainable-layers'] === undefined ? undefined : integerFlag(flags, 'trainable-layers', 0, 0, 5);
    if (headsOnly && trainableLayers !== undefined) throw new UsageError('--heads-only freezes the whole backbone: leave out --trainable-layers');
    const imageSize = flags.values['image-size'] === undefined ? undefined : integerFlag(flags, 'image-size', 0, 1, 8192);
    const minutes = flags.values['minutes'] === undefined ? undefined : numberFlag(flags, 'minutes', undefined, 0.01, 1e7);
    if (minutes !== undefined && flags.values['lr-steps'] !== undefined) throw new UsageError(`--minutes places the learning-rate step at ${100 * LR_STEP_FRACTION}% of the planned iterations: leave out --lr-steps`);
    const iterations = integerFlag(flags, 'iterations', minutes === undefined ? 1000 : 100_000_000, 1, 100_000_000);
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
    // The architecture: a project weights file's own configuration, else the preset (paper by
    // default for a torchvision state dict). A resume takes the checkpoint's and reads no weights.
    let fileConfig: MaskRCNNConfig | undefined;
    if (weights !== undefined && !resume) {
      if (!weights.startsWith(ZOO_PREFIX)) checkExists('--weights', weights);
      let path: string;
      try {
        path = weightsSourcePath(weights);
      } catch (error) {
        throw new UsageError(`--weights ${weights}: ${(error as Error).message}`);
      }
      fileConfig = readWeightsConfig(path, `--weights ${weights}`).config;
      if (fileConfig !== undefined && flags.values['config'] !== undefined) {
        throw new UsageError(`--config: --weights ${weights} carries its own configuration (a weights file written by train): leave out --config`);
      }
    }
    const preset = choiceFlag(flags, 'config', weights !== undefined && fileConfig === undefined ? 'paper' : 'shapes', ['shapes', 'paper'] as const);
    const config: MaskRCNNConfig = fileConfig !== undefined ? { ...fileConfig, numClasses } : preset === 'shapes' ? shapesConfig(numClasses) : defaultConfig(numClasses);
    if (trainableLayers !== undefined) config.backbone = { ...config.backbone, trainableLayers };
    if (imageSize !== undefined) config.transform = { ...config.transform, minSize: imageSize, maxSize: Math.round((imageSize * 1333) / 800) };
    const options: TrainOptions = {
      config,
      train: trainSet,
      outDir: out,
      iterations,
      ...(minutes !== undefined ? { timeBudgetSeconds: minutes * 60 } : {}),
      resume,
      overwrite,
      reporter: consoleReporter(),
      checkpointEvery: integerFlag(flags, 'checkpoint-every', 100, 1, 100_000_000),
      evalEvery: integerFlag(flags, 'eval-every', 0, 0, 100_000_000),
      ...(weights !== undefined ? { weights } : {}),
      ...(headsOnly ? { headsOnly } : {}),
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
