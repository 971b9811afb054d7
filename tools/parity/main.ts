/**
 * `npm run parity -- DIR [--op NAME ...] [--backend reference|gpu|wasm]`
 *
 * Replays the golden fixtures in DIR on one backend: operator fixtures (tools/oracle/gen_ops.py,
 * DIR/index.json) or a model fixture (tools/oracle/gen_model.py, DIR/weights.safetensors,
 * stage by stage through the backbone so far). Prints one
 * line per case (`PASS|FAIL|MISSING op case max_abs_err max_rel_err`) and a last line
 * `parity: N passed, N failed, N missing`. Exits 0 only when nothing failed and nothing
 * selected is missing.
 */
import { runParity, formatLine } from './harness.js';
import { isModelFixtureDir, runModelParity } from './model.js';
import { type BackendName, describeBackend, getBackend, setBackend } from '../../lib/ops/index.js';

const USAGE = 'usage: npm run parity -- DIR [--op NAME ...] [--backend reference|gpu|wasm]';

function main(argv: string[]): number {
  let dir: string | undefined;
  const ops: string[] = [];
  let backend: BackendName | undefined;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--help' || a === '-h') {
      console.log(USAGE);
      return 0;
    } else if (a === '--op') {
      const v = argv[++i];
      if (v === undefined) throw new Error('--op needs an op name');
      ops.push(v);
    } else if (a === '--backend') {
      const v = argv[++i];
      if (v !== 'reference' && v !== 'gpu' && v !== 'wasm') throw new Error(`--backend must be reference, gpu or wasm, got '${v}'`);
      backend = v;
    } else if (a.startsWith('-')) {
      throw new Error(`unknown flag '${a}'\n${USAGE}`);
    } else if (dir === undefined) {
      dir = a;
    } else {
      throw new Error(`unexpected argument '${a}'\n${USAGE}`);
    }
  }
  if (dir === undefined) throw new Error(`missing the fixture directory\n${USAGE}`);
  if (backend !== undefined) setBackend(backend);
  console.log(`# backend ${describeBackend(getBackend())}`);
  // A model directory (weights.safetensors + goldens) or an operator directory (index.json).
  const lines = isModelFixtureDir(dir)
    ? runModelParity(dir, backend ? { backend } : {})
    : runParity(dir, ops.length > 0 ? { ops } : {});
  for (const line of lines) console.log(formatLine(line));
  const count = (s: string) => lines.filter((l) => l.status === s).length;
  const [passed, failed, missing] = [count('PASS'), count('FAIL'), count('MISSING')];
  console.log(`parity: ${passed} passed, ${failed} failed, ${missing} missing`);
  return failed === 0 && missing === 0 && passed > 0 ? 0 : 1;
}

try {
  process.exitCode = main(process.argv.slice(2));
} catch (error) {
  console.error(`parity: ${(error as Error).message}`);
  process.exitCode = 2;
}
