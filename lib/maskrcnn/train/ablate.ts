/**
 * The paper's Table 2 in miniature (He et al. 2017, section 4.2, "Ablation Experiments"): each
 * table's variants trained with the same recipe, data and seeds, evaluated with COCO AP, and
 * written in the paper's layout beside the paper's own numbers. The variants are switches of
 * {@link RoiHeadsConfig} (`pooler`, `poolerLevels`, `maskHead`, `maskLoss`,
 * `classAgnosticMask`); everything else is the base configuration (the shapes preset by
 * default).
 *
 * A run is identified by its switches and seed, so a variant that appears in several tables
 * (the paper's choice is in most) is trained once. Every run keeps its folder under
 * `OUT/runs/`; an interrupted ablation continues where it stopped (finished runs are read back,
 * a run with a checkpoint resumes from it).
 *
 * @module
 */
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { writeFileAtomic } from '../../util/atomic_write.js';
import { parseJson } from '../../util/limits.js';
import type { MaskRCNNConfig, RoiHeadsConfig } from '../model/config.js';
import type { CocoDetectionDataset } from '../data/dataset.js';
import { barChartSvg } from '../viz/plot.js';
import { train, TRAIN_FILES, type TrainReporter } from './train.js';

/** The switches an ablation varies. */
export type AblationSwitches = Pick<RoiHeadsConfig, 'pooler' | 'poolerLevels' | 'maskHead' | 'maskLoss' | 'classAgnosticMask'>;

/** The paper's choice for every switch (and the defaults of {@link defaultConfig}). */
export const PAPER_SWITCHES: Readonly<AblationSwitches> = Object.freeze({ pooler: 'roi_align', poolerLevels: 'fpn', maskHead: 'fcn', maskLoss: 'sigmoid', classAgnosticMask: false });

/** COCO numbers as the paper prints them (percent): mask AP, AP50, AP75, and box AP where the table has them. */
export interface PaperNumbers {
  /** Mask AP. */
  AP: number;
  /** Mask AP at IoU 0.5. */
  AP50?: number;
  /** Mask AP at IoU 0.75. */
  AP75?: number;
  /** Box AP. */
  APbb?: number;
  /** Box AP at IoU 0.5. */
  APbb50?: number;
  /** Box AP at IoU 0.75. */
  APbb75?: number;
}

/** One row of an ablation table. */
export interface AblationVariant {
  /** The row's name, as the paper labels it. */
  label: string;
  /** Its switches (the rest are {@link PAPER_SWITCHES}). */
  switches: Partial<AblationSwitches>;
  /** The paper's numbers for the row. */
  paper: PaperNumbers;
  /** The paper's choice: the row every delta is measured from. */
  reference?: boolean;
}

/** The tables `maskrcnn ablate` knows. */
export type AblationTableId = '2b' | '2c' | '2d' | '2e' | 'agnostic';

/** One of the paper's ablation tables. */
export interface AblationTable {
  /** `'2b'`, ... */
  id: AblationTableId;
  /** What the table compares. */
  title: string;
  /** The paper's setting (backbone, stride) for its numbers. */
  paperSetting: string;
  /** What stands for that setting here. */
  ourSetting: string;
  /** Whether the table reports box AP too (Table 2d). */
  box: boolean;
  /** The rows, in the paper's order. */
  variants: AblationVariant[];
}

/**
 * The tables, with the paper's numbers transcribed from its Table 2 (ResNet-50 backbones, COCO
 * minival) and, for class-agnostic masks, from section 4.2's text.
 */
