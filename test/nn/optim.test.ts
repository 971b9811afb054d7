import test from 'tape';
import { readFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Tensor, tensor, randn, Generator } from '../../lib/index.js';
import {
  SGD,
  Adam,
  AdamW,
  clipGradNorm,
  gradNorm,
  Linear,
  Sequential,
  ReLU,
  LRScheduler,
  chainSchedules,
  linearWarmup,
  multiStepDecay,
  crossEntropy,
  saveCheckpoint,
  loadCheckpoint,
  type Optimizer,
} from '../../lib/nn/index.js';
import { assertClose, assertThrowsMessage } from '../helpers.js';

interface OptimCase {
  name: string;
  shape: number[];
  param: number[];
  grads: number[][];
  after: number[][];
  options: { type: 'SGD' | 'Adam' | 'AdamW'; lr: number; [k: string]: unknown };
}
interface OptimFixture {
  torch_version: string;
  cases: OptimCase[];
  clip_grad_norm: Array<{ max_norm: number; grads: number[][]; total_norm: number; clipped: number[][] }>;
}

const fixture = JSON.parse(readFileSync(new URL('../fixtures/nn/optim_torch.json', import.meta.url), 'utf8')) as OptimFixture;

function build(params: Tensor[], o: OptimCase['options']): Optimizer<{ lr: number }> {
  const { type, ...rest } = o;
  const options = rest as { lr: number; betas?: [number, number] };
  if (type === 'SGD') return new SGD(params, options);
  if (type === 'Adam') return new Adam(params, options);
  return new AdamW(params, options);
}

test(`SGD / Adam / AdamW: updates match torch ${fixture.torch_version} step by step (tools/oracle/model_optim.py)`, (t) => {
  for (const c of fixture.cases) {
    const p = tensor(c.param, { shape: c.shape }).requiresGrad_();
    const opt = build([p], c.options);
    c.grads.forEach((g, step) => {
      p.grad = tensor(g, { shape: c.shape });
      opt.step();
      assertClose(t, p.reshape(-1).detach(), c.after[step]!, `${c.name}: step ${step + 1}`, 1e-7, 1e-6);
    });
  }
  t.end();
});

test('clipGradNorm: total 2-norm, returns the norm, clips only above max_norm (torch values)', (t) => {
  for (const c of fixture.clip_grad_norm) {
    const a = tensor(0).requiresGrad_();
    const b = tensor(0).requiresGrad_();
    a.grad = tensor(c.grads[0]!);
    b.grad = tensor(c.grads[1]!);
    const unused = tensor(0).requiresGrad_();
    const measured = gradNorm([a, b, unused]);
    assertClose(t, measured, c.total_norm, `gradNorm: the same total norm`, 1e-6, 1e-6);
    assertClose(t, [...a.grad.data, ...b.grad.data], c.grads.flat(), 'gradNorm leaves the gradients unchanged', 0, 0);
    const total = clipGradNorm([a, b, unused], c.max_norm);
    assertClose(t, total, c.total_norm, `max_norm ${c.max_norm}: total norm`, 1e-6, 1e-6);
    assertClose(t, [...a.grad.data, ...b.grad.data], c.clipped.flat(), `max_norm ${c.max_norm}: clipped gradients`, 1e-7, 1e-6);
  }
  t.end();
});

test('optimisers: parameter groups, skipped parameters, bad settings', (t) => {
  const a = tensor([1, 1]).requiresGrad_();
  const b = tensor([1, 1]).requiresGrad_();
  const c = tensor([1, 1]).requiresGrad_();
  const opt = new SGD([{ params: [a] }, { params: [b, c], lr: 0.5 }], { lr: 0.1 });
  a.grad = tensor([1, 2]);
  b.grad = tensor([1, 2]);
  opt.step();
  assertClose(t, a, [0.9, 0.8], 'group 0 uses the default lr');
  assertClose(t, b, [0.5, 0], 'group 1 uses its own lr');
  assertClose(t, c, [1, 1], 'a parameter without a gradient is skipped');
  opt.zeroGrad();
  t.ok(a.grad === null && b.grad === null, 'zeroGrad sets grads to null');
  assertThrowsMessage(t, () => new SGD([a], { lr: 0.1, nesterov: true }), 'Nesterov momentum requires a momentum', 'nesterov without momentum');
  assertThrowsMessage(t, () => new Adam([a], { betas: [0.9, 1] }), 'betas must be two numbers in [0, 1)', 'bad betas');
  assertThrowsMessage(t, () => new SGD([], { lr: 0.1 }), 'empty parameter list', 'no parameters');
  assertThrowsMessage(t, () => new SGD([{ params: [a] }, { params: [a] }], { lr: 0.1 }), 'more than one group', 'duplicate parameter');
  t.end();
});

function makeModel(seed: number): Sequential {
  const g = new Generator(seed);
  return new Sequential([new Linear(4, 8, { generator: g }), new ReLU(), new Linear(8, 3, { generator: g })]);
}

/** One seeded batch per step: the data stream is a pure function of the step number. */
function batch(step: number): { x: Tensor; y: Tensor } {
  const g = new Generator(1000 + step);
  const x = randn([6, 4], { generator: g });
  const y = tensor(Array.from({ length: 6 }, (_, i) => (i + step) % 3), { dtype: 'int32' });
  return { x, y };
}

