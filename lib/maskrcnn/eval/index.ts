/**
 * COCO-style evaluation with pycocotools' semantics: detection results in and out
 * (`results.ts`) and the `COCOeval` equivalent (`cocoeval.ts`).
 *
 * @module
 */
export * from './cocoeval.js';
export * from './results.js';
