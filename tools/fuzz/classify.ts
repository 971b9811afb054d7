/**
 * Outcome classes of one fuzz input (the columns of issue 18's table) and the one rule that
 * decides whether an error is "clean".
 */

/** What happened to one input. */
export type Outcome =
  | 'clean-error' // an Error whose message names the input and what was wrong
  | 'other-exception' // anything else thrown (a bare TypeError, a stack overflow, a crash of the child)
  | 'hang' // no answer within the time guard (5 s)
  | 'memory' // the child's resident memory went over the memory guard (1 GiB)
  | 'silently-accepted' // accepted although the oracle says it is certainly invalid (or the output is wrong)
  | 'accepted-valid'; // accepted, and the oracle cannot say it is invalid

/** All outcomes, in the report's column order. */
export const OUTCOMES: readonly Outcome[] = ['clean-error', 'other-exception', 'hang', 'memory', 'silently-accepted', 'accepted-valid'];

/** The outcomes that fail the suite. */
export const UNCLEAN: readonly Outcome[] = ['other-exception', 'hang', 'memory', 'silently-accepted'];

/** An error as the child reports it (constructor name and message). */
export interface ReportedError {
  /** `error.name` (`Error`, `TypeError`, ...), or `'Crash'` when the child died by itself. */
  name: string;
  /** `error.message`. */
  message: string;
}

/** Built-in error classes the engine throws from deep inside; a reader's own errors are `Error`. */
const ENGINE_CLASSES = new Set(['TypeError', 'RangeError', 'SyntaxError', 'ReferenceError', 'EvalError', 'URIError', 'InternalError', 'AggregateError', 'Crash']);

/** Messages (or parts of them) that come from the engine or a library, not from a reader's check. */
const ENGINE_MESSAGES: readonly RegExp[] = [
  /Maximum call stack size exceeded/i,
  /Invalid typed array length/i,
  /Invalid array length/i,
  /Array buffer allocation failed/i,
  /Invalid string length/i,
  /Cannot read propert(y|ies) of (undefined|null)/i,
  /Cannot (set propert|convert (undefined|null|a |an )|destructure|mix BigInt)/i,
  /is not (a function|iterable|a constructor|defined)/i,
  /out of memory/i,
  /offset is out of bounds|Offset is outside the bounds/i,
  /undefined is not|null is not/i,
  /\b(state|property|properties) of (undefined|null)\b/i,
];

/**
 * The rule for a clean error: the error is a plain `Error` (or a subclass the project defines),
 * not one of the engine's built-in classes; its message is not empty, contains none of the
 * engine's own phrases (a stack overflow, a failed allocation, a property read of undefined)
 * even when wrapped (a JSON syntax error wrapped with the file's name and position is clean), and names the input: the
 * file's base name when the input is a file (`names`), so a user knows which file is bad.
 *
 * @param error - what the child caught.
 * @param names - strings of which at least one must appear in the message (empty: no such rule).
 * @returns `null` when clean, else why not.
 */
export function uncleanReason(error: ReportedError, names: readonly string[] = []): string | null {
  if (ENGINE_CLASSES.has(error.name)) return `a bare ${error.name}`;
  const message = error.message.trim();
  if (message === '') return 'an empty message';
  const engine = ENGINE_MESSAGES.find((re) => re.test(message));
  if (engine !== undefined) return `an engine message (${engine.source})`;
  if (names.length > 0 && !names.some((n) => message.includes(n))) return `the message does not name the input (${names.join(' or ')})`;
  return null;
}

/**
 * The outcome of an input that ran to completion in the child.
 *
 * @param result - `{error}` when the reader threw, `{outputProblem}` when it returned a wrong result, else `{}`.
 * @param invalidBecause - the oracle's reason why the input is certainly invalid, or `null` when it may be valid.
 * @param names - see {@link uncleanReason}.
 */
export function classify(
  result: { error?: ReportedError; outputProblem?: string | null },
  invalidBecause: string | null,
  names: readonly string[] = [],
): { outcome: Outcome; why: string } {
  if (result.error !== undefined) {
    const reason = uncleanReason(result.error, names);
    return reason === null ? { outcome: 'clean-error', why: result.error.message } : { outcome: 'other-exception', why: `${reason}: ${result.error.name}: ${result.error.message}` };
  }
  if (result.outputProblem) return { outcome: 'silently-accepted', why: `accepted with a wrong result: ${result.outputProblem}` };
  if (invalidBecause !== null) return { outcome: 'silently-accepted', why: `accepted although ${invalidBecause}` };
  return { outcome: 'accepted-valid', why: 'accepted' };
}
