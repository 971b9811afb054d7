/**
 * `npm run bench`: speed of the heavy operators on every backend present, against
 * onnxruntime-node (the native ceiling on this machine) measured in the same run.
 *
 * Prints, per case: median milliseconds over the runs, GFLOP/s, and the ratio to the fastest
 * implementation of that case. Machines here are noisy: compare medians and ratios, and only
 * within one run. Options: `--runs N` (default 3), `--case NAME` (repeatable), `--no-peers`.
 *
 * Peers, both benchmark-only, installed into bench/node_modules on the first run and never in
 * the project's own dependency tree: onnxruntime-node (the native ceiling;
 * `ONNXRUNTIME_NODE_INSTALL=skip`, its CPU build ships in the package) and tfjs-backend-wasm
 * (XNNPACK on WebAssembly SIMD, the best JavaScript-ecosystem CPU backend; tfjs turns its own
 * threads off in Node, so it runs on one core). tfjs is timed in its native NHWC layout.
 *
 * `conv_256_3x3_64_backward` times conv2d's two backward kernels (input and weight gradient)
 * together on each backend, to compare with the forward case of the same name.
 * After the table, a summary gives the `wasm` backend's ratios against the peers (the goals of
 * issue 5). `--backend NAME` (repeatable) limits the project's backends that are timed.
 *
 * The Mask R-CNN cases (issue 9) time the whole detector stage by stage with `benchDetector`
 * (seeded random weights: there are no torchvision weights on this machine):
 * `maskrcnn_paper_r50fpn_800x1088_inference` (the paper's ResNet-50-FPN on one 800x1088 image,
 * which torchvision's transform keeps at that size; wasm only, one run, no warm-up),
 * `maskrcnn_shapes_128_inference` and `maskrcnn_shapes_128_train_step` (the shapes preset;
 * forward, and a training step on a batch of 2: forward with targets, backward, SGD). They print
 * a per-stage table after the operators'. `--runs N` given explicitly applies to them too.
 * A `--case` that names no case is an error listing the cases.
 *
 * torchvision side by side (bench/torch_peer.py through bench/torch_peer.ts): after the per-stage
 * table, the same detector cases run in PyTorch (`/usr/bin/python3`, Debian's python3-torch 1.13
 * and torchvision 0.14; `TORCH_PYTHON` names another interpreter), once with 1 thread and once
 * with 2 (`torch.set_num_threads(n)`, spawned with `OMP_NUM_THREADS=n OMP_WAIT_POLICY=PASSIVE`),
 * all cases in one Python process per thread count. The shapes model is built in torchvision from
 * the numbers of `shapesConfig()` passed as JSON (as tools/twin/twin_shapes.py builds its twin with
 * `--fpn-norm bn --head-norm bn`), with the benchmark's box score threshold 0, and the parameter
 * counts of both models are printed and compared; it gets the very images and targets benchDetector
 * makes (seeded shapes images; the DataLoader's first batch with contiguous labels), 2 warm-ups and
 * at least 5 runs. Its training step is forward with targets, the summed losses' backward and the
 * config's optimizer (AdamW lr 1e-3, wd 0.05, betas (0.9, 0.999)); zero_grad is not timed, as in the
 * project. The R50-FPN case is torchvision's `maskrcnn_resnet50_fpn(weights=None,
 * weights_backbone=None)` in eval mode on the same 800x1088 image, 1 warm-up + 1 run (2 with
 * `--runs 2` or more). Then a table gives, per case, torch's median at 1 and 2 threads, the
 * project's median (its fastest backend) and the ratios project / torch, and two goal lines say
 * met / not met with the measured ratios against torch's faster thread count: shapes train step
 * and inference at most 1.0x torch, R50-FPN 800x1088 inference within 2x torch. Without torch
 * (or with `--no-peers`) a one-line note says how to install it (`apt-get install python3-torch
 * python3-torchvision libopenblas0-pthread`), the table keeps the project's column only and the
 * goals read "not measured".
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';
import { availableParallelism, loadavg } from 'node:os';
import { Generator, randn, rand, noGrad, tensor, type Tensor } from '../lib/index.js';
import {
  type BackendName, type ConvGeometry, availableBackends, describeBackend, withBackend, conv2d, convTranspose2d, mm, roiAlign,
  conv2dBackwardInput, conv2dBackwardWeight,
} from '../lib/ops/index.js';
import { type BenchDetectorOptions, type BenchResult, benchDetector, formatBenchTable } from '../lib/maskrcnn/train/bench.js';
import { defaultConfig, shapesConfig, type MaskRCNNConfig } from '../lib/maskrcnn/model/config.js';
import { generateShapes } from '../lib/maskrcnn/data/shapes.js';
import { type Batch, DataLoader, rgbToTensor, shapesDetectionDataset } from '../lib/maskrcnn/data/dataset.js';
import {
  type ComparisonRow, type TorchPeerAnswer, type TorchPeerCase, TORCH_THREADS, formatTorchComparison, goalLines, parameterCheck,
  probeTorch, runTorchPeer, toBase64, torchMissingNote,
} from './torch_peer.js';

const here = dirname(fileURLToPath(import.meta.url));

interface OrtLike {
  InferenceSession: { create(model: Uint8Array, options?: Record<string, unknown>): Promise<OrtSession> };
  Tensor: new (type: string, data: Float32Array | BigInt64Array, dims: number[]) => unknown;
}
interface OrtSession {
  run(feeds: Record<string, unknown>): Promise<Record<string, unknown>>;
}

/** Installs and loads onnxruntime-node from bench/node_modules, or explains why not. */
function loadOrt(): OrtLike | string {
  const modulePath = join(here, 'node_modules', 'onnxruntime-node');
  if (!existsSync(modulePath) || !existsSync(join(here, 'node_modules', '@tensorflow', 'tfjs-backend-wasm'))) {
    console.log('# installing the benchmark peers (onnxruntime-node, tfjs-backend-wasm) into bench/node_modules ...');
    const r = spawnSync('npm', ['install', '--no-audit', '--no-fund', '--prefix', here], {
      env: { ...process.env, ONNXRUNTIME_NODE_INSTALL: 'skip' },
      stdio: 'inherit',
    });
    if (r.status !== 0) return `npm install in bench/ failed (exit ${r.status})`;
  }
  try {
    return createRequire(join(here, 'package.json'))('onnxruntime-node') as OrtLike;
  } catch (error) {
    return `cannot load onnxruntime-node: ${(error as Error).message}`;
  }
}

