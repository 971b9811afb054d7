/**
 * Training to a time budget instead of a fixed number of iterations: how many iterations fit,
 * and where the learning-rate step goes, planned from the speed measured while training.
 *
 * A step decay schedule is defined in iterations (torchvision's reference and the paper,
 * section 3.1: x0.1 at 120k of 160k), so a run that must end by a deadline has to know its
 * length before the step. The plan starts from the measured seconds per iteration and is made
 * again as the speed changes (a detector's step gets slower once the RPN finds objects and the
 * mask head receives positive RoIs): until the step is reached it moves with the plan, at the
 * same fraction of the planned length; once taken it stays, and later plans only lengthen or
 * shorten the run at the low learning rate. The warmup is not planned (it is short and fixed).
 *
 * @module
 */

/** What a plan is made from. */
export interface BudgetState {
  /** Iterations done. */
  iteration: number;
  /** Seconds of training spent (the whole run, resumes included). */
  elapsedSeconds: number;
  /** Seconds of training the run may take in all. */
  budgetSeconds: number;
  /** The recent speed (seconds per iteration, > 0). */
  secondsPerIteration: number;
  /** The most iterations the run may have. */
  maxIterations: number;
  /** Where the learning-rate step goes, as a fraction of the planned iterations (0.8: the usual). */
  lrStepFraction: number;
  /** The iteration of the learning-rate step in the current plan (taken once `iteration >= lrStep`). */
  lrStep: number;
}

/** A plan: the run's length and its learning-rate step. */
export interface IterationPlan {
  /** Iterations in all (at least the iterations done, at most the maximum). */
  iterations: number;
  /** The learning rate is multiplied by the decay factor from this iteration on. */
  lrStep: number;
}

/**
 * Plans the run's length from the seconds left and the recent speed: `iteration +
 * floor(left / secondsPerIteration)`, between the iterations done and `maxIterations`. The
 * learning-rate step, while still ahead, goes to `floor(lrStepFraction * iterations)` (at least
 * the next iteration, at most the last); once taken it does not move.
 */
export function planIterations(state: BudgetState): IterationPlan {
  const { iteration, elapsedSeconds, budgetSeconds, secondsPerIteration, maxIterations, lrStepFraction, lrStep } = state;
  if (!(secondsPerIteration > 0 && Number.isFinite(secondsPerIteration))) throw new Error(`planIterations: secondsPerIteration must be a positive number, got ${secondsPerIteration}`);
  if (!(lrStepFraction > 0 && lrStepFraction <= 1)) throw new Error(`planIterations: lrStepFraction must be in (0, 1], got ${lrStepFraction}`);
  const left = Math.max(0, budgetSeconds - elapsedSeconds);
  const iterations = Math.max(iteration, Math.min(maxIterations, iteration + Math.floor(left / secondsPerIteration)));
  if (lrStep <= iteration) return { iterations, lrStep };
  return { iterations, lrStep: Math.min(iterations, Math.max(iteration + 1, Math.floor(lrStepFraction * iterations))) };
}

/** When a budgeted run plans: first after {@link BUDGET_FIRST_PLAN} iterations, then every {@link BUDGET_REPLAN_EVERY}. */
export const BUDGET_FIRST_PLAN = 10;

/** Iterations between plans (the speed of the last ones is the plan's). */
export const BUDGET_REPLAN_EVERY = 50;
