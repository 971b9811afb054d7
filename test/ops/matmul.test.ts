import test from 'tape';
import { tensor, randn, Generator, getMatmulHook, referenceMatmul } from '../../lib/index.js';
import { mm, linear, withBackend } from '../../lib/ops/index.js';
import { assertClose, assertGradcheck, assertThrowsMessage } from '../helpers.js';
import { assertBackendsAgree, backendsUnderTest } from './helpers.js';

test('mm and linear: values by hand', (t) => {
  assertClose(t, mm(tensor([[1, 2], [3, 4]]), tensor([[5], [6]])), [[17], [39]], 'mm');
  const y = linear(tensor([[1, 2]]), tensor([[1, 0], [0, 1], [1, 1]]), tensor([0.5, 0, -1]));
  assertClose(t, y, [[1.5, 2, 2]], 'linear: x W^T + b with W stored [out, in]');
  t.end();
});

test('mm and linear: gradcheck and backends agree', (t) => {
  const g = new Generator(11);
  const x = randn([4, 5], { generator: g, requiresGrad: true });
  const w = randn([3, 5], { generator: g, requiresGrad: true });
  const b = randn([3], { generator: g, requiresGrad: true });
  assertGradcheck(t, (a, c) => mm(a, c.transpose(0, 1)), [x, w], 'mm gradcheck');
  assertGradcheck(t, (a, c, d) => linear(a, c, d), [x, w, b], 'linear gradcheck');
  assertBackendsAgree(t, 'linear', () => {
    const [xi, wi, bi] = [x, w, b].map((v) => v.detach().requiresGrad_());
    const y = linear(xi!, wi!, bi!);
    y.mul(y).sum().backward();
    return { output: y, gradInput: xi!.grad!, gradWeight: wi!.grad!, gradBias: bi!.grad! };
  });
  t.end();
});

test('mm and linear: bad shapes', (t) => {
  assertThrowsMessage(t, () => mm(randn([2, 3]), randn([2, 3])), 'mm: shapes [2,3] and [2,3] cannot be multiplied', 'mm');
  assertThrowsMessage(t, () => linear(randn([2, 3]), randn([4, 2])), 'linear: input [2,3] does not match weight [4,2]', 'linear');
  assertThrowsMessage(t, () => linear(randn([2, 3]), randn([4, 3]), randn([3])), 'bias has shape [3]', 'bias');
  t.deepEqual(mm(randn([0, 3]), randn([3, 2])).shape, [0, 2], 'empty rows');
  t.end();
});

test('Tensor.matmul and mm: one kernel (lib/ops sets lib/tensor\'s matmul hook), the same bits on every backend', (t) => {
  t.notEqual(getMatmulHook(), referenceMatmul, 'with lib/ops loaded, Tensor.matmul runs the hook lib/ops set');
  const g = new Generator(5);
  const a = randn([37, 70], { generator: g });
  const b = randn([70, 29], { generator: g });
  for (const backend of backendsUnderTest(t)) {
    withBackend(backend, () => {
      const viaTensor = a.matmul(b);
      const viaOps = mm(a, b);
      assertClose(t, [...viaTensor.data], [...viaOps.data], `${backend}: a.matmul(b) has the bits of mm(a, b)`, 0, 0);
      const batched = a.reshape(1, 37, 70).expand(2, 37, 70).matmul(b);
      assertClose(t, [...batched.data], [...viaOps.data, ...viaOps.data], `${backend}: each matrix of a batch too`, 0, 0);
    });
  }
  t.end();
});
