/**
 * The `wasm` backend's own tests (every op is also compared with the reference on every backend
 * by the op tests through assertBackendsAgree): edge sizes of the GEMM and the convolution
 * kernels (on each variant of the module present: plain SIMD and relaxed SIMD's fused
 * multiply-add), bit-identical results whatever the number of threads, a worker's error
 * surfacing in the caller, the process exiting with the pool alive, and the kernel table's honesty.
 */
import { spawnSync } from 'node:child_process';
import test from 'tape';
import { Generator, randn, noGrad, tensor, type Tensor } from '../../lib/index.js';
import { availableBackends, conv2d, convTranspose2d, kernelTable, linear, mm, roiAlign, withBackend } from '../../lib/ops/index.js';
import { relaxedSimdSupported, setWasmSimd, setWasmThreads, wasmSimdVariant, wasmThreads, type WasmSimdVariant } from '../../lib/ops/wasm/index.js';
import { injectWorkerErrorForTest, waitForWasmWorkers } from '../../lib/ops/wasm/runtime.js';
import { assertClose } from '../helpers.js';

const present = availableBackends().includes('wasm');

/** The module variants this engine runs (plain always; relaxed where relaxed SIMD compiles). */
const variants: WasmSimdVariant[] = present && relaxedSimdSupported() ? ['plain', 'relaxed'] : ['plain'];

/** Runs `body` once per variant present (the module reloaded for each), then restores the default. */
function eachVariant(t: test.Test, body: (variant: WasmSimdVariant) => void): void {
  try {
    for (const v of variants) {
      setWasmSimd(v);
      t.equal(wasmSimdVariant(), v, `variant ${v} loaded`);
      body(v);
    }
  } finally {
    setWasmSimd('auto');
  }
}

function both(t: test.Test, label: string, f: () => Tensor, atol = 1e-4, rtol = 1e-4): void {
  const want = withBackend('reference', f);
  const got = withBackend('wasm', f);
  t.deepEqual(got.shape, want.shape, `${label}: shape`);
  assertClose(t, got, want, `${label}: wasm matches reference`, atol, rtol);
}

test('wasm: every kernel is registered, with a note where it is not its own code', (t) => {
  if (!present) {
    t.pass('wasm backend not available here: skipped');
    t.end();
    return;
  }
  const own = new Set(['matmul.forward', 'matmul.transposed', 'conv2d.forward', 'conv2d.backwardInput', 'conv2d.backwardWeight', 'roiAlign.forward', 'roiAlign.backward', 'batchNorm2d.forward', 'batchNorm2d.backward', 'frozenBatchNorm2d.channelAffine']);
  for (const row of kernelTable()) {
    const impl = row.backends.find((b) => b.backend === 'wasm');
    t.ok(impl !== undefined, `${row.kernel}: registered for wasm`);
    if (own.has(row.kernel)) t.equal(impl?.note, undefined, `${row.kernel}: wasm's own kernel`);
    else t.ok(impl?.note?.startsWith('reference loops'), `${row.kernel}: noted as reference loops`);
  }
  t.end();
});

test('wasm: GEMM edge sizes (tiles of 6x8, blocks of 64 along k) match the reference, on each variant', (t) => {
  if (!present) return t.end();
  eachVariant(t, (v) => gemmEdges(t, v));
  t.end();
});

