/**
 * Training Mask R-CNN: the paper's recipe (section 3.1, "Training") scaled to a laptop. SGD
 * with momentum 0.9 and weight decay 1e-4, a linear warmup then step decay of the learning
 * rate (torchvision's detection reference: `LinearLR` warmup, `MultiStepLR`), a batch of
 * images per iteration, the multi-task loss `L = L_cls + L_box + L_mask` plus the RPN's two
 * terms, optional gradient-norm clipping.
 *
 * What makes it trustworthy:
 * - Deterministic for a seed on a given backend: the model's initial weights, the RoI and
 *   anchor sampling (the default generator) and the data order and flips (the loader's own
 *   generator, a pure function of seed and epoch) are all seeded.
 * - Checkpoints (`checkpoint.safetensors`: model, SGD momentum, scheduler, iteration, the
 *   generator's state, the configuration and the resolved hyper-parameters) are written
 *   atomically every `checkpointEvery` iterations and at the end; `resume` continues from one
 *   exactly: the losses after a resume are bit-identical to an uninterrupted run's. A resume
 *   checks the checkpoint field by field first (iteration, generator state, hyper-parameters,
 *   configuration ranges, class names, and that the restored optimiser and scheduler agree
 *   with them), so a corrupt or edited checkpoint is an error naming the file and the field.
 * - A NaN or infinite loss term (or gradient norm) stops training before the update, naming
 *   the iteration and the term; the last checkpoint written stays the last good one.
 * - Fine-tuning (`weights`): the run starts from trained weights instead of random ones
 *   ({@link loadPretrained}: a torchvision state dict, a weights file or checkpoint of this
 *   trainer, or `zoo:NAME`); when the data has another number of classes than the file, only the
 *   class-specific predictors start afresh, as in torchvision's fine-tuning tutorial. The
 *   configuration's `backbone.trainableLayers` freezes ResNet stages from the bottom
 *   (torchvision's `trainable_backbone_layers`) and `headsOnly` the whole backbone (matterport's
 *   `layers='heads'`); frozen parameters are left out of the optimiser and a frozen BatchNorm
 *   keeps its running statistics. The source is recorded in the checkpoint, so a resume needs no
 *   weights file.
 * - Progress (iteration, ETA, images/s, the five terms), `log.jsonl` (one JSON record per
 *   iteration and per evaluation), `loss_curve.svg` beside the checkpoints, and periodic COCO
 *   evaluation (bbox and segm AP) on the validation split.
 *
 * @module
 */
