/**
 * The Feature Pyramid Network (Lin, Dollár, Girshick, He, Hariharan, Belongie, "Feature Pyramid
 * Networks for Object Detection", CVPR 2017, arXiv 1612.03144, section 3 and figure 3), as
 * torchvision 0.14 builds it (`torchvision/ops/feature_pyramid_network.py`,
 * `torchvision/models/detection/backbone_utils.py`), with its state-dict keys.
 *
 * ```
 * C5 -> 1x1 (inner_blocks.3) ------------------------------> M5 -> 3x3 (layer_blocks.3) -> P5 -> maxpool(1, stride 2) -> P6 ('pool')
 * C4 -> 1x1 (inner_blocks.2) + nearest-upsample(M5) -------> M4 -> 3x3 (layer_blocks.2) -> P4
 * C3 -> 1x1 (inner_blocks.1) + nearest-upsample(M4) -------> M3 -> 3x3 (layer_blocks.1) -> P3
 * C2 -> 1x1 (inner_blocks.0) + nearest-upsample(M3) -------> M2 -> 3x3 (layer_blocks.0) -> P2
 * ```
 * The lateral 1x1 convolutions bring every stage to the same width (256 in the paper); the
 * top-down path upsamples the coarser merged map to the lateral's size (nearest neighbour,
 * `size=` the lateral's H x W) and adds; a 3x3 convolution on each merged map "reduces the
 * aliasing effect of upsampling". Mask R-CNN's FPN adds P6 by subsampling P5 (section 3,
 * footnote; torchvision's `LastLevelMaxPool`), used only by the RPN. Levels P2..P6 have strides
 * 4, 8, 16, 32, 64.
 *
 * torchvision 0.14 wraps each convolution in a `Conv2dNormActivation` (a Sequential), so the
 * keys are `fpn.inner_blocks.0.0.weight` and `fpn.layer_blocks.0.0.bias`.
 */
import type { Generator, Tensor } from '../tensor/index.js';
import { interpolate, maxPool2d } from '../ops/index.js';
import { Module, ModuleList, Sequential, type TensorModule } from './module.js';
import { BatchNorm2d, Conv2d, FrozenBatchNorm2d, MaxPool2d, ReLU, chainFusingRelu } from './layers.js';
import { constant, kaimingUniform } from './init.js';
import { inferShape, type Shape4 } from './shapes.js';
import { type NormKind, type ResNet, setTrainableLayers } from './resnet.js';

/** Options of {@link Conv2dNormActivation}. */
export interface Conv2dNormActivationOptions {
  /** Convolution stride (default 1). */
  stride?: number;
  /** Padding (default `(kernelSize - 1) / 2 * dilation`: "same" for odd kernels). */
  padding?: number;
  /** Dilation (default 1). */
  dilation?: number;
  /** Channel groups (default 1). */
  groups?: number;
  /** A norm after the convolution (default `null`: none, and the convolution gets a bias). */
  norm?: NormKind | null;
  /** Append a ReLU (default `false` here; torchvision's default is ReLU). */
  activation?: boolean;
  /** The random stream for the initial weights. */
  generator?: Generator;
  /** Draw PyTorch's default initial weights (default `true`). */
  initialize?: boolean;
}

/**
 * torchvision's `ops.misc.Conv2dNormActivation`: a {@link Sequential} of a convolution
 * (`'0'`), an optional norm (`'1'`) and an optional ReLU. The convolution has a bias iff there
 * is no norm.
 */
export class Conv2dNormActivation extends Sequential {
  /** A `kernelSize` convolution from `inChannels` to `outChannels`, then the norm and activation asked for. */
  constructor(inChannels: number, outChannels: number, kernelSize: number, options: Conv2dNormActivationOptions = {}) {
    const dilation = options.dilation ?? 1;
    const norm = options.norm ?? null;
    const layers: TensorModule[] = [
      new Conv2d(inChannels, outChannels, kernelSize, {
        stride: options.stride ?? 1,
        padding: options.padding ?? Math.floor((kernelSize - 1) / 2) * dilation,
        dilation,
        groups: options.groups ?? 1,
        bias: norm === null,
        ...(options.generator ? { generator: options.generator } : {}),
        initialize: options.initialize ?? true,
      }),
    ];
    if (norm !== null) layers.push(norm === 'frozen' ? new FrozenBatchNorm2d(outChannels) : new BatchNorm2d(outChannels));
    if (options.activation) layers.push(new ReLU());
    super(layers);
  }

  /** The convolution (child `'0'`). */
  get conv(): Conv2d {
    return this.at(0) as Conv2d;
  }

