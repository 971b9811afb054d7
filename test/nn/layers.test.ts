import test from 'tape';
import { tensor, randn, Generator, arange, noGrad, type Tensor } from '../../lib/index.js';
import {
  Linear,
  Conv2d,
  ConvTranspose2d,
  BatchNorm2d,
  FrozenBatchNorm2d,
  ReLU,
  MaxPool2d,
  AdaptiveAvgPool2d,
  Flatten,
  Identity,
  Sequential,
  chainFusingRelu,
} from '../../lib/nn/index.js';
import { assertClose, assertGradcheck, assertThrowsMessage } from '../helpers.js';

test('Linear: y = x W^T + b on [N, in] and [..., in]; default init bounds 1/sqrt(in)', (t) => {
  const fc = new Linear(3, 2, { generator: new Generator(1) });
  fc.weight.data.set([1, 2, 3, -1, 0, 1]);
  fc.bias!.data.set([0.5, -0.5]);
  assertClose(t, fc.forward(tensor([[1, 1, 1], [0, 1, 2]])), [[6.5, -0.5], [8.5, 1.5]], '2-D input');
  t.deepEqual(fc.forward(randn([4, 5, 3])).shape, [4, 5, 2], '3-D input keeps the leading dimensions');
  t.deepEqual(fc.forward(tensor([1, 1, 1])).shape, [2], '1-D input');
  assertThrowsMessage(t, () => fc.forward(randn([2, 4])), 'does not end in 3 features', 'wrong feature count');
  const big = new Linear(400, 300, { generator: new Generator(2) });
  const bound = 1 / 20;
  t.ok(big.weight.data.every((v) => Math.abs(v) <= bound), 'weights within 1/sqrt(fan_in) (kaiming-uniform a=sqrt(5))');
  const std = Math.sqrt(Array.from(big.weight.data).reduce((s, v) => s + v * v, 0) / big.weight.size);
  t.ok(Math.abs(std - bound / Math.sqrt(3)) < 0.002, `weight std ${std.toFixed(5)} ~ bound/sqrt(3)`);
  t.ok(big.bias!.data.every((v) => Math.abs(v) <= bound), 'bias within 1/sqrt(fan_in)');
  const same = new Linear(400, 300, { generator: new Generator(2) });
  t.deepEqual(Array.from(same.weight.data.slice(0, 5)), Array.from(big.weight.data.slice(0, 5)), 'seeded: same generator seed, same weights');
  t.equal(new Linear(2, 2, { bias: false }).bias, null, 'bias: false');
  t.end();
});

