/**
 * torchvision beside the project in `npm run bench`: runs bench/torch_peer.py (Debian's
 * python3-torch, `/usr/bin/python3`, or `$TORCH_PYTHON`) on the same Mask R-CNN cases, and
 * formats the side-by-side table and the speed goals.
 *
 * The formatting ({@link formatTorchComparison}, {@link goalLines}, {@link torchMissingNote}) is
 * pure and tested in test/bench/torch_peer.test.ts; {@link probeTorch} and {@link runTorchPeer}
 * spawn Python.
 *
 * @module
 */
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';

const here = dirname(fileURLToPath(import.meta.url));

/** The interpreter with Debian's torch (the `python3` first on PATH here does not see it). */
export const DEFAULT_TORCH_PYTHON = '/usr/bin/python3';

/** How to get torch on these machines. */
export const TORCH_INSTALL = 'apt-get install python3-torch python3-torchvision libopenblas0-pthread';

/** Thread counts torch is timed with (each with `OMP_WAIT_POLICY=PASSIVE`). */
export const TORCH_THREADS: readonly number[] = Object.freeze([1, 2]);

/** The one-line note printed instead of the torch columns when torch cannot be run. */
export function torchMissingNote(reason: string): string {
  return `# torch: not available (${reason}); the torch columns are skipped. Install with: ${TORCH_INSTALL}`;
}

/** One case of the request to bench/torch_peer.py (see its docstring). */
export interface TorchPeerCase {
  name: string;
  model: 'config' | 'maskrcnn_resnet50_fpn';
  mode: 'inference' | 'train-step';
  warmup: number;
  runs: number;
  seed: number;
  config: unknown;
  images: Array<{ height: number; width: number; data: string }>;
  targets?: Array<{ boxes: number[][]; labels: number[]; masks: string }>;
}

/** What torch_peer.py measured for one case. */
export interface TorchPeerResult {
  name: string;
  parameters: number;
  runMs: number[];
  medianMs: number;
  stageMs: Record<string, number>;
  losses: number[];
  detectionsPerImage: number;
  optimizer: string | null;
}

/** torch_peer.py's answer for one thread count. */
export interface TorchPeerAnswer {
  torch: string;
  torchvision: string;
  threads: number;
  cases: TorchPeerResult[];
}

/** Base64 of a typed array's bytes (how images and masks travel to Python). */
export function toBase64(a: Float32Array | Uint8Array): string {
  return Buffer.from(a.buffer, a.byteOffset, a.byteLength).toString('base64');
}

/** The versions of torch and torchvision under `python`, or why they cannot be used. */
export function probeTorch(python = process.env['TORCH_PYTHON'] ?? DEFAULT_TORCH_PYTHON): { torch: string; torchvision: string } | string {
  const r = spawnSync(python, ['-c', 'import torch, torchvision; print(torch.__version__, torchvision.__version__)'], { encoding: 'utf8', timeout: 120_000 });
  if (r.error) return `${python}: ${(r.error as NodeJS.ErrnoException).code ?? r.error.message}`;
  if (r.status !== 0) {
    const last = (r.stderr ?? '').trim().split('\n').pop() ?? '';
    return `${python} cannot import torch and torchvision${last ? `: ${last}` : ''}`;
  }
  const [torch, torchvision] = r.stdout.trim().split(/\s+/);
  return { torch: torch!, torchvision: torchvision! };
}

/**
 * Runs bench/torch_peer.py on `cases` with `threads` threads (`torch.set_num_threads`, and
 * `OMP_NUM_THREADS`, `OMP_WAIT_POLICY=PASSIVE` in its environment); throws with its stderr when it fails.
 */
export function runTorchPeer(cases: TorchPeerCase[], threads: number, python = process.env['TORCH_PYTHON'] ?? DEFAULT_TORCH_PYTHON): TorchPeerAnswer {
  const r = spawnSync(python, [join(here, 'torch_peer.py')], {
    input: JSON.stringify({ threads, cases }),
    encoding: 'utf8',
    maxBuffer: 64 << 20,
    timeout: 30 * 60_000,
    env: { ...process.env, OMP_NUM_THREADS: String(threads), OMP_WAIT_POLICY: 'PASSIVE' },
  });
  if (r.error) throw new Error(`torch_peer.py (${threads} threads): ${r.error.message}`);
  if (r.status !== 0) throw new Error(`torch_peer.py (${threads} threads) exited with ${r.status}: ${(r.stderr ?? '').trim().split('\n').slice(-5).join(' | ')}`);
  return JSON.parse(r.stdout) as TorchPeerAnswer;
}

/** One row of the side-by-side table: torch's median per thread count, the project's median. */
export interface ComparisonRow {
  /** The case name (as in `npm run bench --case`). */
  name: string;
  /** torch's median milliseconds by thread count (absent: not measured). */
  torchMs: Record<number, number | undefined>;
  /** The project's median milliseconds and the backend it is from (absent: not measured). */
  project?: { ms: number; backend: string };
}