function trainSteps(model: Sequential, opt: Optimizer<{ lr: number }>, scheduler: LRScheduler, from: number, to: number): void {
  for (let step = from; step < to; step++) {
    const { x, y } = batch(step);
    opt.zeroGrad();
    crossEntropy(model.forward(x), y).backward();
    clipGradNorm(model.parameters(), 5);
    opt.step();
    scheduler.step();
  }
}

test('resume: train N steps, checkpoint, fresh objects, load, continue = bit-identical to an uninterrupted run', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'nn-resume-'));
  try {
    const makers: Array<[string, (m: Sequential) => Optimizer<{ lr: number }>]> = [
      ['SGD momentum + nesterov + wd', (m) => new SGD(m.parameters(), { lr: 0.05, momentum: 0.9, nesterov: true, weightDecay: 1e-4 })],
      ['Adam amsgrad', (m) => new Adam(m.parameters(), { lr: 0.01, amsgrad: true })],
      ['AdamW', (m) => new AdamW([{ params: m.parameters().slice(0, 2) }, { params: m.parameters().slice(2), lr: 0.002 }], { lr: 0.01 })],
    ];
    const schedule = chainSchedules(linearWarmup({ warmupFactor: 0.001, warmupIters: 4 }), multiStepDecay({ milestones: [6, 9], gamma: 0.1 }));
    for (const [label, make] of makers) {
      const straight = makeModel(1);
      const opt1 = make(straight);
      const sched1 = new LRScheduler(opt1, schedule);
      trainSteps(straight, opt1, sched1, 0, 12);

      const first = makeModel(1);
      const opt2 = make(first);
      const sched2 = new LRScheduler(opt2, schedule);
      trainSteps(first, opt2, sched2, 0, 5);
      const path = join(dir, 'ckpt.safetensors');
      saveCheckpoint(path, { model: first, optimizer: opt2, scheduler: sched2, extra: { step: 5 } });

      const resumed = makeModel(99); // different init: everything must come from the file
      const opt3 = make(resumed);
      const sched3 = new LRScheduler(opt3, schedule);
      const { extra } = loadCheckpoint(path, { model: resumed, optimizer: opt3, scheduler: sched3 });
      t.deepEqual(extra, { step: 5 }, `${label}: extra JSON round-trips`);
      t.deepEqual(sched3.getLastLr(), sched2.getLastLr(), `${label}: learning rates restored`);
      trainSteps(resumed, opt3, sched3, (extra as { step: number }).step, 12);
      const same = straight.parameters().every((p, i) => {
        const q = resumed.parameters()[i]!;
        return p.data.every((v, j) => Object.is(v, q.data[j]));
      });
      t.ok(same, `${label}: parameters bit-identical after 12 steps (5 + resume + 7)`);
    }
    assertThrowsMessage(
      t,
      () => loadCheckpoint(join(dir, 'ckpt.safetensors'), { optimizer: new SGD(makeModel(1).parameters(), { lr: 1 }) }),
      'holds the state of AdamW, not of SGD',
      'loading the wrong optimiser type',
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  t.end();
});

test('optimizer stateDict / loadStateDict in memory; shape mismatch is refused', (t) => {
  const p = randn([3], { generator: new Generator(4) }).requiresGrad_();
  const opt = new Adam([p], { lr: 0.1 });
  p.grad = tensor([1, -1, 0.5]);
  opt.step();
  const sd = opt.stateDict();
  t.equal(sd.state['0']!['step'], 1, 'step count saved');
  t.deepEqual(sd.paramGroups[0]!.params, [0], 'params as indices');
  const q = randn([3]).requiresGrad_();
  const opt2 = new Adam([q], { lr: 0.5 });
  opt2.loadStateDict(sd);
  t.equal(opt2.paramGroups[0]!.options.lr, 0.1, 'hyper-parameters restored');
  const wrong = new Adam([randn([4]).requiresGrad_()]);
  assertThrowsMessage(t, () => wrong.loadStateDict(sd), "state 'exp_avg' of parameter 0 has shape [3] but the parameter has shape [4]", 'shape mismatch');
  t.end();
});

test('SGD / AdamW: the branch-free loops of the usual step give the bits of the general loop (maximize on negated gradients)', (t) => {
  const cases: Array<[string, (ps: Tensor[], maximize: boolean) => Optimizer<{ lr: number }>]> = [
    ['SGD momentum + weight decay', (ps, maximize) => new SGD(ps, { lr: 0.01, momentum: 0.9, weightDecay: 1e-2, maximize })],
    ['SGD momentum, no weight decay', (ps, maximize) => new SGD(ps, { lr: 0.01, momentum: 0.9, dampening: 0.25, maximize })],
    ['AdamW', (ps, maximize) => new AdamW(ps, { lr: 1e-2, weightDecay: 0.05, maximize })],
  ];
  const gen = new Generator(7);
  for (const [name, make] of cases) {
    const init = randn([257], { generator: gen });
    const fast = tensor([...init.data]).requiresGrad_();
    const general = tensor([...init.data]).requiresGrad_();
    const fastOpt = make([fast], false);
    const generalOpt = make([general], true);
    for (let step = 0; step < 4; step++) {
      const g = randn([257], { generator: gen });
      fast.grad = g;
      general.grad = g.neg();
      fastOpt.step();
      generalOpt.step();
    }
    assertClose(t, [...fast.data], [...general.data], `${name}: same bits after 4 steps`, 0, 0);
  }
  t.end();
});
