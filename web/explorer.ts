/**
 * The RoIAlign explorer (course, chapter 3 in the browser): the worked example's 6x6 feature map
 * of stride 32, a box to drag and resize, and every number RoIPool, RoIWarp and RoIAlign compute
 * for it, from the library itself: the output ({@link roiAlign} / {@link roiWarp} /
 * {@link roiPool}), one bin opened up ({@link inspectRoiAlign} / {@link inspectRoiPool}: sample
 * points, four neighbours, bilinear weights) and the gradient that flows back to the feature map
 * from that bin (autograd through the op's backward).
 *
 * A second source, "zoo model, shapes image", replaces the worked example by a real FPN level:
 * a generated shapes image goes through the zoo model's transform and backbone (ResNet + FPN,
 * as {@link MaskRCNN.forward} runs them), and one channel of the chosen level P2..P5 (stride
 * 4..32, the spatial scale) becomes the feature map; the box is in the model's input pixels
 * (default: a ground-truth box) and the level mapper ({@link mapLevels}, FPN Eq. 1) says which
 * level the model would pool it from. The shapes image is drawn beside the map with its
 * ground-truth boxes, the box and the level's cells.
 */
import { Tensor, noGrad, tensor } from '../lib/tensor/index.js';
import { describeBackend, inspectRoiAlign, inspectRoiPool, roiAlign, roiPool, roiWarp, roiWarpBox, type RoiAlignInspection, type RoiPoolInspection } from '../lib/ops/index.js';
import { ROI_WORKED_EXAMPLE } from '../lib/ops/roi_inspect.js';
import { generateShapes, mapLevels, shapesDetectionDataset, type MaskRCNN } from '../lib/maskrcnn/index.js';
import { backendMode, byId, divergingColor, modelFromBytes, setupBackendPicker, wasmWorkersReady } from './common.js';

/** Side of the feature canvas in canvas pixels (the grid's cells shrink as the map grows). */
const CANVAS = 480;
/** The FPN levels the RoI heads pool from (feature maps '0'..'3', as `RoIHeads` names them) and the level mapper's canonical level (FPN Eq. 1). */
const LEVELS = [2, 3, 4, 5];
const CANONICAL_LEVEL = 4;

/** The feature map shown: `h x w` values (row-major) of stride `stride` (image pixels per cell). */
interface Grid {
  data: Float32Array;
  h: number;
  w: number;
  stride: number;
  /** The colour scale's limit. */
  limit: number;
}

const WORKED: Grid = { data: Float32Array.from(ROI_WORKED_EXAMPLE.feature.flat()), h: 6, w: 6, stride: 32, limit: 2.5 };
const WORKED_BOX: [number, number, number, number] = [10, 10, 124, 124];
let grid: Grid = WORKED;
let CELL = 80; // canvas pixels per feature cell
let PX = CELL / grid.stride; // canvas pixels per image pixel
let feature = tensor([[[[0]]]]);

/** Makes `g` the map shown: cell size and the feature tensor follow. */
function setGrid(g: Grid): void {
  grid = g;
  CELL = CANVAS / Math.max(g.h, g.w);
  PX = CELL / g.stride;
  feature = new Tensor(Float32Array.from(g.data), [1, 1, g.h, g.w]);
}
setGrid(WORKED);

type Method = 'align' | 'warp' | 'pool';

/** Everything the page shows follows from this state. */
interface ExplorerState {
  /** The worked example (6x6, stride 32), or a channel of an FPN level of the zoo model on a generated shapes image. */
  source: 'worked' | 'zoo';
  /** The generated image's seed (zoo source). */
  seed: number;
  /** The FPN level shown, 2..5 = P2..P5 (zoo source). */
  level: number;
  /** The channel of the level shown (zoo source). */
  channel: number;
  box: [number, number, number, number];
  method: Method;
  outputSize: number;
  samplingRatio: number;
  aligned: boolean;
  mode: 'avg' | 'max';
  bin: [number, number];
}

