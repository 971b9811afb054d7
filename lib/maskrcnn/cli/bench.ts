/**
 * `maskrcnn bench`: times Mask R-CNN stage by stage (inference and a training step) on this
 * machine and prints the table, the machine (cores, load average) and the backend.
 *
 * @module
 */
import { availableParallelism, loadavg } from 'node:os';
import { type BackendName, availableBackends, describeBackend, getBackend } from '../../ops/index.js';
import { type BenchMode, type BenchPreset, type BenchResult, benchDetector, formatBenchTable } from '../train/bench.js';
import { UsageError, choiceFlag, integerFlag, parseFlags, runCommand, stringFlag } from './args.js';

const HELP = `usage: maskrcnn bench [--preset shapes|paper] [--mode inference|train-step|both] [--runs N]
                     [--warmup N] [--batch-size N] [--image-size PX|HxW] [--seed S]
                     [--backend wasm|reference|gpu]

Times Mask R-CNN with seeded random weights (no torchvision weights are needed: the time of
each stage depends on the weights only through the boxes kept, and the score threshold is 0
so the mask branch runs on the full top-k detections) and prints, per mode, the median
milliseconds, images per second and each stage's median: transform, backbone.body (ResNet
C2..C5), backbone.fpn (P2..P6), rpn, roi_heads (box and mask heads), postprocess (mask
pasting), and for a training step backward and optimizer.step (SGD lr 0.01, momentum 0.9,
weight decay 1e-4) on a batch of shapes images with their targets.

options:
  --preset P        shapes: the laptop preset on 128x128 shapes images (default);
                    paper: the paper's ResNet-50-FPN (91 classes) on one 800x1088 image,
                    inference only (tens of seconds per run on 2 cores)
  --mode M          inference, train-step or both (default: both for shapes, inference for paper)
  --runs N          timed runs, the median is reported (default 3 for shapes, 1 for paper)
  --warmup N        untimed runs first (default 1 for shapes, 0 for paper)
  --batch-size N    images per forward (default 1 for inference, 2 for a training step)
  --image-size S    image size, PX (square) or HxW (default 128 for shapes, 800x1088 for
                    paper); for shapes the model's transform uses this size, so images are
                    not resized; a training step needs square images
  --seed S          seed of the weights and images (default 0)
  --backend B       wasm, reference or gpu (default: the active backend, MASKRCNN_BACKEND or
                    the fastest present); reference and gpu are far slower than wasm on a CPU
  -h, --help        show this help`;

/** Parses `--image-size` (`PX` or `HxW`), naming the flag on a bad value. */
function parseImageSize(text: string): [number, number] {
  const m = /^(\d+)(?:x(\d+))?$/.exec(text);
  if (m === null) throw new UsageError(`--image-size must be PX or HxW (e.g. 128 or 800x1088), got '${text}'`);
  const h = Number(m[1]);
  const w = m[2] === undefined ? h : Number(m[2]);
  if (h < 16 || w < 16 || h > 4096 || w > 4096) throw new UsageError(`--image-size sides must be in 16..4096, got ${text}`);
  return [h, w];
}

/** Runs `maskrcnn bench` on `argv` (the arguments after `bench`) and returns the exit code. */
export async function runBench(argv: string[]): Promise<number> {
  return runCommand('bench', argv, HELP, () => {
    const flags = parseFlags(argv, {
      preset: { type: 'string' },
      mode: { type: 'string' },
      runs: { type: 'string' },
      warmup: { type: 'string' },
      'batch-size': { type: 'string' },
      'image-size': { type: 'string' },
      seed: { type: 'string' },
      backend: { type: 'string' },
    });
    const preset = choiceFlag<BenchPreset>(flags, 'preset', 'shapes', ['shapes', 'paper']);
    const paper = preset === 'paper';
    const modeFlag = choiceFlag(flags, 'mode', paper ? 'inference' : 'both', ['inference', 'train-step', 'both'] as const);
    if (paper && modeFlag !== 'inference') {
      throw new UsageError(`--mode ${modeFlag}: the paper preset is benchmarked for inference only (a training step of ResNet-50-FPN at 800 pixels needs gigabytes of activations); use --preset shapes for a training step`);
    }
    const runs = integerFlag(flags, 'runs', paper ? 1 : 3, 1, 1000);
    const warmup = integerFlag(flags, 'warmup', paper ? 0 : 1, 0, 1000);
    const batchSize = flags.values['batch-size'] === undefined ? undefined : integerFlag(flags, 'batch-size', undefined, 1, 64);
    const imageSize = flags.values['image-size'] === undefined ? undefined : parseImageSize(stringFlag(flags, 'image-size'));
    const seed = integerFlag(flags, 'seed', 0, 0, 2 ** 32 - 1);
    const backend = choiceFlag<BackendName>(flags, 'backend', getBackend(), ['wasm', 'reference', 'gpu']);
    if (!availableBackends().includes(backend)) throw new UsageError(`--backend ${backend} is not available here (${describeBackend(backend)})`);
    const modes: BenchMode[] = modeFlag === 'both' ? ['inference', 'train-step'] : [modeFlag];
    if (imageSize !== undefined && imageSize[0] !== imageSize[1] && modes.includes('train-step')) {
      throw new UsageError(`--image-size ${imageSize.join('x')}: a training step needs square images; use --mode inference or a square size`);
    }

    const load = (): string => loadavg().map((l) => l.toFixed(2)).join(' ');
    console.log(`# machine: ${availableParallelism()} cores, load average ${load()} (1, 5, 15 min)`);
    console.log(`# backend ${describeBackend(backend)}`);
    const results: BenchResult[] = [];
    for (const mode of modes) {
      const result = benchDetector({ preset, mode, runs, warmup, seed, backend, ...(batchSize !== undefined ? { batchSize } : {}), ...(imageSize !== undefined ? { imageSize } : {}) });
      results.push(result);
      const detail = mode === 'inference' ? `${result.detectionsPerImage.toFixed(0)} detections per image` : `summed loss ${result.losses.map((l) => l.toFixed(3)).join(', ')}`;
      console.log(`# ${result.name}: ${result.parameters.toLocaleString('en-US')} ${mode === 'inference' ? '' : 'trainable '}parameters, built in ${result.buildMs.toFixed(0)} ms; runs ${result.runMs.map((ms) => ms.toFixed(0)).join(', ')} ms; ${detail}`);
    }
    console.log(`# weights: ${results[0]!.weights}`);
    console.log(`# load average after: ${load()}; stage columns are medians over the runs, with their share of the median total`);
    console.log(formatBenchTable(results));
    return 0;
  });
}