import { appendFileSync, existsSync, readFileSync, readdirSync, unlinkSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { type Tensor, defaultGenerator, manualSeed } from '../../tensor/index.js';
import { BatchNorm2d, SGD, AdamW, LRScheduler, type LearningRate, type LRSchedule, type Optimizer, chainSchedules, clipGradNorm, gradNorm, linearWarmup, loadCheckpoint, multiStepDecay, saveCheckpoint } from '../../nn/index.js';
import { makeDirectory, writeFileAtomic } from '../../util/atomic_write.js';
import { briefJson, checkJsonDepth } from '../../util/limits.js';
import { checkConfig, type MaskRCNNConfig } from '../model/config.js';
import { DataLoader, type Batch, type CocoDetectionDataset } from '../data/dataset.js';
import { evaluateModel, type ModelEvaluation } from '../eval/inference.js';
import { MaskRCNN, checkFiniteLosses } from '../model/mask_rcnn.js';
import { lossCurveSvg, type EvalPoint, type LossPoint } from '../viz/plot.js';
import { checkClassNames, saveWeights, readConfigJson, loadPretrained, readWeightsConfig, type PretrainedLoad } from '../model/weights.js';
import { ZOO_PREFIX, weightsSourcePath } from './zoo.js';
import { BUDGET_FIRST_PLAN, BUDGET_REPLAN_EVERY, planIterations } from './time_budget.js';

/** Where the learning-rate step goes by default, as a fraction of the iterations (torchvision's reference and the paper: 120k of 160k is 0.75; 0.8 here). */
export const LR_STEP_FRACTION = 0.8;

/** The hyper-parameters of a run, all resolved (stored in checkpoints; a resume uses them). */
export interface TrainHyperParameters {
  /** Seed of the initial weights, the samplers and the data order. */
  seed: number;
  /**
   * `'sgd'` (the paper's: momentum SGD with L2 weight decay) or `'adamw'` (AdamW, decoupled
   * weight decay; `momentum` is then Adam's first beta).
   */
  optimizer: 'sgd' | 'adamw';
  /** Images per iteration. */
  batchSize: number;
  /** Base learning rate (after warmup, before decay). */
  lr: number;
  /** SGD momentum. */
  momentum: number;
  /** L2 weight decay. */
  weightDecay: number;
  /** Iterations of linear warmup. */
  warmupIterations: number;
  /** The warmup's starting factor of the learning rate. */
  warmupFactor: number;
  /** Iterations after which the learning rate is multiplied by `gamma`. */
  lrSteps: number[];
  /** The step-decay factor. */
  gamma: number;
  /** Maximum total gradient norm (0: no clipping). */
  clipGradNorm: number;
  /** Probability of a horizontal flip per training image. */
  hflipProb: number;
  /**
   * The weights the run started from (fine-tuning): a file path (a torchvision state dict
   * converted by `tools/convert_torchvision.py`, a weights file or a checkpoint of this trainer;
   * recorded absolute) or `zoo:NAME`; `null`: random initial weights (training from scratch).
   * The model's architecture is still `config`'s (the CLI takes it from the file when the file
   * carries one). A resume continues from the checkpoint and does not read the file again;
   * given on resume, it must name the source the checkpoint records.
   */
  weights: string | null;
  /**
   * Freeze the whole backbone (ResNet body and FPN) and train only the RPN and the RoI heads
   * (matterport's `layers='heads'`). Default `false`.
   */
  headsOnly: boolean;
}

/** Options of {@link train}. */
export interface TrainOptions extends Partial<TrainHyperParameters> {
  /** The detector's configuration (ignored on resume: the checkpoint's is used). */
  config: MaskRCNNConfig;
  /** Training images and targets (labels 1..K: use `contiguousLabels`). */
  train: CocoDetectionDataset;
  /** Validation split for the periodic and final evaluation (optional). */
  val?: CocoDetectionDataset;
  /** Folder of the checkpoint, weights, log and plot (created). */
  outDir: string;
  /**
   * Total iterations to reach (on resume: counted from the start of the run); with
   * `timeBudgetSeconds`, the most the run may have.
   */
  iterations: number;
  /**
   * Train for about this many seconds instead of a fixed count (the run's training time,
   * resumes, checkpoints and periodic evaluations included; the final evaluation not): the
   * number of iterations is planned from the measured speed after {@link BUDGET_FIRST_PLAN}
   * iterations and planned again every {@link BUDGET_REPLAN_EVERY}, at most `iterations`; the
   * learning-rate step follows the plan at 80% of it until it is taken (see
   * `time_budget.ts`). Not with `lrSteps`. A resume continues the checkpoint's plan against the
   * same budget.
   */
  timeBudgetSeconds?: number;
  /** Write a checkpoint every this many iterations (default 100; always at the end). */
  checkpointEvery?: number;
  /** Evaluate on `val` every this many iterations (default 0: only at the end). */
  evalEvery?: number;
  /** Evaluate on the first `evalLimit` validation images only (default: all). */
  evalLimit?: number;
  /** Skip the final evaluation (default false). */
  skipFinalEval?: boolean;
  /** Continue from `outDir/checkpoint.safetensors` (default false: a fresh run, refusing to overwrite one). */
  resume?: boolean;
  /** Start afresh even if `outDir` holds a checkpoint (default false). */
  overwrite?: boolean;
  /** Stop after this many iterations of this call, as if the process were killed (for resume tests). */
  stopAfter?: number;
  /** Class names by label (default: `__background__` and the dataset's category names). */
  classes?: string[];
  /** Adjusts or adds loss terms each iteration (tests inject a NaN with it). */
  lossHook?: (losses: Record<string, Tensor>, iteration: number) => Record<string, Tensor>;
  /** Where progress goes (default: {@link consoleReporter}). */
  reporter?: TrainReporter;
}

/** One iteration's record (a line of `log.jsonl` with `type: 'train'`). */
export interface IterationRecord {
  /** `'train'`. */
  type: 'train';
  /** The iteration just completed (1-based). */
  iteration: number;
  /** The epoch it belongs to (0-based). */
  epoch: number;
  /** The learning rate it used. */
  lr: number;
  /** The total loss. */
  loss: number;
  /** Each term (`loss_objectness`, ...). */
  losses: Record<string, number>;
  /** Total gradient norm before clipping. */
  gradNorm: number;
  /** Seconds this iteration took. */
  seconds: number;
  /** Seconds of training so far in this run (resumes included). */
  elapsed: number;
}

/** One evaluation's record (a line of `log.jsonl` with `type: 'eval'`). */
export interface EvalRecord {
  /** `'eval'`. */
  type: 'eval';
  /** The iteration after which it ran. */
  iteration: number;
  /** Number of validation images. */
  images: number;
  /** Number of detections the model made on them (0 is a valid evaluation: AP 0). Absent in older logs. */
  detections?: number;
  /** pycocotools' 12 bbox numbers (see `STAT_NAMES`). */
  bbox: number[];
  /** The 12 segm numbers. */
  segm: number[];
  /** Seconds it took. */
  seconds: number;
}

/** What a fine-tuning run loaded (see {@link TrainReporter.weights}). */
export interface WeightsReport extends PretrainedLoad {
  /** The source as recorded ({@link TrainHyperParameters.weights}). */
  source: string;
  /** The file it named. */
  path: string;
  /** The model's number of classes (background included), from the training data. */
  numClasses: number;
}

/** How many parameter elements train and how many are frozen (`requiresGrad` false). */
export interface ParameterCounts {
  /** Elements of the parameters the optimiser updates. */
  trainable: number;
  /** Elements of the frozen ones. */
  frozen: number;
  /** The frozen parameters' names grouped by their first two name parts (`backbone.body`, ...), with their tensor counts. */
  frozenGroups: Record<string, number>;
}

/** Receives training progress. */
export interface TrainReporter {
  /** A run starts (or resumes) at `startIteration` of `iterations`. */
  start?(info: { startIteration: number; iterations: number; hyper: TrainHyperParameters; outDir: string; resumed: boolean; parameters: ParameterCounts; budgetSeconds?: number }): void;
  /** A fresh fine-tuning run loaded its starting weights (not called on resume nor from scratch). */
  weights?(info: WeightsReport): void;
  /** An iteration finished (`iterations`: the run's length, as planned so far for a time-budgeted run). */
  iteration?(record: IterationRecord, iterations: number, imagesPerSecond: number, etaSeconds: number): void;
  /** A time-budgeted run planned its length (first plan: `first`). */
  plan?(info: { iteration: number; iterations: number; lrSteps: number[]; secondsPerIteration: number; budgetSeconds: number; first: boolean }): void;
  /** An evaluation finished. */
  evaluation?(record: EvalRecord): void;
  /** A checkpoint was written. */
  checkpoint?(path: string, iteration: number): void;
  /** Training ended (or stopped). */
  end?(): void;
}

/** What {@link train} returns. */
export interface TrainResult {
  /** The trained model (evaluation mode). */
  model: MaskRCNN;
  /** Iterations completed (from the start of the run). */
  iteration: number;
  /** The records of the iterations run by this call. */
  records: IterationRecord[];
  /** The final evaluation, when there was a validation split. */
  evaluation?: ModelEvaluation;
  /** Seconds of training of the whole run (resumes included, evaluation excluded). */
  trainSeconds: number;
  /** The files written (paths). */
  files: TrainFiles;
}

/** The files of a training run. */
export interface TrainFiles {
  /** Model, optimiser, scheduler, iteration and generator state (for `resume`). */
  checkpoint: string;
  /** The trained weights with their configuration (for predict, eval, inspect). */
  weights: string;
  /** One JSON record per iteration and per evaluation. */
  log: string;
  /** The loss curve (SVG). */
  plot: string;
}

/** The file names inside the output folder. */
export const TRAIN_FILES: Readonly<TrainFiles> = Object.freeze({ checkpoint: 'checkpoint.safetensors', weights: 'model.safetensors', log: 'log.jsonl', plot: 'loss_curve.svg' });

/** What a checkpoint's `extra` JSON holds. */
interface CheckpointExtra {
  iteration: number;
  /** A time-budgeted run's planned length when the checkpoint was written (absent: a fixed count). */
  plannedIterations?: number;
  trainSeconds: number;
  rng: number[];
  hyper: TrainHyperParameters;
  config: MaskRCNNConfig;
  classes: string[];
}

function resolveHyper(options: TrainOptions): TrainHyperParameters {
  const o = options.config.optimizer;
  const iterations = options.iterations;
  const hyper: TrainHyperParameters = {
    seed: options.seed ?? 0,
    optimizer: options.optimizer ?? o.kind,
    batchSize: options.batchSize ?? 2,
    lr: options.lr ?? o.lr,
    momentum: options.momentum ?? o.momentum,
    weightDecay: options.weightDecay ?? o.weightDecay,
    warmupIterations: options.warmupIterations ?? Math.min(100, Math.floor(iterations / 10)),
    warmupFactor: options.warmupFactor ?? 0.001,
    lrSteps: options.lrSteps ?? [Math.floor(iterations * LR_STEP_FRACTION)],
    gamma: options.gamma ?? o.lrDecay,
    clipGradNorm: options.clipGradNorm ?? 0,
    hflipProb: options.hflipProb ?? 0.5,
    weights: options.weights === undefined || options.weights === null ? null : normalizeWeightsSource(options.weights),
    headsOnly: options.headsOnly ?? false,
  };
  if (!(Number.isInteger(iterations) && iterations >= 1)) throw new Error(`train: iterations must be a positive integer, got ${iterations}`);
  const budget = options.timeBudgetSeconds;
  if (budget !== undefined) {
    if (!(typeof budget === 'number' && Number.isFinite(budget) && budget > 0)) throw new Error(`train: timeBudgetSeconds must be a positive number of seconds, got ${briefJson(budget)}`);
    if (options.lrSteps !== undefined) throw new Error(`train: give lrSteps or timeBudgetSeconds, not both (a time-budgeted run places its learning-rate step at ${100 * LR_STEP_FRACTION}% of the planned iterations)`);
  }
  checkHyper(hyper, 'train');
  return hyper;
}

/**
 * Checks resolved hyper-parameters (given to {@link train}, or read from a checkpoint): every
 * field present, of its type and in range. `where` starts the error (`train`, or the file).
 */
function checkHyper(hyper: TrainHyperParameters, where: string): void {
  const check = (ok: boolean, what: string): void => {
    if (!ok) throw new Error(`${where}: ${what}`);
  };
  const finite = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v);
  const count = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
  check(hyper.optimizer === 'sgd' || hyper.optimizer === 'adamw', `optimizer must be 'sgd' or 'adamw', got ${briefJson(hyper.optimizer)}`);
  check(count(hyper.batchSize) && hyper.batchSize >= 1, `batchSize must be a positive integer, got ${briefJson(hyper.batchSize)}`);
  check(finite(hyper.lr) && hyper.lr > 0, `lr must be a positive number, got ${briefJson(hyper.lr)}`);
  check(finite(hyper.momentum) && hyper.momentum >= 0 && hyper.momentum < 1, `momentum must be in [0, 1), got ${briefJson(hyper.momentum)}`);
  check(finite(hyper.weightDecay) && hyper.weightDecay >= 0, `weightDecay must be a finite number >= 0, got ${briefJson(hyper.weightDecay)}`);
  check(count(hyper.warmupIterations), `warmupIterations must be an integer >= 0, got ${briefJson(hyper.warmupIterations)}`);
  check(finite(hyper.warmupFactor) && hyper.warmupFactor > 0 && hyper.warmupFactor <= 1, `warmupFactor must be in (0, 1], got ${briefJson(hyper.warmupFactor)}`);
  check(Array.isArray(hyper.lrSteps) && hyper.lrSteps.every(count), `lrSteps must be a list of iteration numbers (integers >= 0), got ${briefJson(hyper.lrSteps)}`);
  check(finite(hyper.gamma) && hyper.gamma > 0 && hyper.gamma <= 1, `gamma must be in (0, 1], got ${briefJson(hyper.gamma)}`);
  check(finite(hyper.clipGradNorm) && hyper.clipGradNorm >= 0, `clipGradNorm must be a finite number >= 0 (0: off), got ${briefJson(hyper.clipGradNorm)}`);
  check(finite(hyper.hflipProb) && hyper.hflipProb >= 0 && hyper.hflipProb <= 1, `hflipProb must be in [0, 1], got ${briefJson(hyper.hflipProb)}`);
  check(typeof hyper.seed === 'number' && Number.isSafeInteger(hyper.seed), `seed must be an integer, got ${briefJson(hyper.seed)}`);
  check(hyper.weights === null || (typeof hyper.weights === 'string' && hyper.weights !== ''), `weights must be null or a non-empty file path or zoo:NAME, got ${briefJson(hyper.weights)}`);
  check(typeof hyper.headsOnly === 'boolean', `headsOnly must be true or false, got ${briefJson(hyper.headsOnly)}`);
}

