import test from 'tape';
import { noGrad } from '../../../lib/tensor/index.js';
import { MaskRCNN, generateShapes, shapesDetectionDataset } from '../../../lib/maskrcnn/index.js';
import { tinyConfig } from '../../fixtures/train/tiny_run.js';

test('MaskRCNN.forward({timings}): the milliseconds of every stage, in the pipeline\'s order, summing to about the whole pass', (t) => {
  const model = new MaskRCNN(tinyConfig());
  model.eval();
  const image = shapesDetectionDataset(generateShapes({ count: 1, size: 64, seed: 2 }), { contiguousLabels: true }).get(0).image;
  const timings: Record<string, number> = {};
  const t0 = performance.now();
  noGrad(() => model.forward([image], undefined, { timings }));
  const whole = performance.now() - t0;
  t.deepEqual(Object.keys(timings), ['transform', 'backbone.body', 'backbone.fpn', 'rpn', 'roi_heads', 'postprocess'], 'the stages, in order');
  t.ok(Object.values(timings).every((v) => Number.isFinite(v) && v >= 0), 'non-negative milliseconds');
  const sum = Object.values(timings).reduce((a, b) => a + b, 0);
  t.ok(sum <= whole + 1 && sum >= 0.5 * whole, `the stages (${sum.toFixed(1)} ms) account for the pass (${whole.toFixed(1)} ms)`);
  t.end();
});
