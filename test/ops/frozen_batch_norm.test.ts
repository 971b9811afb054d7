import test from 'tape';
import { tensor, randn, rand, Generator } from '../../lib/index.js';
import { frozenBatchNorm2d } from '../../lib/ops/index.js';
import { assertClose, assertGradcheck, assertThrowsMessage } from '../helpers.js';
import { assertBackendsAgree } from './helpers.js';

test('frozenBatchNorm2d: y = (x - mean) / sqrt(var + eps) * w + b, by hand', (t) => {
  const x = tensor([[[[1, 2]], [[3, 4]]]]); // [1, 2, 1, 2]
  const y = frozenBatchNorm2d(x, tensor([2, 1]), tensor([0, 10]), tensor([1, 3]), tensor([4, 0.25]), { eps: 0 });
  // channel 0: (x - 1) / 2 * 2 + 0 = x - 1; channel 1: (x - 3) / 0.5 + 10
  assertClose(t, y, [[[[0, 1]], [[10, 12]]]], 'values');
  t.end();
});

test('frozenBatchNorm2d: gradient only for the input; gradcheck; backends agree', (t) => {
  const g = new Generator(3);
  const x = randn([2, 3, 4, 5], { generator: g, requiresGrad: true });
  const [w, b, m] = [randn([3], { generator: g }), randn([3], { generator: g }), randn([3], { generator: g })];
  const v = rand([3], { generator: g }).add(0.5);
  assertGradcheck(t, (a) => frozenBatchNorm2d(a, w, b, m, v), [x], 'gradcheck (reference, float64)');
  assertBackendsAgree(t, 'frozenBatchNorm2d', () => {
    const xi = x.detach().requiresGrad_();
    const y = frozenBatchNorm2d(xi, w, b, m, v);
    y.mul(y).sum().backward();
    return { output: y, gradInput: xi.grad! };
  });
  t.end();
});

test('frozenBatchNorm2d: bad input', (t) => {
  const x = randn([1, 3, 2, 2]);
  const c = randn([3]);
  assertThrowsMessage(t, () => frozenBatchNorm2d(randn([3, 2, 2]), c, c, c, c), 'frozenBatchNorm2d: input must be 4-D, got shape [3,2,2]', 'rank');
  assertThrowsMessage(t, () => frozenBatchNorm2d(x, randn([4]), c, c, c), 'frozenBatchNorm2d: weight has shape [4] but [3] is expected', 'channels');
  const empty = frozenBatchNorm2d(randn([0, 3, 2, 2]), c, c, c, c);
  t.deepEqual(empty.shape, [0, 3, 2, 2], 'an empty batch gives an empty output');
  t.end();
});
