import test from 'tape';
import { fileURLToPath } from 'node:url';
import { withBackend } from '../../../lib/ops/index.js';
import { runModelParity, loadFixtureModel } from '../../../tools/parity/model.js';
import { formatLine } from '../../../tools/parity/harness.js';

const dir = fileURLToPath(new URL('../../fixtures/model/', import.meta.url));

test('model fixture: the whole torchvision state dict loads into MaskRCNN strictly (every key, torchvision names)', (t) => {
  const model = loadFixtureModel(dir); // strict: throws on a missing or unexpected key
  const keys = [...model.stateDict().keys()];
  t.ok(keys.includes('rpn.head.conv.0.0.weight') && keys.includes('roi_heads.mask_predictor.conv5_mask.weight') && keys.includes('roi_heads.box_head.fc6.weight'), 'torchvision key names');
  const params = model.parameters().reduce((n, p) => n + p.size, 0);
  t.equal(params, 1094295, '1,094,295 trainable parameters, as the fixture');
  t.end();
});

test('model fixture parity (reference backend): RPN, proposal filtering, RoI heads, postprocess, masks, stage by stage on the random and shapes runs', (t) => {
  const stages = [
    'rpn (head, anchors, decode, filter_proposals)',
    'rpn.filter_proposals (golden logits and decoded boxes)',
    'roi_heads (box branch, postprocess, mask branch from golden proposals)',
    'roi_heads.postprocess_detections (golden logits and regressions)',
    'roi_heads mask branch (golden detections)',
    'transform.postprocess (golden detections)',
  ];
  const lines = withBackend('reference', () => runModelParity(dir, { runs: ['random', 'shapes'], stages, endToEnd: false }));
  for (const line of lines) t.equal(line.status, 'PASS', formatLine(line));
  t.equal(lines.length, 78, '78 golden tensors compared'); t.ok(lines.length === 78, `${lines.length} golden tensors compared`);
  t.end();
});

test('model fixture parity (reference backend): training targets (RPN anchor labels and matched boxes; RoI matched indices and labels)', (t) => {
  const lines = withBackend('reference', () => runModelParity(dir, { runs: ['train'], endToEnd: false }));
  // Fed the golden train proposals, every target matches row by row. (The end-to-end pass of
  // npm run parity, whose train-mode RPN NMS is not margin-checked, compares those rows as sets.)
  for (const line of lines) t.equal(line.status, 'PASS', formatLine(line));
  t.ok(lines.length >= 10, `${lines.length} golden tensors compared`);
  t.end();
});
