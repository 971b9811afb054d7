/**
 * COCO-style evaluation with pycocotools' semantics: detection results in and out
 * (`results.ts`), the `COCOeval` equivalent (`cocoeval.ts`) and error analysis on top of it
 * (`analysis.ts`: per-class AP, PR curves, confusion matrix, TIDE).
 *
 * @module
 */
export * from './cocoeval.js';
export * from './results.js';
export * from './analysis.js';