  /**
   * The layers in order; a BatchNorm2d followed by the ReLU runs as one fused op
   * ({@link chainFusingRelu}: the same values and gradients) unless either has forward hooks.
   */
  override forward(x: Tensor): Tensor {
    return chainFusingRelu(Array.from({ length: this.length }, (_, i) => this.at(i)), x);
  }
}

/** The FPN's levels with their names, as the extra block receives and returns them. */
export interface PyramidLevels {
  /** The feature maps, finest first. */
  results: Tensor[];
  /** Their names (`'0'`, `'1'`, ..., `'pool'`). */
  names: string[];
}

/** The shapes of a backbone's outputs. */
export interface BackboneShapes {
  /** C2..C5 by name (`'0'..'3'`). */
  body: Map<string, Shape4>;
  /** P2..P6 by name (`'0'..'3'`, `'pool'`). */
  fpn: Map<string, Shape4>;
}

/**
 * torchvision's `LastLevelMaxPool`: appends `'pool'` = `max_pool2d(P5, kernel 1, stride 2)`,
 * i.e. P5 subsampled by 2 (P6, stride 64), computed from the FPN's *output* P5.
 */
export class LastLevelMaxPool extends Module {
  /** Appends P6 to the FPN's results and `'pool'` to their names. */
  forward(results: Tensor[], names: string[]): PyramidLevels {
    const last = results[results.length - 1]!;
    return { results: [...results, maxPool2d(last, { kernelSize: 1, stride: 2, padding: 0 })], names: [...names, 'pool'] };
  }

  /** The shape of P6 for P5's shape. */
  outputShape(shape: Shape4): Shape4 {
    const [h, w] = new MaxPool2d(1, { stride: 2 }).outputSize([shape[2], shape[3]]);
    return [shape[0], shape[1], h, w];
  }
}

/** Options of {@link FeaturePyramidNetwork}. */
export interface FeaturePyramidNetworkOptions {
  /** Channels of each input level, finest first (e.g. C2..C5: `[256, 512, 1024, 2048]`). */
  inChannelsList: readonly number[];
  /** Channels of every output level (256 in the paper). */
  outChannels: number;
  /** The extra level module (default: none; Mask R-CNN uses {@link LastLevelMaxPool}). */
  extraBlocks?: LastLevelMaxPool | null;
  /** Norm inside the blocks (default none, as torchvision's detection FPN). */
  norm?: NormKind | null;
  /** The random stream for the initial weights. */
  generator?: Generator;
  /** Draw initial weights (default `true`; `false` leaves zeros, for weights loaded next). */
  initialize?: boolean;
}

/**
 * The FPN over an ordered map of feature levels (finest first, e.g. `'0'..'3'` = C2..C5):
 * returns the same names (plus `'pool'` with {@link LastLevelMaxPool}) mapped to P2..P5 (P6).
 * Initialisation as torchvision: convolutions He-uniform with `a = 1`, biases 0.
 */
export class FeaturePyramidNetwork extends Module {
  /** The lateral 1x1 convolutions, finest first (`inner_blocks.i.0`). */
  readonly innerBlocks: ModuleList<Conv2dNormActivation>;
  /** The 3x3 output convolutions, finest first (`layer_blocks.i.0`). */
  readonly layerBlocks: ModuleList<Conv2dNormActivation>;
  /** The extra level, or `null`. */
  readonly extraBlocks: LastLevelMaxPool | null;
  /** Channels of every output level. */
  readonly outChannels: number;

  /** Builds the lateral and output blocks for the given input widths. */
  constructor(options: FeaturePyramidNetworkOptions) {
    super();
    const { inChannelsList, outChannels } = options;
    if (inChannelsList.length === 0 || inChannelsList.some((c) => !Number.isInteger(c) || c <= 0)) {
      throw new Error(`FeaturePyramidNetwork: inChannelsList must list positive channel counts, got ${JSON.stringify(inChannelsList)}`);
    }
    const gen = options.generator ? { generator: options.generator } : {};
    const norm = options.norm ?? null;
    const initialize = options.initialize ?? true;
    this.outChannels = outChannels;
    const block = (cin: number, k: number) => new Conv2dNormActivation(cin, outChannels, k, { padding: (k - 1) / 2, norm, initialize: false });
    this.innerBlocks = this.registerModule('inner_blocks', new ModuleList(inChannelsList.map((c) => block(c, 1))));
    this.layerBlocks = this.registerModule('layer_blocks', new ModuleList(inChannelsList.map(() => block(outChannels, 3))));
    this.extraBlocks = options.extraBlocks ? this.registerModule('extra_blocks', options.extraBlocks) : null;
    for (const m of this.modules()) {
      if (m instanceof Conv2d && initialize) {
        kaimingUniform(m.weight, { a: 1, ...gen });
        if (m.bias !== null) constant(m.bias, 0);
      }
    }
  }

