/**
 * The loss ablation of course chapter 8: trains the `shapes` preset from random weights with the
 * full multi-task loss and once with each of its five terms removed (same data, seed, order and
 * recipe), evaluates every run on the validation split (COCO bbox and segm AP) and writes one
 * small JSON file that the chapter reads.
 *
 * ```sh
 * nice -n 10 node --import tsx tools/course/loss_ablation.ts --out notebooks/data/08-loss-ablation.json \
 *   --iterations 300 --batch-size 2 --train 600 --val 50
 * ```
 *
 * Runs can be split over several processes (`--runs full,loss_mask` in one, the rest in
 * another) and their files joined with `--merge --out FILE A.json B.json`.
 *
 * A removed term is still computed and logged (its value is what the untrained branch would
 * pay), but it is left out of the sum that is back-propagated: `train()`'s `lossHook`.
 *
 * @module
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { availableParallelism, loadavg, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { describeBackend } from '../../lib/ops/index.js';
import { shapesConfig } from '../../lib/maskrcnn/model/config.js';
import { CocoDetectionDataset } from '../../lib/maskrcnn/data/dataset.js';
import { writeShapes } from '../../lib/maskrcnn/data/shapes.js';
import { shapesSplits } from '../../lib/maskrcnn/cli/shapes.js';
import { evaluateModel } from '../../lib/maskrcnn/eval/inference.js';
import type { MaskRCNN } from '../../lib/maskrcnn/model/mask_rcnn.js';
import { train, type TrainHyperParameters } from '../../lib/maskrcnn/train/train.js';
import { LOSS_TERMS } from '../../lib/maskrcnn/model/trace.js';
import { writeFileAtomic } from '../../lib/util/atomic_write.js';
import { integerFlag, parseFlags, stringFlag, wantsHelp } from '../../lib/maskrcnn/cli/args.js';
import { fileURLToPath } from 'node:url';

/** The settings of an ablation. */
export interface AblationSettings {
  /** Training iterations of each run. */
  iterations: number;
  /** Images per iteration. */
  batchSize: number;
  /** Training images written by the shapes generator. */
  trainImages: number;
  /** Validation images (evaluated after each run). */
  valImages: number;
  /** Seed of the data, the weights, the sampling and the order. */
  seed: number;
  /** The runs: `'full'` or the name of the term to remove. */
  runs: string[];
}

/** One run of the ablation: the term it removed, its loss log and its final AP. */
export interface AblationRun {
  /** `'full'` or the removed term. */
  removed: string;
  /** Per iteration: the learning rate and the five terms (the removed one included, as observed). */
  log: Array<{ lr: number; losses: Record<string, number> }>;
  /** pycocotools' 12 box numbers (AP, AP50, AP75, ...); `null` only in files written before the evaluator scored an empty detection list (AP 0). */
  bbox: number[] | null;
  /** pycocotools' 12 mask numbers, or `null` as `bbox`. */
  segm: number[] | null;
  /** Detections on the validation images (score above the test threshold); absent in files of the first version of this script. */
  detections?: number;
  /** Training wall time (s). */
  trainSeconds: number;
  /** Evaluation wall time (s). */
  evalSeconds: number;
}

/** The file the script writes. */
export interface AblationResult {
  /** The command lines that produced the file (several when runs were made in parallel and merged). */
  commands: string[];
  /** The settings. */
  settings: AblationSettings;
  /** The resolved recipe (optimizer, lr, warmup, steps). */
  hyper: TrainHyperParameters;
  /** The backend and the machine, in words. */
  machine: string;
  /** The runs, in `settings.runs` order. */
  runs: AblationRun[];
}

const round = (v: number): number => Number(v.toPrecision(5));