function gemmEdges(t: test.Test, variant: WasmSimdVariant): void {
  const g = new Generator(3);
  for (const [n, k, m] of [[1, 1, 1], [7, 13, 9], [6, 8, 8], [13, 300, 17], [50, 3, 130], [1, 600, 5]] as const) {
    const a = randn([n, k], { generator: g });
    const b = randn([k, m], { generator: g });
    both(t, `${variant}: mm [${n},${k}]x[${k},${m}]`, () => mm(a, b));
  }
  // Operands read transposed in place (linear's W, and x^T, W in its gradients): edge and full tiles.
  for (const [n, k, m] of [[1, 1, 1], [7, 13, 9], [12, 70, 16], [13, 300, 17], [40, 129, 26]] as const) {
    const x = randn([n, k], { generator: g });
    const w = randn([m, k], { generator: g });
    const run = () => {
      const xi = x.detach().requiresGrad_();
      const wi = w.detach().requiresGrad_();
      const y = linear(xi, wi);
      y.mul(y).sum().backward();
      const z = mm(xi.detach(), wi.detach().transpose(0, 1));
      return [y, xi.grad!, wi.grad!, z] as const;
    };
    const want = withBackend('reference', run);
    const got = withBackend('wasm', run);
    ['output', 'gradInput', 'gradWeight', 'mm'].forEach((name, i) => assertClose(t, got[i]!, want[i]!, `${variant}: linear [${n},${k}] W [${m},${k}]: ${name}`, 1e-4, 1e-4));
    t.deepEqual(Array.from(got[0].data), Array.from(got[3].data), `${variant}: linear [${n},${k}] W [${m},${k}]: W read transposed in place gives mm's bits`);
  }
  t.deepEqual(withBackend('wasm', () => mm(randn([3, 0]), randn([0, 4]))).data, new Float32Array(12), `${variant}: k = 0 gives zeros`);
  t.deepEqual(withBackend('wasm', () => mm(randn([0, 3]), randn([3, 4]))).shape, [0, 4], `${variant}: no rows`);
}

test('wasm: conv2d and convTranspose2d, forward and both gradients, match the reference, on each variant', (t) => {
  if (!present) return t.end();
  eachVariant(t, (v) => convCases(t, v));
  t.end();
});

function convCases(t: test.Test, variant: WasmSimdVariant): void {
  const g = new Generator(4);
  const cases: Array<{ x: number[]; w: number[]; o: Parameters<typeof conv2d>[3] }> = [
    { x: [2, 6, 9, 11], w: [4, 3, 3, 2], o: { stride: [2, 1], padding: [1, 2], dilation: [1, 2], groups: 2 } },
    { x: [1, 5, 8, 8], w: [7, 5, 1, 1], o: {} }, // pointwise: no im2col
    { x: [1, 3, 10, 7], w: [8, 3, 5, 3], o: { padding: 2, stride: 3 } },
    { x: [3, 4, 6, 6], w: [4, 1, 3, 3], o: { padding: 1, groups: 4 } }, // depthwise
    // Small planes batched into one product (five products of 5 images of 14x14).
    { x: [25, 3, 14, 14], w: [4, 3, 3, 3], o: { padding: 1 } },
    { x: [25, 3, 14, 14], w: [4, 3, 1, 1], o: {} }, // batched pointwise: gathered, not im2col
    { x: [12, 4, 7, 7], w: [6, 2, 3, 3], o: { padding: 1, groups: 2 } },
  ];
  for (const { x: xs, w: ws, o } of cases) {
    const x = randn(xs, { generator: g });
    const w = randn(ws, { generator: g });
    const b = randn([ws[0]!], { generator: g });
    const label = `${variant}: conv2d x[${xs}] w[${ws}] ${JSON.stringify(o)}`;
    const run = () => {
      const xi = x.detach().requiresGrad_();
      const wi = w.detach().requiresGrad_();
      const y = conv2d(xi, wi, b, o);
      y.mul(y).sum().backward();
      return [y, xi.grad!, wi.grad!] as const;
    };
    const want = withBackend('reference', run);
    const got = withBackend('wasm', run);
    ['output', 'gradInput', 'gradWeight'].forEach((name, i) => assertClose(t, got[i]!, want[i]!, `${label}: ${name}`, 1e-3, 1e-4));
  }
  const dx = randn([3, 8, 5, 5], { generator: g });
  const dw = randn([8, 4, 2, 2], { generator: g });
  both(t, `${variant}: convTranspose2d 2x2 stride 2 (the mask head)`, () => noGrad(() => convTranspose2d(dx, dw, null, { stride: 2 })));
  const dw3 = randn([8, 2, 3, 3], { generator: g });
  both(t, `${variant}: convTranspose2d 3x3 stride 2, output padding, groups`, () =>
    noGrad(() => convTranspose2d(dx, dw3, null, { stride: 2, padding: 1, outputPadding: 1, groups: 2 })));
}

