/**
 * Parity with PyTorch (torch 1.13): forward values and gradients of the fixture's cases,
 * produced by tools/oracle/gen_tensor_ops.py. Each expression here mirrors the Python one.
 */
import test from 'tape';
import { readFileSync } from 'node:fs';
import { Tensor, tensor, concat, stack, pad, where, maximum, minimum, type DType } from '../../lib/index.js';
import { assertClose } from '../helpers.js';

interface Case {
  name: string;
  inputs: { shape: number[]; data: number[] }[];
  output: { shape: number[]; data: number[] };
  weight: number[];
  grads: number[][];
}

const fixture = JSON.parse(readFileSync(new URL('../fixtures/tensor_ops.json', import.meta.url), 'utf8')) as { cases: Case[] };
const i32 = (v: number[][] | number[]) => tensor(v, { dtype: 'int32' });

const EXPRESSIONS: Record<string, (...x: Tensor[]) => Tensor> = {
  add_broadcast: (a, b) => a.add(b),
  sub_broadcast_col: (a, b) => a.sub(b),
  mul_3d: (a, b) => a.mul(b),
  div: (a, b) => a.div(b.abs().add(0.5)),
  pow_tensor: (a, b) => a.abs().add(0.1).pow(b),
  pow_scalar: (a) => a.pow(3),
  exp_log_sqrt: (a) => a.exp().add(1).log().add(a.abs().add(1).sqrt()),
  sigmoid_tanh_relu: (a) => a.sigmoid().mul(a.tanh()).add(a.relu()),
  clamp: (a) => a.clamp(-0.5, 0.7),
  maximum_minimum: (a, b) => maximum(a, b).sub(minimum(a, b).mul(2)),
  where: (a, b) => where(a.gt(0), a.mul(2), b),
  sum_dims: (a) => a.sum([0, 2], true),
  mean_dim: (a) => a.mean(1),
  max_dim: (a) => a.max(1).values,
  min_dim_keepdim: (a) => a.min(0, true).values,
  max_all: (a) => a.max().reshape(1),
  softmax: (a) => a.mul(3).softmax(1),
  log_softmax: (a) => a.mul(3).logSoftmax(0),
  logsumexp: (a) => a.mul(5).logsumexp(1),
  matmul_2d: (a, b) => a.matmul(b),
  matmul_batched_broadcast: (a, b) => a.matmul(b),
  matmul_vec: (a, b) => a.matmul(b),
  permute: (a) => a.permute(2, 0, 1),
  transpose_reshape: (a) => a.transpose(0, 2).reshape(4, 6),
  expand: (a) => a.expand(2, 3, 4),
  slice_step: (a) => a.slice(1, 1, undefined, 2),
  narrow: (a) => a.narrow(0, 1, 3),
  cat: (a, b) => concat([a, b, a], 1),
  stack: (a, b) => stack([a, b], 1),
  pad: (a) => pad(a, [1, 2, 0, 1], 0.5),
  index_select: (a) => a.indexSelect(0, [3, 0, 3]),
  gather: (a) => a.gather(1, i32([[0, 3], [2, 2], [1, 0]])),
  scatter_add: (a, b) => a.scatterAdd(0, i32([[2, 0, 1, 2], [0, 0, 2, 1]]), b),
  masked_select: (a) => a.maskedSelect(a.gt(0.2)),
  sort_desc: (a) => a.sort(1, true).values,
  topk: (a) => a.topk(2, 0).values,
  mlp_layer: (x, w, b) => x.matmul(w).add(b).relu().logSoftmax(1),
};

for (const [dtype, tol] of [['float64', 1e-10], ['float32', 2e-5]] as [DType, number][]) {
  test(`PyTorch parity (${dtype}): forward and gradients of ${fixture.cases.length} cases`, (t) => {
    for (const c of fixture.cases) {
      const fn = EXPRESSIONS[c.name];
      if (fn === undefined) {
        t.fail(`no expression for fixture case ${c.name}`);
        continue;
      }
      const inputs = c.inputs.map((x) => tensor(x.data, { shape: x.shape, dtype, requiresGrad: true }));
      let out: Tensor;
      try {
        out = fn(...inputs);
        out.mul(tensor(c.weight, { shape: c.output.shape, dtype })).sum().backward();
      } catch (error) {
        t.fail(`${c.name}: threw ${(error as Error).message}`);
        continue;
      }
      t.deepEqual(out.shape, c.output.shape, `${c.name}: shape`);
      assertClose(t, out, Float64Array.from(c.output.data), `${c.name}: forward`, tol, tol);
      inputs.forEach((x, k) => assertClose(t, x.grad ?? [], Float64Array.from(c.grads[k]!), `${c.name}: gradient of input ${k}`, tol, tol));
    }
    t.end();
  });
}