export const ABLATION_TABLES: Readonly<Record<AblationTableId, AblationTable>> = Object.freeze({
  '2b': {
    id: '2b',
    title: 'Multinomial vs. independent masks (Table 2b)',
    paperSetting: 'ResNet-50-C4',
    ourSetting: 'the preset (FPN levels)',
    box: false,
    variants: [
      { label: 'softmax', switches: { maskLoss: 'softmax' }, paper: { AP: 24.8, AP50: 44.1, AP75: 25.1 } },
      { label: 'sigmoid', switches: {}, paper: { AP: 30.3, AP50: 51.2, AP75: 31.5 }, reference: true },
    ],
  },
  '2c': {
    id: '2c',
    title: 'RoIAlign vs. RoIPool and RoIWarp at stride 16 (Table 2c)',
    paperSetting: 'ResNet-50-C4, stride 16',
    ourSetting: 'every RoI pooled from P4 (stride 16)',
    box: false,
    variants: [
      { label: 'RoIPool', switches: { pooler: 'roi_pool', poolerLevels: 'stride16' }, paper: { AP: 26.9, AP50: 48.8, AP75: 26.4 } },
      { label: 'RoIWarp (max)', switches: { pooler: 'roi_warp_max', poolerLevels: 'stride16' }, paper: { AP: 27.2, AP50: 49.2, AP75: 27.1 } },
      { label: 'RoIWarp (ave)', switches: { pooler: 'roi_warp', poolerLevels: 'stride16' }, paper: { AP: 27.1, AP50: 48.9, AP75: 27.1 } },
      { label: 'RoIAlign (max)', switches: { pooler: 'roi_align_max', poolerLevels: 'stride16' }, paper: { AP: 30.2, AP50: 51.0, AP75: 31.8 } },
      { label: 'RoIAlign (ave)', switches: { poolerLevels: 'stride16' }, paper: { AP: 30.3, AP50: 51.2, AP75: 31.5 }, reference: true },
    ],
  },
  '2d': {
    id: '2d',
    title: 'RoIAlign vs. RoIPool at stride 32 (Table 2d)',
    paperSetting: 'ResNet-50-C5, stride 32',
    ourSetting: 'every RoI pooled from P5 (stride 32)',
    box: true,
    variants: [
      { label: 'RoIPool', switches: { pooler: 'roi_pool', poolerLevels: 'stride32' }, paper: { AP: 23.6, AP50: 46.5, AP75: 21.6, APbb: 28.2, APbb50: 52.7, APbb75: 26.9 } },
      { label: 'RoIAlign', switches: { poolerLevels: 'stride32' }, paper: { AP: 30.9, AP50: 51.8, AP75: 32.1, APbb: 34.0, APbb50: 55.3, APbb75: 36.4 }, reference: true },
    ],
  },
  '2e': {
    id: '2e',
    title: 'Mask head: MLP vs. FCN (Table 2e)',
    paperSetting: 'ResNet-50-FPN',
    ourSetting: 'the preset (FPN levels); the MLP is fc representationSize x 2 -> K x 28 x 28',
    box: false,
    variants: [
      { label: 'MLP (fc, fc, fc)', switches: { maskHead: 'mlp' }, paper: { AP: 31.5, AP50: 53.7, AP75: 32.8 } },
      { label: 'FCN (4 conv, deconv)', switches: {}, paper: { AP: 33.6, AP50: 55.2, AP75: 35.3 }, reference: true },
    ],
  },
  agnostic: {
    id: 'agnostic',
    title: 'Class-agnostic vs. class-specific masks (section 4.2)',
    paperSetting: 'ResNet-50-C4',
    ourSetting: 'the preset (FPN levels)',
    box: false,
    variants: [
      { label: 'class-agnostic', switches: { classAgnosticMask: true }, paper: { AP: 29.7 } },
      { label: 'class-specific', switches: {}, paper: { AP: 30.3 }, reference: true },
    ],
  },
});

/** The name of a run's switches (its folder under `runs/`). */
export function switchesKey(switches: Partial<AblationSwitches>): string {
  const s = { ...PAPER_SWITCHES, ...switches };
  return [s.pooler, s.poolerLevels, s.maskHead, s.maskLoss, s.classAgnosticMask ? 'agnostic' : 'specific'].join('.');
}

/** What one trained and evaluated variant measured (COCO numbers as fractions, as the evaluator returns them). */
export interface AblationRunResult {
  /** {@link switchesKey} of the run. */
  key: string;
  /** Training seed. */
  seed: number;
  /** Iterations trained. */
  iterations: number;
  /** Seconds of training. */
  trainSeconds: number;
  /** Segm AP, AP50, AP75. */
  segm: [number, number, number];
  /** Bbox AP, AP50, AP75. */
  bbox: [number, number, number];
}