test('wasm: the relaxed variant fuses (its rounding differs from plain), and MASKRCNN_WASM_SIMD=plain forces plain', (t) => {
  if (!present) return t.end();
  if (variants.includes('relaxed')) {
    const g = new Generator(6);
    const a = randn([40, 300], { generator: g });
    const b = randn([300, 24], { generator: g });
    const run = (v: WasmSimdVariant) => {
      setWasmSimd(v);
      return withBackend('wasm', () => mm(a, b));
    };
    try {
      const plain = run('plain');
      const relaxed = run('relaxed');
      // One rounding per step instead of two changes the last bits of most sums (a relaxed_madd
      // that the engine lowered to a multiply and an add would give plain's bits exactly).
      let differ = 0;
      for (let i = 0; i < plain.size; i++) if (plain.data[i] !== relaxed.data[i]) differ++;
      t.ok(differ > plain.size / 4, `${differ} of ${plain.size} elements differ in rounding: the product is fused`);
      assertClose(t, relaxed, plain, 'relaxed and plain agree within float32 rounding', 1e-4, 1e-4);
    } finally {
      setWasmSimd('auto');
    }
  } else t.pass('relaxed SIMD not available in this engine: only plain runs');
  t.equal(wasmSimdVariant(), variants[variants.length - 1], 'auto picks relaxed where supported, else plain');
  const script = `
    import { describeBackend } from './lib/ops/index.js';
    import { wasmSimdVariant } from './lib/ops/wasm/index.js';
    console.log(wasmSimdVariant(), '|', describeBackend('wasm'));`;
  const r = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
    env: { ...process.env, MASKRCNN_WASM_SIMD: 'plain' },
    encoding: 'utf8',
    timeout: 60000,
  });
  t.equal(r.status, 0, `exit status 0 (stderr: ${r.stderr.slice(0, 200)})`);
  t.ok(r.stdout.startsWith('plain |'), `MASKRCNN_WASM_SIMD=plain loads plain (${r.stdout.trim().slice(0, 40)})`);
  t.ok(r.stdout.includes('plain SIMD'), 'describeBackend names the variant');
  t.throws(() => setWasmSimd('fast' as never), /'auto', 'plain' or 'relaxed'/, 'a wrong setting is an error');
  t.end();
});

test('wasm: roiAlign forward and backward return the reference kernels\' bits', (t) => {
  if (!present) return t.end();
  const g = new Generator(7);
  // C = 6 (a pair and a remainder of the module's channel loops), C = 1 (the mask targets);
  // fixed and adaptive grids; RoIs partly or wholly outside the map (zero-weight samples).
  const cases = [
    { x: [2, 6, 9, 11], rois: [[0, 1, 1, 20, 30], [1, -8, -3, 12, 9], [1, 30, 30, 60, 50], [0, 3.3, 2.2, 3.4, 2.3]], o: { outputSize: [3, 4] as [number, number], spatialScale: 0.5, samplingRatio: 2 } },
    { x: [1, 1, 16, 16], rois: [[0, 0.5, 1.5, 15, 9], [0, 2, 2, 14, 14]], o: { outputSize: 5, spatialScale: 1, samplingRatio: 0, aligned: true } },
    { x: [1, 5, 8, 8], rois: [[0, 0, 0, 7, 7]], o: { outputSize: 7, spatialScale: 1, samplingRatio: -1 } },
  ];
  for (const { x: xs, rois, o } of cases) {
    const x = randn(xs, { generator: g });
    const r = tensor(rois);
    const run = () => {
      const xi = x.detach().requiresGrad_();
      const y = roiAlign(xi, r, o);
      y.mul(y).sum().backward();
      return [y, xi.grad!] as const;
    };
    const want = withBackend('reference', run);
    const got = withBackend('wasm', run);
    const label = `roiAlign x[${xs}] ${JSON.stringify(o)}`;
    t.deepEqual(Array.from(got[0].data), Array.from(want[0].data), `${label}: output bit-identical`);
    t.deepEqual(Array.from(got[1].data), Array.from(want[1].data), `${label}: gradInput bit-identical`);
  }
  t.end();
});

