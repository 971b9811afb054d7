import test from 'tape';
import {
  tensor,
  zeros,
  where,
  add,
  sub,
  maximum,
  minimum,
  randn,
  rand,
  manualSeed,
  Tensor,
} from '../../lib/index.js';
import { assertClose, assertGradcheck, assertThrowsMessage } from '../helpers.js';

const r = (shape: number[], seed: number): Tensor => {
  manualSeed(seed);
  return randn(shape, { requiresGrad: true });
};

test('binary ops: values by hand, with broadcasting', (t) => {
  const a = tensor([[1, 2, 3], [4, 5, 6]]);
  const row = tensor([10, 20, 30]);
  const col = tensor([[1], [2]]);
  assertClose(t, a.add(row), [[11, 22, 33], [14, 25, 36]], 'add a row [3] to [2,3]');
  assertClose(t, a.sub(col), [[0, 1, 2], [2, 3, 4]], 'subtract a column [2,1]');
  assertClose(t, a.mul(2), [[2, 4, 6], [8, 10, 12]], 'multiply by a scalar');
  assertClose(t, tensor(1).div(a), [[1, 0.5, 1 / 3], [0.25, 0.2, 1 / 6]], 'scalar tensor over a matrix');
  assertClose(t, col.add(row), [[11, 21, 31], [12, 22, 32]], '[2,1] + [3] broadcasts to [2,3]');
  assertClose(t, a.pow(2), [[1, 4, 9], [16, 25, 36]], 'pow with a scalar exponent');
  assertClose(t, tensor([2, 3]).pow(tensor([3, 0.5])), [8, Math.sqrt(3)], 'pow with a tensor exponent');
  assertClose(t, sub(10, a), [[9, 8, 7], [6, 5, 4]], 'a number on the left');
  assertClose(t, maximum(a, tensor([3])), [[3, 3, 3], [4, 5, 6]], 'maximum');
  assertClose(t, minimum(a, col.mul(3)), [[1, 2, 3], [4, 5, 6]], 'minimum');
  t.end();
});

test('broadcasting edge cases: size-1 dims, scalars, zero-size dims, errors', (t) => {
  const x = zeros([0, 3]);
  t.deepEqual(x.add(tensor([1, 2, 3])).shape, [0, 3], '[0,3] + [3] -> [0,3]');
  t.deepEqual(x.add(zeros([1, 1])).shape, [0, 3], '[0,3] + [1,1] -> [0,3]');
  t.deepEqual(zeros([2, 1, 4]).mul(zeros([3, 1])).shape, [2, 3, 4], '[2,1,4] * [3,1] -> [2,3,4]');
  t.deepEqual(tensor(2).add(tensor(3)).shape, [], 'scalar + scalar is a scalar');
  assertClose(t, tensor([[[1]], [[2]]]).add(tensor([[10, 20]])), [[[11, 21]], [[12, 22]]], '[2,1,1] + [1,2]');
  assertThrowsMessage(t, () => add(zeros([2, 3]), zeros([4])), 'add: shapes [2,3] and [4] cannot broadcast', 'the issue\'s example error');
  assertThrowsMessage(t, () => zeros([0, 3]).mul(zeros([2, 3])), 'mul: shapes [0,3] and [2,3]', 'a 0-size dim only broadcasts against 0 or 1');
  const a = tensor([1, 2, 3], { requiresGrad: true });
  const s = tensor(5, { requiresGrad: true });
  a.mul(s).sum().backward();
  assertClose(t, s.grad!, 6, 'a broadcast scalar collects the sum of its gradient');
  t.end();
});

