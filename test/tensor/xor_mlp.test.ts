import test from 'tape';
import { tensor, randn, Generator, noGrad, Tensor } from '../../lib/index.js';

test('micrograd-style: a tiny MLP learns XOR by plain gradient descent', (t) => {
  const g = new Generator(1234);
  // 2 -> 8 (tanh) -> 1 (sigmoid), initialised with variance 1/fan_in.
  const w1 = randn([2, 8], { generator: g }).mul(Math.SQRT1_2).requiresGrad_();
  const b1 = randn([8], { generator: g }).mul(0.1).requiresGrad_();
  const w2 = randn([8, 1], { generator: g }).mul(1 / Math.sqrt(8)).requiresGrad_();
  const b2 = randn([1], { generator: g }).mul(0.1).requiresGrad_();
  const params = [w1, b1, w2, b2];
  const x = tensor([[0, 0], [0, 1], [1, 0], [1, 1]]);
  const y = tensor([[0], [1], [1], [0]]);
  const forward = (): Tensor => x.matmul(w1).add(b1).tanh().matmul(w2).add(b2).sigmoid();

  let first = NaN;
  let last = NaN;
  for (let step = 0; step < 500; step++) {
    const p = forward();
    // Binary cross-entropy, written out: -(y log p + (1 - y) log(1 - p)).
    const loss = y.mul(p.log()).add(y.neg().add(1).mul(p.neg().add(1).log())).neg().mean();
    for (const q of params) q.grad = null;
    loss.backward();
    noGrad(() => {
      for (const q of params) for (let i = 0; i < q.size; i++) q.data[i] -= 0.5 * q.grad!.data[i]!;
    });
    if (step === 0) first = loss.item();
    last = loss.item();
  }
  const predictions = Array.from(noGrad(forward).data).map((p) => (p > 0.5 ? 1 : 0));
  t.deepEqual(predictions, [0, 1, 1, 0], `100% accuracy on XOR (loss ${first.toFixed(3)} -> ${last.toFixed(4)})`);
  t.ok(last < 0.1 * first, 'the loss fell by more than 10x');
  t.end();
});
