/**
 * `maskrcnn demo` (`npm run demo`): the project's main job end to end on embedded defaults.
 * Generates the synthetic shapes dataset, trains the `shapes` preset from scratch on this
 * machine's CPU, evaluates it (COCO bbox and segm AP on the validation split), and writes
 * overlays of validation images and an inspection of one of them, printing where everything is.
 *
 * @module
 */
import { availableParallelism, loadavg } from 'node:os';
import { join, resolve } from 'node:path';
import { describeBackend, setBackend } from '../../ops/index.js';
import { noGrad } from '../../tensor/index.js';
import { makeDirectory } from '../../util/atomic_write.js';
import { shapesConfig } from '../model/config.js';
import { CocoDetectionDataset } from '../data/dataset.js';
import { writeShapes } from '../data/shapes.js';
import { formatSummary, STAT_NAMES } from '../eval/cocoeval.js';
import { writeResults } from '../eval/results.js';
import { writeInspection } from '../viz/inspect.js';
import { drawDetections } from '../viz/overlay.js';
import { train, consoleReporter, TRAIN_FILES } from '../train/train.js';
import { shapesSplits } from './shapes.js';
import { UsageError, backendFlag, booleanFlag, integerFlag, numberFlag, parseFlags, runCommand, stringFlag } from './args.js';

/**
 * The demo's embedded defaults: the shapes preset's recipe (AdamW 1e-3, batch 4, warmup 100,
 * x0.1 at 80%) for as many iterations as fit in 10 minutes in all, data, evaluation and
 * pictures included: training gets what the data left, less `reserveSeconds` for the
 * evaluation and the pictures (about 10 s measured), and plans its length from its measured
 * speed (`timeBudgetSeconds` of {@link train}). A step of 4 images takes 0.25-0.3 s on 2 cores at
 * the start and 0.3-0.4 s once the detector finds objects and the mask head gets its positive
 * RoIs, so 10 minutes are 1550 to 1800 iterations on this VM, whose speed varied by about 25%
 * within a day. Measured with fixed counts (segm AP50, time in all): 1550 iterations 0.881 in
 * 8 min 58 s (fast host); 1700: 0.898 in 10 min 18 s and 1800: 0.903 in 11 min 21 s (slow host).
 */
export const DEMO_DEFAULTS = Object.freeze({
  out: 'demo-output',
  trainImages: 1000,
  valImages: 100,
  minutes: 10,
  maxIterations: 4000,
  reserveSeconds: 20,
  batchSize: 4,
  warmup: 100,
  seed: 0,
  overlays: 8,
});

const HELP = `usage: maskrcnn demo [--out DIR] [--minutes M | --iterations N] [--seed S] [--backend NAME] [--resume]

Mask R-CNN from scratch on this machine's CPU, end to end:
  1. writes the synthetic shapes dataset (${DEMO_DEFAULTS.trainImages} training and ${DEMO_DEFAULTS.valImages} validation images, 128x128)
  2. trains the 'shapes' preset (the paper's architecture, narrowed) from random weights
  3. evaluates it on the validation split (COCO bbox and segm AP, pycocotools' numbers)
  4. draws the detections on ${DEMO_DEFAULTS.overlays} validation images and an inspection of one
     (every stage of the network as a picture, with an index page)

options:
  --out DIR          output folder (default ${DEMO_DEFAULTS.out})
  --minutes M        the whole demo's time (default ${DEMO_DEFAULTS.minutes}): training takes what the data leaves, less
                     ${DEMO_DEFAULTS.reserveSeconds} s for evaluation and pictures, and plans its iterations of
                     ${DEMO_DEFAULTS.batchSize} images from its measured speed (at most ${DEMO_DEFAULTS.maxIterations})
  --iterations N     train exactly N iterations instead (reproducible on any machine)
  --train N          training images (default ${DEMO_DEFAULTS.trainImages})
  --val N            validation images (default ${DEMO_DEFAULTS.valImages})
  --seed S           seed of the data, the weights and the sampling (default ${DEMO_DEFAULTS.seed})
  --backend NAME     wasm (default), reference or gpu
  --resume           continue an interrupted demo run from its last checkpoint (give the same
                     --minutes or --iterations)
  -h, --help         show this help`;

