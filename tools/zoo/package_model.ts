/**
 * Packages a training run as a model zoo entry (`zoo/NAME/`): the weights stored as float16,
 * the training log and loss curve, and `zoo.json` with the commands that made it and the COCO
 * accuracy on the validation split of the float32 weights and of the stored float16 ones (the
 * test `test/maskrcnn/train/zoo.test.ts` measures the stored weights again against that record).
 *
 * usage: node --import tsx tools/zoo/package_model.ts --run RUN_DIR --data DATA_DIR --name NAME
 *          --seed S --command "maskrcnn shapes ..." --command "maskrcnn train ..." [--description TEXT]
 *
 * RUN_DIR is a `maskrcnn train --out` folder (model.safetensors, checkpoint.safetensors,
 * log.jsonl, loss_curve.svg); DATA_DIR the `maskrcnn shapes --out` folder it trained on
 * (DATA_DIR/val is the validation split).
 */
import { copyFileSync, mkdirSync, readFileSync } from 'node:fs';
import { availableParallelism, cpus } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { CocoDetectionDataset } from '../../lib/maskrcnn/data/dataset.js';
import { evaluateModel } from '../../lib/maskrcnn/eval/inference.js';
import type { TrainHyperParameters } from '../../lib/maskrcnn/train/train.js';
import { loadCheckpoint } from '../../lib/nn/index.js';
import { loadWeights, saveWeights } from '../../lib/maskrcnn/model/weights.js';
import { zooDir, type ZooEntry, type ZooMetrics } from '../../lib/maskrcnn/train/zoo.js';
import { describeBackend } from '../../lib/ops/index.js';
import { writeFileAtomic } from '../../lib/util/atomic_write.js';

const { values } = parseArgs({
  options: {
    run: { type: 'string' },
    data: { type: 'string' },
    name: { type: 'string' },
    seed: { type: 'string' },
    command: { type: 'string', multiple: true },
    description: { type: 'string' },
  },
});
const run = values.run;
const data = values.data;
const name = values.name;
if (run === undefined || data === undefined || name === undefined || values.seed === undefined || values.command === undefined) {
  console.error('usage: package_model.ts --run RUN_DIR --data DATA_DIR --name NAME --seed S --command CMD [--command CMD ...] [--description TEXT]');
  process.exit(2);
}

const val = CocoDetectionDataset.fromDirectory(join(data, 'val'), { contiguousLabels: true });
const measure = (path: string): ZooMetrics => {
  const { model } = loadWeights(path);
  const e = evaluateModel(model, val);
  return { bbox: e.bbox.stats.map((x) => Number(x.toFixed(6))), segm: e.segm.stats.map((x) => Number(x.toFixed(6))) };
};
console.log(`backend: ${describeBackend()}`);
const source = join(run, 'model.safetensors');
const float32 = measure(source);
console.log(`float32: bbox AP50 ${float32.bbox[1]}, segm AP50 ${float32.segm[1]}`);

const dir = join(zooDir(), name);
mkdirSync(dir, { recursive: true });
const { model, classes } = loadWeights(source);
saveWeights(join(dir, 'model.safetensors'), model, { classes, half: true });
const stored = measure(join(dir, 'model.safetensors'));
console.log(`float16: bbox AP50 ${stored.bbox[1]}, segm AP50 ${stored.segm[1]}`);

const records = readFileSync(join(run, 'log.jsonl'), 'utf8').split('\n').filter((l) => l.trim() !== '').map((l) => JSON.parse(l) as Record<string, unknown>);
const trainRecords = records.filter((r) => r['type'] === 'train');
const last = trainRecords[trainRecords.length - 1]!;
const hyper = (loadCheckpoint(join(run, 'checkpoint.safetensors'), {}).extra as { hyper: TrainHyperParameters }).hyper;
const valInfo = JSON.parse(readFileSync(join(data, 'val', 'annotations.json'), 'utf8')) as { images: Array<{ width: number }> };
const entry: ZooEntry = {
  name,
  description: values.description ?? `Mask R-CNN, ${name} preset, trained from random weights by this project`,
  weights: 'model.safetensors',
  dtype: 'F16',
  validation: { seed: Number(values.seed), images: val.length, size: valInfo.images[0]?.width ?? 0 },
  commands: values.command,
  seed: Number(values.seed),
  training: {
    iterations: last['iteration'] as number,
    batchSize: hyper.batchSize,
    seconds: Math.round(last['elapsed'] as number),
    machine: `${availableParallelism()} cores (${cpus()[0]?.model ?? 'unknown CPU'}), ${describeBackend()}`,
  },
  metrics: { float32, stored },
  log: 'log.jsonl',
};
copyFileSync(join(run, 'log.jsonl'), join(dir, 'log.jsonl'));
copyFileSync(join(run, 'loss_curve.svg'), join(dir, 'loss_curve.svg'));
writeFileAtomic(join(dir, 'zoo.json'), `${JSON.stringify(entry, null, 2)}\n`, 'zoo entry');
console.log(`wrote ${dir}/{model.safetensors, zoo.json, log.jsonl, loss_curve.svg}`);