/**
 * A weights source as the checkpoint records it: `zoo:NAME` as it is, a file path made
 * absolute (so that a resume from another folder compares it with the one given).
 */
function normalizeWeightsSource(source: string): string {
  if (typeof source !== 'string' || source === '') throw new Error(`train: weights must be a non-empty file path or zoo:NAME, got ${briefJson(source)}`);
  return source.startsWith(ZOO_PREFIX) ? source : resolve(source);
}

/**
 * The BatchNorm2d layers whose parameters are all frozen: training puts them into evaluation
 * mode (running statistics, none updated) after each `model.train()`, since a frozen stage's
 * normalisation must not drift with the batches either (torchvision freezes pretrained stages
 * with `FrozenBatchNorm2d`; matterport sets `training=False`). Which parameters train does not
 * change during a run, so the list is found once.
 */
function frozenNorms(model: MaskRCNN): BatchNorm2d[] {
  const out: BatchNorm2d[] = [];
  for (const m of model.modules()) {
    if (!(m instanceof BatchNorm2d)) continue;
    const params = m.parameters();
    if (params.length > 0 && params.every((p) => !p.requiresGrad)) out.push(m);
  }
  return out;
}

/** Freezes the backbone's parameters (ResNet body and FPN): {@link TrainHyperParameters.headsOnly}. */
function freezeBackbone(model: MaskRCNN): void {
  for (const p of model.backbone.parameters()) p.requiresGrad = false;
}

