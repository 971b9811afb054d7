/**
 * Detector benchmarks: how long Mask R-CNN takes, stage by stage, on the active backend.
 *
 * {@link benchDetector} times either inference (`model.eval()` under `noGrad`, the paper's
 * ResNet-50-FPN on one 800x1088 image or the `shapes` preset on 128x128 images) or one training
 * step (forward with targets, the sum of the five losses, backward, an optimizer step). The stages are
 * the ones {@link MaskRCNN.forward} reports through its `timings` option (`transform`,
 * `backbone.body`, `backbone.fpn`, `rpn`, `roi_heads`, `postprocess`), plus `backward` and
 * `optimizer.step` for a training step. {@link formatBenchTable} prints the results as a table.
 *
 * The weights are random (seeded): no torchvision weights are needed, and the time of every
 * stage depends on the weights only through how many boxes survive each filter. To time the
 * work a trained model does on a busy image, the benchmark sets the box score threshold to 0, so
 * the box post-processing keeps its full top-k (100 detections for the paper's model) and the
 * mask branch runs on all of them; with random weights every class scores about 1/K, under the
 * paper's 0.05 for K = 91, and the mask branch would otherwise run on nothing.
 *
 * Used by `npm run bench` and `maskrcnn bench`. Timings belong in benchmarks, never in tests.
 *
 * @module
 */
import { Tensor, manualSeed, noGrad } from '../../tensor/index.js';
import { type BackendName, describeBackend, getBackend, withBackend } from '../../ops/index.js';
import { type MaskRCNNConfig, defaultConfig, shapesConfig } from '../model/config.js';
import { MaskRCNN } from '../model/mask_rcnn.js';
import { type ShapesDataset, generateShapes } from '../data/shapes.js';
import { type Batch, DataLoader, rgbToTensor, shapesDetectionDataset } from '../data/dataset.js';
import type { Target } from '../model/types.js';
import { TIMED_STAGES } from '../model/trace.js';
import { makeOptimizer } from './train.js';

/** Which model is timed: the paper's ResNet-50-FPN (91 classes) or the laptop `shapes` preset (4 classes). */
export type BenchPreset = 'shapes' | 'paper';

/** What is timed: a forward pass in evaluation mode, or one training step. */
export type BenchMode = 'inference' | 'train-step';

/** The stages of an inference, in order (from {@link MaskRCNN.forward}'s `timings`: {@link TIMED_STAGES}). */
export const INFERENCE_STAGES: readonly string[] = TIMED_STAGES;

/**
 * The stages of a training step, in order: the forward stages up to the losses, then `backward`
 * (summing the five losses and back-propagating) and `optimizer.step` (zeroing the gradients of
 * the previous step is not timed; the optimizer update is).
 */
export const TRAIN_STEP_STAGES: readonly string[] = Object.freeze([...TIMED_STAGES.filter((s) => s !== 'postprocess'), 'backward', 'optimizer.step']);

/** Options of {@link benchDetector}. */
export interface BenchDetectorOptions {
  /** The model: `'paper'` (ResNet-50-FPN, 91 classes) or `'shapes'` (the laptop preset, 4 classes). */
  preset: BenchPreset;
  /** `'inference'` or `'train-step'` (the shapes preset only). */
  mode: BenchMode;
  /** Timed runs (default 3); the median is reported. */
  runs?: number;
  /** Untimed runs first (default 1): kernel compilation, JIT, buffer pools. */
  warmup?: number;
  /** Images per forward (default 1 for inference, 2 for a training step). */
  batchSize?: number;
  /**
   * `[height, width]` of the input images (default `[800, 1088]` for the paper's model, which
   * torchvision's transform keeps as it is since the short side is 800 and 1088 < 1333;
   * `[128, 128]` for shapes). For the shapes preset the transform's sizes are set to this too,
   * so the images are not resized (64x64 makes a fast test); the paper's model keeps its
   * transform (short side 800). A training step needs square images (the shapes generator
   * draws square ones, and its targets are not cropped).
   */
  imageSize?: readonly [number, number];
  /** Seed of the weights and of the images (default 0). */
  seed?: number;
  /** The backend to run on (default: the active one). */
  backend?: BackendName;
}

