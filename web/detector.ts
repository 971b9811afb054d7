/**
 * The live detector (course, in the browser): the zoo's shapes model runs in the page on a
 * generated shapes image (with its ground truth) or on an uploaded picture, and every stage of
 * the network is drawn with the same views as `maskrcnn inspect` ({@link inspectionStages}):
 * anchors, RPN objectness per level, proposals before and after NMS, sampled RoIs and mask
 * targets (training pass, generated images only), RoI features, mask logits, final detections
 * and the FPN levels. The time of each stage of the forward pass and the backend are shown,
 * with the mode that ran: `wasm, N threads` (Web Workers over shared memory, when the page is
 * cross-origin isolated), `wasm, 1 thread (page not cross-origin isolated)`, `gpu.js, webgl2`.
 */
import { Tensor, noGrad } from '../lib/tensor/index.js';
import { describeBackend, setBackend, setWasmThreads, type BackendName } from '../lib/ops/index.js';
import { generateShapes, inspectionStages, shapesDetectionDataset, type DetectionTarget, type Detections, type InspectionStage, type MaskRCNN } from '../lib/maskrcnn/index.js';
import { backendMode, byId, wasmThreadReport, modelFromBytes, setupBackendPicker, showCanvas, wasmWorkersReady } from './common.js';

/** What the page measured last (read by the browser test). */
interface DetectorResult {
  ready: boolean;
  backend: string;
  /** What ran, in a few words: `wasm, 2 threads`, `wasm, 1 thread (page not cross-origin isolated)`, `gpu.js, webgl2`. */
  mode: string;
  /** The last run's detections (all of them, in the model's order): boxes `[x1, y1, x2, y2]`, labels, scores. */
  boxes: number[][];
  labels: number[];
  scores: number[];
  /** Milliseconds of each stage of the last timed forward pass, and `total`. */
  timings: Record<string, number>;
  /** Median milliseconds of a forward pass (inference, one image) over the timed runs. */
  medianMs: number;
  detections: number;
  /** For each ground-truth instance of a generated image: the best mask IoU of a detection (score >= 0.5) of its class. */
  bestIoU: number[];
  stages: string[];
  error: string | null;
}

const result: DetectorResult = { ready: false, backend: '', mode: '', boxes: [], labels: [], scores: [], timings: {}, medianMs: NaN, detections: 0, bestIoU: [], stages: [], error: null };
let lastImage: Tensor | null = null;
(globalThis as { detector?: unknown }).detector = {
  result,
  /** Runs the model on generated image `seed` (all stages, timings, IoUs). */
  run: (seed: number) => runOnGenerated(seed),
  /** Sets the wasm backend's threads (1 = main thread only) and waits for the workers; resolves to the threads that will run. */
  setThreads: async (threads: number): Promise<number> => {
    setWasmThreads(threads);
    return wasmWorkersReady();
  },
  /** Switches the backend (as the picker does, without re-running). */
  setBackend: (name: BackendName) => {
    setBackend(name);
    (byId<HTMLSelectElement>('backend')).value = name;
  },
  /** One inference pass on generated image `seed`: detections, best IoUs, what ran and its milliseconds (the stages are not redrawn). */
  detect: (seed: number) => detectOnly(seed),
  /** Times `runs` inference passes on the last image (after one untimed); for benchmarks. */
  time: (runs: number) => timeInference(runs),
};

/** Milliseconds of `runs` inference passes (one image, no gradients) on the last image, after a warm-up pass, and what ran. */
function timeInference(runs: number): { times: number[]; medianMs: number; mode: string } {
  if (model === null || lastImage === null) throw new Error('no model or image yet');
  const m = model;
  const image = lastImage;
  noGrad(() => m.forward([image]));
  const times: number[] = [];
  for (let k = 0; k < runs; k++) {
    const t0 = performance.now();
    noGrad(() => m.forward([image]));
    times.push(performance.now() - t0);
  }
  const sorted = [...times].sort((a, b) => a - b);
  return { times, medianMs: sorted[Math.floor(sorted.length / 2)]!, mode: backendMode() };
}

let model: MaskRCNN | null = null;
let classes: string[] = [];
let stages: InspectionStage[] = [];
let current = 0;

function status(text: string, error = false): void {
  const el = byId('status');
  el.textContent = text;
  el.className = error ? 'status error' : 'status';
}

