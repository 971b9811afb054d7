/**
 * The import graph of `lib/` read from the sources (a scan of `import` / `export ... from`
 * statements; relative specifiers only), and the two checks DESIGN.md's layering asks for:
 *
 * - **layers**: `lib/maskrcnn -> lib/nn -> lib/ops -> lib/tensor` (and `lib/util` below all of
 *   them): no file imports a layer above its own ({@link layerViolations});
 * - **cycles**: the strongly connected components of a folder's runtime imports
 *   ({@link importCycles}); `import type` statements are left out, as they are erased.
 *
 * Usage: `node --import tsx tools/import_graph.ts [FOLDER ...]` prints the layer violations and
 * the cycles among the files under each folder (default `lib`) and exits 1 on a layer violation.
 * `test/tools/import_graph.test.ts` asserts the layers and that `lib/tensor`'s only cycles pass
 * through `tensor.ts` (its methods call the op files, which build tensors).
 */
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** One import edge. */
export interface ImportEdge {
  /** The imported file, relative to the root (`lib/tensor/shape.ts`). */
  to: string;
  /** Whether the statement is `import type` / `export type` (erased at run time). */
  typeOnly: boolean;
}

/** Every `.ts` file under `dir` (relative to `root`) to its relative imports. */
export type ImportGraph = Map<string, ImportEdge[]>;

const STATEMENT = /^\s*(import|export)\s+(type\s+)?(?:[\w$*{},\s]*?\sfrom\s+)?['"](\.{1,2}\/[^'"]+)['"]/gm;

function tsFiles(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir).sort()) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) out.push(...tsFiles(path));
    else if (name.endsWith('.ts') && !name.endsWith('.d.ts')) out.push(path);
  }
  return out;
}

/** Reads the import graph of every `.ts` file under `root/dir` (default `lib`). */
export function readImportGraph(root: string, dir = 'lib'): ImportGraph {
  const graph: ImportGraph = new Map();
  for (const file of tsFiles(join(root, dir))) {
    const text = readFileSync(file, 'utf8');
    const edges: ImportEdge[] = [];
    for (const m of text.matchAll(STATEMENT)) {
      const target = resolve(dirname(file), m[3]!).replace(/\.js$/, '.ts');
      edges.push({ to: relative(root, target), typeOnly: m[2] !== undefined });
    }
    graph.set(relative(root, file), edges);
  }
  return graph;
}

/** The layers from the bottom: a file may import its own layer and those below it. */
export const LAYERS: readonly string[] = Object.freeze(['lib/util', 'lib/tensor', 'lib/ops', 'lib/nn', 'lib/maskrcnn']);

function layerOf(file: string): number {
  return LAYERS.findIndex((l) => file === `${l}.ts` || file.startsWith(`${l}/`));
}

/** Every import (type-only ones included) from a layer to a layer above it, as `from -> to`. */
export function layerViolations(graph: ImportGraph): string[] {
  const out: string[] = [];
  for (const [from, edges] of graph) {
    const a = layerOf(from);
    if (a < 0) continue;
    for (const e of edges) if (layerOf(e.to) > a) out.push(`${from} -> ${e.to}`);
  }
  return out;
}

/**
 * The cycles of the runtime imports among the files under `folder` (`lib/tensor`), as strongly
 * connected components of more than one file (each sorted), leaving out the files in `except`
 * (and every edge through them).
 */
export function importCycles(graph: ImportGraph, folder: string, except: readonly string[] = []): string[][] {
  const inside = (f: string): boolean => f.startsWith(`${folder}/`) && !except.includes(f);
  const nodes = [...graph.keys()].filter(inside);
  const next = (f: string): string[] => (graph.get(f) ?? []).filter((e) => !e.typeOnly && inside(e.to)).map((e) => e.to);
  // Tarjan's strongly connected components.
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const out: string[][] = [];
  let counter = 0;
  const visit = (v: string): void => {
    index.set(v, counter);
    low.set(v, counter);
    counter++;
    stack.push(v);
    onStack.add(v);
    for (const w of next(v)) {
      if (!index.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (onStack.has(w)) {
        low.set(v, Math.min(low.get(v)!, index.get(w)!));
      }
    }
    if (low.get(v) === index.get(v)) {
      const component: string[] = [];
      let w: string;
      do {
        w = stack.pop()!;
        onStack.delete(w);
        component.push(w);
      } while (w !== v);
      if (component.length > 1) out.push(component.sort());
    }
  };
  for (const v of nodes) if (!index.has(v)) visit(v);
  return out;
}

if (process.argv[1] !== undefined && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
  const graph = readImportGraph(root);
  const folders = process.argv.length > 2 ? process.argv.slice(2) : ['lib'];
  const violations = layerViolations(graph);
  console.log(violations.length === 0 ? `layers ${LAYERS.join(' < ')}: no upward import` : `upward imports:\n  ${violations.join('\n  ')}`);
  for (const folder of folders) {
    const cycles = importCycles(graph, folder);
    console.log(`${folder}: ${cycles.length === 0 ? 'no import cycle' : cycles.map((c) => `a cycle of ${c.length} files: ${c.join(', ')}`).join('\n  ')}`);
  }
  if (violations.length > 0) process.exit(1);
}
