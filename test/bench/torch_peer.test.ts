import test from 'tape';
import {
  type ComparisonRow, TORCH_INSTALL, bestTorch, formatTorchComparison, goalLines, parameterCheck, probeTorch, ratioToTorch, toBase64, torchMissingNote,
} from '../../bench/torch_peer.js';

// The pure parts of bench/torch_peer.ts (no Python needed): the side-by-side table, the goal lines, the notes.

const rows: ComparisonRow[] = [
  { name: 'maskrcnn_shapes_128_train_step', torchMs: { 1: 300, 2: 250 }, project: { ms: 500, backend: 'wasm' } },
  { name: 'maskrcnn_shapes_128_inference', torchMs: { 1: 100, 2: 120 }, project: { ms: 90, backend: 'wasm' } },
  { name: 'maskrcnn_paper_r50fpn_800x1088_inference', torchMs: { 1: 15000, 2: 8500 }, project: { ms: 17000, backend: 'wasm' } },
];

test('bestTorch and ratioToTorch: torch at its faster thread count', (t) => {
  t.deepEqual(bestTorch(rows[0]!), { ms: 250, threads: 2 }, '2 threads faster');
  t.deepEqual(bestTorch(rows[1]!), { ms: 100, threads: 1 }, '1 thread faster');
  t.equal(ratioToTorch(rows[0]!), 2, '500 / 250');
  t.equal(ratioToTorch({ name: 'a', torchMs: {}, project: { ms: 1, backend: 'wasm' } }), undefined, 'no torch: no ratio');
  t.equal(ratioToTorch({ name: 'a', torchMs: { 1: 5 } }), undefined, 'no project: no ratio');
  t.end();
});

test('formatTorchComparison: torch per thread count, the project, the ratios', (t) => {
  const lines = formatTorchComparison(rows, true).split('\n');
  t.equal(lines[0], 'case | torch 1 thread ms | torch 2 threads ms | project ms | project / torch 1t | project / torch 2t | project / best torch', 'header');
  t.equal(lines[1], '--- | --- | --- | --- | --- | --- | ---', 'rule');
  t.equal(lines[2], 'maskrcnn_shapes_128_train_step | 300 | 250 | 500 (wasm) | 1.67x | 2.00x | 2.00x (torch 2t)', 'train step row');
  t.equal(lines[3], 'maskrcnn_shapes_128_inference | 100 | 120 | 90.0 (wasm) | 0.90x | 0.75x | 0.90x (torch 1t)', 'inference row');
  t.equal(lines.length, 5, 'one row per case');
  const partial = formatTorchComparison([{ name: 'c', torchMs: { 1: 10 } }], true).split('\n')[2];
  t.equal(partial, 'c | 10.0 | - | - | - | - | -', 'missing values are dashes');
  t.end();
});

test('formatTorchComparison without torch: the torch columns are left out', (t) => {
  const lines = formatTorchComparison(rows, false).split('\n');
  t.equal(lines[0], 'case | project ms', 'header without torch');
  t.equal(lines[2], 'maskrcnn_shapes_128_train_step | 500 (wasm)', 'project only');
  t.end();
});

test('goalLines: met / not met with the measured ratios, not measured with the reason', (t) => {
  const [shapes, r50] = goalLines(rows);
  t.equal(shapes, "- shapes train step and inference at most 1.0x torch (best of torch's thread counts): not met (train step 2.00x, inference 0.90x)", 'shapes not met');
  t.equal(r50, "- R50-FPN 800x1088 inference within 2x torch (best of torch's thread counts): met (inference 2.00x)", 'R50 met at exactly 2.00x');
  const fast = rows.map((r) => ({ ...r, project: { ms: r.project!.ms / 10, backend: 'wasm' } }));
  t.ok(goalLines(fast)[0]!.includes(': met (train step 0.20x, inference 0.09x)'), 'shapes met when both cases are at most 1.0x');
  const slow = rows.map((r) => ({ ...r, project: { ms: r.project!.ms * 2, backend: 'wasm' } }));
  t.ok(goalLines(slow)[1]!.endsWith(': not met (inference 4.00x)'), 'R50 not met above 2x');
  const missing = goalLines([rows[1]!]);
  t.equal(missing[0], "- shapes train step and inference at most 1.0x torch (best of torch's thread counts): not measured (maskrcnn_shapes_128_train_step not run; inference 0.90x)", 'a case not run');
  t.ok(goalLines(rows, 'torch not available').every((l) => l.endsWith(': not measured (torch not available)')), 'torch missing: every goal not measured');
  t.end();
});

test('torchMissingNote: one line saying how to install', (t) => {
  const note = torchMissingNote('/usr/bin/python3: ENOENT');
  t.equal(note.split('\n').length, 1, 'one line');
  t.ok(note.startsWith('# torch: not available (/usr/bin/python3: ENOENT)'), note);
  t.ok(note.includes(TORCH_INSTALL) && TORCH_INSTALL === 'apt-get install python3-torch python3-torchvision libopenblas0-pthread', 'install command');
  t.end();
});

test('probeTorch with an interpreter that does not exist explains why', (t) => {
  const r = probeTorch('/nonexistent/python3');
  t.equal(typeof r, 'string', 'a reason, not versions');
  t.ok(String(r).includes('/nonexistent/python3') && String(r).includes('ENOENT'), String(r));
  t.end();
});

test('parameterCheck and toBase64', (t) => {
  t.equal(parameterCheck('m', 1549879, 1549879), '# m: parameters project 1,549,879, torch 1,549,879 (same)', 'same');
  t.equal(parameterCheck('m', 10, 13, 'why'), '# m: parameters project 10, torch 13 (DIFFERENT by 3: why)', 'different');
  const a = new Float32Array([1, -2]);
  const b = Buffer.from(toBase64(a), 'base64');
  t.deepEqual(Array.from(new Float32Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength))), [1, -2], 'float32 round trip');
  t.equal(toBase64(new Uint8Array([0, 1, 255]).subarray(1)), Buffer.from([1, 255]).toString('base64'), 'a view encodes only its bytes');
  t.end();
});
