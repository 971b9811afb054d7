/**
 * ResNet (He, Zhang, Ren, Sun, "Deep Residual Learning for Image Recognition", CVPR 2016,
 * arXiv 1512.03385), with torchvision's structure and state-dict keys (`torchvision/models/resnet.py`,
 * "ResNet v1.5": the stride of a bottleneck is on its 3x3 convolution).
 *
 * ```
 * conv1 7x7/2 -> bn1 -> relu -> maxpool 3x3/2      stride 4   (the "stem")
 * layer1: blocks at width w1                       stride 4   -> C2
 * layer2: first block stride 2                     stride 8   -> C3
 * layer3: first block stride 2                     stride 16  -> C4
 * layer4: first block stride 2                     stride 32  -> C5
 * avgpool -> fc (classification only)
 * ```
 * Mask R-CNN (section 3, "Network Architecture") takes C2..C5, the outputs of the last block of
 * each stage, into its FPN; ResNet-50/101 use the Bottleneck block (1x1 -> 3x3 -> 1x1, 4x
 * expansion), ResNet-18/34 the BasicBlock (3x3 -> 3x3).
 *
 * Keys: `conv1.weight`, `bn1.running_mean`, `layer1.0.conv1.weight`, `layer2.0.downsample.0.weight`
 * (the 1x1 projection of the shortcut), `layer2.0.downsample.1.weight` (its norm), `fc.weight`.
 */
import type { Generator, Tensor } from '../tensor/index.js';
import { Module, Sequential } from './module.js';
import { AdaptiveAvgPool2d, BatchNorm2d, Conv2d, FrozenBatchNorm2d, Linear, MaxPool2d, ReLU } from './layers.js';
import { kaimingNormal } from './init.js';
import { inferShape, type Shape4 } from './shapes.js';

/** Which normalization follows each convolution: trainable BatchNorm2d, or FrozenBatchNorm2d (torchvision's detection default with pretrained weights). */
export type NormKind = 'batch' | 'frozen';

/** A normalization layer of either kind. */
export type NormLayer = BatchNorm2d | FrozenBatchNorm2d;

/**
 * `relu(norm(x))`: one fused op when the norm is a BatchNorm2d ({@link BatchNorm2d.forwardRelu}:
 * the same values and gradients), unless either module has forward hooks (a capture), which
 * then run as usual.
 */
function normRelu(norm: NormLayer, relu: ReLU, x: Tensor): Tensor {
  const hooked = (m: Module): boolean => Object.prototype.hasOwnProperty.call(m, 'forward');
  if (norm instanceof BatchNorm2d && !hooked(norm) && !hooked(relu)) return norm.forwardRelu(x);
  return relu.forward(norm.forward(x));
}

function makeNorm(kind: NormKind, channels: number): NormLayer {
  return kind === 'frozen' ? new FrozenBatchNorm2d(channels) : new BatchNorm2d(channels);
}

/** What both block kinds share (settings passed by {@link ResNet}). */
export interface BlockOptions {
  /** Stride of the block (on its 3x3 convolution). */
  stride: number;
  /** The shortcut projection (1x1 conv + norm) when the shape changes, else `null`. */
  downsample: Sequential | null;
  /** Normalization kind. */
  norm: NormKind;
}

// The block convolutions are created without PyTorch's default init: ResNet draws He-normal weights for all of them next.
function conv3x3(inPlanes: number, outPlanes: number, stride: number): Conv2d {
  return new Conv2d(inPlanes, outPlanes, 3, { stride, padding: 1, bias: false, initialize: false });
}

function conv1x1(inPlanes: number, outPlanes: number, stride: number): Conv2d {
  return new Conv2d(inPlanes, outPlanes, 1, { stride, bias: false, initialize: false });
}

/**
 * The shape of the residual sum `F(x) + shortcut(x)`: the main path's, after checking that the
 * shortcut gives the same one.
 */
function residualShape(block: Module, main: Shape4, downsample: Sequential | null, input: Shape4): Shape4 {
  const shortcut = downsample === null ? input : inferShape(downsample, input);
  if (main.join() !== shortcut.join()) {
    throw new Error(`inferShape: ${block.constructor.name} main path gives [${main}] but its shortcut gives [${shortcut}]`);
  }
  return main;
}

/** ResNet-18/34's block: `relu(bn2(conv2(relu(bn1(conv1(x))))) + shortcut(x))`, two 3x3 convolutions. */
export class BasicBlock extends Module {
  /** Output channels per input "plane" (1: the block outputs `planes` channels). */
  static readonly expansion = 1;
  /** 3x3, stride `stride`. */
  readonly conv1: Conv2d;
  /** Norm after conv1. */
  readonly bn1: NormLayer;
  /** The activation (used twice). */
  readonly relu: ReLU;
  /** 3x3, stride 1. */
  readonly conv2: Conv2d;
  /** Norm after conv2. */
  readonly bn2: NormLayer;
  /** The shortcut projection, or `null` for the identity. */
  readonly downsample: Sequential | null;