/** Mask IoU of two `[H, W]` binary maps given as predicates over pixel indices. */
function maskIoU(a: (i: number) => boolean, b: (i: number) => boolean, pixels: number): number {
  let inter = 0;
  let union = 0;
  for (let i = 0; i < pixels; i++) {
    const x = a(i);
    const y = b(i);
    if (x && y) inter++;
    if (x || y) union++;
  }
  return union === 0 ? 0 : inter / union;
}

function showStage(index: number): void {
  current = (index + stages.length) % stages.length;
  const stage = stages[current]!;
  byId('stage-title').textContent = `${current + 1}/${stages.length}. ${stage.title}`;
  byId('stage-caption').textContent = stage.caption;
  const canvas = byId<HTMLCanvasElement>('stage');
  try {
    const picture = stage.draw();
    showCanvas(canvas, picture, Math.max(1, Math.min(4, Math.floor(640 / picture.width))));
  } catch (error) {
    canvas.width = canvas.height = 1;
    byId('stage-caption').textContent = `Not drawn: ${(error as Error).message}. ${stage.caption}`;
  }
  document.querySelectorAll('#stage-list li').forEach((li, i) => li.classList.toggle('chosen', i === current));
}

/** A forward pass's detections as plain arrays, and (for a generated image) each ground-truth shape's best mask IoU. */
interface Summary {
  detections: number;
  boxes: number[][];
  labels: number[];
  scores: number[];
  bestIoU: number[];
}

/** Counts the detections with score >= 0.5 and scores their masks against the ground truth of a generated image. */
function summarize(image: Tensor, detections: Detections, target: Pick<DetectionTarget, 'boxes' | 'labels' | 'masks'> | undefined): Summary {
  const [h, w] = [image.shape[1]!, image.shape[2]!];
  const keep = Array.from(detections.scores.data, (s, i) => (s >= 0.5 ? i : -1)).filter((i) => i >= 0);
  const bestIoU: number[] = [];
  if (target !== undefined) {
    for (let g = 0; g < target.boxes.shape[0]!; g++) {
      const gt = (i: number): boolean => target.masks.data[g * h * w + i]! >= 0.5;
      let best = 0;
      for (const d of keep) {
        if (detections.labels.data[d] !== target.labels.data[g]) continue;
        best = Math.max(best, maskIoU(gt, (i) => detections.masks!.data[d * h * w + i]! >= 0.5, h * w));
      }
      bestIoU.push(best);
    }
  }
  return {
    detections: keep.length,
    boxes: Array.from({ length: detections.boxes.shape[0]! }, (_, i) => Array.from(detections.boxes.data.subarray(4 * i, 4 * i + 4))),
    labels: Array.from(detections.labels.data),
    scores: Array.from(detections.scores.data),
    bestIoU,
  };
}

/** One inference pass on generated image `seed`, without the stages and timings (for tests of a slow backend, and comparisons). */
function detectOnly(seed: number): Summary & { mode: string; ms: number; workersThatJoined: number } {
  if (model === null) throw new Error('no model yet');
  const m = model;
  const { image, target } = shapesDetectionDataset(generateShapes({ count: 1, size: 128, seed }), { contiguousLabels: true }).get(0);
  lastImage = image;
  const t0 = performance.now();
  const detections = noGrad(() => m.forward([image]).detections[0]!);
  const ms = performance.now() - t0;
  const summary = summarize(image, detections, target);
  const mode = backendMode();
  byId('mode').textContent = mode;
  status(`image ${seed}: ${summary.detections} detection(s) with score >= 0.5 in one inference pass of ${ms.toFixed(0)} ms on ${mode} (stages not redrawn).`);
  return { ...summary, mode, ms, workersThatJoined: wasmThreadReport().workersThatJoined };
}