/** What {@link benchDetector} measured. */
export interface BenchResult {
  /** The case name, e.g. `maskrcnn_paper_r50fpn_800x1088_inference` or `maskrcnn_shapes_128_train_step`. */
  name: string;
  /** The model. */
  preset: BenchPreset;
  /** What was timed. */
  mode: BenchMode;
  /** The backend's name. */
  backend: BackendName;
  /** The backend's one-line description (which threads, which gpu.js mode). */
  backendDescription: string;
  /** Images per forward. */
  batchSize: number;
  /** `[height, width]` of the input images. */
  imageSize: [number, number];
  /** `[height, width]` of the batch the backbone saw (after the transform's resize and padding to 32). */
  inputSize: [number, number];
  /** Untimed runs before the timed ones. */
  warmup: number;
  /** Milliseconds of each timed run (a whole forward, or a whole training step). */
  runMs: number[];
  /** Median of {@link runMs}. */
  medianMs: number;
  /**
   * Median milliseconds of each stage over the timed runs ({@link INFERENCE_STAGES} or
   * {@link TRAIN_STEP_STAGES}). Medians of parts need not add up to the median of the whole;
   * with one run they add up to at most the run's time.
   */
  stageMs: Record<string, number>;
  /** Each stage's milliseconds in every timed run. */
  stageRunMs: Record<string, number[]>;
  /** Images per second at the median time: `batchSize * 1000 / medianMs`. */
  imagesPerSecond: number;
  /** Inference: mean detections per image in the last run (at most the config's top-k); training: 0. */
  detectionsPerImage: number;
  /** Training step: the summed loss of each timed run (random weights: about ln K for the classifier plus the rest). */
  losses: number[];
  /** Number of parameters of the model (trainable ones only for a training step). */
  parameters: number;
  /** Milliseconds to build and randomly initialise the model (not part of the runs). */
  buildMs: number;
  /** Where the weights came from: always seeded random initialisation here. */
  weights: string;
}

