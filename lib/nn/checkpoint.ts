/**
 * Training checkpoints: a model's state dict, an optimiser's state and a scheduler's state in
 * one safetensors file, written atomically, so that training stops and resumes bit for bit.
 *
 * Layout: tensors `model.<key>` (the model's state dict) and `optimizer.state.<index>.<name>`
 * (momentum buffers, moment estimates); `__metadata__` holds `format`, and as JSON strings the
 * optimiser's parameter groups and scalar state (`optimizer`), the scheduler's state
 * (`scheduler`) and any JSON the caller adds (`extra`: an epoch counter, a data-loader seed, a
 * generator state).
 */
import { Tensor } from '../tensor/index.js';
import type { Module } from './module.js';
import type { LearningRate, Optimizer, OptimizerStateDict } from './optim.js';
import type { LRScheduler, LRSchedulerStateDict } from './schedule.js';
import { briefJson, parseJson } from '../util/limits.js';
import { SafetensorsFile, saveSafetensors, type SafetensorsDType, type SafetensorsInput } from './safetensors.js';

/** The format string stored in a checkpoint's metadata. */
export const CHECKPOINT_FORMAT = 'maskrcnn-ts-checkpoint/1';

/** What a checkpoint holds (each part optional). */
export interface CheckpointParts {
  /** The model whose state dict is saved / loaded. */
  model?: Module;
  /** The optimiser whose state is saved / loaded. */
  optimizer?: Optimizer<LearningRate>;
  /** The learning-rate scheduler whose state is saved / loaded. */
  scheduler?: LRScheduler;
}

/** Options of {@link saveCheckpoint}. */
export interface SaveCheckpointOptions extends CheckpointParts {
  /** Anything JSON-serialisable to keep with the state (epoch, iteration, seeds...). */
  extra?: unknown;
}

/** Options of {@link loadCheckpoint}. */
export interface LoadCheckpointOptions extends CheckpointParts {
  /** Require the model's keys to match exactly (default `true`). */
  strict?: boolean;
  /** Accept NaN or infinite values in the model's and the optimiser's tensors (default `false`: an error naming the tensor). */
  allowNonFinite?: boolean;
}

/** What {@link loadCheckpoint} returns besides restoring the parts. */
export interface LoadedCheckpoint {
  /** The `extra` JSON saved with the checkpoint, or `undefined`. */
  extra: unknown;
}

/** Saves the given parts to `path` (atomically, see {@link saveSafetensors}). */
export function saveCheckpoint(path: string, options: SaveCheckpointOptions): void {
  const tensors = new Map<string, SafetensorsInput>();
  const metadata: Record<string, string> = { format: CHECKPOINT_FORMAT };
  if (options.model !== undefined) {
    for (const [k, v] of options.model.stateDict()) tensors.set(`model.${k}`, v.dtype === 'int32' ? { tensor: v, dtype: 'I64' } : v);
  }
  if (options.optimizer !== undefined) {
    const sd = options.optimizer.stateDict();
    const scalars: Record<string, Record<string, number>> = {};
    for (const [index, entries] of Object.entries(sd.state)) {
      for (const [name, v] of Object.entries(entries)) {
        if (v instanceof Tensor) tensors.set(`optimizer.state.${index}.${name}`, v);
        else (scalars[index] ??= {})[name] = v;
      }
    }
    metadata['optimizer'] = JSON.stringify({ name: options.optimizer.name, paramGroups: sd.paramGroups, scalars });
  }
  if (options.scheduler !== undefined) metadata['scheduler'] = JSON.stringify(options.scheduler.stateDict());
  if (options.extra !== undefined) metadata['extra'] = JSON.stringify(options.extra);
  saveSafetensors(path, tensors, { metadata });
}

/** Options of {@link readStateDict}. */
export interface ReadStateDictOptions {
  /** Read only the file's tensors whose names start with this, with it removed (e.g. `'model.'`). */
  prefix?: string;
  /** Accept NaN or infinite values (default `false`). */
  allowNonFinite?: boolean;
}

const FLOAT_DTYPES: ReadonlySet<SafetensorsDType> = new Set(['F64', 'F32', 'F16', 'BF16']);