function run(image: Tensor, target: Pick<DetectionTarget, 'boxes' | 'labels' | 'masks'> | undefined): void {
  if (model === null) return;
  const m = model;
  lastImage = image;
  status('running...');
  // Timed inference passes (the first one warms the kernels up and is not counted).
  const times: number[] = [];
  let timings: Record<string, number> = {};
  let detections = m.forward([image]).detections[0]!;
  for (let k = 0; k < 3; k++) {
    timings = {};
    const t0 = performance.now();
    detections = noGrad(() => m.forward([image], undefined, { timings }).detections[0]!);
    times.push(performance.now() - t0);
  }
  times.sort((a, b) => a - b);
  result.medianMs = times[1]!;
  result.timings = { ...timings, total: result.medianMs };
  result.backend = describeBackend();
  result.mode = backendMode();
  byId('mode').textContent = result.mode;
  // The stages, drawn as `maskrcnn inspect` draws them.
  const inspection = inspectionStages(m, image, { classes, ...(target === undefined ? {} : { target }) });
  stages = inspection.stages;
  result.stages = stages.map((s) => s.title);
  const list = byId('stage-list');
  list.innerHTML = '';
  stages.forEach((s, i) => {
    const li = document.createElement('li');
    li.textContent = s.title;
    li.addEventListener('click', () => showStage(i));
    list.appendChild(li);
  });
  showStage(stages.findIndex((s) => s.file.startsWith('12_')));
  Object.assign(result, summarize(image, detections, target));
  const rows = Object.entries(result.timings).map(([k, v]) => `<tr><td>${k}</td><td>${v.toFixed(1)} ms</td></tr>`);
  byId('timings').innerHTML = rows.join('');
  const ious = result.bestIoU.length > 0 ? ` Best mask IoU with each ground-truth shape: ${result.bestIoU.map((v) => v.toFixed(2)).join(', ')}.` : '';
  status(`${result.detections} detection(s) with score >= 0.5; inference ${result.medianMs.toFixed(0)} ms (median of 3) on ${result.mode}.${ious}`);
  result.ready = true;
}

function runOnGenerated(seed: number): void {
  const data = shapesDetectionDataset(generateShapes({ count: 1, size: 128, seed }), { contiguousLabels: true });
  const { image, target } = data.get(0);
  run(image, target);
}

async function runOnFile(file: File): Promise<void> {
  const bitmap = await createImageBitmap(file);
  const scale = Math.min(1, 256 / Math.max(bitmap.width, bitmap.height));
  const canvas = document.createElement('canvas');
  canvas.width = Math.max(1, Math.round(bitmap.width * scale));
  canvas.height = Math.max(1, Math.round(bitmap.height * scale));
  const ctx = canvas.getContext('2d')!;
  ctx.drawImage(bitmap, 0, 0, canvas.width, canvas.height);
  const rgba = ctx.getImageData(0, 0, canvas.width, canvas.height).data;
  const hw = canvas.width * canvas.height;
  const data = new Float32Array(3 * hw);
  for (let i = 0; i < hw; i++) for (let c = 0; c < 3; c++) data[c * hw + i] = rgba[4 * i + c]! / 255;
  run(new Tensor(data, [3, canvas.height, canvas.width]), undefined);
}

async function main(): Promise<void> {
  try {
    status('loading the zoo model...');
    // The build inlines the weights (base64) so that the page also works from file://.
    const inlined = document.getElementById('zoo-model')?.textContent;
    if (inlined === undefined || inlined === null || inlined.length === 0) throw new Error('this page has no zoo model inside: build it with tools/web/build.ts');
    const bytes = Uint8Array.from(atob(inlined.trim()), (c) => c.charCodeAt(0));
    ({ model, classes } = modelFromBytes(bytes, 'the zoo shapes model'));
    const seed = byId<HTMLInputElement>('seed');
    const rerun = (): void => runOnGenerated(Number(seed.value) || 0);
    setupBackendPicker(byId<HTMLSelectElement>('backend'), rerun);
    // Where the page is cross-origin isolated, the wasm backend's Web Workers start while the
    // event loop turns: wait for them before the first run (up to 10 s; one thread otherwise).
    status('starting the wasm backend\'s threads...');
    await wasmWorkersReady();
    byId('generate').addEventListener('click', rerun);
    byId('prev').addEventListener('click', () => showStage(current - 1));
    byId('next').addEventListener('click', () => showStage(current + 1));
    byId<HTMLInputElement>('upload').addEventListener('change', (e) => {
      const file = (e.target as HTMLInputElement).files?.[0];
      if (file) runOnFile(file).catch((error: Error) => status(`could not read ${file.name}: ${error.message}`, true));
    });
    rerun();
  } catch (error) {
    result.error = (error as Error).message;
    status(result.error, true);
  }
}

void main();
