/**
 * Loading torchvision's trained Mask R-CNN: `maskrcnn_resnet50_fpn`'s state dict, converted once
 * to safetensors by `tools/convert_torchvision.py` (same key names, float32), loads by name into
 * the paper's ResNet-50-FPN {@link MaskRCNN} ({@link defaultConfig}, 91 COCO classes with
 * background). The state-dict keys are torchvision's (`backbone.body.layer1.0.conv1.weight`,
 * `rpn.head.conv.0.0.weight`, `roi_heads.mask_predictor.conv5_mask.weight`, ...), so the load is
 * strict: every key of the model must be in the file and every key of the file must be used;
 * otherwise the error lists every missing and every unexpected key (and every shape mismatch).
 *
 * @module
 */
import { existsSync } from 'node:fs';
import { CHECKPOINT_FORMAT, SafetensorsFile, readStateDict } from '../../nn/index.js';
import type { Tensor } from '../../tensor/index.js';
import { briefJson, parseJson } from '../../util/limits.js';
import { checkConfig, defaultConfig, upgradeConfigJson, type MaskRCNNConfig } from './config.js';
import { MaskRCNN, type MaskRCNNOptions } from './mask_rcnn.js';

/** Options of {@link loadTorchvision}. */
export interface LoadTorchvisionOptions {
  /**
   * The detector's numbers (default: {@link defaultConfig} with the number of classes read from
   * the file's `roi_heads.box_predictor.cls_score.weight`, 91 for torchvision's COCO model).
   */
  config?: MaskRCNNConfig;
  /** RoIPool / single-level pooling, for the ablations (see {@link MaskRCNNOptions}). */
  pooler?: MaskRCNNOptions['pooler'];
  /** Accept NaN or infinite weights (default `false`: an error naming the tensor). */
  allowNonFinite?: boolean;
}

/** The key whose first dimension is the number of classes (background included). */
const CLASS_KEY = 'roi_heads.box_predictor.cls_score.weight';

/**
 * Builds Mask R-CNN and loads a torchvision state dict saved as safetensors (see the file
 * comment and the course page "Torchvision weights"), in evaluation mode. Throws when the file
 * cannot be read or when its keys or shapes do not match the model's, naming every missing and
 * unexpected key.
 *
 * @document ../../../docs/course/torchvision-weights.md
 */
export function loadTorchvision(path: string, options: LoadTorchvisionOptions = {}): MaskRCNN {
  if (!existsSync(path)) {
    throw new Error(`loadTorchvision: ${path} does not exist (convert torchvision's weights with tools/convert_torchvision.py first)`);
  }
  let config = options.config;
  if (config === undefined) {
    const file = SafetensorsFile.open(path);
    let numClasses = 91;
    try {
      const entry = file.header.entries.get(CLASS_KEY);
      if (entry !== undefined && entry.shape.length === 2) numClasses = entry.shape[0]!;
    } finally {
      file.close();
    }
    config = defaultConfig(numClasses);
  }
  const model = buildAndLoad(path, config, '', options, 'loadTorchvision', 'is not a state dict of this Mask R-CNN (torchvision key names, float32)');
  model.eval();
  return model;
}

/**
 * Range-checks `config` ({@link checkConfig}), builds the model and loads the file's tensors
 * under `prefix` into it strictly, with their element types and finiteness checked
 * ({@link readStateDict}). Errors read `what: PATH problem: reason`.
 */
function buildAndLoad(path: string, config: MaskRCNNConfig, prefix: string, options: LoadTorchvisionOptions, what: string, problem: string): MaskRCNN {
  try {
    checkConfig(config);
  } catch (error) {
    throw new Error(`${what}: ${path}: ${(error as Error).message}`);
  }
  const model = new MaskRCNN(config, { initialize: false, ...(options.pooler ? { pooler: options.pooler } : {}) });
  const file = SafetensorsFile.open(path);
  let dict: Map<string, Tensor>;
  try {
    dict = readStateDict(file, model, { prefix, ...(options.allowNonFinite ? { allowNonFinite: true } : {}) });
  } catch (error) {
    throw new Error(`${what}: ${(error as Error).message}`);
  } finally {
    file.close();
  }
  try {
    model.loadStateDict(dict); // strict: missing and unexpected keys are errors
  } catch (error) {
    throw new Error(`${what}: ${path} ${problem}:\n${(error as Error).message}`);
  }
  return model;
}