/** Throws naming `name` and `source` when a floating tensor holds NaN or an infinity. */
function checkFinite(tensor: Tensor, name: string, source: string): void {
  if (tensor.dtype === 'int32') return;
  const data = tensor.data;
  for (let i = 0; i < data.length; i++) {
    if (!Number.isFinite(data[i]!)) {
      throw new Error(`${source}: tensor '${name}' holds ${data[i]} at element ${i} (values must be finite: a diverged or corrupt file; allowNonFinite accepts it)`);
    }
  }
}

/**
 * Reads the tensors of an open safetensors file meant for `model` (those under `prefix`, with
 * it removed) and checks them before anything is copied: each stored element type must be of
 * the kind the model's tensor holds (a float parameter stored as `I32` is a relabelled or
 * corrupt file, not a model that predicts nothing), and floating values must be finite unless
 * `allowNonFinite`. Keys and shapes are {@link Module.loadStateDict}'s checks. Errors name the
 * file and the key.
 */
export function readStateDict(file: SafetensorsFile, model: Module, options: ReadStateDictOptions = {}): Map<string, Tensor> {
  const prefix = options.prefix ?? '';
  const own = model.stateDict();
  const names = file.keys().filter((k) => k.startsWith(prefix));
  for (const key of names) {
    const target = own.get(key.slice(prefix.length));
    if (target === undefined) continue; // unexpected keys are loadStateDict's to report
    const stored = file.header.entries.get(key)!.dtype;
    if (FLOAT_DTYPES.has(stored) !== (target.dtype !== 'int32')) {
      const want = target.dtype === 'int32' ? 'an integer type (I64, I32, ...)' : 'a float type (F32, F16, BF16, F64)';
      throw new Error(`${file.path}: tensor '${key}' is stored as ${stored} but the model's ${target.dtype} tensor needs ${want}`);
    }
  }
  const dict = new Map<string, Tensor>();
  for (const key of names) {
    const tensor = file.read(key);
    if (!options.allowNonFinite) checkFinite(tensor, key, file.path);
    dict.set(key.slice(prefix.length), tensor);
  }
  return dict;
}

/** A JSON object read from a checkpoint's metadata: a field path for errors and typed getters. */
class JsonFields {
  constructor(
    private readonly value: Record<string, unknown>,
    /** Where the object is, for errors (`loadCheckpoint: FILE: metadata 'optimizer'`). */
    readonly where: string,
  ) {}

  static of(value: unknown, where: string): JsonFields {
    if (value === null || typeof value !== 'object' || Array.isArray(value)) throw new Error(`${where} should be a JSON object, got ${briefJson(value)}`);
    return new JsonFields(value as Record<string, unknown>, where);
  }

  keys(): string[] {
    return Object.keys(this.value);
  }

  get(key: string): unknown {
    return Object.hasOwn(this.value, key) ? this.value[key] : undefined;
  }

  object(key: string): JsonFields {
    return JsonFields.of(this.get(key), `${this.where}.${key}`);
  }

  string(key: string): string {
    const v = this.get(key);
    if (typeof v !== 'string') throw new Error(`${this.where}.${key} should be a string, got ${briefJson(v)}`);
    return v;
  }

  /** A finite number, checked against `ok` (described by `what`). */
  number(key: string, ok: (v: number) => boolean = () => true, what = 'a finite number'): number {
    const v = this.get(key);
    if (typeof v !== 'number' || !Number.isFinite(v) || !ok(v)) throw new Error(`${this.where}.${key} should be ${what}, got ${briefJson(v)}`);
    return v;
  }
}

const isIndex = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;

/** The allowed range of the optimisers' hyper-parameters, by name (every number must also be finite). */
const HYPER_RANGES: Record<string, readonly [ok: (v: number) => boolean, what: string]> = {
  lr: [(v) => v > 0, 'a positive learning rate'],
  initial_lr: [(v) => v > 0, 'a positive learning rate'],
  weightDecay: [(v) => v >= 0, 'a number >= 0'],
  momentum: [(v) => v >= 0 && v < 1, 'a number in [0, 1)'],
  dampening: [(v) => v >= 0 && v <= 1, 'a number in [0, 1]'],
  eps: [(v) => v >= 0, 'a number >= 0'],
  betas: [(v) => v >= 0 && v < 1, 'a number in [0, 1)'],
};