/**
 * Reads the `extra` JSON of a training checkpoint for a resume to `iterations`, checking every
 * field before anything is built from it: the iteration (an integer in 0..iterations), the
 * seconds, the generator state (four 32-bit words, not all zero, and a spare normal), the
 * hyper-parameters, the configuration ({@link readConfigJson}: types, enums, ranges) and the
 * class names. Errors read `train: PATH: field ...`.
 */
function readCheckpointExtra(extra: unknown, path: string, iterations: number): CheckpointExtra {
  const where = `train: ${path}`;
  if (extra === null || typeof extra !== 'object' || Array.isArray(extra)) {
    throw new Error(`${where} is not a training checkpoint of this trainer (no iteration/generator state)`);
  }
  const e = extra as Record<string, unknown>;
  const iteration = e['iteration'];
  if (typeof iteration !== 'number' || !Number.isSafeInteger(iteration) || iteration < 0) {
    throw new Error(`${where}: iteration should be an integer >= 0, got ${briefJson(iteration)}`);
  }
  if (iteration > iterations) {
    throw new Error(`${where}: the checkpoint is at iteration ${iteration}, beyond the ${iterations} iterations asked for (ask for at least ${iteration})`);
  }
  const planned = e['plannedIterations'];
  if (planned !== undefined && !(typeof planned === 'number' && Number.isSafeInteger(planned) && planned >= iteration)) {
    throw new Error(`${where}: plannedIterations should be an integer >= the iteration (${iteration}), got ${briefJson(planned)}`);
  }
  const seconds = e['trainSeconds'];
  if (typeof seconds !== 'number' || !Number.isFinite(seconds) || seconds < 0) throw new Error(`${where}: trainSeconds should be a number >= 0, got ${briefJson(seconds)}`);
  const rng = e['rng'];
  const word = (v: unknown): boolean => typeof v === 'number' && Number.isInteger(v) && v >= 0 && v < 2 ** 32;
  if (
    !Array.isArray(rng) ||
    rng.length !== 5 ||
    !rng.slice(0, 4).every(word) ||
    rng.slice(0, 4).every((v) => v === 0) ||
    !(rng[4] === null || (typeof rng[4] === 'number' && Number.isFinite(rng[4])))
  ) {
    throw new Error(`${where}: rng should be the generator's state (four 32-bit integers, not all 0, then null or a number), got ${briefJson(rng)}`);
  }
  const savedHyper = e['hyper'];
  if (savedHyper === null || typeof savedHyper !== 'object' || Array.isArray(savedHyper)) throw new Error(`${where}: hyper should be an object, got ${briefJson(savedHyper)}`);
  // Checkpoints written before fine-tuning existed trained from scratch with nothing frozen.
  const hyper = { weights: null, headsOnly: false, ...savedHyper } as TrainHyperParameters;
  checkHyper(hyper, `${where}: hyper`);
  let config: MaskRCNNConfig;
  try {
    config = readConfigJson(e['config']);
  } catch (error) {
    throw new Error(`${where}: ${(error as Error).message}`);
  }
  const classes = checkClassNames(e['classes'], config.numClasses, `${where}: classes`);
  // JSON writes the generator's "no spare normal" (NaN) as null; setState takes NaN for it.
  const state = rng.map((v: unknown) => (v === null ? NaN : (v as number)));
  return { iteration, ...(planned === undefined ? {} : { plannedIterations: planned as number }), trainSeconds: seconds, rng: state, hyper, config, classes };
}

/**
 * Checks that what a checkpoint restored agrees with the iteration and the hyper-parameters
 * saved beside it: one scheduler step per iteration, base learning rates equal to `hyper.lr`,
 * the groups' weight decay and momentum (Adam's first beta) equal to `hyper`'s, and no step
 * count beyond the iteration. A checkpoint edited in one place but not the other would
 * otherwise train on, silently, with other numbers.
 */
