/**
 * Reference kernels of batch normalization with batch statistics (`../batch_norm.ts`): plain
 * loops over channels, images and pixels, float64 sums in sequential order.
 */
import { type TypedArray } from '../../tensor/index.js';
import { batchNorm2dBackward, batchNorm2dForward, channelInvStd, foldedScaleShift } from '../batch_norm.js';
import { like } from './util.js';

/** Per-channel mean and biased variance of an NCHW array over N, H and W (two passes, float64 sums). */
function channelStatistics(d: TypedArray, channels: number, plane: number): { mean: Float64Array; variance: Float64Array } {
  const images = d.length / (channels * plane);
  const count = images * plane;
  const mean = new Float64Array(channels);
  const variance = new Float64Array(channels);
  for (let ch = 0; ch < channels; ch++) {
    let sum = 0;
    for (let b = 0; b < images; b++) {
      const base = (b * channels + ch) * plane;
      for (let p = base; p < base + plane; p++) sum += d[p]!;
    }
    const mu = sum / count;
    let squares = 0;
    for (let b = 0; b < images; b++) {
      const base = (b * channels + ch) * plane;
      for (let p = base; p < base + plane; p++) {
        const e = d[p]! - mu;
        squares += e * e;
      }
    }
    mean[ch] = mu;
    variance[ch] = squares / count;
  }
  return { mean, variance };
}

batchNorm2dForward.register('reference', (x, weight, bias, channels, plane, eps, relu) => {
  const { mean, variance } = channelStatistics(x, channels, plane);
  const images = x.length / (channels * plane);
  const out = like(x, x.length);
  const { scale, shift } = foldedScaleShift(mean, channelInvStd(variance, eps), weight, bias);
  for (let ch = 0; ch < channels; ch++) {
    const a = scale[ch]!;
    const c = shift[ch]!;
    for (let b = 0; b < images; b++) {
      const base = (b * channels + ch) * plane;
      for (let p = base; p < base + plane; p++) {
        const t = x[p]! * a + c;
        // relu of the value stored: a positive t stays (rounding cannot make it negative), NaN stays, the rest is +0.
        out[p] = !relu || t > 0 || t !== t ? t : 0;
      }
    }
  }
  return { output: out, mean, variance };
});

batchNorm2dBackward.register('reference', (x, grad, output, mean, variance, weight, channels, plane, eps, inputGrad) => {
  const images = x.length / (channels * plane);
  const m = images * plane;
  const gx = inputGrad ? like(x, x.length) : null;
  const gradWeight = new Float64Array(channels);
  const gradBias = new Float64Array(channels);
  // With the ReLU fused, the gradient at the norm's output is g (y > 0), as relu's backward
  // computes it (g times 1 or 0, exact), applied as g is read.
  const gAt = (p: number): number => (output === null ? grad[p]! : grad[p]! * +(output[p]! > 0));
  const invstds = channelInvStd(variance, eps);
  for (let ch = 0; ch < channels; ch++) {
    const mu = mean[ch]!;
    const invstd = invstds[ch]!;
    let sumG = 0;
    let sumGxhat = 0;
    for (let b = 0; b < images; b++) {
      const base = (b * channels + ch) * plane;
      for (let p = base; p < base + plane; p++) {
        const gv = gAt(p);
        sumG += gv;
        sumGxhat += gv * (x[p]! - mu) * invstd;
      }
    }
    gradWeight[ch] = sumGxhat;
    gradBias[ch] = sumG;
    if (gx === null) continue;
    const k = (weight[ch]! * invstd) / m;
    for (let b = 0; b < images; b++) {
      const base = (b * channels + ch) * plane;
      for (let p = base; p < base + plane; p++) {
        const xhat = (x[p]! - mu) * invstd;
        gx[p] = k * (m * gAt(p) - sumG - xhat * sumGxhat);
      }
    }
  }
  return { gradInput: gx, gradWeight, gradBias };
});
