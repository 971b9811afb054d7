import test from 'tape';
import {
  bboxIou,
  checkRle,
  rleArea,
  rleCompress,
  rleCountsToString,
  rleDecode,
  rleEncode,
  rleFromBbox,
  rleFromPolygons,
  rleIou,
  rleMerge,
  rleStringToCounts,
  rleToBbox,
  rleUncompress,
  type Rle,
} from '../../../lib/maskrcnn/data/rle.js';

/** Deterministic pseudo-random numbers in [0, 1) (LCG), for property tests. */
function lcg(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 4294967296;
  };
}

function throwsWith(t: test.Test, fn: () => unknown, pattern: RegExp, message: string): void {
  try {
    fn();
    t.fail(`${message}: did not throw`);
  } catch (error) {
    t.match((error as Error).message, pattern, message);
  }
}

function counts(rle: Rle): number[] {
  return rleUncompress(rle).counts;
}

test('rleEncode: runs are column-major and start with the zeros run (hand-worked)', (t) => {
  // h=2, w=3, rows [0 1 1] and [0 0 1]. Column-major: col0 = 0,0; col1 = 1,0; col2 = 1,1
  // -> 0 0 1 0 1 1 -> runs [2, 1, 1, 2]; string: '2','1','1', then 2 - counts[1] = 1 -> '1'.
  const rle = rleEncode(Uint8Array.from([0, 1, 1, 0, 0, 1]), 2, 3);
  t.deepEqual(rle, { size: [2, 3], counts: '2111' }, 'compressed form');
  t.deepEqual(counts(rle), [2, 1, 1, 2], 'run lengths');
  // a mask starting with 1 gets a zero-length first run: [[1,0],[1,0]] -> col0 = 1,1, col1 = 0,0
  t.deepEqual(counts(rleEncode([1, 0, 1, 0], 2, 2)), [0, 2, 2], 'leading zero run');
  t.deepEqual(counts(rleEncode(new Uint8Array(9), 3, 3)), [9], 'all zeros: one run');
  t.deepEqual(counts(rleEncode([1, 1, 1, 1], 2, 2)), [0, 4], 'all ones');
  t.deepEqual(counts(rleEncode([0, 7, 0, 0], 2, 2)), [2, 1, 1], 'any non-zero value is foreground');
  throwsWith(t, () => rleEncode([1, 0, 1], 2, 2), /3 values but h\*w = 2\*2 = 4/, 'mask length checked');
  t.end();
});

test('rleDecode inverts rleEncode (row-major out), area and round trips on random masks', (t) => {
  const rand = lcg(7);
  let ok = true;
  for (let trial = 0; trial < 50; trial++) {
    const h = 1 + Math.floor(rand() * 9);
    const w = 1 + Math.floor(rand() * 9);
    const density = rand();
    const mask = Uint8Array.from({ length: h * w }, () => (rand() < density ? 1 : 0));
    const rle = rleEncode(mask, h, w);
    const back = rleDecode(rle);
    const area = mask.reduce((a, b) => a + b, 0);
    if (back.join() !== mask.join() || rleArea(rle) !== area) ok = false;
    // the uncompressed form decodes to the same mask and recompresses to the same string
    const un = rleUncompress(rle);
    if (rleDecode(un).join() !== mask.join() || rleCompress(un).counts !== rle.counts) ok = false;
  }
  t.ok(ok, '50 random masks: decode(encode(m)) == m, area == pixel count, both forms agree');
  t.deepEqual(Array.from(rleDecode({ size: [2, 3], counts: [2, 1, 1, 2] })), [0, 1, 1, 0, 0, 1], 'hand-worked decode');
  t.end();
});

