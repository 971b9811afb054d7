/** Runs a subcommand with console output captured: the one helper of the CLI tests. */
export interface CommandRun {
  /** Exit code. */
  code: number;
  /** What went to console.log. */
  out: string;
  /** What went to console.error. */
  err: string;
}

/** Calls `command(argv)` with `console.log` and `console.error` captured. */
export async function runCaptured(command: (argv: string[]) => Promise<number>, argv: string[]): Promise<CommandRun> {
  const out: string[] = [];
  const err: string[] = [];
  const [log, error] = [console.log, console.error];
  console.log = (...args: unknown[]) => void out.push(args.join(' '));
  console.error = (...args: unknown[]) => void err.push(args.join(' '));
  try {
    const code = await command(argv);
    return { code, out: out.join('\n'), err: err.join('\n') };
  } finally {
    [console.log, console.error] = [log, error];
  }
}
