// %% [markdown]
// # 1. Tensors and autograd
//
// Everything in Mask R-CNN is a function of tensors, and training needs the gradient of one
// number (the loss) with respect to millions of weights. This chapter builds a small graph,
// walks it backward by hand, checks that `backward()` gets the same numbers, verifies gradients
// numerically with {@link gradcheck}, draws the recorded graph, and trains a tiny network.
//
// The engine lives in `lib/tensor`: {@link Tensor}, the ops, and {@link defineOp}, the one way an
// op joins autograd.

// %%
import { tensor, gradcheck, defineOp, noGrad, randn, Generator, Tensor } from '../lib/index.js';
import { showSvg, showPng, check, fixed } from '../tools/notebooks/display.js';
import { graphSvg } from '../tools/notebooks/plot.js';
import { lineChartSvg, divergingHeatmap } from '../lib/index.js';

// %% [markdown]
// ## A small graph
//
// One neuron: `y = tanh(w . x + b)`, and a loss `L = y^2`. Leaves are created with
// `requiresGrad`; every op applied to them records a node (`gradFn`) pointing at its inputs.

// %%
const x = tensor([0.5, -1.0, 2.0], { requiresGrad: true });
const w = tensor([1.5, 0.25, -0.75], { requiresGrad: true });
const b = tensor(0.2, { requiresGrad: true });
const z = x.mul(w); // elementwise products
const s = z.sum(); // w . x
const h = s.add(b);
const y = h.tanh();
const L = y.mul(y);
for (const t of [z, s, h, y]) t.retainGrad(); // keep the intermediate gradients to compare
console.log(`s = ${s.item()}, h = ${h.item()}, y = ${y.item()}, L = ${L.item()}`);
console.log('L was made by', String(L.gradFn), 'from', L.gradFn!.inputs.map((t) => String(t?.gradFn)));

// %% [markdown]
// ## The picture of the graph
//
// Drawn from the `gradFn` links alone (leaves in blue, op outputs in yellow). `y` is used twice
// by `L = y * y`: two arrows, and backward will add the two contributions.

// %%
const names = new Map<Tensor, string>([[x, 'x'], [w, 'w'], [b, 'b'], [z, 'z = x * w'], [s, 's = sum(z)'], [h, 'h = s + b'], [y, 'y = tanh(h)'], [L, 'L = y * y']]);
showSvg(graphSvg(L, names), 'The autograd graph of L = tanh(w . x + b)^2, from gradFn links');

// %% [markdown]
// ## Backward by hand
//
// The chain rule, from the loss back to the leaves:
// `dL/dy = 2y`, `dy/dh = 1 - tanh(h)^2`, `dh/ds = 1`, `dh/db = 1`, `ds/dz_i = 1`,
// `dz_i/dw_i = x_i`, `dz_i/dx_i = w_i`.

// %%
const yv = y.item();
const dLdy = 2 * yv;
const dLdh = dLdy * (1 - yv * yv);
const dLdb = dLdh;
const dLdw = Array.from(x.data, (xi) => dLdh * xi);
const dLdx = Array.from(w.data, (wi) => dLdh * wi);
console.log(`by hand: dL/dy = ${dLdy}, dL/dh = ${dLdh}, dL/db = ${dLdb}`);
console.log(`by hand: dL/dw = [${dLdw.join(', ')}]`);
console.log(`by hand: dL/dx = [${dLdx.join(', ')}]`);

// %% [markdown]
// ## The same with `backward()`
//
// `L.backward()` sorts the graph topologically and runs each node's backward once.

// %%
L.backward();
console.log(`backward: dL/dy = ${y.grad!.item()}, dL/dh = ${h.grad!.item()}, dL/db = ${b.grad!.item()}`);
console.log(`backward: w.grad = ${w.grad}`);
console.log(`backward: x.grad = ${x.grad}`);
const agreement = Math.max(...[...dLdw.map((v, i) => v - w.grad!.data[i]!), ...dLdx.map((v, i) => v - x.grad!.data[i]!), dLdb - b.grad!.item()].map(Math.abs));
console.log(`largest difference between hand and backward(): ${agreement.toExponential(2)} (float32 rounding)`);
check('hand vs backward', agreement, 0, 1e-6);

// %% [markdown]
// ## gradcheck: gradients against finite differences
//
// {@link gradcheck} compares the analytic Jacobian from backward with central differences
// `(f(x + eps) - f(x - eps)) / 2 eps`, in float64. Here on our neuron, then on a new op made
// with {@link defineOp} (softplus, `log(1 + e^x)`, whose derivative is the sigmoid), and on the
// same op with a deliberate mistake in its backward.

