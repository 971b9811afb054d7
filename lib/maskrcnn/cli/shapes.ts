/**
 * `maskrcnn shapes`: writes the synthetic shapes dataset (work in progress).
 * @module
 */

/** Runs `maskrcnn shapes` on `argv` (the arguments after `shapes`) and returns the exit code. */
export async function runShapes(argv: string[]): Promise<number> {
  console.error(`maskrcnn shapes: not implemented yet (${argv.length} arguments)`);
  return 1;
}
