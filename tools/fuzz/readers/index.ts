/**
 * The fuzzed readers, by name.
 */
import type { FuzzReader, ReaderName } from '../spec.js';
import { checkpointReader } from './checkpoint.js';
import { cocoReader } from './coco.js';
import { jpegReader } from './jpeg.js';
import { pngReader } from './png.js';
import { resultsReader } from './results.js';
import { rleReader } from './rle.js';
import { safetensorsReader } from './safetensors.js';

/** Every fuzzed reader, in the report's row order. */
export const READERS: Readonly<Record<ReaderName, FuzzReader>> = {
  coco: cocoReader,
  results: resultsReader,
  rle: rleReader,
  png: pngReader,
  jpeg: jpegReader,
  safetensors: safetensorsReader,
  checkpoint: checkpointReader,
};
