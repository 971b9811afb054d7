/**
 * Shape inference: the output shape of a module for an input shape, computed from the layers'
 * settings (kernel sizes, strides, paddings, channel counts) without running any arithmetic.
 * It answers "what size is C4 for a 1024x1024 image?" for a full-width ResNet-50 + FPN in
 * microseconds, where running it would take minutes on the reference loops.
 */
import { Module, Sequential } from './module.js';
import { BatchNorm2d, Conv2d, FrozenBatchNorm2d, Identity, MaxPool2d, ReLU } from './layers.js';

/** An NCHW shape `[N, C, H, W]`. */
export type Shape4 = readonly [number, number, number, number];

/** A module that knows its own output shape (blocks, networks). */
export interface ShapeInference {
  /** The output shape for an input of `shape`. */
  outputShape(shape: Shape4): Shape4;
}

function hasOutputShape(m: Module): m is Module & ShapeInference {
  return typeof (m as Partial<ShapeInference>).outputShape === 'function';
}

/**
 * The output shape of `module` for an NCHW input `shape`: convolutions and max pooling by
 * their size formulas, normalizations and ReLU keep the shape, a {@link Sequential} chains its
 * children, and a module with an `outputShape` method (ResNet blocks, ResNet) answers itself.
 * Channel counts are checked on the way (`inferShape: Conv2d expects 64 input channels, got 32`).
 */
export function inferShape(module: Module, shape: Shape4): Shape4 {
  const [n, c, h, w] = shape;
  const expectChannels = (want: number): void => {
    if (c !== want) throw new Error(`inferShape: ${module.constructor.name} expects ${want} input channels, got ${c} (shape [${shape}])`);
  };
  if (module instanceof Conv2d) {
    expectChannels(module.inChannels);
    const [ho, wo] = module.outputSize([h, w]);
    if (ho < 1 || wo < 1) throw new Error(`inferShape: Conv2d gives an empty ${ho}x${wo} output for input [${shape}]`);
    return [n, module.outChannels, ho, wo];
  }
  if (module instanceof MaxPool2d) {
    const [ho, wo] = module.outputSize([h, w]);
    return [n, c, ho, wo];
  }
  if (module instanceof BatchNorm2d || module instanceof FrozenBatchNorm2d) {
    expectChannels(module.numFeatures);
    return shape;
  }
  if (module instanceof ReLU || module instanceof Identity) return shape;
  if (hasOutputShape(module)) return module.outputShape(shape);
  if (module instanceof Sequential) return module.children().reduce((s, child) => inferShape(child, s), shape);
  throw new Error(`inferShape: no shape rule for ${module.constructor.name}`);
}
