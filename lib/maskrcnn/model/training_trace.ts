/**
 * The training-only stages of the detector for inspection: what {@link MaskRCNN.forward} traces in
 * training mode with targets (the RPN's anchor labels, the sampled RoIs and their regression
 * targets, the mask targets, the five loss terms), obtained without changing the model.
 *
 * @module
 */
import { Tensor, defaultGenerator, manualSeed, noGrad } from '../../tensor/index.js';
import type { MaskRCNN } from './mask_rcnn.js';
import type { Target } from './types.js';
import type { Trace } from './trace.js';

/** Options of {@link traceTraining}. */
export interface TraceTrainingOptions {
  /** Seed the global random stream (the RoI and anchor samplers draw from it) for this pass only (default: draw from it as it is). */
  seed?: number;
}

/**
 * Runs `model` once in training mode on `images` with `targets`, with the trace on and no
 * gradients, and returns the trace (training-mode names: `train.rpn.*`, `train.roi_heads.*`,
 * `loss.*`). A training-mode pass normalises with the batch's statistics and updates every
 * BatchNorm's running averages and batch count, and the samplers draw from the global random
 * stream: all of these (every buffer of the model, the stream's state) are restored afterwards,
 * as is the model's mode, so the model predicts exactly as before.
 */
export function traceTraining(model: MaskRCNN, images: readonly Tensor[], targets: readonly Target[], options: TraceTrainingOptions = {}): Trace {
  const wasTraining = model.training;
  const rng = defaultGenerator.getState();
  const buffers = model.buffers();
  const saved = buffers.map((b) => b.data.slice());
  try {
    if (options.seed !== undefined) manualSeed(options.seed);
    model.train();
    return noGrad(() => model.forward(images, targets, { trace: true })).trace;
  } finally {
    buffers.forEach((b, i) => b.data.set(saved[i]!));
    defaultGenerator.setState(rng);
    if (wasTraining) model.train();
    else model.eval();
  }
}
