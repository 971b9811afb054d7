/**
 * The project's test runner: runs every tape test under tsx, streams the TAP output, and ends
 * with one line `N passed, N failed` (assertions, as tape counts them).
 *
 * A crash (non-zero exit without a failing assertion), a TAP stream with no assertions, or a
 * stream that ends before its plan counts as a failure, so a broken test file can never look green.
 *
 * Usage: `npm test` (all of `test/**\/*.test.ts`) or `npm test -- test/tensor/autograd.test.ts ...`.
 */
import { spawn } from 'node:child_process';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';

const require = createRequire(import.meta.url);
const tapeBin = join(dirname(require.resolve('tape/package.json')), 'bin', 'tape');
const files = process.argv.slice(2);
const patterns = files.length > 0 ? files : ['test/**/*.test.ts'];

const child = spawn(process.execPath, ['--import', 'tsx', tapeBin, '--strict', ...patterns], {
  stdio: ['ignore', 'pipe', 'inherit'],
});

let passed = 0;
let failed = 0;
let planned = -1;
let buffer = '';

function readLine(line: string): void {
  if (/^ok \d+/.test(line)) passed++;
  else if (/^not ok \d+/.test(line)) failed++;
  const plan = /^1\.\.(\d+)/.exec(line);
  if (plan) planned = Number(plan[1]);
}

child.stdout.setEncoding('utf8');
child.stdout.on('data', (chunk: string) => {
  process.stdout.write(chunk);
  buffer += chunk;
  let newline: number;
  while ((newline = buffer.indexOf('\n')) >= 0) {
    readLine(buffer.slice(0, newline));
    buffer = buffer.slice(newline + 1);
  }
});

child.on('close', (code, signal) => {
  if (buffer.length > 0) readLine(buffer);
  const problems: string[] = [];
  if (code !== 0 && failed === 0) {
    problems.push(`the test process exited with ${signal ?? `code ${code}`} without a failing assertion (a crash)`);
    failed++;
  }
  if (passed + failed === 0) {
    problems.push('no assertions ran');
    failed++;
  } else if (planned >= 0 && planned !== passed + failed && code === 0) {
    problems.push(`plan said ${planned} assertions, ${passed + failed} were seen`);
    failed++;
  }
  for (const p of problems) process.stdout.write(`# runner: ${p}\n`);
  process.stdout.write(`${passed} passed, ${failed} failed\n`);
  process.exit(failed > 0 ? 1 : 0);
});
