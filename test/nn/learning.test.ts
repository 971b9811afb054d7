import test from 'tape';
import { Generator, noGrad } from '../../lib/index.js';
import { Sequential, Conv2d, ReLU, MaxPool2d, Flatten, Linear, SGD, Adam, crossEntropy, init, type Optimizer, type LearningRate } from '../../lib/nn/index.js';
import { makeShapes, type ShapesBatch } from './shapes_data.js';

const SIZE = 16;

/** conv3x3(1->6) relu pool -> conv3x3(6->12) relu pool -> linear(192->3), He-normal convolutions (ReLU gain). */
function makeCnn(seed: number): Sequential {
  const g = new Generator(seed);
  const model = new Sequential([
    new Conv2d(1, 6, 3, { padding: 1, generator: g }), // 16x16
    new ReLU(),
    new MaxPool2d(2), // 8x8
    new Conv2d(6, 12, 3, { padding: 1, generator: g }),
    new ReLU(),
    new MaxPool2d(2), // 4x4
    new Flatten(),
    new Linear(12 * 4 * 4, 3, { generator: g }),
  ]);
  for (const m of model.children()) if (m instanceof Conv2d) init.kaimingNormal(m.weight, { nonlinearity: 'relu', generator: g });
  return model;
}

/** Standardised inputs (the images' mean is about 0.3, their std about 0.35). */
function standardise(batch: ShapesBatch): ShapesBatch {
  return { images: batch.images.sub(0.3).div(0.35), labels: batch.labels };
}

function accuracy(model: Sequential, data: ShapesBatch): number {
  const logits = noGrad(() => model.forward(data.images));
  const predicted = logits.argmax(1);
  let correct = 0;
  for (let i = 0; i < data.labels.size; i++) if (predicted.data[i] === data.labels.data[i]) correct++;
  return correct / data.labels.size;
}

function train(model: Sequential, opt: Optimizer<LearningRate>, data: ShapesBatch, epochs: number, batchSize: number): number[] {
  const n = data.labels.size;
  const losses: number[] = [];
  for (let epoch = 0; epoch < epochs; epoch++) {
    let total = 0;
    for (let start = 0; start < n; start += batchSize) {
      const len = Math.min(batchSize, n - start);
      const x = data.images.narrow(0, start, len);
      const y = data.labels.narrow(0, start, len);
      opt.zeroGrad();
      const loss = crossEntropy(model.forward(x), y);
      loss.backward();
      opt.step();
      total += loss.item() * len;
    }
    losses.push(total / n);
  }
  return losses;
}

const trainSet = standardise(makeShapes(300, SIZE, new Generator(100)));
const testSet = standardise(makeShapes(150, SIZE, new Generator(200)));

for (const [name, makeOpt, epochs] of [
  ['SGD + momentum 0.9', (m: Sequential) => new SGD(m.parameters(), { lr: 0.02, momentum: 0.9 }), 4],
  ['Adam', (m: Sequential) => new Adam(m.parameters(), { lr: 0.01 }), 4],
] as const) {
  test(`learning: a small CNN (Conv2d, ReLU, MaxPool2d, Linear) trained with ${name} classifies squares / circles / triangles >= 95% held out`, (t) => {
    const model = makeCnn(7);
    const before = accuracy(model, testSet);
    const started = Date.now();
    const losses = train(model, makeOpt(model), trainSet, epochs, 20);
    const after = accuracy(model, testSet);
    t.comment(`${name}: loss ${losses.map((l) => l.toFixed(3)).join(' -> ')}; held-out accuracy ${before.toFixed(3)} -> ${after.toFixed(3)} in ${Date.now() - started} ms`);
    t.ok(losses[losses.length - 1]! < 0.5 * losses[0]!, 'the training loss at least halved');
    t.ok(after >= 0.95, `held-out accuracy ${(100 * after).toFixed(1)}% >= 95% (150 images not seen in training)`);
    t.end();
  });
}
