/**
 * The one argument parser of the `maskrcnn` subcommands: Node's `util.parseArgs` in strict
 * mode (unknown flags and missing values are errors), plus typed readers of numbers, integers,
 * choices and files whose errors name the flag and the bad value.
 *
 * @module
 */
import { existsSync, statSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { availableBackends, describeBackend, type BackendName } from '../../ops/index.js';
import { DEFAULT_ZOO_MODEL, zooWeightsPath } from '../train/zoo.js';

/** A flag: `string` takes a value, `boolean` does not; `multiple` collects repeats. */
export interface FlagSpec {
  /** Whether the flag takes a value. */
  type: 'string' | 'boolean';
  /** Collect every occurrence (`--image a.png --image b.png`). */
  multiple?: boolean;
  /** A one-letter alias (`-o`). */
  short?: string;
}

/** An error in the command line; the subcommand prints it with its help and exits with code 2. */
export class UsageError extends Error {
  /** A usage error with `message`. */
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

/** The parsed command line: flag values by name, and positional arguments. */
export interface ParsedFlags {
  /** Values: a string, a boolean, or (for `multiple`) an array. */
  values: Record<string, string | boolean | (string | boolean)[] | undefined>;
  /** Arguments that are not flags. */
  positionals: string[];
}

/**
 * Parses `argv` against `spec` (plus `--help`/`-h`, always accepted). Throws a
 * {@link UsageError} naming the unknown flag, or the flag that lacks its value.
 */
export function parseFlags(argv: readonly string[], spec: Record<string, FlagSpec>, allowPositionals = false): ParsedFlags {
  try {
    const { values, positionals } = parseArgs({
      args: [...argv],
      options: { ...spec, help: { type: 'boolean', short: 'h' } },
      strict: true,
      allowPositionals,
    });
    return { values: values as ParsedFlags['values'], positionals };
  } catch (error) {
    const ambiguous = /^Option '(-{1,2}[^']+)' argument is ambiguous/.exec((error as Error).message);
    if (ambiguous !== null) throw new UsageError(ambiguousValue(argv, spec, ambiguous[1]!));
    const message = (error as Error).message
      .replace(/\. To specify an option argument starting with a dash use --.*$/s, '')
      .replace(/\. To specify a positional argument starting with a '-'.*$/s, '');
    throw new UsageError(message.replace(/^Unknown option/, 'unknown option').replace(/^Unexpected argument/, 'unexpected argument'));
  }
}

/**
 * The message for a flag followed by something that starts with a dash (`--seed -1`): either a
 * forgotten value (the next word is a flag) or a negative number / dash value, which must be
 * written `--seed=-1`.
 */
function ambiguousValue(argv: readonly string[], spec: Record<string, FlagSpec>, written: string): string {
  const long = written.startsWith('--') ? written.slice(2) : Object.entries(spec).find(([, f]) => f.short === written.slice(1))?.[0] ?? written.replace(/^-+/, '');
  const value = argv[argv.indexOf(written) + 1] ?? '';
  const known = value.startsWith('--') ? value.slice(2).split('=')[0]! in spec || value === '--help' : false;
  if (known) return `--${long} needs a value (got the flag ${value} after it)`;
  return `--${long} ${value}: a value that starts with a dash must be written --${long}=${value}`;
}

/**
 * The line a subcommand prints for an error: `maskrcnn NAME: message`, without repeating a
 * `NAME: ` that the message already starts with (`maskrcnn train: train: ...`).
 */
export function commandErrorLine(name: string, error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  return `maskrcnn ${name}: ${message.startsWith(`${name}: `) ? message.slice(name.length + 2) : message}`;
}

/** Whether `--help` or `-h` is among `argv`. */
export function wantsHelp(argv: readonly string[]): boolean {
  return argv.includes('--help') || argv.includes('-h');
}

/** A string flag's value, `fallback` when absent; throws naming the flag when required and absent. */
export function stringFlag(flags: ParsedFlags, name: string, fallback?: string): string {
  const v = flags.values[name];
  if (v === undefined) {
    if (fallback === undefined) throw new UsageError(`--${name} is required`);
    return fallback;
  }
  if (typeof v !== 'string') throw new UsageError(`--${name} takes a value`);
  if (v === '') throw new UsageError(`--${name} needs a non-empty value`);
  return v;
}

/**
 * The `--weights` file: the flag's value (checked to exist), or, when the flag is absent, the
 * model zoo's default model (the shapes detector the project trained, `zoo/shapes/`).
 */
export function weightsFlag(flags: ParsedFlags): string {
  if (flags.values['weights'] !== undefined) {
    const path = stringFlag(flags, 'weights');
    checkExists('--weights', path);
    return path;
  }
  try {
    return zooWeightsPath(DEFAULT_ZOO_MODEL);
  } catch (error) {
    throw new UsageError(`--weights is required (no default: ${(error as Error).message})`);
  }
}

/** The values of a `multiple` string flag (empty when absent). */
export function listFlag(flags: ParsedFlags, name: string): string[] {
  const v = flags.values[name];
  if (v === undefined) return [];
  return (Array.isArray(v) ? v : [v]).map((x) => String(x));
}

/** Whether a boolean flag was given. */
export function booleanFlag(flags: ParsedFlags, name: string): boolean {
  return flags.values[name] === true;
}