/**
 * Checks the optimiser metadata of a checkpoint against `optimizer` before it is restored: the
 * name, one saved group per group with as many parameter indices (each used once), every
 * hyper-parameter one the optimiser has, of its type, finite and in range (a NaN learning rate
 * would train on NaN), and scalar state only for listed parameters.
 */
function checkOptimizerJson(saved: JsonFields, optimizer: Optimizer<LearningRate>): { name: string; paramGroups: OptimizerStateDict['paramGroups']; scalars: Record<string, Record<string, number>>; indices: Set<number> } {
  const name = saved.string('name');
  if (name !== optimizer.name) throw new Error(`${saved.where} holds the state of ${name}, not of ${optimizer.name}`);
  const groups = saved.get('paramGroups');
  if (!Array.isArray(groups)) throw new Error(`${saved.where}.paramGroups should be a list, got ${briefJson(groups)}`);
  if (groups.length !== optimizer.paramGroups.length) {
    throw new Error(`${saved.where}.paramGroups has ${groups.length} groups, the optimiser ${optimizer.paramGroups.length}`);
  }
  const indices = new Set<number>();
  groups.forEach((g, gi) => {
    const group = JsonFields.of(g, `${saved.where}.paramGroups[${gi}]`);
    const params = group.get('params');
    const want = optimizer.paramGroups[gi]!.params.length;
    if (!Array.isArray(params) || !params.every(isIndex) || params.length !== want) {
      throw new Error(`${group.where}.params should list the indices of ${want} parameters, got ${briefJson(params)}`);
    }
    // The optimiser numbers its parameters in order, group after group (PyTorch's packing):
    // any other list would pair saved state with the wrong parameters.
    params.forEach((p, j) => {
      if (indices.has(p)) throw new Error(`${group.where}.params lists parameter ${p} twice`);
      if (p !== indices.size) throw new Error(`${group.where}.params[${j}] is ${p}, expected ${indices.size} (parameters are numbered in order)`);
      indices.add(p);
    });
    const current = optimizer.paramGroups[gi]!.options as unknown as Record<string, unknown>;
    for (const key of group.keys()) {
      if (key === 'params') continue;
      const v = group.get(key);
      const have = key === 'initial_lr' ? 0 : current[key];
      if (have === undefined) throw new Error(`${group.where}.${key} is not a hyper-parameter of ${optimizer.name}`);
      const [ok, what] = HYPER_RANGES[key] ?? [() => true, 'a finite number'];
      if (typeof have === 'boolean') {
        if (typeof v !== 'boolean') throw new Error(`${group.where}.${key} should be true or false, got ${briefJson(v)}`);
      } else if (Array.isArray(have)) {
        if (!Array.isArray(v) || v.length !== have.length || !v.every((x) => typeof x === 'number' && Number.isFinite(x) && ok(x))) {
          throw new Error(`${group.where}.${key} should be ${have.length} numbers, each ${what}, got ${briefJson(v)}`);
        }
      } else {
        group.number(key, ok, what);
      }
    }
    group.number('lr', HYPER_RANGES['lr']![0], HYPER_RANGES['lr']![1]);
  });
  const scalarsJson = saved.object('scalars');
  const scalars: Record<string, Record<string, number>> = {};
  for (const index of scalarsJson.keys()) {
    if (!/^\d+$/.test(index) || !indices.has(Number(index))) throw new Error(`${scalarsJson.where}.${index}: no parameter group lists parameter ${index}`);
    const entries = scalarsJson.object(index);
    // The optimisers' scalar state is step counts (Adam's `step`), created by a first step.
    scalars[index] = Object.fromEntries(entries.keys().map((k) => [k, entries.number(k, (v) => Number.isSafeInteger(v) && v >= 1, 'a step count (an integer >= 1: state exists after a step)')]));
  }
  return { name, paramGroups: groups as OptimizerStateDict['paramGroups'], scalars, indices };
}

/**
 * Restores the given parts from a checkpoint written by {@link saveCheckpoint} and returns its
 * `extra` JSON (or `undefined`). Each part asked for must be in the file. Everything is checked
 * before it is used, and errors name the file and the field: the metadata JSON (depth-checked,
 * no bare `SyntaxError`), the tensors' element types and finiteness ({@link readStateDict}), the
 * optimiser's name, groups and hyper-parameters (finite, a positive learning rate), and the
 * scheduler's step count and base rates.
 */