/** Options of {@link runAblation}. */
export interface AblationOptions {
  /** Tables to run (variants shared between them run once). */
  tables: AblationTableId[];
  /** Base configuration; each variant changes only its switches. */
  config: MaskRCNNConfig;
  /** Training split. */
  train: CocoDetectionDataset;
  /** Validation split (every run is evaluated on it). */
  val: CocoDetectionDataset;
  /** Output folder. */
  outDir: string;
  /** Seeds `seed .. seed + seeds - 1` (default 1 seed). */
  seeds?: number;
  /** First seed (default 0). */
  seed?: number;
  /** Iterations of every run. */
  iterations: number;
  /** Images per iteration (default 4). */
  batchSize?: number;
  /** Warmup iterations (default min(100, iterations / 10)). */
  warmupIterations?: number;
  /** Learning-rate step at this fraction of the iterations (default 0.8, x0.1). */
  lrStepAt?: number;
  /**
   * Write the tables from the runs already finished and train nothing (default false): the
   * rows of runs not yet made say so, and a row averages the seeds it has.
   */
  reportOnly?: boolean;
  /** Progress lines (default: console.log). */
  log?: (line: string) => void;
  /** Progress of each training run (default: none). */
  reporter?: TrainReporter;
}

/** The recipe every run of an ablation shares. */
export interface AblationRecipe {
  /** Iterations per run. */
  iterations: number;
  /** Images per iteration. */
  batchSize: number;
  /** Warmup iterations. */
  warmupIterations: number;
  /** Iterations after which the learning rate is multiplied by 0.1. */
  lrSteps: number[];
  /** The seeds of each variant. */
  seeds: number[];
  /** Training images. */
  trainImages: number;
  /** Validation images. */
  valImages: number;
}

/** Everything an ablation measured. */
export interface AblationReport {
  /** The tables run. */
  tables: AblationTableId[];
  /** The recipe every run shared. */
  recipe: AblationRecipe;
  /** Every run's result. */
  runs: AblationRunResult[];
}

const RESULT_FILE = 'ablation_result.json';

function formatMinutes(seconds: number): string {
  return seconds < 90 ? `${Math.round(seconds)} s` : `${(seconds / 60).toFixed(1)} min`;
}

/**
 * Trains and evaluates every run the chosen tables need (each distinct switch set once per
 * seed), skipping runs already finished in `outDir` and resuming one that has a checkpoint;
 * writes `ablation.json`, `ablation.md` and one bar chart per table (`table-ID.svg`) after every
 * run, so the files are current even if the process is stopped.
 */