/** The slice of tfjs-core used here. */
interface TfLike {
  setBackend(name: string): Promise<boolean>;
  ready(): Promise<void>;
  getBackend(): string;
  env(): { getBool(flag: string): boolean };
  randomNormal(shape: number[]): TfTensor;
  conv2d(x: TfTensor, filter: TfTensor, strides: number, pad: number | 'valid' | 'same'): TfTensor;
  conv2dTranspose(x: TfTensor, filter: TfTensor, outputShape: number[], strides: number, pad: 'valid' | 'same'): TfTensor;
  matMul(a: TfTensor, b: TfTensor): TfTensor;
  add(a: TfTensor, b: TfTensor): TfTensor;
  tidy<T>(fn: () => T): T;
}
interface TfTensor {
  dataSync(): ArrayLike<number>;
  dispose(): void;
}

/**
 * Reads a tfjs result back (as our kernels return arrays) and frees it. Not `tidy(() => ...dataSync())`:
 * tidy walks whatever its function returns looking for tensors, a second per million-element array.
 */
function syncAndDispose(t: TfTensor): void {
  t.dataSync();
  t.dispose();
}

/** Loads tfjs-core with the wasm backend (installed beside onnxruntime-node), or explains why not. */
async function loadTf(): Promise<TfLike | string> {
  try {
    const req = createRequire(join(here, 'package.json'));
    const tf = req('@tensorflow/tfjs-core') as TfLike;
    const wasm = req('@tensorflow/tfjs-backend-wasm') as { setWasmPaths(path: string): void };
    wasm.setWasmPaths(join(here, 'node_modules', '@tensorflow', 'tfjs-backend-wasm', 'dist') + '/');
    if (!(await tf.setBackend('wasm'))) return 'tfjs wasm backend did not initialize';
    await tf.ready();
    return tf;
  } catch (error) {
    return `cannot load tfjs-backend-wasm: ${(error as Error).message}`;
  }
}

