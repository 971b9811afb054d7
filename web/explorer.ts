/**
 * The RoIAlign explorer (course, chapter 3 in the browser): the worked example's 6x6 feature map
 * of stride 32, a box to drag and resize, and every number RoIPool, RoIWarp and RoIAlign compute
 * for it, from the library itself: the output ({@link roiAlign} / {@link roiWarp} /
 * {@link roiPool}), one bin opened up ({@link inspectRoiAlign} / {@link inspectRoiPool}: sample
 * points, four neighbours, bilinear weights) and the gradient that flows back to the feature map
 * from that bin (autograd through the op's backward).
 */
import { Tensor, tensor } from '../lib/tensor/index.js';
import { describeBackend, inspectRoiAlign, inspectRoiPool, roiAlign, roiPool, roiWarp, roiWarpBox, type RoiAlignInspection, type RoiPoolInspection } from '../lib/ops/index.js';
import { ROI_WORKED_EXAMPLE } from '../lib/ops/roi_figure.js';
import { byId, divergingColor, setupBackendPicker } from './common.js';

const FEATURE = ROI_WORKED_EXAMPLE.feature;
const N = 6;
const STRIDE = 32;
const CELL = 80; // canvas pixels per feature cell
const PX = CELL / STRIDE; // canvas pixels per image pixel

type Method = 'align' | 'warp' | 'pool';

/** Everything the page shows follows from this state. */
interface ExplorerState {
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
}

const state: ExplorerState = { box: [10, 10, 124, 124], method: 'align', outputSize: 2, samplingRatio: 1, aligned: false, mode: 'avg', bin: [0, 0] };
const result: ExplorerResult = { output: [], gradient: [], backend: '' };
(globalThis as { explorer?: unknown }).explorer = {
  state,
  result,
  setBox: (box: [number, number, number, number]) => {
    state.box = box;
    update();
  },
};

const feature = tensor([[FEATURE.map((row) => [...row])]]);
const fmt = (v: number): string => (Math.abs(v) < 5e-5 ? '0' : v.toFixed(4));

/** The op of the current method on the current box: output `[1, 1, PH, PW]`, and the gradient of the chosen bin's output. */
function compute(): { output: Tensor; gradient: Tensor } {
  const input = tensor([[FEATURE.map((row) => [...row])]], { requiresGrad: true });
  const rois = tensor([[0, ...state.box]]);
  const common = { outputSize: state.outputSize, spatialScale: 1 / STRIDE };
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
  if (state.method === 'pool') return { pool: inspectRoiPool(feature, roi, { outputSize: state.outputSize, spatialScale: 1 / STRIDE }, state.bin) };
  const box = state.method === 'warp' ? roiWarpBox(roi, 1 / STRIDE) : roi;
  const aligned = state.method === 'align' && state.aligned;
  return { align: inspectRoiAlign(feature, box, { outputSize: state.outputSize, spatialScale: 1 / STRIDE, samplingRatio: state.samplingRatio, aligned }, state.bin) };
}

/** Feature coordinate (where cell k's value sits at k) to canvas pixels: cell k is drawn on [k, k + 1) cells, its value at the centre. */
const at = (coord: number): number => (coord + 0.5) * CELL;

function drawMap(ctx: CanvasRenderingContext2D, values: ArrayLike<number>, limit: number): void {
  ctx.font = '15px sans-serif';
  ctx.textAlign = 'center';
  ctx.textBaseline = 'middle';
  for (let y = 0; y < N; y++) {
    for (let x = 0; x < N; x++) {
      const v = values[y * N + x]!;
      ctx.fillStyle = divergingColor(v, limit);
      ctx.fillRect(x * CELL, y * CELL, CELL, CELL);
      ctx.fillStyle = '#222';
      ctx.fillText(fmt(v), x * CELL + CELL / 2, y * CELL + CELL / 2);
    }
  }
  ctx.strokeStyle = '#bbb';
  ctx.lineWidth = 1;
  for (let k = 0; k <= N; k++) {
    ctx.beginPath();
    ctx.moveTo(k * CELL, 0);
    ctx.lineTo(k * CELL, N * CELL);
    ctx.moveTo(0, k * CELL);
    ctx.lineTo(N * CELL, k * CELL);
    ctx.stroke();
  }
}

