import test from 'tape';
import { tensor, randn, rand, randint, Generator } from '../../lib/index.js';
import { binaryCrossEntropyWithLogits, crossEntropy, smoothL1, l1 } from '../../lib/nn/index.js';
import { assertClose, assertGradcheck, assertThrowsMessage } from '../helpers.js';

test('binaryCrossEntropyWithLogits: stable at |x| = 100, values and gradient from torch', (t) => {
  const x = tensor([-100, -3, 0, 2.5, 100]).requiresGrad_();
  const z = tensor([0, 1, 0.5, 0, 1]);
  const loss = binaryCrossEntropyWithLogits(x, z, { reduction: 'none' });
  assertClose(t, loss, [0, 3.0485873, 0.6931472, 2.5788898, 0], 'per-element values (no overflow, no NaN)');
  loss.sum().backward();
  assertClose(t, x.grad!, [0, -0.95257413, 0, 0.9241418, 0], 'gradient sigmoid(x) - z');
  const mean = binaryCrossEntropyWithLogits(tensor([1, -1]), tensor([1, 0]));
  assertClose(t, mean, Math.log1p(Math.exp(-1)), 'mean reduction by hand');
  const w = binaryCrossEntropyWithLogits(tensor([[0, 0]]), tensor([[1, 1]]), { weight: tensor([2, 0]), reduction: 'sum' });
  assertClose(t, w, 2 * Math.LN2, 'weight broadcast over rows');
  const g = new Generator(1);
  assertGradcheck(
    t,
    (a, b, c) => binaryCrossEntropyWithLogits(a, b, { weight: c }),
    [randn([3, 4], { generator: g, requiresGrad: true }).mul(3).detach().requiresGrad_(), rand([3, 4], { generator: g, requiresGrad: true }), rand([4], { generator: g, requiresGrad: true })],
    'gradcheck in input, target and weight',
  );
  assertThrowsMessage(t, () => binaryCrossEntropyWithLogits(randn([2, 3]), randn([3, 2])), 'target has shape [3,2] but input has shape [2,3]', 'shape mismatch');
  assertThrowsMessage(t, () => binaryCrossEntropyWithLogits(randn([2]), randn([2]), { reduction: 'avg' as 'mean' }), "reduction must be 'mean', 'sum' or 'none'", 'bad reduction');
  t.end();
});

test('crossEntropy: class weights, ignore index, K-dim input, reductions (values from torch)', (t) => {
  const x = tensor([[2, -1, 0.5], [0, 3, -2]]).requiresGrad_();
  const target = tensor([0, 2], { dtype: 'int32' });
  const loss = crossEntropy(x, target, { weight: tensor([1, 2, 0.5]) });
  assertClose(t, loss, 1.8458692, 'weighted mean divides by the sum of the target weights');
  loss.backward();
  assertClose(t, x.grad!, [[-0.14293532, 0.026075048, 0.11686026], [0.015707806, 0.31549972, -0.33120751]], 'gradient');
  const ignored = tensor([-100, 1], { dtype: 'int32' });
  const one = crossEntropy(tensor([[5, 0], [1, 2]]), ignored);
  assertClose(t, one, Math.log1p(Math.exp(-1)), 'ignored targets are not counted in the mean');
  t.ok(Number.isNaN(crossEntropy(tensor([[1, 2]]), tensor([-100], { dtype: 'int32' })).item()), 'all ignored: NaN, as torch');
  const none = crossEntropy(tensor([[5, 0], [1, 2]]), ignored, { reduction: 'none' });
  assertClose(t, none, [0, Math.log1p(Math.exp(-1))], "'none' gives 0 for ignored targets");
  const g = new Generator(2);
  const logits = randn([2, 3, 2, 2], { generator: g });
  const spatial = randint(0, 3, [2, 2, 2], { generator: g });
  const flat = crossEntropy(logits.permute(0, 2, 3, 1).reshape(-1, 3), spatial.reshape(-1), { reduction: 'sum' });
  assertClose(t, crossEntropy(logits, spatial, { reduction: 'sum' }), flat.item(), 'K-dim input [N, C, d1, d2] = flattened rows');
  t.deepEqual(crossEntropy(logits, spatial, { reduction: 'none' }).shape, [2, 2, 2], "'none' keeps the target's shape");
  assertGradcheck(t, (a) => crossEntropy(a, spatial, { ignoreIndex: 1 }), [logits.detach().requiresGrad_()], 'gradcheck');
  assertThrowsMessage(t, () => crossEntropy(randn([2, 3]), tensor([0, 3], { dtype: 'int32' })), 'target 3 at position 1 is out of range for 3 classes', 'bad class');
  assertThrowsMessage(t, () => crossEntropy(randn([2, 3]), tensor([0, 1])), 'target must hold int32 class indices', 'float target');
  assertThrowsMessage(t, () => crossEntropy(randn([2, 3]), tensor([0], { dtype: 'int32' })), 'needs target [2]', 'target shape');
  t.end();
});

test('smoothL1 and l1: beta 1/9 as torchvision, beta 0 is L1; gradcheck', (t) => {
  const x = tensor([0, 0.05, -0.5, 2]).requiresGrad_();
  const zero = tensor([0, 0, 0, 0]);
  assertClose(t, smoothL1(x, zero, { beta: 1 / 9, reduction: 'none' }), [0, 0.01125, 0.44444445, 1.9444444], 'values (torch)');
  smoothL1(x, zero, { beta: 1 / 9, reduction: 'sum' }).backward();
  assertClose(t, x.grad!, [0, 0.45, -1, 1], 'gradient: d/beta inside, sign outside');
  assertClose(t, smoothL1(tensor([1, -3]), tensor([0, 0]), { beta: 0 }), 2, 'beta 0 = L1 (mean)');
  assertClose(t, l1(tensor([1, -3]), tensor([0, 0]), { reduction: 'sum' }), 4, 'l1 sum');
  const y = tensor([0, 1]).requiresGrad_();
  l1(y, tensor([0, 0]), { reduction: 'sum' }).backward();
  assertClose(t, y.grad!, [0, 1], 'l1 gradient is 0 at an exact tie (F.l1_loss)');
  const g = new Generator(3);
  const a = randn([3, 4], { generator: g, requiresGrad: true });
  const b = randn([3, 4], { generator: g, requiresGrad: true });
  assertGradcheck(t, (p, q) => smoothL1(p, q, { beta: 0.5 }), [a, b], 'smoothL1 gradcheck in input and target');
  assertGradcheck(t, (p, q) => l1(p, q), [a, b], 'l1 gradcheck');
  assertThrowsMessage(t, () => smoothL1(a, b, { beta: -1 }), 'beta must be a finite number >= 0', 'negative beta');
  t.end();
});
