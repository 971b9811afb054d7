import test from 'tape';
import { tensor } from '../../lib/index.js';
import {
  SGD,
  LRScheduler,
  linearWarmup,
  multiStepDecay,
  chainSchedules,
  sequentialSchedules,
  constantSchedule,
} from '../../lib/nn/index.js';
import { assertClose, assertThrowsMessage } from '../helpers.js';

test('linearWarmup: torchvision detection reference (LinearLR start 1/1000) ramps to 1', (t) => {
  const f = linearWarmup({ warmupFactor: 0.001, warmupIters: 1000 });
  assertClose(t, [f(0), f(1), f(500), f(999), f(1000), f(5000)], [0.001, 0.001999, 0.5005, 0.999001, 1, 1], 'factors', 1e-12, 1e-12);
  t.equal(linearWarmup({ warmupFactor: 0.5, warmupIters: 0 })(0), 1, 'zero warmup iterations');
  assertThrowsMessage(t, () => linearWarmup({ warmupFactor: 0, warmupIters: 10 }), 'warmupFactor must be in (0, 1]', 'bad factor');
  t.end();
});

test('multiStepDecay, chain (product) and sequential composition', (t) => {
  const decay = multiStepDecay({ milestones: [3, 5], gamma: 0.1 });
  assertClose(t, [0, 2, 3, 4, 5, 9].map(decay), [1, 1, 0.1, 0.1, 0.01, 0.01], 'gamma^(milestones passed)', 1e-15, 1e-12);
  const paper = chainSchedules(linearWarmup({ warmupFactor: 0.25, warmupIters: 2 }), multiStepDecay({ milestones: [4] }));
  assertClose(t, [0, 1, 2, 3, 4, 5].map(paper), [0.25, 0.625, 1, 1, 0.1, 0.1], 'warmup x decay', 1e-15, 1e-12);
  const seq = sequentialSchedules([linearWarmup({ warmupFactor: 0.5, warmupIters: 2 }), multiStepDecay({ milestones: [1], gamma: 0.5 })], [2]);
  assertClose(t, [0, 1, 2, 3, 4].map(seq), [0.5, 0.75, 1, 0.5, 0.5], 'the second schedule restarts at the milestone', 1e-15, 1e-12);
  t.equal(constantSchedule()(123), 1, 'constant');
  assertThrowsMessage(t, () => multiStepDecay({ milestones: [5, 3] }), 'non-decreasing', 'unsorted milestones');
  assertThrowsMessage(t, () => sequentialSchedules([constantSchedule()], [3]), 'expected 2 schedules', 'schedule count');
  t.end();
});

test('LRScheduler: sets each group lr = base * factor(step); state dict restores the step', (t) => {
  const a = tensor([1]).requiresGrad_();
  const b = tensor([1]).requiresGrad_();
  const opt = new SGD([{ params: [a] }, { params: [b], lr: 0.2 }], { lr: 0.02, momentum: 0.9 });
  const schedule = chainSchedules(linearWarmup({ warmupFactor: 0.001, warmupIters: 4 }), multiStepDecay({ milestones: [6] }));
  const s = new LRScheduler(opt, schedule);
  assertClose(t, s.getLastLr(), [0.02 * 0.001, 0.2 * 0.001], 'construction applies step 0', 1e-15, 1e-12);
  const lrs: number[] = [];
  for (let i = 0; i < 8; i++) {
    s.step();
    lrs.push(opt.paramGroups[0]!.options.lr);
  }
  assertClose(t, lrs, [0.02 * 0.25075, 0.02 * 0.5005, 0.02 * 0.75025, 0.02, 0.02, 0.002, 0.002, 0.002], 'warmup then /10', 1e-15, 1e-12);
  t.equal(opt.paramGroups[1]!.initialLr, 0.2, 'initial lr kept per group');
  const saved = s.stateDict();
  const opt2 = new SGD([{ params: [a] }, { params: [b], lr: 0.2 }], { lr: 0.02 });
  const s2 = new LRScheduler(opt2, schedule);
  s2.loadStateDict(saved);
  t.deepEqual(s2.getLastLr(), s.getLastLr(), 'loaded scheduler sets the same rates');
  t.equal(s2.lastEpoch, 8, 'step count restored');
  assertThrowsMessage(t, () => new LRScheduler(opt, [schedule]), 'got 1 schedules for 2 parameter groups', 'one schedule per group');
  t.end();
});
