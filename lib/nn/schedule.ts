/**
 * Learning-rate schedules. A schedule is a pure function from the step count to a factor of
 * the base learning rate, so schedules compose (a product, or one after another) and a
 * scheduler's whole state is its step count: resuming is exact.
 *
 * torchvision's detection reference trains with a linear warmup over the first iterations
 * (factor from `warmupFactor` up to 1, its `LinearLR(start_factor=1/1000)`) and a step decay
 * (`MultiStepLR(milestones, gamma=0.1)`); Mask R-CNN's paper schedule (section 3.1) divides the
 * learning rate by 10 at 120k of 160k iterations. With both counted in iterations:
 *
 * @example
 * ```ts
 * const scheduler = new LRScheduler(optimizer,
 *   chainSchedules(linearWarmup({ warmupFactor: 1 / 1000, warmupIters: 1000 }),
 *                  multiStepDecay({ milestones: [120000], gamma: 0.1 })));
 * for (...) { optimizer.step(); scheduler.step(); }
 * ```
 */
import type { LearningRate, Optimizer } from './optim.js';

/** A learning-rate schedule: the factor of the base learning rate at step `step` (0, 1, ...). */
export type LRSchedule = (step: number) => number;

/** Options of {@link linearWarmup}. */
export interface LinearWarmupOptions {
  /** The factor at step 0 (torchvision's reference: 1/1000). */
  warmupFactor: number;
  /** The number of steps over which the factor rises linearly to 1. */
  warmupIters: number;
}

/**
 * Linear warmup: the factor goes from `warmupFactor` at step 0 to 1 at step `warmupIters`,
 * linearly, then stays 1 (PyTorch's `LinearLR(start_factor, end_factor=1, total_iters)`,
 * torchvision's `warmup_lr_scheduler`): `f = warmupFactor (1 - a) + a`, `a = min(step, iters) / iters`.
 */
export function linearWarmup(options: LinearWarmupOptions): LRSchedule {
  const { warmupFactor, warmupIters } = options;
  if (!(warmupFactor > 0 && warmupFactor <= 1)) throw new Error(`linearWarmup: warmupFactor must be in (0, 1], got ${warmupFactor}`);
  if (!Number.isInteger(warmupIters) || warmupIters < 0) throw new Error(`linearWarmup: warmupIters must be an integer >= 0, got ${warmupIters}`);
  return (step) => {
    if (step >= warmupIters) return 1;
    const alpha = step / warmupIters;
    return warmupFactor * (1 - alpha) + alpha;
  };
}

/** Options of {@link multiStepDecay}. */
export interface MultiStepDecayOptions {
  /** The steps at which the factor is multiplied by `gamma` (increasing). */
  milestones: readonly number[];
  /** The multiplier at each milestone (default 0.1). */
  gamma?: number;
}

/**
 * Step decay: the factor is `gamma^k` where `k` is the number of milestones `<= step`
 * (PyTorch's `MultiStepLR`).
 */
export function multiStepDecay(options: MultiStepDecayOptions): LRSchedule {
  const milestones = [...options.milestones];
  const gamma = options.gamma ?? 0.1;
  milestones.forEach((m, i) => {
    if (!Number.isInteger(m) || m < 0 || (i > 0 && m < milestones[i - 1]!)) {
      throw new Error(`multiStepDecay: milestones must be non-decreasing integers >= 0, got ${JSON.stringify(options.milestones)}`);
    }
  });
  return (step) => gamma ** milestones.filter((m) => m <= step).length;
}

/** The constant factor 1 (no schedule). */
export function constantSchedule(): LRSchedule {
  return () => 1;
}

/** The product of several schedules, each seeing the same step (PyTorch's `ChainedScheduler` of multiplicative schedules). */
export function chainSchedules(...schedules: LRSchedule[]): LRSchedule {
  return (step) => schedules.reduce((f, s) => f * s(step), 1);
}

