import test from 'tape';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { runConvert } from '../../../lib/maskrcnn/cli/convert.js';
import { runTrain } from '../../../lib/maskrcnn/cli/train.js';
import { runEval } from '../../../lib/maskrcnn/cli/eval.js';
import { main } from '../../../lib/maskrcnn/cli/main.js';
import { parseCoco, writeCoco } from '../../../lib/maskrcnn/data/coco.js';
import { writePng } from '../../../lib/maskrcnn/data/png.js';
import { TRAIN_FILES } from '../../../lib/maskrcnn/train/train.js';
import { Tensor } from '../../../lib/tensor/index.js';
import { runCaptured } from './capture.js';

const FIXTURES = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'fixtures', 'jpeg');

/** A labelme folder of `count` 48x40 PNG images (and one JPEG) with a square and a triangle each. */
function labelmeFolder(dir: string, count: number): void {
  for (let i = 0; i < count; i++) {
    const pixels = new Float32Array(3 * 40 * 48);
    for (let y = 4; y < 16; y++) for (let x = 4 + i; x < 16 + i; x++) pixels[y * 48 + x] = 1; // a red square
    writePng(join(dir, `img${i}.png`), new Tensor(pixels, [3, 40, 48], 'float32'));
    writeFileSync(join(dir, `img${i}.json`), JSON.stringify({
      imagePath: `img${i}.png`, imageWidth: 48, imageHeight: 40,
      shapes: [
        { label: 'square', points: [[4 + i, 4], [16 + i, 4], [16 + i, 16], [4 + i, 16]], shape_type: 'polygon' },
        { label: 'triangle', points: [[30, 20], [44, 36], [26, 36]], shape_type: 'polygon' },
      ],
    }));
  }
  copyFileSync(join(FIXTURES, 'rgb.jpg'), join(dir, 'photo.jpg'));
  writeFileSync(join(dir, 'photo.json'), JSON.stringify({
    imagePath: 'photo.jpg', imageWidth: 32, imageHeight: 24,
    shapes: [{ label: 'square', points: [[8, 4], [22, 4], [22, 18], [8, 18]], shape_type: 'polygon' }, { label: 'square', points: [[1, 1], [2, 2]], shape_type: 'polygon' }],
  }));
}

