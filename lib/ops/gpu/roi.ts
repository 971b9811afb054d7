/**
 * gpu.js kernels of RoIPool and RoIAlign (Mask R-CNN, section 3).
 *
 * - Forward: one thread per output element `(k, c, ph, pw)`, reading the geometry that
 *   `roiPoolGeometry` / `roiAlignGeometry` computed on the host (RoIPool's quantized bin edges,
 *   RoIAlign's sample coordinates, both in torchvision's float32 arithmetic, so every gpu.js
 *   mode samples exactly where torchvision does). A gpu.js kernel has one output: RoIPool's
 *   kernel returns the argmax and the host reads the values there; RoIAlign's max mode runs its
 *   kernel twice (values, then argmax).
 * - Backward: the reference backward is a scatter (every sample adds into four cells); here it
 *   is written as a **gather**, one thread per input element `(n, c, h, w)`. The host first
 *   lists, for every 8x8 tile of every image, the RoIs whose reads can reach the tile (a CSR
 *   list built from the geometry); the thread walks only its tile's RoIs and, for each, only the
 *   sample rows and columns whose bilinear taps can reach row `h` / column `w` (RoIAlign's
 *   samples form a uniform grid per axis, so that range is found by one division and then
 *   checked exactly), adding `weight * gradOutput / count`; RoIAlign's max mode runs the same
 *   kernel and adds `weight * gradOutput` only for each bin's winning sample. For RoIPool it
 *   walks the bins that can contain the cell and takes the gradient of those whose argmax is
 *   this cell.
 *
 * Index arithmetic uses `floorDiv(i, n)` so that it stays exact when GL computes in
 * float32 (indices below 2^24).
 */
import type { IKernelFunctionThis } from 'gpu.js';
import type { TypedArray } from '../../tensor/index.js';
import { roiAlignBackward, roiAlignForward, roiAlignMaxBackward, roiAlignMaxForward, roiPoolBackward, roiPoolForward } from '../roi.js';
import type { RoiAlignGeometry, RoiDims, RoiPoolGeometry } from '../roi_geometry.js';
import { floorDiv, gpu, type GpuKernel } from './context.js';

/** Loops whose bounds are computed inside a kernel (grids, bin ranges, RoI counts) are capped at this. */
const SETTINGS = { dynamicOutput: true, dynamicArguments: true, output: [1], loopMaxIterations: 1 << 22, functions: [floorDiv] };

/** A kernel argument: gpu.js takes Float32Array and cannot take an empty one. */
function f32(a: ArrayLike<number>): Float32Array {
  return a.length === 0 ? new Float32Array(1) : Float32Array.from(a);
}

/** RoIPool's per-RoI numbers, 5 per RoI: batch index, roiStartH, roiStartW, binSizeH, binSizeW. */
function poolInfo(g: RoiPoolGeometry, K: number): Float32Array {
  const info = new Float32Array(Math.max(K * 5, 1));
  for (let k = 0; k < K; k++) info.set([g.batchIndex[k]!, g.roiStartH[k]!, g.roiStartW[k]!, g.binSizeH[k]!, g.binSizeW[k]!], k * 5);
  return info;
}

/** RoIAlign's per-RoI numbers, 6 per RoI: batch index, gridH, gridW, count, sampleOffsetY, sampleOffsetX. */
function alignInfo(g: RoiAlignGeometry, K: number): Float32Array {
  const info = new Float32Array(Math.max(K * 6, 1));
  for (let k = 0; k < K; k++) info.set([g.batchIndex[k]!, g.gridH[k]!, g.gridW[k]!, g.count[k]!, g.sampleOffsetY[k]!, g.sampleOffsetX[k]!], k * 6);
  return info;
}

/** The side of the square tiles the backward gathers are organised by. */
const TILE = 8;

/**
 * For every `TILE x TILE` tile of every image, the RoIs whose reads can reach it, as a CSR list:
 * tile `t = (n * tilesY + ty) * tilesX + tx` owns `rois[start[t] .. start[t + 1] - 1]`.
 * `extent(k)` gives the rows and columns RoI `k` reads, `[rowLo, rowHi, colLo, colHi]`
 * (inclusive), or null when it reads nothing.
 */