/** Runs the ablation in a temporary folder (removed afterwards) and returns its result. */
export function runAblation(settings: AblationSettings, command: string, progress: (line: string) => void = () => {}, onRun?: (partial: AblationResult) => void): AblationResult {
  for (const r of settings.runs) if (r !== 'full' && !(LOSS_TERMS as readonly string[]).includes(r)) throw new Error(`loss_ablation: unknown run ${JSON.stringify(r)} (full or one of ${LOSS_TERMS.join(', ')})`);
  const work = mkdtempSync(join(tmpdir(), 'loss-ablation-'));
  try {
    for (const { name, ...split } of shapesSplits(settings.trainImages, settings.valImages, settings.seed)) writeShapes(join(work, name), split);
    const trainSet = CocoDetectionDataset.fromDirectory(join(work, 'train'), { contiguousLabels: true });
    const valSet = CocoDetectionDataset.fromDirectory(join(work, 'val'), { contiguousLabels: true });
    const runs: AblationRun[] = [];
    let hyper: TrainHyperParameters | undefined;
    const summary = (done: AblationRun[]): AblationResult => ({
      commands: [command],
      settings: { ...settings, runs: done.map((r) => r.removed) },
      hyper: hyper!,
      machine: `${availableParallelism()} core(s), load average ${loadavg()[0]!.toFixed(1)} after the last run; ${describeBackend()}`,
      runs: [...done],
    });
    for (const removed of settings.runs) {
      const log: AblationRun['log'] = [];
      const result = train({
        config: shapesConfig(trainSet.categories.length + 1),
        train: trainSet,
        val: valSet,
        outDir: join(work, `run-${removed}`),
        iterations: settings.iterations,
        seed: settings.seed,
        batchSize: settings.batchSize,
        checkpointEvery: settings.iterations,
        skipFinalEval: true,
        lossHook: (losses) => {
          log.push({ lr: 0, losses: Object.fromEntries(Object.entries(losses).map(([k, v]) => [k, round(v.data[0]!)])) });
          return Object.fromEntries(Object.entries(losses).filter(([k]) => k !== removed));
        },
        reporter: {
          iteration: (record) => {
            log[log.length - 1]!.lr = round(record.lr);
            if (record.iteration % 25 === 0) progress(`${removed}: iteration ${record.iteration}/${settings.iterations}, loss ${record.loss.toFixed(3)}, ${record.elapsed.toFixed(0)} s`);
          },
          start: (info) => {
            hyper = info.hyper;
          },

        },
      });
      const t0 = performance.now();
      const scores = evaluate(result.model, valSet);
      const evalSeconds = (performance.now() - t0) / 1000;
      runs.push({ removed, log, ...scores, trainSeconds: round(result.trainSeconds), evalSeconds: round(evalSeconds) });
      progress(`${removed}: ${scores.detections} detections, segm AP50 ${scores.segm?.[1] ?? 0}, bbox AP50 ${scores.bbox?.[1] ?? 0}, ${result.trainSeconds.toFixed(0)} s training`);
      onRun?.(summary(runs));
    }
    return summary(runs);
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

/** COCO bbox and segm AP of `model` on `val` (a model that detects nothing scores AP 0, as pycocotools does). */
function evaluate(model: MaskRCNN, val: CocoDetectionDataset): Pick<AblationRun, 'bbox' | 'segm' | 'detections'> {
  const e = evaluateModel(model, val, { batchSize: 4 });
  return { bbox: e.bbox.stats.map(round), segm: e.segm.stats.map(round), detections: e.results.length };
}

const HELP = `usage: node --import tsx tools/course/loss_ablation.ts --out FILE [--iterations N] [--batch-size B] [--train N] [--val N] [--seed S] [--runs full,loss_mask,...]
       node --import tsx tools/course/loss_ablation.ts --merge --out FILE A.json B.json ...

Trains the shapes preset from random weights once with the full loss and once without each
term, evaluates each run on the validation split and writes the result as JSON to FILE.`;

/**
 * Joins the files of runs made in separate processes with the same settings (all but `runs`) into
 * one, its runs in the order full, then the terms in torchvision's order.
 */
export function mergeAblations(parts: ReadonlyArray<AblationResult & { command?: string }>): AblationResult {
  const first = parts[0];
  if (first === undefined) throw new Error('loss_ablation: --merge needs at least one file');
  const same = (p: AblationResult): string => JSON.stringify({ ...p.settings, runs: [] }) + JSON.stringify(p.hyper);
  for (const p of parts) if (same(p) !== same(first)) throw new Error('loss_ablation: --merge: the files were made with different settings');
  const order = ['full', ...LOSS_TERMS];
  const runs = parts.flatMap((p) => p.runs).sort((a, b) => order.indexOf(a.removed) - order.indexOf(b.removed));
  const seen = new Set<string>();
  for (const r of runs) {
    if (seen.has(r.removed)) throw new Error(`loss_ablation: --merge: the run ${r.removed} is in two files`);
    seen.add(r.removed);
  }
  return {
    commands: parts.flatMap((p) => p.commands ?? (p.command === undefined ? [] : [p.command])),
    settings: { ...first.settings, runs: runs.map((r) => r.removed) },
    hyper: first.hyper,
    machine: parts.map((p) => p.machine).join('; '),
    runs,
  };
}

function main(argv: string[]): number {
  if (argv[0] === '--merge') {
    const flags = parseFlags(argv.slice(1), { out: { type: 'string' } }, true);
    const out = resolve(stringFlag(flags, 'out'));
    const parts = flags.positionals.map((f) => JSON.parse(readFileSync(f, 'utf8')) as AblationResult);
    const merged = mergeAblations(parts);
    merged.commands.push(`node --import tsx tools/course/loss_ablation.ts ${argv.join(' ')}`);
    writeFileAtomic(out, JSON.stringify(merged) + '\n', 'loss ablation');
    console.log(`wrote ${out} (${merged.runs.length} runs)`);
    return 0;
  }
  const flags = parseFlags(argv, {
    out: { type: 'string' },
    iterations: { type: 'string' },
    'batch-size': { type: 'string' },
    train: { type: 'string' },
    val: { type: 'string' },
    seed: { type: 'string' },
    runs: { type: 'string' },
  });
  const out = resolve(stringFlag(flags, 'out'));
  const settings: AblationSettings = {
    iterations: integerFlag(flags, 'iterations', 300, 1, 1_000_000),
    batchSize: integerFlag(flags, 'batch-size', 2, 1, 64),
    trainImages: integerFlag(flags, 'train', 600, 1, 1_000_000),
    valImages: integerFlag(flags, 'val', 50, 1, 100_000),
    seed: integerFlag(flags, 'seed', 0, 0, 2 ** 31 - 1),
    runs: flags.values.runs === undefined ? ['full', ...LOSS_TERMS] : stringFlag(flags, 'runs').split(','),
  };
  const command = `node --import tsx tools/course/loss_ablation.ts ${argv.join(' ')}`;
  // Written after every run, so that a run cut short keeps the ones before it.
  const write = (result: AblationResult): void => writeFileAtomic(out, JSON.stringify(result) + '\n', 'loss ablation');
  write(runAblation(settings, command, (line) => console.log(line), write));
  console.log(`wrote ${out}`);
  return 0;
}

if (process.argv[1] !== undefined && resolve(process.argv[1]) === resolve(fileURLToPath(import.meta.url))) {
  if (wantsHelp(process.argv.slice(2))) console.log(HELP);
  else process.exitCode = main(process.argv.slice(2));
}