export function loadCheckpoint(path: string, options: LoadCheckpointOptions): LoadedCheckpoint {
  const file = SafetensorsFile.open(path);
  const where = `loadCheckpoint: ${path}`;
  try {
    const meta = file.metadata ?? {};
    if (meta['format'] !== CHECKPOINT_FORMAT) {
      throw new Error(`${where} is not a checkpoint of this format (format ${briefJson(meta['format'])}, want ${CHECKPOINT_FORMAT})`);
    }
    const field = (key: string): unknown => (meta[key] === undefined ? undefined : parseJson(meta[key], `${where}: metadata '${key}'`));
    const keys = file.keys();
    for (const k of keys) {
      if (!k.startsWith('model.') && !/^optimizer\.state\.\d+\..+$/.test(k)) throw new Error(`${where}: unexpected tensor '${k}' (a checkpoint holds model.* and optimizer.state.N.* tensors)`);
    }
    if (options.model !== undefined) {
      const dict = readStateDict(file, options.model, { prefix: 'model.', ...(options.allowNonFinite ? { allowNonFinite: true } : {}) });
      try {
        options.model.loadStateDict(dict, { strict: options.strict ?? true });
      } catch (error) {
        throw new Error(`${where}: its model tensors do not fit the model: ${(error as Error).message}`);
      }
    }
    if (options.optimizer !== undefined) {
      const saved = field('optimizer');
      if (saved === undefined) throw new Error(`${where} holds no optimiser state`);
      const { paramGroups, scalars, indices } = checkOptimizerJson(JsonFields.of(saved, `${where}: metadata 'optimizer'`), options.optimizer);
      const state: OptimizerStateDict['state'] = {};
      for (const [index, entries] of Object.entries(scalars)) state[index] = { ...entries };
      for (const k of keys) {
        const m = /^optimizer\.state\.(\d+)\.(.+)$/.exec(k);
        if (m === null) continue;
        if (!indices.has(Number(m[1]))) throw new Error(`${where}: tensor '${k}' is the state of parameter ${m[1]}, which no parameter group lists`);
        const stored = file.header.entries.get(k)!.dtype;
        if (!FLOAT_DTYPES.has(stored)) throw new Error(`${where}: tensor '${k}' is stored as ${stored}, but optimiser state is floating`);
        const tensor = file.read(k);
        if (!options.allowNonFinite) checkFinite(tensor, k, path);
        (state[m[1]!] ??= {})[m[2]!] = tensor;
      }
      // Every parameter with state has the same entries (a deleted step count or buffer would
      // silently restart that parameter's statistics).
      const layouts = new Map<string, string>();
      for (const [index, entries] of Object.entries(state)) layouts.set(index, Object.keys(entries).sort().join(', '));
      const [first] = layouts;
      for (const [index, layout] of layouts) {
        if (layout !== first![1]) throw new Error(`${where}: the optimiser state of parameter ${index} has ${layout}, but that of parameter ${first![0]} has ${first![1]}`);
      }
      try {
        options.optimizer.loadStateDict({ state, paramGroups });
      } catch (error) {
        throw new Error(`${where}: ${(error as Error).message}`);
      }
    }
    if (options.scheduler !== undefined) {
      const saved = field('scheduler');
      if (saved === undefined) throw new Error(`${where} holds no scheduler state`);
      const s = JsonFields.of(saved, `${where}: metadata 'scheduler'`);
      const lastEpoch = s.number('lastEpoch', (v) => Number.isSafeInteger(v) && v >= 0, 'a step count (an integer >= 0)');
      const baseLrs = s.get('baseLrs');
      if (!Array.isArray(baseLrs) || !baseLrs.every((v) => typeof v === 'number' && Number.isFinite(v) && v > 0)) {
        throw new Error(`${s.where}.baseLrs should be a list of positive learning rates, got ${briefJson(baseLrs)}`);
      }
      try {
        options.scheduler.loadStateDict({ lastEpoch, baseLrs } as LRSchedulerStateDict);
      } catch (error) {
        throw new Error(`${where}: ${(error as Error).message}`);
      }
    }
    return { extra: field('extra') };
  } finally {
    file.close();
  }
}