  /** A block from `inPlanes` to `planes` channels. */
  constructor(inPlanes: number, planes: number, options: BlockOptions) {
    super();
    this.conv1 = this.registerModule('conv1', conv3x3(inPlanes, planes, options.stride));
    this.bn1 = this.registerModule('bn1', makeNorm(options.norm, planes));
    this.relu = this.registerModule('relu', new ReLU());
    this.conv2 = this.registerModule('conv2', conv3x3(planes, planes, 1));
    this.bn2 = this.registerModule('bn2', makeNorm(options.norm, planes));
    this.downsample = options.downsample === null ? null : this.registerModule('downsample', options.downsample);
  }

  /** The residual block. */
  forward(x: Tensor): Tensor {
    const identity = this.downsample === null ? x : this.downsample.forward(x);
    let out = normRelu(this.bn1, this.relu, this.conv1.forward(x));
    out = this.bn2.forward(this.conv2.forward(out));
    return this.relu.forward(out.add(identity));
  }

  /** The output shape for an input shape (shape inference). */
  outputShape(shape: Shape4): Shape4 {
    const main = [this.conv1, this.bn1, this.conv2, this.bn2].reduce((s, m) => inferShape(m, s), shape);
    return residualShape(this, main, this.downsample, shape);
  }
}

/**
 * ResNet-50/101's block: 1x1 (reduce to `planes`) -> 3x3 (stride) -> 1x1 (expand to
 * `4 planes`), each followed by a norm, ReLU after the first two and after the residual sum.
 */
export class Bottleneck extends Module {
  /** Output channels per "plane": the block outputs `4 planes` channels. */
  static readonly expansion = 4;
  /** 1x1 reduction. */
  readonly conv1: Conv2d;
  /** Norm after conv1. */
  readonly bn1: NormLayer;
  /** 3x3, stride `stride`. */
  readonly conv2: Conv2d;
  /** Norm after conv2. */
  readonly bn2: NormLayer;
  /** 1x1 expansion. */
  readonly conv3: Conv2d;
  /** Norm after conv3. */
  readonly bn3: NormLayer;
  /** The activation. */
  readonly relu: ReLU;
  /** The shortcut projection, or `null` for the identity. */
  readonly downsample: Sequential | null;

  /** A block from `inPlanes` to `4 planes` channels. */
  constructor(inPlanes: number, planes: number, options: BlockOptions) {
    super();
    this.conv1 = this.registerModule('conv1', conv1x1(inPlanes, planes, 1));
    this.bn1 = this.registerModule('bn1', makeNorm(options.norm, planes));
    this.conv2 = this.registerModule('conv2', conv3x3(planes, planes, options.stride));
    this.bn2 = this.registerModule('bn2', makeNorm(options.norm, planes));
    this.conv3 = this.registerModule('conv3', conv1x1(planes, planes * Bottleneck.expansion, 1));
    this.bn3 = this.registerModule('bn3', makeNorm(options.norm, planes * Bottleneck.expansion));
    this.relu = this.registerModule('relu', new ReLU());
    this.downsample = options.downsample === null ? null : this.registerModule('downsample', options.downsample);
  }

  /** The residual block. */
  forward(x: Tensor): Tensor {
    const identity = this.downsample === null ? x : this.downsample.forward(x);
    let out = normRelu(this.bn1, this.relu, this.conv1.forward(x));
    out = normRelu(this.bn2, this.relu, this.conv2.forward(out));
    out = this.bn3.forward(this.conv3.forward(out));
    return this.relu.forward(out.add(identity));
  }

  /** The output shape for an input shape (shape inference). */
  outputShape(shape: Shape4): Shape4 {
    const main = [this.conv1, this.bn1, this.conv2, this.bn2, this.conv3, this.bn3].reduce((s, m) => inferShape(m, s), shape);
    return residualShape(this, main, this.downsample, shape);
  }
}

/** Which block a ResNet stacks. */
export type BlockKind = 'basic' | 'bottleneck';