/** A benchmark case: inputs, the FLOP count, how to run it on a backend, and its ONNX twin. */
interface Case {
  name: string;
  flops: number;
  /** Runs once on the active backend (forward only). */
  run(): void;
  /** The ONNX model file and its feeds, for onnxruntime. */
  onnx?: { model: string; feeds(ort: OrtLike): Record<string, unknown> };
  /** Backends too slow to be worth timing on this case. */
  skip?: BackendName[];
  /** The tfjs twin: builds its inputs once and returns the function to time. */
  tf?: (tf: TfLike) => () => void;
}

const g = new Generator(0);
const f32 = (t: Tensor) => t.data as Float32Array;

function convCase(name: string, cin: number, h: number, cout: number, k: number, stride: number, pad: number): Case {
  const x = randn([1, cin, h, h], { generator: g });
  const w = randn([cout, cin, k, k], { generator: g }).mul(0.05);
  const b = randn([cout], { generator: g });
  const oh = Math.floor((h + 2 * pad - k) / stride) + 1;
  return {
    name,
    flops: 2 * cout * oh * oh * cin * k * k,
    run: () => noGrad(() => conv2d(x, w, b, { stride, padding: pad })),
    tf: (tf) => {
      const tx = tf.randomNormal([1, h, h, cin]);
      const tw = tf.randomNormal([k, k, cin, cout]);
      const tb = tf.randomNormal([cout]);
      return () => syncAndDispose(tf.tidy(() => tf.add(tf.conv2d(tx, tw, stride, pad), tb)));
    },
    onnx: {
      model: `${name}.onnx`,
      feeds: (ort) => ({
        x: new ort.Tensor('float32', f32(x), [...x.shape]),
        w: new ort.Tensor('float32', f32(w), [...w.shape]),
        b: new ort.Tensor('float32', f32(b), [...b.shape]),
      }),
    },
  };
}

/** conv2d's backward (input gradient + weight gradient kernels) for a 3x3, padding-1 convolution. */
function convBackwardCase(name: string, cin: number, h: number, cout: number): Case {
  const x = randn([1, cin, h, h], { generator: g });
  const w = randn([cout, cin, 3, 3], { generator: g }).mul(0.05);
  const gy = randn([1, cout, h, h], { generator: g });
  const geometry: ConvGeometry = {
    batch: 1, inChannels: cin, inHeight: h, inWidth: h, outChannels: cout, outHeight: h, outWidth: h,
    kernelHeight: 3, kernelWidth: 3, strideH: 1, strideW: 1, padH: 1, padW: 1, dilationH: 1, dilationW: 1, groups: 1,
  };
  return {
    name,
    flops: 2 * (2 * cout * h * h * cin * 9),
    run: () => {
      conv2dBackwardInput.for()(gy.data, w.data, geometry);
      conv2dBackwardWeight.for()(x.data, gy.data, geometry);
    },
    skip: ['gpu'],
  };
}

