/**
 * Reference kernel of FrozenBatchNorm2d: a loop over channels and pixels.
 */
import { type TypedArray } from '../../tensor/index.js';
import { channelAffine } from '../frozen_batch_norm.js';
import { like } from './util.js';

channelAffine.register('reference', (x: TypedArray, scale: TypedArray, shift: TypedArray, channels: number, planeSize: number) => {
  const y = like(x, x.length);
  const images = x.length / (channels * planeSize);
  for (let n = 0; n < images; n++) {
    for (let c = 0; c < channels; c++) {
      const base = (n * channels + c) * planeSize;
      const a = scale[c]!;
      const b = shift[c]!;
      for (let p = base; p < base + planeSize; p++) y[p] = x[p]! * a + b;
    }
  }
  return y;
});
