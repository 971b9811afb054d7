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
import { Tensor, concat, noGrad } from '../../lib/index.js';
import { type BackendName, withBackend } from '../../lib/ops/index.js';
import { SafetensorsFile, ResNet, resnetFpnBackbone, type BackboneWithFPN } from '../../lib/nn/index.js';
import type { ParityLine } from './harness.js';

/** Options of {@link runModelParity}. */
export interface ModelParityOptions {
  /** The backend to run on (default: the active one). */
  backend?: BackendName;
  /** Only these runs (default: every eval run in `model_meta.json`). */
  runs?: string[];
}

/** The parts of `model_meta.json` the backbone parity reads. */
interface ModelMeta {
  format: string;
  config: {
    backbone: { block: string; stem_channels: number; widths: number[]; blocks_per_stage: number[]; return_layers: Record<string, string> };
    fpn: { out_channels: number };
  };
  runs: Record<string, { file: string; padded_batch_shape?: number[]; omitted_tensors?: string[] }>;
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

/** What a stage computes from the goldens (its golden inputs), by golden name. */
type Stage = (backbone: BackboneWithFPN, inputs: (name: string) => Tensor | undefined) => Map<string, Tensor> | null;

const LEVELS = ['0', '1', '2', '3'];

/** The stages, in order: each needs golden inputs and produces golden outputs. */
const STAGES: Array<[string, Stage]> = [
  [
    'backbone.body',
    (backbone, input) => {
      const images = input('transform.images');
      if (images === undefined) return null;
      const out = backbone.body.forward(images);
      return new Map([...out].map(([k, v]) => [`backbone.body.${k}`, v]));
    },
  ],
  [
    'fpn',
    (backbone, input) => {
      const body = LEVELS.map((l) => input(`backbone.body.${l}`));
      if (body.some((t) => t === undefined)) return null;
      const out = backbone.fpn.forward(new Map(LEVELS.map((l, i) => [l, body[i]!])));
      return new Map([...out].map(([k, v]) => [`fpn.${k}`, v]));
    },
  ],
];

/**
 * Replays the model fixture in `dir` on the backbone (see the file comment) and returns one
 * {@link ParityLine} per golden tensor compared (`op` = the tensor's name, `caseName` = the run).
 * A batch run whose large tensors were left out (a compact fixture) takes its images and
 * C2..C5 from the single-image runs, which the spec says they equal.
 */
export function runModelParity(dir: string, options: ModelParityOptions = {}): ParityLine[] {
  const run = (): ParityLine[] => {
    const meta = readMeta(dir);
    const backbone = loadFixtureBackbone(dir);
    const lines: ParityLine[] = [];
    const evalRuns = Object.keys(meta.runs).filter((r) => r !== 'train' && (options.runs === undefined || options.runs.includes(r)));
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
      for (const r of evalRuns) {
        const goldens = open(r);
        const singles = Object.keys(meta.runs).filter((s) => s !== 'train' && s !== r && open(s).has('transform.images'));
        const input = (name: string): Tensor | undefined => {
          if (goldens.has(name)) return goldens.get(name);
          // A compact batch run: stack the single runs' tensors (same padded size) in image order.
          if (singles.length < 2 || !(name === 'transform.images' || name.startsWith('backbone.body.'))) return undefined;
          const parts = singles.map((s) => open(s).get(name));
          if (parts.some((p) => p.shape.slice(1).join() !== parts[0]!.shape.slice(1).join())) return undefined;
          return concat(parts, 0);
        };
        for (const [, stage] of STAGES) {
          const computed = noGrad(() => stage(backbone, input));
          if (computed === null) continue;
          for (const [name, got] of computed) {
            if (goldens.has(name)) lines.push(compareScaled(name, r, got, goldens.get(name)));
          }
        }
      }
    } finally {
      for (const f of files) f.close();
    }
    return lines;
  };
  return options.backend === undefined ? run() : withBackend(options.backend, run);
}
