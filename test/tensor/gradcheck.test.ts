import test from 'tape';
import { tensor, gradcheck, defineOp, Tensor } from '../../lib/index.js';

test('gradcheck catches a wrong backward and names the entry', (t) => {
  const badSquare = defineOp({
    name: 'badSquare',
    forward: (_ctx, x: Tensor) => x.mul(x),
    backward: (g, { args: [x] }) => [g.mul(x)], // should be 2x
  });
  const x = tensor([1, 2], { requiresGrad: true });
  const result = gradcheck((a) => badSquare(a), [x]);
  t.notOk(result.ok, 'a wrong gradient fails');
  t.ok(/input 0 .* element \d, output element \d: analytic .*, numerical/.test(result.message), result.message);
  const good = gradcheck((a) => a.mul(a), [x]);
  t.ok(good.ok, good.message);
  t.ok(good.maxError < 1e-6, `float64 central differences are accurate: ${good.maxError}`);
  t.end();
});

test('gradcheck handles inputs without gradients and reports misuse', (t) => {
  const x = tensor([1, 2], { requiresGrad: true });
  const c = tensor([3, 4]);
  t.ok(gradcheck((a, b) => a.mul(b), [x, c]).ok, 'a constant input is not perturbed');
  t.notOk(gradcheck((a) => a.mul(2), [c]).ok, 'no input requires a gradient');
  t.notOk(gradcheck((a) => a.detach(), [x]).ok, 'output without a gradient');
  const nan = defineOp({ name: 'nanGrad', forward: (_ctx, a: Tensor) => a.mul(1), backward: (g) => [g.mul(NaN)] });
  t.notOk(gradcheck((a) => nan(a), [x]).ok, 'NaN gradients fail');
  t.ok(gradcheck((a) => a.mul(a).sum(), [x], { dtype: 'float32' }).ok, 'a float32 check with its looser defaults');
  t.end();
});
