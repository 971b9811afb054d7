/**
 * Batch normalization and the per-channel affine map for the `wasm` backend
 * (`assembly/kernels.ts`: `channelStatistics`, `channelAffine`, `batchNormBackward`): the
 * reference kernels' formulas on four floats at a time, with float64 arithmetic (two lanes), so
 * outputs round once to float32 as the reference's do. The statistics and the backward's two
 * sums add two float64 lanes at a time instead of one value after another: they agree with the
 * reference to float64 rounding, which can move an output by one float32 unit in rare ties.
 * Float64 inputs (gradchecks) run the reference loops.
 */
import type { TypedArray } from '../../tensor/index.js';
import { batchNorm2dBackward, batchNorm2dForward, channelInvStd, foldedScaleShift } from '../batch_norm.js';
import { channelAffine } from '../frozen_batch_norm.js';
import { get, heap, put, runtime, withArena } from './runtime.js';

/** A float64 array of `n` values at a fresh arena address, filled from `values`. */
function putF64(alloc: (floats: number) => number, values: ArrayLike<number>): number {
  const p = alloc(2 * values.length);
  new Float64Array(heap(), p, values.length).set(values);
  return p;
}

batchNorm2dForward.register('wasm', (x, weight, bias, channels, plane, eps, relu) => {
  if (!(x instanceof Float32Array)) return batchNorm2dForward.for('reference')(x, weight, bias, channels, plane, eps, relu);
  const images = x.length / (channels * plane);
  const e = runtime().exports;
  return withArena((alloc) => {
    const px = alloc(x.length);
    const pmean = alloc(2 * channels);
    const pvar = alloc(2 * channels);
    put(px, x);
    e.channelStatistics(px, images, channels, plane, pmean, pvar);
    const mean = new Float64Array(heap(), pmean, channels).slice();
    const variance = new Float64Array(heap(), pvar, channels).slice();
    const { scale, shift } = foldedScaleShift(mean, channelInvStd(variance, eps), weight, bias);
    e.channelAffine(px, px, images, channels, plane, putF64(alloc, scale), putF64(alloc, shift), relu ? 1 : 0);
    return { output: get(px, x.length), mean, variance };
  });
});

batchNorm2dBackward.register('wasm', (x, grad, output, mean, variance, weight, channels, plane, eps, inputGrad) => {
  if (!(x instanceof Float32Array && grad instanceof Float32Array && (output === null || output instanceof Float32Array))) {
    return batchNorm2dBackward.for('reference')(x, grad, output, mean, variance, weight, channels, plane, eps, inputGrad);
  }
  const images = x.length / (channels * plane);
  const m = images * plane;
  const e = runtime().exports;
  return withArena((alloc) => {
    const px = alloc(x.length);
    const pg = alloc(x.length);
    const py = output === null ? 0 : alloc(x.length);
    const invstd = channelInvStd(variance, eps);
    const pmean = putF64(alloc, mean);
    const pinv = putF64(alloc, invstd);
    const pk = putF64(alloc, Float64Array.from(invstd, (s, ch) => (weight[ch]! * s) / m));
    const psg = alloc(2 * channels);
    const psgx = alloc(2 * channels);
    const pgx = inputGrad ? alloc(x.length) : 0;
    put(px, x);
    put(pg, grad);
    if (output !== null) put(py, output);
    e.batchNormBackward(px, pg, py, images, channels, plane, pmean, pinv, pk, psg, psgx, pgx);
    return {
      gradInput: inputGrad ? get(pgx, x.length) : null,
      gradWeight: new Float64Array(heap(), psgx, channels).slice(),
      gradBias: new Float64Array(heap(), psg, channels).slice(),
    };
  });
});

channelAffine.register('wasm', (x: TypedArray, scale: TypedArray, shift: TypedArray, channels: number, planeSize: number, relu = false) => {
  if (!(x instanceof Float32Array)) return channelAffine.for('reference')(x, scale, shift, channels, planeSize, relu);
  if (x.length === 0) return new Float32Array(0);
  const e = runtime().exports;
  return withArena((alloc) => {
    const px = alloc(x.length);
    const pscale = putF64(alloc, scale);
    const pshift = putF64(alloc, shift);
    put(px, x);
    e.channelAffine(px, px, x.length / (channels * planeSize), channels, planeSize, pscale, pshift, relu ? 1 : 0);
    return get(px, x.length);
  });
});
