/**
 * The tiny torchvision fixture model (`test/fixtures/model`) with an evaluation trace and a
 * training trace of one image (the `random` run's image, the `train` run's first target), for
 * the tests that read real traces.
 */
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { noGrad } from '../../lib/tensor/index.js';
import { SafetensorsFile } from '../../lib/nn/index.js';
import type { MaskRCNN, Target, Trace } from '../../lib/maskrcnn/index.js';
import type { Tensor } from '../../lib/tensor/index.js';
import { loadFixtureModel } from '../../tools/parity/model.js';

/** What {@link fixtureTraces} returns. */
export interface FixtureTraces {
  model: MaskRCNN;
  image: Tensor;
  target: Target;
  evalTrace: Trace;
  trainTrace: Trace;
}

/** Loads the fixture model and traces one image in evaluation mode and, with its target, in training mode (no gradients; the model is left in evaluation mode). */
export function fixtureTraces(): FixtureTraces {
  const dir = fileURLToPath(new URL('../fixtures/model/', import.meta.url));
  const model = loadFixtureModel(dir);
  const random = SafetensorsFile.open(join(dir, 'goldens_random.safetensors'));
  const train = SafetensorsFile.open(join(dir, 'goldens_train.safetensors'));
  const image = random.read('input.image.0');
  const target = { boxes: train.read('target.boxes.0'), labels: train.read('target.labels.0'), masks: train.read('target.masks.0') };
  random.close();
  train.close();
  model.eval();
  const evalTrace = noGrad(() => model.forward([image], undefined, { trace: true }).trace);
  model.train();
  const trainTrace = noGrad(() => model.forward([image], [target], { trace: true }).trace);
  model.eval();
  return { model, image, target, evalTrace, trainTrace };
}