test('Conv2d / ConvTranspose2d / MaxPool2d: torchvision weight layouts, output sizes, values', (t) => {
  const conv = new Conv2d(4, 6, 3, { stride: 2, padding: 1, groups: 2, generator: new Generator(3) });
  t.deepEqual(conv.weight.shape, [6, 2, 3, 3], 'conv weight [out, in/groups, kh, kw]');
  const x = randn([1, 4, 9, 7], { generator: new Generator(4) });
  t.deepEqual(conv.forward(x).shape, [1, 6, 5, 4], 'conv output shape');
  t.deepEqual(conv.outputSize([9, 7]), [5, 4], 'outputSize agrees');
  t.ok(conv.weight.data.every((v) => Math.abs(v) <= 1 / Math.sqrt(18)), 'conv init bound 1/sqrt(in/groups*k*k)');
  // A 1x1 conv is a per-pixel linear map.
  const one = new Conv2d(2, 1, 1);
  one.weight.data.set([2, -1]);
  one.bias!.data.set([0.5]);
  assertClose(t, one.forward(tensor([[[[1, 2]], [[3, 4]]]])), [[[[-0.5, 0.5]]]], '1x1 conv by hand');

  const deconv = new ConvTranspose2d(4, 6, 2, { stride: 2, groups: 2, generator: new Generator(5) });
  t.deepEqual(deconv.weight.shape, [4, 3, 2, 2], 'deconv weight [in, out/groups, kh, kw]');
  t.deepEqual(deconv.forward(randn([2, 4, 14, 14])).shape, [2, 6, 28, 28], '14 -> 28 (the mask head deconv)');
  t.ok(deconv.weight.data.every((v) => Math.abs(v) <= 1 / Math.sqrt(3 * 4)), 'deconv init: PyTorch fan_in = weight.size(1) * k * k');

  const pool = new MaxPool2d(3, { stride: 2, padding: 1 });
  t.deepEqual(pool.forward(randn([1, 1, 8, 8])).shape, [1, 1, 4, 4], 'ResNet stem pool halves');
  t.deepEqual(pool.outputSize([8, 8]), [4, 4], 'pool outputSize');
  assertClose(t, new MaxPool2d(2).forward(arange(0, 16).float().reshape(1, 1, 4, 4)), [[[[5, 7], [13, 15]]]], 'maxpool 2x2 by hand');
  assertClose(t, new MaxPool2d(1, { stride: 2 }).forward(arange(0, 16).float().reshape(1, 1, 4, 4)), [[[[0, 2], [8, 10]]]], 'kernel 1 stride 2 subsamples (LastLevelMaxPool)');
  assertThrowsMessage(t, () => new Conv2d(3, 4, 0), 'Conv2d: kernelSize must be an integer >= 1', 'bad kernel size');
  assertThrowsMessage(t, () => new Conv2d(3, 4, 3, { groups: 2 }), 'groups 2 must divide inChannels 3', 'bad groups');
  t.end();
});