function cases(): Case[] {
  const dx = randn([100, 256, 14, 14], { generator: g });
  const dw = randn([256, 256, 2, 2], { generator: g }).mul(0.05);
  const db = randn([256], { generator: g });
  const ma = randn([1024, 1024], { generator: g });
  const mb = randn([1024, 1024], { generator: g });
  const feat = randn([1, 256, 200, 272], { generator: g });
  // 1000 RoIs inside an 800x1088 image (stride 4 feature map), as a detector's proposals.
  const xy = rand([1000, 2], { generator: g }).mul(tensor([900, 700]));
  const wh = rand([1000, 2], { generator: g }).mul(150).add(8);
  const boxes = xy.sub(wh.div(2)).clamp(0);
  const rois = tensor(new Float32Array(5000), { shape: [1000, 5] });
  for (let i = 0; i < 1000; i++) {
    rois.data[i * 5 + 1] = boxes.data[i * 2]!;
    rois.data[i * 5 + 2] = boxes.data[i * 2 + 1]!;
    rois.data[i * 5 + 3] = Math.min(boxes.data[i * 2]! + wh.data[i * 2]!, 1087);
    rois.data[i * 5 + 4] = Math.min(boxes.data[i * 2 + 1]! + wh.data[i * 2 + 1]!, 799);
  }
  return [
    convCase('conv_256_3x3_64', 256, 64, 256, 3, 1, 1),
    convBackwardCase('conv_256_3x3_64_backward', 256, 64, 256),
    convCase('conv_3_7x7s2_512', 3, 512, 64, 7, 2, 3),
    convCase('conv_64_3x3_32', 64, 32, 64, 3, 1, 1),
    {
      name: 'deconv_mask_head',
      flops: 2 * 100 * 256 * 14 * 14 * 256 * 4,
      run: () => noGrad(() => convTranspose2d(dx, dw, db, { stride: 2 })),
      tf: (tf) => {
        const tx = tf.randomNormal([100, 14, 14, 256]);
        const tw = tf.randomNormal([2, 2, 256, 256]);
        const tb = tf.randomNormal([256]);
        return () => syncAndDispose(tf.tidy(() => tf.add(tf.conv2dTranspose(tx, tw, [100, 28, 28, 256], 2, 'valid'), tb)));
      },
      onnx: {
        model: 'deconv_mask_head.onnx',
        feeds: (ort) => ({
          x: new ort.Tensor('float32', f32(dx), [...dx.shape]),
          w: new ort.Tensor('float32', f32(dw), [...dw.shape]),
          b: new ort.Tensor('float32', f32(db), [...db.shape]),
        }),
      },
    },
    {
      name: 'matmul_1024',
      flops: 2 * 1024 ** 3,
      run: () => noGrad(() => mm(ma, mb)),
      tf: (tf) => {
        const ta = tf.randomNormal([1024, 1024]);
        const tb = tf.randomNormal([1024, 1024]);
        return () => syncAndDispose(tf.matMul(ta, tb));
      },
      onnx: {
        model: 'matmul_1024.onnx',
        feeds: (ort) => ({ a: new ort.Tensor('float32', f32(ma), [1024, 1024]), b: new ort.Tensor('float32', f32(mb), [1024, 1024]) }),
      },
    },
    {
      name: 'roi_align_1000',
      // 4 multiply-adds per sample point, 2x2 samples per bin, 49 bins, 256 channels.
      flops: 1000 * 256 * 49 * 4 * 8,
      run: () => noGrad(() => roiAlign(feat, rois, { outputSize: 7, spatialScale: 0.25, samplingRatio: 2, aligned: false })),
      onnx: {
        model: 'roi_align_1000.onnx',
        feeds: (ort) => {
          const boxes4 = new Float32Array(4000);
          for (let i = 0; i < 1000; i++) for (let j = 0; j < 4; j++) boxes4[i * 4 + j] = rois.data[i * 5 + 1 + j]!;
          return {
            x: new ort.Tensor('float32', f32(feat), [...feat.shape]),
            rois: new ort.Tensor('float32', boxes4, [1000, 4]),
            batch_indices: new ort.Tensor('int64', new BigInt64Array(1000), [1000]),
          };
        },
      },
    },
  ];
}

/** A first run slower than this is reported alone (the case would take minutes otherwise). */
const SLOW_MS = 20000;

