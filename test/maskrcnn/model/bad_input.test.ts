import test from 'tape';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Tensor, zeros } from '../../../lib/tensor/index.js';
import { SafetensorsFile } from '../../../lib/nn/index.js';
import { checkFiniteLosses, type Target } from '../../../lib/maskrcnn/index.js';
import { loadFixtureModel } from '../../../tools/parity/model.js';
import type { Test } from 'tape';

/** Asserts that `fn` throws an error whose message matches `pattern`. */
function assertThrowsMessage(t: Test, fn: () => unknown, pattern: RegExp, message: string): void {
  try {
    fn();
  } catch (error) {
    const text = (error as Error).message;
    t.ok(pattern.test(text), `${message} (got: ${text})`);
    return;
  }
  t.fail(`${message}: did not throw`);
}

const dir = fileURLToPath(new URL('../../fixtures/model/', import.meta.url));
const model = loadFixtureModel(dir);
const image = (() => {
  const f = SafetensorsFile.open(join(dir, 'goldens_random.safetensors'));
  try {
    return f.read('input.image.0'); // [3, 128, 160]
  } finally {
    f.close();
  }
})();
const target = (boxes: number[][], h = 128, w = 160): Target => {
  const g = boxes.length;
  const masks = new Int32Array(g * h * w);
  boxes.forEach((b, k) => {
    for (let y = Math.max(0, Math.floor(b[1]!)); y < Math.min(h, Math.ceil(b[3]!)); y++) {
      for (let x = Math.max(0, Math.floor(b[0]!)); x < Math.min(w, Math.ceil(b[2]!)); x++) masks[k * h * w + y * w + x] = 1;
    }
  });
  return {
    boxes: new Tensor(Float32Array.from(boxes.flat()), [g, 4]),
    labels: new Tensor(Int32Array.from(boxes.map((_, k) => 1 + (k % 3))), [g]),
    masks: new Tensor(masks, [g, h, w]),
  };
};
const train = <T>(fn: () => T): T => {
  model.train();
  try {
    return fn();
  } finally {
    model.eval();
  }
};

test('bad input: images of the wrong rank, channel count or empty give clear errors', (t) => {
  model.eval();
  assertThrowsMessage(t, () => model.forward([zeros([128, 160])]), /image 0 must be \[3, H, W\], got \[128,160\]/, 'rank 2');
  assertThrowsMessage(t, () => model.forward([zeros([1, 3, 128, 160])]), /image 0 must be \[3, H, W\], got \[1,3,128,160\]/, 'rank 4 (a batch tensor instead of a list)');
  assertThrowsMessage(t, () => model.forward([image, zeros([4, 64, 64])]), /image 1 must be \[3, H, W\], got \[4,64,64\]/, '4 channels');
  assertThrowsMessage(t, () => model.forward([zeros([3, 0, 64])]), /image 0 is empty \(\[3,0,64\]\)/, 'zero height');
  assertThrowsMessage(t, () => model.forward([zeros([3, 64, 0])]), /image 0 is empty/, 'zero width');
  assertThrowsMessage(t, () => model.forward([]), /no images/, 'no images');
  t.end();
});

test('bad input: degenerate target boxes raise as torchvision does; malformed targets are named', (t) => {
  const zeroArea = target([[10, 10, 50, 50], [30, 40, 30, 60]]);
  train(() => assertThrowsMessage(t, () => model.forward([image], [zeroArea]), /All bounding boxes should have positive height and width\. Found invalid box \[30, 40, 30, 60\] for target at index 0/, 'zero width box (torchvision\'s message)'));
  const inverted = target([[10, 50, 40, 20]]);
  train(() => assertThrowsMessage(t, () => model.forward([image], [inverted]), /positive height and width\. Found invalid box \[10, 50, 40, 20\]/, 'y2 < y1'));
  const nan = target([[10, 10, 50, 50]]);
  nan.boxes.data[2] = NaN;
  train(() => assertThrowsMessage(t, () => model.forward([image], [nan]), /positive height and width/, 'a NaN coordinate'));
  train(() => assertThrowsMessage(t, () => model.forward([image], [{ ...target([[1, 1, 9, 9]]), boxes: zeros([4]) }]), /Expected target boxes to be a tensor of shape \[N, 4\], got \[4\]/, 'boxes of the wrong shape'));
  train(() => assertThrowsMessage(t, () => model.forward([image], [{ ...target([[1, 1, 9, 9]]), labels: new Tensor(new Int32Array(2), [2]) }]), /target 0 has 1 boxes but 2 labels/, 'labels count'));
  train(() => assertThrowsMessage(t, () => model.forward([image], [{ ...target([[1, 1, 9, 9]]), masks: new Tensor(new Int32Array(2 * 128 * 160), [2, 128, 160]) }]), /target 0 has 1 boxes but masks \[2,128,160\]/, 'masks count'));
  train(() => assertThrowsMessage(t, () => model.forward([image], [{ ...target([[1, 1, 9, 9]]), masks: new Tensor(new Int32Array(64 * 64), [1, 64, 64]) }]), /masks \[1,64,64\] .* image 0 is \[3,128,160\]/, 'masks of another size than the image'));
  t.end();
});