function tileLists(d: RoiDims, batchIndex: Int32Array, extent: (k: number) => [number, number, number, number] | null) {
  const tilesY = Math.ceil(d.H / TILE);
  const tilesX = Math.ceil(d.W / TILE);
  const tiles = d.N * tilesY * tilesX;
  const spans: Array<[number, number, number, number, number] | null> = [];
  const counts = new Int32Array(tiles + 1);
  for (let k = 0; k < d.K; k++) {
    const e = extent(k);
    if (e === null) {
      spans.push(null);
      continue;
    }
    // One cell of slack on each side: the gather re-checks every tap exactly anyway.
    const clip = (v: number, size: number) => Math.min(Math.max(v, 0), size - 1);
    const span: [number, number, number, number, number] = [
      batchIndex[k]!,
      Math.floor(clip(e[0] - 1, d.H) / TILE),
      Math.floor(clip(e[1] + 1, d.H) / TILE),
      Math.floor(clip(e[2] - 1, d.W) / TILE),
      Math.floor(clip(e[3] + 1, d.W) / TILE),
    ];
    spans.push(span);
    for (let ty = span[1]; ty <= span[2]; ty++) for (let tx = span[3]; tx <= span[4]; tx++) counts[(span[0] * tilesY + ty) * tilesX + tx + 1]++;
  }
  const start = new Float32Array(tiles + 1);
  for (let t = 0; t < tiles; t++) start[t + 1] = start[t]! + counts[t + 1]!;
  const fill = Int32Array.from(start.subarray(0, tiles));
  const rois = new Float32Array(Math.max(start[tiles]!, 1));
  spans.forEach((span, k) => {
    if (span === null) return;
    for (let ty = span[1]; ty <= span[2]; ty++) for (let tx = span[3]; tx <= span[4]; tx++) rois[fill[(span[0] * tilesY + ty) * tilesX + tx]!++] = k;
  });
  return { start, rois, tilesY, tilesX };
}

/** The cells RoIAlign's RoI `k` reads (from its valid samples' taps), or null. */
function alignExtent(d: RoiDims, g: RoiAlignGeometry, k: number): [number, number, number, number] | null {
  const axis = (coords: Float64Array, offset: number, n: number, size: number): [number, number] | null => {
    let lo = Infinity;
    let hi = -Infinity;
    for (let j = 0; j < n; j++) {
      const v = coords[offset + j]!;
      if (!(v >= -1 && v <= size)) continue;
      const low = Math.floor(Math.max(v, 0));
      lo = Math.min(lo, Math.min(low, size - 1));
      hi = Math.max(hi, Math.min(low + 1, size - 1));
    }
    return lo <= hi ? [lo, hi] : null;
  };
  const rows = axis(g.sampleY, g.sampleOffsetY[k]!, d.PH * Math.max(g.gridH[k]!, 0), d.H);
  const cols = axis(g.sampleX, g.sampleOffsetX[k]!, d.PW * Math.max(g.gridW[k]!, 0), d.W);
  return rows === null || cols === null ? null : [rows[0], rows[1], cols[0], cols[1]];
}

/** The cells RoIPool's RoI `k` reads (its non-empty bins), or null. */
function poolExtent(d: RoiDims, g: RoiPoolGeometry, k: number): [number, number, number, number] | null {
  let [r0, r1, c0, c1] = [Infinity, -Infinity, Infinity, -Infinity];
  for (let ph = 0; ph < d.PH; ph++) {
    if (g.hend[k * d.PH + ph]! <= g.hstart[k * d.PH + ph]!) continue;
    r0 = Math.min(r0, g.hstart[k * d.PH + ph]!);
    r1 = Math.max(r1, g.hend[k * d.PH + ph]! - 1);
  }
  for (let pw = 0; pw < d.PW; pw++) {
    if (g.wend[k * d.PW + pw]! <= g.wstart[k * d.PW + pw]!) continue;
    c0 = Math.min(c0, g.wstart[k * d.PW + pw]!);
    c1 = Math.max(c1, g.wend[k * d.PW + pw]! - 1);
  }
  return r0 <= r1 && c0 <= c1 ? [r0, r1, c0, c1] : null;
}

