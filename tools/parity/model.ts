/**
 * Parity of the project's network against a model fixture directory written by
 * `tools/oracle/gen_model.py` (format `maskrcnn-oracle-model/1`: `weights.safetensors`,
 * `model_meta.json`, `goldens_<run>.safetensors`; see the oracle spec, "Model fixtures").
 *
 * The backbone is built from `model_meta.json`'s config, loaded from `weights.safetensors` by
 * torchvision's key names (strictly: every `backbone.*` key must be used), and replayed stage by
 * stage on each eval run: `transform.images` -> `backbone.body.0..3` (C2..C5), then the golden
 * C2..C5 -> `fpn.0..3`, `fpn.pool` (P2..P6). Each stage is fed the golden output of the stage
 * before it, so an error points at one stage. Later stages (RPN, RoI heads) extend `STAGES`.
 *
 * Tolerance: a deep float32 network accumulates rounding differently from torch's kernels, so
 * values are compared relative to the tensor's scale: `|got - want| <= 1e-5 + 1e-4 * max|want|`
 * (torch itself differs by ~1e-6 relative between a batch of 2 and single images).
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Tensor, concat, gather, noGrad, zeros } from '../../lib/tensor/index.js';
import { type MaskRCNN, configFromFixture, loadTorchvision, parseTraceKey, TraceRecorder, type FixtureConfigJson, type TraceKey, type TraceStage } from '../../lib/maskrcnn/index.js';
import { type BackendName, withBackend } from '../../lib/ops/index.js';
import { SafetensorsFile, ResNet, resnetFpnBackbone, type BackboneWithFPN } from '../../lib/nn/index.js';
import type { ParityLine } from './harness.js';

/** Options of {@link runModelParity}. */
export interface ModelParityOptions {
  /** The backend to run on (default: the active one). */
  backend?: BackendName;
  /** Only these runs (default: every run in `model_meta.json`). */
  runs?: string[];
  /** Only these stages (names of the stage table; default all). */
  stages?: string[];
  /** Also run the whole model on the run's images (default `true`). */
  endToEnd?: boolean;
  /** Include the `train` run when `runs` is not given (default `true`). */
  train?: boolean;
}

/** The parts of `model_meta.json` the backbone parity reads. */
interface ModelMeta {
  format: string;
  config: {
    backbone: { block: string; stem_channels: number; widths: number[]; blocks_per_stage: number[]; return_layers: Record<string, string> };
    fpn: { out_channels: number };
  };
  runs: Record<string, RunMeta>;
}

/** The parts of a run's entry in `model_meta.json` the parity reads. */
interface RunMeta {
  file: string;
  input_sizes_hw: Array<[number, number]>;
  padded_batch_shape: number[];
  omitted_tensors?: string[];
}

/** True when `dir` holds a model fixture (its `weights.safetensors`), not an operator fixture. */
export function isModelFixtureDir(dir: string): boolean {
  return existsSync(join(dir, 'weights.safetensors'));
}

/** Builds the fixture's backbone (ResNet body + FPN) from `model_meta.json` and loads its weights. */
export function loadFixtureBackbone(dir: string): BackboneWithFPN {
  const meta = readMeta(dir);
  const b = meta.config.backbone;
  const block = b.block === 'BasicBlock' ? 'basic' : b.block === 'Bottleneck' ? 'bottleneck' : null;
  if (block === null) throw new Error(`model parity: unknown block '${b.block}' in ${dir}/model_meta.json`);
  const resnet = new ResNet({
    block,
    layers: b.blocks_per_stage as [number, number, number, number],
    stemChannels: b.stem_channels,
    widths: b.widths as [number, number, number, number],
    norm: 'frozen',
    numClasses: null,
    initialize: false,
  });
  const returned = Object.keys(b.return_layers).map((name) => Number(name.replace('layer', '')));
  const backbone = resnetFpnBackbone(resnet, { returnedLayers: returned, outChannels: meta.config.fpn.out_channels, trainableLayers: 5, initialize: false });
  backbone.loadSafetensors(join(dir, 'weights.safetensors'), { prefix: 'backbone.' });
  return backbone;
}

