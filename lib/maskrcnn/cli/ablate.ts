/**
 * `maskrcnn ablate`: the paper's Table 2 rerun on the shapes preset (see `lib/maskrcnn/train/ablate.ts`):
 * every variant of the chosen tables trained with the same recipe, data and seeds, evaluated,
 * and written as Markdown, JSON and bar charts beside the paper's numbers. Resumable.
 */
import { existsSync, mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { describeBackend, setBackend } from '../../ops/index.js';
import { shapesConfig } from '../model/config.js';
import { CocoDetectionDataset } from '../data/dataset.js';
import { writeShapes } from '../data/shapes.js';
import { ABLATION_TABLES, runAblation, type AblationTableId } from '../train/ablate.js';
import { train } from '../train/train.js';
import { shapesSplits } from './shapes.js';
import { UsageError, backendFlag, booleanFlag, checkExists, integerFlag, numberFlag, parseFlags, runCommand, stringFlag } from './args.js';

const TABLE_IDS = Object.keys(ABLATION_TABLES) as AblationTableId[];

const HELP = `usage: maskrcnn ablate --table ${TABLE_IDS.join('|')}|all[,...] --out DIR [--minutes M | --iterations N] [--seeds N] [--report-only]

The paper's Table 2 (He et al. 2017, section 4.2) in miniature: each variant of the chosen
tables trains the shapes preset from random weights with the same recipe, data and seeds, is
evaluated with COCO AP on the validation split, and the table is written in the paper's layout
with the paper's numbers beside ours (OUT/ablation.md, OUT/ablation.json, OUT/table-ID.svg).
A variant shared by several tables trains once. Run it again with the same options to continue
an interrupted ablation: finished runs are kept, an unfinished one resumes from its checkpoint.

tables:
${TABLE_IDS.map((id) => `  ${id.padEnd(9)} ${ABLATION_TABLES[id].title}: ${ABLATION_TABLES[id].variants.map((v) => v.label).join(', ')}`).join('\n')}

options:
  --table LIST       tables to run, comma-separated, or 'all' (required)
  --out DIR          output folder (required)
  --minutes M        training minutes per run (default 5): the iterations are chosen from a
                     short timed probe of the paper's variant (slower variants take longer)
  --iterations N     iterations per run instead of --minutes
  --seeds N          seeds per variant (default 1): mean and spread over seeds; every
                     variant's first seed runs before any second seed
  --report-only      write the tables from the runs finished so far (needs --iterations, as
                     they were trained) and train nothing
  --seed S           first seed (default 0)
  --batch-size N     images per iteration (default 4)
  --data DIR         a dataset folder as 'maskrcnn shapes' writes it (default: write the
                     shapes dataset to OUT/data, --train and --val images)
  --train N          training images written when there is no --data (default 1000)
  --val N            validation images written when there is no --data (default 100)
  --backend NAME     wasm (default), reference or gpu
  -h, --help         show this help`;

/** Iterations that fit `minutes` of training per run, from a timed probe of `probeIterations` iterations. */
function iterationsForMinutes(minutes: number, probe: () => number, probeIterations: number): number {
  const seconds = probe();
  const perIteration = seconds / probeIterations;
  return Math.max(10, Math.floor((minutes * 60) / perIteration));
}

/** Runs `maskrcnn ablate` on `argv` (the arguments after `ablate`) and returns the exit code. */
export async function runAblate(argv: string[]): Promise<number> {
  return runCommand('ablate', argv, HELP, () => {
    const flags = parseFlags(argv, {
      table: { type: 'string' },
      out: { type: 'string' },
      minutes: { type: 'string' },
      iterations: { type: 'string' },
      seeds: { type: 'string' },
      seed: { type: 'string' },
      'batch-size': { type: 'string' },
      data: { type: 'string' },
      train: { type: 'string' },
      val: { type: 'string' },
      backend: { type: 'string' },
      'report-only': { type: 'boolean' },
    });
    const reportOnly = booleanFlag(flags, 'report-only');
    if (reportOnly && flags.values['iterations'] === undefined) throw new UsageError('--report-only reads runs of a known length: give their --iterations');
    const tableText = stringFlag(flags, 'table');
    const tables = tableText === 'all' ? TABLE_IDS : (tableText.split(',').map((s) => s.trim()) as AblationTableId[]);
    for (const id of tables) if (!TABLE_IDS.includes(id)) throw new UsageError(`--table: unknown table '${id}' (${TABLE_IDS.join(', ')} or all)`);
    const out = resolve(stringFlag(flags, 'out'));
    if (flags.values['minutes'] !== undefined && flags.values['iterations'] !== undefined) throw new UsageError('give --minutes or --iterations, not both');
    const seeds = integerFlag(flags, 'seeds', 1, 1, 100);
    const seed = integerFlag(flags, 'seed', 0, 0, 2 ** 31 - 1);
    const batchSize = integerFlag(flags, 'batch-size', 4, 1, 1024);
    const backend = backendFlag(flags);
    if (backend !== undefined) setBackend(backend);
    let data: string;
    if (flags.values['data'] !== undefined) {
      data = stringFlag(flags, 'data');
      checkExists('--data', join(data, 'train', 'annotations.json'));
      checkExists('--data', join(data, 'val', 'annotations.json'));
    } else {
      data = join(out, 'data');
      const trainImages = integerFlag(flags, 'train', 1000, 1, 1_000_000);
      const valImages = integerFlag(flags, 'val', 100, 1, 1_000_000);
      if (!existsSync(join(data, 'val', 'annotations.json'))) {
        console.log(`writing the shapes dataset to ${data} (${trainImages} training, ${valImages} validation images, seed ${seed})`);
        for (const { name, ...split } of shapesSplits(trainImages, valImages, seed)) writeShapes(join(data, name), split);
      }
    }
    const trainSet = CocoDetectionDataset.fromDirectory(join(data, 'train'), { contiguousLabels: true });
    const valSet = CocoDetectionDataset.fromDirectory(join(data, 'val'), { contiguousLabels: true });
    const config = shapesConfig(trainSet.categories.length + 1);
    console.log(`backend: ${describeBackend()}`);
    let iterations: number;
    if (flags.values['iterations'] !== undefined) {
      iterations = integerFlag(flags, 'iterations', undefined, 1, 100_000_000);
    } else {
      const minutes = numberFlag(flags, 'minutes', 5, 0.1, 10_000);
      const probeIterations = 8;
      const probeDir = join(out, 'probe');
      mkdirSync(probeDir, { recursive: true });
      iterations = iterationsForMinutes(
        minutes,
        () => train({ config, train: trainSet, outDir: probeDir, iterations: probeIterations, seed, batchSize, warmupIterations: 1, overwrite: true, skipFinalEval: true, checkpointEvery: probeIterations, reporter: {} }).trainSeconds,
        probeIterations,
      );
      console.log(`${minutes} min per run: ${iterations} iterations of ${batchSize} images (from an ${probeIterations}-iteration probe; later iterations are slower as the mask head gets more positives)`);
    }
    const report = runAblation({ tables, config, train: trainSet, val: valSet, outDir: out, seeds, seed, iterations, batchSize, reportOnly });
    console.log(`\n${report.runs.length} run(s) measured; wrote ${join(out, 'ablation.md')}, ${join(out, 'ablation.json')} and ${tables.map((id) => `table-${id}.svg`).join(', ')}`);
    return 0;
  });
}
