import test from 'tape';
import { readFileSync } from 'node:fs';
import { Tensor, tensor, randn, Generator, noGrad, arange } from '../../lib/index.js';
import {
  resnet18,
  resnet50,
  resnetFpnBackbone,
  setTrainableLayers,
  inferShape,
  BasicBlock,
  FeaturePyramidNetwork,
  LastLevelMaxPool,
  Conv2d,
  BatchNorm2d,
  Conv2dNormActivation,
  type Module,
} from '../../lib/nn/index.js';
import { assertClose, assertThrowsMessage } from '../helpers.js';

interface KeysFixture {
  torchvision_version: string;
  resnet18: Array<[string, number[]]>;
  resnet50: Array<[string, number[]]>;
  maskrcnn_resnet50_fpn_backbone: Array<[string, number[]]>;
  maskrcnn_resnet50_fpn_backbone_in_model: string[];
  trainable_0: string[];
  trainable_3: string[];
  trainable_5: string[];
}

const tv = JSON.parse(readFileSync(new URL('../fixtures/nn/torchvision_keys.json', import.meta.url), 'utf8')) as KeysFixture;

function keysAndShapes(m: Module): Array<[string, number[]]> {
  return [...m.stateDict()].map(([k, v]) => [k, [...v.shape]]);
}

test(`ResNet / BackboneWithFPN: every state-dict key and shape equals torchvision ${tv.torchvision_version}'s (tools/oracle/model_keys.py)`, (t) => {
  // initialize: false builds the full-width networks without drawing 23M random numbers.
  t.deepEqual(keysAndShapes(resnet18({ initialize: false })), tv.resnet18, 'resnet18: 122 keys in order, with shapes');
  t.deepEqual(keysAndShapes(resnet50({ initialize: false })), tv.resnet50, 'resnet50: 320 keys in order, with shapes');
  const frozen = resnetFpnBackbone(resnet50({ norm: 'frozen', numClasses: null, initialize: false }), { initialize: false });
  t.deepEqual(keysAndShapes(frozen), tv.maskrcnn_resnet50_fpn_backbone, 'resnet_fpn backbone (FrozenBatchNorm2d, FPN 256): body.* and fpn.inner_blocks.i.0 / layer_blocks.i.0');
  const withBn = resnetFpnBackbone(resnet50({ numClasses: null, initialize: false }), { initialize: false });
  t.deepEqual(
    [...withBn.stateDict().keys()].map((k) => `backbone.${k}`),
    tv.maskrcnn_resnet50_fpn_backbone_in_model,
    'as maskrcnn_resnet50_fpn(weights=None) names them (BatchNorm2d: with num_batches_tracked)',
  );
  for (const layers of [0, 3, 5] as const) {
    const bb = resnetFpnBackbone(resnet50({ norm: 'frozen', numClasses: null, initialize: false }), { trainableLayers: layers, initialize: false });
    const trainable = bb.namedParameters().filter(([, p]) => p.requiresGrad).map(([k]) => k);
    t.deepEqual(trainable, tv[`trainable_${layers}`], `trainable_layers ${layers}: the same parameters require gradients`);
  }
  assertThrowsMessage(t, () => setTrainableLayers(resnet18({ initialize: false }), 6), 'trainableLayers must be an integer in [0, 5]', 'trainable layers out of range');
  t.end();
});

test('Paper check (shape inference from the layers\' kernel/stride/padding, not a forward run): ResNet-50-FPN on 1024x1024 gives C2..C5 = 256/128/64/32 and P2..P6 = 256/128/64/32/16 (strides 4..64), 256 FPN channels', (t) => {
  const backbone = resnetFpnBackbone(resnet50({ norm: 'frozen', numClasses: null, initialize: false }), { initialize: false });
  const { body, fpn } = backbone.outputShapes([1, 3, 1024, 1024]);
  t.deepEqual([...body.values()], [[1, 256, 256, 256], [1, 512, 128, 128], [1, 1024, 64, 64], [1, 2048, 32, 32]], 'C2..C5 shapes');
  t.deepEqual([...fpn.keys()], ['0', '1', '2', '3', 'pool'], 'FPN names');
  t.deepEqual([...fpn.values()], [[1, 256, 256, 256], [1, 256, 128, 128], [1, 256, 64, 64], [1, 256, 32, 32], [1, 256, 16, 16]], 'P2..P6 shapes');
  t.deepEqual([...fpn.values()].map((s) => 1024 / s[2]), [4, 8, 16, 32, 64], 'strides 4, 8, 16, 32, 64');
  // Non-multiples of 32 round up at every stride-2 layer, as torchvision's do (800x1333 is the COCO size).
  t.deepEqual([...backbone.outputShapes([2, 3, 800, 1333]).fpn.values()].map((s) => [s[2], s[3]]), [[200, 334], [100, 167], [50, 84], [25, 42], [13, 21]], '800x1333');
  assertThrowsMessage(t, () => inferShape(backbone.body.getSubmodule('layer2'), [1, 64, 32, 32]), 'expects 256 input channels, got 64', 'inference checks channels');
  t.end();
});