test('wasm: the weight gradient\'s long sum (N H W terms) stays at float32 rounding', (t) => {
  if (!present) return t.end();
  // 400 images of 14x14 (the mask head's plane): 78400 terms per weight, each near 0.5, for a
  // sum near 4e4. The reference sums in float64. Adding per-image float32 partial sums into one
  // float32 total (this kernel before its float64 accumulator) drifts by up to 5e-7 of the
  // scale on this data; the float64 accumulation across chunks leaves only the float32
  // rounding of the partials and of the result (about 6e-8).
  const g = new Generator(8);
  const x = randn([400, 4, 14, 14], { generator: g }).add(0.5);
  const w = randn([8, 4, 3, 3], { generator: g });
  const run = () => {
    const wi = w.detach().requiresGrad_();
    conv2d(x, wi, null, { padding: 1 }).sum().backward();
    return wi.grad!;
  };
  const want = withBackend('reference', run);
  const got = withBackend('wasm', run);
  let scale = 0;
  let err = 0;
  for (let i = 0; i < want.size; i++) {
    scale = Math.max(scale, Math.abs(want.data[i]!));
    err = Math.max(err, Math.abs(got.data[i]! - want.data[i]!));
  }
  t.ok(err <= 1.5e-7 * scale, `max error ${err.toExponential(2)} <= 1.5e-7 x scale ${scale.toExponential(2)}`);
  t.end();
});

test('wasm: float64 inputs run the reference loops (gradcheck precision)', (t) => {
  if (!present) return t.end();
  const a = randn([5, 7], { dtype: 'float64' });
  const b = randn([7, 3], { dtype: 'float64' });
  const got = withBackend('wasm', () => mm(a, b));
  const want = withBackend('reference', () => mm(a, b));
  t.equal(got.dtype, 'float64', 'float64 out');
  t.deepEqual(Array.from(got.data), Array.from(want.data), 'bit-identical to the reference');
  t.end();
});

test('wasm: results are bit-identical whatever the number of threads; a worker error surfaces', (t) => {
  if (!present) return t.end();
  const before = wasmThreads();
  const g = new Generator(5);
  const a = randn([150, 700], { generator: g });
  const b = randn([700, 93], { generator: g });
  const c = randn([1000, 40], { generator: g });
  const d = randn([40, 33], { generator: g });
  const x = randn([1, 16, 20, 20], { generator: g });
  const w = randn([24, 16, 3, 3], { generator: g });
  // Large enough that im2col and col2im are split between the threads too.
  const xl = randn([1, 32, 48, 48], { generator: g });
  const wl = randn([8, 32, 3, 3], { generator: g });
  const convGrads = () => {
    const xi = xl.detach().requiresGrad_();
    const wi = wl.detach().requiresGrad_();
    const y = conv2d(xi, wi, null, { padding: 1 });
    y.mul(y).sum().backward();
    return [y, xi.grad!, wi.grad!];
  };
  // RoI-shaped: 20 images of 14x14 batched 5 to a product, im2col/col2im split by image.
  const xr = randn([20, 64, 14, 14], { generator: g });
  const wr = randn([8, 64, 3, 3], { generator: g });
  const roiGrads = () => {
    const xi = xr.detach().requiresGrad_();
    const wi = wr.detach().requiresGrad_();
    const y = conv2d(xi, wi, null, { padding: 1 });
    y.mul(y).sum().backward();
    return [y, xi.grad!, wi.grad!];
  };
  const compute = () => withBackend('wasm', () => [mm(a, b), mm(c, d), conv2d(x, w, null, { padding: 1 }), ...convGrads(), ...roiGrads()]);
  try {
    setWasmThreads(1);
    const one = compute();
    for (const threads of [2, 3]) {
      setWasmThreads(threads);
      t.ok(waitForWasmWorkers(), `${threads} threads: workers started`);
      const many = compute();
      many.forEach((r, i) => t.deepEqual(Array.from(r.data), Array.from(one[i]!.data), `${threads} threads, product ${i}: bit-identical to 1 thread`));
    }
    injectWorkerErrorForTest();
    t.throws(() => withBackend('wasm', () => mm(a, b)), /wasm worker \d+: a test asked this worker to throw/, 'a throwing worker throws in the caller');
    t.deepEqual(Array.from(withBackend('wasm', () => mm(a, b)).data), Array.from(one[0]!.data), 'the pool works again after the error');
  } finally {
    setWasmThreads(before);
  }
  t.end();
});

