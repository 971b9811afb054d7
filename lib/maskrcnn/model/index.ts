/**
 * The model, one file per stage named after the paper's term (torchvision's
 * `models/detection` layout): the configuration (`config.ts`), box utilities (`box_ops.ts`,
 * `box_coder.ts`), `anchor_utils.ts`, the `matcher.ts` and `balanced_sampler.ts` of training,
 * the shared types (`types.ts`), the image `transform.ts`, the `rpn.ts`, the RoI `poolers.ts`,
 * the `roi_heads.ts` (box and mask branches), the whole `mask_rcnn.ts`, its typed `trace.ts` (and
 * `training_trace.ts`, the training-mode trace for inspection), and `weights.ts` (state dicts by
 * torchvision's names in and out).
 *
 * @module
 */
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
export * from './training_trace.js';
export * from './weights.js';