function checkRestoredState(path: string, iteration: number, hyper: TrainHyperParameters, optimizer: Optimizer<LearningRate>, scheduler: LRScheduler): void {
  const fail = (what: string): never => {
    throw new Error(`train: ${path}: ${what}`);
  };
  if (scheduler.lastEpoch !== iteration) fail(`the scheduler has taken ${scheduler.lastEpoch} steps but the checkpoint says iteration ${iteration} (one step per iteration)`);
  scheduler.baseLrs.forEach((lr, i) => {
    if (lr !== hyper.lr) fail(`the scheduler's base learning rate of group ${i} is ${lr} but hyper.lr is ${hyper.lr}`);
  });
  optimizer.paramGroups.forEach((g, i) => {
    const o = g.options as unknown as Record<string, unknown>;
    const momentum = hyper.optimizer === 'sgd' ? o['momentum'] : (o['betas'] as number[] | undefined)?.[0];
    if (o['weightDecay'] !== hyper.weightDecay) fail(`group ${i}'s weightDecay is ${briefJson(o['weightDecay'])} but hyper.weightDecay is ${hyper.weightDecay}`);
    if (momentum !== hyper.momentum) fail(`group ${i}'s momentum is ${briefJson(momentum)} but hyper.momentum is ${hyper.momentum}`);
  });
  for (const state of optimizer.state.values()) {
    const step = state['step'];
    if (typeof step === 'number' && step > iteration) fail(`an optimiser step count is ${step}, beyond iteration ${iteration}`);
  }
}

/**
 * The optimizer of a recipe: momentum SGD with L2 weight decay (the paper's), or AdamW with
 * decoupled weight decay and `momentum` as its first beta (second beta 0.999, as PyTorch's).
 */
export function makeOptimizer(params: Tensor[], hyper: Pick<TrainHyperParameters, 'optimizer' | 'lr' | 'momentum' | 'weightDecay'>): Optimizer<LearningRate> {
  return hyper.optimizer === 'sgd'
    ? new SGD(params, { lr: hyper.lr, momentum: hyper.momentum, weightDecay: hyper.weightDecay })
    : new AdamW(params, { lr: hyper.lr, betas: [hyper.momentum, 0.999], weightDecay: hyper.weightDecay });
}

/** Whether `value` is a record this trainer writes to `log.jsonl` (the fields a resume and the plot use). */
function isLogRecord(value: unknown): value is IterationRecord | EvalRecord {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return false;
  const r = value as Record<string, unknown>;
  const finite = (v: unknown): boolean => typeof v === 'number' && Number.isFinite(v);
  if (typeof r['iteration'] !== 'number' || !Number.isSafeInteger(r['iteration']) || r['iteration'] < 1) return false;
  if (r['type'] === 'train') {
    const losses = r['losses'];
    return ['loss', 'lr', 'gradNorm', 'epoch', 'seconds', 'elapsed'].every((k) => finite(r[k])) && losses !== null && typeof losses === 'object' && Object.values(losses).every(finite);
  }
  const stats = (v: unknown): boolean => Array.isArray(v) && v.length === 12 && v.every(finite);
  return r['type'] === 'eval' && stats(r['bbox']) && stats(r['segm']) && finite(r['images']) && finite(r['seconds']);
}

/**
 * Reads `log.jsonl`, keeping the records up to `iteration` (a resume drops what followed its
 * checkpoint). A line that is not JSON is one cut short by a kill and is dropped; a JSON line
 * that is not a record of this trainer is an error naming the file and the line.
 */
function readLog(path: string, iteration: number): Array<IterationRecord | EvalRecord> {
  if (!existsSync(path)) return [];
  const records: Array<IterationRecord | EvalRecord> = [];
  readFileSync(path, 'utf8')
    .split('\n')
    .forEach((line, i) => {
      if (line.trim() === '') return;
      checkJsonDepth(line, `train: ${path}: line ${i + 1}`);
      let r: unknown;
      try {
        r = JSON.parse(line) as unknown;
      } catch {
        // A line cut short by a kill: everything before it is kept.
        if (i === 0) throw new Error(`train: ${path} is not a training log (line 1 is not JSON)`);
        return;
      }
      if (!isLogRecord(r)) throw new Error(`train: ${path}: line ${i + 1} is not a training or evaluation record of this trainer: ${briefJson(r)}`);
      if (r.iteration <= iteration) records.push(r);
    });
  return records;
}

function plot(outDir: string, records: ReadonlyArray<IterationRecord | EvalRecord>, title: string): void {
  const points: LossPoint[] = [];
  const evals: EvalPoint[] = [];
  for (const r of records) {
    if (r.type === 'train') points.push({ iteration: r.iteration, losses: { loss: r.loss, ...r.losses } });
    else evals.push({ iteration: r.iteration, values: { 'bbox AP50': r.bbox[1]!, 'segm AP50': r.segm[1]!, 'segm AP': r.segm[0]! } });
  }
  writeFileAtomic(join(outDir, TRAIN_FILES.plot), lossCurveSvg(points, evals, { title }), 'loss curve');
}

/**
 * Trains Mask R-CNN on `options.train` for `options.iterations` iterations (see the module
 * comment), writing the checkpoint, the weights file (`model.safetensors`, for `predict`,
 * `eval` and `inspect`), the log and the loss curve into `options.outDir`.
 */
