/**
 * Pictures: the canvas, font, colours, boxes and heat maps every drawing uses, and the trace's
 * views (`viz.ts`), the course's labelled figures (`figures.ts`), the SVG charts (`plot.ts`),
 * the prediction overlays (`overlay.ts`) and the stage-by-stage inspection page (`inspect.ts`).
 *
 * @module
 */
export * from './viz.js';
export * from './figures.js';
export * from './plot.js';
export * from './overlay.js';
export * from './inspect.js';
