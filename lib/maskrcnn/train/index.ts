/**
 * Training and what is built on it: the training loop with its checkpoints, log and loss curve
 * (`train.ts`), training to a time budget (`time_budget.ts`), the paper's Table 2 ablations (`ablate.ts`), the stage-by-stage benchmark of an
 * inference and a training step (`bench.ts`), and the model zoo of weights the project trained
 * itself (`zoo.ts`).
 *
 * @module
 */
export * from './train.js';
export * from './time_budget.js';
export * from './ablate.js';
export * from './bench.js';
export * from './zoo.js';