export function train(options: TrainOptions): TrainResult {
  const outDir = options.outDir;
  const paths: TrainFiles = {
    checkpoint: join(outDir, TRAIN_FILES.checkpoint),
    weights: join(outDir, TRAIN_FILES.weights),
    log: join(outDir, TRAIN_FILES.log),
    plot: join(outDir, TRAIN_FILES.plot),
  };
  const checkpointEvery = options.checkpointEvery ?? 100;
  const evalEvery = options.evalEvery ?? 0;
  if (!Number.isInteger(checkpointEvery) || checkpointEvery < 1) throw new Error(`train: checkpointEvery must be a positive integer, got ${checkpointEvery}`);
  if (!Number.isInteger(evalEvery) || evalEvery < 0) throw new Error(`train: evalEvery must be an integer >= 0, got ${evalEvery}`);
  const reporter = options.reporter ?? consoleReporter();
  makeDirectory(outDir, 'train');
  // Temporary files of writes that a kill interrupted (writeFileAtomic's `.NAME.PID.N.tmp`).
  const ours = Object.values(TRAIN_FILES).map((f) => f.replace(/\./g, '\\.')).join('|');
  const leftover = new RegExp(`^\\.(${ours})\\.\\d+\\.\\d+\\.tmp$`);
  for (const f of readdirSync(outDir)) if (leftover.test(f)) unlinkSync(join(outDir, f));

  // Fresh start or resume: the model, optimiser, scheduler, generator and iteration.
  let hyper = resolveHyper(options);
  let config = options.config;
  let classes = options.classes ?? ['__background__', ...options.train.categories.map((c) => c.name)];
  let startIteration = 0;
  let trainSeconds = 0;
  let saved: CheckpointExtra | undefined;
  if (options.resume) {
    if (!existsSync(paths.checkpoint)) throw new Error(`train: --resume: ${paths.checkpoint} does not exist (nothing to resume)`);
    const meta = readCheckpointExtra(loadCheckpoint(paths.checkpoint, {}).extra, paths.checkpoint, options.iterations);
    saved = meta;
    hyper = meta.hyper;
    config = meta.config;
    classes = meta.classes;
    startIteration = meta.iteration;
    trainSeconds = meta.trainSeconds;
  } else if (existsSync(paths.checkpoint) && !options.overwrite) {
    throw new Error(`train: ${paths.checkpoint} exists: pass resume to continue that run, or overwrite to start afresh`);
  }
  if (classes.length !== config.numClasses) {
    throw new Error(`train: the dataset has ${classes.length - 1} categories but the config ${config.numClasses - 1} classes (numClasses counts the background)`);
  }
  if (options.train.length === 0) throw new Error('train: the training set has no images');
  checkClassNames(classes, config.numClasses, 'train');
  if (saved === undefined) {
    try {
      checkConfig(config);
    } catch (error) {
      throw new Error(`train: ${(error as Error).message}`);
    }
  }

  manualSeed(hyper.seed);
  const model = new MaskRCNN(config);
  if (saved === undefined && hyper.weights !== null) {
    const path = weightsSourcePath(hyper.weights);
    const { prefix } = readWeightsConfig(path, 'train: weights');
    const load = loadPretrained(model, path, { prefix, what: 'train: weights' });
    reporter.weights?.({ ...load, source: hyper.weights, path, numClasses: config.numClasses });
  }
  if (hyper.headsOnly) freezeBackbone(model);
  const params = model.parameters().filter((p) => p.requiresGrad);
  const frozen = frozenNorms(model);
  const counts: ParameterCounts = { trainable: 0, frozen: 0, frozenGroups: {} };
  for (const [name, p] of model.namedParameters()) {
    if (p.requiresGrad) {
      counts.trainable += p.size;
    } else {
      counts.frozen += p.size;
      const group = name.split('.').slice(0, 2).join('.');
      counts.frozenGroups[group] = (counts.frozenGroups[group] ?? 0) + 1;
    }
  }
  const optimizer = makeOptimizer(params, hyper);
  const schedule = (): LRSchedule =>
    chainSchedules(linearWarmup({ warmupFactor: hyper.warmupFactor, warmupIters: hyper.warmupIterations }), multiStepDecay({ milestones: hyper.lrSteps, gamma: hyper.gamma }));
  const scheduler = new LRScheduler(optimizer, schedule());
  let records: Array<IterationRecord | EvalRecord> = [];
  if (saved !== undefined) {
    if (options.weights !== undefined && options.weights !== null && normalizeWeightsSource(options.weights) !== (hyper.weights ?? '')) {
      throw new Error(
        `train: --resume: the run in ${paths.checkpoint} started from ${hyper.weights === null ? 'random weights' : hyper.weights}, not from ${normalizeWeightsSource(options.weights)} (a resume continues from the checkpoint: leave weights out)`,
      );
    }
    loadCheckpoint(paths.checkpoint, { model, optimizer, scheduler });
    checkRestoredState(paths.checkpoint, startIteration, hyper, optimizer, scheduler);
    defaultGenerator.setState(saved.rng);
    records = readLog(paths.log, startIteration);
    writeFileAtomic(paths.log, records.map((r) => JSON.stringify(r) + '\n').join(''), 'training log');
  } else {
    writeFileAtomic(paths.log, '', 'training log');
  }
  const loader = new DataLoader(options.train, { batchSize: hyper.batchSize, shuffle: true, seed: hyper.seed, hflipProb: hyper.hflipProb, dropLast: options.train.length >= hyper.batchSize });
  const perEpoch = loader.length;
  const title = `Mask R-CNN training (batch ${hyper.batchSize}, lr ${hyper.lr}, seed ${hyper.seed})`;

  // A time-budgeted run's length so far (a fixed count's is `options.iterations`).
  const budget = options.timeBudgetSeconds;
  let planned = budget === undefined ? options.iterations : Math.min(options.iterations, saved?.plannedIterations ?? options.iterations);
  const writeCheckpoint = (iteration: number): void => {
    const extra: CheckpointExtra = { iteration, ...(budget === undefined ? {} : { plannedIterations: planned }), trainSeconds, rng: defaultGenerator.getState(), hyper, config, classes };
    saveCheckpoint(paths.checkpoint, { model, optimizer, scheduler, extra });
    plot(outDir, records, title);
    reporter.checkpoint?.(paths.checkpoint, iteration);
  };
  const evaluate = (iteration: number): ModelEvaluation | undefined => {
    if (options.val === undefined || options.val.length === 0) return undefined;
    const t0 = performance.now();
    const evaluation = evaluateModel(model, options.val, { batchSize: 4, ...(options.evalLimit === undefined ? {} : { limit: options.evalLimit }) });
    const record: EvalRecord = { type: 'eval', iteration, images: evaluation.images, detections: evaluation.results.length, bbox: evaluation.bbox.stats, segm: evaluation.segm.stats, seconds: (performance.now() - t0) / 1000 };
    records.push(record);
    appendFileSync(paths.log, JSON.stringify(record) + '\n');
    reporter.evaluation?.(record);
    return evaluation;
  };

  reporter.start?.({ startIteration, iterations: planned, hyper, outDir, resumed: saved !== undefined, parameters: counts, ...(budget === undefined ? {} : { budgetSeconds: budget }) });
  const thisCall: IterationRecord[] = [];
  let iteration = startIteration;
  const stopAfter = options.stopAfter === undefined ? Infinity : startIteration + options.stopAfter;
  // The speed window of the next plan starts here.
  let planFrom = { iteration: startIteration, seconds: trainSeconds, first: true };
  const replan = (): void => {
    if (budget === undefined) return;
    const since = iteration - planFrom.iteration;
    if (since < (planFrom.first ? BUDGET_FIRST_PLAN : BUDGET_REPLAN_EVERY)) return;
    const secondsPerIteration = Math.max(1e-6, (trainSeconds - planFrom.seconds) / since);
    const plan = planIterations({ iteration, elapsedSeconds: trainSeconds, budgetSeconds: budget, secondsPerIteration, maxIterations: options.iterations, lrStepFraction: LR_STEP_FRACTION, lrStep: hyper.lrSteps[0] ?? planned });
    planned = plan.iterations;
    if (plan.lrStep !== hyper.lrSteps[0]) {
      hyper = { ...hyper, lrSteps: [plan.lrStep] };
      scheduler.setSchedules(schedule());
    }
    reporter.plan?.({ iteration, iterations: planned, lrSteps: hyper.lrSteps, secondsPerIteration, budgetSeconds: budget, first: planFrom.first });
    planFrom = { iteration, seconds: trainSeconds, first: false };
  };
  let epoch = Math.floor(iteration / perEpoch);
  let batches = loader.batches(epoch);
  for (let skip = iteration % perEpoch; skip > 0; skip--) batches.next();
  const runStarted = performance.now();
  const runSecondsBefore = trainSeconds;
  try {
    while (iteration < Math.min(planned, stopAfter)) {
      let next = batches.next();
      if (next.done) {
        epoch++;
        batches = loader.batches(epoch);
        next = batches.next();
      }
      const batch: Batch = next.value;
      const t0 = performance.now();
      const lr = optimizer.paramGroups[0]!.options.lr;
      model.train();
      for (const norm of frozen) norm.eval();
      const out = model.forward(batch.images, batch.targets);
      const losses = options.lossHook ? options.lossHook(out.losses, iteration + 1) : out.losses;
      checkFiniteLosses(losses, iteration + 1);
      const terms = Object.values(losses);
      let total = terms[0]!;
      for (const t of terms.slice(1)) total = total.add(t);
      optimizer.zeroGrad();
      total.backward();
      // Measured every iteration (logged, and a NaN here stops training); rescaled only when clipping is on.
      const norm = hyper.clipGradNorm > 0 ? clipGradNorm(params, hyper.clipGradNorm) : gradNorm(params);
      if (!Number.isFinite(norm)) {
        const all = Object.entries(losses).map(([k, v]) => `${k} ${v.data[0]!.toPrecision(4)}`).join(', ');
        throw new Error(`training diverged at iteration ${iteration + 1}: the gradient norm is ${norm} (${all})`);
      }
      optimizer.step();
      scheduler.step();
      iteration++;
      const seconds = (performance.now() - t0) / 1000;
      trainSeconds = runSecondsBefore + (performance.now() - runStarted) / 1000;
      const record: IterationRecord = {
        type: 'train',
        iteration,
        epoch,
        lr,
        loss: total.data[0]!,
        losses: Object.fromEntries(Object.entries(losses).map(([k, v]) => [k, v.data[0]!])),
        gradNorm: norm,
        seconds,
        elapsed: trainSeconds,
      };
      records.push(record);
      thisCall.push(record);
      appendFileSync(paths.log, JSON.stringify(record) + '\n');
      const runSeconds = (performance.now() - runStarted) / 1000;
      const done = iteration - startIteration;
      const imagesPerSecond = (done * hyper.batchSize) / Math.max(runSeconds, 1e-9);
      replan();
      reporter.iteration?.(record, planned, imagesPerSecond, ((planned - iteration) * runSeconds) / done);
      if (iteration % checkpointEvery === 0 && iteration < planned) writeCheckpoint(iteration);
      if (evalEvery > 0 && iteration % evalEvery === 0 && iteration < planned) evaluate(iteration);
    }
  } catch (error) {
    reporter.end?.();
    throw error;
  }
  if (iteration < planned) {
    // Stopped early on request (stopAfter): leave the state as a kill right after a checkpoint would.
    reporter.end?.();
    model.eval();
    return { model, iteration, records: thisCall, trainSeconds, files: paths };
  }
  writeCheckpoint(iteration);
  saveWeights(paths.weights, model, { classes });
  const evaluation = options.skipFinalEval ? undefined : evaluate(iteration);
  plot(outDir, records, title);
  reporter.end?.();
  model.eval();
  return { model, iteration, records: thisCall, ...(evaluation ? { evaluation } : {}), trainSeconds, files: paths };
}

