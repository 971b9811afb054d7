import test from 'tape';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runShapes } from '../../../lib/maskrcnn/cli/shapes.js';
import { readCoco } from '../../../lib/maskrcnn/data/coco.js';
import { runCaptured, type CommandRun } from './capture.js';

const run = (argv: string[]): Promise<CommandRun> => runCaptured(runShapes, argv);

test('cli shapes: writes train and val splits with a summary', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'maskrcnn-cli-shapes-'));
  try {
    const out = join(dir, 'data');
    const r = await run(['--out', out, '--train', '4', '--val', '2', '--seed', '3', '--size', '64']);
    t.equal(r.code, 0, 'exit code 0');
    t.match(r.out, /train: 4 images, \d+ instances/, 'summary names the train split');
    t.match(r.out, /val: 2 images/, 'and the val split');
    t.deepEqual(readdirSync(join(out, 'train', 'images')).length, 4, '4 train PNGs');
    t.deepEqual(readdirSync(join(out, 'val', 'images')).length, 2, '2 val PNGs');
    const train = readCoco(join(out, 'train', 'annotations.json'));
    const val = readCoco(join(out, 'val', 'annotations.json'));
    t.deepEqual(train.images.map((im) => im.id), [1, 2, 3, 4], 'train image ids 1..4');
    t.deepEqual(val.images.map((im) => im.id), [5, 6], 'val image ids follow train');
    t.ok(train.images.every((im) => im.width === 64 && im.height === 64), '--size 64');
    t.notOk(
      readFileSync(join(out, 'train', 'images', '000001.png')).equals(readFileSync(join(out, 'val', 'images', '000005.png'))),
      'val images differ from train images',
    );

    const again = await run(['--out', out, '--train', '4', '--val', '2', '--seed', '3', '--size', '64']);
    t.equal(again.code, 1, 'refuses to write into a non-empty folder');
    t.match(again.err, /train is not empty; pass --force/, 'and says how to proceed');

    const before = readFileSync(join(out, 'train', 'annotations.json'));
    const forced = await run(['--out', out, '--train=4', '--val=2', '--seed=3', '--size=64', '--force']);
    t.equal(forced.code, 0, '--force overwrites (and --flag=value works)');
    t.ok(readFileSync(join(out, 'train', 'annotations.json')).equals(before), 'same seed: same annotations.json bytes');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('cli shapes: --help and bad flags', async (t) => {
  const help = await run(['--help']);
  t.equal(help.code, 0, '--help exits 0');
  t.match(help.out, /usage: maskrcnn shapes --out DIR/, '--help prints the usage');
  const cases: Array<[string[], RegExp]> = [
    [['--train', '3'], /--out DIR is required/],
    [['--out', 'x', '--train', 'many'], /--train must be an integer, got 'many'/],
    [['--out', 'x', '--val', '-1'], /--val must be an integer in 0\.\.10000000, got -1/],
    [['--out', 'x', '--size', '8'], /--size must be an integer in 16\.\.4096, got 8/],
    [['--out', 'x', '--seed'], /--seed needs a value/],
    [['--out', 'x', '--colour', 'red'], /unknown option '--colour'/],
    [['--out', 'x', 'extra'], /unexpected argument 'extra'/],
  ];
  for (const [argv, pattern] of cases) {
    const r = await run(argv);
    t.equal(r.code, 2, `${argv.join(' ')}: exit code 2`);
    t.match(r.err, pattern, `${argv.join(' ')}: error names the flag`);
  }
  t.notOk(existsSync('x'), 'nothing written on a usage error');
});

test('cli shapes: an --out folder that cannot be made is an error naming it, not an endless mkdir (issue 18)', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'maskrcnn-cli-shapes-file-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  writeFileSync(join(dir, 'a-file'), 'x');
  const r = await run(['--out', join(dir, 'a-file', 'data'), '--train', '1', '--val', '1']);
  t.equal(r.code, 1, 'exit code 1');
  t.match(r.err, /^maskrcnn shapes: cannot create .*a-file\/data\/train\/images: .*a-file is a file, not a folder$/, 'names the folder and why, with one prefix');
  const seed = await run(['--out', join(dir, 'neg'), '--train', '1', '--val', '1', '--seed', '-1', '--size', '32']);
  t.equal(seed.code, 0, `--seed -1 is a seed here (this parser reads the next word as the value) ${seed.err}`);
  t.end();
});