function readMeta(dir: string): ModelMeta {
  const path = join(dir, 'model_meta.json');
  let meta: ModelMeta;
  try {
    meta = JSON.parse(readFileSync(path, 'utf8')) as ModelMeta;
  } catch (error) {
    throw new Error(`model parity: cannot read ${path}: ${(error as Error).message}`);
  }
  if (meta.format !== 'maskrcnn-oracle-model/1') throw new Error(`model parity: ${path} has format ${JSON.stringify(meta.format)}, expected maskrcnn-oracle-model/1`);
  return meta;
}

/** The goldens of one run, read lazily by name. */
class Goldens {
  constructor(private readonly file: SafetensorsFile) {}
  has(name: string): boolean {
    return this.file.header.entries.has(name);
  }
  get(name: string): Tensor {
    return this.file.read(name);
  }
  names(): string[] {
    return [...this.file.header.entries.keys()];
  }
}

/** Compares with the model tolerance (relative to the tensor's scale). */
function compareScaled(name: string, run: string, got: Tensor, want: Tensor): ParityLine {
  const base = { op: name, caseName: run };
  if (got.shape.join() !== want.shape.join()) {
    return { ...base, status: 'FAIL', maxAbs: Infinity, maxRel: Infinity, detail: `shape [${got.shape}] != [${want.shape}]` };
  }
  let scale = 0;
  for (let i = 0; i < want.size; i++) scale = Math.max(scale, Math.abs(want.data[i]!));
  const tol = 1e-5 + 1e-4 * scale;
  let maxAbs = 0;
  let worst = -1;
  for (let i = 0; i < want.size; i++) {
    const err = Math.abs(got.data[i]! - want.data[i]!);
    if (Number.isNaN(err)) {
      // NaN is the worst error there is (and a NaN golden must be matched by NaN).
      if (Number.isNaN(got.data[i]!) && Number.isNaN(want.data[i]!)) continue;
      maxAbs = NaN;
      worst = i;
      break;
    }
    if (err > maxAbs) {
      maxAbs = err;
      worst = i;
    }
  }
  const ok = maxAbs <= tol;
  return {
    ...base,
    status: ok ? 'PASS' : 'FAIL',
    maxAbs,
    maxRel: scale === 0 ? maxAbs : maxAbs / scale,
    ...(ok ? {} : { detail: `${name}[${worst}] = ${got.data[worst]}, want ${want.data[worst]} (tolerance ${tol.toExponential(2)})` }),
  };
}

/** The tolerance {@link compareScaled} uses for a golden tensor: `1e-5 + 1e-4 * max|want|`. */
function scaledTolerance(want: Tensor): number {
  let scale = 0;
  for (let i = 0; i < want.size; i++) scale = Math.max(scale, Math.abs(want.data[i]!));
  return 1e-5 + 1e-4 * scale;
}

/** Rows of a `[R, C]` (or `[R]`, one column) tensor as an accessor. */
function rowsOf(t: Tensor): { rows: number; cols: number; at: (r: number, c: number) => number } {
  const rows = t.ndim === 0 ? 1 : t.shape[0]!;
  const cols = rows === 0 ? 0 : t.size / rows;
  return { rows, cols, at: (r, c) => t.data[r * cols + c]! };
}

