import test from 'tape';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { manualSeed } from '../../../lib/tensor/index.js';
import { MaskRCNN } from '../../../lib/maskrcnn/model/mask_rcnn.js';
import { shapesConfig } from '../../../lib/maskrcnn/model/config.js';
import { writeShapes } from '../../../lib/maskrcnn/data/index.js';
import { saveWeights } from '../../../lib/maskrcnn/model/weights.js';
import { runInspect } from '../../../lib/maskrcnn/cli/inspect.js';
import { runCaptured, type CommandRun } from './capture.js';

const capture = (argv: string[]): Promise<CommandRun> => runCaptured(runInspect, argv);

test('maskrcnn inspect: writes the stages and prints the index path; --annotations adds the training stages', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'inspect-cli-'));
  try {
    manualSeed(0);
    const weights = join(dir, 'model.safetensors');
    saveWeights(weights, new MaskRCNN(shapesConfig(4)), { classes: ['__background__', 'square', 'circle', 'triangle'] });
    writeShapes(join(dir, 'data'), { count: 2, size: 64 });
    const image = join(dir, 'data', 'images', '000002.png');
    const plain = await capture(['--weights', weights, '--image', image, '--out', join(dir, 'a')]);
    t.equal(plain.code, 0, `exit 0 ${plain.err}`);
    t.equal(plain.out.split('\n').at(-1), join(dir, 'a', 'index.html'), 'prints the index path last');
    t.ok(existsSync(join(dir, 'a', 'index.html')) && existsSync(join(dir, 'a', 'trace.json')), 'index.html and trace.json');
    t.ok(existsSync(join(dir, 'a', '05_proposals.png')) && existsSync(join(dir, 'a', '13_fpn_P6.png')), 'stage PNGs');
    t.notOk(existsSync(join(dir, 'a', '06_rpn_targets.png')), 'no training stages without annotations');
    const withGt = await capture(['--weights', weights, '--image', image, '--out', join(dir, 'b'), '--annotations', join(dir, 'data', 'annotations.json')]);
    t.equal(withGt.code, 0, `exit 0 with --annotations ${withGt.err}`);
    for (const f of ['01_ground_truth.png', '06_rpn_targets.png', '07_sampled_rois.png', '08_mask_targets.png']) t.ok(existsSync(join(dir, 'b', f)), f);
    const html = readFileSync(join(dir, 'b', 'index.html'), 'utf8');
    t.match(html, /Training losses on this image/, 'losses on the page');

    const help = await capture(['--help']);
    t.equal(help.code, 0, '--help exits 0');
    t.match(help.out, /usage: maskrcnn inspect \[--weights FILE\]/, 'help text');
    const noWeights = await capture(['--image', image, '--out', join(dir, 'zoo')]);
    t.equal(noWeights.code, 0, `no --weights: the model zoo's shapes detector (exit 0) ${noWeights.err}`);
    t.ok(existsSync(join(dir, 'zoo', 'index.html')), 'its inspection page is written');
    const gone = await capture(['--weights', join(dir, 'nope.safetensors'), '--image', image, '--out', join(dir, 'c')]);
    t.equal(gone.code, 2, 'nonexistent weights: exit 2');
    t.match(gone.err, /--weights .*nope\.safetensors: no such file/, 'names the file');
    const bogus = await capture(['--weights', weights, '--image', image, '--out', join(dir, 'c'), '--verbose']);
    t.equal(bogus.code, 2, 'unknown flag: exit 2');
    t.match(bogus.err, /unknown option '--verbose'/, 'names the flag');
    const twoImages = await capture(['--weights', weights, '--image', image, '--image', image, '--out', join(dir, 'c')]);
    t.equal(twoImages.code, 2, 'two --image: exit 2');
    t.match(twoImages.err, /--image takes one image, got 2/, 'says so');
    writeFileSync(join(dir, 'other.json'), JSON.stringify({ images: [{ id: 1, width: 64, height: 64, file_name: 'zzz.png' }], annotations: [], categories: [{ id: 1, name: 'a' }] }));
    const notListed = await capture(['--weights', weights, '--image', image, '--out', join(dir, 'c'), '--annotations', join(dir, 'other.json')]);
    t.equal(notListed.code, 1, 'image not in the annotations: exit 1');
    t.match(notListed.err, /other\.json: no image has file_name '000002\.png'/, 'names the file and the image');
    const underFile = await capture(['--weights', weights, '--image', image, '--out', join(dir, 'other.json', 'out')]);
    t.equal(underFile.code, 1, 'an --out folder that cannot be made: exit 1');
    t.match(underFile.err, /^maskrcnn inspect: cannot create .*other\.json\/out: .*other\.json is a file, not a folder$/, 'names the folder and why, with one prefix');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  t.end();
});