test('counts string: first three raw, deltas from index 3, 5-bit groups, sign bit (hand-worked)', (t) => {
  // 100 = 3*32 + 4: group 4 with continuation (36 -> 'T'), then 3 -> '3'.
  // 3 - 5 = -2: group 30 has bit 0x10 and the rest is -1, so it ends: 'N'.
  t.equal(rleCountsToString([0, 5, 100, 3]), '05T3N', '[0,5,100,3]');
  t.deepEqual(rleStringToCounts('05T3N'), [0, 5, 100, 3], 'decoded back');
  // 1000 = 31*32 + 8: 'X' (8|0x20); then 31 has bit 0x10 but the rest (0) is not -1, so it
  // continues ('o' = 63) and a final '0' group carries the zero sign.
  t.equal(rleCountsToString([1000]), 'Xo0', '1000 needs a third group because of the sign bit');
  // [20, 3, 30, 3, 13]: 20 -> 'd0' (sign bit again), 3 -> '3', 30 -> 'n0', delta 0 -> '0',
  // delta 13 - 30 = -17 -> 15 with continuation ('_'), then -1 -> 31 ('O').
  t.equal(rleCountsToString([20, 3, 30, 3, 13]), 'd03n00_O', 'negative delta -17');
  t.deepEqual(rleStringToCounts('d03n00_O'), [20, 3, 30, 3, 13], 'sign extension on decode');
  t.equal(rleCountsToString([1, 2, 3, 1]), '123O', 'delta -1 is one character');
  const big = [0, 123456789, 5, 987654321, 1, 0, 2 ** 31, 7, 2 ** 40];
  t.deepEqual(rleStringToCounts(rleCountsToString(big)), big, 'large counts and large negative deltas round trip');
  const rand = lcg(11);
  let ok = true;
  for (let trial = 0; trial < 200; trial++) {
    const c = Array.from({ length: 1 + Math.floor(rand() * 12) }, () => Math.floor(rand() ** 3 * 5e6));
    if (rleStringToCounts(rleCountsToString(c)).join() !== c.join()) ok = false;
  }
  t.ok(ok, '200 random count lists round trip');
  t.end();
});

test('counts string and RLE errors are clear', (t) => {
  throwsWith(t, () => rleStringToCounts('05 3'), /bad character " " at position 2/, 'bad character named');
  throwsWith(t, () => rleStringToCounts('05p'), /bad character "p"/, "characters above 'o' rejected");
  throwsWith(t, () => rleStringToCounts('0T'), /ends in the middle of a value/, 'truncated string');
  throwsWith(t, () => rleStringToCounts('5O'), /run 1 decodes to a negative length/, 'negative run');
  throwsWith(t, () => rleArea({ size: [2, 2], counts: [1, 2] }), /counts sum to 3 but size \[2, 2\] has 4 pixels/, 'sum != h*w (array)');
  throwsWith(t, () => rleDecode({ size: [3, 2], counts: '13' }), /counts sum to 4 but size \[3, 2\] has 6 pixels/, 'string form sum checked');
  throwsWith(t, () => rleArea({ size: [2, 2], counts: [1, -1, 4] }), /counts\[1\] must be a non-negative integer/, 'negative count');
  throwsWith(t, () => rleArea({ size: [2], counts: [4] } as unknown as Rle), /size must be \[height, width\]/, 'bad size');
  throwsWith(t, () => rleCountsToString([1, 2.5]), /count 1 must be a non-negative integer/, 'non-integer count');
  t.end();
});

/** Runs `fn` with MASKRCNN_MAX_IMAGE_PIXELS set to `value`, restoring the environment after. */
function withPixelLimit<T>(value: string, fn: () => T): T {
  const saved = process.env['MASKRCNN_MAX_IMAGE_PIXELS'];
  process.env['MASKRCNN_MAX_IMAGE_PIXELS'] = value;
  try {
    return fn();
  } finally {
    if (saved === undefined) delete process.env['MASKRCNN_MAX_IMAGE_PIXELS'];
    else process.env['MASKRCNN_MAX_IMAGE_PIXELS'] = saved;
  }
}

/** A value nested `depth` arrays deep, built without recursion. */
function nested(depth: number): unknown {
  let v: unknown = [1];
  for (let i = 0; i < depth; i++) v = [v];
  return v;
}