// ---------------------------------------------------------------------------------------------
// RoIPool
// ---------------------------------------------------------------------------------------------

let poolForwardKernel: GpuKernel | null = null;
let poolBackwardKernel: GpuKernel | null = null;

roiPoolForward.register('gpu', (input: TypedArray, d: RoiDims, g: RoiPoolGeometry) => {
  const size = d.K * d.C * d.PH * d.PW;
  if (size === 0) return { output: new Float32Array(0), argmax: new Int32Array(0) };
  poolForwardKernel ??= gpu().createKernel(
    function (
      this: IKernelFunctionThis,
      input: number[],
      info: number[],
      hstart: number[],
      hend: number[],
      wstart: number[],
      wend: number[],
      C: number,
      H: number,
      W: number,
      PH: number,
      PW: number,
    ) {
      // i = ((k * C + c) * PH + ph) * PW + pw
      const i = this.thread.x;
      const q1 = floorDiv(i, PW);
      const pw = i - q1 * PW;
      const q2 = floorDiv(q1, PH);
      const ph = q1 - q2 * PH;
      const k = floorDiv(q2, C);
      const c = q2 - k * C;
      const h0 = hstart[k * PH + ph];
      const h1 = hend[k * PH + ph];
      const w0 = wstart[k * PW + pw];
      const w1 = wend[k * PW + pw];
      // -1: an empty bin (output 0); -2: no value above -FLT_MAX (output -FLT_MAX, as torchvision).
      if (h1 <= h0 || w1 <= w0) return -1;
      const plane = (info[k * 5] * C + c) * H * W;
      let max = -3.4028234663852886e38; // torchvision's -FLT_MAX
      let at = -2;
      for (let dh = 0; dh < h1 - h0; dh++) {
        for (let dw = 0; dw < w1 - w0; dw++) {
          const pos = (h0 + dh) * W + (w0 + dw);
          const v = input[plane + pos];
          // Strict '>': the first maximum in row-major order wins.
          if (v > max) {
            max = v;
            at = pos;
          }
        }
      }
      return at;
    },
    SETTINGS,
  );
  poolForwardKernel.setOutput([size]);
  const codes = poolForwardKernel(f32(input), poolInfo(g, d.K), f32(g.hstart), f32(g.hend), f32(g.wstart), f32(g.wend), d.C, d.H, d.W, d.PH, d.PW) as Float32Array;
  // The kernel found where each maximum is; the values are read there.
  const output = new Float32Array(size);
  const argmax = new Int32Array(size);
  const plane = d.H * d.W;
  for (let i = 0; i < size; i++) {
    const code = codes[i]!;
    const nc = g.batchIndex[Math.floor(i / (d.C * d.PH * d.PW))]! * d.C + (Math.floor(i / (d.PH * d.PW)) % d.C);
    output[i] = code >= 0 ? input[nc * plane + code]! : code === -2 ? -3.4028234663852886e38 : 0;
    argmax[i] = code >= 0 ? code : -1;
  }
  return { output, argmax };
});