/** What the page computed last (read by the browser test). */
interface ExplorerResult {
  output: number[];
  gradient: number[];
  backend: string;
  /** What ran, in a few words (`wasm, 2 threads`, `wasm, 1 thread (page not cross-origin isolated)`, `gpu.js, webgl2`). */
  mode: string;
  /** The feature map's rows and columns, and its stride. */
  grid: [number, number];
  stride: number;
  /** The level the model's level mapper picks for the box (zoo source; null for the worked example). */
  mappedLevel: number | null;
  /** The ground-truth boxes of the generated image (zoo source). */
  gtBoxes: number[][];
  /** The last error of the zoo source (loading the model), or null. */
  error: string | null;
}

const state: ExplorerState = { source: 'worked', seed: 0, level: 2, channel: 0, box: [...WORKED_BOX], method: 'align', outputSize: 2, samplingRatio: 1, aligned: false, mode: 'avg', bin: [0, 0] };
const result: ExplorerResult = { output: [], gradient: [], backend: '', mode: '', grid: [6, 6], stride: 32, mappedLevel: null, gtBoxes: [], error: null };
(globalThis as { explorer?: unknown }).explorer = {
  state,
  result,
  setBox: (box: [number, number, number, number]) => {
    state.box = box;
    update();
  },
};

const fmt = (v: number): string => (Math.abs(v) < 5e-5 ? '0' : v.toFixed(4));
const fmtBox = (v: number): string => String(Number(v.toFixed(1)));

/** The zoo model (decoded from the page's inlined weights on first use) and the backbone's FPN levels on the current generated image. */
let zooModel: MaskRCNN | null = null;
let zoo: { seed: number; levels: Map<string, Tensor>; gtBoxes: number[][]; imageHw: [number, number]; image: Tensor } | null = null;

/** Side of the shapes image's canvas in canvas pixels. */
const IMAGE_CANVAS = 256;

function loadZooModel(): MaskRCNN {
  if (zooModel !== null) return zooModel;
  // The build inlines the weights (base64), as for the live detector, so the page works from file:// too.
  const inlined = document.getElementById('zoo-model')?.textContent;
  if (inlined === undefined || inlined === null || inlined.length === 0) throw new Error('this page has no zoo model inside: build it with tools/web/build.ts');
  const bytes = Uint8Array.from(atob(inlined.trim()), (c) => c.charCodeAt(0));
  zooModel = modelFromBytes(bytes, 'the zoo shapes model').model;
  return zooModel;
}

/** Generates shapes image `seed` and runs the zoo model's transform and backbone (ResNet body, then FPN) on it, as `MaskRCNN.forward` does. */
function runBackbone(seed: number): NonNullable<typeof zoo> {
  const model = loadZooModel();
  const { image, target } = shapesDetectionDataset(generateShapes({ count: 1, size: 128, seed }), { contiguousLabels: true }).get(0);
  return noGrad(() => {
    const list = model.transform.forward([image]).images;
    const levels = model.backbone.fpn.forward(model.backbone.body.forward(list.tensors));
    // Boxes in the model's input pixels (the transform resizes the image to its minimum size; the zoo model's is the generated image's 128).
    const [h, w] = list.imageSizes[0]!;
    const sy = h / image.shape[1]!;
    const sx = w / image.shape[2]!;
    const gtBoxes = Array.from({ length: target.boxes.shape[0]! }, (_, i) => Array.from(target.boxes.data.subarray(4 * i, 4 * i + 4), (v, c) => Math.round(v * (c % 2 === 0 ? sx : sy) * 10) / 10));
    return { seed, levels, gtBoxes, imageHw: [h, w] as [number, number], image };
  });
}

/** The FPN level `level`'s feature map `[1, C, h, w]` on the current image. */
function levelMap(level: number): Tensor {
  const m = zoo!.levels.get(String(level - LEVELS[0]!));
  if (m === undefined) throw new Error(`the backbone returned no level P${level}`);
  return m;
}

/** The channel of largest variance of `map` `[1, C, h, w]`. */
function largestVarianceChannel(map: Tensor): number {
  const [, c, h, w] = map.shape as [number, number, number, number];
  let best = 0;
  let bestVar = -1;
  for (let k = 0; k < c; k++) {
    const v = map.data.subarray(k * h * w, (k + 1) * h * w) as Float32Array;
    let mean = 0;
    for (const x of v) mean += x;
    mean /= v.length;
    let variance = 0;
    for (const x of v) variance += (x - mean) ** 2;
    if (variance > bestVar) [best, bestVar] = [k, variance];
  }
  return best;
}