/**
 * Checks class names by label (index 0 the background): exactly `numClasses` non-empty
 * strings. `where` names the source (`train`, a file's metadata entry). Returns them typed.
 */
export function checkClassNames(classes: unknown, numClasses: number, where: string): string[] {
  if (!Array.isArray(classes)) throw new Error(`${where}: class names should be a list of strings, got ${briefJson(classes)}`);
  if (classes.length !== numClasses) throw new Error(`${where}: ${classes.length} class names for a model with ${numClasses} classes (background included)`);
  classes.forEach((c, i) => {
    if (typeof c !== 'string' || c.trim() === '') throw new Error(`${where}: class name ${i} should be a non-empty string, got ${briefJson(c)}`);
  });
  return classes as string[];
}

/** Metadata key of a weights file's detector configuration (JSON of {@link MaskRCNNConfig}). */
export const WEIGHTS_CONFIG_KEY = 'maskrcnn.config';
/** Metadata key of a weights file's class names (JSON array; index = label, 0 = background). */
export const WEIGHTS_CLASSES_KEY = 'maskrcnn.classes';

/** Options of {@link saveWeights}. */
export interface SaveWeightsOptions {
  /** Class names by label (index 0 is the background), kept so that predictions print names. */
  classes?: readonly string[];
  /**
   * Store the float32 tensors as float16 (half the size; they are read back as float32). For
   * the model zoo, where the accuracy of both is measured and recorded. Default `false`.
   */
  half?: boolean;
}

/**
 * Writes a trained model as a weights file: its state dict under torchvision's key names (so
 * the file also loads into torchvision after a conversion) plus, in the safetensors metadata,
 * the model's configuration and class names. Atomic (temp file + rename).
 */
export function saveWeights(path: string, model: MaskRCNN, options: SaveWeightsOptions = {}): void {
  const metadata: Record<string, string> = { [WEIGHTS_CONFIG_KEY]: JSON.stringify(model.config) };
  if (options.classes !== undefined) {
    checkClassNames(options.classes, model.config.numClasses, 'saveWeights');
    metadata[WEIGHTS_CLASSES_KEY] = JSON.stringify(options.classes);
  }
  model.saveSafetensors(path, { metadata, floatDType: options.half ? 'F16' : 'F32' });
}

/** What {@link loadWeights} returns. */
export interface LoadedWeights {
  /** The model, in evaluation mode. */
  model: MaskRCNN;
  /** Class names by label when the file has them (index 0 = background), else `label N` names. */
  classes: string[];
  /** Where the configuration came from: the file's metadata, or torchvision's defaults. */
  configSource: 'file' | 'torchvision-default';
}

/**
 * Checks that `value` has the shape of `reference` (same keys, same types, arrays of the same
 * kinds), naming the first path that differs: the one check of a configuration read from JSON.
 */
export function checkConfigJson(value: unknown, reference: unknown = defaultConfig(), path = 'config'): void {
  const kind = (v: unknown): string => (Array.isArray(v) ? 'array' : v === null ? 'null' : typeof v);
  if (kind(value) !== kind(reference)) throw new Error(`${path} should be ${kind(reference) === 'object' ? 'an object' : `a ${kind(reference)}`}, got ${JSON.stringify(value)}`);
  if (Array.isArray(reference)) {
    const items = value as unknown[];
    const example = reference[0];
    if (example !== undefined) items.forEach((item, i) => checkConfigJson(item, example, `${path}[${i}]`));
    return;
  }
  if (typeof reference === 'number') {
    if (!Number.isFinite(value)) throw new Error(`${path} should be a finite number, got ${JSON.stringify(value)}`);
    return;
  }
  if (kind(reference) !== 'object') return;
  const ref = reference as Record<string, unknown>;
  const obj = value as Record<string, unknown>;
  for (const key of Object.keys(ref)) {
    if (!(key in obj)) throw new Error(`${path}.${key} is missing`);
    checkConfigJson(obj[key], ref[key], `${path}.${key}`);
  }
  for (const key of Object.keys(obj)) if (!(key in ref)) throw new Error(`${path}.${key} is not a configuration field`);
}