test('BatchNorm2d: training statistics, momentum 0.1, unbiased running var, eval mode (values from torch 1.13)', (t) => {
  const bn = new BatchNorm2d(2);
  bn.weight!.data.set([1.5, -0.5]);
  bn.bias!.data.set([0.25, 1.0]);
  const x = tensor([[[[1, 2], [3, 5]], [[0, -1], [4, 2]]], [[[2, 2], [0, 1]], [[3, 3], [-2, 1]]]]).requiresGrad_();
  const y = bn.forward(x);
  assertClose(
    t,
    y.reshape(-1),
    [-0.8106575, 0.25, 1.3106575, 3.4319725, 1.31497, 1.566946, 0.30706608, 0.81101805, 0.25, 0.25, -1.871315, -0.8106575, 0.5590421, 0.5590421, 1.818922, 1.062994],
    'training output',
  );
  assertClose(t, bn.runningMean!, [0.2, 0.125], 'running mean after one batch');
  assertClose(t, bn.runningVar!, [1.1285714, 1.35], 'running var (unbiased) after one batch');
  t.equal(bn.numBatchesTracked!.item(), 1, 'num_batches_tracked');
  y.mul(arange(0, 16).float().reshape(2, 2, 2, 2)).sum().backward();
  assertClose(
    t,
    x.grad!.reshape(-1),
    [-7.1594315, -4.772959, -2.386486, 1.3258026, 1.385868, 1.133892, 0.881916, 0.62994, 2.651644, 3.7123013, 2.1213279, 4.507801, -0.62994, -0.881916, -1.133892, -1.385868],
    'input gradient',
    1e-4,
    1e-4,
  );
  assertClose(t, bn.weight!.grad!, [-14.142101, 0], 'weight gradient', 1e-4, 1e-4);
  assertClose(t, bn.bias!.grad!, [44, 76], 'bias gradient');
  bn.forward(x);
  assertClose(t, bn.runningMean!, [0.38, 0.2375], 'running mean after two batches');
  assertClose(t, bn.runningVar!, [1.2442856, 1.665], 'running var after two batches');
  bn.eval();
  assertClose(
    t,
    bn.forward(x).reshape(-1),
    [1.0837219, 2.4284344, 3.773147, 6.462572, 1.0920291, 1.47952, -0.45793474, 0.31704718, 2.4284344, 2.4284344, -0.2609908, 1.0837219, -0.07044378, -0.07044378, 1.867011, 0.7045381],
    'eval uses the running statistics',
  );
  t.equal(bn.numBatchesTracked!.item(), 2, 'eval does not count batches');
  const g = new Generator(9);
  const train = new BatchNorm2d(3);
  train.weight!.data.set([1.2, 0.7, -1]);
  assertGradcheck(t, (a) => train.forward(a).mul(a), [randn([2, 3, 2, 3], { generator: g, requiresGrad: true })], 'gradcheck through batch statistics');
  const affine = new BatchNorm2d(3);
  const w64 = randn([3], { generator: g, dtype: 'float64', requiresGrad: true });
  const b64 = randn([3], { generator: g, dtype: 'float64', requiresGrad: true });
  (affine as unknown as { weight: Tensor; bias: Tensor }).weight = w64;
  (affine as unknown as { weight: Tensor; bias: Tensor }).bias = b64;
  assertGradcheck(t, (a, wt, bs) => {
    (affine as unknown as { weight: Tensor; bias: Tensor }).weight = wt!;
    (affine as unknown as { weight: Tensor; bias: Tensor }).bias = bs!;
    return affine.forward(a!).mul(a!);
  }, [randn([3, 3, 2, 2], { generator: g, requiresGrad: true }), w64, b64], 'gradcheck of the input, weight and bias together');
  const evalBn = new BatchNorm2d(3);
  evalBn.runningMean!.data.set([0.5, -1, 2]);
  evalBn.runningVar!.data.set([4, 0.25, 1]);
  evalBn.weight!.data.set([2, 1, -1]);
  evalBn.bias!.data.set([0, 1, 0.5]);
  evalBn.eval();
  const xe = randn([2, 3, 2, 2], { generator: g });
  const fast = noGrad(() => evalBn.forward(xe));
  const slow = evalBn.forward(xe);
  assertClose(t, fast, slow.detach(), 'eval without gradients (the frozen per-channel affine) equals eval with gradients', 1e-6, 1e-6);
  slow.sum().backward();
  t.ok(evalBn.weight!.grad !== null && evalBn.bias!.grad !== null, 'eval with gradients still reaches the weight and bias');
  assertThrowsMessage(t, () => new BatchNorm2d(3).forward(randn([1, 3, 1, 1])), 'expected more than 1 value per channel', 'one value per channel');
  // An empty batch (a mask head with no RoIs): PyTorch passes it through the affine terms,
  // keeps the gradient chain and leaves the running statistics alone.
  const emptyBn = new BatchNorm2d(3);
  const empty = randn([0, 3, 14, 14], { requiresGrad: true });
  const emptyOut = emptyBn.forward(empty);
  t.deepEqual(emptyOut.shape, [0, 3, 14, 14], 'empty batch: empty output');
  emptyOut.sum().backward();
  t.deepEqual([Array.from(emptyBn.runningMean!.data), Array.from(emptyBn.runningVar!.data), emptyBn.numBatchesTracked!.data[0]], [[0, 0, 0], [1, 1, 1], 0], 'empty batch: running statistics untouched');
  t.deepEqual(Array.from(emptyBn.weight!.grad!.data), [0, 0, 0], 'empty batch: zero (not NaN) weight gradient');
  t.end();
});

test('FrozenBatchNorm2d, ReLU, AdaptiveAvgPool2d, Flatten, Identity', (t) => {
  const f = new FrozenBatchNorm2d(2);
  f.weight.data.set([2, 1]);
  f.bias.data.set([0, 10]);
  f.runningMean.data.set([1, 3]);
  f.runningVar.data.set([4 - 1e-5, 0.25 - 1e-5]);
  assertClose(t, f.forward(tensor([[[[1, 2]], [[3, 4]]]])), [[[[0, 1]], [[10, 12]]]], 'frozen BN by hand (eps 1e-5)');
  t.equal(f.parameters().length, 0, 'frozen BN has no parameters');
  const seq = new Sequential([new ReLU(), new AdaptiveAvgPool2d(1), new Flatten(), new Identity()]);
  assertClose(t, seq.forward(tensor([[[[-1, 3]], [[2, 4]]]])), [[1.5, 3]], 'relu -> global avg pool -> flatten');
  assertThrowsMessage(t, () => new AdaptiveAvgPool2d(7), 'only outputSize 1', 'adaptive pool other than 1x1');
  t.end();
});