/** torch's best median over its thread counts, and that thread count. */
export function bestTorch(row: ComparisonRow): { ms: number; threads: number } | undefined {
  let best: { ms: number; threads: number } | undefined;
  for (const [threads, ms] of Object.entries(row.torchMs)) {
    if (ms === undefined || !Number.isFinite(ms)) continue;
    if (best === undefined || ms < best.ms) best = { ms, threads: Number(threads) };
  }
  return best;
}

/** project / best torch, or undefined when either side is missing. */
export function ratioToTorch(row: ComparisonRow): number | undefined {
  const best = bestTorch(row);
  return best && row.project ? row.project.ms / best.ms : undefined;
}

const ms = (v: number | undefined): string => (v === undefined ? '-' : v >= 100 ? v.toFixed(0) : v.toFixed(1));
const x = (v: number): string => `${v.toFixed(2)}x`;

/**
 * The side-by-side table (Markdown): case, torch at each thread count, the project (and its
 * backend), project / torch at each thread count and against torch's best. With `torch` false
 * (torch missing) the torch columns are left out.
 */
export function formatTorchComparison(rows: readonly ComparisonRow[], torch: boolean, threads: readonly number[] = TORCH_THREADS): string {
  const header = ['case'];
  if (torch) header.push(...threads.map((n) => `torch ${n} thread${n === 1 ? '' : 's'} ms`));
  header.push('project ms');
  if (torch) header.push(...threads.map((n) => `project / torch ${n}t`), 'project / best torch');
  const lines = [header.join(' | '), header.map(() => '---').join(' | ')];
  for (const row of rows) {
    const cells = [row.name];
    if (torch) cells.push(...threads.map((n) => ms(row.torchMs[n])));
    cells.push(row.project ? `${ms(row.project.ms)} (${row.project.backend})` : '-');
    if (torch) {
      for (const n of threads) {
        const t = row.torchMs[n];
        cells.push(row.project && t !== undefined ? x(row.project.ms / t) : '-');
      }
      const r = ratioToTorch(row);
      const best = bestTorch(row);
      cells.push(r === undefined || best === undefined ? '-' : `${x(r)} (torch ${best.threads}t)`);
    }
    lines.push(cells.join(' | '));
  }
  return lines.join('\n');
}

/** A speed goal: the cases it covers (with short labels) and the largest allowed project / best-torch ratio. */
export interface SpeedGoal {
  text: string;
  cases: ReadonlyArray<{ name: string; label: string }>;
  maxRatio: number;
}

/** The goals `npm run bench` reports against torch. */
export const TORCH_GOALS: readonly SpeedGoal[] = Object.freeze([
  {
    text: "shapes train step and inference at most 1.0x torch (best of torch's thread counts)",
    cases: [
      { name: 'maskrcnn_shapes_128_train_step', label: 'train step' },
      { name: 'maskrcnn_shapes_128_inference', label: 'inference' },
    ],
    maxRatio: 1.0,
  },
  {
    text: "R50-FPN 800x1088 inference within 2x torch (best of torch's thread counts)",
    cases: [{ name: 'maskrcnn_paper_r50fpn_800x1088_inference', label: 'inference' }],
    maxRatio: 2.0,
  },
]);

/**
 * One line per goal: `met` when every case's project / best-torch ratio is at most the goal's,
 * `not met` otherwise, each with the measured ratios; `not measured` with the reason when torch
 * is missing (`torchMissing`) or a case was not run.
 */
export function goalLines(rows: readonly ComparisonRow[], torchMissing?: string, goals: readonly SpeedGoal[] = TORCH_GOALS): string[] {
  return goals.map((goal) => {
    if (torchMissing !== undefined) return `- ${goal.text}: not measured (${torchMissing})`;
    const parts: string[] = [];
    const missing: string[] = [];
    let met = true;
    for (const c of goal.cases) {
      const row = rows.find((r) => r.name === c.name);
      const r = row ? ratioToTorch(row) : undefined;
      if (r === undefined) {
        missing.push(c.name);
        continue;
      }
      parts.push(`${c.label} ${x(r)}`);
      if (!(r <= goal.maxRatio)) met = false;
    }
    if (missing.length > 0) {
      return `- ${goal.text}: not measured (${missing.join(', ')} not run${parts.length > 0 ? `; ${parts.join(', ')}` : ''})`;
    }
    return `- ${goal.text}: ${met ? 'met' : 'not met'} (${parts.join(', ')})`;
  });
}

/** "parameters: project N, torch M (same)" or "(DIFFERENT: ...)" for the model-identity check. */
export function parameterCheck(name: string, project: number, torch: number, note = ''): string {
  const fmt = (n: number) => n.toLocaleString('en-US');
  const verdict = project === torch ? 'same' : `DIFFERENT by ${fmt(Math.abs(project - torch))}${note ? `: ${note}` : ''}`;
  return `# ${name}: parameters project ${fmt(project)}, torch ${fmt(torch)} (${verdict})`;
}
