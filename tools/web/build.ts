/**
 * The browser build of the course's lab pages (`web/`): the same `lib/` code bundled by esbuild
 * for the browser (Node's built-in modules replaced by `web/node_builtin_stub.cjs`, whose
 * functions throw if a page ever calls them), the pages' HTML and CSS, and the zoo model the
 * live detector fetches. Run by `npm run docs` after typedoc, into `docs/site/lab/`, so the
 * course site links to it; `node --import tsx tools/web/build.ts [OUT_DIR]` builds elsewhere.
 */
import { build, type Plugin } from 'esbuild';
import { copyFileSync, mkdirSync, readdirSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { readZooEntry, zooWeightsPath } from '../../lib/maskrcnn/zoo.js';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const NODE_BUILTINS = ['fs', 'path', 'zlib', 'os', 'url', 'crypto', 'worker_threads', 'child_process', 'v8', 'util', 'stream', 'assert', 'buffer', 'events'];
/** npm packages that only serve files (PNG encoding and decoding): the pages draw on canvases instead. */
const NODE_ONLY_PACKAGES = ['pngjs'];

/** Resolves every import of a Node built-in module (and of the Node-only packages) to the stub. */
const nodeBuiltinStub: Plugin = {
  name: 'node-builtin-stub',
  setup(b) {
    const filter = new RegExp(`^(node:.*|${[...NODE_BUILTINS, ...NODE_ONLY_PACKAGES].join('|')})$`);
    b.onResolve({ filter }, () => ({ path: join(root, 'web', 'node_builtin_stub.cjs') }));
  },
};

/** The lab pages' entry points (a `web/NAME.ts` and its `web/NAME.html` each). */
export const LAB_PAGES = ['explorer', 'detector'] as const;

/** Bundles the lab pages into `outDir` and copies their HTML, CSS and the zoo model; returns the files written. */
export async function buildLab(outDir: string): Promise<string[]> {
  mkdirSync(outDir, { recursive: true });
  await build({
    entryPoints: LAB_PAGES.map((p) => join(root, 'web', `${p}.ts`)),
    outdir: outDir,
    bundle: true,
    format: 'esm',
    platform: 'browser',
    target: 'es2022',
    sourcemap: true,
    logLevel: 'warning',
    plugins: [nodeBuiltinStub],
  });
  const files = LAB_PAGES.flatMap((p) => [`${p}.js`, `${p}.js.map`]);
  for (const f of readdirSync(join(root, 'web')).filter((f) => f.endsWith('.html') || f.endsWith('.css'))) {
    copyFileSync(join(root, 'web', f), join(outDir, f));
    files.push(f);
  }
  const zoo = readZooEntry();
  mkdirSync(join(outDir, 'zoo'), { recursive: true });
  copyFileSync(zooWeightsPath(), join(outDir, 'zoo', 'model.safetensors'));
  files.push('zoo/model.safetensors');
  console.log(`lab: ${files.length} files in ${outDir} (zoo model '${zoo.name}')`);
  return files.map((f) => join(outDir, f));
}

if (process.argv[1] !== undefined && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  await buildLab(resolve(process.argv[2] ?? join(root, 'docs', 'site', 'lab')));
}