test('cli convert: --help, usage errors, and a labelme folder to train and val COCO files with a summary', async (t) => {
  const help = await runCaptured(main, ['convert', '--help']);
  t.equal(help.code, 0, '--help exits 0');
  t.match(help.out, /maskrcnn convert labelme DIR --out FILE/, 'and shows both forms');
  const usage = await runCaptured(main, ['--help']);
  t.match(usage.out, /convert\s+labelme or VIA annotations to COCO JSON/, 'maskrcnn --help lists convert');
  t.match((await runCaptured(runConvert, ['--out', 'x.json'])).err, /the format is required: labelme DIR or via FILE/, 'no format: said so');
  t.match((await runCaptured(runConvert, ['yolo', 'd', '--out', 'x.json'])).err, /unknown format 'yolo' \(labelme or via\)/, 'an unknown format is named');
  const noDir = await runCaptured(runConvert, ['labelme', '/nonexistent/lm', '--out', 'x.json']);
  t.equal(noDir.code, 2, 'a missing folder exits 2');
  t.match(noDir.err, /labelme \/nonexistent\/lm: no such folder/, 'naming it');
  t.match((await runCaptured(runConvert, ['labelme', '.', '--out', 'x.json', '--seed', '3'])).err, /--val-out and --seed need --val-fraction/, '--seed without --val-fraction is refused');
  const dir = mkdtempSync(join(tmpdir(), 'cli-convert-'));
  try {
    labelmeFolder(dir, 4);
    const out = join(dir, 'coco.json');
    const r = await runCaptured(runConvert, ['labelme', dir, '--out', out, '--val-fraction', '0.2', '--seed', '1']);
    t.equal(r.code, 0, `exit 0 ${r.err}`);
    t.match(r.out, /photo\.json: shape 1: a polygon of 2 points \(label "square"\) needs at least 3: dropped/, 'the bad shape is printed with its file and index');
    t.match(r.out, /5 annotation files: 5 images kept, 0 dropped; 9 annotations kept \(0 with points clipped to their image\), 1 dropped \(too-few-points: 1\)/, 'the summary counts kept and dropped per reason');
    t.match(r.out, /categories: 1 square, 2 triangle/, 'the categories');
    const train = parseCoco(readFileSync(out, 'utf8'));
    const val = parseCoco(readFileSync(join(dir, 'coco_val.json'), 'utf8'));
    t.deepEqual([train.images.length, val.images.length], [4, 1], 'the split: 4 train images, 1 validation image, in coco.json and coco_val.json');
    const again = await runCaptured(runConvert, ['labelme', dir, '--out', join(dir, 'again.json'), '--val-fraction', '0.2', '--seed', '1', '--val-out', join(dir, 'v.json')]);
    t.equal(again.code, 0, '--val-out');
    t.deepEqual(parseCoco(readFileSync(join(dir, 'v.json'), 'utf8')).images, val.images, 'the same seed, the same split');
    const strict = await runCaptured(runConvert, ['labelme', dir, '--out', join(dir, 'strict.json'), '--classes', 'square']);
    t.match(strict.out, /img0\.json: shape 1: label "triangle" is not one of the classes \(square\): dropped/, '--classes: other labels are named');
    const nested = await runCaptured(runConvert, ['labelme', dir, '--out', join(dir, 'new', 'data', 'train.json'), '--val-fraction', '0.2', '--val-out', join(dir, 'other', 'val.json')]);
    t.equal(nested.code, 0, 'output folders that do not exist yet are created');
    t.deepEqual([existsSync(join(dir, 'new', 'data', 'train.json')), existsSync(join(dir, 'other', 'val.json'))], [true, true], 'both files written there');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  t.end();
});

test('cli train and eval: --images DIR --annotations FILE on a converted set with non-contiguous category ids', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'cli-own-data-'));
  try {
    labelmeFolder(dir, 3);
    const out = join(dir, 'coco.json');
    t.equal((await runCaptured(runConvert, ['labelme', dir, '--out', out, '--val-fraction', '0.25', '--seed', '0'])).code, 0, 'converted');
    // as COCO: category ids with gaps
    for (const file of [out, join(dir, 'coco_val.json')]) {
      const coco = parseCoco(readFileSync(file, 'utf8'));
      const remap = new Map([[1, 3], [2, 7]]);
      coco.categories = coco.categories.map((c) => ({ ...c, id: remap.get(c.id)! }));
      coco.annotations = coco.annotations.map((a) => ({ ...a, category_id: remap.get(a.category_id)! }));
      writeCoco(file, coco);
    }
    const run = join(dir, 'run');
    const trained = await runCaptured(runTrain, [
      '--images', dir, '--annotations', out, '--val-annotations', join(dir, 'coco_val.json'), '--out', run,
      '--iterations', '2', '--batch-size', '1', '--checkpoint-every', '1', '--eval-limit', '1',
    ]);
    t.equal(trained.code, 0, `train exits 0 ${trained.err}`);
    t.match(trained.out, /3 training images, 1 validation images, 2 classes \(square, triangle\)/, 'it describes the data');
    t.match(trained.out, /trained 2 iterations/, 'and trains 2 iterations');
    t.ok(existsSync(join(run, TRAIN_FILES.weights)), 'weights written');
    const evaluated = await runCaptured(runEval, ['--weights', join(run, TRAIN_FILES.weights), '--images', dir, '--annotations', join(dir, 'coco_val.json'), '--json']);
    t.equal(evaluated.code, 0, `eval exits 0 ${evaluated.err}`);
    const report = JSON.parse(evaluated.out) as { images: number; bbox: { stats: number[] }; segm: { stats: number[] } };
    t.equal(report.images, 1, 'eval ran the validation image');
    t.equal(report.segm.stats.length, 12, 'and gives the 12 segm numbers');
    const both = await runCaptured(runTrain, ['--data', dir, '--images', dir, '--out', run]);
    t.match(both.err, /--images cannot be combined with --data/, 'train: --data with --images is refused');
    const half = await runCaptured(runTrain, ['--images', dir, '--out', run]);
    t.match(half.err, /--images needs --annotations FILE/, 'train: --images without --annotations is named');
    const none = await runCaptured(runTrain, ['--out', run]);
    t.match(none.err, /--data is required \(or --images DIR --annotations FILE\)/, 'train: no data');
    const evalHalf = await runCaptured(runEval, ['--weights', join(run, TRAIN_FILES.weights), '--annotations', out]);
    t.match(evalHalf.err, /--annotations needs --images DIR/, 'eval: --annotations without --images is named');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  t.end();
});

test('cli convert: labelme files with only an embedded image (imageData) are written out beside --out, or to --image-data-dir', async (t) => {
  const root = mkdtempSync(join(tmpdir(), 'cli-convert-data-'));
  try {
    const dir = join(root, 'lm');
    mkdirSync(dir);
    const jpeg = readFileSync(join(FIXTURES, 's420.jpg'));
    writeFileSync(join(dir, 'shared.json'), JSON.stringify({
      imagePath: 'C:\\Users\\someone\\Pictures\\shared.jpg', imageData: jpeg.toString('base64'), imageWidth: 32, imageHeight: 24,
      shapes: [{ label: 'sun', points: [[8, 4], [22, 4], [22, 18], [8, 18]], shape_type: 'polygon' }],
    }));
    const out = join(root, 'data', 'train.json');
    const r = await runCaptured(runConvert, ['labelme', dir, '--out', out]);
    t.equal(r.code, 0, `exit 0 ${r.err}`);
    t.match(r.out, /1 image embedded in labelme files \(imageData\) written to .*data\/train_images/, 'the summary says where the embedded image went');
    t.deepEqual(readFileSync(join(root, 'data', 'train_images', 'shared.jpg')), jpeg, 'written beside --out, named after the JSON file');
    t.deepEqual(parseCoco(readFileSync(out, 'utf8')).images.map((im) => im.file_name), ['../data/train_images/shared.jpg'], 'file_name relative to the labelme folder');
    const other = join(root, 'elsewhere');
    const r2 = await runCaptured(runConvert, ['labelme', dir, '--out', out, '--image-data-dir', other]);
    t.equal(r2.code, 0, `--image-data-dir: exit 0 ${r2.err}`);
    t.ok(existsSync(join(other, 'shared.jpg')), '--image-data-dir chooses the folder');
    t.match((await runCaptured(runConvert, ['via', out, '--out', out, '--image-data-dir', other])).err, /--image-data-dir is for labelme, not via/, 'refused for via');
    t.match((await runCaptured(main, ['convert', '--help'])).out, /--image-data-dir DIR \(labelme\) where to write images embedded in labelme files/, 'documented in --help');
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});