/**
 * The row permutation that pairs `got`'s rows with `want`'s when the row ORDER is not part of
 * the contract, or a reason why none exists within tolerance. `got` and `want` are parallel lists
 * of tensors that share their rows (e.g. proposals_with_gt, labels, matched_idxs and
 * regression_targets of one image): a row is the concatenation of row r of every tensor, so
 * pairs stay aligned (a regression target is compared with the one of the SAME proposal, never
 * sorted on its own, which would hide a target paired with the wrong proposal).
 *
 * Method: sort the rows of both sides lexicographically (first tensor's columns first) and pair
 * them in sorted order; that is exact when equal rows are equal bit for bit. Float32 rounding can
 * swap two rows whose leading coordinates differ by less than the tolerance, so where the sorted
 * pairing leaves a row out of tolerance, pairing falls back to a greedy nearest-row match inside
 * the window of rows whose first column lies within tolerance (the rows are sorted on it), the
 * distance being the largest column error divided by that tensor's tolerance (<= 1 is a match).
 * Returns `perm` with `perm[wantRow] = gotRow`.
 */
export function matchRowsUnordered(got: readonly Tensor[], want: readonly Tensor[], tolerances: readonly number[]): { perm: Int32Array } | { error: string } {
  const g = got.map(rowsOf);
  const w = want.map(rowsOf);
  const rows = w[0]!.rows;
  for (let k = 0; k < w.length; k++) {
    if (got[k]!.shape.join() !== want[k]!.shape.join()) return { error: `shape [${got[k]!.shape}] != [${want[k]!.shape}]` };
    if (w[k]!.rows !== rows) return { error: `tensor ${k} has ${w[k]!.rows} rows, the first has ${rows}` };
  }
  const lexOrder = (side: typeof g): Int32Array => {
    const order = Int32Array.from({ length: rows }, (_, i) => i);
    order.sort((a, b) => {
      for (const t of side) {
        for (let c = 0; c < t.cols; c++) {
          const d = t.at(a, c) - t.at(b, c);
          if (d !== 0) return d;
        }
      }
      return a - b;
    });
    return order;
  };
  // Distance of got row a from want row b: the largest error relative to each tensor's tolerance.
  const distance = (a: number, b: number): number => {
    let worst = 0;
    for (let k = 0; k < w.length; k++) {
      for (let c = 0; c < w[k]!.cols; c++) {
        const d = Math.abs(g[k]!.at(a, c) - w[k]!.at(b, c)) / tolerances[k]!;
        if (!(d <= worst)) worst = Number.isNaN(d) ? Infinity : d;
      }
    }
    return worst;
  };
  const gotOrder = lexOrder(g);
  const wantOrder = lexOrder(w);
  const perm = new Int32Array(rows);
  let sortedOk = true;
  for (let i = 0; i < rows; i++) {
    perm[wantOrder[i]!] = gotOrder[i]!;
    if (distance(gotOrder[i]!, wantOrder[i]!) > 1) sortedOk = false;
  }
  if (sortedOk || rows === 0 || w[0]!.cols === 0) return { perm };
  // Greedy fallback in the window |got[., 0] - want[r, 0]| <= tolerance of the first tensor.
  const key = (i: number): number => g[0]!.at(gotOrder[i]!, 0);
  const tol0 = tolerances[0]!;
  const used = new Uint8Array(rows);
  for (let i = 0; i < rows; i++) {
    const r = wantOrder[i]!;
    const x = w[0]!.at(r, 0);
    let lo = 0;
    let hi = rows;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (key(mid) < x - tol0) lo = mid + 1;
      else hi = mid;
    }
    let best = -1;
    let bestD = Infinity;
    for (let j = lo; j < rows && key(j) <= x + tol0; j++) {
      if (used[j]) continue;
      const d = distance(gotOrder[j]!, r);
      if (d < bestD) {
        bestD = d;
        best = j;
        if (d === 0) break;
      }
    }
    if (best < 0 || bestD > 1) return { error: `no row within tolerance matches golden row ${r} [${want.map((_, k) => Array.from({ length: w[k]!.cols }, (_, c) => w[k]!.at(r, c)).join(', ')).join(' | ')}]` };
    used[best] = 1;
    perm[r] = gotOrder[best]!;
  }
  return { perm };
}

