/**
 * The fuzz suite's outcome classifier: the one rule for a clean error, and how an accepted input
 * becomes "silently accepted" or "accepted (may be valid)".
 */
import test from 'tape';
import { classify, uncleanReason } from '../../tools/fuzz/classify.js';
import { reasonKey } from '../../tools/fuzz/run.js';

test('uncleanReason: a clean error is a plain Error that names the input and is not an engine message', (t) => {
  t.equal(uncleanReason({ name: 'Error', message: 'readPng: /tmp/x.png is not a valid PNG: a chunk has a bad CRC' }, ['x.png']), null, 'a reader error naming the file is clean');
  t.equal(uncleanReason({ name: 'Error', message: 'rleDecode: counts sum to 5 but size [2, 2] has 4 pixels' }), null, 'without a file (RLE functions) the name rule does not apply');
  t.equal(uncleanReason({ name: 'Error', message: 'x.json: not valid JSON (Unexpected token } in JSON at position 5)' }, ['x.json']), null, 'a JSON syntax error wrapped with the file name and position is clean');
  for (const name of ['TypeError', 'RangeError', 'SyntaxError', 'ReferenceError']) {
    t.match(uncleanReason({ name, message: 'x.json: something' }, ['x.json']) ?? '', new RegExp(`bare ${name}`), `a bare ${name} is not clean, even naming the file`);
  }
  t.match(uncleanReason({ name: 'Error', message: 'x.json: Maximum call stack size exceeded' }, ['x.json']) ?? '', /engine message/, 'a wrapped stack overflow is not clean');
  t.match(uncleanReason({ name: 'Error', message: 'x.json: image 2: Invalid typed array length: 6553600000' }, ['x.json']) ?? '', /engine message/, 'a wrapped "Invalid typed array length" is not clean');
  t.match(uncleanReason({ name: 'Error', message: "Cannot read properties of undefined (reading 'x')" }) ?? '', /engine message/, 'a property read of undefined is not clean');
  t.match(uncleanReason({ name: 'Error', message: 'loadCheckpoint: c.safetensors holds the state of undefined, not of AdamW' }, ['c.safetensors']) ?? '', /engine message/, '"the state of undefined" is not clean');
  t.match(uncleanReason({ name: 'Error', message: 'Generator.setState: expected 5 numbers, got 3' }, ['checkpoint.safetensors']) ?? '', /does not name the input/, 'an error that does not name the file is not clean');
  t.match(uncleanReason({ name: 'Error', message: '   ' }) ?? '', /empty message/, 'an empty message is not clean');
  t.match(uncleanReason({ name: 'Crash', message: 'the child died' }) ?? '', /Crash/, 'a crashed child is not clean');
  t.equal(uncleanReason({ name: 'Error', message: 'x.png: size NaNx5 is not two positive integers' }, ['x.png']), null, 'a message quoting NaN is still clean');
  t.end();
});

test('classify: errors, wrong outputs, and the oracle for accepted inputs', (t) => {
  t.equal(classify({ error: { name: 'Error', message: 'a.json: bad' } }, 'whatever', ['a.json']).outcome, 'clean-error', 'a clean error is clean whatever the oracle says');
  t.equal(classify({ error: { name: 'TypeError', message: 'x' } }, null).outcome, 'other-exception', 'a bare TypeError is another exception');
  t.equal(classify({}, 'area is 1e308').outcome, 'silently-accepted', 'a certainly invalid input that is accepted is silently accepted');
  t.match(classify({}, 'area is 1e308').why, /area is 1e308/, 'and says why it was invalid');
  t.equal(classify({}, null).outcome, 'accepted-valid', 'an input the oracle cannot fault is accepted (may be valid)');
  t.equal(classify({ outputProblem: 'counts sum to 3, not 4' }, null).outcome, 'silently-accepted', 'a wrong result counts as silently accepted even for a valid input');
  t.end();
});

test('reasonKey: inputs that fail the same way group together', (t) => {
  t.equal(reasonKey('a bare RangeError: Invalid typed array length: 6553600000'), reasonKey('a bare RangeError: Invalid typed array length: 42'), 'numbers are blanked');
  t.equal(reasonKey('/dev/shm/x/case-1.json: result 3: bad character "#"'), 'PATH: result N: bad character Q', 'paths and quoted values are blanked');
  t.end();
});