test('unary ops: values by hand', (t) => {
  const x = tensor([-2, -0.5, 0, 0.5, 2]);
  assertClose(t, x.neg(), [2, 0.5, -0, -0.5, -2], 'neg');
  assertClose(t, x.abs(), [2, 0.5, 0, 0.5, 2], 'abs');
  assertClose(t, x.relu(), [0, 0, 0, 0.5, 2], 'relu');
  assertClose(t, x.exp(), [-2, -0.5, 0, 0.5, 2].map(Math.exp), 'exp');
  assertClose(t, x.sigmoid(), [-2, -0.5, 0, 0.5, 2].map((v) => 1 / (1 + Math.exp(-v))), 'sigmoid');
  assertClose(t, x.tanh(), [-2, -0.5, 0, 0.5, 2].map(Math.tanh), 'tanh');
  assertClose(t, x.clamp(-1, 1), [-1, -0.5, 0, 0.5, 1], 'clamp both');
  assertClose(t, x.clamp(undefined, 0), [-2, -0.5, 0, 0, 0], 'clamp max only');
  assertClose(t, tensor([1, 4, 9]).sqrt(), [1, 2, 3], 'sqrt');
  assertClose(t, tensor([1, Math.E]).log(), [0, 1], 'log');
  assertClose(t, tensor([-1000, 1000]).sigmoid(), [0, 1], 'sigmoid does not overflow');
  assertClose(t, tensor([0, -1]).log(), [-Infinity, NaN], 'log(0) = -inf, log(-1) = NaN');
  assertThrowsMessage(t, () => x.clamp(), 'at least one', 'clamp needs a bound');
  assertThrowsMessage(t, () => x.clamp(1, 0), 'min 1 is greater than max 0', 'clamp bounds are checked');
  t.end();
});

test('comparisons and where', (t) => {
  const a = tensor([1, 2, 3]);
  const b = tensor([3, 2, 1]);
  for (const [name, got, want] of [
    ['eq', a.eq(b), [0, 1, 0]],
    ['ne', a.ne(b), [1, 0, 1]],
    ['lt', a.lt(b), [1, 0, 0]],
    ['le', a.le(b), [1, 1, 0]],
    ['gt', a.gt(b), [0, 0, 1]],
    ['ge', a.ge(b), [0, 1, 1]],
  ] as const) {
    t.deepEqual(Array.from(got.data), want, name);
    t.equal(got.dtype, 'int32', `${name} gives an int32 mask`);
  }
  t.deepEqual(Array.from(tensor([NaN]).eq(tensor([NaN])).data), [0], 'NaN != NaN');
  const x = tensor([[1, -2], [-3, 4]], { requiresGrad: true });
  t.notOk(x.gt(0).requiresGrad, 'comparisons carry no gradient');
  const y = where(x.gt(0), x, tensor([10]));
  assertClose(t, y, [[1, 10], [10, 4]], 'where picks from a, else from b (broadcast)');
  y.sum().backward();
  assertClose(t, x.grad!, [[1, 0], [0, 1]], 'where passes the gradient only where the condition holds');
  t.end();
});

test('dtype promotion', (t) => {
  const i = tensor([1, 2, 3], { dtype: 'int32' });
  t.equal(i.add(i).dtype, 'int32', 'int + int = int');
  t.equal(i.add(1).dtype, 'int32', 'int + integer number = int');
  t.equal(i.add(0.5).dtype, 'float32', 'int + fractional number = float32');
  t.equal(i.div(i).dtype, 'float32', 'int / int is true division (float32)');
  assertClose(t, i.div(2), [0.5, 1, 1.5], 'true division values');
  t.equal(i.exp().dtype, 'float32', 'exp of int is float32');
  t.equal(i.mul(tensor([1.5])).dtype, 'float32', 'int * float32 = float32');
  t.equal(tensor([1]).add(tensor([1], { dtype: 'float64' })).dtype, 'float64', 'float32 + float64 = float64');
  t.deepEqual(Array.from(tensor([1.7, -1.7]).int().data), [1, -1], 'int() truncates toward zero');
  t.end();
});

