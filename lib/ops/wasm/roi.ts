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
import { roiAlignBackward, roiAlignForward } from '../roi.js';
import { bilinearAxis, type RoiAlignGeometry, type RoiDims } from '../roi_geometry.js';

/** One axis of the samples of a RoI: low and high cells, fraction, and whether inside the map. */
interface Axis {
  low: Int32Array;
  high: Int32Array;
  frac: Float64Array;
  inside: Uint8Array;
}

const axis = (n: number): Axis => ({ low: new Int32Array(n), high: new Int32Array(n), frac: new Float64Array(n), inside: new Uint8Array(n) });
/** Reusable per-axis buffers (grown on demand). */
let rowAxis = axis(0);
let colAxis = axis(0);

/** The bilinear taps of `count` sample coordinates `coords[start..]` along an axis of `size` cells. */
function fillAxis(into: Axis, coords: Float64Array, start: number, count: number, size: number): void {
  for (let j = 0; j < count; j++) {
    const a = bilinearAxis(coords[start + j]!, size);
    into.inside[j] = a === null ? 0 : 1;
    if (a === null) continue;
    into.low[j] = a.low;
    into.high[j] = a.high;
    into.frac[j] = a.frac;
  }
}

/** The size of the largest sample table among the RoIs, in taps (4 per sample). */
function maxTaps(d: RoiDims, g: RoiAlignGeometry): number {
  let most = 0;
  for (let k = 0; k < d.K; k++) most = Math.max(most, Math.max(g.gridH[k]!, 0) * Math.max(g.gridW[k]!, 0));
  return Math.max(1, most * d.PH * d.PW * 4);
}

/**
 * Writes RoI k's sample table (the reference's `sampleTable`, torchvision's `pre_calc`) into the
 * module's memory through the views `o` and `w`: for each sample, in the order bin, grid row,
 * grid column, the element offsets of its four neighbours in the channels-last map
 * (`(image cell) C`) and their bilinear weights. A sample outside the map gets four zero
 * weights (reading the image's cell 0, as the reference does). Returns the taps per bin.
 */
function writeTable(d: RoiDims, g: RoiAlignGeometry, k: number, o: Int32Array, w: Float64Array): number {
  const { C, H, W, PH, PW } = d;
  const gridH = Math.max(g.gridH[k]!, 0);
  const gridW = Math.max(g.gridW[k]!, 0);
  if (rowAxis.low.length < PH * gridH) rowAxis = axis(PH * gridH);
  if (colAxis.low.length < PW * gridW) colAxis = axis(PW * gridW);
  const ry = rowAxis;
  const rx = colAxis;
  fillAxis(ry, g.sampleY, g.sampleOffsetY[k]!, PH * gridH, H);
  fillAxis(rx, g.sampleX, g.sampleOffsetX[k]!, PW * gridW, W);
  const image = g.batchIndex[k]! * H * W;
  let s = 0;
  for (let ph = 0; ph < PH; ph++) {
    for (let pw = 0; pw < PW; pw++) {
      for (let iy = 0; iy < gridH; iy++) {
        const y = ph * gridH + iy;
        for (let ix = 0; ix < gridW; ix++, s += 4) {
          const x = pw * gridW + ix;
          if (ry.inside[y] === 0 || rx.inside[x] === 0) {
            o[s] = o[s + 1] = o[s + 2] = o[s + 3] = image * C;
            w[s] = w[s + 1] = w[s + 2] = w[s + 3] = 0;
            continue;
          }
          const v = ry.frac[y]!;
          const u = rx.frac[x]!;
          const low = image + ry.low[y]! * W;
          const high = image + ry.high[y]! * W;
          o[s] = (low + rx.low[x]!) * C;
          o[s + 1] = (low + rx.high[x]!) * C;
          o[s + 2] = (high + rx.low[x]!) * C;
          o[s + 3] = (high + rx.high[x]!) * C;
          w[s] = (1 - v) * (1 - u);
          w[s + 1] = (1 - v) * u;
          w[s + 2] = v * (1 - u);
          w[s + 3] = v * u;
        }
      }
    }
  }
  return gridH * gridW * 4;
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
    const o = new Int32Array(heap(), poff, most);
    const w = new Float64Array(heap(), pw, most);
    put(pin, input);
    if (C !== 1) for (let n = 0; n < N; n++) e.transpose(pin + n * C * plane * 4, C, plane, plane, px + n * C * plane * 4);
    for (let k = 0; k < K; k++) {
      const taps = writeTable(d, g, k, o, w);
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
    const o = new Int32Array(heap(), poff, most);
    const w = new Float64Array(heap(), pw, most);
    put(pgo, gradOutput);
    e.fillRows(pg, 0, 1, total, 0);
    for (let k = 0; k < K; k++) {
      const taps = writeTable(d, g, k, o, w);
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
