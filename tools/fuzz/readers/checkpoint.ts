/**
 * Fuzzed reader: training checkpoints, read as `train --resume` reads them (`train` with
 * `resume: true` and `stopAfter: 0`: `loadCheckpoint`, the configuration, the model, optimiser,
 * scheduler and generator restored, nothing trained). The seed is the checkpoint of a 2-iteration
 * shapes-preset training run, made once and cached (keyed by the trainer's source files).
 *
 * Oracle (certainly invalid): the safetensors layout rules; a format other than the seed's; the
 * `extra`, `optimizer` or `scheduler` metadata not JSON (or too deep) or not the seed's shape
 * (same keys and types); an iteration that is not a non-negative integer; a generator state that
 * is not 4 unsigned 32-bit integers (not all zero) and a spare normal (null or finite); train
 * seconds not finite and >= 0; hyper-parameters outside the ranges `train` itself enforces
 * (optimizer the saved state's kind, batch size a positive integer, lr > 0, momentum in [0, 1),
 * weight decay >= 0, warmup iterations an integer >= 0, warmup factor and gamma in (0, 1],
 * milestones integers >= 0, clip norm >= 0, flip probability in [0, 1]; the weights source null,
 * absent or a non-empty string; heads-only absent or a boolean, and the seed's, since it changes
 * which parameters the optimiser state is for); a configuration
 * {@link configProblem} rejects, or with other trainable layers (the optimiser state is per trainable
 * parameter); class names that are not `numClasses` strings; an optimiser
 * state of another optimiser or other parameter groups, a learning rate / initial lr / eps not
 * > 0, betas not in [0, 1), weight decay < 0, a step that is not a non-negative integer; a
 * scheduler epoch that is not a non-negative integer or a base lr not > 0; tensors whose names,
 * dtypes or shapes differ from the seed's, or a float tensor holding a NaN or an infinity.
 */
import { createHash } from 'node:crypto';
import { copyFileSync, existsSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type CocoDetectionDataset, generateShapes, shapesConfig, shapesDetectionDataset, train, upgradeConfigJson } from '../../../lib/index.js';
import { type JsonLike, RawJson, type Rng, deepJson, mutateJson, toJsonText } from '../mutate.js';
import { brief, configProblem, isCount, isFin, isObj, jsonTextProblem, parseSafetensorsLayout, shapeProblem, type SafetensorsLayout } from '../oracle.js';
import { type FuzzCase, type FuzzReader, type ReaderContext, makeCase } from '../spec.js';
import { joinSafetensors, mutateSafetensors, splitSafetensors, tensorsProblem } from './safetensors.js';

const META_KEYS = ['extra', 'optimizer', 'scheduler'] as const;
const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
/** Sources whose change makes a new seed checkpoint. */
const SOURCES = ['lib/nn/checkpoint.ts', 'lib/nn/safetensors.ts', 'lib/nn/optim.ts', 'lib/nn/schedule.ts', 'lib/maskrcnn/train/train.ts', 'lib/maskrcnn/model/config.ts', 'lib/tensor/random.ts'];

let dataset: CocoDetectionDataset | undefined;
const trainSet = (): CocoDetectionDataset => (dataset ??= shapesDetectionDataset(generateShapes({ count: 2, seed: 1 }), { contiguousLabels: true }));

/** Makes (or finds in the cache) the seed checkpoint of a 2-iteration shapes training run. */
function seedCheckpoint(cacheDir: string): string {
  const hash = createHash('sha256');
  for (const f of SOURCES) hash.update(readFileSync(join(ROOT, f)));
  const dir = join(cacheDir, `checkpoint-${hash.digest('hex').slice(0, 16)}`);
  const path = join(dir, 'checkpoint.safetensors');
  if (!existsSync(path)) {
    rmSync(dir, { recursive: true, force: true });
    mkdirSync(dir, { recursive: true });
    train({ config: shapesConfig(), train: trainSet(), outDir: dir, iterations: 2, batchSize: 1, checkpointEvery: 1, skipFinalEval: true, seed: 3, reporter: {} });
  }
  return path;
}

type Meta = Record<(typeof META_KEYS)[number], unknown>;

function readMeta(layout: SafetensorsLayout): Meta | string {
  const meta = (layout.header.__metadata__ ?? {}) as Record<string, string>;
  const out: Partial<Meta> = {};
  for (const key of META_KEYS) {
    const text = meta[key];
    if (text === undefined) return `the ${key} metadata is missing`;
    const bad = jsonTextProblem(text);
    if (bad !== null) return `the ${key} metadata: ${bad}`;
    out[key] = JSON.parse(text) as unknown;
  }
  return out as Meta;
}

