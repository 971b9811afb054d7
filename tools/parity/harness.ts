/**
 * The parity harness: replays golden fixtures (format `maskrcnn-oracle-ops/1`, see the oracle
 * spec) through the project's operators on the active backend and compares every output.
 *
 * Each op the project implements has an adapter (tools/parity/adapters/) that turns one case's
 * params and inputs into calls of the project's API and returns what it computed, by output
 * name. Tolerances follow the spec: values `|got - want| <= 1e-5 + 1e-5 |want|`; gradients
 * (which sum many terms) `|got - want| <= 1e-5 + 1e-4 max|want|`; integer outputs exactly.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Tensor, tensor } from '../../lib/index.js';
import { type BackendName, withBackend } from '../../lib/ops/index.js';
import { adapters } from './adapters/index.js';

/** A tensor as the fixtures store it. */
export interface TensorJson {
  shape: number[];
  dtype: 'float32' | 'int64' | 'bool';
  data: Array<number | boolean>;
}

/** One golden case. */
export interface OracleCase {
  name: string;
  params: Record<string, unknown>;
  inputs: Record<string, TensorJson>;
  outputs: Record<string, TensorJson>;
  notes?: string;
}

/** What an adapter computed, by output name (`output`, `grad_input`, ...). */
export type Computed = Record<string, Tensor>;

/** Runs one case through the project's implementation of its op (on the active backend). */
export type ParityAdapter = (c: OracleCase) => Computed;

/** A fixture tensor as a project tensor: float32 stays float32, int64 and bool become int32. */
export function fromJson(t: TensorJson): Tensor {
  const data = t.data.map((v) => (typeof v === 'boolean' ? (v ? 1 : 0) : v));
  return tensor(data, { shape: t.shape, dtype: t.dtype === 'float32' ? 'float32' : 'int32' });
}

/** The outcome of one comparison. */
export interface Comparison {
  ok: boolean;
  maxAbs: number;
  /** Largest absolute error divided by the largest |want| (0 when both are 0). */
  maxRel: number;
  detail?: string;
}

/** Compares a computed tensor with a golden one under the spec's tolerance for `name`. */
export function compare(name: string, got: Tensor, want: TensorJson): Comparison {
  if (got.shape.join() !== want.shape.join()) {
    return { ok: false, maxAbs: Infinity, maxRel: Infinity, detail: `${name}: shape [${got.shape}] != [${want.shape}]` };
  }
  const w = want.data.map((v) => (typeof v === 'boolean' ? (v ? 1 : 0) : v));
  const exact = want.dtype !== 'float32';
  const gradient = name.startsWith('grad_');
  let scale = 0;
  for (const v of w) scale = Math.max(scale, Math.abs(v));
  let maxAbs = 0;
  let ok = true;
  let detail: string | undefined;
  for (let i = 0; i < w.length; i++) {
    const g = got.data[i]!;
    const err = Math.abs(g - w[i]!);
    const tol = exact ? 0 : gradient ? 1e-5 + 1e-4 * scale : 1e-5 + 1e-5 * Math.abs(w[i]!);
    if (!(err <= maxAbs)) maxAbs = err;
    if (!(err <= tol) && ok) {
      ok = false;
      detail = `${name}[${i}] = ${g}, want ${w[i]}`;
    }
  }
  return { ok, maxAbs, maxRel: scale === 0 ? maxAbs : maxAbs / scale, ...(detail === undefined ? {} : { detail }) };
}

/** One line of the parity report. */
export interface ParityLine {
  status: 'PASS' | 'FAIL' | 'MISSING';
  op: string;
  caseName: string;
  maxAbs: number;
  maxRel: number;
  detail?: string;
}

/** Options of {@link runParity}. */
export interface ParityOptions {
  /** Only these ops (default: every op in the directory). */
  ops?: string[];
  /** The backend to run on (default: the active one). */
  backend?: BackendName;
}

interface IndexFile {
  format: string;
  files: Array<{ file: string; op: string; cases: string[] }>;
}

/** Replays every case of `dir` (a fixture directory with `index.json`) and reports each one. */
export function runParity(dir: string, options: ParityOptions = {}): ParityLine[] {
  const indexPath = join(dir, 'index.json');
  let index: IndexFile;
  try {
    index = JSON.parse(readFileSync(indexPath, 'utf8')) as IndexFile;
  } catch (error) {
    throw new Error(`parity: cannot read ${indexPath}: ${(error as Error).message}`);
  }
  if (!Array.isArray(index.files)) throw new Error(`parity: ${indexPath} has no "files" list`);
  const lines: ParityLine[] = [];
  for (const entry of index.files) {
    if (options.ops !== undefined && !options.ops.includes(entry.op)) continue;
    const adapter = adapters[entry.op];
    if (adapter === undefined) {
      for (const caseName of entry.cases) lines.push({ status: 'MISSING', op: entry.op, caseName, maxAbs: NaN, maxRel: NaN });
      continue;
    }
    const file = JSON.parse(readFileSync(join(dir, entry.file), 'utf8')) as { cases: OracleCase[] };
    for (const c of file.cases) {
      let computed: Computed;
      try {
        computed = options.backend === undefined ? adapter(c) : withBackend(options.backend, () => adapter(c));
      } catch (error) {
        lines.push({ status: 'FAIL', op: entry.op, caseName: c.name, maxAbs: NaN, maxRel: NaN, detail: `threw: ${(error as Error).message}` });
        continue;
      }
      let worst: Comparison = { ok: true, maxAbs: 0, maxRel: 0 };
      let failure: string | undefined;
      for (const [name, want] of Object.entries(c.outputs)) {
        const got = computed[name];
        if (got === undefined) {
          failure ??= `the adapter did not compute ${name}`;
          continue;
        }
        const r = compare(name, got, want);
        if (!r.ok) failure ??= r.detail;
        worst = { ok: worst.ok && r.ok, maxAbs: Math.max(worst.maxAbs, r.maxAbs), maxRel: Math.max(worst.maxRel, r.maxRel) };
      }
      lines.push({
        status: failure === undefined ? 'PASS' : 'FAIL',
        op: entry.op,
        caseName: c.name,
        maxAbs: worst.maxAbs,
        maxRel: worst.maxRel,
        ...(failure === undefined ? {} : { detail: failure }),
      });
    }
  }
  return lines;
}

/** `PASS conv2d basic_3x3 1.2e-7 3.4e-8` */
export function formatLine(line: ParityLine): string {
  const num = (v: number) => (Number.isNaN(v) ? '-' : v.toExponential(2));
  return `${line.status} ${line.op} ${line.caseName} ${num(line.maxAbs)} ${num(line.maxRel)}${line.detail ? `  (${line.detail})` : ''}`;
}