  /** P2..P5 (and P6) from C2..C5, keeping the input's names in order. */
  forward(x: Map<string, Tensor>): Map<string, Tensor> {
    const names = [...x.keys()];
    const features = [...x.values()];
    const levels = features.length;
    if (levels !== this.innerBlocks.length) {
      throw new Error(`FeaturePyramidNetwork: got ${levels} feature maps (${names.join(', ')}), built for ${this.innerBlocks.length}`);
    }
    // Top-down: start from the coarsest level.
    let lastInner = this.innerBlocks.at(-1).forward(features[levels - 1]!);
    const results: Tensor[] = [this.layerBlocks.at(-1).forward(lastInner)];
    for (let i = levels - 2; i >= 0; i--) {
      const lateral = this.innerBlocks.at(i).forward(features[i]!);
      const size: [number, number] = [lateral.shape[2]!, lateral.shape[3]!];
      const topDown = interpolate(lastInner, { size, mode: 'nearest' });
      lastInner = lateral.add(topDown);
      results.unshift(this.layerBlocks.at(i).forward(lastInner));
    }
    let outNames = names;
    let outResults = results;
    if (this.extraBlocks !== null) ({ results: outResults, names: outNames } = this.extraBlocks.forward(results, names));
    return new Map(outNames.map((name, i) => [name, outResults[i]!]));
  }

  /** The output shapes for the input shapes (shape inference). */
  outputShapes(shapes: Map<string, Shape4>): Map<string, Shape4> {
    const names = [...shapes.keys()];
    const outs = [...shapes.values()].map((s, i) => inferShape(this.layerBlocks.at(i), inferShape(this.innerBlocks.at(i), s)));
    const out = new Map(names.map((n, i) => [n, outs[i]!] as const));
    if (this.extraBlocks !== null) out.set('pool', this.extraBlocks.outputShape(outs[outs.length - 1]!));
    return out;
  }
}

/**
 * torchvision's `IntermediateLayerGetter`: runs a model's children in order (up to the last
 * one asked for) and returns the outputs of the named ones under new names, e.g.
 * `{layer1: '0', layer2: '1', layer3: '2', layer4: '3'}` gives C2..C5 as `'0'..'3'`. The
 * children are the model's own modules, so the keys are `conv1.weight`, `layer1.0.conv1.weight`...
 */
export class IntermediateLayerGetter extends Module {
  private readonly returnLayers: Map<string, string>;
  private readonly layers: Array<[string, TensorModule]> = [];

  /** Takes `model`'s children up to the last of `returnLayers` (child name -> output name). */
  constructor(model: Module, returnLayers: Record<string, string>) {
    super();
    this.returnLayers = new Map(Object.entries(returnLayers));
    const children = model.namedChildren();
    const missing = [...this.returnLayers.keys()].filter((n) => !children.some(([c]) => c === n));
    if (missing.length > 0) throw new Error(`IntermediateLayerGetter: return layers ${missing.join(', ')} are not children of the model (${children.map(([c]) => c).join(', ')})`);
    const remaining = new Set(this.returnLayers.keys());
    for (const [name, child] of children) {
      if (remaining.size === 0) break;
      this.layers.push([name, this.registerModule(name, child as TensorModule)]);
      remaining.delete(name);
    }
  }

  /** The outputs of the returned layers, by their new names, in the model's order. */
  forward(x: Tensor): Map<string, Tensor> {
    const out = new Map<string, Tensor>();
    for (const [name, layer] of this.layers) {
      x = layer.forward(x);
      const as = this.returnLayers.get(name);
      if (as !== undefined) out.set(as, x);
    }
    return out;
  }

  /** The output shapes for an input shape (shape inference). */
  outputShapes(shape: Shape4): Map<string, Shape4> {
    const out = new Map<string, Shape4>();
    for (const [name, layer] of this.layers) {
      shape = inferShape(layer, shape);
      const as = this.returnLayers.get(name);
      if (as !== undefined) out.set(as, shape);
    }
    return out;
  }
}

/** Options of {@link BackboneWithFPN}. */
export interface BackboneWithFPNOptions {
  /** The extra level (default {@link LastLevelMaxPool}; `null` for none). */
  extraBlocks?: LastLevelMaxPool | null;
  /** Norm inside the FPN blocks (default none). */
  norm?: NormKind | null;
  /** The random stream for the FPN's initial weights. */
  generator?: Generator;
  /** Draw the FPN's initial weights (default `true`). */
  initialize?: boolean;
}