/** Rows `perm[0], perm[1], ...` of `t` (a `[R, ...]` tensor). */
function takeRows(t: Tensor, perm: Int32Array): Tensor {
  const rowSize = t.shape[0] === 0 ? 0 : t.size / t.shape[0]!;
  const data = new (t.data.constructor as new (n: number) => typeof t.data)(t.size);
  perm.forEach((src, dst) => data.set(t.data.subarray(src * rowSize, (src + 1) * rowSize), dst * rowSize));
  return new Tensor(data, [...t.shape]);
}

/**
 * Golden tensors of the train run's END-TO-END pass whose row order is not checked. The train
 * run keeps 2000 proposals per level through the RPN's NMS, which the fixture does not
 * margin-check (spec, "Training golden"): near-equal scores may come out of the sort in another
 * order, so `train.rpn.proposals.i` is compared as a set of rows, and the RoI head's per-proposal
 * tensors (rows = those proposals + the appended GT boxes) as a set of aligned rows keyed on
 * `proposals_with_gt`. Everything computed from these rows is a sum over them (the losses, the
 * gradients), which the end-to-end pass still compares exactly. The golden-fed train stages keep
 * the strict row-by-row comparison.
 */
const UNORDERED_GROUPS: string[][] = [
  ['train.rpn.proposals.'],
  ['train.roi_heads.proposals_with_gt.', 'train.roi_heads.regression_targets.', 'train.roi_heads.matched_idxs.', 'train.roi_heads.labels.'],
];

/**
 * Compares the {@link UNORDERED_GROUPS} of `computed` with the goldens as sets of aligned rows
 * (see {@link matchRowsUnordered}), one line per tensor, and removes them from `computed`.
 */
function compareUnordered(computed: Map<string, Tensor>, goldens: Goldens, caseName: string): ParityLine[] {
  const lines: ParityLine[] = [];
  for (const group of UNORDERED_GROUPS) {
    for (let i = 0; computed.has(`${group[0]}${i}`); i++) {
      const names = group.map((p) => `${p}${i}`).filter((n) => computed.has(n) && goldens.has(n));
      const got = names.map((n) => computed.get(n)!);
      for (const n of group) computed.delete(`${n}${i}`);
      if (names[0] !== `${group[0]}${i}`) continue; // no golden key tensor: nothing to compare
      const want = names.map((n) => goldens.get(n));
      const matched = matchRowsUnordered(got, want, want.map(scaledTolerance));
      names.forEach((name, k) => {
        const base = { op: name, caseName: `${caseName} (rows unordered)` };
        if ('error' in matched) lines.push({ ...base, status: 'FAIL', maxAbs: Infinity, maxRel: Infinity, detail: matched.error });
        else lines.push({ ...compareScaled(name, caseName, takeRows(got[k]!, matched.perm), want[k]!), caseName: base.caseName });
      });
    }
  }
  return lines;
}

/**
 * The fixture's names that are not stages of the model's trace: the targets the oracle trained
 * on, the training batch's image sizes, the summed loss and the gradients. Every other golden
 * name must be a {@link TraceKey} of `lib/maskrcnn/model/trace.ts`; {@link runModelParity} fails a
 * name that is neither, so the oracle's names (`tools/oracle/gen_model.py`) and the typed list
 * cannot drift apart.
 */
export type FixtureOnlyKey = `target.${'boxes' | 'labels' | 'masks'}.${number}` | 'train.transform.image_sizes' | 'loss.total' | `grad.${string}`;

/** A golden tensor's name: a stage of the trace or a {@link FixtureOnlyKey}. */
export type GoldenKey = TraceKey | FixtureOnlyKey;

/** Whether `name` is a {@link GoldenKey}. */
export function isGoldenKey(name: string): name is GoldenKey {
  return parseTraceKey(name) !== undefined || /^(target\.(boxes|labels|masks)\.\d+|train\.transform\.image_sizes|loss\.total|grad\..+)$/.test(name);
}

