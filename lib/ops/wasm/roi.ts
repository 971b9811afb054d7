/**
 * RoIAlign (average) for the `wasm` backend: the reference kernels' arithmetic, in the same
 * order, on channels-last features in the module's memory (`assembly/kernels.ts`,
 * `roiAlignForward` / `roiAlignBackward`, one call per RoI).
 *
 * For each RoI the table of its sample points (torchvision's `pre_calc`: the offsets of the four
 * bilinear neighbours and their weights `(1-v)(1-u), (1-v)u, v(1-u), vu`) is built once here and
 * serves every channel. With the features laid out `[N, H, W, C]`, a tap reads C consecutive
 * values, so the module works on two channels at once (f64x2) instead of gathering one value
 * per channel from C planes: about 6x the reference loops on the shapes preset's box head.
 *
 * Precision: sums and products are float64, in the reference's order (sample by sample, each
 * sample's four taps left to right; the backward adds `share * w` into a float32 gradient in the
 * reference's order per element: RoI, bin, sample, tap), so both kernels return the reference's
 * bits (test/ops/wasm.test.ts checks it). Float64 inputs (gradchecks) run the reference loops.
 */
import type { TypedArray } from '../../tensor/index.js';
import { get, heap, put, runtime, withArena } from './runtime.js';
import { bilinearAxis, roiAlignBackward, roiAlignForward, type RoiAlignGeometry, type RoiDims } from '../roi.js';

/** Reusable sample-table buffers (grown on demand). */
let offsets = new Int32Array(0);
let weights = new Float64Array(0);

/** Fills the table of RoI `k` (see the reference's `sampleTable`); returns the samples per bin. */
function fillTable(d: RoiDims, g: RoiAlignGeometry, k: number): number {
  const { H, W, PH, PW } = d;
  const gridH = Math.max(g.gridH[k]!, 0);
  const gridW = Math.max(g.gridW[k]!, 0);
  const perBin = gridH * gridW;
  const size = PH * PW * perBin * 4;
  if (offsets.length < size) {
    offsets = new Int32Array(size);
    weights = new Float64Array(size);
  }
  const o = offsets;
  const w = weights;
  const rows = Array.from({ length: PH * gridH }, (_, j) => bilinearAxis(g.sampleY[g.sampleOffsetY[k]! + j]!, H));
  const cols = Array.from({ length: PW * gridW }, (_, j) => bilinearAxis(g.sampleX[g.sampleOffsetX[k]! + j]!, W));
  let s = 0;
  for (let ph = 0; ph < PH; ph++) {
    for (let pw = 0; pw < PW; pw++) {
      for (let iy = 0; iy < gridH; iy++) {
        const ay = rows[ph * gridH + iy]!;
        for (let ix = 0; ix < gridW; ix++, s += 4) {
          const ax = cols[pw * gridW + ix]!;
          if (ay === null || ax === null) {
            // Outside the map: four zero weights (reading cell 0, as the reference does).
            o[s] = o[s + 1] = o[s + 2] = o[s + 3] = 0;
            w[s] = w[s + 1] = w[s + 2] = w[s + 3] = 0;
            continue;
          }
          const v = ay.frac;
          const u = ax.frac;
          o[s] = ay.low * W + ax.low;
          o[s + 1] = ay.low * W + ax.high;
          o[s + 2] = ay.high * W + ax.low;
          o[s + 3] = ay.high * W + ax.high;
          w[s] = (1 - v) * (1 - u);
          w[s + 1] = (1 - v) * u;
          w[s + 2] = v * (1 - u);
          w[s + 3] = v * u;
        }
      }
    }
  }
  return perBin;
}

/** The size of the largest sample table among the RoIs, in taps (4 per sample). */
function maxTaps(d: RoiDims, g: RoiAlignGeometry): number {
  let most = 0;
  for (let k = 0; k < d.K; k++) most = Math.max(most, Math.max(g.gridH[k]!, 0) * Math.max(g.gridW[k]!, 0));
  return Math.max(1, most * d.PH * d.PW * 4);
}