/** The allowed values of the configuration's enumerated fields, by path. */
const CONFIG_CHOICES: ReadonlyArray<readonly [section: string, key: string, choices: readonly string[]]> = [
  ['backbone', 'block', ['basic', 'bottleneck']],
  ['backbone', 'norm', ['frozen', 'batch']],
  ['backbone', 'fpnNorm', ['none', 'batch']],
  ['roiHeads', 'maskHeadNorm', ['none', 'batch']],
  ['optimizer', 'kind', ['sgd', 'adamw']],
  ['roiHeads', 'pooler', ['roi_align', 'roi_align_max', 'roi_warp', 'roi_warp_max', 'roi_pool']],
  ['roiHeads', 'poolerLevels', ['fpn', 'stride16', 'stride32']],
  ['roiHeads', 'maskHead', ['fcn', 'mlp']],
  ['roiHeads', 'maskLoss', ['sigmoid', 'softmax']],
];

/**
 * Reads a configuration kept in a weights file or checkpoint: fills the fields added since older
 * files were written ({@link upgradeConfigJson}), then checks it field by field against
 * {@link checkConfigJson} and the allowed values of the enumerated fields, then range-checks it
 * ({@link checkConfig}) so that no model is built from absurd sizes. Errors name the field.
 */
export function readConfigJson(value: unknown): MaskRCNNConfig {
  const upgraded = upgradeConfigJson(value);
  checkConfigJson(upgraded);
  const config = upgraded as unknown as Record<string, Record<string, unknown>>;
  for (const [section, key, choices] of CONFIG_CHOICES) {
    const v = config[section]![key];
    if (!choices.includes(v as string)) throw new Error(`config.${section}.${key} should be one of ${choices.map((c) => `'${c}'`).join(', ')}, got ${briefJson(v)}`);
  }
  checkConfig(upgraded as MaskRCNNConfig);
  return upgraded as MaskRCNNConfig;
}

/** What a weights file's metadata says about the model inside it (see {@link readWeightsMetadata}). */
interface WeightsMetadata {
  /** The configuration JSON, unchecked (absent in a torchvision state dict). */
  config: unknown;
  /** Where it was found (for errors). */
  configKey: string;
  /** The class names JSON, unchecked. */
  classes: unknown;
  /** Where they were found (for errors). */
  classesKey: string;
  /** The prefix of the model's tensors: `'model.'` in a training checkpoint, else `''`. */
  prefix: string;
}

/**
 * Reads the metadata of a weights file written by {@link saveWeights}, of a training checkpoint
 * (its `extra.config` and `extra.classes`, tensors under `model.`) or of a torchvision state dict
 * (no metadata). Errors read `what: PATH ...`.
 */