/** The inputs a stage may read: golden tensors by name, the run's metadata, the model. */
interface StageContext {
  model: MaskRCNN;
  input: (name: GoldenKey) => Tensor | undefined;
  run: RunMeta;
}

/** What a stage computes from the goldens (its golden inputs), by golden name; null when its inputs are missing. */
type Stage = (ctx: StageContext) => Map<GoldenKey, Tensor> | null;

const LEVELS = ['0', '1', '2', '3'] as const;
const PYRAMID = [...LEVELS, 'pool'] as const;

/** Golden tensors `prefix.0`, `prefix.1`, ... of every image, or null if one is missing. */
function perImage(ctx: StageContext, prefix: 'target.labels' | `${'' | 'train.'}${TraceStage}`): Tensor[] | null {
  const out: Tensor[] = [];
  for (let i = 0; i < ctx.run.input_sizes_hw.length; i++) {
    const t = ctx.input(`${prefix}.${i}` as GoldenKey);
    if (t === undefined) return null;
    out.push(t);
  }
  return out;
}

function imageSizes(ctx: StageContext, name: GoldenKey = 'transform.image_sizes'): Array<[number, number]> | null {
  const t = ctx.input(name);
  if (t === undefined) return null;
  return Array.from({ length: t.shape[0]! }, (_, i) => [t.data[2 * i]!, t.data[2 * i + 1]!] as [number, number]);
}

function pyramid(ctx: StageContext): Map<string, Tensor> | null {
  const maps = PYRAMID.map((l) => ctx.input(`fpn.${l}`));
  if (maps.some((m) => m === undefined)) return null;
  return new Map(PYRAMID.map((l, i) => [l, maps[i]!]));
}