function rangeProblem(obj: Record<string, unknown>, rules: Record<string, (x: number) => boolean>, where: string): string | null {
  for (const [key, ok] of Object.entries(rules)) {
    const v = obj[key];
    for (const x of Array.isArray(v) ? v : [v]) if (typeof x !== 'number' || !ok(x)) return `${where}.${key} is ${brief(x)}`;
  }
  return null;
}

const unit = (x: number): boolean => x >= 0 && x <= 1;
const positive = (x: number): boolean => isFin(x) && x > 0;
const nonNegative = (x: number): boolean => isFin(x) && x >= 0;

function checkpointProblem(bytes: Uint8Array, seedLayout: SafetensorsLayout, seedMeta: Meta): string | null {
  const layout = parseSafetensorsLayout(bytes);
  if ('problem' in layout) return layout.problem;
  const format = (layout.header.__metadata__ as Record<string, string> | undefined)?.format;
  if (format !== (seedLayout.header.__metadata__ as Record<string, string>).format) return `format ${brief(format)}`;
  const meta = readMeta(layout);
  if (typeof meta === 'string') return meta;
  const extra = meta.extra as Record<string, unknown>;
  const seedExtra = seedMeta.extra as Record<string, unknown>;
  if (!isObj(extra)) return `extra is ${brief(extra)}`;
  // The configuration is checked below; so are the fine-tuning fields, which older checkpoints lack.
  const withoutConfig = (e: Record<string, unknown>): Record<string, unknown> => {
    const hyper = isObj(e.hyper) ? { ...(e.hyper as Record<string, unknown>) } : e.hyper;
    if (isObj(hyper)) {
      delete (hyper as Record<string, unknown>).weights;
      delete (hyper as Record<string, unknown>).headsOnly;
    }
    return { ...e, config: null, hyper };
  };
  const shape = shapeProblem(withoutConfig(extra), withoutConfig(seedExtra), 'extra') ?? shapeProblem(meta.optimizer, seedMeta.optimizer, 'optimizer') ?? shapeProblem(meta.scheduler, seedMeta.scheduler, 'scheduler');
  if (shape !== null) return shape;
  if (!isCount(extra.iteration)) return `iteration ${brief(extra.iteration)}`;
  if (!nonNegative(extra.trainSeconds as number)) return `trainSeconds ${brief(extra.trainSeconds)}`;
  const rng = extra.rng as unknown[];
  if (rng.length !== 5 || !rng.slice(0, 4).every((x) => Number.isInteger(x) && (x as number) >= 0 && (x as number) < 2 ** 32) || rng.slice(0, 4).every((x) => x === 0) || !(rng[4] === null || isFin(rng[4]))) {
    return `the generator state ${JSON.stringify(rng).slice(0, 80)}`;
  }
  const hyper = extra.hyper as Record<string, unknown>;
  if (hyper.optimizer !== (seedExtra.hyper as Record<string, unknown>).optimizer) return `hyper.optimizer ${brief(hyper.optimizer)} is not the saved state's`;
  const h = rangeProblem(
    hyper,
    {
      seed: isFin,
      batchSize: (x) => Number.isSafeInteger(x) && x >= 1,
      lr: positive,
      momentum: (x) => x >= 0 && x < 1,
      weightDecay: nonNegative,
      warmupIterations: isCount,
      warmupFactor: (x) => x > 0 && x <= 1,
      lrSteps: isCount,
      gamma: (x) => x > 0 && x <= 1,
      clipGradNorm: nonNegative,
      hflipProb: unit,
    },
    'hyper',
  );
  if (h !== null) return h;
  if ('weights' in hyper && !(hyper.weights === null || (typeof hyper.weights === 'string' && hyper.weights !== ''))) return `hyper.weights is ${brief(hyper.weights)}`;
  if ('headsOnly' in hyper && typeof hyper.headsOnly !== 'boolean') return `hyper.headsOnly is ${brief(hyper.headsOnly)}`;
  const headsOnly = (x: Record<string, unknown>): boolean => x.headsOnly === true;
  if (headsOnly(hyper) !== headsOnly(seedExtra.hyper as Record<string, unknown>)) return 'hyper.headsOnly changes which parameters the saved optimiser state is for';
  const config = configProblem(upgradeConfigJson(extra.config), seedExtra.config);
  if (config !== null) return config;
  const trainable = (c: unknown): unknown => (c as { backbone: { trainableLayers: unknown } }).backbone.trainableLayers;
  if (trainable(extra.config) !== trainable(seedExtra.config)) return 'config.backbone.trainableLayers changes which parameters the saved optimiser state is for';
  const classes = extra.classes as unknown[];
  if (classes.length !== (seedExtra.config as { numClasses: number }).numClasses || !classes.every((s) => typeof s === 'string')) return 'the class names are not numClasses strings';
  const opt = meta.optimizer as { name: unknown; paramGroups: Array<Record<string, unknown>>; scalars: Record<string, Record<string, unknown>> };
  const seedOpt = seedMeta.optimizer as typeof opt;
  if (opt.name !== seedOpt.name) return `the optimiser state is of ${brief(opt.name)}`;
  if (opt.paramGroups.length !== seedOpt.paramGroups.length) return 'other parameter groups';
  for (let i = 0; i < opt.paramGroups.length; i++) {
    const g = opt.paramGroups[i]!;
    if (JSON.stringify(g.params) !== JSON.stringify(seedOpt.paramGroups[i]!.params)) return `paramGroups[${i}].params differ`;
    const p = rangeProblem(g, { lr: positive, initial_lr: positive, eps: positive, betas: (x) => x >= 0 && x < 1, weightDecay: nonNegative }, `optimizer.paramGroups[${i}]`);
    if (p !== null) return p;
  }
  for (const [k, s] of Object.entries(opt.scalars)) if (!isCount(s.step)) return `optimizer.scalars.${k}.step is ${brief(s.step)}`;
  const sched = meta.scheduler as Record<string, unknown>;
  const s = rangeProblem(sched, { lastEpoch: isCount, baseLrs: positive }, 'scheduler');
  if (s !== null) return s;
  return tensorsProblem(bytes, layout, seedLayout);
}

