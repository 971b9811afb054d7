/**
 * Reading a file a user named, with the error every reader gives when it cannot:
 * `${what}: cannot read ${path}: ${reason}` (ENOENT, EISDIR, EACCES, ...), so that the message
 * names both the operation and the file.
 *
 * @module
 */
import { readFileSync } from 'node:fs';

/** The file's bytes; an error names `what` (the operation) and the file. */
export function readFileBytes(path: string, what: string): Buffer {
  try {
    return readFileSync(path);
  } catch (error) {
    throw new Error(`${what}: cannot read ${path}: ${error instanceof Error ? error.message : String(error)}`);
  }
}

/** The file as UTF-8 text; errors as {@link readFileBytes}. */
export function readFileText(path: string, what: string): string {
  return readFileBytes(path, what).toString('utf8');
}