/** Options of {@link ResNet}. */
export interface ResNetOptions {
  /** `'basic'` (ResNet-18/34) or `'bottleneck'` (ResNet-50/101). */
  block: BlockKind;
  /** Blocks per stage, e.g. `[3, 4, 6, 3]` for ResNet-50. */
  layers: readonly [number, number, number, number];
  /** Channels of the stem convolution (default 64). */
  stemChannels?: number;
  /** "Planes" of the four stages (default `[64, 128, 256, 512]`); a stage outputs `planes * expansion` channels. */
  widths?: readonly [number, number, number, number];
  /** Normalization layers (default `'batch'`, as torchvision's classifier; detection uses `'frozen'` with pretrained weights). */
  norm?: NormKind;
  /** Classes of the `fc` classifier (default 1000); `null` leaves out `avgpool` and `fc` (a backbone). */
  numClasses?: number | null;
  /** Start each block's last norm at zero so the block starts as the identity (torchvision's `zero_init_residual`, default `false`). */
  zeroInitResidual?: boolean;
  /** The random stream for the initial weights. */
  generator?: Generator;
  /**
   * Draw initial weights (default `true`). `false` leaves every weight zero: building a full
   * ResNet-50 is then instant (23M random draws take seconds here), for shape inference or for
   * weights that are loaded next.
   */
  initialize?: boolean;
}

/**
 * A ResNet with torchvision's structure and key names. Initialisation as torchvision: convolutions
 * He-normal (`fan_out`, ReLU gain), norms weight 1 / bias 0, `fc` PyTorch's Linear default.
 *
 * `forward` returns the class logits `[N, numClasses]` (or, with `numClasses: null`, the
 * layer4 features C5). Use {@link IntermediateLayerGetter} (or `capture`) for C2..C5.
 */
export class ResNet extends Module {
  /** The 7x7 stride-2 stem convolution. */
  readonly conv1: Conv2d;
  /** Norm after the stem. */
  readonly bn1: NormLayer;
  /** ReLU after the stem. */
  readonly relu: ReLU;
  /** 3x3 stride-2 max pooling. */
  readonly maxpool: MaxPool2d;
  /** Stage 1 (stride 4, C2). */
  readonly layer1: Sequential;
  /** Stage 2 (stride 8, C3). */
  readonly layer2: Sequential;
  /** Stage 3 (stride 16, C4). */
  readonly layer3: Sequential;
  /** Stage 4 (stride 32, C5). */
  readonly layer4: Sequential;
  /** Global average pooling (absent without a classifier). */
  readonly avgpool: AdaptiveAvgPool2d | null;
  /** The classifier (absent with `numClasses: null`). */
  readonly fc: Linear | null;
  /** The block kind. */
  readonly block: BlockKind;
  /** Output channels of layer1..layer4 (`planes * expansion`). */
  readonly stageChannels: [number, number, number, number];

  /** Builds the network from its options. */
  constructor(options: ResNetOptions) {
    super();
    const stem = options.stemChannels ?? 64;
    const widths = options.widths ?? [64, 128, 256, 512];
    const norm = options.norm ?? 'batch';
    const g = options.generator;
    const gen = g ? { generator: g } : {};
    const initialize = options.initialize ?? true;
    this.block = options.block;
    const expansion = options.block === 'basic' ? BasicBlock.expansion : Bottleneck.expansion;
    if (options.layers.length !== 4 || options.layers.some((n) => !Number.isInteger(n) || n < 1)) {
      throw new Error(`ResNet: layers must be four positive block counts, got ${JSON.stringify(options.layers)}`);
    }
    this.conv1 = this.registerModule('conv1', new Conv2d(3, stem, 7, { stride: 2, padding: 3, bias: false, initialize: false }));
    this.bn1 = this.registerModule('bn1', makeNorm(norm, stem));
    this.relu = this.registerModule('relu', new ReLU());
    this.maxpool = this.registerModule('maxpool', new MaxPool2d(3, { stride: 2, padding: 1 }));
    let inPlanes = stem;
    const makeLayer = (planes: number, blocks: number, stride: number): Sequential => {
      // torchvision's _make_layer: the first block changes stride and/or width, projecting the shortcut.
      const downsample =
        stride !== 1 || inPlanes !== planes * expansion
          ? new Sequential([conv1x1(inPlanes, planes * expansion, stride), makeNorm(norm, planes * expansion)])
          : null;
      const make = (inP: number, s: number, ds: Sequential | null) =>
        options.block === 'basic'
          ? new BasicBlock(inP, planes, { stride: s, downsample: ds, norm })
          : new Bottleneck(inP, planes, { stride: s, downsample: ds, norm });
      const list = [make(inPlanes, stride, downsample)];
      inPlanes = planes * expansion;
      for (let i = 1; i < blocks; i++) list.push(make(inPlanes, 1, null));
      return new Sequential(list);
    };
    this.layer1 = this.registerModule('layer1', makeLayer(widths[0], options.layers[0], 1));
    this.layer2 = this.registerModule('layer2', makeLayer(widths[1], options.layers[1], 2));
    this.layer3 = this.registerModule('layer3', makeLayer(widths[2], options.layers[2], 2));
    this.layer4 = this.registerModule('layer4', makeLayer(widths[3], options.layers[3], 2));
    this.stageChannels = widths.map((w) => w * expansion) as [number, number, number, number];
    const numClasses = options.numClasses === undefined ? 1000 : options.numClasses;
    this.avgpool = numClasses === null ? null : this.registerModule('avgpool', new AdaptiveAvgPool2d(1));
    this.fc = numClasses === null ? null : this.registerModule('fc', new Linear(inPlanes, numClasses, { ...gen, initialize }));

    // torchvision's init: He-normal (fan_out, relu) for convolutions; norms weight 1, bias 0 (their defaults).
    if (initialize) {
      for (const m of this.modules()) {
        if (m instanceof Conv2d) kaimingNormal(m.weight, { mode: 'fanOut', nonlinearity: 'relu', ...gen });
      }
    }
    if (options.zeroInitResidual) {
      for (const m of this.modules()) {
        const last = m instanceof Bottleneck ? m.bn3 : m instanceof BasicBlock ? m.bn2 : null;
        if (last !== null) last.weight?.data.fill(0);
      }
    }
  }