function oracle(ctx: ReaderContext): (bytes: Uint8Array) => string | null {
  const seedBytes = new Uint8Array(readFileSync(ctx.checkpoint as string));
  const seedLayout = parseSafetensorsLayout(seedBytes) as SafetensorsLayout;
  const seedMeta = readMeta(seedLayout) as Meta;
  return (b) => checkpointProblem(b, seedLayout, seedMeta);
}

/** Rewrites one metadata JSON entry of a checkpoint. */
function withMeta(bytes: Uint8Array, key: string, edit: (value: JsonLike) => string): Uint8Array {
  const { header, data } = splitSafetensors(bytes);
  const meta = header.__metadata__ as Record<string, string>;
  meta[key] = edit(JSON.parse(meta[key]!) as JsonLike);
  return joinSafetensors(toJsonText(header), data);
}

function generate(ctx: ReaderContext, rng: Rng, index: number, check: (b: Uint8Array) => string | null): FuzzCase {
  const bytes = new Uint8Array(readFileSync(ctx.checkpoint as string));
  const name = `checkpoint:${index}`;
  const file = `case-${index}.safetensors`;
  const roll = rng.int(100);
  if (roll < 35) {
    const key = rng.pick(['extra', 'extra', 'optimizer', 'scheduler']);
    let note = '';
    let mutator = '';
    const out = withMeta(bytes, key, (v) => {
      const m = mutateJson(v, rng);
      note = `${key}: ${m.note}`;
      mutator = `metadata.${m.mutator}`;
      return m.text;
    });
    return makeCase(name, file, out, mutator, note, check);
  }
  if (roll < 50) {
    const edits: Array<[string, string, (v: Record<string, JsonLike>) => void]> = [
      ['iteration', 'extra', (v) => (v.iteration = rng.pick([-5, 1.5, 1e308, new RawJson('9007199254740993'), -1e308, 1e9]))],
      ['rng', 'extra', (v) => (v.rng = rng.pick<JsonLike>([[1, 2, 3], [0, 0, 0, 0, null], ['a', 1, 2, 3, null], [-1, 2, 3, 4, null], [2 ** 32, 1, 2, 3, null], [1.5, 2, 3, 4, null], [1, 2, 3, 4, 'x']]))],
      ['hyperLr', 'extra', (v) => ((v.hyper as Record<string, JsonLike>).lr = rng.pick([null, -1, 0, 1e308, Infinity]))],
      ['classes', 'extra', (v) => (v.classes = rng.pick<JsonLike>([[null, {}, 'a', 'b'], ['a'], [], [1, 2, 3, 4]]))],
      ['optimizerLr', 'optimizer', (v) => ((v.paramGroups as Array<Record<string, JsonLike>>)[0]!.lr = rng.pick([null, -0.1, 0, Infinity, '0.1']))],
      ['optimizerName', 'optimizer', (v) => (v.name = rng.pick([null, 'SGD', 'Adam', '']))],
      ['schedulerEpoch', 'scheduler', (v) => (v.lastEpoch = rng.pick([-5, 1.5, null, 1e308]))],
    ];
    const [label, key, edit] = rng.pick(edits);
    const out = withMeta(bytes, key, (v) => {
      edit(v as Record<string, JsonLike>);
      return toJsonText(v);
    });
    return makeCase(name, file, out, `targeted.${label}`, `${key}: ${label}`, check);
  }
  const m = mutateSafetensors(bytes, rng);
  return makeCase(name, file, m.bytes, m.mutator, m.note, check);
}