test('gradients of every elementwise op pass gradcheck', (t) => {
  const a = r([2, 3], 1);
  const b = r([3], 2);
  const pos = rand([2, 3]).add(0.5).requiresGrad_();
  const posB = rand([3]).add(0.5).requiresGrad_();
  assertGradcheck(t, (x, y) => x.add(y), [a, b], 'add (broadcast)');
  assertGradcheck(t, (x, y) => x.sub(y), [a, b], 'sub (broadcast)');
  assertGradcheck(t, (x, y) => x.mul(y), [a, b], 'mul (broadcast)');
  assertGradcheck(t, (x, y) => x.div(y), [a, posB], 'div (broadcast)');
  assertGradcheck(t, (x, y) => x.pow(y), [pos, b], 'pow, both arguments');
  assertGradcheck(t, (x) => x.pow(3), [a], 'pow with a number');
  assertGradcheck(t, (x) => x.neg(), [a], 'neg');
  assertGradcheck(t, (x) => x.exp(), [a], 'exp');
  assertGradcheck(t, (x) => x.log(), [pos], 'log');
  assertGradcheck(t, (x) => x.sqrt(), [pos], 'sqrt');
  assertGradcheck(t, (x) => x.abs(), [a], 'abs');
  assertGradcheck(t, (x) => x.relu(), [a], 'relu');
  assertGradcheck(t, (x) => x.sigmoid(), [a], 'sigmoid');
  assertGradcheck(t, (x) => x.tanh(), [a], 'tanh');
  assertGradcheck(t, (x) => x.clamp(-0.5, 0.5), [a], 'clamp');
  assertGradcheck(t, (x, y) => maximum(x, y), [a, b], 'maximum');
  assertGradcheck(t, (x, y) => minimum(x, y), [a, b], 'minimum');
  assertGradcheck(t, (x, y) => where(x.gt(0), x, y), [a, b], 'where');
  assertGradcheck(t, (x) => x.clone().mul(x), [a], 'clone');
  assertGradcheck(t, (x) => x.to('float32').to('float64').mul(2), [a], 'cast between float dtypes (float32 rounding inside: larger eps)', { eps: 1e-2, atol: 1e-3 });
  t.end();
});

test('relu on float32 bits: negatives, -0 and -Infinity become +0, NaN stays NaN, the rest unchanged', (t) => {
  const values = [0, -0, 1, -1, Infinity, -Infinity, NaN, 1e-45, -1e-45, 3.4e38, -3.4e38, 0.5];
  const y = tensor(values).relu();
  t.equal(y.dtype, 'float32', 'float32');
  const want = values.map((v) => Math.fround(v > 0 ? v : v !== v ? v : 0));
  t.ok(Array.from(y.data).every((v, i) => Object.is(v, want[i])), `${Array.from(y.data)} is ${want}`);
  const g = tensor(values.map((_, i) => (i % 2 === 0 ? 2 : -3)));
  const x = tensor(values, { requiresGrad: true });
  x.relu().backward(g);
  const wantGrad = values.map((v, i) => (v > 0 ? g.data[i]! : g.data[i]! * 0));
  t.ok(Array.from(x.grad!.data).every((v, i) => Object.is(v, wantGrad[i])), 'backward: g * (x > 0), signed zeros included');
  t.end();
});

test('gradient conventions at kinks match PyTorch', (t) => {
  const x = tensor([0, 1, -1], { requiresGrad: true });
  x.relu().sum().backward();
  assertClose(t, x.grad!, [0, 1, 0], 'relu has gradient 0 at 0');
  x.grad = null;
  x.abs().sum().backward();
  assertClose(t, x.grad!, [0, 1, -1], 'abs has gradient 0 at 0');
  x.grad = null;
  x.clamp(-1, 1).sum().backward();
  assertClose(t, x.grad!, [1, 1, 1], 'clamp passes the gradient at the bounds');
  x.grad = null;
  maximum(x, tensor([0, 0, 0])).sum().backward();
  assertClose(t, x.grad!, [0.5, 1, 0], 'maximum splits a tie evenly');
  const base = tensor([0, 2], { requiresGrad: true });
  const e = tensor([2, 0], { requiresGrad: true });
  base.pow(e).sum().backward();
  assertClose(t, base.grad!, [0, 0], 'd(x^e)/dx is 0 where e = 0 (no NaN from 0^-1)');
  assertClose(t, e.grad!, [0, Math.log(2)], 'd(x^e)/de is 0 at x = 0');
  t.end();
});