test('wasm: a process that used the worker pool exits promptly', (t) => {
  if (!present) return t.end();
  const script = `
    import { randn } from './lib/index.js';
    import { mm, withBackend } from './lib/ops/index.js';
    import { waitForWasmWorkers } from './lib/ops/wasm/runtime.js';
    waitForWasmWorkers();
    const y = withBackend('wasm', () => mm(randn([200, 300]), randn([300, 200])));
    console.log('done', y.shape.join('x'));`;
  const t0 = Date.now();
  const r = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
    env: { ...process.env, MASKRCNN_WASM_THREADS: '2' },
    encoding: 'utf8',
    timeout: 60000,
  });
  t.equal(r.status, 0, `exit status 0 (stderr: ${r.stderr.slice(0, 200)})`);
  t.ok(r.stdout.includes('done 200x200'), 'computed');
  t.ok(Date.now() - t0 < 30000, `exited in ${Date.now() - t0} ms (the workers do not hold it)`);
  t.end();
});

test('wasm: without SharedArrayBuffer (a page that is not cross-origin isolated) the module loads on an unshared memory, one thread, and agrees with the reference', (t) => {
  if (!present) return t.end();
  const script = `
    delete globalThis.SharedArrayBuffer;
    const { randn, Generator } = await import('./lib/index.js');
    const { mm, conv2d, withBackend, describeBackend, availableBackends } = await import('./lib/ops/index.js');
    const { wasmThreads, wasmLoadError } = await import('./lib/ops/wasm/runtime.js');
    const g = new Generator(5);
    const a = randn([37, 53], { generator: g }), b = randn([53, 29], { generator: g });
    const x = randn([1, 3, 12, 12], { generator: g }), w = randn([4, 3, 3, 3], { generator: g });
    const same = (p, q) => p.data.every((v, i) => v === q.data[i]);
    const products = ['wasm', 'reference'].map((name) => withBackend(name, () => [mm(a, b), conv2d(x, w, null, { padding: 1 })]));
    const agree = products[0].map((p, i) => Math.max(...p.data.map((v, j) => Math.abs(v - products[1][i].data[j])))).every((d) => d < 1e-4);
    console.log(JSON.stringify({ available: availableBackends().includes('wasm'), error: wasmLoadError(), threads: wasmThreads(), agree, describe: describeBackend('wasm') }));`;
  const r = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { encoding: 'utf8', timeout: 60000 });
  t.equal(r.status, 0, `exit status 0 (stderr: ${r.stderr.slice(0, 300)})`);
  const out = JSON.parse(r.stdout.trim().split('\n').pop() ?? '{}') as { available: boolean; error: string | null; threads: number; agree: boolean; describe: string };
  t.ok(out.available && out.error === null, `the wasm backend loads (${out.describe})`);
  t.equal(out.threads, 1, 'one thread');
  t.ok(out.agree, 'mm and conv2d agree with the reference loops');
  t.end();
});
