/**
 * `maskrcnn eval`: COCO-style evaluation of a results file against COCO annotations.
 */

/** Runs `maskrcnn eval` on `argv` (the arguments after `eval`) and returns the exit code. */
export async function runEval(argv: string[]): Promise<number> {
  console.error(`maskrcnn eval: not implemented yet (${argv.length} arguments)`);
  return 1;
}