test('bad input: boxes reaching outside the image are kept as torchvision does (not clipped), losses finite', (t) => {
  const outside = target([[-20, -10, 60, 50], [120, 90, 200, 170]]);
  const losses = train(() => model.forward([image], [outside]).losses);
  for (const [k, v] of Object.entries(losses)) t.ok(Number.isFinite(v.item()), `${k} = ${v.item().toPrecision(4)} is finite`);
  t.end();
});

test('bad input: an image with no objects trains on background only (box, mask and RPN box losses 0, as torchvision)', (t) => {
  const empty: Target = { boxes: zeros([0, 4]), labels: new Tensor(new Int32Array(0), [0]), masks: new Tensor(new Int32Array(0), [0, 128, 160]) };
  const out = train(() => model.forward([image, image], [empty, target([[10, 10, 50, 50]])], { trace: true }));
  for (const [k, v] of Object.entries(out.losses)) t.ok(Number.isFinite(v.item()), `${k} = ${v.item().toPrecision(4)} is finite`);
  const labels = out.trace.get('train.roi_heads.labels.0')!;
  t.ok(labels.size > 0 && Array.from(labels.data).every((l) => l === 0), `image 0: ${labels.size} RoIs, all background`);
  const anchors = out.trace.get('train.rpn.anchor_labels.0')!;
  t.ok(Array.from(anchors.data).every((l) => l === 0), 'image 0: every anchor is background');
  const alone = train(() => model.forward([image], [empty]).losses);
  t.equal(alone.loss_box_reg!.item(), 0, 'loss_box_reg 0');
  t.equal(alone.loss_mask!.item(), 0, 'loss_mask 0');
  t.equal(alone.loss_rpn_box_reg!.item(), 0, 'loss_rpn_box_reg 0');
  t.ok(alone.loss_classifier!.item() > 0 && alone.loss_objectness!.item() > 0, 'classification and objectness losses still train the background');
  const total = Object.values(alone).reduce((a, b) => a.add(b));
  model.zeroGrad();
  train(() => total.backward());
  const grads = model.parameters().filter((p) => p.grad !== null);
  t.ok(grads.length > 0 && grads.every((p) => p.grad!.data.every((v) => Number.isFinite(v))), `finite gradients (${grads.length} parameters)`);
  model.zeroGrad();
  t.end();
});

test('checkFiniteLosses names the iteration and the term of a NaN or infinite loss', (t) => {
  const ok = { loss_classifier: new Tensor(Float32Array.of(0.5), []), loss_mask: new Tensor(Float32Array.of(0.1), []) };
  t.doesNotThrow(() => checkFiniteLosses(ok, 3), 'finite losses pass');
  assertThrowsMessage(t, () => checkFiniteLosses({ ...ok, loss_box_reg: new Tensor(Float32Array.of(NaN), []) }, 17), /iteration 17: loss_box_reg is NaN/, 'NaN');
  assertThrowsMessage(t, () => checkFiniteLosses({ ...ok, loss_objectness: new Tensor(Float32Array.of(Infinity), []) }, 2), /iteration 2: loss_objectness is Infinity/, 'infinity');
  t.end();
});
