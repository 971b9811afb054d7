import test from 'tape';
import { parseNotebook } from '../../tools/notebooks/format.js';
import { executeNotebook, renderNotebook, listNotebooks, NotebookError } from '../../tools/notebooks/run.js';

test('parseNotebook: percent-format cells with their line ranges', (t) => {
  const cells = parseNotebook('// %% [markdown]\n// # T\n// text\n\n// %%\nconst a = 1;\n\n// %%\nconsole.log(a);\n');
  t.deepEqual(cells.map((c) => [c.kind, c.firstLine, c.source]), [['markdown', 2, '# T\ntext'], ['code', 6, 'const a = 1;'], ['code', 9, 'console.log(a);']]);
  t.end();
});

test('executeNotebook: outputs belong to the cell of the top-level statement; renders nbformat 4 and Markdown', (t) => {
  const { cells, result } = executeNotebook('test/notebooks/fixtures/ok.ts', 60_000);
  t.equal(result.error, null, 'no error');
  const streams = result.outputs.filter((o) => o.type === 'stream');
  t.deepEqual(streams.map((o) => [o.cell, o.type === 'stream' ? o.text : '']), [[3, 'FIRST\n'], [3, 'second\n']], 'printed from a function of cell 2, attributed to cell 3 which called it');
  const r = renderNotebook('ok', cells, result.outputs);
  const nb = JSON.parse(r.ipynb) as { nbformat: number; nbformat_minor: number; cells: Array<{ cell_type: string; id: string; outputs?: Array<{ output_type: string; data?: Record<string, unknown> }> }> };
  t.deepEqual([nb.nbformat, nb.nbformat_minor], [4, 5], 'nbformat 4.5');
  t.ok(nb.cells.every((c) => typeof c.id === 'string' && c.id.length > 0), 'every cell has an id');
  t.deepEqual(nb.cells[2]!.outputs!.map((o) => o.output_type), ['stream', 'display_data', 'stream'], 'outputs in order');
  t.ok(r.markdown.startsWith('---\ntitle: "A fixture notebook"\ngroup: Course\n---'), 'front matter from the first heading');
  t.ok(r.markdown.includes('```text\nFIRST\n```') && r.markdown.includes('| a |'), 'stream and Markdown outputs in the rendering');
  t.end();
});

test('executeNotebook: an error names the notebook, the cell and the line', (t) => {
  try {
    executeNotebook('test/notebooks/fixtures/fails.ts', 60_000);
    t.fail('no error');
  } catch (e) {
    t.ok(e instanceof NotebookError, 'a NotebookError');
    t.ok((e as Error).message.startsWith('test/notebooks/fixtures/fails.ts: cell 3, line 10: Error: total is 6'), (e as Error).message.split('\n')[0]);
  }
  t.end();
});

test('listNotebooks: the course notebooks, in order', (t) => {
  const names = listNotebooks().map((f) => f.split('/').pop());
  t.deepEqual(names.slice(0, 3), ['01-tensors-and-autograd.ts', '02-convolution-and-deconvolution.ts', '03-roipool-vs-roialign.ts']);
  t.end();
});
