/**
 * Pictures: the canvas, colours, boxes and heat maps every drawing uses, and the trace's views
 * (`viz.ts`), the bitmap fonts (`font.ts`), the course's labelled figures (`figures.ts`) and
 * the paper's Figure 3 (`roi_figure.ts`), the SVG charts (`plot.ts`), the prediction overlays
 * (`overlay.ts`) and the stage-by-stage inspection page (`inspect.ts`).
 *
 * @module
 */
export * from './viz.js';
export * from './font.js';
export * from './roi_figure.js';
export * from './figures.js';
export * from './plot.js';
export * from './overlay.js';
export * from './inspect.js';
