import test from 'tape';
import { runBench } from '../../../lib/maskrcnn/cli/bench.js';
import { runCaptured, type CommandRun } from './capture.js';

const capture = (argv: string[]): Promise<CommandRun> => runCaptured(runBench, argv);

test('maskrcnn bench --help exits 0 with the usage', async (t) => {
  const r = await capture(['--help']);
  t.equal(r.code, 0, 'exit 0');
  t.ok(r.out.startsWith('usage: maskrcnn bench'), 'usage printed');
  t.ok(r.out.includes('--preset') && r.out.includes('--backend'), 'options listed');
  t.end();
});

test('maskrcnn bench: bad flags exit 2 naming the flag', async (t) => {
  const cases: Array<[string[], RegExp]> = [
    [['--bogus'], /unknown option '--bogus'/],
    [['--preset', 'huge'], /--preset must be one of shapes, paper, got 'huge'/],
    [['--runs', '0'], /--runs must be an integer in 1\.\.1000, got 0/],
    [['--image-size', '64x'], /--image-size must be PX or HxW/],
    [['--image-size', '64x96', '--mode', 'train-step'], /--image-size 64x96: a training step needs square images/],
    [['--preset', 'paper', '--mode', 'train-step'], /--mode train-step: the paper preset is benchmarked for inference only/],
    [['--backend', 'tpu'], /--backend must be one of wasm, reference, gpu, got 'tpu'/],
  ];
  for (const [argv, pattern] of cases) {
    const r = await capture(argv);
    t.equal(r.code, 2, `${argv.join(' ')}: exit 2`);
    t.ok(pattern.test(r.err), `${argv.join(' ')}: ${r.err.split('\n')[0]}`);
  }
  t.end();
});

test('maskrcnn bench: a tiny run prints the machine, the backend and the per-stage table', async (t) => {
  const r = await capture(['--runs', '1', '--warmup', '0', '--image-size', '64', '--mode', 'inference']);
  t.equal(r.code, 0, `exit 0 ${r.err}`);
  t.ok(/# machine: \d+ cores, load average [\d.]+ [\d.]+ [\d.]+/.test(r.out), 'cores and load average');
  t.ok(/# backend (wasm|reference|gpu): /.test(r.out), 'backend description');
  t.ok(/random initialisation/.test(r.out), 'says the weights are random');
  const header = r.out.split('\n').find((l) => l.startsWith('case | backend'));
  t.ok(header !== undefined && header.includes('backbone.body ms') && header.includes('roi_heads ms'), 'table header with the stages');
  t.ok(/\nmaskrcnn_shapes_64_inference \| \w+ \| 64x64 \| 1 \| 1 \| [\d.]+ \| [\d.]+ \|/.test(r.out), 'one row for the case');
  t.end();
});
