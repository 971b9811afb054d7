import test from 'tape';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { makeDirectory, writeFileAtomic } from '../../lib/util/atomic_write.js';
import { assertThrowsMessage } from '../helpers.js';

const moduleUrl = new URL('../../lib/util/atomic_write.ts', import.meta.url).href;

test('writeFileAtomic: the whole file or the old one; a missing folder is an error naming the path', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'atomic-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const path = join(dir, 'a.txt');
  writeFileAtomic(path, 'one');
  writeFileAtomic(path, (write) => {
    write('tw');
    write(new TextEncoder().encode('o'));
  });
  t.equal(readFileSync(path, 'utf8'), 'two', 'pieces written in order, replacing the old content');
  assertThrowsMessage(t, () => writeFileAtomic(path, () => { throw new Error('disk full'); }, 'test'), ['test: cannot write', path, 'disk full'], 'a failing writer names the file');
  t.equal(readFileSync(path, 'utf8'), 'two', 'and leaves the old file');
  t.deepEqual(readdirSync(dir), ['a.txt'], 'and no temporary file');
  assertThrowsMessage(t, () => writeFileAtomic(join(dir, 'no', 'b.txt'), 'x', 'test'), 'test: cannot write', 'a missing folder is an error, not a new folder');
  t.end();
});

test('makeDirectory: creates missing parents; a file in the way or a folder that refuses entries is an error, never an endless loop (issue 18)', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'mkdir-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const deep = join(dir, 'a', 'b', 'c');
  makeDirectory(deep);
  t.ok(statSync(deep).isDirectory(), 'a/b/c created');
  makeDirectory(deep);
  t.pass('an existing folder is fine');
  writeFileSync(join(dir, 'file'), 'x');
  assertThrowsMessage(t, () => makeDirectory(join(dir, 'file', 'sub'), 'train'), ['train: cannot create', `${join(dir, 'file')} is a file, not a folder`], 'a file in the path');
  assertThrowsMessage(t, () => makeDirectory(join(dir, 'file'), 'train'), 'is a file, not a folder', 'the path itself a file');
  t.notOk(existsSync(join(dir, 'file', 'sub')), 'nothing created');
  if (existsSync('/proc/self')) {
    // Node 20's mkdirSync(path, {recursive: true}) never returns for this path; a child process guards the test.
    const child = spawnSync(process.execPath, ['--input-type=module', '--import', 'tsx', '-e', `import('${moduleUrl}').then((m) => m.makeDirectory('/proc/nope/x', 'train')).catch((e) => { console.log(e.message); })`], { encoding: 'utf8', timeout: 20_000 });
    t.equal(child.signal, null, 'makeDirectory(/proc/nope/x) returns (no endless loop)');
    t.match(child.stdout, /^train: cannot create \/proc\/nope\/x: ENOENT/, `and says why (${child.stdout.trim()})`);
  }
  t.end();
});
