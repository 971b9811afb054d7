import test, { type Test } from 'tape';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Generator, Tensor, randn } from '../../lib/index.js';
import {
  AdamW, LRScheduler, Linear, SGD, Sequential, linearWarmup,
  loadCheckpoint, loadSafetensors, readStateDict, saveCheckpoint, saveSafetensors, SafetensorsFile,
  type SafetensorsInput,
} from '../../lib/nn/index.js';
import { assertThrowsMessage } from '../helpers.js';

/** A small model, an AdamW that has taken two steps (so it has moment tensors and step counts), a scheduler. */
function parts(seed = 1): { model: Sequential; optimizer: AdamW; scheduler: LRScheduler } {
  const g = new Generator(seed);
  const model = new Sequential([new Linear(3, 4, { generator: g }), new Linear(4, 2, { generator: g })]);
  const optimizer = new AdamW(model.parameters(), { lr: 0.01 });
  const scheduler = new LRScheduler(optimizer, linearWarmup({ warmupFactor: 0.1, warmupIters: 4 }));
  for (let i = 0; i < 2; i++) {
    optimizer.zeroGrad();
    model.forward(randn([5, 3], { generator: g })).pow(2).sum().backward();
    optimizer.step();
    scheduler.step();
  }
  return { model, optimizer, scheduler };
}

/**
 * Rewrites a checkpoint: `edit` gets its tensors (with their stored types) and metadata and
 * changes them in place; the file is written again as safetensors.
 */
function rewrite(path: string, out: string, edit: (tensors: Map<string, SafetensorsInput>, meta: Record<string, string>) => void): string {
  const file = loadSafetensors(path);
  const tensors = new Map<string, SafetensorsInput>([...file.tensors].map(([k, v]) => [k, { tensor: v, dtype: file.dtypes.get(k)! }]));
  const meta = { ...file.metadata! };
  edit(tensors, meta);
  saveSafetensors(out, tensors, { metadata: meta });
  return out;
}

/** Edits one JSON field of the metadata entry `key`. */
function editJson(key: string, change: (value: Record<string, unknown>) => void): (tensors: Map<string, SafetensorsInput>, meta: Record<string, string>) => void {
  return (_tensors, meta) => {
    const value = JSON.parse(meta[key]!) as Record<string, unknown>;
    change(value);
    meta[key] = JSON.stringify(value);
  };
}

