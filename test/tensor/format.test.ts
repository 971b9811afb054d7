import test from 'tape';
import { tensor, zeros, arange, randn, manualSeed } from '../../lib/index.js';

test('toString prints like PyTorch', (t) => {
  t.equal(tensor([[1, 2], [3, 4]]).toString(), 'tensor([[1., 2.],\n        [3., 4.]])', 'integer-valued floats');
  t.equal(tensor([1.5, -2.25]).toString(), 'tensor([ 1.5000, -2.2500])', 'fixed with 4 decimals, aligned');
  t.equal(tensor(3.5).toString(), 'tensor(3.5000)', 'scalar');
  t.equal(tensor([1e-5, 1]).toString(), 'tensor([1.0000e-05, 1.0000e+00])', 'scientific when the range is wide');
  t.equal(arange(3).toString(), 'tensor([0, 1, 2], dtype=int32)', 'int32 shows its dtype');
  t.equal(tensor([1], { requiresGrad: true }).toString(), 'tensor([1.], requires_grad=True)', 'requires_grad');
  t.equal(tensor([1], { requiresGrad: true }).mul(2).toString(), 'tensor([2.], grad_fn=<MulBackward>)', 'grad_fn');
  t.equal(zeros([0, 3]).toString(), 'tensor([], size=(0, 3))', 'empty with its size');
  t.equal(tensor([NaN, Infinity, 1]).toString(), 'tensor([nan, inf, 1.])', 'non-finite values');
  t.equal(
    arange(8).reshape(2, 2, 2).float().toString(),
    'tensor([[[0., 1.],\n         [2., 3.]],\n\n        [[4., 5.],\n         [6., 7.]]])',
    '3-D with a blank line between matrices',
  );
  manualSeed(0);
  const big = randn([40, 40]).toString();
  t.ok(big.includes('...'), 'large tensors are summarised');
  t.ok(big.split('\n').length < 12, 'summary stays short');
  t.end();
});