export function runAblation(options: AblationOptions): AblationReport {
  const log = options.log ?? ((line: string) => console.log(line));
  const seeds = Array.from({ length: options.seeds ?? 1 }, (_, i) => (options.seed ?? 0) + i);
  const batchSize = options.batchSize ?? 4;
  const warmupIterations = options.warmupIterations ?? Math.min(100, Math.floor(options.iterations / 10));
  const lrSteps = [Math.floor(options.iterations * (options.lrStepAt ?? 0.8))];
  const specs = new Map<string, Partial<AblationSwitches>>();
  for (const id of options.tables) {
    const table = ABLATION_TABLES[id];
    if (table === undefined) throw new Error(`ablate: unknown table '${id}' (${Object.keys(ABLATION_TABLES).join(', ')})`);
    for (const v of table.variants) specs.set(switchesKey(v.switches), v.switches);
  }
  // Seed-major: every variant's first seed before any second seed, so a stopped run has whole tables.
  const todo = seeds.flatMap((seed) => [...specs].map(([key, switches]) => ({ key, switches, seed })));
  const report: AblationReport = {
    tables: options.tables,
    recipe: { iterations: options.iterations, batchSize, warmupIterations, lrSteps, seeds, trainImages: options.train.length, valImages: options.val.length },
    runs: [],
  };
  mkdirSync(options.outDir, { recursive: true });
  let spent = 0;
  let trained = 0;
  todo.forEach(({ key, switches, seed }, index) => {
    const dir = join(options.outDir, 'runs', key, `seed-${seed}`);
    const resultPath = join(dir, RESULT_FILE);
    const tag = `[${index + 1}/${todo.length}] ${key} seed ${seed}`;
    if (existsSync(resultPath)) {
      const done = parseJson(readFileSync(resultPath, 'utf8'), resultPath) as AblationRunResult;
      if (done.iterations === options.iterations) {
        report.runs.push(done);
        log(`${tag}: done earlier (segm AP ${done.segm[0].toFixed(3)})`);
        return;
      }
    }
    if (options.reportOnly) {
      log(`${tag}: not run yet`);
      return;
    }
    const left = todo.length - index;
    log(`${tag}: training${trained > 0 ? ` (about ${formatMinutes((spent / trained) * left)} left for ${left} run(s))` : ''}`);
    const config: MaskRCNNConfig = { ...options.config, roiHeads: { ...options.config.roiHeads, ...switches } };
    const resume = existsSync(join(dir, TRAIN_FILES.checkpoint));
    const t0 = performance.now();
    const result = train({
      config,
      train: options.train,
      val: options.val,
      outDir: dir,
      iterations: options.iterations,
      seed,
      batchSize,
      warmupIterations,
      lrSteps,
      resume,
      overwrite: !resume,
      checkpointEvery: Math.max(50, Math.floor(options.iterations / 4)),
      reporter: options.reporter ?? {},
    });
    spent += (performance.now() - t0) / 1000;
    trained++;
    const e = result.evaluation!;
    const run: AblationRunResult = {
      key,
      seed,
      iterations: options.iterations,
      trainSeconds: result.trainSeconds,
      segm: [e.segm.stats[0]!, e.segm.stats[1]!, e.segm.stats[2]!],
      bbox: [e.bbox.stats[0]!, e.bbox.stats[1]!, e.bbox.stats[2]!],
    };
    writeFileAtomic(resultPath, `${JSON.stringify(run, null, 2)}\n`, 'ablation run result');
    report.runs.push(run);
    log(`${tag}: segm AP ${run.segm[0].toFixed(3)} AP50 ${run.segm[1].toFixed(3)} | bbox AP ${run.bbox[0].toFixed(3)} (${formatMinutes(result.trainSeconds)} of training)`);
    writeAblationReport(options.outDir, report);
  });
  writeAblationReport(options.outDir, report);
  return report;
}

/** Mean and sample standard deviation (0 for one value). */
function meanStd(values: readonly number[]): [number, number] {
  const mean = values.reduce((a, b) => a + b, 0) / Math.max(1, values.length);
  const variance = values.length > 1 ? values.reduce((a, b) => a + (b - mean) ** 2, 0) / (values.length - 1) : 0;
  return [mean, Math.sqrt(variance)];
}

/** A table's rows measured: for each variant, the mean and spread over seeds of each number (percent). */
export interface AblationRow {
  /** The variant. */
  variant: AblationVariant;
  /** Seeds measured (0: not run yet). */
  seeds: number;
  /** Mean segm AP, AP50, AP75 and bbox AP, AP50, AP75, in percent. */
  mean: number[];
  /** Their standard deviations over seeds (percent). */
  std: number[];
}

/** The rows of `table` from `runs` (in percent, averaged over seeds). */
export function ablationRows(table: AblationTable, runs: readonly AblationRunResult[]): AblationRow[] {
  return table.variants.map((variant) => {
    const mine = runs.filter((r) => r.key === switchesKey(variant.switches));
    const columns = [0, 1, 2, 3, 4, 5].map((c) => mine.map((r) => 100 * (c < 3 ? r.segm[c]! : r.bbox[c - 3]!)));
    const stats = columns.map(meanStd);
    return { variant, seeds: mine.length, mean: stats.map((s) => s[0]), std: stats.map((s) => s[1]) };
  });
}

/**
 * The Markdown of one table: the paper's layout, ours beside the paper's, deltas from the
 * paper's choice, and whether each delta's sign agrees with the paper's ("within noise" when our
 * delta is zero or no larger than the seeds' combined standard deviation).
 */
