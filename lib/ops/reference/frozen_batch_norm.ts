/**
 * Reference kernel of FrozenBatchNorm2d: a loop over channels and pixels.
 */
import { type TypedArray } from '../../tensor/index.js';
import { channelAffine } from '../frozen_batch_norm.js';
import { like } from './util.js';

channelAffine.register('reference', (x: TypedArray, scale: TypedArray, shift: TypedArray, channels: number, planeSize: number, relu = false) => {
  const y = like(x, x.length);
  const images = x.length / (channels * planeSize);
  for (let n = 0; n < images; n++) {
    for (let c = 0; c < channels; c++) {
      const base = (n * channels + c) * planeSize;
      const a = scale[c]!;
      const b = shift[c]!;
      if (relu) {
        // relu of the value stored: a positive t stays, NaN stays, the rest is +0.
        for (let p = base; p < base + planeSize; p++) {
          const t = x[p]! * a + b;
          y[p] = t > 0 || t !== t ? t : 0;
        }
      } else for (let p = base; p < base + planeSize; p++) y[p] = x[p]! * a + b;
    }
  }
  return y;
});