/** Shows channel `state.channel` of level `state.level` (zoo source). */
function showLevel(): void {
  const map = levelMap(state.level);
  const [, c, h, w] = map.shape as [number, number, number, number];
  state.channel = Math.min(Math.max(Math.round(state.channel), 0), c - 1);
  const data = Float32Array.from(map.data.subarray(state.channel * h * w, (state.channel + 1) * h * w));
  const limit = Math.max(1e-6, ...Array.from(data, Math.abs));
  setGrid({ data, h, w, stride: 2 ** state.level, limit });
  const channel = byId<HTMLInputElement>('channel');
  channel.max = String(c - 1);
  channel.value = String(state.channel);
}

/** The level the model's level mapper (FPN Eq. 1, `mapLevels` with the model's canonical scale) picks for the box, and the unclamped k. */
function mappedLevel(): { level: number; k: number; canonicalScale: number } {
  const canonicalScale = loadZooModel().config.roiHeads.canonicalScale;
  const [x1, y1, x2, y2] = state.box;
  const kMin = LEVELS[0]!;
  const kMax = LEVELS[LEVELS.length - 1]!;
  const level = mapLevels(new Tensor(Float32Array.from(state.box), [1, 4]), kMin, kMax, canonicalScale, CANONICAL_LEVEL)[0]! + kMin;
  const k = CANONICAL_LEVEL + Math.log2(Math.sqrt(Math.max(0, (x2 - x1) * (y2 - y1))) / canonicalScale);
  return { level, k, canonicalScale };
}

/** The op of the current method on the current box: output `[1, 1, PH, PW]`, and the gradient of the chosen bin's output. */
function compute(): { output: Tensor; gradient: Tensor } {
  const rows = Array.from({ length: grid.h }, (_, y) => Array.from(grid.data.subarray(y * grid.w, (y + 1) * grid.w)));
  const input = tensor([[rows]], { requiresGrad: true });
  const rois = tensor([[0, ...state.box]]);
  const common = { outputSize: state.outputSize, spatialScale: 1 / grid.stride };
  const align = { ...common, samplingRatio: state.samplingRatio, mode: state.mode };
  const output =
    state.method === 'pool' ? roiPool(input, rois, common) : state.method === 'warp' ? roiWarp(input, rois, align) : roiAlign(input, rois, { ...align, aligned: state.aligned });
  const pick = new Float32Array(state.outputSize * state.outputSize);
  pick[state.bin[0] * state.outputSize + state.bin[1]] = 1;
  output.mul(new Tensor(pick, [1, 1, state.outputSize, state.outputSize])).sum().backward();
  return { output: output.detach(), gradient: input.grad! };
}

/** The chosen bin opened up by the library's inspection functions. */
function inspect(): { align?: RoiAlignInspection; pool?: RoiPoolInspection } {
  const roi = [0, ...state.box];
  if (state.method === 'pool') return { pool: inspectRoiPool(feature, roi, { outputSize: state.outputSize, spatialScale: 1 / grid.stride }, state.bin) };
  const box = state.method === 'warp' ? roiWarpBox(roi, 1 / grid.stride) : roi;
  const aligned = state.method === 'align' && state.aligned;
  return { align: inspectRoiAlign(feature, box, { outputSize: state.outputSize, spatialScale: 1 / grid.stride, samplingRatio: state.samplingRatio, aligned }, state.bin) };
}

/** Feature coordinate (where cell k's value sits at k) to canvas pixels: cell k is drawn on [k, k + 1) cells, its value at the centre. */
const at = (coord: number): number => (coord + 0.5) * CELL;