/** The stages, in order: each is fed golden inputs and produces golden outputs. */
const STAGES: Array<[string, Stage]> = [
  [
    'transform',
    ({ model, input, run }) => {
      const images = run.input_sizes_hw.map((_, i) => input(`input.image.${i}`));
      if (images.some((t) => t === undefined)) return null;
      const { images: list } = model.transform.forward(images as Tensor[]);
      return new Map<GoldenKey, Tensor>([
        ['transform.images', list.tensors],
        ['transform.image_sizes', new Tensor(Int32Array.from(list.imageSizes.flat()), [list.imageSizes.length, 2])],
      ]);
    },
  ],
  [
    'backbone.body',
    ({ model, input }) => {
      const images = input('transform.images');
      if (images === undefined) return null;
      const tr = new TraceRecorder(false);
      tr.setEach('backbone.body', model.backbone.body.forward(images));
      return tr.tensors;
    },
  ],
  [
    'fpn',
    ({ model, input }) => {
      const body = LEVELS.map((l) => input(`backbone.body.${l}`));
      if (body.some((t) => t === undefined)) return null;
      const tr = new TraceRecorder(false);
      tr.setEach('fpn', model.backbone.fpn.forward(new Map(LEVELS.map((l, i) => [l, body[i]!]))));
      return tr.tensors;
    },
  ],
  [
    'rpn (head, anchors, decode, filter_proposals)',
    (ctx) => {
      const features = pyramid(ctx);
      const sizes = imageSizes(ctx);
      if (features === null || sizes === null) return null;
      const n = sizes.length;
      const [, , hp, wp] = ctx.run.padded_batch_shape;
      const tensors = zeros([n, 3, hp!, wp!]); // only its shape is read (anchors)
      const trace = new TraceRecorder(false);
      ctx.model.rpn.forward({ tensors, imageSizes: sizes }, features, undefined, trace);
      return trace.tensors;
    },
  ],
  [
    'rpn.filter_proposals (golden logits and decoded boxes)',
    (ctx) => {
      const objectness = ctx.input('rpn.objectness_flat');
      const decoded = ctx.input('rpn.decoded_proposals');
      const counts = ctx.input('rpn.num_anchors_per_level');
      const sizes = imageSizes(ctx);
      if (objectness === undefined || decoded === undefined || counts === undefined || sizes === null) return null;
      const { boxes, scores } = ctx.model.rpn.filterProposals(decoded, objectness, sizes, Array.from(counts.data));
      const trace = new TraceRecorder(false);
      trace.setEach('rpn.proposals', boxes);
      trace.setEach('rpn.proposal_scores', scores);
      return trace.tensors;
    },
  ],
  [
    'roi_heads (box branch, postprocess, mask branch from golden proposals)',
    (ctx) => {
      const features = pyramid(ctx);
      const sizes = imageSizes(ctx);
      const proposals = perImage(ctx, 'rpn.proposals');
      if (features === null || sizes === null || proposals === null) return null;
      const trace = new TraceRecorder(false);
      ctx.model.roi_heads.forward(features, proposals, sizes, undefined, trace);
      return trace.tensors;
    },
  ],
  [
    'roi_heads.postprocess_detections (golden logits and regressions)',
    (ctx) => {
      const logits = ctx.input('roi_heads.class_logits');
      const regression = ctx.input('roi_heads.box_regression');
      const sizes = imageSizes(ctx);
      const proposals = perImage(ctx, 'rpn.proposals');
      if (logits === undefined || regression === undefined || sizes === null || proposals === null) return null;
      const trace = new TraceRecorder(false);
      const detections = ctx.model.roi_heads.postprocessDetections(logits, regression, proposals, sizes, trace);
      detections.forEach((d, i) => {
        trace.set('roi_heads.detections.boxes', d.boxes, i);
        trace.set('roi_heads.detections.scores', d.scores, i);
        trace.set('roi_heads.detections.labels', d.labels, i);
      });
      return trace.tensors;
    },
  ],
  [
    'roi_heads mask branch (golden detections)',
    (ctx) => {
      const features = pyramid(ctx);
      const sizes = imageSizes(ctx);
      const boxes = perImage(ctx, 'roi_heads.detections.boxes');
      const labels = perImage(ctx, 'roi_heads.detections.labels');
      if (features === null || sizes === null || boxes === null || labels === null) return null;
      const trace = new TraceRecorder(false);
      const logits = ctx.model.roi_heads.maskForward(features, boxes, sizes, trace);
      let offset = 0;
      boxes.forEach((b, i) => {
        const n = b.shape[0]!;
        const probs = logits.narrow(0, offset, n).sigmoid();
        const hw = logits.shape[2]! * logits.shape[3]!;
        const index = new Int32Array(n * hw);
        for (let j = 0; j < n; j++) index.fill(labels[i]!.data[j]!, j * hw, (j + 1) * hw);
        trace.set('roi_heads.detections.mask_probs', gather(probs, 1, new Tensor(index, [n, 1, logits.shape[2]!, logits.shape[3]!])), i);
        offset += n;
      });
      return trace.tensors;
    },
  ],
  [
    'transform.postprocess (golden detections)',
    (ctx) => {
      const sizes = imageSizes(ctx);
      const boxes = perImage(ctx, 'roi_heads.detections.boxes');
      const scores = perImage(ctx, 'roi_heads.detections.scores');
      const labels = perImage(ctx, 'roi_heads.detections.labels');
      const masks = perImage(ctx, 'roi_heads.detections.mask_probs');
      if (sizes === null || boxes === null || scores === null || labels === null || masks === null) return null;
      const dets = boxes.map((b, i) => ({ boxes: b, scores: scores[i]!, labels: labels[i]!, masks: masks[i]! }));
      const out = ctx.model.transform.postprocess(dets, sizes, ctx.run.input_sizes_hw);
      const result = new TraceRecorder(false);
      out.forEach((d, i) => {
        result.set('output.boxes', d.boxes, i);
        result.set('output.labels', d.labels, i);
        result.set('output.scores', d.scores, i);
        result.set('output.masks', d.masks!, i);
      });
      return result.tensors;
    },
  ],
];