/**
 * Schedules one after another (PyTorch's `SequentialLR`): `schedules[0]` until `milestones[0]`,
 * then `schedules[1]` restarted from step 0, and so on.
 */
export function sequentialSchedules(schedules: readonly LRSchedule[], milestones: readonly number[]): LRSchedule {
  if (schedules.length !== milestones.length + 1) {
    throw new Error(`sequentialSchedules: expected ${milestones.length + 1} schedules for ${milestones.length} milestones, got ${schedules.length}`);
  }
  return (step) => {
    let i = 0;
    while (i < milestones.length && step >= milestones[i]!) i++;
    return schedules[i]!(i === 0 ? step : step - milestones[i - 1]!);
  };
}

/** The saved state of an {@link LRScheduler}. */
export interface LRSchedulerStateDict {
  /** The number of `step()` calls made (PyTorch's `last_epoch`). */
  lastEpoch: number;
  /** The base learning rate of each parameter group. */
  baseLrs: number[];
}

/**
 * Sets each parameter group's learning rate to `baseLr * schedule(step)` (PyTorch's `LambdaLR`).
 * Construction applies step 0; each {@link LRScheduler.step} (after `optimizer.step()`) advances
 * one step. `schedules` may give one schedule per parameter group.
 */
export class LRScheduler {
  /** The number of steps taken (0 after construction). */
  lastEpoch = 0;
  /** The learning rate of each group at step 0. */
  baseLrs: number[];
  private schedules: LRSchedule[];

  /** A scheduler driving `optimizer`'s learning rates. */
  constructor(
    /** The optimiser whose groups' `lr` this sets. */
    readonly optimizer: Optimizer<LearningRate>,
    schedules: LRSchedule | readonly LRSchedule[],
  ) {
    const groups = optimizer.paramGroups;
    this.schedules = this.perGroup(schedules);
    for (const g of groups) g.initialLr ??= g.options.lr;
    this.baseLrs = groups.map((g) => g.initialLr!);
    this.apply();
  }

  /**
   * Replaces the schedule(s), keeping the step count, and sets the learning rates of the current
   * step from the new ones (a run trained to a time budget moves its decay step as its plan
   * changes; see `lib/maskrcnn/train/time_budget.ts`).
   */
  setSchedules(schedules: LRSchedule | readonly LRSchedule[]): void {
    this.schedules = this.perGroup(schedules);
    this.apply();
  }

  private perGroup(schedules: LRSchedule | readonly LRSchedule[]): LRSchedule[] {
    const groups = this.optimizer.paramGroups;
    const list = typeof schedules === 'function' ? groups.map(() => schedules) : [...schedules];
    if (list.length !== groups.length) throw new Error(`LRScheduler: got ${list.length} schedules for ${groups.length} parameter groups`);
    return list;
  }

  /** Advances one step and sets the new learning rates. */
  step(): void {
    this.lastEpoch++;
    this.apply();
  }

  /** The learning rates set by the last step, per group. */
  getLastLr(): number[] {
    return this.optimizer.paramGroups.map((g) => g.options.lr);
  }

  private apply(): void {
    this.optimizer.paramGroups.forEach((g, i) => {
      g.options.lr = this.baseLrs[i]! * this.schedules[i]!(this.lastEpoch);
    });
  }

  /** The scheduler's state (its step count and base rates). */
  stateDict(): LRSchedulerStateDict {
    return { lastEpoch: this.lastEpoch, baseLrs: [...this.baseLrs] };
  }

  /** Restores a saved state and sets the learning rates of that step. */
  loadStateDict(state: LRSchedulerStateDict): void {
    if (state.baseLrs.length !== this.baseLrs.length) {
      throw new Error(`LRScheduler.loadStateDict: the saved state has ${state.baseLrs.length} groups, the optimiser ${this.baseLrs.length}`);
    }
    this.lastEpoch = state.lastEpoch;
    this.baseLrs = [...state.baseLrs];
    this.apply();
  }
}