/** Draws the grid's `values` as coloured cells (with their numbers when the cells are large enough to hold them) and the cell lines. */
function drawMap(ctx: CanvasRenderingContext2D, values: ArrayLike<number>, limit: number): void {
  const { h, w } = grid;
  const numbers = CELL >= 40;
  ctx.font = `${Math.min(15, Math.round(CELL / 5))}px sans-serif`;
  ctx.textAlign = 'center';
  ctx.textBaseline = 'middle';
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const v = values[y * w + x]!;
      ctx.fillStyle = divergingColor(v, limit);
      ctx.fillRect(x * CELL, y * CELL, CELL, CELL);
      if (!numbers) continue;
      ctx.fillStyle = '#222';
      ctx.fillText(fmt(v), x * CELL + CELL / 2, y * CELL + CELL / 2);
    }
  }
  ctx.strokeStyle = CELL >= 20 ? '#bbb' : 'rgba(160, 160, 160, 0.5)';
  ctx.lineWidth = 1;
  for (let k = 0; k <= w; k++) {
    ctx.beginPath();
    ctx.moveTo(k * CELL, 0);
    ctx.lineTo(k * CELL, h * CELL);
    ctx.stroke();
  }
  for (let k = 0; k <= h; k++) {
    ctx.beginPath();
    ctx.moveTo(0, k * CELL);
    ctx.lineTo(w * CELL, k * CELL);
    ctx.stroke();
  }
}

function drawFeatureCanvas(ins: { align?: RoiAlignInspection; pool?: RoiPoolInspection }): void {
  const canvas = byId<HTMLCanvasElement>('feature');
  const ctx = canvas.getContext('2d')!;
  ctx.clearRect(0, 0, canvas.width, canvas.height);
  drawMap(ctx, grid.data, grid.limit);
  const { h: H, w: W } = grid;
  const [x1, y1, x2, y2] = state.box;
  const P = state.outputSize;
  if (ins.pool) {
    const p = ins.pool;
    // The quantized region (whole cells) and its bins' cells.
    ctx.strokeStyle = '#7a00c8';
    ctx.lineWidth = 3;
    ctx.strokeRect(p.roiStartW * CELL, p.roiStartH * CELL, p.roiWidth * CELL, p.roiHeight * CELL);
    for (let ph = 0; ph < P; ph++) {
      for (let pw = 0; pw < P; pw++) {
        const hs = Math.min(Math.max(Math.floor(ph * p.binSizeH) + p.roiStartH, 0), H);
        const he = Math.min(Math.max(Math.ceil((ph + 1) * p.binSizeH) + p.roiStartH, 0), H);
        const ws = Math.min(Math.max(Math.floor(pw * p.binSizeW) + p.roiStartW, 0), W);
        const we = Math.min(Math.max(Math.ceil((pw + 1) * p.binSizeW) + p.roiStartW, 0), W);
        const chosen = ph === state.bin[0] && pw === state.bin[1];
        ctx.strokeStyle = chosen ? '#000' : 'rgba(122, 0, 200, 0.6)';
        ctx.lineWidth = chosen ? 3 : 1.5;
        ctx.setLineDash(chosen ? [] : [6, 4]);
        const inset = Math.min(3, CELL / 8);
        ctx.strokeRect(ws * CELL + inset, hs * CELL + inset, (we - ws) * CELL - 2 * inset, (he - hs) * CELL - 2 * inset);
      }
    }
    ctx.setLineDash([]);
    if (p.argmax) {
      ctx.beginPath();
      ctx.arc((p.argmax.x + 0.5) * CELL, (p.argmax.y + 0.5) * CELL - (CELL >= 40 ? 22 : 0), Math.min(7, CELL / 4), 0, 2 * Math.PI);
      ctx.fillStyle = '#000';
      ctx.fill();
    }
  } else if (ins.align) {
    const a = ins.align;
    // The RoI as the op samples it, and its bins.
    ctx.strokeStyle = '#007a3d';
    ctx.lineWidth = 2;
    for (let ph = 0; ph < P; ph++) {
      for (let pw = 0; pw < P; pw++) {
        const chosen = ph === state.bin[0] && pw === state.bin[1];
        ctx.lineWidth = chosen ? 3 : 1.5;
        ctx.strokeStyle = chosen ? '#000' : '#007a3d';
        ctx.strokeRect(at(a.roiStartW + pw * a.binSizeW), at(a.roiStartH + ph * a.binSizeH), a.binSizeW * CELL, a.binSizeH * CELL);
      }
    }
    // Every bin's sample points; the chosen bin's with lines to their four neighbours.
    for (let ph = 0; ph < P; ph++) {
      for (let pw = 0; pw < P; pw++) {
        const chosen = ph === state.bin[0] && pw === state.bin[1];
        for (let iy = 0; iy < a.gridH; iy++) {
          for (let ix = 0; ix < a.gridW; ix++) {
            const y = a.roiStartH + ph * a.binSizeH + ((iy + 0.5) * a.binSizeH) / a.gridH;
            const x = a.roiStartW + pw * a.binSizeW + ((ix + 0.5) * a.binSizeW) / a.gridW;
            ctx.beginPath();
            ctx.arc(at(x), at(y), Math.min(chosen ? 6 : 4, CELL / (chosen ? 5 : 7)), 0, 2 * Math.PI);
            ctx.fillStyle = chosen ? '#000' : '#007a3d';
            ctx.fill();
          }
        }
      }
    }
    for (const s of a.samples) {
      if (!s.inside) continue;
      const corners: Array<[number, number, number]> = [[s.yLow, s.xLow, s.w1], [s.yLow, s.xHigh, s.w2], [s.yHigh, s.xLow, s.w3], [s.yHigh, s.xHigh, s.w4]];
      for (const [cy, cx, w] of corners) {
        ctx.strokeStyle = `rgba(0, 0, 0, ${0.15 + 0.85 * w})`;
        ctx.lineWidth = (1 + 3 * w) * Math.min(1, CELL / 40);
        ctx.beginPath();
        ctx.moveTo(at(s.x), at(s.y));
        ctx.lineTo(at(cx), at(cy));
        ctx.stroke();
      }
    }
  }
  // The box as given, in image pixels (drag to move, drag a corner to resize).
  ctx.strokeStyle = '#e08000';
  ctx.lineWidth = 3;
  ctx.setLineDash([10, 5]);
  ctx.strokeRect(x1 * PX, y1 * PX, (x2 - x1) * PX, (y2 - y1) * PX);
  ctx.setLineDash([]);
  ctx.fillStyle = '#e08000';
  for (const [cx, cy] of [[x1, y1], [x2, y1], [x1, y2], [x2, y2]] as const) ctx.fillRect(cx * PX - 6, cy * PX - 6, 12, 12);
}