test('hostile RLE input (issue 18): sizes checked against the pixel limit before any allocation', (t) => {
  const started = Date.now();
  let working = 0;
  throwsWith(t, () => rleDecode({ size: [100000, 65536], counts: [6553599999, 1] }), /rleDecode: a 100000x65536 mask has 6553600000 pixels; RLE masks are limited to fewer than 2\^32/, 'the issue\'s Invalid typed array length case');
  throwsWith(t, () => rleDecode({ size: [40000, 40000], counts: [0, 1600000000] }), /a 40000x40000 mask has 1600000000 pixels, more than the limit of 89478485; raise it with the environment variable MASKRCNN_MAX_IMAGE_PIXELS=N/, 'over the pixel limit: says how to raise it');
  throwsWith(t, () => rleFromBbox([0, 0, 1, 1], 2 ** 32, 1), /rleFromBbox: a 4294967296x1 mask .* fewer than 2\^32/, 'rleFromBbox with a size of 2^32');
  throwsWith(t, () => rleFromPolygons([[0, 0, 10, 0, 10, 10], [20, 20, 30, 20, 30, 30]], 65536, 65536), /rleFromPolygons: a 65536x65536 mask has 4294967296 pixels/, 'the two-part polygon that hung');
  withPixelLimit(String(2 ** 40), () => {
    throwsWith(t, () => rleFromPolygons([[0, 0, 10, 0, 10, 10]], 65536, 65536), /fewer than 2\^32/, 'a raised limit still stops at 2^32 (32-bit runs would wrap)');
    const before = Date.now();
    const m = rleFromPolygons([[0, 0, 10, 0, 10, 10], [20, 20, 30, 20, 30, 30]], 8192, 12000);
    t.equal(rleUncompress(m).counts.reduce((a, b) => a + b, 0), 8192 * 12000, 'under 2^32 with the limit raised: counts sum to h*w');
    working += Date.now() - before; // real work (98 million pixels), not part of the fail-fast guard
  });
  throwsWith(t, () => rleEncode(new Uint8Array(0), 100000, 100000), /rleEncode: a 100000x100000 mask has 10000000000 pixels/, 'rleEncode checks the size before reading the mask');
  throwsWith(t, () => rleArea({ size: [2, 2], counts: [1, 1e15, 2] }), /counts\[0\.\.1\] already sum to 1000000000000001 but size \[2, 2\] has 4 pixels/, 'a huge count stops the walk at once');
  throwsWith(t, () => rleArea({ size: [2, 2.5], counts: [5] } as Rle), /size must be two non-negative integers/, 'a fractional size');
  throwsWith(t, () => rleArea({ size: [2 ** 60, 0], counts: [] } as Rle), /size must be two non-negative integers/, 'an unsafe integer size');
  // boundary points are budgeted per mask, all parts together: many large parts cannot add up to a hang
  const far = [0, 0, 2e6, 0, 2e6, 1];
  throwsWith(t, () => rleFromPolygons([far, far], 8, 8), /rleFromPolygons: polygon coordinates are too large to rasterise \(more than 33554432 boundary points on the 5x grid, 20000008 in this part; a polygon's coordinates should lie in or near its 8x8 image\)/, 'two parts of 20 million points each (each alone is under the limit)');
  throwsWith(t, () => rleFromPolygons([[0, 0, 1e308, 0, 1e308, 1]], 8, 8), /too large to rasterise/, 'a coordinate of 1e308');
  // A guard against the hangs and 35-second cases of issue 18, not a speed goal: the rejections
  // take milliseconds, and the bound is wide enough for a loaded machine.
  const failing = Date.now() - started - working;
  t.ok(failing < 10_000, `the rejections return at once (${failing} ms, under a 10 s hang guard)`);
  t.end();
});

test('hostile RLE input (issue 18): counts strings, wrong types and deep nesting give clear errors', (t) => {
  throwsWith(t, () => rleStringToCounts(null as unknown as string), /RLE string: counts must be a string, got null/, 'null (was a TypeError)');
  throwsWith(t, () => rleStringToCounts(42 as unknown as string), /counts must be a string, got 42/, 'a number');
  throwsWith(t, () => rleStringToCounts('o'.repeat(300)), /the value starting at character 0 has more than 11 characters/, 'a value that grew to Infinity - Infinity = NaN');
  throwsWith(t, () => rleStringToCounts('oooooooooo8'), /run 0 decodes to 10133099161583616 \(corrupt/, 'a value beyond 2^53 (9 * 2^50 - 1, not exact)');
  t.deepEqual(rleStringToCounts('oooooooooo7'), [2 ** 53 - 1], 'the largest exact value (11 characters) still reads');
  throwsWith(t, () => rleStringToCounts('5O'), /run 1 decodes to a negative length -1 /, 'a negative run');
  const deep = nested(100000);
  throwsWith(t, () => rleDecode({ size: deep, counts: deep } as unknown as Rle), /rleDecode: size must be \[height, width\], got \[\[\[\[\.\.\.\]\]\]\]/, 'a size nested 100,000 deep: no stack overflow');
  throwsWith(t, () => rleArea({ size: [1, 1], counts: deep } as unknown as Rle), /counts\[0\] must be a non-negative integer, got \[\[\[/, 'counts nested 100,000 deep');
  throwsWith(t, () => rleFromPolygons([[deep, 0]] as number[][], 4, 4), /polygon 0 coordinate 0 must be a finite number, got \[\[\[/, 'polygons nested 100,000 deep');
  throwsWith(t, () => rleArea([1, 2] as unknown as Rle), /expected an RLE object \{size, counts\}, got \[1,2\]/, 'an array is not an RLE');
  throwsWith(t, () => checkRle({ size: [2, 2], counts: [1, NaN, 2] }, 'annotations[3].segmentation'), /^annotations\[3\]\.segmentation: counts\[1\] must be a non-negative integer, got NaN$/, 'checkRle names the mask');
  t.doesNotThrow(() => checkRle({ size: [0, 0], counts: [] }), 'an empty 0x0 mask is valid');
  t.end();
});

test('rleToBbox: maskApi toBbox, including the two-column quirk', (t) => {
  // 5x5, foreground at (x=1..2, y=1..3): runs in col-major: col0 zeros (5) + col1 y=0 -> 6,
  // then 3 ones, 2 zeros, 3 ones, then the rest.
  const m = new Uint8Array(25);
  for (let y = 1; y <= 3; y++) for (let x = 1; x <= 2; x++) m[y * 5 + x] = 1;
  t.deepEqual(rleToBbox(rleEncode(m, 5, 5)), [1, 1, 2, 3], 'ordinary box');
  // runs [3, 4, 18]: one foreground run from (x=0, y=3) down into (x=1, y=1); it spans two
  // columns, so maskApi sets the box to the full height: [0, 0, 2, 5] (true box [0, 1, 2, 4]).
  t.deepEqual(rleToBbox({ size: [5, 5], counts: [3, 4, 18] }), [0, 0, 2, 5], 'run across columns -> full height');
  t.deepEqual(rleToBbox({ size: [5, 5], counts: [25] }), [0, 0, 0, 0], 'empty mask');
  t.deepEqual(rleToBbox({ size: [4, 4], counts: [0, 16] }), [0, 0, 4, 4], 'full mask');
  t.deepEqual(rleToBbox({ size: [4, 3], counts: '0<' }), [0, 0, 3, 4], 'compressed input accepted');
  t.end();
});

test('rleFromPolygons: exact rleFrPoly port (spec examples, hand-worked)', (t) => {
  // The square (0,0)-(10,10) covers pixels 0..9; shifted by half a pixel it covers 1..10.
  const a = rleFromPolygons([[0, 0, 10, 0, 10, 10, 0, 10]], 20, 20);
  t.deepEqual(rleToBbox(a), [0, 0, 10, 10], 'square (0,0)-(10,10): box 0..9');
  t.equal(rleArea(a), 100, 'area 100');
  t.deepEqual(counts(a), [0, ...Array<number>(19).fill(10), 210], 'runs: 10 ones / 10 zeros per column');
  const b = rleFromPolygons([[0.5, 0.5, 10.5, 0.5, 10.5, 10.5, 0.5, 10.5]], 20, 20);
  t.deepEqual(rleToBbox(b), [1, 1, 10, 10], 'square (0.5,0.5)-(10.5,10.5): pixels 1..10');
  t.equal(rleArea(b), 100, 'area 100');
  t.equal(rleFromBbox([0, 0, 10, 10], 20, 20).counts, a.counts, 'rleFromBbox is the same polygon');
  t.equal(rleFromBbox([0.5, 0.5, 10, 10], 20, 20).counts, b.counts, 'rleFromBbox with half-pixel offset');
  // Negative coordinates: (int)(5*x + .5) truncates toward zero. Triangle (-1.2,0),(2,0),(2,3)
  // in 5x5: vertex x -> (int)(-5.5) = -5 (floor would give -6). Walking the edges on the 5x grid:
  // the bottom edge crosses the column centres (u=2->3, 7->8) at y=0; the diagonal from
  // (10,15) back to (-5,0) has slope 1 and crosses them at v = 12 and 7, i.e. y = ceil(2) = 2
  // and ceil(1) = 1. Boundaries x*h+y: 0, 5, 7, 1 (+25) -> sorted diffs [0, 1, 4, 2, 18].
  const neg = rleFromPolygons([[-1.2, 0, 2, 0, 2, 3]], 5, 5);
  t.deepEqual(counts(neg), [0, 1, 4, 2, 18], 'negative vertex truncated toward zero (floor gives [0,2,3,2,18])');
  t.deepEqual(
    Array.from(rleDecode(neg)),
    [1, 1, 0, 0, 0, /**/ 0, 1, 0, 0, 0, /**/ 0, 0, 0, 0, 0, /**/ 0, 0, 0, 0, 0, /**/ 0, 0, 0, 0, 0],
    'as pixels',
  );
  // a polygon partly outside the image is clipped
  t.deepEqual(rleToBbox(rleFromPolygons([[-5, -5, 3, -5, 3, 3, -5, 3]], 6, 6)), [0, 0, 3, 3], 'clipped at 0');
  t.deepEqual(rleToBbox(rleFromPolygons([[2, 2, 20, 2, 20, 20, 2, 20]], 6, 6)), [2, 2, 4, 4], 'clipped at w, h');
  t.end();
});

test('rleFromPolygons: parts are unioned (overlaps are not holes); errors', (t) => {
  const p1 = [0, 0, 4, 0, 4, 4, 0, 4]; // pixels 0..3
  const p2 = [2, 2, 6, 2, 6, 6, 2, 6]; // pixels 2..5
  const both = rleFromPolygons([p1, p2], 8, 8);
  t.equal(rleArea(both), 16 + 16 - 4, 'union area 28 (overlap counted once)');
  const m1 = rleDecode(rleFromPolygons([p1], 8, 8));
  const m2 = rleDecode(rleFromPolygons([p2], 8, 8));
  t.deepEqual(Array.from(rleDecode(both)), Array.from(m1, (v, i) => v | m2[i]!), 'pixelwise OR of the parts');
  throwsWith(t, () => rleFromPolygons([[0, 0, 4, 0, 4]], 8, 8), /polygon 0 has an odd number of coordinates \(5\)/, 'odd length');
  throwsWith(t, () => rleFromPolygons([p1, []], 8, 8), /polygon 1 is empty/, 'empty part');
  throwsWith(t, () => rleFromPolygons([[0, 0, 4, Number.NaN, 4, 4]], 8, 8), /coordinate 3 must be a finite number/, 'NaN');
  throwsWith(t, () => rleFromPolygons([], 8, 8), /non-empty list of polygons/, 'no parts');
  t.end();
});

test('rleMerge: union and intersection (hand-worked), size mismatch is an error', (t) => {
  const a = rleEncode([1, 0, 0, 0], 2, 2); // pixel (0,0)
  const b = rleEncode([0, 0, 0, 1], 2, 2); // pixel (1,1)
  const c = rleEncode([1, 1, 0, 1], 2, 2); // all but (0,1)
  // union a|b: col0 = 1,0; col1 = 0,1 -> runs [0, 1, 2, 1]
  t.deepEqual(counts(rleMerge([a, b], false)), [0, 1, 2, 1], 'union');
  t.deepEqual(counts(rleMerge([a, b], true)), [4], 'intersection of disjoint masks is empty');
  t.deepEqual(counts(rleMerge([c, b], true)), [3, 1], 'intersection');
  t.deepEqual(counts(rleMerge([a, b, c])), [0, 1, 1, 2], 'three masks, union is the default');
  t.equal(rleMerge([a]).counts, a.counts, 'a single mask is returned as it is');
  t.deepEqual(counts(rleMerge([{ size: [2, 2], counts: [0, 1, 3] }, b])), [0, 1, 2, 1], 'uncompressed input accepted');
  throwsWith(t, () => rleMerge([a, rleEncode([0, 0, 0], 1, 3)]), /mask 1 has size \[1, 3\] but mask 0 has \[2, 2\]/, 'size mismatch');
  throwsWith(t, () => rleMerge([]), /at least one mask/, 'empty list');
  t.end();
});

test('rleIou: exact pixels, crowd rule, -1 for size mismatch, bbox prefilter', (t) => {
  const sq = (x: number, y: number, s: number, h = 10, w = 10): Rle => rleFromBbox([x, y, s, s], h, w);
  const dt = sq(0, 0, 2); // 4 px
  const gt = sq(0, 0, 4); // 16 px, contains dt
  t.deepEqual(rleIou([dt], [gt], [false]), [[4 / 16]], 'IoU = 4/16');
  t.deepEqual(rleIou([dt], [gt], [true]), [[1]], 'crowd: intersection over the detection area');
  t.deepEqual(rleIou([dt], [sq(5, 5, 2)], [false]), [[0]], 'disjoint -> 0');
  // sizes differ: -1 if the boxes overlap, 0 if they do not (the box test comes first)
  t.deepEqual(rleIou([dt], [sq(0, 0, 4, 20, 20)], [false]), [[-1]], 'overlapping boxes, different sizes -> -1');
  t.deepEqual(rleIou([dt], [sq(8, 8, 2, 20, 20)], [false]), [[0]], 'disjoint boxes, different sizes -> 0');
  // boxes overlap but pixels do not: an L-shape's box covers a square it does not contain
  const L = rleFromPolygons([[0, 0, 6, 0, 6, 2, 2, 2, 2, 6, 0, 6]], 10, 10);
  t.deepEqual(rleIou([sq(3, 3, 2)], [L], [false]), [[0]], 'box overlap, no pixel overlap -> 0');
  const m = rleIou([dt, gt, L], [gt, dt], [false, true]);
  t.equal(m.length, 3, '[len(dt)] rows');
  t.equal(m[0]!.length, 2, '[len(gt)] columns');
  t.equal(m[0]![1], 1, 'crowd column: 4 px inside the region / 4 px of the detection');
  t.equal(m[1]![1], 0.25, 'crowd column: 4 px of intersection / 16 px of the detection');
  t.deepEqual(rleIou([], [gt], [false]), [], 'no detections -> []');
  t.deepEqual(rleIou([dt], [], []), [], 'no ground truth -> []');
  throwsWith(t, () => rleIou([dt], [gt], []), /iscrowd has 0 entries but there are 1/, 'iscrowd length checked');
  t.end();
});

test('bboxIou: maskApi bbIou (touching boxes give 0, crowd uses the detection area)', (t) => {
  t.deepEqual(bboxIou([[0, 0, 10, 10]], [[5, 0, 10, 10]], [false]), [[50 / 150]], 'half overlap: 50/150');
  t.deepEqual(bboxIou([[0, 0, 10, 10]], [[5, 0, 10, 10]], [true]), [[0.5]], 'crowd: 50/100');
  t.deepEqual(bboxIou([[0, 0, 10, 10]], [[10, 0, 10, 10]], [false]), [[0]], 'touching in x -> 0');
  t.deepEqual(bboxIou([[0, 0, 10, 10]], [[0, 10, 10, 10]], [false]), [[0]], 'touching in y -> 0');
  t.deepEqual(bboxIou([[1, 1, 2, 2], [0, 0, 4, 4]], [[0, 0, 4, 4]]), [[0.25], [1]], 'iscrowd defaults to false');
  t.deepEqual(bboxIou([], [[0, 0, 1, 1]]), [], 'empty -> []');
  throwsWith(t, () => bboxIou([[0, 0, 1]], [[0, 0, 1, 1]]), /dt 0 must be 4 finite numbers/, 'bad box');
  t.end();
});
