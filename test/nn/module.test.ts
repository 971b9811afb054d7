import test from 'tape';
import { Tensor, tensor, randn, Generator, zeros } from '../../lib/index.js';
import {
  Module,
  Sequential,
  ModuleList,
  ModuleDict,
  Linear,
  ReLU,
  BatchNorm2d,
  FrozenBatchNorm2d,
  Conv2d,
  SGD,
} from '../../lib/nn/index.js';
import { assertThrowsMessage } from '../helpers.js';

class Block extends Module {
  readonly conv1: Conv2d;
  readonly bn1: BatchNorm2d;
  readonly downsample: Sequential;
  constructor(g: Generator, cin: number) {
    super();
    this.conv1 = this.registerModule('conv1', new Conv2d(cin, 3, 3, { padding: 1, bias: false, generator: g }));
    this.bn1 = this.registerModule('bn1', new BatchNorm2d(3));
    this.downsample = this.registerModule('downsample', new Sequential([new Conv2d(cin, 3, 1, { bias: false, generator: g }), new FrozenBatchNorm2d(3)]));
  }
  forward(x: Tensor): Tensor {
    return this.bn1.forward(this.conv1.forward(x)).add(this.downsample.forward(x)).relu();
  }
}

class Net extends Module {
  readonly layer1: Sequential;
  readonly heads: ModuleList<Linear>;
  readonly scale: Tensor;
  constructor(g = new Generator(0)) {
    super();
    this.scale = this.registerParameter('scale', tensor([1]));
    this.layer1 = this.registerModule('layer1', new Sequential([new Block(g, 2), new Block(g, 3)]));
    this.heads = this.registerModule('heads', new ModuleList([new Linear(3, 2, { generator: g }), new Linear(3, 1, { generator: g })]));
  }
  forward(x: Tensor): Tensor {
    const f = this.layer1.forward(x).mean([2, 3]).mul(this.scale);
    return this.heads.at(0).forward(f).sum().add(this.heads.at(1).forward(f).sum());
  }
}

test('Module: torchvision-style dotted key names and PyTorch state-dict order', (t) => {
  const net = new Net();
  const keys = [...net.stateDict().keys()];
  t.deepEqual(keys.slice(0, 10), [
    'scale',
    'layer1.0.conv1.weight',
    'layer1.0.bn1.weight',
    'layer1.0.bn1.bias',
    'layer1.0.bn1.running_mean',
    'layer1.0.bn1.running_var',
    'layer1.0.bn1.num_batches_tracked',
    'layer1.0.downsample.0.weight',
    'layer1.0.downsample.1.weight',
    'layer1.0.downsample.1.bias',
  ]);
  t.ok(keys.includes('layer1.0.downsample.1.running_var'), 'FrozenBatchNorm2d buffers are in the state dict');
  t.deepEqual(keys.slice(-4), ['heads.0.weight', 'heads.0.bias', 'heads.1.weight', 'heads.1.bias'], 'ModuleList children are 0, 1');
  const params = net.namedParameters().map(([k]) => k);
  t.notOk(params.includes('layer1.0.downsample.1.weight'), 'frozen BN weight is a buffer, not a parameter');
  t.notOk(params.some((k) => k.includes('running')), 'running statistics are not parameters');
  t.equal(params.length, 1 + 2 * 4 + 4, 'parameter count (scale, per block conv1/bn1.w/bn1.b/downsample conv, heads)');
  t.ok(net.namedBuffers().some(([k]) => k === 'layer1.1.bn1.num_batches_tracked'), 'namedBuffers lists num_batches_tracked');
  t.equal(net.getSubmodule('layer1.1.downsample.0'), (net.layer1.at(1) as Block).downsample.at(0), 'getSubmodule by dotted path');
  assertThrowsMessage(t, () => net.getSubmodule('layer1.7'), ["'layer1' (Sequential) has no child '7'", 'children: 0, 1'], 'getSubmodule names the missing child');
  t.equal(net.numParameters(), net.parameters().reduce((n, p) => n + p.size, 0), 'numParameters');
  t.ok(net.toString().includes('(conv1): Conv2d(2, 3, kernel_size=(3,3)'), 'toString prints the tree');
  t.end();
});

test('Module: loadStateDict copies in place; errors list missing, unexpected and mismatched keys', (t) => {
  const a = new Net(new Generator(1));
  const b = new Net(new Generator(2));
  const weightRef = b.heads.at(0).weight;
  b.loadStateDict(a.stateDict());
  t.equal(b.heads.at(0).weight, weightRef, 'the parameter object is kept (copy in place)');
  t.deepEqual(Array.from(b.heads.at(0).weight.data), Array.from(a.heads.at(0).weight.data), 'values copied');
  const sd = a.stateDict();
  sd.delete('heads.1.bias');
  sd.set('heads.2.weight', zeros([1]));
  sd.set('heads.0.weight', zeros([5, 5]));
  const before = Array.from(b.scale.data);
  assertThrowsMessage(
    t,
    () => b.loadStateDict(sd),
    ['Missing key(s): heads.1.bias', 'Unexpected key(s): heads.2.weight', 'size mismatch for heads.0.weight', '[5,5]', '[2,3]'],
    'strict load reports all three kinds',
  );
  t.deepEqual(Array.from(b.scale.data), before, 'nothing is copied when the load fails');
  sd.set('heads.0.weight', a.heads.at(0).weight);
  const result = b.loadStateDict(sd, { strict: false });
  t.deepEqual(result, { missingKeys: ['heads.1.bias'], unexpectedKeys: ['heads.2.weight'] }, 'non-strict load returns the lists');
  const mismatch = a.stateDict();
  mismatch.set('scale', zeros([2]));
  assertThrowsMessage(t, () => b.loadStateDict(mismatch, { strict: false }), 'size mismatch for scale', 'shape mismatch throws even when not strict');
  // FrozenBatchNorm2d ignores num_batches_tracked (torchvision loads BatchNorm checkpoints this way).
  const frozen = new FrozenBatchNorm2d(3);
  const bn = new BatchNorm2d(3);
  bn.runningMean!.data.set([1, 2, 3]);
  frozen.loadStateDict(bn.stateDict());
  t.deepEqual(Array.from(frozen.runningMean.data), [1, 2, 3], 'a BatchNorm2d state dict loads into FrozenBatchNorm2d');
  t.end();
});

