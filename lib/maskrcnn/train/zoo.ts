/**
 * The model zoo: detectors the project trained itself, committed under `zoo/NAME/` with the
 * exact commands, seed and training log that produced them and the accuracy measured when they
 * were made (`zoo/NAME/zoo.json`), which a test checks again. `predict`, `inspect` and the course
 * use {@link DEFAULT_ZOO_MODEL} when no `--weights` is given, so a learner sees a detector that
 * works before training one.
 *
 * @module
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The zoo model used when a command gets no `--weights`. */
export const DEFAULT_ZOO_MODEL = 'shapes';

/** COCO's 12 summary numbers of one evaluation, bbox and segm (see `STAT_NAMES`). */
export interface ZooMetrics {
  /** bbox AP, AP50, AP75, APs, APm, APl, AR1, AR10, AR100, ARs, ARm, ARl. */
  bbox: number[];
  /** The same for masks. */
  segm: number[];
}

/** What `zoo/NAME/zoo.json` records of a zoo model. */
export interface ZooEntry {
  /** The model's name (its folder under `zoo/`). */
  name: string;
  /** One line on what it is. */
  description: string;
  /** The weights file, relative to the entry's folder. */
  weights: string;
  /** How the float tensors are stored (`F16`: half precision, read back as float32). */
  dtype: 'F16' | 'F32';
  /** The validation split it was measured on: `maskrcnn shapes` images of this seed and count. */
  validation: {
    /** The dataset's seed (the validation split uses `seed + VAL_SEED_OFFSET`, as `maskrcnn shapes`). */
    seed: number;
    /** Number of validation images. */
    images: number;
    /** Image side in pixels. */
    size: number;
  };
  /** The exact commands that produced the weights, in order (run from the repository root). */
  commands: string[];
  /** Seed of the data, the initial weights and the sampling. */
  seed: number;
  /** Iterations and images per iteration of the training run. */
  training: {
    /** Iterations. */
    iterations: number;
    /** Images per iteration. */
    batchSize: number;
    /** Seconds of training on the machine it was made on. */
    seconds: number;
    /** That machine, in words. */
    machine: string;
  };
  /** Accuracy on the validation split, of the float32 weights and of the stored ones. */
  metrics: {
    /** The weights as trained (float32). */
    float32: ZooMetrics;
    /** The weights as stored (`dtype`), read back as float32. */
    stored: ZooMetrics;
  };
  /** The training log beside the weights (one JSON record per iteration and evaluation). */
  log: string;
}

/** The `zoo/` folder of this package. */
export function zooDir(): string {
  return resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', '..', 'zoo');
}

/** Reads `zoo/NAME/zoo.json`; the error names the folder and lists the models there are. */
export function readZooEntry(name: string = DEFAULT_ZOO_MODEL): ZooEntry {
  const path = join(zooDir(), name, 'zoo.json');
  if (!existsSync(path)) throw new Error(`model zoo: no model '${name}' (${path} does not exist)`);
  let entry: ZooEntry;
  try {
    entry = JSON.parse(readFileSync(path, 'utf8')) as ZooEntry;
  } catch (error) {
    throw new Error(`model zoo: ${path} is not valid JSON: ${(error as Error).message}`);
  }
  if (typeof entry.weights !== 'string' || entry.name !== name) throw new Error(`model zoo: ${path} does not describe the model '${name}'`);
  return entry;
}

/** The path of a zoo model's weights file (checked to exist). */
export function zooWeightsPath(name: string = DEFAULT_ZOO_MODEL): string {
  const entry = readZooEntry(name);
  const path = join(zooDir(), name, entry.weights);
  if (!existsSync(path)) throw new Error(`model zoo: ${path} is missing (the '${name}' entry names it)`);
  return path;
}

/** The prefix that names a zoo model where a weights file is expected (`zoo:shapes`). */
export const ZOO_PREFIX = 'zoo:';

/**
 * The file of a weights source: `zoo:NAME` is the zoo model's weights file
 * ({@link zooWeightsPath}, checked to exist), anything else is a path, returned as it is.
 */
export function weightsSourcePath(source: string): string {
  return source.startsWith(ZOO_PREFIX) ? zooWeightsPath(source.slice(ZOO_PREFIX.length)) : source;
}
