/**
 * The detector's data: COCO instance JSON (`coco.ts`), masks as run-length encodings with
 * pycocotools' semantics (`rle.ts`), PNG and JPEG images as CHW tensors (`png.ts`, `jpeg.ts` with its decoder
 * `jpeg_decode.ts`, and `image.ts`'s `readImage`, which tells them apart by their first bytes), converters from labelme and VIA
 * annotations to COCO (`convert.ts`), the synthetic
 * shapes dataset (`shapes.ts`), and the dataset / loader that serves both it and real COCO
 * subsets (`dataset.ts`).
 *
 * @module
 */
export * from './rle.js';
export * from './coco.js';
export * from './png.js';
export * from './jpeg.js';
export * from './jpeg_decode.js';
export * from './image.js';
export * from './convert.js';
export * from './shapes.js';
export * from './dataset.js';