/**
 * Writes RoI k's table into the module's memory: offsets as element offsets into the
 * channels-last map (`(image cell) C`), weights as float64. Returns the taps per bin.
 */
function writeTable(d: RoiDims, g: RoiAlignGeometry, k: number, poff: number, pw: number): number {
  const perBin = fillTable(d, g, k);
  const taps = perBin * 4 * d.PH * d.PW;
  const buffer = heap();
  const off = new Int32Array(buffer, poff, taps);
  const image = g.batchIndex[k]! * d.H * d.W;
  for (let i = 0; i < taps; i++) off[i] = (image + offsets[i]!) * d.C;
  new Float64Array(buffer, pw, taps).set(weights.subarray(0, taps));
  return perBin * 4;
}

/**
 * RoIAlign forward on float32: the features go channels-last in the module's memory, then one
 * call per RoI (`assembly/kernels.ts` `roiAlignForward`) writes its `[C, PH, PW]` block.
 */
function forwardF32(input: Float32Array, d: RoiDims, g: RoiAlignGeometry): Float32Array {
  const { N, C, H, W, K, PH, PW } = d;
  const bins = PH * PW;
  const plane = H * W;
  if (K * C * bins === 0) return new Float32Array(K * C * bins);
  const e = runtime().exports;
  return withArena((alloc) => {
    const pin = alloc(input.length);
    const px = C === 1 ? pin : alloc(input.length);
    const pout = alloc(K * C * bins);
    const most = maxTaps(d, g);
    const poff = alloc(most);
    const pw = alloc(2 * most);
    put(pin, input);
    if (C !== 1) for (let n = 0; n < N; n++) e.transpose(pin + n * C * plane * 4, C, plane, plane, px + n * C * plane * 4);
    for (let k = 0; k < K; k++) {
      const taps = writeTable(d, g, k, poff, pw);
      e.roiAlignForward(px, C, poff, pw, bins, taps, g.count[k]!, pout + k * C * bins * 4);
    }
    return get(pout, K * C * bins);
  });
}

/**
 * RoIAlign backward on float32: per RoI (`roiAlignBackward`), each bin's gradient / count
 * scattered into a channels-last float32 gradient in the reference's order per element (RoI,
 * bin, sample, tap), then transposed back to `[N, C, H, W]`.
 */
function backwardF32(gradOutput: Float32Array, d: RoiDims, g: RoiAlignGeometry): Float32Array {
  const { N, C, H, W, K, PH, PW } = d;
  const bins = PH * PW;
  const plane = H * W;
  const total = N * C * plane;
  if (total === 0 || K * C * bins === 0) return new Float32Array(total);
  const e = runtime().exports;
  return withArena((alloc) => {
    const pgo = alloc(gradOutput.length);
    const pg = alloc(total);
    const pgi = C === 1 ? pg : alloc(total);
    const most = maxTaps(d, g);
    const poff = alloc(most);
    const pw = alloc(2 * most);
    const pshare = alloc(2 * C);
    put(pgo, gradOutput);
    e.fillRows(pg, 0, 1, total, 0);
    for (let k = 0; k < K; k++) {
      const taps = writeTable(d, g, k, poff, pw);
      e.roiAlignBackward(pgo + k * C * bins * 4, C, poff, pw, bins, taps, g.count[k]!, pg, pshare);
    }
    if (C !== 1) for (let n = 0; n < N; n++) e.transpose(pg + n * C * plane * 4, plane, C, C, pgi + n * C * plane * 4);
    return get(pgi, total);
  });
}

roiAlignForward.register(
  'wasm',
  (input: TypedArray, d: RoiDims, g: RoiAlignGeometry) => (input instanceof Float32Array ? forwardF32(input, d, g) : roiAlignForward.for('reference')(input, d, g)),
);
roiAlignBackward.register(
  'wasm',
  (gradOutput: TypedArray, d: RoiDims, g: RoiAlignGeometry) =>
    gradOutput instanceof Float32Array ? backwardF32(gradOutput, d, g) : roiAlignBackward.for('reference')(gradOutput, d, g),
);