const checks = new WeakMap<ReaderContext, (b: Uint8Array) => string | null>();
const checkFor = (ctx: ReaderContext): ((b: Uint8Array) => string | null) => {
  let c = checks.get(ctx);
  if (c === undefined) checks.set(ctx, (c = oracle(ctx)));
  return c;
};

/** The checkpoint reader (`train --resume`). */
export const checkpointReader: FuzzReader = {
  name: 'checkpoint',
  title: 'checkpoints (`loadCheckpoint`, `train --resume`)',
  prepare(_dir, cacheDir) {
    const checkpoint = seedCheckpoint(cacheDir);
    return { checkpoint, log: join(dirname(checkpoint), 'log.jsonl') };
  },
  seeds: (ctx) => [makeCase('seed:0', 'seed-0.safetensors', new Uint8Array(readFileSync(ctx.checkpoint as string)), 'seed', 'the 2-iteration shapes checkpoint', checkFor(ctx))],
  generate: (ctx, rng, index) => generate(ctx, rng, index, checkFor(ctx)),
  regressions(ctx): FuzzCase[] {
    const bytes = new Uint8Array(readFileSync(ctx.checkpoint as string));
    const r = (name: string, key: string, edit: (v: Record<string, JsonLike>) => JsonLike | string, note: string): FuzzCase =>
      makeCase(`regression:${name}`, `${name}.safetensors`, withMeta(bytes, key, (v) => {
        const out = edit(v as Record<string, JsonLike>);
        return typeof out === 'string' ? out : toJsonText(out);
      }), 'regression', note, checkFor(ctx));
    return [
      r('checkpoint-iteration-minus-5', 'extra', (v) => ({ ...v, iteration: -5 }), '--resume accepts iteration: -5'),
      r('checkpoint-rng-malformed', 'extra', (v) => ({ ...v, rng: [1, 2, 3] }), '--resume accepts a malformed RNG state'),
      r('checkpoint-class-names-null', 'extra', (v) => ({ ...v, classes: [null, {}, 'circle', 'triangle'] }), 'class names with null/objects'),
      r('checkpoint-corrupt-metadata-json', 'extra', (v) => toJsonText(v).slice(0, 40), 'a corrupted metadata JSON (a bare SyntaxError without the file name)'),
      r('checkpoint-lr-nan', 'optimizer', (v) => {
        (v.paramGroups as Array<Record<string, JsonLike>>)[0]!.lr = null;
        return v;
      }, 'a learning rate of NaN (written as null) in the optimizer state'),
      r('checkpoint-optimizer-no-name', 'optimizer', (v) => {
        delete v.name;
        return v;
      }, '"holds the state of undefined"'),
      r('checkpoint-deep-extra', 'extra', (v) => ({ ...v, rng: new RawJson(deepJson(100_000, 'array')) }), 'a generator state nested 100,000 deep'),
    ];
  },
  run(path, ctx) {
    const outDir = join(dirname(path), `resume-${process.pid}`);
    rmSync(outDir, { recursive: true, force: true });
    mkdirSync(outDir, { recursive: true });
    copyFileSync(path, join(outDir, 'checkpoint.safetensors'));
    copyFileSync(ctx.log as string, join(outDir, 'log.jsonl'));
    train({ config: shapesConfig(), train: trainSet(), outDir, iterations: 1e9, resume: true, stopAfter: 0, reporter: {} });
    return null;
  },
  names: () => ['checkpoint.safetensors'],
};