  /** The stem and the four stages: C5 `[N, C5, H/32, W/32]`. */
  features(x: Tensor): Tensor {
    x = this.maxpool.forward(normRelu(this.bn1, this.relu, this.conv1.forward(x)));
    return this.layer4.forward(this.layer3.forward(this.layer2.forward(this.layer1.forward(x))));
  }

  /** Class logits `[N, numClasses]`, or C5 without a classifier. */
  forward(x: Tensor): Tensor {
    const c5 = this.features(x);
    if (this.fc === null) return c5;
    return this.fc.forward(this.avgpool!.forward(c5).flatten(1));
  }

  /** The shape of C5 for an input shape (shape inference; the classifier is not included). */
  outputShape(shape: Shape4): Shape4 {
    return [this.conv1, this.bn1, this.relu, this.maxpool, this.layer1, this.layer2, this.layer3, this.layer4].reduce((s, m) => inferShape(m, s), shape);
  }
}

/** Options of the `resnet18` ... `resnet101` factories: everything but the block kind and counts. */
export type ResNetVariantOptions = Omit<ResNetOptions, 'block' | 'layers'>;

/** ResNet-18: BasicBlock x [2, 2, 2, 2]. */
export function resnet18(options: ResNetVariantOptions = {}): ResNet {
  return new ResNet({ ...options, block: 'basic', layers: [2, 2, 2, 2] });
}

/** ResNet-34: BasicBlock x [3, 4, 6, 3]. */
export function resnet34(options: ResNetVariantOptions = {}): ResNet {
  return new ResNet({ ...options, block: 'basic', layers: [3, 4, 6, 3] });
}

/** ResNet-50: Bottleneck x [3, 4, 6, 3] (the backbone of the paper's `R-50-FPN`). */
export function resnet50(options: ResNetVariantOptions = {}): ResNet {
  return new ResNet({ ...options, block: 'bottleneck', layers: [3, 4, 6, 3] });
}

/** ResNet-101: Bottleneck x [3, 4, 23, 3]. */
export function resnet101(options: ResNetVariantOptions = {}): ResNet {
  return new ResNet({ ...options, block: 'bottleneck', layers: [3, 4, 23, 3] });
}

/** The layers torchvision unfreezes, from the top: `trainable_layers = k` unfreezes the first k (and `bn1` with 5). */
const TRAINABLE_ORDER = ['layer4', 'layer3', 'layer2', 'layer1', 'conv1'] as const;

/**
 * Freezes all but the top `trainableLayers` (0..5) stages of a ResNet, as torchvision's
 * `_resnet_fpn_extractor`: 5 trains everything (conv1 and bn1 included), 3 (torchvision's default
 * with pretrained weights) trains layer2..layer4, 0 freezes the whole body. A parameter stays
 * trainable iff its name starts with one of the chosen layer names.
 */
export function setTrainableLayers(resnet: ResNet, trainableLayers: number): void {
  if (!Number.isInteger(trainableLayers) || trainableLayers < 0 || trainableLayers > 5) {
    throw new Error(`setTrainableLayers: trainableLayers must be an integer in [0, 5], got ${trainableLayers}`);
  }
  const train: string[] = TRAINABLE_ORDER.slice(0, trainableLayers);
  if (trainableLayers === 5) train.push('bn1');
  for (const [name, p] of resnet.namedParameters()) {
    p.requiresGrad = train.some((layer) => name.startsWith(layer));
  }
}