/** The shapes image (zoo source) with its ground-truth boxes (white), the box (orange) and the shown level's cells. */
function drawImage(): void {
  if (zoo === null) return;
  const canvas = byId<HTMLCanvasElement>('image');
  const [, ih, iw] = zoo.image.shape as [number, number, number];
  const [h, w] = zoo.imageHw;
  // Canvas pixels per model input pixel (boxes and cells are in model input pixels).
  const zoom = IMAGE_CANVAS / Math.max(h, w);
  canvas.width = Math.round(w * zoom);
  canvas.height = Math.round(h * zoom);
  const ctx = canvas.getContext('2d')!;
  const src = document.createElement('canvas');
  src.width = iw;
  src.height = ih;
  const rgba = new ImageData(iw, ih);
  const plane = ih * iw;
  for (let i = 0; i < plane; i++) {
    for (let c = 0; c < 3; c++) rgba.data[4 * i + c] = Math.round(255 * Math.min(1, Math.max(0, zoo.image.data[c * plane + i]!)));
    rgba.data[4 * i + 3] = 255;
  }
  src.getContext('2d')!.putImageData(rgba, 0, 0);
  ctx.imageSmoothingEnabled = false;
  ctx.drawImage(src, 0, 0, canvas.width, canvas.height);
  // The level's cells: one per `stride` input pixels.
  ctx.strokeStyle = 'rgba(255, 255, 255, 0.25)';
  ctx.lineWidth = 1;
  for (let x = 0; x <= w; x += grid.stride) {
    ctx.beginPath();
    ctx.moveTo(x * zoom, 0);
    ctx.lineTo(x * zoom, h * zoom);
    ctx.stroke();
  }
  for (let y = 0; y <= h; y += grid.stride) {
    ctx.beginPath();
    ctx.moveTo(0, y * zoom);
    ctx.lineTo(w * zoom, y * zoom);
    ctx.stroke();
  }
  ctx.strokeStyle = '#fff';
  ctx.lineWidth = 1.5;
  ctx.setLineDash([4, 3]);
  for (const [x1, y1, x2, y2] of zoo.gtBoxes) ctx.strokeRect(x1! * zoom, y1! * zoom, (x2! - x1!) * zoom, (y2! - y1!) * zoom);
  ctx.setLineDash([]);
  const [x1, y1, x2, y2] = state.box;
  ctx.strokeStyle = '#e08000';
  ctx.lineWidth = 2.5;
  ctx.strokeRect(x1 * zoom, y1 * zoom, (x2 - x1) * zoom, (y2 - y1) * zoom);
  byId('image-caption').textContent = `Shapes image ${zoo.seed} (${w}×${h} model input pixels): ground-truth boxes (white, dashed), the box (orange), and the cells of P${state.level} (stride ${grid.stride}).`;
}