test('A narrow ResNet-50 + FPN run for real: output shapes equal the inferred ones; hooks capture C2..C5', (t) => {
  const g = new Generator(1);
  const backbone = resnetFpnBackbone(resnet50({ norm: 'frozen', numClasses: null, stemChannels: 4, widths: [4, 8, 16, 32], generator: g }), { outChannels: 8, generator: g });
  const x = randn([1, 3, 64, 96], { generator: g });
  const { result, outputs } = backbone.capture(['body.layer1', 'body.layer4', 'fpn'], () => noGrad(() => backbone.forward(x)));
  const inferred = backbone.outputShapes([1, 3, 64, 96]);
  t.deepEqual([...result.values()].map((v) => v.shape), [...inferred.fpn.values()], 'P2..P6 shapes as inferred');
  t.deepEqual((outputs.get('body.layer1') as Tensor).shape, inferred.body.get('0'), 'C2 captured by hook');
  t.deepEqual((outputs.get('body.layer4') as Tensor).shape, inferred.body.get('3'), 'C5 captured by hook');
  t.ok(outputs.get('fpn') instanceof Map, 'the FPN output map captured');
  t.ok([...result.values()].every((v) => v.data.every(Number.isFinite)), 'finite');
  t.end();
});

test('BasicBlock: residual sum and zero-init residual; ResNet-18 trains end to end (gradients reach conv1)', (t) => {
  const g = new Generator(2);
  const net = resnet18({ stemChannels: 4, widths: [4, 8, 8, 8], numClasses: 3, zeroInitResidual: true, generator: g });
  const block = net.layer1.at(0) as BasicBlock;
  const x = randn([1, 4, 6, 6], { generator: g });
  assertClose(t, noGrad(() => block.forward(x)), x.relu(), 'zero-init residual: the block starts as relu(identity)');
  const images = randn([2, 3, 32, 32], { generator: g });
  const logits = net.forward(images);
  t.deepEqual(logits.shape, [2, 3], 'classifier output');
  logits.sum().backward();
  t.ok(net.conv1.weight.grad !== null && net.conv1.weight.grad.data.some((v) => v !== 0), 'gradient reaches the stem');
  t.equal((net.bn1 as BatchNorm2d).numBatchesTracked?.item(), 1, 'BatchNorm counted the batch (training mode)');
  t.end();
});

test('FPN: lateral 1x1 + nearest top-down upsampling to the lateral size + 3x3; P6 = P5 subsampled (identity weights, by hand)', (t) => {
  const fpn = new FeaturePyramidNetwork({ inChannelsList: [1, 1], outChannels: 1, extraBlocks: new LastLevelMaxPool() });
  for (const m of fpn.modules()) {
    if (m instanceof Conv2d) {
      m.weight.data.fill(0);
      m.weight.data[m.weight.size >> 1] = 1; // the centre tap: identity
      m.bias!.data.fill(0);
    }
  }
  const fine = arange(0, 20).float().reshape(1, 1, 4, 5);
  const coarse = tensor([[[[100, 200, 300], [400, 500, 600]]]]); // 2x3 -> upsampled to 4x5 by nearest
  const out = noGrad(() => fpn.forward(new Map([['0', fine], ['1', coarse]])));
  t.deepEqual([...out.keys()], ['0', '1', 'pool'], 'names kept, pool appended');
  // nearest to 4x5 from 2x3: rows floor(y * 2/4), cols floor(x * 3/5)
  const up = [100, 100, 200, 200, 300, 100, 100, 200, 200, 300, 400, 400, 500, 500, 600, 400, 400, 500, 500, 600];
  assertClose(t, out.get('0')!.reshape(-1), up.map((v, i) => v + i), 'P2 = C2 + nearest(C3 lateral) (then identity 3x3)');
  assertClose(t, out.get('1')!, coarse, 'P3 = C3');
  assertClose(t, out.get('pool')!, [[[[100, 300]]]], 'P6 = max_pool2d(P5, 1, stride 2)');
  assertThrowsMessage(t, () => fpn.forward(new Map([['0', fine]])), 'got 1 feature maps (0), built for 2', 'level count');
  t.end();
});

test('Conv2dNormActivation with BatchNorm2d and ReLU: the fused norm+ReLU gives the bits of the unfused modules (forced by forward hooks)', (t) => {
  const gen = new Generator(5);
  const x0 = randn([2, 3, 6, 6], { generator: gen });
  const run = (hook: boolean): number[][] => {
    const block = new Conv2dNormActivation(3, 4, 3, { norm: 'batch', activation: true, generator: new Generator(9) });
    const handles = hook ? [block.at(1).registerForwardHook(() => undefined), block.at(2).registerForwardHook(() => undefined)] : [];
    const x = x0.detach().requiresGrad_();
    const y = block.forward(x);
    y.mul(y).sum().backward();
    handles.forEach((h) => h.remove());
    return [Array.from(y.data), Array.from(x.grad!.data), ...block.parameters().map((p) => Array.from(p.grad!.data))];
  };
  const fused = run(false);
  const plain = run(true);
  t.ok(fused[0]!.some((v) => v === 0) && fused[0]!.some((v) => v > 0), 'the ReLU clips some values');
  t.deepEqual(fused, plain, 'output, input gradient and parameter gradients');
  t.end();
});