export function ablationTableMarkdown(table: AblationTable, runs: readonly AblationRunResult[]): string {
  const rows = ablationRows(table, runs);
  const ref = rows.find((r) => r.variant.reference)!;
  const names = table.box ? ['AP', 'AP50', 'AP75', 'AP^bb', 'AP^bb50', 'AP^bb75'] : ['AP', 'AP50', 'AP75'];
  const paperKeys: Array<keyof PaperNumbers> = ['AP', 'AP50', 'AP75', 'APbb', 'APbb50', 'APbb75'];
  const fmt = (v: number | undefined): string => (v === undefined || !Number.isFinite(v) ? '-' : v.toFixed(1));
  const signed = (v: number): string => (v >= 0 ? `+${v.toFixed(1)}` : v.toFixed(1));
  const lines = [
    `### ${table.title}`,
    '',
    `Paper: ${table.paperSetting}, COCO. Here: ${table.ourSetting}. Mask AP (segm)${table.box ? ' and box AP (bbox)' : ''} in percent; ours is the mean ± standard deviation over seeds; Δ is the row minus the paper's choice (${ref.variant.label}).`,
    '',
    `| | ${names.map((n) => `${n} (ours)`).join(' | ')} | AP (paper) | Δ AP (ours) | Δ AP (paper) | same sign |`,
    `| --- | ${names.map(() => '---:').join(' | ')} | ---: | ---: | ---: | --- |`,
  ];
  for (const r of rows) {
    const ours = names.map((_, c) => (r.seeds === 0 ? 'not run' : r.seeds > 1 ? `${fmt(r.mean[c])} ± ${fmt(r.std[c])}` : fmt(r.mean[c])));
    const isRef = r === ref;
    const dOurs = r.mean[0]! - ref.mean[0]!;
    const dPaper = r.variant.paper.AP - ref.variant.paper.AP;
    const measured = r.seeds > 0 && ref.seeds > 0;
    const noise = Math.hypot(r.std[0]!, ref.std[0]!);
    let agree = '';
    if (!isRef && measured) {
      if (dOurs === 0 || Math.abs(dOurs) <= noise) agree = 'within noise';
      else agree = Math.sign(dOurs) === Math.sign(dPaper) ? 'yes' : 'no';
    }
    lines.push(`| ${r.variant.label} | ${ours.join(' | ')} | ${fmt(r.variant.paper[paperKeys[0]!])} | ${isRef || !measured ? '' : signed(dOurs)} | ${isRef ? '' : signed(dPaper)} | ${agree} |`);
  }
  return lines.join('\n');
}

/** The bar chart of one table: our mask AP and the paper's, per row (percent). */
export function ablationChartSvg(table: AblationTable, runs: readonly AblationRunResult[]): string {
  const rows = ablationRows(table, runs);
  return barChartSvg(
    rows.map((r) => r.variant.label),
    [
      { name: 'mask AP, ours (shapes)', values: rows.map((r) => (r.seeds > 0 ? r.mean[0]! : NaN)) },
      { name: `mask AP, paper (${table.paperSetting})`, values: rows.map((r) => r.variant.paper.AP) },
    ],
    { title: table.title, yLabel: 'mask AP (%)' },
  );
}

/** Writes `ablation.json`, `ablation.md` and `table-ID.svg` for the report (atomically). */
export function writeAblationReport(outDir: string, report: AblationReport): void {
  const r = report.recipe;
  const md = [
    '# Mask R-CNN Table 2, rerun',
    '',
    `${r.iterations} iterations of ${r.batchSize} images per run (warmup ${r.warmupIterations}, learning rate x0.1 at ${r.lrSteps.join(', ')}), seeds ${r.seeds.join(', ')}; ${r.trainImages} training and ${r.valImages} validation images.`,
    '',
    ...report.tables.flatMap((id) => [ablationTableMarkdown(ABLATION_TABLES[id], report.runs), '', `![${ABLATION_TABLES[id].title}](table-${id}.svg)`, '']),
  ].join('\n');
  writeFileAtomic(join(outDir, 'ablation.json'), `${JSON.stringify(report, null, 2)}\n`, 'ablation report');
  writeFileAtomic(join(outDir, 'ablation.md'), md, 'ablation table');
  for (const id of report.tables) writeFileAtomic(join(outDir, `table-${id}.svg`), ablationChartSvg(ABLATION_TABLES[id], report.runs), 'ablation chart');
}