/** Training stages fed golden inputs: RPN anchor targets and RoI-head sampling from the golden train proposals. */
const TRAIN_STAGES: Array<[string, Stage]> = [
  [
    'train.rpn.assign_targets_to_anchors',
    (ctx) => {
      const boxes = perImage(ctx, 'train.transform.target_boxes');
      const sizes = imageSizes(ctx, 'train.transform.image_sizes');
      if (boxes === null || sizes === null) return null;
      // The padded batch: the largest resized sides rounded up to 32.
      const hp = Math.ceil(Math.max(...sizes.map((s) => s[0])) / 32) * 32;
      const wp = Math.ceil(Math.max(...sizes.map((s) => s[1])) / 32) * 32;
      const cfg = ctx.model.rpn.anchorGenerator;
      const strides = [4, 8, 16, 32, 64];
      const grid = cfg.gridAnchors([hp, wp], strides.map((s) => [Math.ceil(hp / s), Math.ceil(wp / s)] as [number, number]));
      const targets = boxes.map((b) => ({ boxes: b, labels: new Tensor(new Int32Array(b.shape[0]!), [b.shape[0]!]), masks: new Tensor(new Int32Array(0), [0, 0, 0]) }));
      const { labels, matchedGtBoxes } = ctx.model.rpn.assignTargetsToAnchors(boxes.map(() => grid), targets);
      const trace = new TraceRecorder(true);
      trace.setEach('rpn.anchor_labels', labels);
      trace.setEach('rpn.matched_gt_boxes', matchedGtBoxes);
      return trace.tensors;
    },
  ],
  [
    'train.roi_heads.select_training_samples',
    (ctx) => {
      const proposals = perImage(ctx, 'train.rpn.proposals');
      const boxes = perImage(ctx, 'train.transform.target_boxes');
      const labels = perImage(ctx, 'target.labels');
      if (proposals === null || boxes === null || labels === null) return null;
      const targets = boxes.map((b, i) => ({ boxes: b, labels: labels[i]!, masks: new Tensor(new Int32Array(0), [0, 0, 0]) }));
      const s = ctx.model.roi_heads.selectTrainingSamples(proposals, targets);
      const trace = new TraceRecorder(true);
      trace.setEach('roi_heads.proposals_with_gt', s.proposals);
      trace.setEach('roi_heads.matched_idxs', s.matchedIdxs);
      trace.setEach('roi_heads.labels', s.labels);
      trace.setEach('roi_heads.regression_targets', s.regressionTargets);
      return trace.tensors;
    },
  ],
];

/** The whole model on the run's input images: every golden it produces (eval), or the losses and gradients (train). */
function endToEnd(ctx: StageContext, train: boolean): Map<GoldenKey, Tensor> | null {
  const images = ctx.run.input_sizes_hw.map((_, i) => ctx.input(`input.image.${i}`));
  if (images.some((t) => t === undefined)) return null;
  if (!train) {
    ctx.model.eval();
    return noGrad(() => ctx.model.forward(images as Tensor[], undefined, { trace: true }).trace);
  }
  const targets = images.map((_, i) => ({ boxes: ctx.input(`target.boxes.${i}`)!, labels: ctx.input(`target.labels.${i}`)!, masks: ctx.input(`target.masks.${i}`)! }));
  ctx.model.train();
  for (const p of ctx.model.parameters()) p.grad = null;
  const out = ctx.model.forward(images as Tensor[], targets, { trace: true });
  const total = Object.values(out.losses).reduce((a, b) => a.add(b));
  total.backward();
  const result: Map<GoldenKey, Tensor> = out.trace;
  result.set('loss.total', total);
  for (const [k, p] of ctx.model.namedParameters()) if (p.grad) result.set(`grad.${k}`, p.grad);
  ctx.model.eval();
  return result;
}

