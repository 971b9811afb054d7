/**
 * Excerpts of the project's own source files, for notebooks that show a kernel beside its twin.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { resolve } from 'node:path';

const root = resolve(fileURLToPath(new URL('../..', import.meta.url)));

/**
 * The top-level function `name` of `file` (relative to the repository root), from its
 * `function` line to its closing brace in column 0, with the file name and line numbers as a
 * header. Throws when the function is not found, so that a renamed kernel fails the notebook.
 */
export function functionSource(file: string, name: string): string {
  const lines = readFileSync(resolve(root, file), 'utf8').split('\n');
  const start = lines.findIndex((l) => new RegExp(`^(export )?function ${name}\\b`).test(l));
  if (start < 0) throw new Error(`functionSource: no top-level function ${name} in ${file}`);
  const end = lines.findIndex((l, i) => i > start && l === '}');
  if (end < 0) throw new Error(`functionSource: ${name} in ${file} has no closing brace in column 0`);
  return `// ${file}, lines ${start + 1}-${end + 1}\n` + lines.slice(start, end + 1).join('\n');
}
