import test from 'tape';
import { checkJsonDepth, checkValueDepth, parseJson, checkImageSize, checkTensorElements, inputLimits, DEFAULT_INPUT_LIMITS } from '../../lib/util/limits.js';

test('checkJsonDepth: iterative, ignores brackets inside strings, names the file and offset', (t) => {
  checkJsonDepth('{"a":[[1,2],{"b":"[[[[[[[["}]}', 'f.json', 3);
  t.throws(() => checkJsonDepth('[[[[1]]]]', 'f.json', 3), /f\.json: JSON nests deeper than 3 levels \(at character 3\); raise it with the environment variable MASKRCNN_MAX_JSON_DEPTH/);
  const deep = '['.repeat(100_000) + ']'.repeat(100_000);
  t.throws(() => parseJson(deep, 'deep.json'), /deep\.json: JSON nests deeper than 64 levels/, '100,000 deep: a clean error, not a stack overflow');
  checkJsonDepth('"\\"[[[["', 'esc', 1);
  t.pass('escaped quotes inside strings are skipped');
  t.end();
});

test('checkValueDepth: an already-parsed value, iterative, names the path; cycles are caught', (t) => {
  checkValueDepth({ a: [1, { b: [[]] }], c: 'x' }, 'v', 5);
  checkValueDepth(42, 'a number', 1);
  t.throws(() => checkValueDepth({ a: [1, { b: [[]] }] }, 'v.json', 4), /^Error: v\.json: nests deeper than 4 levels \(at \.a\[1\]\.b\[0\]\); raise it with the environment variable MASKRCNN_MAX_JSON_DEPTH=N/, 'names the JSON path');
  let deep: unknown = [];
  for (let i = 0; i < 100_000; i++) deep = [deep];
  t.throws(() => checkValueDepth({ annotations: deep }, 'built in JS'), /built in JS: nests deeper than 64 levels \(at \.annotations(\[0\]){63}\)/, '100,000 deep: a clean error, not a stack overflow');
  const cyclic: Record<string, unknown> = { id: 1 };
  cyclic['self'] = cyclic;
  t.throws(() => checkValueDepth(cyclic, 'cyclic', 8), /cyclic: nests deeper than 8 levels \(at (\.self){8}\)/, 'a cycle is nesting without end');
  t.end();
});

test('parseJson: a syntax error names what was read', (t) => {
  t.deepEqual(parseJson('{"a":1}', 'x'), { a: 1 });
  t.throws(() => parseJson('{"a":', 'results.json'), /^Error: results\.json: not valid JSON \(/);
  t.end();
});

test('checkImageSize: positive integers, pixel limit as Pillow', (t) => {
  t.equal(DEFAULT_INPUT_LIMITS.maxImagePixels, 89_478_485, "Pillow's MAX_IMAGE_PIXELS");
  checkImageSize(9459, 9459, 'ok.png');
  t.throws(() => checkImageSize(6000, 6000, 'bomb.png', 1_000_000), /bomb\.png: 6000x6000 = 36000000 pixels is more than the limit of 1000000/);
  t.throws(() => checkImageSize(-1, 5, 'a'), /a: size -1x5 is not two positive integers/);
  t.throws(() => checkImageSize(2.5, 5, 'a'), /not two positive integers/);
  t.end();
});

test('checkTensorElements and inputLimits: environment overrides, malformed values rejected', (t) => {
  t.equal(checkTensorElements([2, 3, 4], 'w'), 24);
  t.throws(() => checkTensorElements([1, -1], 'w'), /w: shape \[1, -1\] has a dimension that is not a non-negative integer/);
  t.throws(() => checkTensorElements([1e6, 1e6], 'w'), /more than 268435456 elements/);
  const saved = process.env['MASKRCNN_MAX_IMAGE_PIXELS'];
  process.env['MASKRCNN_MAX_IMAGE_PIXELS'] = '100';
  t.equal(inputLimits().maxImagePixels, 100, 'environment override');
  t.equal(inputLimits({ maxImagePixels: 7 }).maxImagePixels, 7, 'an explicit option wins');
  process.env['MASKRCNN_MAX_IMAGE_PIXELS'] = 'lots';
  t.throws(() => inputLimits(), /MASKRCNN_MAX_IMAGE_PIXELS="lots" is not a positive integer/);
  if (saved === undefined) delete process.env['MASKRCNN_MAX_IMAGE_PIXELS'];
  else process.env['MASKRCNN_MAX_IMAGE_PIXELS'] = saved;
  t.end();
});