function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds)) return '?';
  const s = Math.max(0, Math.round(seconds));
  const m = Math.floor(s / 60);
  return m > 0 ? `${m}m${String(s % 60).padStart(2, '0')}s` : `${s}s`;
}

const SHORT: Record<string, string> = { loss_objectness: 'obj', loss_rpn_box_reg: 'rpn_box', loss_classifier: 'cls', loss_box_reg: 'box', loss_mask: 'mask' };

/** One line of progress: a bar, the iteration, ETA, images/s and the loss terms. */
export function formatProgress(record: IterationRecord, iterations: number, imagesPerSecond: number, etaSeconds: number, barWidth = 20): string {
  const filled = Math.round((record.iteration / iterations) * barWidth);
  const bar = '='.repeat(Math.max(0, filled - 1)) + (filled > 0 ? '>' : '') + ' '.repeat(barWidth - filled);
  const terms = Object.entries(record.losses)
    .map(([k, v]) => `${SHORT[k] ?? k} ${v.toFixed(3)}`)
    .join(' ');
  return `[${bar}] ${String(record.iteration).padStart(String(iterations).length)}/${iterations} ETA ${formatDuration(etaSeconds)} ${imagesPerSecond.toFixed(1)} img/s loss ${record.loss.toFixed(3)} (${terms}) lr ${record.lr.toPrecision(3)}`;
}