function readWeightsMetadata(path: string, what: string): WeightsMetadata {
  if (!existsSync(path)) throw new Error(`${what}: ${path} does not exist`);
  let meta: Record<string, string>;
  try {
    const file = SafetensorsFile.open(path);
    meta = file.metadata ?? {};
    file.close();
  } catch (error) {
    throw new Error(`${what}: ${path} is not a readable weights file: ${(error as Error).message}`);
  }
  const entry = (key: string): string => `${what}: ${path}: metadata '${key}'`;
  let config: unknown = meta[WEIGHTS_CONFIG_KEY] === undefined ? undefined : parseJson(meta[WEIGHTS_CONFIG_KEY], entry(WEIGHTS_CONFIG_KEY));
  let classes: unknown = meta[WEIGHTS_CLASSES_KEY] === undefined ? undefined : parseJson(meta[WEIGHTS_CLASSES_KEY], entry(WEIGHTS_CLASSES_KEY));
  let configKey = WEIGHTS_CONFIG_KEY;
  let classesKey = WEIGHTS_CLASSES_KEY;
  let prefix = '';
  if (meta['format'] === CHECKPOINT_FORMAT) {
    prefix = 'model.';
    const extra = meta['extra'] === undefined ? {} : parseJson(meta['extra'], entry('extra'));
    if (extra === null || typeof extra !== 'object' || Array.isArray(extra)) throw new Error(`${entry('extra')} should be a JSON object, got ${briefJson(extra)}`);
    const fields = extra as Record<string, unknown>;
    if (fields['config'] !== undefined) [config, configKey] = [fields['config'], 'extra.config'];
    if (fields['classes'] !== undefined) [classes, classesKey] = [fields['classes'], 'extra.classes'];
  }
  return { config, configKey, classes, classesKey, prefix };
}

/** What {@link readWeightsConfig} returns. */
export interface WeightsFileConfig {
  /** The configuration the file carries (a project weights file or checkpoint); absent in a torchvision state dict. */
  config?: MaskRCNNConfig;
  /** The prefix of the model's tensors in the file: `'model.'` in a training checkpoint, else `''`. */
  prefix: string;
}

/**
 * The configuration a weights file carries, checked ({@link readConfigJson}), and the prefix of
 * its model tensors, without reading any tensor: what fine-tuning builds its model from before
 * {@link loadPretrained} fills it. A torchvision state dict has no configuration. Errors read
 * `what: PATH ...` and name the bad entry.
 */
export function readWeightsConfig(path: string, what = 'readWeightsConfig'): WeightsFileConfig {
  const { config, configKey, prefix } = readWeightsMetadata(path, what);
  if (config === undefined) return { prefix };
  try {
    return { config: readConfigJson(config), prefix };
  } catch (error) {
    throw new Error(`${what}: ${path} has a bad '${configKey}' entry: ${(error as Error).message}`);
  }
}

/**
 * The state-dict key prefixes of the class-specific predictors: the box predictor (`cls_score`,
 * `bbox_pred`) and the mask predictor's last layer (`mask_fcn_logits`, or `mask_fc_logits` of
 * the MLP mask head). Fine-tuning to another number of classes re-initialises exactly these, as
 * torchvision's fine-tuning tutorial replaces `FastRCNNPredictor` and `MaskRCNNPredictor`
 * (which keeps `conv5_mask` here: it does not depend on the classes).
 */
export const PREDICTOR_PREFIXES: readonly string[] = Object.freeze([
  'roi_heads.box_predictor.',
  'roi_heads.mask_predictor.mask_fcn_logits.',
  'roi_heads.mask_predictor.mask_fc_logits.',
]);

/** What {@link loadPretrained} did. */
export interface PretrainedLoad {
  /** The model's keys copied from the file, in state-dict order. */
  loaded: string[];
  /** The predictor keys left with the model's fresh initial weights (empty when the class counts agree). */
  reinitialized: string[];
  /** The number of classes of the file's box predictor (background included), when it has one. */
  fileClasses?: number;
}

/**
 * Loads pretrained weights into a freshly built `model` for fine-tuning: every tensor of the
 * model comes from the file (under `prefix`), except that when the file's box predictor has
 * another number of classes than the model, the class-specific predictors
 * ({@link PREDICTOR_PREFIXES}) keep the model's fresh initial weights. Anything else that does
 * not fit is an error: a tensor whose shape differs (naming the key and both shapes), a key the
 * file lacks, a key the model does not have. Element types and finiteness are checked as
 * {@link readStateDict} does. Nothing is copied unless everything fits.
 */