test('BatchNorm2d.forwardRelu: the same bits as relu(forward) (values and the gradients of x, weight, bias), float32, training and eval', (t) => {
  for (const dtype of ['float32'] as const) {
    for (const training of [true, false]) {
      const gen = new Generator(21);
      const x0 = randn([2, 3, 4, 5], { generator: gen, dtype });
      const g = randn([2, 3, 4, 5], { generator: gen, dtype });
      const run = (fused: boolean): Tensor[] => {
        const bn = new BatchNorm2d(3);
        noGrad(() => {
          bn.weight!.data.set([0.5, -1.5, 2]);
          bn.bias!.data.set([0.1, 0.2, -0.3]);
          bn.runningMean!.data.set([0.1, -0.2, 0.3]);
          bn.runningVar!.data.set([1.5, 0.5, 2]);
        });
        bn.train(training);
        const x = x0.detach().requiresGrad_();
        const y = fused ? bn.forwardRelu(x) : bn.forward(x).relu();
        y.backward(g);
        return [y, x.grad!, bn.weight!.grad!, bn.bias!.grad!];
      };
      const fused = run(true);
      const plain = run(false);
      const names = ['output', 'grad x', 'grad weight', 'grad bias'];
      for (let i = 0; i < 4; i++) {
        t.deepEqual(Array.from(fused[i]!.data), Array.from(plain[i]!.data), `${dtype} ${training ? 'training' : 'eval'}: ${names[i]}`);
      }
    }
  }
  t.end();
});

test('chainFusingRelu: ConvTranspose2d and BatchNorm2d followed by ReLU run fused, with the bits of the unfused chain; a hook on either keeps them apart', (t) => {
  const gen = new Generator(31);
  const x0 = randn([2, 3, 4, 4], { generator: gen });
  const deconv = new ConvTranspose2d(3, 3, 2, { stride: 2, generator: gen });
  const bn = new BatchNorm2d(3);
  const layers = [deconv, new ReLU(), bn, new ReLU()];
  const run = (fuse: boolean): { out: number[][]; calls: string[] } => {
    const calls: string[] = [];
    const handles = fuse
      ? []
      : [deconv.registerForwardHook(() => void calls.push('deconv')), bn.registerForwardHook(() => void calls.push('bn'))];
    for (const p of [deconv, bn].flatMap((m) => m.parameters())) p.grad = null;
    const x = x0.detach().requiresGrad_();
    const reluForward = ReLU.prototype.forward;
    ReLU.prototype.forward = function (this: ReLU, v: Tensor): Tensor {
      calls.push('relu');
      return reluForward.call(this, v);
    };
    let y: Tensor;
    try {
      y = chainFusingRelu(layers, x);
    } finally {
      ReLU.prototype.forward = reluForward;
    }
    y.mul(y).sum().backward();
    handles.forEach((h) => h.remove());
    return { out: [Array.from(y.data), Array.from(x.grad!.data), ...[deconv, bn].flatMap((m) => m.parameters()).map((p) => Array.from(p.grad!.data))], calls };
  };
  const fused = run(true);
  const plain = run(false);
  t.deepEqual(fused.calls, [], 'without hooks both ReLUs are fused into the modules before them');
  t.deepEqual(plain.calls, ['deconv', 'relu', 'bn', 'relu'], 'hooked modules run unfused: each hook sees its own output');
  t.deepEqual(fused.out, plain.out, 'output, input gradient, parameter gradients');
  t.end();
});
