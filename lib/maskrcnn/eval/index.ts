/**
 * COCO-style evaluation with pycocotools' semantics: detection results in and out
 * (`results.ts`), the `COCOeval` equivalent (`cocoeval.ts`) and error analysis on top of it
 * (`analysis.ts`: per-class AP, PR curves, confusion matrix, TIDE), and a model's detections as
 * COCO results and its evaluation over a whole dataset (`inference.ts`).
 *
 * @module
 */
export * from './cocoeval.js';
export * from './results.js';
export * from './analysis.js';
export * from './inference.js';
