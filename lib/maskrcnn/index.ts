/**
 * `lib/maskrcnn`: the detector (anchors, RPN, RoI poolers and heads, Mask R-CNN, weights), its
 * data (COCO, RLE masks, PNG, the shapes dataset, loaders), COCO-style evaluation, training,
 * inference and benchmarks, and the figures, plots and inspection views of the course.
 *
 * @module
 */
export * from './data/index.js';
export * from './eval/index.js';
export * from './config.js';
export * from './box_ops.js';
export * from './box_coder.js';
export * from './anchor_utils.js';
export * from './matcher.js';
export * from './balanced_sampler.js';
export * from './types.js';
export * from './trace.js';
export * from './transform.js';
export * from './rpn.js';
export * from './poolers.js';
export * from './roi_heads.js';
export * from './mask_rcnn.js';
export * from './weights.js';
export * from './viz.js';
export * from './figures.js';
export * from './inference.js';
export * from './plot.js';
export * from './train.js';
export * from './overlay.js';
export * from './inspect.js';
export * from './training_trace.js';
export * from './bench.js';
export * from './zoo.js';
export * from './ablate.js';