export function loadPretrained(model: MaskRCNN, path: string, options: { prefix?: string; what?: string } = {}): PretrainedLoad {
  const what = options.what ?? 'loadPretrained';
  if (!existsSync(path)) throw new Error(`${what}: ${path} does not exist`);
  const prefix = options.prefix ?? '';
  let dict: Map<string, Tensor>;
  let file: SafetensorsFile;
  try {
    file = SafetensorsFile.open(path);
  } catch (error) {
    throw new Error(`${what}: ${path} is not a readable weights file: ${(error as Error).message}`);
  }
  try {
    dict = readStateDict(file, model, { prefix });
  } catch (error) {
    throw new Error(`${what}: ${(error as Error).message}`);
  } finally {
    file.close();
  }
  const own = model.stateDict();
  const classTensor = dict.get(CLASS_KEY);
  const fileClasses = classTensor !== undefined && classTensor.ndim === 2 ? classTensor.shape[0]! : undefined;
  const isPredictor = (key: string): boolean => PREDICTOR_PREFIXES.some((p) => key.startsWith(p));
  const reinit = fileClasses !== undefined && fileClasses !== model.config.numClasses;
  const reinitialized = reinit ? [...own.keys()].filter(isPredictor) : [];
  const merged = new Map<string, Tensor>();
  const mismatches: string[] = [];
  for (const [key, value] of dict) {
    if (reinit && isPredictor(key)) continue;
    const target = own.get(key);
    if (target !== undefined && value.shape.join() !== target.shape.join()) {
      mismatches.push(`'${key}' is [${value.shape.join(', ')}] in the file but [${target.shape.join(', ')}] in the model`);
    }
    merged.set(key, value);
  }
  if (mismatches.length > 0) {
    const why = fileClasses === undefined || reinit ? '' : ` (the file has ${fileClasses} classes, as the model: only the predictors may differ, and only in the number of classes)`;
    throw new Error(`${what}: ${path} does not fit the model's architecture${why}: ${mismatches.join('; ')}`);
  }
  for (const key of reinitialized) merged.set(key, own.get(key)!);
  try {
    model.loadStateDict(merged);
  } catch (error) {
    throw new Error(`${what}: ${path} is not a state dict of this Mask R-CNN:\n${(error as Error).message}`);
  }
  const skipped = new Set(reinitialized);
  return { loaded: [...own.keys()].filter((k) => !skipped.has(k)), reinitialized, ...(fileClasses === undefined ? {} : { fileClasses }) };
}

/**
 * Loads a weights file written by {@link saveWeights}, a training checkpoint (its `model.`
 * tensors and the configuration kept with them), or a torchvision state dict converted by
 * `tools/convert_torchvision.py` (no configuration inside: {@link loadTorchvision}'s defaults).
 * The model comes back in evaluation mode. Errors name the file and what is wrong with it.
 */
export function loadWeights(path: string, options: LoadTorchvisionOptions = {}): LoadedWeights {
  const { config, configKey, classes, classesKey, prefix } = readWeightsMetadata(path, 'loadWeights');
  if (config === undefined && options.config === undefined) {
    const model = loadTorchvision(path, options);
    return { model, classes: labelNames(model.config.numClasses), configSource: 'torchvision-default' };
  }
  let resolved = options.config;
  if (resolved === undefined) {
    try {
      resolved = readConfigJson(config);
    } catch (error) {
      throw new Error(`loadWeights: ${path} has a bad '${configKey}' entry: ${(error as Error).message}`);
    }
  }
  const names = classes === undefined ? labelNames(resolved.numClasses) : checkClassNames(classes, resolved.numClasses, `loadWeights: ${path}: '${classesKey}'`);
  const model = buildAndLoad(path, resolved, prefix, options, 'loadWeights', 'does not fit its own configuration');
  model.eval();
  return { model, classes: names, configSource: 'file' };
}

/** The class names of a weights file that has none: `__background__`, then `label 1`, `label 2`, ... */
export function labelNames(numClasses: number): string[] {
  return Array.from({ length: numClasses }, (_, i) => (i === 0 ? '__background__' : `label ${i}`));
}