/** A one-line summary of an evaluation record. */
export function formatEvalRecord(record: EvalRecord): string {
  const f = (x: number): string => (x < 0 ? '  -  ' : x.toFixed(3));
  const detections = record.detections === undefined ? '' : `${record.detections} detections, `;
  return `eval @ ${record.iteration} (${record.images} images, ${detections}${record.seconds.toFixed(1)} s): bbox AP ${f(record.bbox[0]!)} AP50 ${f(record.bbox[1]!)} | segm AP ${f(record.segm[0]!)} AP50 ${f(record.segm[1]!)}`;
}

/**
 * Progress on the terminal: on a TTY one line redrawn in place (a progress bar), otherwise
 * a line every `every` iterations (default: about 20 lines per run); evaluations and
 * checkpoints on their own lines.
 */
export function consoleReporter(options: { every?: number; stream?: NodeJS.WriteStream; quiet?: boolean } = {}): TrainReporter {
  const stream = options.stream ?? process.stdout;
  const tty = stream.isTTY === true;
  let every = options.every ?? 0;
  // The decay factor the plan lines print (the run's, from start()).
  let gamma = 0.1;
  let pending = false;
  const line = (text: string): void => {
    if (pending) stream.write('\n');
    pending = false;
    if (options.stream === undefined) console.log(text);
    else stream.write(text + '\n');
  };
  return {
    start(info) {
      if (every === 0) every = Math.max(1, Math.round(info.iterations / 20));
      const h = info.hyper;
      gamma = h.gamma;
      line(
        `${info.resumed ? `resuming at iteration ${info.startIteration}` : 'training'} ${info.budgetSeconds === undefined ? `to ${info.iterations} iterations` : `for ${formatDuration(info.budgetSeconds)} (at most ${info.iterations} iterations)`}: ${h.optimizer === 'sgd' ? 'SGD' : 'AdamW'}, batch ${h.batchSize}, lr ${h.lr} ` +
          `(warmup ${h.warmupIterations} from x${h.warmupFactor}, x${h.gamma} at ${h.lrSteps.join(', ')}), momentum ${h.momentum}, weight decay ${h.weightDecay}` +
          `${h.clipGradNorm > 0 ? `, clip ${h.clipGradNorm}` : ''}, seed ${h.seed} -> ${info.outDir}`,
      );
      if (h.weights !== null) line(`fine-tuning from ${h.weights}${h.headsOnly ? ' (heads only: backbone body and FPN frozen)' : ''}`);
      const p = info.parameters;
      if (p.frozen > 0) {
        const groups = Object.entries(p.frozenGroups).map(([g, n]) => `${g} (${n} tensors)`).join(', ');
        line(`parameters: ${p.trainable} trainable, ${p.frozen} frozen: ${groups}`);
      }
    },
    weights(info) {
      const groups = new Map<string, number>();
      for (const key of info.loaded) {
        const group = key.split('.').slice(0, 2).join('.');
        groups.set(group, (groups.get(group) ?? 0) + 1);
      }
      line(`weights: loaded ${info.loaded.length} tensors from ${info.path}: ${[...groups].map(([g, n]) => `${g} ${n}`).join(', ')}`);
      if (info.reinitialized.length > 0) {
        line(`weights: the file has ${info.fileClasses} classes, the data ${info.numClasses} (background included): re-initialised ${info.reinitialized.join(', ')}`);
      }
    },
    iteration(record, iterations, ips, eta) {
      const text = formatProgress(record, iterations, ips, eta);
      if (tty) {
        stream.write(`\r${text}\x1b[K`);
        pending = true;
      } else if (!options.quiet && (record.iteration % every === 0 || record.iteration === iterations)) {
        line(text);
      }
    },
    evaluation(record) {
      line(formatEvalRecord(record));
    },
    plan(info) {
      // The first plan, and the last before the learning-rate step (the one that fixes it).
      const step = info.lrSteps[0];
      if (info.first) line(`time budget ${formatDuration(info.budgetSeconds)}: about ${info.iterations} iterations at ${info.secondsPerIteration.toFixed(3)} s (x${gamma} at ${step}; planned again every ${BUDGET_REPLAN_EVERY} iterations)`);
      else if (step !== undefined && step > info.iteration && step <= info.iteration + BUDGET_REPLAN_EVERY) {
        line(`time budget: about ${info.iterations} iterations at ${info.secondsPerIteration.toFixed(3)} s, x${gamma} at ${step}`);
      }
    },
    end() {
      if (pending) stream.write('\n');
      pending = false;
    },
  };
}
