import test from 'tape';
import { tensor, defineOp, noGrad, isGradEnabled, Tensor, ones } from '../../lib/index.js';
import { assertClose, assertGradcheck, assertThrowsMessage } from '../helpers.js';

test('backward on a scalar walks the graph (micrograd example by hand)', (t) => {
  // y = (a * b + c) * a, with a = 2, b = -3, c = 10: y = (−6 + 10) * 2 = 8.
  const a = tensor(2, { requiresGrad: true });
  const b = tensor(-3, { requiresGrad: true });
  const c = tensor(10, { requiresGrad: true });
  const y = a.mul(b).add(c).mul(a);
  assertClose(t, y, 8, 'forward value');
  y.backward();
  // dy/da = b*a + (a*b + c) = -6 + 4 = -2; dy/db = a*a = 4; dy/dc = a = 2.
  assertClose(t, a.grad!, -2, 'dy/da: a used twice, gradients accumulate');
  assertClose(t, b.grad!, 4, 'dy/db');
  assertClose(t, c.grad!, 2, 'dy/dc');
  t.end();
});

test('leaf and non-leaf semantics, retainGrad, detach', (t) => {
  const x = tensor([1, 2, 3], { requiresGrad: true });
  const h = x.mul(2);
  t.ok(x.isLeaf, 'user tensor is a leaf');
  t.notOk(h.isLeaf, 'op output is not a leaf');
  t.ok(h.requiresGrad, 'op output requires grad');
  h.retainGrad();
  const z = h.mul(h).sum();
  z.backward();
  assertClose(t, h.grad!, [4, 8, 12], 'retained non-leaf gradient 2h');
  assertClose(t, x.grad!, [8, 16, 24], 'leaf gradient 4h');
  const y = x.mul(3);
  const d = y.detach();
  t.ok(d.isLeaf && !d.requiresGrad, 'detach gives a leaf without grad');
  t.equal(d.data, y.data, 'detach shares storage');
  const k = x.mul(3).sum();
  t.equal(tensor([1]).mul(2).gradFn, null, 'no graph when no input requires grad');
  assertThrowsMessage(t, () => (h.requiresGrad = false), 'only leaf tensors', 'non-leaf requiresGrad cannot be changed');
  assertThrowsMessage(t, () => tensor([1], { dtype: 'int32', requiresGrad: true }), 'floating-point', 'int tensors cannot require grad');
  k.backward();
  t.end();
});

test('gradients accumulate across backward calls and across uses', (t) => {
  const x = tensor([1, -2], { requiresGrad: true });
  x.mul(x).sum().backward();
  x.mul(3).sum().backward();
  assertClose(t, x.grad!, [2 + 3, -4 + 3], 'two backward calls add up');
  x.grad = null;
  const y = x.add(x).add(x);
  y.sum().backward();
  assertClose(t, x.grad!, [3, 3], 'three uses in one graph');
  t.end();
});

test('backward needs a gradient for non-scalars; the graph is freed unless retained', (t) => {
  const x = tensor([[1, 2], [3, 4]], { requiresGrad: true });
  const y = x.mul(x);
  assertThrowsMessage(t, () => y.backward(), ['single-element', '[2,2]'], 'implicit gradient only for scalars');
  assertThrowsMessage(t, () => y.backward(ones([3])), ['gradient has shape [3]', '[2,2]'], 'gradient shape is checked');
  y.backward(tensor([[1, 0], [0, 1]]), { retainGraph: true });
  assertClose(t, x.grad!, [[2, 0], [0, 8]], 'vector-Jacobian product with an explicit gradient');
  y.backward(tensor([[1, 1], [1, 1]]));
  assertClose(t, x.grad!, [[4, 4], [6, 16]], 'second pass through a retained graph');
  assertThrowsMessage(t, () => y.backward(tensor([[1, 1], [1, 1]])), 'already freed', 'a third pass finds the graph freed');
  assertThrowsMessage(t, () => tensor([1]).backward(), 'does not require gradients', 'backward on a constant');
  t.end();
});

test('noGrad disables recording and nests', (t) => {
  const x = tensor([1, 2], { requiresGrad: true });
  const y = noGrad(() => {
    t.notOk(isGradEnabled(), 'disabled inside');
    noGrad(() => undefined);
    t.notOk(isGradEnabled(), 'still disabled after a nested call');
    return x.mul(2);
  });
  t.ok(isGradEnabled(), 're-enabled after');
  t.notOk(y.requiresGrad, 'output inside noGrad does not require grad');
  t.equal(y.gradFn, null, 'no grad_fn');
  try {
    noGrad(() => {
      throw new Error('boom');
    });
  } catch {
    // expected
  }
  t.ok(isGradEnabled(), 're-enabled after a throw');
  t.end();
});

test('a deep graph (10 000 ops) backpropagates without stack overflow', (t) => {
  const x = tensor([1], { requiresGrad: true });
  let y = x;
  for (let i = 0; i < 10000; i++) y = y.add(1);
  y.sum().backward();
  assertClose(t, x.grad!, [1], 'gradient through a long chain');
  t.end();
});

test('defineOp: a custom op joins autograd, with needsInputGrad and saved state', (t) => {
  let calls = 0;
  const cube = defineOp<[Tensor, number], number>({
    name: 'scaledCube',
    forward: (ctx, x: Tensor, scale: number) => {
      ctx.save(scale * 3);
      return x.mul(x).mul(x).mul(scale);
    },
    backward: (g, { args: [x], saved, needsInputGrad }) => {
      calls++;
      t.deepEqual(needsInputGrad, [true, false], 'needsInputGrad per argument');
      return [g.mul(x).mul(x).mul(saved), null];
    },
  });
  const x = tensor([1, 2, -1], { requiresGrad: true });
  const y = cube(x, 2);
  t.equal(y.gradFn?.toString(), 'ScaledCubeBackward', 'grad_fn name');
  t.notOk(y.gradFn?.inputs[0] === null, 'the tensor input is recorded');
  y.sum().backward();
  assertClose(t, x.grad!, [6, 24, 6], 'd(2x^3)/dx = 6x^2');
  t.equal(calls, 1, 'backward ran once');
  assertGradcheck(t, (a) => cube(a, 0.5), [tensor([0.3, -1.2, 2], { requiresGrad: true })], 'custom op gradcheck');
  const wrong = defineOp({
    name: 'wrongShape',
    forward: (_ctx, x: Tensor) => x.sum(),
    backward: (g) => [g],
  });
  assertThrowsMessage(t, () => wrong(tensor([1, 2], { requiresGrad: true })).backward(), ['wrongShape', 'shape []', 'shape [2]'], 'a backward returning the wrong shape is reported');
  t.end();
});

test('an op returning its input unchanged still gets its own node', (t) => {
  const x = tensor([1, 2], { requiresGrad: true });
  const y = x.reshape(2);
  t.notEqual(y, x, 'a new tensor object');
  t.ok(x.isLeaf, 'the input stays a leaf');
  y.mul(3).sum().backward();
  assertClose(t, x.grad!, [3, 3], 'gradient through the identity reshape');
  t.end();
});

test('mixed dtypes: float64 gradients flow back to a float32 leaf as float32', (t) => {
  const x = tensor([1, 2], { requiresGrad: true });
  const y = x.mul(tensor([0.5, 0.25], { dtype: 'float64' }));
  t.equal(y.dtype, 'float64', 'promoted output');
  y.sum().backward();
  t.equal(x.grad!.dtype, 'float32', 'leaf gradient has the leaf dtype');
  assertClose(t, x.grad!, [0.5, 0.25], 'values');
  t.end();
});
