/**
 * The course's lab pages in headless Chromium (Debian's `chromium`, driven by playwright-core):
 * the RoIAlign explorer shows the worked example's numbers and follows a dragged box, and on the
 * "zoo model, shapes image" source pools a real FPN level as the library does in Node (also
 * after a drag) beside the shapes image; the live detector runs the zoo model in the page and
 * finds the shapes of a generated image. Opened from `file://` the pages are not cross-origin
 * isolated and say that the wasm backend runs one thread; served with COOP/COEP
 * (`tools/web/serve.ts`) they run its GEMM on Web Workers (N > 1 threads that really take part),
 * with the same detections as one thread, and gpu.js on WebGL where Chromium has it (SwiftShader
 * even with --disable-gpu). Also prints the page's inference time beside Node's on the same
 * machine (a benchmark line, not asserted; `tools/web/bench.ts` measures every mode).
 *
 * Run by `npm run docs` after the site is built (pages copied by typedoc under `docs/site/`);
 * `LAB_DIR=DIR` tests the pages of another build (`node --import tsx tools/web/build.ts DIR`).
 * Screenshots go to `docs/site-screenshots/lab-*.png`.
 */
import test from 'tape';
import { existsSync, mkdirSync, readdirSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { chromium, type Browser, type Page } from 'playwright-core';
import { Tensor, noGrad, tensor } from '../../lib/tensor/index.js';
import { describeBackend, roiAlign } from '../../lib/ops/index.js';
import { setWasmThreads, wasmThreads } from '../../lib/ops/wasm/index.js';
import { generateShapes, loadWeights, shapesDetectionDataset, zooWeightsPath } from '../../lib/maskrcnn/index.js';
import { serveStatic } from '../../tools/web/serve.js';

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

/** The flags the tests launch Chromium with (headless; WebGL still comes from SwiftShader). */
const CHROMIUM_ARGS = ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update'];

/** Opens `file` (a path, or an http URL) and collects its console errors and uncaught exceptions. */
async function open(browser: Browser, file: string): Promise<{ page: Page; errors: string[] }> {
  const page = await browser.newPage({ viewport: { width: 1280, height: 1200 } });
  const errors: string[] = [];
  page.on('console', (m) => {
    if (m.type() === 'error') errors.push(m.text());
  });
  page.on('pageerror', (e) => errors.push(e.message));
  await page.goto(file.startsWith('http') ? file : pathToFileURL(file).href);
  return { page, errors };
}

/** The zoo source's box, channel and output after the drag, from the file:// explorer: the isolated page must give the same numbers. */
let zooOutput: { box: number[]; channel: number; output: number[] } | null = null;

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
  const browser = await chromium.launch({ executablePath: executable, args: CHROMIUM_ARGS });
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
    t.equal((e as unknown as { result: { mode: string } }).result.mode, 'wasm, 1 thread (page not cross-origin isolated)', 'from file:// the page is not isolated, and says the wasm backend runs one thread');
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
    t.equal(await page.isVisible('#image'), true, 'the shapes image is shown beside the FPN map');
    await page.screenshot({ path: join(shots, 'lab-explorer-fpn.png'), fullPage: true });
    // Drag the box on the FPN map (by its inside): it moves, and the output is still the library's.
    const zooCanvas = (await (await page.$('#feature'))!.boundingBox())!;
    const zoomPx = (zooCanvas.width / 480) * (480 / 32 / 4); // CSS pixels per input pixel: 32 cells of stride 4 on 480 canvas pixels
    const before = [...z.state.box];
    const from = { x: zooCanvas.x + ((before[0]! + before[2]!) / 2) * zoomPx, y: zooCanvas.y + ((before[1]! + before[3]!) / 2) * zoomPx };
    await page.mouse.move(from.x, from.y);
    await page.mouse.down();
    await page.mouse.move(from.x + 12 * zoomPx, from.y + 8 * zoomPx, { steps: 4 });
    await page.mouse.up();
    const zd = await page.evaluate(() => (globalThis as unknown as { explorer: ZooExplorer }).explorer);
    const moved = zd.state.box.map((v, i) => v - before[i]!);
    t.ok(Math.abs(moved[0]! - 12) < 1 && Math.abs(moved[1]! - 8) < 1 && Math.abs(moved[2]! - moved[0]!) < 0.11 && Math.abs(moved[3]! - moved[1]!) < 0.11, `dragging the box on P2 moves it by about (12, 8) input pixels: (${moved.map((v) => v.toFixed(1)).join(', ')})`);
    t.ok(zd.result.output.some((v, i) => Math.abs(v - z.result.output[i]!) > 1e-4), `and the output changes: ${zd.result.output.map((v) => v.toFixed(4)).join(', ')}`);
    const pooledDragged = roiAlign(p2, tensor([[0, ...zd.state.box]]), { outputSize: zd.state.outputSize, spatialScale: 1 / 4, samplingRatio: zd.state.samplingRatio, aligned: false, mode: 'avg' });
    const wantDragged = Array.from(pooledDragged.data.subarray(zd.state.channel * cells, (zd.state.channel + 1) * cells));
    t.ok(zd.result.output.every((v, i) => Math.abs(v - wantDragged[i]!) < 1e-4), 'to the library\'s RoIAlign on the moved box in Node');
    zooOutput = { box: zd.state.box, channel: zd.state.channel, output: zd.result.output };
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
    t.equal((r as unknown as { mode: string }).mode, 'wasm, 1 thread (page not cross-origin isolated)', 'and what ran: one thread (file:// is not cross-origin isolated)');
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

/** What the detector page's `detect(seed)` returns. */
interface Detected {
  mode: string;
  ms: number;
  workersThatJoined: number;
  detections: number;
  boxes: number[][];
  labels: number[];
  scores: number[];
  bestIoU: number[];
}

test('lab pages served cross-origin isolated: wasm threads on Web Workers, the same detections as one thread; gpu.js on WebGL', async (t) => {
  const explorerFile = findPage('explorer.html');
  const detectorFile = findPage('detector.html');
  if (executable === undefined || explorerFile === null || detectorFile === null) {
    t.fail('Chromium or the built lab pages are missing (see the first test)');
    return;
  }
  mkdirSync(shots, { recursive: true });
  const servers = await Promise.all([dirname(explorerFile), dirname(detectorFile)].map((dir) => serveStatic(dir, { port: 0 })));
  const browser = await chromium.launch({ executablePath: executable, args: CHROMIUM_ARGS });
  try {
    // The live detector, isolated: its default thread count, workers that really joined, and
    // the same detections with one thread.
    const { page, errors } = await open(browser, `${servers[1]!.url}detector.html`);
    type DetectorPage = { result: { ready: boolean; error: string | null; mode: string; bestIoU: number[] } };
    await page.waitForFunction(() => {
      const r = (globalThis as unknown as { detector?: DetectorPage }).detector?.result;
      return r !== undefined && (r.ready || r.error !== null);
    }, undefined, { timeout: 300_000 });
    const env = await page.evaluate(() => { const g = globalThis as unknown as { crossOriginIsolated: boolean; navigator: { hardwareConcurrency: number } }; return { isolated: g.crossOriginIsolated, cores: g.navigator.hardwareConcurrency }; });
    t.ok(env.isolated, `served with COOP/COEP the page is cross-origin isolated (${env.cores} cores)`);
    const first = await page.evaluate(() => (globalThis as unknown as { detector: DetectorPage }).detector.result);
    t.equal(first.error, null, 'the model loaded and ran');
    const defaultThreads = Math.min(16, env.cores);
    t.equal(first.mode, defaultThreads > 1 ? `wasm, ${defaultThreads} threads` : 'wasm, 1 thread (one thread asked for)', `the page says what ran: ${first.mode}`);
    t.ok(first.bestIoU.some((v) => v > 0.5), `and finds the shapes (best IoU per shape: ${first.bestIoU.map((v) => v.toFixed(2)).join(', ')})`);
    // At least two threads, whatever the machine's cores.
    const threads = Math.max(2, defaultThreads);
    type Api = { setThreads(n: number): Promise<number>; detect(seed: number): Detected; setBackend(name: string): void };
    const ready = await page.evaluate((n) => (globalThis as unknown as { detector: Api }).detector.setThreads(n), threads);
    t.equal(ready, threads, `${threads} threads: the Web Workers started`);
    // A worker joins a product only if it wakes before the main thread has done every chunk: on
    // a loaded machine it may miss the products of one pass, so up to 3 passes.
    let many = await page.evaluate(() => (globalThis as unknown as { detector: Api }).detector.detect(0));
    for (let pass = 1; pass < 3 && many.workersThatJoined === 0; pass++) many = await page.evaluate(() => (globalThis as unknown as { detector: Api }).detector.detect(0));
    t.equal(many.mode, `wasm, ${threads} threads`, `detect(0) ran on ${many.mode}`);
    t.ok(many.workersThatJoined >= 1, `${many.workersThatJoined} of ${threads - 1} worker(s) took part in the products`);
    await page.screenshot({ path: join(shots, 'lab-detector-threads.png'), fullPage: true });
    await page.evaluate(() => (globalThis as unknown as { detector: Api }).detector.setThreads(1));
    const one = await page.evaluate(() => (globalThis as unknown as { detector: Api }).detector.detect(0));
    t.equal(one.mode, 'wasm, 1 thread (one thread asked for)', 'then one thread');
    t.ok(many.detections > 0 && many.boxes.length === one.boxes.length, `${many.detections} detection(s) with score >= 0.5, ${many.boxes.length} in all, with either`);
    t.deepEqual([many.boxes, many.labels, many.scores], [one.boxes, one.labels, one.scores], `the same boxes, labels and scores, bit for bit, with ${threads} threads and with one`);
    // gpu.js on WebGL, where this Chromium has it.
    const backends = await page.$$eval('#backend option', (options) => options.map((o) => (o as unknown as { value: string }).value));
    if (!backends.includes('gpu')) {
      t.comment('gpu.js is not available in this Chromium: not tested');
    } else {
      await page.evaluate(() => (globalThis as unknown as { detector: Api }).detector.setBackend('gpu'));
      const gpu = await page.evaluate(() => (globalThis as unknown as { detector: Api }).detector.detect(0));
      if (!/webgl/.test(gpu.mode)) {
        t.comment(`gpu.js runs ${gpu.mode} here, not WebGL: its result is not compared`);
      } else {
        t.pass(`gpu.js runs on WebGL: ${gpu.mode}`);
        t.ok(gpu.bestIoU.some((v) => v > 0.5), `and finds the shapes too (best IoU per shape: ${gpu.bestIoU.map((v) => v.toFixed(2)).join(', ')})`);
        const close = gpu.boxes.length === one.boxes.length && gpu.boxes.every((b, i) => b.every((v, j) => Math.abs(v - one.boxes[i]![j]!) < 0.05)) && gpu.labels.every((l, i) => l === one.labels[i]);
        t.ok(close, `the same detections as wasm within float32 rounding (${gpu.boxes.length} vs ${one.boxes.length} boxes)`);
        await page.screenshot({ path: join(shots, 'lab-detector-webgl.png'), fullPage: true });
      }
    }
    t.deepEqual(errors, [], 'no console errors on the isolated detector');

    // The explorer, isolated: the zoo source runs the backbone on the threads, with the numbers of the file:// page.
    const explorer = await open(browser, `${servers[0]!.url}explorer.html`);
    type Explorer = { result: { output: number[]; grid: number[]; mode: string; error: string | null }; state: { box: number[]; channel: number }; setBox(b: number[]): void };
    await explorer.page.waitForFunction(() => ((globalThis as unknown as { explorer?: Explorer }).explorer?.result.output.length ?? 0) === 4);
    await explorer.page.selectOption('#source', 'zoo');
    await explorer.page.waitForFunction(() => {
      const x = (globalThis as unknown as { explorer: Explorer }).explorer;
      return x.result.error !== null || x.result.grid[0] === 32;
    }, undefined, { timeout: 120_000 });
    const x = await explorer.page.evaluate(() => (globalThis as unknown as { explorer: Explorer }).explorer);
    t.equal(x.result.error, null, 'the zoo source ran');
    t.equal(x.result.mode, `wasm, ${defaultThreads > 1 ? `${defaultThreads} threads` : '1 thread (one thread asked for)'}`, `the explorer says what ran: ${x.result.mode}`);
    if (zooOutput !== null) {
      const want = zooOutput;
      await explorer.page.evaluate((box) => (globalThis as unknown as { explorer: Explorer }).explorer.setBox(box), want.box);
      const y = await explorer.page.evaluate(() => (globalThis as unknown as { explorer: Explorer }).explorer);
      t.equal(y.state.channel, want.channel, 'the same channel picked');
      t.deepEqual(y.result.output, want.output, 'the same RoIAlign output on the same box as the one-thread file:// page, bit for bit');
    }
    t.deepEqual(explorer.errors, [], 'no console errors on the isolated explorer');
  } finally {
    await browser.close();
    await Promise.all(servers.map((s) => s.close()));
  }
});
