/**
 * The one way the project writes a file a user cares about (checkpoints, weights, datasets,
 * results, pictures): atomically. The bytes go to a temporary file in the same directory, are
 * flushed to disk (fsync), and the file is renamed over the destination, so a process killed
 * mid-write leaves either the old file or the whole new one, never a truncated one. The
 * directory entry is then flushed too (best effort: not every platform can fsync a directory).
 *
 * A leaf module: any layer may import it.
 */
import { closeSync, existsSync, fsyncSync, mkdirSync, openSync, renameSync, statSync, unlinkSync, writeSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';

/** Content for {@link writeFileAtomic}: the bytes or text, or a function that writes them in pieces. */
export type AtomicContent = string | Uint8Array | ((write: (chunk: string | Uint8Array) => void) => void);

let counter = 0;

function writeAll(fd: number, chunk: string | Uint8Array): void {
  if (typeof chunk === 'string') {
    writeAll(fd, Buffer.from(chunk, 'utf8'));
    return;
  }
  let done = 0;
  while (done < chunk.byteLength) done += writeSync(fd, chunk, done, chunk.byteLength - done);
}

/**
 * Writes `content` to `path` atomically (temporary file, fsync, rename). The directory must
 * exist (a mistyped path is an error, not a new folder). Errors read `what: cannot write PATH: reason`, and the temporary file is removed.
 *
 * @param path - the destination.
 * @param content - text, bytes, or a function receiving `write(chunk)` for large files written in pieces.
 * @param what - the operation, for error messages (e.g. `writePng`).
 */
export function writeFileAtomic(path: string, content: AtomicContent, what = 'writeFileAtomic'): void {
  const directory = dirname(path);
  const temporary = join(directory, `.${basename(path)}.${process.pid}.${counter++}.tmp`);
  let fd = -1;
  try {
    fd = openSync(temporary, 'wx');
    if (typeof content === 'function') content((chunk) => writeAll(fd, chunk));
    else writeAll(fd, content);
    fsyncSync(fd);
    closeSync(fd);
    fd = -1;
    renameSync(temporary, path);
  } catch (error) {
    if (fd !== -1) closeSync(fd);
    try {
      unlinkSync(temporary);
    } catch {
      // never created, or already renamed
    }
    throw new Error(`${what}: cannot write ${path}: ${error instanceof Error ? error.message : String(error)}`);
  }
  try {
    const dirFd = openSync(directory, 'r');
    try {
      fsyncSync(dirFd);
    } finally {
      closeSync(dirFd);
    }
  } catch {
    // best effort
  }
}

/**
 * Creates the folder `path` and any missing parents (`mkdir -p`), one level at a time from the
 * deepest existing ancestor. Unlike `mkdirSync(path, {recursive: true})`, which loops forever on
 * Node 20 under a folder that refuses new entries (`/proc/nope/x`), it always ends: in the
 * folder, or in an error `what: cannot create PATH: reason` (a parent that is a file, a
 * read-only or virtual file system, no permission).
 */
export function makeDirectory(path: string, what = 'makeDirectory'): void {
  const fail = (reason: string): never => {
    throw new Error(`${what}: cannot create ${path}: ${reason}`);
  };
  const missing: string[] = [];
  let p = resolve(path);
  try {
    while (!existsSync(p)) {
      missing.push(p);
      const parent = dirname(p);
      if (parent === p) break;
      p = parent;
    }
    if (existsSync(p) && !statSync(p).isDirectory()) fail(`${p} is a file, not a folder`);
  } catch (error) {
    if (error instanceof Error && error.message.startsWith(`${what}: `)) throw error;
    fail(error instanceof Error ? error.message : String(error));
  }
  for (const dir of missing.reverse()) {
    try {
      mkdirSync(dir);
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code === 'EEXIST' && statSync(dir).isDirectory()) continue; // made meanwhile by another process
      fail(error instanceof Error ? error.message : String(error));
    }
  }
}