function drawGradient(gradient: Tensor): void {
  const canvas = byId<HTMLCanvasElement>('gradient');
  const ctx = canvas.getContext('2d')!;
  ctx.clearRect(0, 0, canvas.width, canvas.height);
  const limit = Math.max(1e-6, ...Array.from(gradient.data, Math.abs));
  drawMap(ctx, gradient.data, limit);
  const nonzero = Array.from(gradient.data).filter((v) => v !== 0).length;
  byId('gradient-caption').textContent = `d output[${state.bin.join(', ')}] / d feature: ${nonzero} of ${grid.h * grid.w} cells receive gradient${state.method === 'pool' || state.mode === 'max' ? ' (max pooling: the argmax only)' : ' (bilinear weights / samples, spread over every neighbour)'}.`;
}

function drawOutput(output: Tensor): void {
  const table = byId<HTMLTableElement>('output');
  table.innerHTML = '';
  const P = state.outputSize;
  for (let ph = 0; ph < P; ph++) {
    const row = table.insertRow();
    for (let pw = 0; pw < P; pw++) {
      const cell = row.insertCell();
      const v = output.data[ph * P + pw]!;
      cell.textContent = fmt(v);
      cell.dataset['value'] = String(v);
      cell.style.background = divergingColor(v, grid.limit);
      if (ph === state.bin[0] && pw === state.bin[1]) cell.className = 'chosen';
      cell.addEventListener('click', () => {
        state.bin = [ph, pw];
        update();
      });
    }
  }
}

function describeBin(ins: { align?: RoiAlignInspection; pool?: RoiPoolInspection }): void {
  const el = byId('details');
  if (ins.pool) {
    const p = ins.pool;
    el.innerHTML =
      `<p><b>RoIPool, bin (${p.bin.join(', ')})</b>. First rounding: the box × 1/${grid.stride} = x ${fmt(p.scaled.x1)}..${fmt(p.scaled.x2)}, y ${fmt(p.scaled.y1)}..${fmt(p.scaled.y2)} becomes columns ${p.roiStartW}..${p.roiEndW}, rows ${p.roiStartH}..${p.roiEndH} (${p.roiWidth} × ${p.roiHeight} cells). ` +
      `Second rounding: bins of ${fmt(p.binSizeH)} × ${fmt(p.binSizeW)} cells; this bin covers rows ${p.hstart}..${p.hend - 1}, columns ${p.wstart}..${p.wend - 1}.</p>` +
      `<p>Output = max of its cells = <b>${fmt(p.max)}</b>${p.argmax ? ` at (${p.argmax.y}, ${p.argmax.x})` : ' (empty bin)'}; the gradient goes to that one cell.</p>`;
    return;
  }
  const a = ins.align!;
  const rows = a.samples
    .map(
      (s) =>
        `<tr><td>(${fmt(s.y)}, ${fmt(s.x)})</td><td>${s.inside ? `(${s.yLow}, ${s.xLow}) (${s.yLow}, ${s.xHigh}) (${s.yHigh}, ${s.xLow}) (${s.yHigh}, ${s.xHigh})` : 'outside: 0'}</td>` +
        `<td>${fmt(s.f1)}, ${fmt(s.f2)}, ${fmt(s.f3)}, ${fmt(s.f4)}</td><td>${fmt(s.w1)}, ${fmt(s.w2)}, ${fmt(s.w3)}, ${fmt(s.w4)}</td><td>${fmt(s.value)}</td></tr>`,
    )
    .join('');
  const name = state.method === 'warp' ? 'RoIWarp' : 'RoIAlign';
  el.innerHTML =
    `<p><b>${name}, bin (${a.bin.join(', ')})</b>. ${state.method === 'warp' ? `The box rounded to the grid: ${roiWarpBox([0, ...state.box], 1 / grid.stride).slice(1).join(', ')} (image pixels), then ` : 'No rounding: '}` +
    `the RoI on the feature map is x ${fmt(a.roiStartW)}..${fmt(a.roiEndW)}, y ${fmt(a.roiStartH)}..${fmt(a.roiEndH)}${a.aligned ? ' (shifted by half a cell: aligned)' : ''}; bins of ${fmt(a.binSizeH)} × ${fmt(a.binSizeW)} cells, ${a.gridH} × ${a.gridW} samples per bin${state.samplingRatio <= 0 ? ' (adaptive: ceil(bin size))' : ''}.</p>` +
    `<table class="samples"><tr><th>sample (y, x)</th><th>four neighbours (row, column)</th><th>f1..f4</th><th>w1..w4</th><th>value</th></tr>${rows}</table>` +
    `<p>Output = ${state.mode === 'max' ? `max of the samples = <b>${fmt(a.max)}</b>` : `mean of the ${a.count} samples = <b>${fmt(a.output)}</b>`}.</p>`;
}

