import test from 'tape';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { manualSeed } from '../../../lib/tensor/index.js';
import { MaskRCNN } from '../../../lib/maskrcnn/model/mask_rcnn.js';
import { shapesConfig } from '../../../lib/maskrcnn/model/config.js';
import { decodePng, writeShapes } from '../../../lib/maskrcnn/data/index.js';
import { saveWeights } from '../../../lib/maskrcnn/model/weights.js';
import { runPredict } from '../../../lib/maskrcnn/cli/predict.js';
import { runCaptured, type CommandRun } from './capture.js';

const capture = (argv: string[]): Promise<CommandRun> => runCaptured(runPredict, argv);

/** An untrained shapes model saved as weights, and two 64 px shapes images. */
function fixture(): { dir: string; weights: string; images: string } {
  const dir = mkdtempSync(join(tmpdir(), 'predict-cli-'));
  manualSeed(0);
  const weights = join(dir, 'model.safetensors');
  saveWeights(weights, new MaskRCNN(shapesConfig(4)), { classes: ['__background__', 'square', 'circle', 'triangle'] });
  writeShapes(join(dir, 'data'), { count: 2, size: 64 });
  return { dir, weights, images: join(dir, 'data', 'images') };
}

test('maskrcnn predict: a folder of images -> one overlay per image and COCO results; one line per image', async (t) => {
  const f = fixture();
  try {
    const out = join(f.dir, 'out');
    const r = await capture(['--weights', f.weights, '--image', f.images, '--out', out, '--score-threshold', '0']);
    t.equal(r.code, 0, `exit 0 ${r.err}`);
    const lines = r.out.split('\n');
    t.equal(lines.length, 3, 'one line per image and a summary');
    t.match(lines[0]!, /^1 .*000001\.png: \d+ detections? >= 0 \(/, 'first image, position 1, detections with names and scores');
    t.match(lines[0]!, /(square|circle|triangle) \d\.\d\d/, 'names from the weights file');
    for (const name of ['000001.png', '000002.png']) {
      t.ok(existsSync(join(out, name)), `overlay ${name}`);
      const png = decodePng(readFileSync(join(out, name)));
      t.deepEqual([png.width, png.height], [384, 384], `${name} enlarged to 384 px`);
    }
    const results = JSON.parse(readFileSync(join(out, 'results.json'), 'utf8')) as { image_id: number; category_id: number; bbox: number[]; segmentation: { counts: string; size: number[] } }[];
    t.ok(results.length > 0, `${results.length} results`);
    t.deepEqual([...new Set(results.map((x) => x.image_id))].sort(), [1, 2], 'image_id = 1-based position');
    t.ok(results.every((x) => x.category_id >= 1 && x.category_id <= 3 && x.bbox.length === 4 && x.segmentation.size.join() === '64,64'), 'labels as category ids, boxes, 64x64 RLE masks');
  } finally {
    rmSync(f.dir, { recursive: true, force: true });
  }
  t.end();
});

test('maskrcnn predict: --help, usage errors and bad files name the flag or file', async (t) => {
  const f = fixture();
  try {
    const image = join(f.images, '000001.png');
    const out = join(f.dir, 'out');
    const help = await capture(['--help']);
    t.equal(help.code, 0, '--help exits 0');
    t.match(help.out, /usage: maskrcnn predict \[--weights FILE\]/, 'help text');
    const noWeights = await capture(['--image', image, '--out', join(f.dir, 'zoo-out')]);
    t.equal(noWeights.code, 0, `no --weights: the model zoo's shapes detector runs (exit 0) ${noWeights.err}`);
    const zooResults = JSON.parse(readFileSync(join(f.dir, 'zoo-out', 'results.json'), 'utf8')) as Array<{ score: number }>;
    t.ok(zooResults.some((r) => r.score >= 0.5), `the trained zoo model finds shapes (${zooResults.filter((r) => r.score >= 0.5).length} detections >= 0.5)`);
    const gone = await capture(['--weights', join(f.dir, 'nope.safetensors'), '--image', image, '--out', out]);
    t.equal(gone.code, 2, 'nonexistent weights: exit 2');
    t.match(gone.err, /--weights .*nope\.safetensors: no such file/, 'names the file');
    const bogus = await capture(['--weights', f.weights, '--image', image, '--out', out, '--bogus']);
    t.equal(bogus.code, 2, 'unknown flag: exit 2');
    t.match(bogus.err, /unknown option '--bogus'/, 'names the flag');
    const noImage = await capture(['--weights', f.weights, '--image', join(f.dir, 'x.png'), '--out', out]);
    t.equal(noImage.code, 2, 'missing image: exit 2');
    t.match(noImage.err, /--image .*x\.png: no such file or folder/, 'names the image');
    const threshold = await capture(['--weights', f.weights, '--image', image, '--out', out, '--score-threshold', '2']);
    t.match(threshold.err, /--score-threshold must be in \[0, 1\], got 2/, 'bad threshold');
    const backend = await capture(['--weights', f.weights, '--image', image, '--out', out, '--backend', 'cuda']);
    t.match(backend.err, /--backend must be one of wasm, reference, gpu, got 'cuda'/, 'bad backend');
    const overwrite = await capture(['--weights', f.weights, '--image', image, '--out', f.images]);
    t.equal(overwrite.code, 2, 'output onto the input: exit 2');
    t.match(overwrite.err, /would overwrite the input image/, 'explains');
    writeFileSync(join(f.dir, 'junk.safetensors'), 'not a weights file');
    const junk = await capture(['--weights', join(f.dir, 'junk.safetensors'), '--image', image, '--out', out]);
    t.equal(junk.code, 1, 'unreadable weights: exit 1');
    t.match(junk.err, /junk\.safetensors/, 'names the file');
    writeFileSync(join(f.dir, 'a-file'), 'x');
    const underFile = await capture(['--weights', f.weights, '--image', image, '--out', join(f.dir, 'a-file', 'out')]);
    t.equal(underFile.code, 1, 'an --out folder that cannot be made: exit 1');
    t.match(underFile.err, /^maskrcnn predict: cannot create .*a-file\/out: .*a-file is a file, not a folder$/, 'names the folder and why, with one prefix');
    writeFileSync(join(f.dir, 'bad.png'), 'not a png');
    const badPng = await capture(['--weights', f.weights, '--image', join(f.dir, 'bad.png'), '--out', out]);
    t.equal(badPng.code, 1, 'bad PNG: exit 1');
    t.match(badPng.err, /bad\.png/, 'names the image');
  } finally {
    rmSync(f.dir, { recursive: true, force: true });
  }
  t.end();
});
