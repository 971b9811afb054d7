import test from 'tape';
import { zeros, Generator } from '../../lib/index.js';
import { init } from '../../lib/nn/index.js';
import { assertThrowsMessage } from '../helpers.js';

function moments(data: ArrayLike<number>): { mean: number; std: number; maxAbs: number } {
  let s = 0;
  let s2 = 0;
  let maxAbs = 0;
  for (let i = 0; i < data.length; i++) {
    s += data[i]!;
    s2 += data[i]! * data[i]!;
    maxAbs = Math.max(maxAbs, Math.abs(data[i]!));
  }
  const mean = s / data.length;
  return { mean, std: Math.sqrt(s2 / data.length - mean * mean), maxAbs };
}

test('init: fans and gains as torch.nn.init', (t) => {
  t.deepEqual(init.calculateFanInAndFanOut(zeros([64, 3, 7, 7])), [147, 3136], 'conv weight [out, in, kh, kw]');
  t.deepEqual(init.calculateFanInAndFanOut(zeros([10, 20])), [20, 10], 'linear weight [out, in]');
  assertThrowsMessage(t, () => init.calculateFanInAndFanOut(zeros([5])), 'fewer than 2 dimensions', '1-D has no fan');
  t.equal(init.calculateGain('relu'), Math.SQRT2, 'relu gain');
  t.equal(init.calculateGain('tanh'), 5 / 3, 'tanh gain');
  t.ok(Math.abs(init.calculateGain('leaky_relu', Math.sqrt(5)) - Math.sqrt(1 / 3)) < 1e-15, 'leaky_relu(sqrt 5) gain = sqrt(1/3)');
  t.end();
});

test('init: distributions (kaiming normal fan_out relu, kaiming uniform, normal, uniform, constants), seeded', (t) => {
  const g = new Generator(11);
  const w = init.kaimingNormal(zeros([64, 32, 3, 3]), { mode: 'fanOut', nonlinearity: 'relu', generator: g });
  const m = moments(w.data);
  const want = Math.sqrt(2 / (64 * 9));
  t.ok(Math.abs(m.std / want - 1) < 0.03 && Math.abs(m.mean) < 0.003, `kaimingNormal fan_out std ${m.std.toFixed(5)} ~ ${want.toFixed(5)}`);
  const u = init.kaimingUniform(zeros([100, 50]), { generator: g });
  const bound = Math.sqrt(2) * Math.sqrt(3 / 50);
  const mu = moments(u.data);
  t.ok(mu.maxAbs <= bound && mu.maxAbs > 0.98 * bound, 'kaimingUniform (a=0) spans [-sqrt(6/fan_in), sqrt(6/fan_in)]');
  const n = moments(init.normal(zeros([20000]), 3, 0.5, { generator: g }).data);
  t.ok(Math.abs(n.mean - 3) < 0.02 && Math.abs(n.std - 0.5) < 0.02, 'normal(3, 0.5)');
  const un = moments(init.uniform(zeros([20000]), -2, 4, { generator: g }).data);
  t.ok(Math.abs(un.mean - 1) < 0.05 && Math.abs(un.std - Math.sqrt(3)) < 0.03, 'uniform(-2, 4)');
  t.deepEqual(Array.from(init.constant(zeros([3]), 2.5).data), [2.5, 2.5, 2.5], 'constant');
  t.deepEqual(Array.from(init.ones(zeros([2])).data), [1, 1], 'ones');
  t.deepEqual(Array.from(init.zeros(init.ones(zeros([2]))).data), [0, 0], 'zeros');
  const a = init.kaimingNormal(zeros([8, 8]), { generator: new Generator(5) });
  const b = init.kaimingNormal(zeros([8, 8]), { generator: new Generator(5) });
  t.deepEqual(Array.from(a.data), Array.from(b.data), 'same seed, same weights');
  t.end();
});