/**
 * torchvision's `BackboneWithFPN`: `body` (an {@link IntermediateLayerGetter} over the ResNet)
 * then `fpn`. `forward(images)` returns `'0'..'3'` = P2..P5 and `'pool'` = P6, all with
 * `outChannels` channels, at strides 4, 8, 16, 32, 64. Keys: `body.conv1.weight`,
 * `body.layer1.0.conv1.weight`, `fpn.inner_blocks.0.0.weight`, ...
 */
export class BackboneWithFPN extends Module {
  /** C2..C5 from the ResNet. */
  readonly body: IntermediateLayerGetter;
  /** P2..P6 from C2..C5. */
  readonly fpn: FeaturePyramidNetwork;
  /** Channels of every FPN level. */
  readonly outChannels: number;

  /** Wraps `backbone`'s `returnLayers` into an FPN of `outChannels` (see {@link resnetFpnBackbone}). */
  constructor(
    backbone: Module,
    returnLayers: Record<string, string>,
    inChannelsList: readonly number[],
    outChannels: number,
    options: BackboneWithFPNOptions = {},
  ) {
    super();
    this.body = this.registerModule('body', new IntermediateLayerGetter(backbone, returnLayers));
    this.fpn = this.registerModule(
      'fpn',
      new FeaturePyramidNetwork({
        inChannelsList,
        outChannels,
        extraBlocks: options.extraBlocks === undefined ? new LastLevelMaxPool() : options.extraBlocks,
        norm: options.norm ?? null,
        ...(options.generator ? { generator: options.generator } : {}),
        initialize: options.initialize ?? true,
      }),
    );
    this.outChannels = outChannels;
  }

  /** The feature pyramid of a batch of images `[N, 3, H, W]`. */
  forward(x: Tensor): Map<string, Tensor> {
    return this.fpn.forward(this.body.forward(x));
  }

  /** The shapes of C2..C5 (`body`) and P2..P6 (`fpn`) for an input shape, without running the network. */
  outputShapes(shape: Shape4): BackboneShapes {
    const body = this.body.outputShapes(shape);
    return { body, fpn: this.fpn.outputShapes(body) };
  }
}

/** Options of {@link resnetFpnBackbone}. */
export interface ResnetFpnBackboneOptions {
  /** How many stages from the top are trained, 0..5 (torchvision: 3 with pretrained weights, 5 without; default 3). */
  trainableLayers?: number;
  /** Which stages feed the FPN (default `[1, 2, 3, 4]`: C2..C5). */
  returnedLayers?: readonly number[];
  /** FPN width (default 256). */
  outChannels?: number;
  /** The extra level (default {@link LastLevelMaxPool}). */
  extraBlocks?: LastLevelMaxPool | null;
  /**
   * Norm after each FPN convolution (default none, as torchvision's `resnet_fpn_backbone`;
   * `'batch'` is torchvision's `norm_layer=BatchNorm2d`, for training from scratch).
   */
  norm?: NormKind | null;
  /** The random stream for the FPN's initial weights. */
  generator?: Generator;
  /** Draw the FPN's initial weights (default `true`). */
  initialize?: boolean;
}

/**
 * torchvision's `_resnet_fpn_extractor`: freezes all but `trainableLayers` stages of `backbone`
 * ({@link setTrainableLayers}) and wraps stages `returnedLayers` into a {@link BackboneWithFPN}
 * returning `'0'..` and `'pool'`. The input widths come from the ResNet's stage widths.
 */
export function resnetFpnBackbone(backbone: ResNet, options: ResnetFpnBackboneOptions = {}): BackboneWithFPN {
  setTrainableLayers(backbone, options.trainableLayers ?? 3);
  const returned = options.returnedLayers ?? [1, 2, 3, 4];
  if (returned.length === 0 || returned.some((l) => !Number.isInteger(l) || l < 1 || l > 4)) {
    throw new Error(`resnetFpnBackbone: returnedLayers must be stage numbers in 1..4, got ${JSON.stringify(returned)}`);
  }
  const returnLayers = Object.fromEntries(returned.map((l, i) => [`layer${l}`, String(i)]));
  const inChannelsList = returned.map((l) => backbone.stageChannels[l - 1]!);
  return new BackboneWithFPN(backbone, returnLayers, inChannelsList, options.outChannels ?? 256, {
    extraBlocks: options.extraBlocks === undefined ? new LastLevelMaxPool() : options.extraBlocks,
    norm: options.norm ?? null,
    ...(options.generator ? { generator: options.generator } : {}),
    initialize: options.initialize ?? true,
  });
}