function update(): void {
  const { output, gradient } = compute();
  const ins = inspect();
  drawFeatureCanvas(ins);
  drawGradient(gradient);
  drawOutput(output);
  describeBin(ins);
  result.output = Array.from(output.data);
  result.gradient = Array.from(gradient.data);
  result.backend = describeBackend();
  result.mode = backendMode();
  result.grid = [grid.h, grid.w];
  result.stride = grid.stride;
  const mapper = byId('level-mapper');
  byId('image-figure').hidden = state.source !== 'zoo';
  if (state.source === 'zoo') {
    drawImage();
    const m = mappedLevel();
    result.mappedLevel = m.level;
    const [x1, y1, x2, y2] = state.box;
    mapper.innerHTML =
      `level mapper: <b>P${m.level}</b> (k = ⌊${CANONICAL_LEVEL} + log2(√(${fmtBox(x2 - x1)} × ${fmtBox(y2 - y1)}) / ${m.canonicalScale})⌋ = ⌊${Number.isFinite(m.k) ? m.k.toFixed(3) : '−∞'}⌋, clamped to ${LEVELS[0]}..${LEVELS[LEVELS.length - 1]})` +
      (m.level === state.level ? ': the model pools this box from the level shown.' : `: the model would pool this box from P${m.level}, not P${state.level}.`);
  } else {
    result.mappedLevel = null;
    mapper.textContent = '';
  }
  (['x1', 'y1', 'x2', 'y2'] as const).forEach((k, i) => (byId<HTMLInputElement>(`box-${k}`).value = String(Number(state.box[i]!.toFixed(1)))));
  const where = state.source === 'zoo' ? `zoo model, shapes image ${state.seed}, P${state.level} (${grid.h}×${grid.w}, stride ${grid.stride}), channel ${state.channel}; ` : '';
  byId('status').textContent = `${where}running: ${result.mode} (${result.backend})`;
}

