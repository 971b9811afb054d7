/**
 * `lib/maskrcnn`: the detector's data (COCO, RLE masks, PNG, the shapes dataset, loaders) and
 * COCO-style evaluation. The detector itself, its training loop and the rest of the CLI
 * arrive with later issues.
 *
 * @module
 */
export * from './data/index.js';
export * from './eval/index.js';
