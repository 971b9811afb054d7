/**
 * The `maskrcnn` command line: one subcommand per task. Each subcommand module exports a
 * `run(argv)` that returns the process exit code and prints its own `--help`.
 */
import { runShapes } from './shapes.js';
import { runEval } from './eval.js';
import { runTrain } from './train.js';
import { runPredict } from './predict.js';
import { runInspect } from './inspect.js';
import { runBench } from './bench.js';
import { runDemo } from './demo.js';
import { runAblate } from './ablate.js';
import { runConvert } from './convert.js';
import { commandErrorLine } from './args.js';

/** A subcommand: takes the arguments after its name, returns the exit code. */
export type Subcommand = (argv: string[]) => Promise<number>;

/** The subcommands by name, with a one-line summary for `maskrcnn --help`. */
export const subcommands: Record<string, { run: Subcommand; summary: string }> = {
  shapes: { run: runShapes, summary: 'write the synthetic shapes dataset (PNG images + COCO JSON)' },
  convert: { run: runConvert, summary: 'labelme or VIA annotations to COCO JSON (with a seeded train/val split)' },
  train: { run: runTrain, summary: 'train Mask R-CNN (checkpoints, --resume, progress, log, loss curve, COCO AP)' },
  predict: { run: runPredict, summary: 'detect objects in PNG or JPEG images: overlay PNGs and COCO results JSON' },
  inspect: { run: runInspect, summary: 'draw every stage of the network on one image, with an index page' },
  bench: { run: runBench, summary: 'time the detector (inference, training step) stage by stage' },
  demo: { run: runDemo, summary: 'generate shapes, train from scratch, evaluate, draw (npm run demo)' },
  eval: { run: runEval, summary: 'COCO-style evaluation (bbox or segm) of a results file against annotations' },
  ablate: { run: runAblate, summary: "the paper's Table 2 rerun: train each variant, evaluate, tabulate beside the paper" },
};

function usage(): string {
  const lines = Object.entries(subcommands).map(([name, { summary }]) => `  ${name.padEnd(10)} ${summary}`);
  return ['usage: maskrcnn <command> [options]', '', 'commands:', ...lines, '', "Run 'maskrcnn <command> --help' for a command's options."].join('\n');
}

/** Runs the CLI on `argv` (the arguments after the program name) and returns the exit code. */
export async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    console.log(usage());
    return name === undefined ? 2 : 0;
  }
  const command = subcommands[name];
  if (command === undefined) {
    console.error(`maskrcnn: unknown command '${name}'\n\n${usage()}`);
    return 2;
  }
  try {
    return await command.run(rest);
  } catch (error) {
    console.error(commandErrorLine(name, error));
    return 1;
  }
}
