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
import { SafetensorsFile, saveSafetensors, type SafetensorsInput } from './safetensors.js';

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

/**
 * Restores the given parts from a checkpoint written by {@link saveCheckpoint} and returns its
 * `extra` JSON (or `undefined`). Each part asked for must be in the file.
 */
export function loadCheckpoint(path: string, options: LoadCheckpointOptions): LoadedCheckpoint {
  const file = SafetensorsFile.open(path);
  try {
    const meta = file.metadata ?? {};
    if (meta['format'] !== CHECKPOINT_FORMAT) {
      throw new Error(`loadCheckpoint: ${path} is not a checkpoint of this format (format ${JSON.stringify(meta['format'])}, want ${CHECKPOINT_FORMAT})`);
    }
    const keys = file.keys();
    if (options.model !== undefined) {
      const dict = new Map<string, Tensor>();
      for (const k of keys) if (k.startsWith('model.')) dict.set(k.slice('model.'.length), file.read(k));
      options.model.loadStateDict(dict, { strict: options.strict ?? true });
    }
    if (options.optimizer !== undefined) {
      const saved = meta['optimizer'];
      if (saved === undefined) throw new Error(`loadCheckpoint: ${path} holds no optimiser state`);
      const { name, paramGroups, scalars } = JSON.parse(saved) as {
        name: string;
        paramGroups: OptimizerStateDict['paramGroups'];
        scalars: Record<string, Record<string, number>>;
      };
      if (name !== options.optimizer.name) throw new Error(`loadCheckpoint: ${path} holds the state of ${name}, not of ${options.optimizer.name}`);
      const state: OptimizerStateDict['state'] = {};
      for (const [index, entries] of Object.entries(scalars)) state[index] = { ...entries };
      for (const k of keys) {
        const m = /^optimizer\.state\.(\d+)\.(.+)$/.exec(k);
        if (m !== null) (state[m[1]!] ??= {})[m[2]!] = file.read(k);
      }
      options.optimizer.loadStateDict({ state, paramGroups });
    }
    if (options.scheduler !== undefined) {
      const saved = meta['scheduler'];
      if (saved === undefined) throw new Error(`loadCheckpoint: ${path} holds no scheduler state`);
      options.scheduler.loadStateDict(JSON.parse(saved) as LRSchedulerStateDict);
    }
    return { extra: meta['extra'] === undefined ? undefined : JSON.parse(meta['extra']) };
  } finally {
    file.close();
  }
}