function median(values: number[]): number {
  const s = [...values].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

/** A whole-detector case: what {@link benchDetector} runs, its default runs, and the backends it is worth timing on. */
interface DetectorCase {
  name: string;
  options: BenchDetectorOptions;
  /** Timed runs and warm-ups unless `--runs` is given. */
  runs: number;
  warmup: number;
  /** Only these backends (others are far too slow), and why. */
  only?: { backends: BackendName[]; why: string };
}

function detectorCases(): DetectorCase[] {
  return [
    {
      name: 'maskrcnn_paper_r50fpn_800x1088_inference',
      options: { preset: 'paper', mode: 'inference', imageSize: [800, 1088], batchSize: 1 },
      runs: 1,
      warmup: 0,
      only: {
        backends: ['wasm'],
        why:
          "the paper's ResNet-50-FPN at 800x1088 is hundreds of GFLOP per image: the reference loops (about 1 GFLOP/s) " +
          'and gpu.js without a GPU (0.2-1 GFLOP/s) would take many minutes per run, so it runs on wasm only',
      },
    },
    { name: 'maskrcnn_shapes_128_inference', options: { preset: 'shapes', mode: 'inference', imageSize: [128, 128], batchSize: 1 }, runs: 3, warmup: 1 },
    { name: 'maskrcnn_shapes_128_train_step', options: { preset: 'shapes', mode: 'train-step', imageSize: [128, 128], batchSize: 2 }, runs: 3, warmup: 1 },
  ];
}

/**
 * The benchmark's config for a detector case, as lib/maskrcnn/train/bench.ts makes it: the preset's
 * numbers, box score threshold 0, and for shapes the transform's sizes set to the image size.
 */
function detectorConfig(options: BenchDetectorOptions): MaskRCNNConfig {
  const [h, w] = options.imageSize ?? (options.preset === 'paper' ? [800, 1088] : [128, 128]);
  const config = options.preset === 'paper' ? defaultConfig(91) : shapesConfig(4);
  if (options.preset === 'shapes') config.transform = { ...config.transform, minSize: Math.min(h, w), maxSize: Math.max(h, w) };
  config.roiHeads = { ...config.roiHeads, boxScoreThresh: 0 };
  return config;
}

/**
 * torch_peer.py's request for a detector case: the very images (and, for a training step, the
 * targets) that benchDetector makes (seeded shapes images, the top-left h x w corner; targets
 * from shapesDetectionDataset with contiguous labels through a DataLoader's first batch), the
 * config's numbers, and torch's runs: at least 5 (after 2 warm-ups) for the shapes cases, and
 * 1 warm-up + 1 run (2 with `--runs 2` or more) for the paper's model.
 */
function torchPeerCase(c: DetectorCase, runsFlag: number | undefined): TorchPeerCase {
  const { preset, mode } = c.options;
  const [h, w] = c.options.imageSize ?? (preset === 'paper' ? [800, 1088] : [128, 128]);
  const batchSize = c.options.batchSize ?? (mode === 'inference' ? 1 : 2);
  const seed = c.options.seed ?? 0;
  const shapes = generateShapes({ count: batchSize, seed, size: Math.max(h, w) });
  const base: Omit<TorchPeerCase, 'images'> = {
    name: c.name,
    model: preset === 'paper' ? 'maskrcnn_resnet50_fpn' : 'config',
    mode,
    warmup: preset === 'paper' ? 1 : 2,
    runs: preset === 'paper' ? Math.min(Math.max(runsFlag ?? 1, 1), 2) : Math.max(runsFlag ?? c.runs, 5),
    seed,
    config: detectorConfig(c.options),
  };
  if (mode === 'inference') {
    const images = Array.from({ length: batchSize }, (_, i) => {
      const im = shapes.images[i]!;
      const rgb = new Uint8Array(h * w * 3);
      for (let y = 0; y < h; y++) rgb.set(im.rgb.subarray(y * im.width * 3, (y * im.width + w) * 3), y * w * 3);
      return { height: h, width: w, data: toBase64(rgbToTensor(rgb, h, w).data as Float32Array) };
    });
    return { ...base, images };
  }
  const loader = new DataLoader(shapesDetectionDataset(shapes, { contiguousLabels: true }), { batchSize });
  const first = loader.batches(0).next();
  if (first.done === true) throw new Error('bench: the shapes loader gave no batch');
  const batch: Batch = first.value;
  return {
    ...base,
    images: batch.images.map((im) => ({ height: im.shape[1]!, width: im.shape[2]!, data: toBase64(im.data as Float32Array) })),
    targets: batch.targets.map((t) => {
      const n = t.boxes.shape[0]!;
      const boxes = Array.from({ length: n }, (_, i) => Array.from(t.boxes.data.subarray(i * 4, i * 4 + 4)));
      return { boxes, labels: Array.from(t.labels.data), masks: toBase64(Uint8Array.from(t.masks.data)) };
    }),
  };
}

/**
 * Runs the selected detector cases on each backend and prints their per-stage table. Like the
 * operators, a first run longer than SLOW_MS is the only measurement (reported as 1 run). Then,
 * unless `torch` is false, times torchvision on the same cases (bench/torch_peer.py, 1 and 2
 * threads) and prints the side-by-side table and the goals.
 */
function runDetectorCases(selected: DetectorCase[], backends: BackendName[], runsFlag: number | undefined, torch: boolean): void {
  if (selected.length === 0) return;
  console.log('\n# Mask R-CNN, stage by stage (lib/maskrcnn/train/bench.ts): seeded random weights, since there are no torchvision weights');
  console.log('# on this machine (timings depend on weights only through the boxes kept; the score threshold is 0, so the mask');
  console.log('# branch runs on the full top-k detections, as a trained model on a busy image would). Stage columns are medians');
  console.log('# over the runs with their share of the median total; "other" is the time outside the named stages.');
  console.log(`# load average before: ${loadavg().map((l) => l.toFixed(2)).join(' ')}`);
  const results: BenchResult[] = [];
  for (const c of selected) {
    const runs = runsFlag ?? c.runs;
    for (const backend of backends) {
      if (c.only && !c.only.backends.includes(backend)) {
        console.log(`# ${c.name} on ${backend}: skipped, ${c.only.why}`);
        continue;
      }
      let r: BenchResult;
      if (c.warmup > 0) {
        // The warm-up run doubles as the measurement when it alone exceeds SLOW_MS.
        const first = benchDetector({ ...c.options, backend, runs: 1, warmup: 0 });
        r = first.medianMs > SLOW_MS ? first : benchDetector({ ...c.options, backend, runs, warmup: c.warmup - 1 });
        if (r === first) console.log(`# ${c.name} on ${backend}: one run only, the first took ${(first.medianMs / 1000).toFixed(1)} s (> ${SLOW_MS / 1000} s)`);
      } else {
        r = benchDetector({ ...c.options, backend, runs, warmup: 0 });
      }
      const detail = r.mode === 'inference' ? `${r.detectionsPerImage} detections per image` : `summed loss ${r.losses.map((l) => l.toFixed(3)).join(', ')}`;
      console.log(
        `# ${c.name} on ${backend}: ${r.parameters.toLocaleString('en-US')} ${r.mode === 'inference' ? '' : 'trainable '}parameters, ` +
          `input ${r.inputSize.join('x')}, batch ${r.batchSize}, runs ${r.runMs.map((ms) => ms.toFixed(0)).join(', ')} ms, ${detail}; ` +
          `load average ${loadavg().map((l) => l.toFixed(2)).join(' ')}`,
      );
      results.push(r);
    }
  }
  if (results.length > 0) console.log(formatBenchTable(results));
  runTorchComparison(selected, results, runsFlag, torch);
}

/** torchvision on the same detector cases, the side-by-side table and the goal lines. */
function runTorchComparison(selected: DetectorCase[], results: BenchResult[], runsFlag: number | undefined, torch: boolean): void {
  console.log('\n# Mask R-CNN against torchvision (bench/torch_peer.py: the same models, inputs and step; seeded random weights)');
  const rows: ComparisonRow[] = selected.map((c) => {
    const mine = results.filter((r) => r.name === c.name).sort((a, b) => a.medianMs - b.medianMs)[0];
    return { name: c.name, torchMs: {}, ...(mine ? { project: { ms: mine.medianMs, backend: mine.backend } } : {}) };
  });
  const probe = torch ? probeTorch() : undefined;
  if (typeof probe !== 'object') {
    console.log(probe === undefined ? '# torch: disabled with --no-peers; the torch columns are skipped' : torchMissingNote(probe));
    console.log(formatTorchComparison(rows, false));
    console.log('\n# goals against torch');
    for (const line of goalLines(rows, probe === undefined ? 'torch disabled with --no-peers' : 'torch not available')) console.log(line);
    return;
  }
  const peerCases = selected.map((c) => torchPeerCase(c, runsFlag));
  console.log(
    `# torch ${probe.torch}, torchvision ${probe.torchvision} (${process.env['TORCH_PYTHON'] ?? '/usr/bin/python3'}), ` +
      `threads ${TORCH_THREADS.join(' and ')} with OMP_WAIT_POLICY=PASSIVE; runs: ${peerCases.map((p) => `${p.name} ${p.warmup} warm-up + ${p.runs}`).join(', ')}`,
  );
  const answers: TorchPeerAnswer[] = [];
  for (const threads of TORCH_THREADS) {
    try {
      const answer = runTorchPeer(peerCases, threads);
      answers.push(answer);
      for (const r of answer.cases) {
        const stages = Object.entries(r.stageMs).map(([s, v]) => `${s} ${v.toFixed(0)}`).join(', ');
        const detail = r.losses.length > 0 ? `summed loss ${r.losses.map((l) => l.toFixed(3)).join(', ')}; ${r.optimizer}` : `${r.detectionsPerImage} detections per image`;
        console.log(
          `# torch ${answer.threads} thread${answer.threads === 1 ? '' : 's'}, ${r.name}: runs ${r.runMs.map((v) => v.toFixed(0)).join(', ')} ms` +
            `${stages ? ` (medians: ${stages} ms)` : ''}, ${detail}; load average ${loadavg().map((l) => l.toFixed(2)).join(' ')}`,
        );
        const row = rows.find((x) => x.name === r.name);
        if (row) row.torchMs[threads] = r.medianMs;
      }
    } catch (error) {
      console.log(`# torch at ${threads} thread(s) failed: ${(error as Error).message}`);
    }
  }
  const first = answers[0];
  if (first) {
    for (const r of first.cases) {
      const mine = results.find((x) => x.name === r.name);
      if (!mine) continue;
      const note = r.name.startsWith('maskrcnn_paper')
        ? "torchvision's builder without weights uses trainable BatchNorm2d, whose affine parameters the project's frozen norm keeps as buffers (same arithmetic in eval mode)"
        : 'the models differ';
      console.log(parameterCheck(r.name, mine.parameters, r.parameters, note));
    }
  }
  console.log(formatTorchComparison(rows, true));
  console.log('\n# goals against torch (project / torch median; torch at its faster thread count)');
  for (const line of goalLines(rows, answers.length === 0 ? 'torch failed to run' : undefined)) console.log(line);
}

async function main(argv: string[]): Promise<void> {
  let runsFlag: number | undefined;
  const only: string[] = [];
  let peers = true;
  const onlyBackends: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--runs') runsFlag = Number(argv[++i]);
    else if (argv[i] === '--backend') onlyBackends.push(argv[++i]!);
    else if (argv[i] === '--case') only.push(argv[++i]!);
    else if (argv[i] === '--no-peers') peers = false;
    else throw new Error(`bench: unknown argument '${argv[i]}' (options: --runs N, --case NAME, --backend NAME, --no-peers)`);
  }
  const runs = runsFlag ?? 3;
  if (!Number.isInteger(runs) || runs < 1) throw new Error('bench: --runs must be a positive integer');
  const operatorCases = cases();
  const detectors = detectorCases();
  const known = [...operatorCases.map((c) => c.name), ...detectors.map((c) => c.name)];
  const unknown = only.filter((name) => !known.includes(name));
  if (unknown.length > 0) throw new Error(`bench: unknown case ${unknown.map((n) => `'${n}'`).join(', ')} (cases: ${known.join(', ')})`);
  const selectedOperators = operatorCases.filter((c) => only.length === 0 || only.includes(c.name));
  const selectedDetectors = detectors.filter((c) => only.length === 0 || only.includes(c.name));
  const backends = availableBackends().filter((b) => onlyBackends.length === 0 || onlyBackends.includes(b));
  for (const b of backends) console.log(`# ${describeBackend(b)}`);
  if (selectedOperators.length === 0) {
    console.log(`# ${availableParallelism()} cores; load average ${loadavg().map((l) => l.toFixed(2)).join(' ')}`);
    runDetectorCases(selectedDetectors, backends, runsFlag, peers);
    return;
  }
  const ort = peers ? loadOrt() : 'disabled with --no-peers';
  if (typeof ort === 'string') console.log(`# onnxruntime-node: ${ort}`);
  else console.log('# onnxruntime-node: CPU execution provider, 2 intra-op threads');
  const tf = peers ? await loadTf() : 'disabled with --no-peers';
  if (typeof tf === 'string') console.log(`# tfjs-backend-wasm: ${tf}`);
  else console.log(`# tfjs-backend-wasm: backend ${tf.getBackend()}, SIMD ${tf.env().getBool('WASM_HAS_SIMD_SUPPORT')}, threads ${tf.env().getBool('WASM_HAS_MULTITHREAD_SUPPORT')}`);
  console.log(`# ${availableParallelism()} cores; load average ${loadavg().map((l) => l.toFixed(2)).join(' ')}`);
  const summary: string[] = [];
  console.log(`# median of ${runs} runs after one warm-up (a single run when the warm-up alone exceeds ${SLOW_MS / 1000} s);`);
  console.log('# ratio = this time / fastest time of the case');
  console.log('case | implementation | median ms | runs | GFLOP/s | ratio');
  console.log('--- | --- | --- | --- | --- | ---');
  for (const c of selectedOperators) {
    const rows: Array<{ impl: string; ms: number; n: number }> = [];
    for (const backend of backends) {
      if (c.skip?.includes(backend)) continue;
      const times: number[] = [];
      withBackend(backend, () => {
        // The first run warms up (kernel compilation, JIT). When it alone takes longer than
        // SLOW_MS the implementation is far off the pace: that one run is the measurement.
        const t0 = performance.now();
        c.run();
        const first = performance.now() - t0;
        if (first > SLOW_MS) {
          times.push(first);
          return;
        }
        for (let r = 0; r < runs; r++) {
          const t1 = performance.now();
          c.run();
          times.push(performance.now() - t1);
        }
      });
      rows.push({ impl: backend, ms: median(times), n: times.length });
    }
    if (typeof tf !== 'string' && c.tf) {
      try {
        const fn = c.tf(tf);
        fn();
        const times: number[] = [];
        for (let r = 0; r < runs; r++) {
          const t0 = performance.now();
          fn();
          times.push(performance.now() - t0);
        }
        rows.push({ impl: 'tfjs-backend-wasm', ms: median(times), n: times.length });
      } catch (error) {
        console.log(`# ${c.name}: tfjs-backend-wasm failed: ${(error as Error).message}`);
      }
    }
    if (typeof ort !== 'string' && c.onnx) {
      const session = await ort.InferenceSession.create(readFileSync(join(here, 'models', c.onnx.model)), {
        intraOpNumThreads: 2,
        interOpNumThreads: 1,
        executionProviders: ['cpu'],
      });
      const feeds = c.onnx.feeds(ort);
      await session.run(feeds);
      const times: number[] = [];
      for (let r = 0; r < Math.max(runs, 5); r++) {
        const t0 = performance.now();
        await session.run(feeds);
        times.push(performance.now() - t0);
      }
      rows.push({ impl: 'onnxruntime-node', ms: median(times), n: times.length });
    }
    const fastest = Math.min(...rows.map((r) => r.ms));
    for (const r of rows) {
      console.log(`${c.name} | ${r.impl} | ${r.ms.toFixed(1)} | ${r.n} | ${(c.flops / r.ms / 1e6).toFixed(2)} | ${(r.ms / fastest).toFixed(2)}`);
    }
    const ms = (impl: string) => rows.find((r) => r.impl === impl)?.ms;
    const mine = ms('wasm');
    if (mine !== undefined) {
      const parts = [`${c.name}: wasm ${mine.toFixed(1)} ms`];
      const t = ms('tfjs-backend-wasm');
      if (t !== undefined) parts.push(`${(t / mine).toFixed(2)}x tfjs-backend-wasm's throughput`);
      const o = ms('onnxruntime-node');
      if (o !== undefined) parts.push(`${(mine / o).toFixed(2)}x onnxruntime-node's time`);
      summary.push(parts.join(', '));
    }
  }
  const fwd = summary.find((l) => l.startsWith('conv_256_3x3_64:'));
  const bwd = summary.find((l) => l.startsWith('conv_256_3x3_64_backward:'));
  if (fwd && bwd) {
    const f = Number(/wasm ([\d.]+) ms/.exec(fwd)![1]);
    const b = Number(/wasm ([\d.]+) ms/.exec(bwd)![1]);
    summary.push(`conv_256_3x3_64 on wasm: backward (both gradients) / forward = ${(b / f).toFixed(2)}`);
  }
  if (summary.length > 0) {
    console.log('\n# wasm backend against the peers');
    for (const line of summary) console.log(`- ${line}`);
  }
  runDetectorCases(selectedDetectors, backends, runsFlag, peers);
}

main(process.argv.slice(2)).catch((error: unknown) => {
  console.error((error as Error).message);
  process.exitCode = 1;
});