/** An integer flag in `[min, max]`, `fallback` when absent. */
export function integerFlag(flags: ParsedFlags, name: string, fallback: number | undefined, min: number, max: number): number {
  const text = stringFlag(flags, name, fallback === undefined ? undefined : String(fallback));
  if (!/^-?\d+$/.test(text)) throw new UsageError(`--${name} must be an integer, got '${text}'`);
  const v = Number(text);
  if (!Number.isSafeInteger(v) || v < min || v > max) throw new UsageError(`--${name} must be an integer in ${min}..${max}, got ${text}`);
  return v;
}

/** A decimal number as a person writes one (`3`, `-0.5`, `.25`, `1e-4`): no hex, no blanks, no `Infinity`. */
const DECIMAL = /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/;

/** A finite number flag in `[min, max]`, `fallback` when absent. */
export function numberFlag(flags: ParsedFlags, name: string, fallback: number | undefined, min: number, max: number): number {
  const text = stringFlag(flags, name, fallback === undefined ? undefined : String(fallback));
  const v = Number(text);
  if (!DECIMAL.test(text) || !Number.isFinite(v)) throw new UsageError(`--${name} must be a decimal number, got '${text}'`);
  if (v < min || v > max) throw new UsageError(`--${name} must be in [${min}, ${max}], got ${text}`);
  return v;
}

/**
 * A comma-separated list of integers in `[min, max]` (`--lr-steps 800,900`), `undefined` when
 * the flag is absent. An empty item (`1,,2`), a non-integer or an item out of range is an error
 * naming the flag and the item.
 */
export function integerListFlag(flags: ParsedFlags, name: string, min: number, max: number): number[] | undefined {
  if (flags.values[name] === undefined) return undefined;
  const text = stringFlag(flags, name);
  return text.split(',').map((item, i) => {
    const trimmed = item.trim();
    if (!/^-?\d+$/.test(trimmed)) throw new UsageError(`--${name} must be comma-separated integers, got '${text}' (item ${i + 1} is ${trimmed === '' ? 'empty' : `'${trimmed}'`})`);
    const v = Number(trimmed);
    if (!Number.isSafeInteger(v) || v < min || v > max) throw new UsageError(`--${name} items must be integers in ${min}..${max}, got ${trimmed} in '${text}'`);
    return v;
  });
}

/** A flag whose value is one of `choices`. */
export function choiceFlag<T extends string>(flags: ParsedFlags, name: string, fallback: T | undefined, choices: readonly T[]): T {
  const v = stringFlag(flags, name, fallback);
  if (!(choices as readonly string[]).includes(v)) throw new UsageError(`--${name} must be one of ${choices.join(', ')}, got '${v}'`);
  return v as T;
}

/** Throws naming the flag when `path` is not an existing file (or folder, with `kind: 'dir'`). */
export function checkExists(flag: string, path: string, kind: 'file' | 'dir' = 'file'): void {
  if (!existsSync(path)) throw new UsageError(`${flag} ${path}: no such ${kind === 'file' ? 'file' : 'folder'}`);
  const isDir = statSync(path).isDirectory();
  if (kind === 'file' && isDir) throw new UsageError(`${flag} ${path}: is a folder, expected a file`);
  if (kind === 'dir' && !isDir) throw new UsageError(`${flag} ${path}: is a file, expected a folder`);
}

/**
 * Runs a subcommand body: prints `help` on `--help`; a {@link UsageError} prints
 * `maskrcnn NAME: message` and the help, exit code 2; other errors propagate (the dispatcher
 * prints them, exit code 1).
 */
export async function runCommand(name: string, argv: readonly string[], help: string, body: () => Promise<number> | number): Promise<number> {
  if (wantsHelp(argv)) {
    console.log(help);
    return 0;
  }
  try {
    return await body();
  } catch (error) {
    if (error instanceof UsageError) {
      console.error(`${commandErrorLine(name, error)}\n\n${help}`);
      return 2;
    }
    throw error;
  }
}

/**
 * `--images DIR --annotations FILE` (a COCO instances file and the folder of its images), given
 * together and checked to exist; `--data` excluded by the caller. Used by `train` and `eval`.
 */
export function imagesAnnotationsFlags(flags: ParsedFlags): { annotations: string; images: string } {
  const given = (name: string): boolean => flags.values[name] !== undefined;
  if (!given('images') && !given('annotations')) throw new UsageError('--data is required (or --images DIR --annotations FILE)');
  if (!given('images')) throw new UsageError('--annotations needs --images DIR (the folder of its images)');
  if (!given('annotations')) throw new UsageError('--images needs --annotations FILE (a COCO instances file)');
  const images = stringFlag(flags, 'images');
  const annotations = stringFlag(flags, 'annotations');
  checkExists('--images', images, 'dir');
  checkExists('--annotations', annotations);
  return { annotations, images };
}

/**
 * The `--backend` flag of every subcommand: `wasm`, `reference` or `gpu`, checked to be
 * available on this machine; `undefined` when absent, so that the active backend
 * (`MASKRCNN_BACKEND`, else the default) stays.
 */
export function backendFlag(flags: ParsedFlags): BackendName | undefined {
  if (flags.values['backend'] === undefined) return undefined;
  const backend = choiceFlag<BackendName>(flags, 'backend', undefined, ['wasm', 'reference', 'gpu']);
  if (!availableBackends().includes(backend)) throw new UsageError(`--backend ${backend} is not available here (${describeBackend(backend)})`);
  return backend;
}
