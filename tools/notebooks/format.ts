/**
 * The notebook format: a TypeScript file in the "percent" format.
 *
 *     // %% [markdown]
 *     // # A title
 *     // Prose, as Markdown, one comment line per line.
 *
 *     // %%
 *     const x = tensor([1, 2, 3]);
 *     console.log(`${x}`);
 *
 * `// %% [markdown]` starts a Markdown cell (its lines are `//` comments, the `// ` is removed);
 * `// %%` (optionally followed by a title) starts a code cell. Lines before the first marker
 * form a code cell too (the imports). The file is an ordinary ES module: tsc type-checks it,
 * tsx runs it, and every line keeps its line number, so an error's stack trace names the cell.
 */

/** One cell of a percent-format notebook. */
export interface NotebookCell {
  /** 1-based index among all cells. */
  index: number;
  /** `markdown` or `code`. */
  kind: 'markdown' | 'code';
  /** First line of the cell's content (1-based; the line after its marker). */
  firstLine: number;
  /** Last line of the cell's content (inclusive). */
  lastLine: number;
  /** The cell's text: Markdown without the comment prefix, or code as written. */
  source: string;
}

const MARKER = /^\/\/ %%(.*)$/;

/** Splits a percent-format notebook into cells (blank cells are dropped). */
export function parseNotebook(text: string): NotebookCell[] {
  const lines = text.split('\n');
  const cells: NotebookCell[] = [];
  let kind: NotebookCell['kind'] = 'code';
  let start = 0; // 0-based index of the first content line
  const flush = (end: number) => {
    const body = lines.slice(start, end);
    const source =
      kind === 'markdown'
        ? body.map((l) => l.replace(/^\/\/ ?/, '')).join('\n').trim()
        : body.join('\n').replace(/^\s*\n/, '').trimEnd();
    if (source.length > 0) cells.push({ index: cells.length + 1, kind, firstLine: start + 1, lastLine: end, source });
  };
  lines.forEach((line, i) => {
    const m = MARKER.exec(line);
    if (!m) return;
    flush(i);
    kind = /\[markdown\]/.test(m[1]!) ? 'markdown' : 'code';
    start = i + 1;
  });
  flush(lines.length);
  return cells;
}

/** The cell that holds 1-based `line` (or undefined). */
export function cellAtLine(cells: readonly NotebookCell[], line: number): NotebookCell | undefined {
  let found: NotebookCell | undefined;
  for (const c of cells) if (c.firstLine <= line) found = c;
  return found;
}
