import test from 'tape';
import { manualSeed } from '../../../lib/tensor/index.js';
import { MaskRCNN, shapesConfig } from '../../../lib/maskrcnn/index.js';

function stats(data: ArrayLike<number>): { mean: number; std: number } {
  let s = 0;
  for (let i = 0; i < data.length; i++) s += data[i]!;
  const mean = s / data.length;
  let v = 0;
  for (let i = 0; i < data.length; i++) v += (data[i]! - mean) ** 2;
  return { mean, std: Math.sqrt(v / data.length) };
}

test("heads start from torchvision's initialisation", (t) => {
  manualSeed(0);
  const model = new MaskRCNN(shapesConfig(4));
  const sd = model.stateDict();
  const c = 64; // the shapes preset's FPN width
  for (const key of ['rpn.head.conv.0.0.weight', 'rpn.head.cls_logits.weight', 'rpn.head.bbox_pred.weight']) {
    const { mean, std } = stats(sd.get(key)!.data);
    t.ok(Math.abs(std - 0.01) < 0.001 && Math.abs(mean) < 0.001, `${key} ~ N(0, 0.01^2): mean ${mean.toExponential(2)}, std ${std.toFixed(4)}`);
  }
  for (const key of ['rpn.head.conv.0.0.bias', 'rpn.head.cls_logits.bias', 'roi_heads.mask_head.0.1.bias', 'roi_heads.mask_predictor.conv5_mask.bias', 'roi_heads.mask_predictor.mask_fcn_logits.bias']) {
    t.ok(sd.get(key)!.data.every((x) => x === 0), `${key} is zero`);
  }
  t.ok(sd.get('roi_heads.mask_head.0.1.weight')!.data.every((x) => x === 1), 'mask head BatchNorm (the shapes preset) starts as the identity: weight 1');
  // He normal, fan out, ReLU: std = sqrt(2 / (out_channels * k * k)).
  const w = sd.get('roi_heads.mask_head.0.0.weight')!;
  const { std } = stats(w.data);
  const want = Math.sqrt(2 / (w.shape[0]! * 9));
  t.ok(Math.abs(std / want - 1) < 0.05, `mask_head.0 std ${std.toFixed(4)} ~ sqrt(2/fan_out) ${want.toFixed(4)} (fan out ${w.shape[0]} x 3 x 3, input ${c})`);
  const logits = sd.get('roi_heads.mask_predictor.mask_fcn_logits.weight')!;
  const s2 = stats(logits.data).std;
  const want2 = Math.sqrt(2 / logits.shape[0]!);
  t.ok(Math.abs(s2 / want2 - 1) < 0.15, `mask_fcn_logits std ${s2.toFixed(3)} ~ sqrt(2/${logits.shape[0]}) ${want2.toFixed(3)}`);
  t.end();
});
