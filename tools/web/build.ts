/**
 * The browser build of the course's lab pages (`web/`): the same `lib/` code bundled by esbuild
 * for the browser (Node's built-in modules, and pngjs, replaced by `web/node_builtin_stub.cjs`,
 * whose functions throw if a page ever calls them), written as self-contained HTML files: the
 * script, the style sheet and (for the live detector and the explorer) the zoo model are inlined, so a page works
 * from any static server and from `file://` alike, where browsers refuse to fetch files.
 *
 * `npm run docs` runs it before typedoc, into `docs/course/lab/` (generated, not committed); the
 * course page `docs/course/lab.md` links the pages, and typedoc copies them into the site.
 * `node --import tsx tools/web/build.ts [OUT_DIR]` builds elsewhere.
 */
import { build, type Plugin } from 'esbuild';
import { mkdirSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { writeFileAtomic } from '../../lib/util/atomic_write.js';
import { readZooEntry, zooWeightsPath } from '../../lib/maskrcnn/train/zoo.js';

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

/** The lab pages (a `web/NAME.ts` and its `web/NAME.html` each). */
export const LAB_PAGES = ['explorer', 'detector'] as const;

/** The id of the `<script>` element that holds the zoo model (base64) in the pages that run it. */
export const ZOO_MODEL_ELEMENT = 'zoo-model';

/** The pages that run the zoo model (the live detector; the explorer's "zoo model, shapes image" source): the weights are inlined into them. */
export const ZOO_PAGES: ReadonlySet<string> = new Set(['explorer', 'detector']);

/** Text placed inside a `<script>` element: `</script` would end it early. */
function scriptText(s: string): string {
  return s.replace(/<\/script/gi, '<\\/script');
}

/** Builds the lab pages into `outDir` as self-contained HTML files; returns their paths. */
export async function buildLab(outDir: string): Promise<string[]> {
  mkdirSync(outDir, { recursive: true });
  const bundles = await build({
    entryPoints: LAB_PAGES.map((p) => join(root, 'web', `${p}.ts`)),
    outdir: outDir,
    write: false,
    bundle: true,
    minify: true,
    // Class names kept: gpuMode() reads the kernel's class (WebGL2Kernel, ...) to say what ran.
    keepNames: true,
    format: 'esm',
    platform: 'browser',
    target: 'es2022',
    logLevel: 'warning',
    plugins: [nodeBuiltinStub],
  });
  const css = readFileSync(join(root, 'web', 'lab.css'), 'utf8');
  const zoo = readZooEntry();
  const files: string[] = [];
  for (const page of LAB_PAGES) {
    const js = bundles.outputFiles.find((f) => f.path.endsWith(`${page}.js`));
    if (js === undefined) throw new Error(`lab build: esbuild wrote no ${page}.js`);
    let html = readFileSync(join(root, 'web', `${page}.html`), 'utf8');
    const tags = { style: '<link rel="stylesheet" href="lab.css">', script: `<script type="module" src="${page}.js"></script>` };
    for (const [what, tag] of Object.entries(tags)) if (!html.includes(tag)) throw new Error(`lab build: web/${page}.html lacks its ${what} tag ${tag}`);
    html = html.replace(tags.style, () => `<style>\n${css}</style>`);
    const model = ZOO_PAGES.has(page) ? `<script id="${ZOO_MODEL_ELEMENT}" type="application/octet-stream">${readFileSync(zooWeightsPath()).toString('base64')}</script>\n` : '';
    html = html.replace(tags.script, () => `${model}<script type="module">\n${scriptText(js.text)}</script>`);
    const path = join(outDir, `${page}.html`);
    writeFileAtomic(path, html, 'lab build');
    files.push(path);
  }
  console.log(`lab: ${files.map((f) => `${f} (${(readFileSync(f).length / 2 ** 20).toFixed(1)} MiB)`).join(', ')}; zoo model '${zoo.name}'`);
  return files;
}

if (process.argv[1] !== undefined && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  await buildLab(resolve(process.argv[2] ?? join(root, 'docs', 'course', 'lab')));
}