function setupControls(): void {
  const method = byId<HTMLSelectElement>('method');
  const size = byId<HTMLSelectElement>('output-size');
  const ratio = byId<HTMLSelectElement>('sampling-ratio');
  const aligned = byId<HTMLInputElement>('aligned');
  const mode = byId<HTMLSelectElement>('mode');
  const sync = (): void => {
    state.method = method.value as Method;
    state.outputSize = Number(size.value);
    state.samplingRatio = Number(ratio.value);
    state.aligned = aligned.checked && state.method === 'align';
    state.mode = mode.value as 'avg' | 'max';
    aligned.disabled = state.method !== 'align';
    ratio.disabled = mode.disabled = state.method === 'pool';
    state.bin = [Math.min(state.bin[0], state.outputSize - 1), Math.min(state.bin[1], state.outputSize - 1)];
    update();
  };
  for (const el of [method, size, ratio, aligned, mode]) el.addEventListener('change', sync);
  (['x1', 'y1', 'x2', 'y2'] as const).forEach((k, i) =>
    byId<HTMLInputElement>(`box-${k}`).addEventListener('change', (e) => {
      const v = Number((e.target as HTMLInputElement).value);
      if (Number.isFinite(v)) {
        state.box[i] = v;
        update();
      }
    }),
  );
  setupBackendPicker(byId<HTMLSelectElement>('backend'), update);
  // The source: the worked example, or a channel of an FPN level of the zoo model on a generated image.
  const source = byId<HTMLSelectElement>('source');
  const seed = byId<HTMLInputElement>('seed');
  const level = byId<HTMLSelectElement>('level');
  const channel = byId<HTMLInputElement>('channel');
  const zooStatus = (text: string, error = false): void => {
    const el = byId('zoo-status');
    el.textContent = text;
    el.className = error ? 'status error' : 'status';
  };
  /** Re-runs the backbone when the seed changed; `resetBox` puts the box on the first ground-truth box, `resetChannel` picks the channel of largest variance. */
  const showZoo = (resetBox: boolean, resetChannel: boolean): void => {
    try {
      if (zoo === null || zoo.seed !== state.seed) zoo = runBackbone(state.seed);
      result.gtBoxes = zoo.gtBoxes;
      if (resetChannel) state.channel = largestVarianceChannel(levelMap(state.level));
      if (resetBox && zoo.gtBoxes.length > 0) state.box = [...zoo.gtBoxes[0]!] as [number, number, number, number];
      showLevel();
      result.error = null;
      zooStatus(`image ${state.seed}: ${zoo.imageHw.join('×')} model input pixels, ground-truth boxes ${zoo.gtBoxes.map((b) => `(${b.map(fmtBox).join(', ')})`).join(' ')}`);
      update();
    } catch (error) {
      result.error = (error as Error).message;
      zooStatus(result.error, true);
    }
  };
  source.addEventListener('change', () => {
    state.source = source.value as 'worked' | 'zoo';
    byId('zoo-controls').hidden = state.source !== 'zoo';
    if (state.source === 'worked') {
      setGrid(WORKED);
      state.box = [...WORKED_BOX];
      update();
      return;
    }
    zooStatus('loading the zoo model and running its backbone...');
    // Let the page show the message before the (synchronous) work, and the wasm backend's Web
    // Workers start where the page is cross-origin isolated (one thread otherwise).
    void wasmWorkersReady().then(() => showZoo(true, true));
  });
  seed.addEventListener('change', () => {
    state.seed = Math.max(0, Math.round(Number(seed.value) || 0));
    seed.value = String(state.seed);
    showZoo(true, true);
  });
  level.addEventListener('change', () => {
    state.level = Number(level.value);
    showZoo(false, true);
  });
  channel.addEventListener('change', () => {
    const v = Number(channel.value);
    if (Number.isFinite(v)) state.channel = v;
    showZoo(false, false);
  });
  // Dragging: a corner resizes, the inside moves.
  const canvas = byId<HTMLCanvasElement>('feature');
  let drag: { corner: number; start: [number, number]; box: [number, number, number, number] } | null = null;
  const imagePoint = (e: MouseEvent): [number, number] => {
    const r = canvas.getBoundingClientRect();
    return [((e.clientX - r.left) * (canvas.width / r.width)) / PX, ((e.clientY - r.top) * (canvas.height / r.height)) / PX];
  };
  canvas.addEventListener('mousedown', (e) => {
    const [x, y] = imagePoint(e);
    const [x1, y1, x2, y2] = state.box;
    const corners = [[x1, y1], [x2, y1], [x1, y2], [x2, y2]];
    const corner = corners.findIndex(([cx, cy]) => Math.hypot(cx! - x, cy! - y) * PX < 12);
    if (corner >= 0 || (x > x1 && x < x2 && y > y1 && y < y2)) drag = { corner, start: [x, y], box: [...state.box] };
  });
  window.addEventListener('mousemove', (e) => {
    if (drag === null) return;
    const [x, y] = imagePoint(e);
    const dx = x - drag.start[0];
    const dy = y - drag.start[1];
    const b: [number, number, number, number] = [...drag.box];
    if (drag.corner < 0) {
      b[0] += dx;
      b[2] += dx;
      b[1] += dy;
      b[3] += dy;
    } else {
      if (drag.corner === 0 || drag.corner === 2) b[0] += dx;
      else b[2] += dx;
      if (drag.corner === 0 || drag.corner === 1) b[1] += dy;
      else b[3] += dy;
    }
    state.box = b.map((v) => Math.round(v * 10) / 10) as [number, number, number, number];
    update();
  });
  window.addEventListener('mouseup', () => (drag = null));
  sync();
}

setupControls();