// %%
const neuron = (xx: Tensor, ww: Tensor, bb: Tensor) => xx.mul(ww).sum().add(bb).tanh().pow(2);
const g = new Generator(0);
const r1 = gradcheck(neuron, [randn([3], { generator: g, requiresGrad: true }), randn([3], { generator: g, requiresGrad: true }), randn([], { generator: g, requiresGrad: true })]);
console.log('neuron:', r1.ok, `max error ${r1.maxError.toExponential(2)}`);

const softplus = defineOp({
  name: 'softplus',
  forward: (_ctx, a: Tensor) => a.exp().add(1).log(),
  backward: (grad, { args: [a] }) => [grad.mul(a.sigmoid())],
});
const wrongSoftplus = defineOp({
  name: 'wrongSoftplus',
  forward: (_ctx, a: Tensor) => a.exp().add(1).log(),
  backward: (grad, { args: [a] }) => [grad.mul(a.exp())], // wrong: e^x is not the derivative
});
const input = randn([2, 3], { generator: g, requiresGrad: true });
const r2 = gradcheck(softplus, [input]);
const r3 = gradcheck(wrongSoftplus, [input]);
console.log('softplus:', r2.ok, `max error ${r2.maxError.toExponential(2)}`);
console.log('wrongSoftplus:', r3.ok, '-', r3.message);
check('gradcheck verdicts', [Number(r1.ok), Number(r2.ok), Number(r3.ok)], [1, 1, 0], 0);

// %% [markdown]
// ## A tiny MLP learns XOR
//
// Two inputs, 8 tanh units, one sigmoid output, binary cross-entropy written out, and plain
// gradient descent: `p <- p - lr * p.grad`, inside {@link noGrad} so that the update itself is
// not recorded.

// %%
const gen = new Generator(1234);
const w1 = randn([2, 8], { generator: gen }).mul(Math.SQRT1_2).requiresGrad_();
const b1 = randn([8], { generator: gen }).mul(0.1).requiresGrad_();
const w2 = randn([8, 1], { generator: gen }).mul(1 / Math.sqrt(8)).requiresGrad_();
const b2 = randn([1], { generator: gen }).mul(0.1).requiresGrad_();
const params = [w1, b1, w2, b2];
const inputs = tensor([[0, 0], [0, 1], [1, 0], [1, 1]]);
const targets = tensor([[0], [1], [1], [0]]);
const mlp = (a: Tensor): Tensor => a.matmul(w1).add(b1).tanh().matmul(w2).add(b2).sigmoid();
const losses: Array<[number, number]> = [];
for (let step = 0; step < 500; step++) {
  const p = mlp(inputs);
  const loss = targets.mul(p.log()).add(targets.neg().add(1).mul(p.neg().add(1).log())).neg().mean();
  for (const q of params) q.grad = null;
  loss.backward();
  noGrad(() => {
    for (const q of params) for (let i = 0; i < q.size; i++) q.data[i] -= 0.5 * q.grad!.data[i]!;
  });
  losses.push([step, loss.item()]);
  if (step % 100 === 0 || step === 499) console.log(`step ${step}: loss ${fixed(loss.item())}`);
}
const predictions = noGrad(() => mlp(inputs));
console.log(`predictions ${predictions}`);
check('XOR learned', Array.from(predictions.data, (v) => (v > 0.5 ? 1 : 0)), [0, 1, 1, 0], 0);
showSvg(lineChartSvg([{ name: 'BCE loss', points: losses, color: '#d62728' }], { title: 'Training loss of the XOR MLP', xLabel: 'step', yLabel: 'loss' }), 'The loss falls as gradient descent follows backward()');

// %% [markdown]
// What the network learned over the whole square `[0, 1]^2`: the probability it gives to
// class 1 (red above 0.5, blue below), one cell per grid point.

// %%
const n = 21;
const grid = tensor(Array.from({ length: n * n }, (_, k) => [(k % n) / (n - 1), Math.floor(k / n) / (n - 1)]));
const prob = noGrad(() => mlp(grid));
const rows = Array.from({ length: n }, (_, i) => Array.from({ length: n }, (_, j) => prob.data[i * n + j]! - 0.5));
showPng(divergingHeatmap(rows, 12).toPng(), 'Decision surface of the XOR MLP on [0,1]^2 (x to the right, y down): red = class 1');