function drawFeatureCanvas(ins: { align?: RoiAlignInspection; pool?: RoiPoolInspection }): void {
  const canvas = byId<HTMLCanvasElement>('feature');
  const ctx = canvas.getContext('2d')!;
  ctx.clearRect(0, 0, canvas.width, canvas.height);
  drawMap(ctx, feature.data, 2.5);
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
        const hs = Math.min(Math.max(Math.floor(ph * p.binSizeH) + p.roiStartH, 0), N);
        const he = Math.min(Math.max(Math.ceil((ph + 1) * p.binSizeH) + p.roiStartH, 0), N);
        const ws = Math.min(Math.max(Math.floor(pw * p.binSizeW) + p.roiStartW, 0), N);
        const we = Math.min(Math.max(Math.ceil((pw + 1) * p.binSizeW) + p.roiStartW, 0), N);
        const chosen = ph === state.bin[0] && pw === state.bin[1];
        ctx.strokeStyle = chosen ? '#000' : 'rgba(122, 0, 200, 0.6)';
        ctx.lineWidth = chosen ? 3 : 1.5;
        ctx.setLineDash(chosen ? [] : [6, 4]);
        ctx.strokeRect(ws * CELL + 3, hs * CELL + 3, (we - ws) * CELL - 6, (he - hs) * CELL - 6);
      }
    }
    ctx.setLineDash([]);
    if (p.argmax) {
      ctx.beginPath();
      ctx.arc((p.argmax.x + 0.5) * CELL, (p.argmax.y + 0.5) * CELL - 22, 7, 0, 2 * Math.PI);
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
            ctx.arc(at(x), at(y), chosen ? 6 : 4, 0, 2 * Math.PI);
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
        ctx.lineWidth = 1 + 3 * w;
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

function drawGradient(gradient: Tensor): void {
  const canvas = byId<HTMLCanvasElement>('gradient');
  const ctx = canvas.getContext('2d')!;
  ctx.clearRect(0, 0, canvas.width, canvas.height);
  const limit = Math.max(1e-6, ...Array.from(gradient.data, Math.abs));
  drawMap(ctx, gradient.data, limit);
  const nonzero = Array.from(gradient.data).filter((v) => v !== 0).length;
  byId('gradient-caption').textContent = `d output[${state.bin.join(', ')}] / d feature: ${nonzero} of 36 cells receive gradient${state.method === 'pool' || state.mode === 'max' ? ' (max pooling: the argmax only)' : ' (bilinear weights / samples, spread over every neighbour)'}.`;
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
      cell.style.background = divergingColor(v, 2.5);
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
      `<p><b>RoIPool, bin (${p.bin.join(', ')})</b>. First rounding: the box × 1/${STRIDE} = x ${fmt(p.scaled.x1)}..${fmt(p.scaled.x2)}, y ${fmt(p.scaled.y1)}..${fmt(p.scaled.y2)} becomes columns ${p.roiStartW}..${p.roiEndW}, rows ${p.roiStartH}..${p.roiEndH} (${p.roiWidth} × ${p.roiHeight} cells). ` +
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
    `<p><b>${name}, bin (${a.bin.join(', ')})</b>. ${state.method === 'warp' ? `The box rounded to the grid: ${roiWarpBox([0, ...state.box], 1 / STRIDE).slice(1).join(', ')} (image pixels), then ` : 'No rounding: '}` +
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
  (['x1', 'y1', 'x2', 'y2'] as const).forEach((k, i) => (byId<HTMLInputElement>(`box-${k}`).value = String(Number(state.box[i]!.toFixed(1)))));
  byId('status').textContent = `backend: ${result.backend}`;
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
