/**
 * The course's lab pages in headless Chromium (Debian's `chromium`, driven by playwright-core):
 * the RoIAlign explorer shows the worked example's numbers and follows a dragged box, and on the
 * "zoo model, shapes image" source pools a real FPN level as the library does in Node; the live
 * detector runs the zoo model in the page and finds the shapes of a generated image. Also prints
 * the page's inference time beside Node's on the same machine (a benchmark line, not asserted).
 *
 * Run by `npm run docs` after the site is built (pages copied by typedoc under `docs/site/`);
 * `LAB_DIR=DIR` tests the pages of another build (`node --import tsx tools/web/build.ts DIR`).
 * Screenshots go to `docs/site-screenshots/lab-*.png`.
 */
import test from 'tape';
import { existsSync, mkdirSync, readdirSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { chromium, type Browser, type Page } from 'playwright-core';
import { Tensor, noGrad, tensor } from '../../lib/tensor/index.js';
import { describeBackend, roiAlign } from '../../lib/ops/index.js';
import { setWasmThreads, wasmThreads } from '../../lib/ops/wasm/index.js';
import { generateShapes, loadWeights, shapesDetectionDataset, zooWeightsPath } from '../../lib/maskrcnn/index.js';

const executable = ['/usr/bin/chromium', '/usr/bin/chromium-browser', '/usr/bin/google-chrome'].find((p) => existsSync(p));
const shots = resolve('docs/site-screenshots');

/** The built page `name` (searched under `LAB_DIR`, else the typedoc site). */
function findPage(name: string): string | null {
  const dirs = [process.env['LAB_DIR'] ?? resolve('docs/site')];
  while (dirs.length > 0) {
    const dir = dirs.pop()!;
    if (!existsSync(dir)) continue;
    for (const entry of readdirSync(dir)) {
      const p = join(dir, entry);
      if (statSync(p).isDirectory()) dirs.push(p);
      else if (entry === name) return p;
    }
  }
  return null;
}

/** Opens `file` and collects its console errors and uncaught exceptions. */
async function open(browser: Browser, file: string): Promise<{ page: Page; errors: string[] }> {
  const page = await browser.newPage({ viewport: { width: 1280, height: 1200 } });
  const errors: string[] = [];
  page.on('console', (m) => {
    if (m.type() === 'error') errors.push(m.text());
  });
  page.on('pageerror', (e) => errors.push(e.message));
  await page.goto(pathToFileURL(file).href);
  return { page, errors };
}

test('lab pages in headless Chromium: the RoIAlign explorer and the live detector', async (t) => {
  if (executable === undefined) {
    t.fail('Chromium is missing: apt-get install -y --no-install-recommends chromium');
    return;
  }
  const explorerFile = findPage('explorer.html');
  const detectorFile = findPage('detector.html');
  if (explorerFile === null || detectorFile === null) {
    t.fail('the lab pages are not built: run npm run docs (or tools/web/build.ts with LAB_DIR)');
    return;
  }
  mkdirSync(shots, { recursive: true });
  const browser = await chromium.launch({ executablePath: executable, args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update'] });
  try {
    // The explorer: the worked example, then a drag, then RoIPool.
    const { page, errors } = await open(browser, explorerFile);
    type Explorer = { result: { output: number[]; gradient: number[]; backend: string }; state: { box: number[] } };
    const read = (): Promise<Explorer> => page.evaluate(() => (globalThis as unknown as { explorer: Explorer }).explorer);
    await page.waitForFunction(() => ((globalThis as unknown as { explorer?: Explorer }).explorer?.result.output.length ?? 0) === 4);
    let e = await read();
    const want = [-0.8546, 0.3236, 0.2177, 0.0546];
    t.ok(e.result.output.every((v, i) => Math.abs(v - want[i]!) < 5e-5), `RoIAlign, sampling ratio 1: ${e.result.output.map((v) => v.toFixed(4)).join(', ')} (the worked example: ${want.join(', ')})`);
    t.deepEqual(await page.$$eval('#output td', (cells) => cells.map((c) => c.textContent)), ['-0.8546', '0.3236', '0.2177', '0.0546'], 'the same numbers on the page');
    t.equal(e.result.gradient.filter((g) => g !== 0).length, 4, "bin (0, 0)'s gradient reaches its sample's four neighbours");
    t.ok(e.result.backend.length > 0, `backend: ${e.result.backend}`);
    await page.screenshot({ path: join(shots, 'lab-explorer.png'), fullPage: true });
    const canvas = (await page.$('#feature'))!;
    const bb = (await canvas.boundingBox())!;
    const scale = bb.width / 480;
    const centre = { x: bb.x + 67 * 2.5 * scale, y: bb.y + 67 * 2.5 * scale };
    await page.mouse.move(centre.x, centre.y);
    await page.mouse.down();
    await page.mouse.move(centre.x + 40 * scale, centre.y + 20 * scale, { steps: 4 });
    await page.mouse.up();
    e = await read();
    // The browser truncates mouse positions to whole CSS pixels, and the canvas sits at a
    // fractional offset (text above it), so the drag can come out one CSS pixel longer or shorter
    // than asked: 1 / (2.5 scale) image pixels, 0.4 here; the bound leaves room for that.
    const slack = 1.5 / (2.5 * scale);
    t.ok(e.state.box.every((v, i) => Math.abs(v - [26, 18, 140, 132][i]!) <= slack), `dragging the box by (40, 20) canvas pixels moves it by about (16, 8) image pixels (within ${slack.toFixed(2)}): ${e.state.box.join(', ')}`);
    t.ok(e.result.output.some((v, i) => Math.abs(v - want[i]!) > 1e-3), `and the output follows: ${e.result.output.map((v) => v.toFixed(4)).join(', ')}`);
    await page.evaluate(() => (globalThis as unknown as { explorer: { setBox(b: number[]): void } }).explorer.setBox([10, 10, 124, 124]));
    await page.selectOption('#method', 'pool');
    e = await read();
    t.ok([1.6871, 0.4676, 2.0242, 2.3571].every((v, i) => Math.abs(e.result.output[i]! - v) < 5e-5), `RoIPool on the worked example: ${e.result.output.map((v) => v.toFixed(4)).join(', ')}`);
    t.equal(e.result.gradient.filter((g) => g !== 0).length, 1, "RoIPool's gradient goes to one cell (the argmax)");

    // The explorer on a real FPN level: the zoo model's backbone on shapes image 0, level P2.
    await page.selectOption('#method', 'align');
    await page.selectOption('#source', 'zoo');
    type ZooExplorer = {
      result: { output: number[]; gradient: number[]; grid: number[]; stride: number; mappedLevel: number | null; gtBoxes: number[][]; error: string | null };
      state: { box: number[]; level: number; channel: number; outputSize: number; samplingRatio: number; seed: number };
    };
    await page.waitForFunction(() => {
      const x = (globalThis as unknown as { explorer: ZooExplorer }).explorer;
      return x.result.error !== null || x.result.grid[0] === 32;
    }, undefined, { timeout: 120_000 });
    const z = await page.evaluate(() => (globalThis as unknown as { explorer: ZooExplorer }).explorer);
    t.equal(z.result.error, null, 'the zoo source loaded the model and ran its backbone');
    t.deepEqual([z.state.level, ...z.result.grid, z.result.stride], [2, 32, 32, 4], 'P2 of the 128x128 shapes image: a 32x32 grid of stride 4');
    const zooModel = loadWeights(zooWeightsPath()).model;
    const shapes = shapesDetectionDataset(generateShapes({ count: 1, size: 128, seed: z.state.seed }), { contiguousLabels: true }).get(0);
    t.ok(z.state.box.every((v, i) => Math.abs(v - shapes.target.boxes.data[i]!) < 0.051), `the box starts on the first ground-truth box: ${z.state.box.join(', ')}`);
    const levels = noGrad(() => zooModel.backbone.fpn.forward(zooModel.backbone.body.forward(zooModel.transform.forward([shapes.image]).images.tensors)));
    const p2 = levels.get('0')!;
    const pooled = roiAlign(p2, tensor([[0, ...z.state.box]]), { outputSize: z.state.outputSize, spatialScale: 1 / 4, samplingRatio: z.state.samplingRatio, aligned: false, mode: 'avg' });
    const cells = z.state.outputSize ** 2;
    const want2 = Array.from(pooled.data.subarray(z.state.channel * cells, (z.state.channel + 1) * cells));
    const diff = Math.max(...z.result.output.map((v, i) => Math.abs(v - want2[i]!)));
    t.ok(z.result.output.length === cells && diff < 1e-4, `RoIAlign on P2 channel ${z.state.channel} in the page equals the library's in Node (max difference ${diff.toExponential(2)}): ${z.result.output.map((v) => v.toFixed(4)).join(', ')}`);
    const mapped = zooModel.roi_heads.boxRoiPool.forward(levels, [new Tensor(Float32Array.from(z.state.box), [1, 4])], [[128, 128]]).levels[0]! + 2;
    t.equal(z.result.mappedLevel, mapped, `the level mapper's choice shown (P${z.result.mappedLevel}) is the model pooler's (P${mapped})`);
    t.match(await page.textContent('#level-mapper') ?? '', new RegExp(`P${mapped}\\b`), 'and the page says so');
    await page.screenshot({ path: join(shots, 'lab-explorer-fpn.png'), fullPage: true });
    await page.selectOption('#level', '5');
    await page.waitForFunction(() => (globalThis as unknown as { explorer: ZooExplorer }).explorer.result.grid[0] === 4);
    const z5 = await page.evaluate(() => (globalThis as unknown as { explorer: ZooExplorer }).explorer);
    const pooled5 = roiAlign(levels.get('3')!, tensor([[0, ...z5.state.box]]), { outputSize: z5.state.outputSize, spatialScale: 1 / 32, samplingRatio: z5.state.samplingRatio, aligned: false, mode: 'avg' });
    const want5 = Array.from(pooled5.data.subarray(z5.state.channel * cells, (z5.state.channel + 1) * cells));
    t.ok(z5.result.output.every((v, i) => Math.abs(v - want5[i]!) < 1e-4), `P5 (4x4, stride 32), channel ${z5.state.channel}: the page's RoIAlign equals the library's too`);
    await page.selectOption('#source', 'worked');
    e = await read();
    t.ok(e.result.output.every((v, i) => Math.abs(v - want[i]!) < 5e-5), `back on the worked example: ${e.result.output.map((v) => v.toFixed(4)).join(', ')}`);
    t.deepEqual(errors, [], 'no console errors on the explorer');

    // The live detector: the zoo model on a generated image.
    const detector = await open(browser, detectorFile);
    type Detector = { result: { ready: boolean; error: string | null; backend: string; medianMs: number; detections: number; bestIoU: number[]; stages: string[] } };
    await detector.page.waitForFunction(() => {
      const r = (globalThis as unknown as { detector?: Detector }).detector?.result;
      return r !== undefined && (r.ready || r.error !== null);
    }, undefined, { timeout: 300_000 });
    const r = (await detector.page.evaluate(() => (globalThis as unknown as { detector: Detector }).detector.result));
    t.equal(r.error, null, 'the model loaded and ran');
    t.ok(r.bestIoU.some((v) => v > 0.5), `a mask with IoU > 0.5 with the ground truth (best IoU per shape: ${r.bestIoU.map((v) => v.toFixed(2)).join(', ')}; ${r.detections} detections)`);
    t.ok(r.backend.startsWith('wasm'), `backend reported: ${r.backend}`);
    t.ok(r.stages.length >= 15, `${r.stages.length} stages to step through`);
    await detector.page.click('#prev');
    t.match(await detector.page.textContent('#stage-title') ?? '', /^16\/\d+\. /, 'stepping back one stage');
    await detector.page.screenshot({ path: join(shots, 'lab-detector.png'), fullPage: true });
    t.deepEqual(detector.errors, [], 'no console errors on the detector');

    // Benchmark line: the same model and image in Node, one thread and all threads.
    const { model } = loadWeights(zooWeightsPath());
    const image = shapesDetectionDataset(generateShapes({ count: 1, size: 128, seed: 0 }), { contiguousLabels: true }).get(0).image;
    const median = (): number => {
      noGrad(() => model.forward([image]));
      const times = [0, 1, 2].map(() => {
        const t0 = performance.now();
        noGrad(() => model.forward([image]));
        return performance.now() - t0;
      });
      return times.sort((a, b) => a - b)[1]!;
    };
    const threads = wasmThreads();
    const nodeAll = median();
    setWasmThreads(1);
    const nodeOne = median();
    setWasmThreads(threads);
    console.log(`# zoo model inference, one 128x128 image (median of 3): Chromium ${r.medianMs.toFixed(0)} ms (${r.backend.split(';')[0]}); Node ${nodeOne.toFixed(0)} ms with 1 thread, ${nodeAll.toFixed(0)} ms with ${threads} (${describeBackend().split(';')[0]}); Chromium / Node 1 thread = ${(r.medianMs / nodeOne).toFixed(2)}`);
  } finally {
    await browser.close();
  }
});