roiPoolBackward.register('gpu', (gradOutput: TypedArray, argmax: Int32Array, d: RoiDims, g: RoiPoolGeometry) => {
  const size = d.N * d.C * d.H * d.W;
  if (size === 0 || d.K * d.C * d.PH * d.PW === 0) return new Float32Array(size);
  poolBackwardKernel ??= gpu().createKernel(
    function (
      this: IKernelFunctionThis,
      grad: number[],
      argmax: number[],
      info: number[],
      tileStart: number[],
      tileRois: number[],
      tilesY: number,
      tilesX: number,
      C: number,
      H: number,
      W: number,
      PH: number,
      PW: number,
    ) {
      // i = ((n * C + c) * H + h) * W + w
      const i = this.thread.x;
      const q1 = floorDiv(i, W);
      const w = i - q1 * W;
      const q2 = floorDiv(q1, H);
      const h = q1 - q2 * H;
      const n = floorDiv(q2, C);
      const c = q2 - n * C;
      const pos = h * W + w;
      // The RoIs that read this cell's 8x8 tile.
      const tile = (n * tilesY + floorDiv(h, 8)) * tilesX + floorDiv(w, 8);
      const first = tileStart[tile];
      let total = 0;
      for (let j = 0; j < tileStart[tile + 1] - first; j++) {
        const k = tileRois[first + j];
        // Bin ph covers cells floor(ph * bin) .. ceil((ph + 1) * bin) - 1 after the start:
        // only bins with ph in (r / bin - 1, (r + 1) / bin) can hold row r = h - start.
        const r = h - info[k * 5 + 1];
        const s = w - info[k * 5 + 2];
        const phLo = Math.max(Math.floor(r / info[k * 5 + 3]) - 1, 0);
        const phHi = Math.min(Math.floor((r + 1) / info[k * 5 + 3]) + 1, PH - 1);
        const pwLo = Math.max(Math.floor(s / info[k * 5 + 4]) - 1, 0);
        const pwHi = Math.min(Math.floor((s + 1) / info[k * 5 + 4]) + 1, PW - 1);
        for (let a = 0; a <= phHi - phLo; a++) {
          for (let b = 0; b <= pwHi - pwLo; b++) {
            const o = ((k * C + c) * PH + phLo + a) * PW + pwLo + b;
            // The bin's whole gradient goes to its argmax cell.
            if (argmax[o] === pos) total += grad[o];
          }
        }
      }
      return total;
    },
    SETTINGS,
  );
  poolBackwardKernel.setOutput([size]);
  const tiles = tileLists(d, g.batchIndex, (k) => poolExtent(d, g, k));
  const out = poolBackwardKernel(f32(gradOutput), f32(argmax), poolInfo(g, d.K), tiles.start, tiles.rois, tiles.tilesY, tiles.tilesX, d.C, d.H, d.W, d.PH, d.PW);
  return Float32Array.from(out as Float32Array);
});

// ---------------------------------------------------------------------------------------------
// RoIAlign
// ---------------------------------------------------------------------------------------------

let alignForwardKernel: GpuKernel | null = null;
let alignBackwardKernel: GpuKernel | null = null;

/** mode 0: the average; 1: the max; 2: the argmax sample `iy * gridW + ix` (-1 if none). */
function alignForwardRun(input: TypedArray, d: RoiDims, g: RoiAlignGeometry, mode: number): Float32Array {
  alignForwardKernel ??= gpu().createKernel(
    function (
      this: IKernelFunctionThis,
      input: number[],
      info: number[],
      sampleY: number[],
      sampleX: number[],
      C: number,
      H: number,
      W: number,
      PH: number,
      PW: number,
      mode: number,
    ) {
      // i = ((k * C + c) * PH + ph) * PW + pw
      const i = this.thread.x;
      const q1 = floorDiv(i, PW);
      const pw = i - q1 * PW;
      const q2 = floorDiv(q1, PH);
      const ph = q1 - q2 * PH;
      const k = floorDiv(q2, C);
      const c = q2 - k * C;
      const gridH = info[k * 6 + 1];
      const gridW = info[k * 6 + 2];
      const offY = info[k * 6 + 4];
      const offX = info[k * 6 + 5];
      const plane = (info[k * 6] * C + c) * H * W;
      let sum = 0;
      let max = 0;
      let at = -1;
      for (let iy = 0; iy < gridH; iy++) {
        const sy = sampleY[offY + ph * gridH + iy];
        for (let ix = 0; ix < gridW; ix++) {
          const sx = sampleX[offX + pw * gridW + ix];
          let value = 0;
          // torchvision's bilinear_interpolate: outside [-1, H] x [-1, W] reads 0; clamp to 0;
          // snap to the last row / column.
          if (sy >= -1 && sy <= H && sx >= -1 && sx <= W) {
            let y = Math.max(sy, 0);
            let x = Math.max(sx, 0);
            let yLow = Math.floor(y);
            let yHigh = yLow + 1;
            if (yLow >= H - 1) {
              yLow = H - 1;
              yHigh = H - 1;
              y = yLow;
            }
            let xLow = Math.floor(x);
            let xHigh = xLow + 1;
            if (xLow >= W - 1) {
              xLow = W - 1;
              xHigh = W - 1;
              x = xLow;
            }
            const v = y - yLow;
            const u = x - xLow;
            value =
              (1 - v) * (1 - u) * input[plane + yLow * W + xLow] +
              (1 - v) * u * input[plane + yLow * W + xHigh] +
              v * (1 - u) * input[plane + yHigh * W + xLow] +
              v * u * input[plane + yHigh * W + xHigh];
          }
          sum += value;
          if (at < 0 || value > max) {
            max = value;
            at = iy * gridW + ix;
          }
        }
      }
      if (mode > 1.5) return at;
      if (mode > 0.5) return max;
      return sum / info[k * 6 + 3];
    },
    SETTINGS,
  );
  alignForwardKernel.setOutput([d.K * d.C * d.PH * d.PW]);
  const out = alignForwardKernel(f32(input), alignInfo(g, d.K), f32(g.sampleY), f32(g.sampleX), d.C, d.H, d.W, d.PH, d.PW, mode);
  return Float32Array.from(out as Float32Array);
}