function duration(seconds: number): string {
  const m = Math.floor(seconds / 60);
  return m > 0 ? `${m} min ${(seconds - 60 * m).toFixed(0)} s` : `${seconds.toFixed(1)} s`;
}

/** Runs `maskrcnn demo` on `argv` (the arguments after `demo`) and returns the exit code. */
export async function runDemo(argv: string[]): Promise<number> {
  return runCommand('demo', argv, HELP, () => {
    const flags = parseFlags(argv, {
      out: { type: 'string' },
      iterations: { type: 'string' },
      minutes: { type: 'string' },
      train: { type: 'string' },
      val: { type: 'string' },
      seed: { type: 'string' },
      backend: { type: 'string' },
      resume: { type: 'boolean' },
    });
    const out = resolve(stringFlag(flags, 'out', DEMO_DEFAULTS.out));
    if (flags.values['minutes'] !== undefined && flags.values['iterations'] !== undefined) throw new UsageError('give --minutes or --iterations, not both');
    const fixed = flags.values['iterations'] !== undefined;
    const iterations = fixed ? integerFlag(flags, 'iterations', undefined, 1, 10_000_000) : DEMO_DEFAULTS.maxIterations;
    const minutes = numberFlag(flags, 'minutes', DEMO_DEFAULTS.minutes, 0.1, 10_000);
    const trainImages = integerFlag(flags, 'train', DEMO_DEFAULTS.trainImages, 1, 1_000_000);
    const valImages = integerFlag(flags, 'val', DEMO_DEFAULTS.valImages, 1, 1_000_000);
    const seed = integerFlag(flags, 'seed', DEMO_DEFAULTS.seed, 0, 2 ** 31 - 1);
    const backend = backendFlag(flags);
    const resume = booleanFlag(flags, 'resume');
    if (backend !== undefined) setBackend(backend);
    const started = performance.now();
    const elapsed = (): number => (performance.now() - started) / 1000;
    console.log(`Mask R-CNN demo: shapes preset from scratch on ${availableParallelism()} CPU core(s), load average ${loadavg()[0]!.toFixed(2)}`);
    console.log(`backend: ${describeBackend()}\n`);

    // 1. Data: the same files `maskrcnn shapes` writes, read back the way any COCO folder is.
    const dataDir = join(out, 'data');
    console.log(`[1/4] writing the shapes dataset to ${dataDir}`);
    for (const { name: split, count, seed: splitSeed, startImageId } of shapesSplits(trainImages, valImages, seed)) {
      makeDirectory(join(dataDir, split, 'images'), 'demo'); // an error for a folder that cannot be made (recursive mkdirSync can loop forever)
      const s = writeShapes(join(dataDir, split), { count, seed: splitSeed, startImageId });
      console.log(`      ${split}: ${s.images} images, ${s.instances} instances (${Object.entries(s.perCategory).map(([k, v]) => `${v} ${k}s`).join(', ')})`);
    }
    const trainSet = CocoDetectionDataset.fromDirectory(join(dataDir, 'train'), { contiguousLabels: true });
    const valSet = CocoDetectionDataset.fromDirectory(join(dataDir, 'val'), { contiguousLabels: true });

    // 2. Training (and 3. the final evaluation, which train() runs on the validation split).
    const runDir = join(out, 'run');
    const config = shapesConfig(trainSet.categories.length + 1);
    const budget = minutes * 60 - elapsed() - DEMO_DEFAULTS.reserveSeconds;
    if (!fixed && budget < 1) throw new Error(`--minutes ${minutes} leaves no time for training (the data took ${duration(elapsed())}, and ${DEMO_DEFAULTS.reserveSeconds} s are kept for evaluation and pictures)`);
    console.log(`\n[2/4] training ${fixed ? `for ${iterations} iterations` : `for ${duration(budget)} (what ${minutes} min leave after the data and ${DEMO_DEFAULTS.reserveSeconds} s for evaluation and pictures)`} of ${DEMO_DEFAULTS.batchSize} images -> ${runDir}`);
    const result = train({
      ...(fixed ? {} : { timeBudgetSeconds: budget }),
      config,
      train: trainSet,
      val: valSet,
      outDir: runDir,
      iterations,
      seed,
      batchSize: DEMO_DEFAULTS.batchSize,
      warmupIterations: fixed ? Math.min(DEMO_DEFAULTS.warmup, Math.floor(iterations / 10)) : DEMO_DEFAULTS.warmup,
      resume,
      overwrite: !resume,
      checkpointEvery: 100,
      reporter: consoleReporter(),
    });
    const trainedAt = elapsed();
    const evaluation = result.evaluation!;
    console.log(`\n[3/4] evaluation on ${evaluation.images} validation images`);
    console.log(`bbox:\n${formatSummary(evaluation.bbox.stats)}`);
    console.log(`segm:\n${formatSummary(evaluation.segm.stats)}`);

    // 4. Pictures: overlays of a few validation images, and one image inspected stage by stage.
    const predDir = join(out, 'predictions');
    makeDirectory(predDir, 'demo');
    const classes = ['__background__', ...trainSet.categories.map((c) => c.name)];
    const model = result.model;
    model.eval();
    const overlays: string[] = [];
    noGrad(() => {
      for (let i = 0; i < Math.min(DEMO_DEFAULTS.overlays, valSet.length); i++) {
        const { image } = valSet.get(i);
        const { detections } = model.forward([image]);
        const path = join(predDir, valSet.imageInfo(i).file_name ?? `${i}.png`);
        drawDetections(image, detections[0]!, { classes }).save(path);
        overlays.push(path);
      }
    });
    writeResults(join(predDir, 'results.json'), evaluation.results);
    const sample = valSet.get(0);
    const inspection = writeInspection(model, sample.image, join(out, 'inspect'), {
      classes,
      target: sample.target,
      title: `Mask R-CNN inspection: validation image ${valSet.imageInfo(0).file_name}`,
    });
    console.log(`\n[4/4] wrote ${overlays.length} overlays and an inspection of ${valSet.imageInfo(0).file_name}`);

    const total = elapsed();
    const ap50 = evaluation.segm.stats[1]!;
    console.log(`\nsummary`);
    console.log(`  time: ${duration(total)} in all (${duration(result.trainSeconds)} training: ${result.iteration} iterations, ${duration(trainedAt - result.trainSeconds)} data + evaluation, ${duration(total - trainedAt)} pictures)`);
    console.log(`  bbox ${STAT_NAMES.slice(0, 3).map((n, k) => `${n} ${evaluation.bbox.stats[k]!.toFixed(3)}`).join(', ')}`);
    console.log(`  segm ${STAT_NAMES.slice(0, 3).map((n, k) => `${n} ${evaluation.segm.stats[k]!.toFixed(3)}`).join(', ')}`);
    console.log(`  goal segm AP50 >= 0.9 within 10 minutes: ${ap50 >= 0.9 && total <= 600 ? 'met' : 'not met'} (AP50 ${ap50.toFixed(3)}, ${duration(total)})`);
    console.log(`\nwhere everything is`);
    console.log(`  dataset        ${dataDir}/{train,val}/annotations.json + images/`);
    console.log(`  weights        ${join(runDir, TRAIN_FILES.weights)}   (maskrcnn predict/eval/inspect --weights ...)`);
    console.log(`  checkpoint     ${join(runDir, TRAIN_FILES.checkpoint)}   (maskrcnn train --resume ...)`);
    console.log(`  training log   ${join(runDir, TRAIN_FILES.log)}`);
    console.log(`  loss curve     ${join(runDir, TRAIN_FILES.plot)}`);
    console.log(`  overlays       ${predDir}/*.png`);
    console.log(`  COCO results   ${join(predDir, 'results.json')}`);
    console.log(`  inspection     ${inspection.index}`);
    return 0;
  });
}