/** The median of `values` (the mean of the middle two for an even count). */
export function median(values: readonly number[]): number {
  if (values.length === 0) throw new Error('median: no values');
  const s = [...values].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

/** The benchmark's case name for a preset, mode and image size (the names `npm run bench --case` takes). */
export function benchCaseName(preset: BenchPreset, mode: BenchMode, imageSize: readonly [number, number]): string {
  const [h, w] = imageSize;
  const size = h === w ? `${h}` : `${h}x${w}`;
  const model = preset === 'paper' ? 'paper_r50fpn' : 'shapes';
  return `maskrcnn_${model}_${size}_${mode === 'inference' ? 'inference' : 'train_step'}`;
}

function checkCount(name: string, value: number, min: number): void {
  if (!Number.isSafeInteger(value) || value < min) throw new Error(`benchDetector: ${name} must be an integer >= ${min}, got ${value}`);
}

/** The benchmark's config: the preset's numbers, score threshold 0 (see the module note), shapes sized to the images. */
function benchConfig(preset: BenchPreset, imageSize: [number, number]): MaskRCNNConfig {
  const config = preset === 'paper' ? defaultConfig(91) : shapesConfig(4);
  if (preset === 'shapes') {
    config.transform = { ...config.transform, minSize: Math.min(...imageSize), maxSize: Math.max(...imageSize) };
  }
  config.roiHeads = { ...config.roiHeads, boxScoreThresh: 0 };
  return config;
}

/** A shapes image of `max(h, w)` pixels square, its top-left `h x w` corner as a `[3, h, w]` tensor. */
function shapesImage(shapes: ShapesDataset, index: number, h: number, w: number): Tensor {
  const im = shapes.images[index]!;
  if (im.height === h && im.width === w) return rgbToTensor(im.rgb, h, w);
  const rgb = new Uint8Array(h * w * 3);
  for (let y = 0; y < h; y++) rgb.set(im.rgb.subarray(y * im.width * 3, (y * im.width + w) * 3), y * w * 3);
  return rgbToTensor(rgb, h, w);
}

/**
 * Times Mask R-CNN on the active backend (or `options.backend`): builds the preset's model with
 * seeded random weights (`manualSeed(seed)`), makes deterministic shapes images (and, for a
 * training step, their targets through `shapesDetectionDataset(..., {contiguousLabels: true})`
 * and a `DataLoader`), runs `warmup` untimed and `runs` timed passes, and returns the median,
 * every run, and each stage's median.
 *
 * A training step is `zeroGrad`, forward with targets, the sum of the five losses, `backward`,
 * and the shapes preset's optimizer step (AdamW, lr 1e-3, weight decay 0.05: `makeOptimizer`
 * with the config's numbers, as `train` builds it); the same batch every step.
 */
export function benchDetector(options: BenchDetectorOptions): BenchResult {
  const { preset, mode } = options;
  if (preset !== 'shapes' && preset !== 'paper') throw new Error(`benchDetector: preset must be 'shapes' or 'paper', got '${String(preset)}'`);
  if (mode !== 'inference' && mode !== 'train-step') throw new Error(`benchDetector: mode must be 'inference' or 'train-step', got '${String(mode)}'`);
  if (mode === 'train-step' && preset !== 'shapes') {
    throw new Error("benchDetector: a training step is benchmarked on the shapes preset only (the paper's model at 800 pixels needs gigabytes of activations and minutes per step on a CPU)");
  }
  const runs = options.runs ?? 3;
  const warmup = options.warmup ?? 1;
  const batchSize = options.batchSize ?? (mode === 'inference' ? 1 : 2);
  const seed = options.seed ?? 0;
  const imageSize: [number, number] = options.imageSize ? [options.imageSize[0], options.imageSize[1]] : preset === 'paper' ? [800, 1088] : [128, 128];
  checkCount('runs', runs, 1);
  checkCount('warmup', warmup, 0);
  checkCount('batchSize', batchSize, 1);
  const [h, w] = imageSize;
  if (!Number.isSafeInteger(h) || !Number.isSafeInteger(w) || h < 16 || w < 16 || h > 4096 || w > 4096) {
    throw new Error(`benchDetector: imageSize must be two integers in 16..4096, got [${imageSize.join(', ')}]`);
  }
  if (mode === 'train-step' && h !== w) {
    throw new Error(`benchDetector: a training step needs square images (the shapes generator draws square ones), got imageSize [${h}, ${w}]`);
  }
  if (options.backend !== undefined) return withBackend(options.backend, () => benchDetector({ ...options, backend: undefined }));

  const backend = getBackend();
  const config = benchConfig(preset, imageSize);
  manualSeed(seed);
  const built = performance.now();
  const model = new MaskRCNN(config);
  const buildMs = performance.now() - built;
  const shapes = generateShapes({ count: batchSize, seed, size: Math.max(h, w) });
  const stages = mode === 'inference' ? INFERENCE_STAGES : TRAIN_STEP_STAGES;
  const stageRunMs: Record<string, number[]> = Object.fromEntries(stages.map((s) => [s, []]));
  const runMs: number[] = [];
  const losses: number[] = [];
  let inputSize: [number, number] = [0, 0];
  let detectionsPerImage = 0;

  if (mode === 'inference') {
    model.eval();
    const images = Array.from({ length: batchSize }, (_, i) => shapesImage(shapes, i, h, w));
    for (let r = 0; r < warmup + runs; r++) {
      const timings: Record<string, number> = {};
      const t0 = performance.now();
      const out = noGrad(() => model.forward(images, undefined, { timings }));
      const ms = performance.now() - t0;
      detectionsPerImage = out.detections.reduce((n, d) => n + d.boxes.shape[0]!, 0) / batchSize;
      if (r < warmup) continue;
      runMs.push(ms);
      for (const s of stages) stageRunMs[s]!.push(timings[s] ?? 0);
    }
    inputSize = paddedSize(config, imageSize);
  } else {
    model.train();
    const dataset = shapesDetectionDataset(shapes, { contiguousLabels: true });
    const loader = new DataLoader(dataset, { batchSize });
    const first = loader.batches(0).next();
    if (first.done === true) throw new Error('benchDetector: the shapes loader gave no batch');
    const batch: Batch = first.value;
    const targets: Target[] = batch.targets.map((t) => ({ boxes: t.boxes, labels: t.labels, masks: t.masks }));
    const params = model.parameters().filter((p) => p.requiresGrad);
    const { kind, lr, momentum, weightDecay } = shapesConfig(4).optimizer;
    const optimizer = makeOptimizer(params, { optimizer: kind, lr, momentum, weightDecay });
    for (let r = 0; r < warmup + runs; r++) {
      optimizer.zeroGrad();
      const timings: Record<string, number> = {};
      const t0 = performance.now();
      const out = model.forward(batch.images, targets, { timings });
      const t1 = performance.now();
      const total = Object.values(out.losses).reduce((a, b) => a.add(b));
      total.backward();
      const t2 = performance.now();
      optimizer.step();
      const t3 = performance.now();
      timings['backward'] = t2 - t1;
      timings['optimizer.step'] = t3 - t2;
      if (r < warmup) continue;
      runMs.push(t3 - t0);
      losses.push(total.item());
      for (const s of stages) stageRunMs[s]!.push(timings[s] ?? 0);
    }
    inputSize = paddedSize(config, imageSize);
  }
  const medianMs = median(runMs);
  return {
    name: benchCaseName(preset, mode, imageSize),
    preset,
    mode,
    backend,
    backendDescription: describeBackend(backend),
    batchSize,
    imageSize,
    inputSize,
    warmup,
    runMs,
    medianMs,
    stageMs: Object.fromEntries(stages.map((s) => [s, median(stageRunMs[s]!)])),
    stageRunMs,
    imagesPerSecond: (batchSize * 1000) / medianMs,
    detectionsPerImage,
    losses,
    parameters: model.numParameters({ trainableOnly: mode === 'train-step' }),
    buildMs,
    weights: `random initialisation, seed ${seed} (no torchvision weights on this machine; timings depend on weights only through the boxes kept, and the score threshold is 0 so the mask branch runs on the full top-${config.roiHeads.boxDetectionsPerImg})`,
  };
}

/** The batch size the backbone sees: torchvision's resize (short side to minSize, long side at most maxSize), padded to 32. */
function paddedSize(config: MaskRCNNConfig, [h, w]: [number, number]): [number, number] {
  const { minSize, maxSize, sizeDivisible } = config.transform;
  const scale = Math.min(minSize / Math.min(h, w), maxSize / Math.max(h, w));
  const rh = Math.floor(h * scale);
  const rw = Math.floor(w * scale);
  return [Math.ceil(rh / sizeDivisible) * sizeDivisible, Math.ceil(rw / sizeDivisible) * sizeDivisible];
}

const fmt = (ms: number): string => (ms >= 100 ? ms.toFixed(0) : ms >= 10 ? ms.toFixed(1) : ms.toFixed(2));

/**
 * The results as a Markdown table, one row per result: case, backend, batch, runs, median ms,
 * images/s, then each stage's median ms with its share of the median total (`-` where a stage
 * does not apply), and the rest (time outside the named stages; can be negative when medians of
 * several runs are compared).
 */
export function formatBenchTable(results: readonly BenchResult[]): string {
  const order = [...INFERENCE_STAGES, ...TRAIN_STEP_STAGES.filter((s) => !INFERENCE_STAGES.includes(s))];
  const stages = order.filter((s) => results.some((r) => s in r.stageMs));
  const header = ['case', 'backend', 'input', 'batch', 'runs', 'median ms', 'images/s', ...stages.map((s) => `${s} ms`), 'other ms'];
  const lines = [header.join(' | '), header.map(() => '---').join(' | ')];
  for (const r of results) {
    const sum = Object.values(r.stageMs).reduce((a, b) => a + b, 0);
    const cells = [
      r.name,
      r.backend,
      `${r.inputSize[0]}x${r.inputSize[1]}`,
      String(r.batchSize),
      String(r.runMs.length),
      fmt(r.medianMs),
      r.imagesPerSecond >= 10 ? r.imagesPerSecond.toFixed(1) : r.imagesPerSecond.toFixed(3),
      ...stages.map((s) => (s in r.stageMs ? `${fmt(r.stageMs[s]!)} (${((100 * r.stageMs[s]!) / r.medianMs).toFixed(0)}%)` : '-')),
      fmt(r.medianMs - sum),
    ];
    lines.push(cells.join(' | '));
  }
  return lines.join('\n');
}