test('Module: train/eval propagate; requiresGrad_(false) freezes; zeroGrad', (t) => {
  const net = new Net();
  net.eval();
  t.ok(net.modules().every((m) => !m.training), 'eval reaches every module');
  net.train();
  t.ok(net.modules().every((m) => m.training), 'train reaches every module');
  net.layer1.requiresGrad_(false);
  const x = randn([2, 2, 4, 4], { generator: new Generator(5) });
  net.forward(x).backward();
  t.ok(net.layer1.parameters().every((p) => p.grad === null), 'frozen parameters get no gradient');
  t.ok(net.heads.parameters().every((p) => p.grad !== null), 'the others do');
  const frozenBefore = net.layer1.parameters().map((p) => Array.from(p.data));
  const opt = new SGD(net.parameters(), { lr: 0.1, momentum: 0.9 });
  opt.step();
  t.deepEqual(net.layer1.parameters().map((p) => Array.from(p.data)), frozenBefore, 'the optimiser leaves frozen parameters alone');
  net.zeroGrad();
  t.ok(net.parameters().every((p) => p.grad === null), 'zeroGrad clears');
  t.end();
});

test('Module: forward hooks by dotted name, capture(), removal', (t) => {
  const net = new Net();
  const x = randn([1, 2, 4, 4], { generator: new Generator(7) });
  const seen: string[] = [];
  const handle = net.registerForwardHook('layer1.0.bn1', (m, inputs, output) => {
    seen.push(`${m.constructor.name} ${(inputs[0] as Tensor).shape} -> ${(output as Tensor).shape}`);
  });
  const y1 = net.forward(x);
  t.deepEqual(seen, ['BatchNorm2d 1,3,4,4 -> 1,3,4,4'], 'the hook saw the submodule called by its parent');
  handle.remove();
  handle.remove();
  net.forward(x);
  t.equal(seen.length, 1, 'removed hooks do not run');
  t.notOk(Object.prototype.hasOwnProperty.call(net.getSubmodule('layer1.0.bn1'), 'forward'), 'removing the last hook restores the class forward');

  const { result, outputs } = net.capture(['layer1.0', 'layer1', 'heads.1'], () => net.forward(x));
  t.equal(result.item(), y1.item(), 'capture returns the result');
  t.deepEqual((outputs.get('layer1.0') as Tensor).shape, [1, 3, 4, 4], 'layer1.0 captured');
  t.deepEqual((outputs.get('heads.1') as Tensor).shape, [1, 1], 'heads.1 captured');
  t.equal(net.forward(x).item(), y1.item(), 'capture removed its hooks');

  const replace = net.registerForwardHook('heads.1', () => zeros([1, 1]));
  const y2 = net.forward(x);
  const head0 = net.capture(['heads.0'], () => net.forward(x)).outputs.get('heads.0') as Tensor;
  t.ok(Math.abs(y2.item() - head0.sum().item()) < 1e-6, 'a hook that returns a value replaces the output');
  replace.remove();
  assertThrowsMessage(t, () => net.capture(['nope'], () => 0), "has no child 'nope'", 'capture of an unknown path throws');
  t.end();
});

test('Module: registration errors; ModuleDict; Sequential from a record', (t) => {
  class Bad extends Module {
    forward(): void {}
  }
  const m = new Bad();
  m.registerParameter('w', zeros([1]));
  assertThrowsMessage(t, () => m.registerBuffer('w', zeros([1])), "'w' is already a parameter", 'name clash');
  assertThrowsMessage(t, () => m.registerModule('a.b', new ReLU()), "without '.'", 'dotted child names are refused');
  const d = new ModuleDict({ cls: new Linear(2, 3), box: new Linear(2, 4) });
  t.deepEqual([...d.stateDict().keys()], ['cls.weight', 'cls.bias', 'box.weight', 'box.bias'], 'ModuleDict keys');
  const s = new Sequential({ conv: new Conv2d(1, 1, 1), act: new ReLU() });
  t.deepEqual([...s.stateDict().keys()], ['conv.weight', 'conv.bias'], 'Sequential with named children');
  assertThrowsMessage(t, () => new ModuleList().forward(), 'ModuleList has no forward', 'ModuleList is not callable');
  t.end();
});