/** Builds the fixture's Mask R-CNN from `model_meta.json`'s config and loads `weights.safetensors` strictly. */
export function loadFixtureModel(dir: string): MaskRCNN {
  const meta = readMeta(dir);
  // The same strict loader a user's converted torchvision weights go through.
  return loadTorchvision(join(dir, 'weights.safetensors'), { config: configFromFixture(meta.config as unknown as FixtureConfigJson) });
}

/**
 * Replays the model fixture in `dir` (see the file comment) and returns one {@link ParityLine}
 * per golden tensor compared (`op` = the tensor's name, `caseName` = the run and the stage).
 * A batch run whose large tensors were left out (a compact fixture) takes its images, C2..C5
 * and P2..P6 from the single-image runs, which the spec says they equal.
 */
export function runModelParity(dir: string, options: ModelParityOptions = {}): ParityLine[] {
  const run = (): ParityLine[] => {
    const meta = readMeta(dir);
    const model = loadFixtureModel(dir);
    const lines: ParityLine[] = [];
    const runs = Object.keys(meta.runs).filter((r) => (options.runs === undefined ? r !== 'train' || options.train !== false : options.runs.includes(r)));
    const opened = new Map<string, Goldens>();
    const files: SafetensorsFile[] = [];
    const open = (r: string): Goldens => {
      let g = opened.get(r);
      if (g === undefined) {
        const file = SafetensorsFile.open(join(dir, meta.runs[r]!.file));
        files.push(file);
        g = new Goldens(file);
        opened.set(r, g);
      }
      return g;
    };
    try {
      for (const r of runs) {
        const goldens = open(r);
        const singles = Object.keys(meta.runs).filter((s) => s !== 'train' && s !== 'batch' && s !== r && open(s).has('input.image.0'));
        const input = (name: GoldenKey): Tensor | undefined => {
          if (goldens.has(name)) return goldens.get(name);
          if (singles.length < 2) return undefined;
          // A compact batch (or train) run: image i is the i-th single run's image.
          const image = /^input\.image\.(\d+)$/.exec(name);
          if (image) return singles[Number(image[1])] !== undefined ? open(singles[Number(image[1])]!).get('input.image.0') : undefined;
          if (r === 'train' || !(name === 'transform.images' || name.startsWith('backbone.body.') || name.startsWith('fpn.'))) return undefined;
          const parts = singles.map((s) => open(s).get(name));
          if (parts.some((p) => p.shape.slice(1).join() !== parts[0]!.shape.slice(1).join())) return undefined;
          return concat(parts, 0);
        };
        const ctx: StageContext = { model, input, run: meta.runs[r]! };
        for (const name of goldens.names()) {
          if (!isGoldenKey(name)) lines.push({ op: name, caseName: `${r} names`, status: 'FAIL', maxAbs: NaN, maxRel: NaN, detail: 'neither a stage of lib/maskrcnn/model/trace.ts (TRACE_STAGES) nor a fixture-only name (FixtureOnlyKey)' });
        }
        const compare = (stage: string, computed: Map<GoldenKey, Tensor> | null): void => {
          if (computed === null) return;
          for (const [name, got] of computed) {
            if (goldens.has(name)) lines.push(compareScaled(name, `${r} ${stage}`, got, goldens.get(name)));
          }
        };
        if (r === 'train') {
          for (const [stage, fn] of TRAIN_STAGES) compare(stage, noGrad(() => fn(ctx)));
          if (options.endToEnd !== false) {
            const computed = endToEnd(ctx, true);
            if (computed !== null) lines.push(...compareUnordered(computed, goldens, `${r} end to end`));
            compare('end to end', computed);
          }
          continue;
        }
        for (const [stage, fn] of STAGES) {
          if (options.stages !== undefined && !options.stages.includes(stage)) continue;
          compare(stage, noGrad(() => fn(ctx)));
        }
        if (options.endToEnd !== false) compare('end to end', endToEnd(ctx, false));
      }
    } finally {
      for (const f of files) f.close();
    }
    return lines;
  };
  return options.backend === undefined ? run() : withBackend(options.backend, run);
}