/** A temporary folder removed when the test ends. */
function tempDir(t: Test): string {
  const dir = mkdtempSync(join(tmpdir(), 'nn-ckpt-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

test('loadCheckpoint: a corrupted checkpoint names the file and the field, never a bare SyntaxError or "the state of undefined" (issue 18)', (t) => {
  const dir = tempDir(t);
  {
    const good = join(dir, 'good.safetensors');
    saveCheckpoint(good, { ...parts(), extra: { step: 2 } });
    const load = (path: string) => () => loadCheckpoint(path, parts(7));
    t.deepEqual(loadCheckpoint(good, parts(7)).extra, { step: 2 }, 'the untouched checkpoint loads');
    let n = 0;
    const bad = (edit: Parameters<typeof rewrite>[2]): string => rewrite(good, join(dir, `bad${n++}.safetensors`), edit);
    const group0 = (change: (g: Record<string, unknown>) => void) => editJson('optimizer', (o) => change((o['paramGroups'] as Array<Record<string, unknown>>)[0]!));
    const cases: Array<[string, string, string[]]> = [
      ['optimizer JSON cut short', bad((_t, meta) => (meta['optimizer'] = meta['optimizer']!.slice(0, 20))), ["metadata 'optimizer': not valid JSON"]],
      ['scheduler JSON not JSON', bad((_t, meta) => (meta['scheduler'] = '{lastEpoch: 2}')), ["metadata 'scheduler': not valid JSON"]],
      ['extra nested 100,000 deep', bad((_t, meta) => (meta['extra'] = '['.repeat(100_000) + ']'.repeat(100_000))), ["metadata 'extra': JSON nests deeper than 64 levels"]],
      ['optimizer JSON not an object', bad((_t, meta) => (meta['optimizer'] = '[1]')), ["metadata 'optimizer' should be a JSON object, got [1]"]],
      ['optimizer without a name', bad(editJson('optimizer', (o) => delete o['name'])), ["metadata 'optimizer'.name should be a string, got undefined"]],
      ['a NaN learning rate (JSON null)', bad(group0((g) => (g['lr'] = null))), ['paramGroups[0].lr should be a positive learning rate, got null']],
      ['an infinite learning rate (1e999)', bad((_t, meta) => (meta['optimizer'] = meta['optimizer']!.replace(/"lr":[^,]+/, '"lr":1e999'))), ['paramGroups[0].lr should be a positive learning rate, got null']],
      ['a negative learning rate', bad(group0((g) => (g['lr'] = -0.1))), ['paramGroups[0].lr should be a positive learning rate, got -0.1']],
      ['a NaN weight decay', bad(group0((g) => (g['weightDecay'] = null))), ['paramGroups[0].weightDecay should be a number >= 0, got null']],
      ['betas out of range', bad(group0((g) => (g['betas'] = [0.9, 1.5]))), ['paramGroups[0].betas should be 2 numbers, each a number in [0, 1), got [0.9,1.5]']],
      ['amsgrad not a boolean', bad(group0((g) => (g['amsgrad'] = 'no'))), ['paramGroups[0].amsgrad should be true or false, got "no"']],
      ['an unknown hyper-parameter', bad(group0((g) => (g['nesterov'] = true))), ['paramGroups[0].nesterov is not a hyper-parameter of AdamW']],
      ['too few parameter indices', bad(group0((g) => (g['params'] = [0, 1]))), ['paramGroups[0].params should list the indices of 4 parameters, got [0,1]']],
      ['a repeated parameter index', bad(group0((g) => (g['params'] = [0, 1, 1, 3]))), ['paramGroups[0].params lists parameter 1 twice']],
      ['two groups for one', bad(editJson('optimizer', (o) => (o['paramGroups'] as unknown[]).push({}))), ["metadata 'optimizer'.paramGroups has 2 groups, the optimiser 1"]],
      ['a step count that is not a number', bad(editJson('optimizer', (o) => ((o['scalars'] as Record<string, Record<string, unknown>>)['0']!['step'] = 'two'))), ["'optimizer'.scalars.0.step should be a step count (an integer >= 1: state exists after a step), got \"two\""]],
      ['a step count of 0', bad(editJson('optimizer', (o) => ((o['scalars'] as Record<string, Record<string, unknown>>)['1']!['step'] = 0))), ["'optimizer'.scalars.1.step should be a step count (an integer >= 1: state exists after a step), got 0"]],
      ['a deleted step count', bad(editJson('optimizer', (o) => delete (o['scalars'] as Record<string, unknown>)['2'])), ['the optimiser state of parameter 2 has exp_avg, exp_avg_sq, but that of parameter 0 has exp_avg, exp_avg_sq, step']],
      ['a deleted moment buffer', bad((tensors) => tensors.delete('optimizer.state.3.exp_avg_sq')), ['the optimiser state of parameter 3 has exp_avg, step, but that of parameter 0 has exp_avg, exp_avg_sq, step']],
      ['state of a parameter nobody lists', bad(editJson('optimizer', (o) => ((o['scalars'] as Record<string, unknown>)['9'] = { step: 2 }))), ['scalars.9: no parameter group lists parameter 9']],
      ['a negative scheduler step', bad(editJson('scheduler', (s) => (s['lastEpoch'] = -1))), ["metadata 'scheduler'.lastEpoch should be a step count (an integer >= 0), got -1"]],
      ['a NaN base learning rate', bad(editJson('scheduler', (s) => (s['baseLrs'] = [null]))), ["metadata 'scheduler'.baseLrs should be a list of positive learning rates, got [null]"]],
      ['a NaN momentum buffer', bad((tensors) => {
        const v = tensors.get('optimizer.state.0.exp_avg') as { tensor: { data: Float32Array } };
        v.tensor.data[1] = NaN;
      }), ["tensor 'optimizer.state.0.exp_avg' holds NaN at element 1"]],
      ['an infinite weight', bad((tensors) => {
        const v = tensors.get('model.1.bias') as { tensor: { data: Float32Array } };
        v.tensor.data[0] = -Infinity;
      }), ["tensor 'model.1.bias' holds -Infinity at element 0"]],
      ['a float weight relabelled I32', bad((tensors) => {
        const v = tensors.get('model.0.weight') as { tensor: Tensor };
        tensors.set('model.0.weight', { tensor: new Tensor(new Int32Array(v.tensor.data.buffer.slice(0)), [...v.tensor.shape], 'int32'), dtype: 'I32' } as SafetensorsInput);
      }), ["tensor 'model.0.weight' is stored as I32 but the model's float32 tensor needs a float type"]],
      ['a stray tensor', bad((tensors) => tensors.set('junk', tensors.get('model.1.bias')!)), ["unexpected tensor 'junk'"]],
      ['state of an unlisted parameter', bad((tensors) => tensors.set('optimizer.state.7.exp_avg', tensors.get('model.1.bias')!)), ["tensor 'optimizer.state.7.exp_avg' is the state of parameter 7, which no parameter group lists"]],
    ];
    for (const [label, path, fragments] of cases) {
      try {
        load(path)();
        t.fail(`${label}: did not throw`);
      } catch (error) {
        const e = error as Error;
        const missing = [path, ...fragments].filter((f) => !e.message.includes(f));
        t.ok(e.constructor === Error && missing.length === 0, `${label} (got ${e.constructor.name}: ${e.message.slice(0, 300)})`);
      }
    }
    assertThrowsMessage(t, () => loadCheckpoint(good, { optimizer: new SGD(parts().model.parameters(), { lr: 1 }) }), 'holds the state of AdamW, not of SGD', 'the wrong optimiser is still named');
    // NaN weights can be let through on purpose (to inspect a diverged run).
    const nan = rewrite(good, join(dir, 'nan.safetensors'), (tensors) => {
      (tensors.get('model.1.bias') as { tensor: { data: Float32Array } }).tensor.data[0] = NaN;
    });
    const target = parts(7);
    loadCheckpoint(nan, { model: target.model, allowNonFinite: true });
    t.ok(Number.isNaN(target.model.stateDict().get('1.bias')!.data[0]!), 'allowNonFinite: true loads a NaN weight as it is');
  }
  t.end();
});

test('readStateDict: element types checked against the model before reading; prefix selection', (t) => {
  const dir = tempDir(t);
  {
    const { model } = parts();
    const path = join(dir, 'w.safetensors');
    saveSafetensors(path, new Map<string, SafetensorsInput>([...model.stateDict()].map(([k, v]) => [`net.${k}`, k === '1.weight' ? { tensor: v, dtype: 'F16' } : v])));
    const file = SafetensorsFile.open(path);
    try {
      const dict = readStateDict(file, model, { prefix: 'net.' });
      t.deepEqual([...dict.keys()], [...model.stateDict().keys()], 'the prefix is removed');
      t.equal(dict.get('1.weight')!.dtype, 'float32', 'an F16 tensor is a float tensor for a float32 parameter');
    } finally {
      file.close();
    }
  }
  t.end();
});
