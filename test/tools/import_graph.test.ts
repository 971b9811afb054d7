import test from 'tape';
import { fileURLToPath } from 'node:url';
import { LAYERS, importCycles, layerViolations, readImportGraph, type ImportGraph } from '../../tools/import_graph.js';

const root = fileURLToPath(new URL('../../', import.meta.url));
const graph = readImportGraph(root);

test('layers: lib/maskrcnn -> lib/nn -> lib/ops -> lib/tensor (-> lib/util), no upward import', (t) => {
  t.ok(graph.size > 100, `${graph.size} files of lib/ read`);
  t.deepEqual(layerViolations(graph), [], `no file imports a layer above its own (${LAYERS.join(' < ')})`);
  t.end();
});

test("lib/tensor: every import cycle passes through tensor.ts (its methods call the op files); the op files' own imports form no cycle", (t) => {
  const cycles = importCycles(graph, 'lib/tensor');
  t.ok(cycles.every((c) => c.includes('lib/tensor/tensor.ts')), 'each cycle includes tensor.ts');
  t.deepEqual(importCycles(graph, 'lib/tensor', ['lib/tensor/tensor.ts']), [], 'without tensor.ts the graph has no cycle (elementwise, reduce, indexing, softmax, views, matmul are layered)');
  t.deepEqual(importCycles(graph, 'lib').filter((c) => !c.every((f) => f.startsWith('lib/tensor/'))), [], 'no cycle anywhere else in lib/');
  t.end();
});

test('import graph: finds an upward import and a cycle, and leaves out type-only imports', (t) => {
  const g: ImportGraph = new Map([
    ['lib/tensor/a.ts', [{ to: 'lib/tensor/b.ts', typeOnly: false }]],
    ['lib/tensor/b.ts', [{ to: 'lib/tensor/a.ts', typeOnly: false }, { to: 'lib/ops/x.ts', typeOnly: true }]],
    ['lib/tensor/c.ts', [{ to: 'lib/tensor/a.ts', typeOnly: false }, { to: 'lib/tensor/d.ts', typeOnly: true }]],
    ['lib/tensor/d.ts', [{ to: 'lib/tensor/c.ts', typeOnly: false }]],
    ['lib/ops/x.ts', [{ to: 'lib/tensor/a.ts', typeOnly: false }]],
  ]);
  t.deepEqual(layerViolations(g), ['lib/tensor/b.ts -> lib/ops/x.ts'], 'a type-only import upward is still a layer violation');
  t.deepEqual(importCycles(g, 'lib/tensor'), [['lib/tensor/a.ts', 'lib/tensor/b.ts']], 'the runtime cycle a <-> b; c -> d is type-only');
  t.deepEqual(importCycles(g, 'lib/tensor', ['lib/tensor/a.ts']), [], 'none without a.ts');
  t.end();
});
