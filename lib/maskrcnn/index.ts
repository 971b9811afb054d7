/**
 * `lib/maskrcnn`, laid out as the paper reads: the model's stages (`model/`: anchors, RPN, RoI
 * poolers and heads, Mask R-CNN, its typed trace, weights), its data (`data/`: COCO, RLE masks,
 * PNG and JPEG, converters, the shapes dataset, loaders), COCO-style evaluation (`eval/`, with
 * a model's inference over a dataset), training (`train/`: the loop, ablations, benchmarks, the
 * model zoo), pictures (`viz/`: canvas, trace views, figures, charts, overlays, inspection) and
 * the command line (`cli/`, not re-exported).
 *
 * @module
 */
export * from './data/index.js';
export * from './eval/index.js';
export * from './model/index.js';
export * from './viz/index.js';
export * from './train/index.js';
