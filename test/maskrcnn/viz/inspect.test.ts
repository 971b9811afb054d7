import test from 'tape';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { defaultGenerator, manualSeed } from '../../../lib/tensor/index.js';
import { MaskRCNN } from '../../../lib/maskrcnn/model/mask_rcnn.js';
import { shapesConfig } from '../../../lib/maskrcnn/model/config.js';
import { generateShapes, shapesDetectionDataset } from '../../../lib/maskrcnn/data/index.js';
import { writeInspection } from '../../../lib/maskrcnn/viz/inspect.js';

test('writeInspection: one PNG per stage, index.html links every PNG, trace.json has every key; eval mode and RNG restored', (t) => {
  manualSeed(0);
  const model = new MaskRCNN(shapesConfig(4));
  model.eval();
  const sample = shapesDetectionDataset(generateShapes({ count: 1, size: 64 }), { contiguousLabels: true }).get(0);
  const dir = mkdtempSync(join(tmpdir(), 'inspect-test-'));
  try {
    const rng = defaultGenerator.getState();
    const withTarget = writeInspection(model, sample.image, join(dir, 'train'), { target: sample.target, title: 'a <test>', classes: ['bg', 'square', 'circle', 'triangle'] });
    t.equal(model.training, false, 'eval mode restored after the training-mode pass');
    t.deepEqual(defaultGenerator.getState(), rng, 'the global random stream is as before');
    for (const [name, r] of [['train', withTarget]] as const) {
      const html = readFileSync(r.index, 'utf8');
      const pngs = r.files.filter((f) => f.endsWith('.png'));
      t.ok(pngs.length >= 15, `${name}: ${pngs.length} PNGs`);
      for (const f of pngs) t.ok(existsSync(f) && html.includes(`src="${f.slice(join(dir, name).length + 1)}"`), `${name}: index links ${f.slice(dir.length)}`);
      const srcs = [...html.matchAll(/src="([^"]+)"/g)].map((m) => m[1]!);
      t.ok(srcs.every((s) => existsSync(join(dir, name, s))), `${name}: every linked image exists`);
      t.ok(html.includes('Region proposals after NMS (Faster R-CNN RPN, Mask R-CNN §3)'), `${name}: captions name the paper's term and section`);
      const trace = JSON.parse(readFileSync(join(dir, name, 'trace.json'), 'utf8')) as { trace: Record<string, { shape: number[]; min: number | null; max: number | null; mean: number | null }>; trainTrace?: Record<string, unknown>; losses?: Record<string, number> };
      t.deepEqual(trace.trace['fpn.0']?.shape, [1, 64, 32, 32], `${name}: trace.json has P2's shape`);
      const p2 = trace.trace['fpn.0']!;
      t.ok(p2.min! <= p2.mean! && p2.mean! <= p2.max!, `${name}: min <= mean <= max`);
      t.ok(Object.keys(trace.trace).length > 40, `${name}: every eval trace key (${Object.keys(trace.trace).length})`);
    }
    const trainHtml = readFileSync(withTarget.index, 'utf8');
    for (const f of ['06_rpn_targets.png', '07_sampled_rois.png', '08_mask_targets.png', '01_ground_truth.png']) {
      t.ok(withTarget.files.includes(join(dir, 'train', f)), `${f} drawn with a target`);
    }
    t.ok(trainHtml.includes('<title>a &lt;test&gt;</title>'), 'title escaped');
    const trainJson = JSON.parse(readFileSync(join(dir, 'train', 'trace.json'), 'utf8')) as { trainTrace: Record<string, unknown>; losses: Record<string, number> };
    t.ok('train.roi_heads.mask_targets' in trainJson.trainTrace, 'training trace keys in trace.json');
    t.deepEqual(Object.keys(trainJson.losses).sort(), ['loss_box_reg', 'loss_classifier', 'loss_mask', 'loss_objectness', 'loss_rpn_box_reg'], 'the five losses');
    t.throws(() => writeInspection(model, sample.image.reshape([1, 3, 64, 64]), join(dir, 'bad')), /image must be \[3, H, W\], got \[1,3,64,64\]/, 'bad image shape named');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  t.end();
});