roiAlignForward.register('gpu', (input: TypedArray, d: RoiDims, g: RoiAlignGeometry) => {
  if (d.K * d.C * d.PH * d.PW === 0) return new Float32Array(0);
  return alignForwardRun(input, d, g, 0);
});

roiAlignMaxForward.register('gpu', (input: TypedArray, d: RoiDims, g: RoiAlignGeometry) => {
  if (d.K * d.C * d.PH * d.PW === 0) return { output: new Float32Array(0), argmax: new Int32Array(0) };
  return { output: alignForwardRun(input, d, g, 1), argmax: Int32Array.from(alignForwardRun(input, d, g, 2)) };
});

/**
 * The backward of both RoIAlign modes, one gather kernel (`mode` 0: average; 1: max). Each thread
 * walks the samples whose bilinear taps can reach its cell and adds `weight * gradOutput` of the
 * sample's bin: divided by the bin's `count` for the average (section 3: every sample carries the
 * bin's gradient / count), only for the bin's winning sample (`argmax`) for the max.
 */
function alignBackwardRun(gradOutput: TypedArray, argmax: Int32Array | null, d: RoiDims, g: RoiAlignGeometry): Float32Array {
  const size = d.N * d.C * d.H * d.W;
  if (size === 0 || d.K * d.C * d.PH * d.PW === 0) return new Float32Array(size);
  alignBackwardKernel ??= gpu().createKernel(
    function (
      this: IKernelFunctionThis,
      grad: number[],
      argmax: number[],
      info: number[],
      sampleY: number[],
      sampleX: number[],
      tileStart: number[],
      tileRois: number[],
      tilesY: number,
      tilesX: number,
      C: number,
      H: number,
      W: number,
      PH: number,
      PW: number,
      mode: number,
    ) {
      // i = ((n * C + c) * H + h) * W + w
      const i = this.thread.x;
      const q1 = floorDiv(i, W);
      const w = i - q1 * W;
      const q2 = floorDiv(q1, H);
      const h = q1 - q2 * H;
      const n = floorDiv(q2, C);
      const c = q2 - n * C;
      // The RoIs that read this cell's 8x8 tile.
      const tile = (n * tilesY + floorDiv(h, 8)) * tilesX + floorDiv(w, 8);
      const first = tileStart[tile];
      let total = 0;
      for (let j = 0; j < tileStart[tile + 1] - first; j++) {
        const k = tileRois[first + j];
        const gridH = info[k * 6 + 1];
        const gridW = info[k * 6 + 2];
        if (gridH > 0 && gridW > 0) {
          const count = info[k * 6 + 3];
          const offY = info[k * 6 + 4];
          const offX = info[k * 6 + 5];
          const rows = PH * gridH;
          const cols = PW * gridW;
          // The sample rows of a RoI are evenly spaced: only those within one cell of h can
          // touch row h (y in [h - 1, h + 1]; that includes y in [-1, 0] for row 0 and y in
          // [H - 1, H] for row H - 1); one more index on each side absorbs float32 rounding.
          let jyLo = 0;
          let jyHi = rows - 1;
          const yFirst = sampleY[offY];
          const yLast = sampleY[offY + rows - 1];
          if (rows > 1 && yLast !== yFirst) {
            const stepY = (yLast - yFirst) / (rows - 1);
            const ay = (h - 1 - yFirst) / stepY;
            const by = (h + 1 - yFirst) / stepY;
            jyLo = Math.max(Math.floor(Math.min(ay, by)) - 1, 0);
            jyHi = Math.min(Math.ceil(Math.max(ay, by)) + 1, rows - 1);
          }
          let jxLo = 0;
          let jxHi = cols - 1;
          const xFirst = sampleX[offX];
          const xLast = sampleX[offX + cols - 1];
          if (cols > 1 && xLast !== xFirst) {
            const stepX = (xLast - xFirst) / (cols - 1);
            const ax = (w - 1 - xFirst) / stepX;
            const bx = (w + 1 - xFirst) / stepX;
            jxLo = Math.max(Math.floor(Math.min(ax, bx)) - 1, 0);
            jxHi = Math.min(Math.ceil(Math.max(ax, bx)) + 1, cols - 1);
          }
          for (let a = 0; a <= jyHi - jyLo; a++) {
            const jy = jyLo + a;
            // The weight of row h in this sample's interpolation (0 when it does not touch h).
            const sy = sampleY[offY + jy];
            let wy = 0;
            if (sy >= -1 && sy <= H) {
              const y = Math.max(sy, 0);
              const yLow = Math.floor(y);
              if (yLow >= H - 1) {
                if (h === H - 1) wy = 1;
              } else {
                if (h === yLow) wy = 1 - (y - yLow);
                if (h === yLow + 1) wy = y - yLow;
              }
            }
            if (wy !== 0) {
              const ph = floorDiv(jy, gridH);
              const iy = jy - ph * gridH;
              for (let b = 0; b <= jxHi - jxLo; b++) {
                const jx = jxLo + b;
                const sx = sampleX[offX + jx];
                let wx = 0;
                if (sx >= -1 && sx <= W) {
                  const x = Math.max(sx, 0);
                  const xLow = Math.floor(x);
                  if (xLow >= W - 1) {
                    if (w === W - 1) wx = 1;
                  } else {
                    if (w === xLow) wx = 1 - (x - xLow);
                    if (w === xLow + 1) wx = x - xLow;
                  }
                }
                if (wx !== 0) {
                  const pw = floorDiv(jx, gridW);
                  const ix = jx - pw * gridW;
                  const o = ((k * C + c) * PH + ph) * PW + pw;
                  if (mode < 0.5) {
                    total += (wy * wx * grad[o]) / count;
                  } else {
                    // Max: only the bin's winning sample `iy * gridW + ix` carries its gradient.
                    if (argmax[o] === iy * gridW + ix) total += wy * wx * grad[o];
                  }
                }
              }
            }
          }
        }
      }
      return total;
    },
    SETTINGS,
  );
  alignBackwardKernel.setOutput([size]);
  const tiles = tileLists(d, g.batchIndex, (k) => alignExtent(d, g, k));
  const wins = argmax === null ? new Float32Array(1) : f32(argmax);
  const out = alignBackwardKernel(
    f32(gradOutput), wins, alignInfo(g, d.K), f32(g.sampleY), f32(g.sampleX),
    tiles.start, tiles.rois, tiles.tilesY, tiles.tilesX, d.C, d.H, d.W, d.PH, d.PW, argmax === null ? 0 : 1,
  );
  return Float32Array.from(out as Float32Array);
}

roiAlignBackward.register('gpu', (gradOutput: TypedArray, d: RoiDims, g: RoiAlignGeometry) => alignBackwardRun(gradOutput, null, d, g));

roiAlignMaxBackward.register('gpu', (gradOutput: TypedArray, argmax: Int32Array, d: RoiDims, g: RoiAlignGeometry) => alignBackwardRun(gradOutput, argmax, d, g));
