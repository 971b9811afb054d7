/**
 * Run-length encoded (RLE) binary masks with the semantics of pycocotools' `maskApi.c`.
 *
 * COCO stores instance masks as runs of alternating 0s and 1s, read in **column-major**
 * (Fortran) order: down the first column, then down the second, and so on. The first run is
 * always the run of zeros (of length 0 when the mask starts with a 1), so the odd-indexed runs
 * are the foreground and the mask's area is their sum.
 *
 * Two spellings of the same RLE appear in COCO files:
 * - uncompressed: `{ size: [h, w], counts: [3, 2, 5, ...] }` (crowd annotations in the
 *   ground truth use it);
 * - compressed: `{ size: [h, w], counts: "52203" }`, the run lengths written as a string (a
 *   LEB128-like code of 5-bit groups, one ASCII character each, see {@link rleCountsToString}).
 *
 * Every function here that takes an RLE accepts both spellings. The arithmetic (polygon
 * rasterisation, merging, boxes, IoU) is ported operation by operation from `maskApi.c`, so the
 * numbers match pycocotools exactly, quirks included; each quirk is named where it happens.
 * Where pycocotools would silently produce garbage or crash, these functions throw an error
 * that says what was wrong.
 *
 * @module
 */

/** An RLE mask as it appears in COCO JSON: `size` is `[height, width]`, `counts` either form. */
export interface Rle {
  /** `[height, width]` of the image the mask lives in. */
  size: [number, number];
  /** Run lengths (uncompressed form) or their string encoding (compressed form). */
  counts: string | number[];
}

/** An RLE whose `counts` is the compressed string form (what {@link rleEncode} returns). */
export interface CompressedRle extends Rle {
  /** The run lengths written with {@link rleCountsToString}. */
  counts: string;
}

/** An RLE whose `counts` is the plain array of run lengths. */
export interface UncompressedRle extends Rle {
  /** Run lengths: zeros, ones, zeros, ... in column-major order. */
  counts: number[];
}

/** A box `[x, y, width, height]` in pixels, COCO's box convention. */
export type Bbox = [number, number, number, number];

/** Internal working form: height, width and the run lengths as plain numbers. */
interface Runs {
  h: number;
  w: number;
  cnts: number[];
}

import { howToRaise, inputLimits } from '../../util/limits.js';
import { describe } from './json_checks.js';

const UINT32 = 4294967296;

/** C's `(int)x` for a double on x86: truncation toward zero; NaN and out-of-range give INT_MIN. */
function cInt(x: number): number {
  if (Number.isNaN(x) || x >= 2147483648 || x <= -2147483649) return -2147483648;
  return Math.trunc(x);
}

/** C's `(uint)x` for an integer value: wraps modulo 2^32. */
function cUint(x: number): number {
  const r = x % UINT32;
  return r < 0 ? r + UINT32 : r;
}

function checkSize(size: unknown, what: string): [number, number] {
  if (!Array.isArray(size) || size.length !== 2) {
    throw new Error(`${what}: size must be [height, width], got ${describe(size)}`);
  }
  const [h, w] = size as unknown[];
  if (!Number.isSafeInteger(h) || !Number.isSafeInteger(w) || (h as number) < 0 || (w as number) < 0) {
    throw new Error(`${what}: size must be two non-negative integers [height, width], got ${describe(size)}`);
  }
  checkHW(h as number, w as number, what);
  return [h as number, w as number];
}

/**
 * A mask size must be non-negative integers with h*w at most the pixel limit (checked before
 * anything of that size is allocated or walked), and below 2^32 whatever the limit: maskApi's
 * run lengths and positions are 32-bit unsigned, and a larger mask would wrap them.
 */
function checkHW(h: number, w: number, what: string): void {
  if (!Number.isSafeInteger(h) || !Number.isSafeInteger(w) || h < 0 || w < 0) {
    throw new Error(`${what}: height and width must be non-negative integers, got h=${describe(h)}, w=${describe(w)}`);
  }
  const pixels = h * w;
  if (pixels >= UINT32) {
    throw new Error(`${what}: a ${h}x${w} mask has ${pixels} pixels; RLE masks are limited to fewer than 2^32 (pycocotools' run lengths are 32-bit)`);
  }
  const max = inputLimits().maxImagePixels;
  if (pixels > max) {
    throw new Error(`${what}: a ${h}x${w} mask has ${pixels} pixels, more than the limit of ${max}; ${howToRaise('maxImagePixels')}`);
  }
}

/**
 * Writes run lengths as a compressed RLE string, exactly as `maskApi.c`'s `rleToString`.
 *
 * The first three counts are written as they are; from index 3 on, each count is written as its
 * difference from the count two places before (runs of the same colour tend to have similar
 * lengths, so the differences are small and may be negative). Each value is cut into 5-bit
 * groups, least significant first, with an arithmetic shift; a group gets bit 0x20 when more
 * groups follow. A group with bit 0x10 set ends the value only when what is left is -1 (the
 * sign), otherwise only when it is 0. Each group is written as the character `group + 48`.
 *
 * @param counts - run lengths, non-negative integers.
 * @returns the compressed string (characters `'0'` to `'o'`).
 */
export function rleCountsToString(counts: ArrayLike<number>): string {
  const out: string[] = [];
  for (let i = 0; i < counts.length; i++) {
    let x = counts[i]!;
    if (!Number.isInteger(x) || x < 0) {
      throw new Error(`rleCountsToString: count ${i} must be a non-negative integer, got ${x}`);
    }
    if (i > 2) x -= counts[i - 2]!;
    let more = true;
    while (more) {
      let c = ((x % 32) + 32) % 32; // x & 0x1f, valid for any magnitude
      x = Math.floor(x / 32); // arithmetic shift right by 5
      more = c & 0x10 ? x !== -1 : x !== 0;
      if (more) c |= 0x20;
      out.push(String.fromCharCode(c + 48));
    }
  }
  return out.join('');
}

/**
 * Reads a compressed RLE string back into run lengths, exactly as `maskApi.c`'s `rleFrString`
 * (the inverse of {@link rleCountsToString}, sign extension included).
 *
 * @param s - the compressed counts string.
 * @returns the run lengths.
 * @throws if `s` is not a string, a character is outside `'0'..'o'`, the string ends inside a
 *   value, a value has more than 11 characters (beyond 2^53, where it could not be exact), or
 *   a decoded run length is negative.
 */
export function rleStringToCounts(s: string): number[] {
  if (typeof s !== 'string') throw new Error(`RLE string: counts must be a string, got ${describe(s)}`);
  const cnts: number[] = [];
  let p = 0;
  while (p < s.length) {
    let x = 0;
    let k = 0;
    let more = true;
    const start = p;
    while (more) {
      if (p >= s.length) {
        throw new Error(`RLE string: ends in the middle of a value (value starting at character ${start} of ${s.length})`);
      }
      if (k === 11) {
        throw new Error(`RLE string: the value starting at character ${start} has more than 11 characters (beyond 2^53; corrupt counts string)`);
      }
      const code = s.charCodeAt(p);
      const c = code - 48;
      if (c < 0 || c > 63) {
        throw new Error(`RLE string: bad character ${describe(s[p])} at position ${p} (allowed: '0' to 'o')`);
      }
      x += (c & 0x1f) * 2 ** (5 * k);
      more = (c & 0x20) !== 0;
      p++;
      k++;
      if (!more && c & 0x10) x -= 2 ** (5 * k); // sign extension
    }
    const m = cnts.length;
    if (m > 2) x += cnts[m - 2]!;
    if (!Number.isSafeInteger(x) || x < 0) {
      throw new Error(`RLE string: run ${m} decodes to ${x < 0 ? 'a negative length ' : ''}${x} (corrupt counts string)`);
    }
    cnts.push(x);
  }
  return cnts;
}

/**
 * Converts either RLE form to working runs, checking the size first (against the pixel limit)
 * and that the counts are non-negative integers that sum to exactly h*w (stopping at the first
 * count that overshoots, so a hostile count costs nothing).
 */
function toRuns(rle: Rle, what: string): Runs {
  if (rle === null || typeof rle !== 'object' || Array.isArray(rle)) {
    throw new Error(`${what}: expected an RLE object {size, counts}, got ${describe(rle)}`);
  }
  const [h, w] = checkSize(rle.size, what);
  const pixels = h * w;
  let cnts: number[];
  if (typeof rle.counts === 'string') {
    try {
      cnts = rleStringToCounts(rle.counts);
    } catch (error) {
      throw new Error(`${what}: ${(error as Error).message}`);
    }
  } else if (Array.isArray(rle.counts)) {
    cnts = rle.counts;
  } else {
    throw new Error(`${what}: counts must be a string or an array of numbers, got ${describe(rle.counts)}`);
  }
  let sum = 0;
  for (let i = 0; i < cnts.length; i++) {
    const c: unknown = cnts[i];
    if (typeof c !== 'number' || !Number.isInteger(c) || c < 0) {
      throw new Error(`${what}: counts[${i}] must be a non-negative integer, got ${describe(c)}`);
    }
    sum += c;
    if (sum > pixels) {
      throw new Error(`${what}: counts[0..${i}] already sum to ${sum} but size [${h}, ${w}] has ${pixels} pixels`);
    }
  }
  if (sum !== pixels) {
    throw new Error(`${what}: counts sum to ${sum} but size [${h}, ${w}] has ${pixels} pixels`);
  }
  return { h, w, cnts };
}

/**
 * Checks an RLE (either form) without decoding it to pixels: `size` is two non-negative
 * integers within the pixel limit, and `counts` (an array, or a compressed string) are
 * non-negative integers that sum to exactly height*width.
 *
 * @param rle - the value to check (anything: it comes from a file).
 * @param what - names the mask at the start of the error message.
 * @throws an Error saying what was wrong.
 */
export function checkRle(rle: unknown, what = 'RLE'): void {
  toRuns(rle as Rle, what);
}

function fromRuns(r: Runs): CompressedRle {
  return { size: [r.h, r.w], counts: rleCountsToString(r.cnts) };
}

/**
 * Converts an RLE (either form) to the compressed string form, validating it.
 *
 * @param rle - the mask.
 * @returns the same mask with `counts` as a string.
 */
export function rleCompress(rle: Rle): CompressedRle {
  return fromRuns(toRuns(rle, 'rleCompress'));
}

/**
 * Converts an RLE (either form) to the uncompressed form, validating it.
 *
 * @param rle - the mask.
 * @returns the same mask with `counts` as an array of run lengths.
 */
export function rleUncompress(rle: Rle): UncompressedRle {
  const r = toRuns(rle, 'rleUncompress');
  return { size: [r.h, r.w], counts: r.cnts.slice() };
}

/**
 * Encodes a binary mask as a compressed RLE (pycocotools `mask.encode`).
 *
 * @param mask - `h*w` values in row-major (image) order; any non-zero value is foreground.
 * @param h - mask height.
 * @param w - mask width.
 * @returns the compressed RLE; the runs are taken in column-major order.
 */
export function rleEncode(mask: ArrayLike<number>, h: number, w: number): CompressedRle {
  checkHW(h, w, 'rleEncode');
  if (mask.length !== h * w) {
    throw new Error(`rleEncode: mask has ${mask.length} values but h*w = ${h}*${w} = ${h * w}`);
  }
  if (Array.isArray(mask)) {
    // A plain array (typed arrays hold numbers by construction): every value must be a number.
    const bad = (mask as unknown[]).findIndex((v) => typeof v !== 'number' || Number.isNaN(v));
    if (bad >= 0) throw new Error(`rleEncode: mask[${bad}] is ${describe((mask as unknown[])[bad])}, not a number (0 = background, anything else = object)`);
  }
  const cnts: number[] = [];
  let prev = 0;
  let run = 0;
  for (let x = 0; x < w; x++) {
    for (let y = 0; y < h; y++) {
      const v = mask[y * w + x] !== 0 ? 1 : 0;
      if (v !== prev) {
        cnts.push(run);
        run = 0;
        prev = v;
      }
      run++;
    }
  }
  cnts.push(run);
  return fromRuns({ h, w, cnts });
}

/**
 * Decodes an RLE (either form) to a binary mask (pycocotools `mask.decode`).
 *
 * @param rle - the mask.
 * @returns `h*w` values (0 or 1) in row-major (image) order.
 */
export function rleDecode(rle: Rle): Uint8Array {
  const { h, w, cnts } = toRuns(rle, 'rleDecode');
  const out = new Uint8Array(h * w);
  let v = 0;
  let p = 0; // column-major position
  for (const c of cnts) {
    if (v) {
      for (let k = 0; k < c; k++) {
        const q = p + k;
        const x = Math.floor(q / h);
        const y = q - x * h;
        out[y * w + x] = 1;
      }
    }
    p += c;
    v = 1 - v;
  }
  return out;
}

/**
 * The number of foreground pixels: the sum of the odd-indexed runs (pycocotools `mask.area`).
 *
 * @param rle - the mask, either form.
 * @returns the area in pixels.
 */
export function rleArea(rle: Rle): number {
  return areaOfRuns(toRuns(rle, 'rleArea').cnts);
}

function areaOfRuns(cnts: ArrayLike<number>): number {
  let a = 0;
  for (let j = 1; j < cnts.length; j += 2) a += cnts[j]!;
  return a;
}

/** maskApi's `rleToBbox` on working runs. */
function bboxOfRuns(r: Runs): Bbox {
  const { h, w, cnts } = r;
  const m = Math.floor(cnts.length / 2) * 2; // an odd trailing run of zeros is dropped
  if (m === 0 || h === 0) return [0, 0, 0, 0];
  let xs = w;
  let ys = h;
  let xe = 0;
  let ye = 0;
  let cc = 0;
  for (let j = 0; j < m; j++) {
    const start = cc;
    cc = cUint(cc + cnts[j]!);
    // Background runs, and empty foreground runs, mark no pixel (the fixed rleToBbox of the
    // pycocotools that pip installs; cocoapi's older one also counted empty runs' positions).
    if (j % 2 === 0 || cnts[j] === 0) continue;
    const yStart = start % h;
    const xStart = (start - yStart) / h;
    const yEnd = (cc - 1) % h;
    const xEnd = (cc - 1 - yEnd) / h;
    xs = Math.min(xs, xStart);
    xe = Math.max(xe, xEnd);
    if (xStart < xEnd) {
      // the foreground run crosses a column boundary: maskApi takes the full height
      ys = 0;
      ye = h - 1;
    } else {
      ys = Math.min(ys, yStart);
      ye = Math.max(ye, yEnd);
    }
  }
  // Unsigned arithmetic as in C (a mask whose runs are all empty wraps around, as there).
  return [xs, ys, cUint(xe - xs + 1), cUint(ye - ys + 1)];
}

/**
 * The bounding box `[x, y, w, h]` of a mask, exactly as `maskApi.c`'s `rleToBbox` in the
 * pycocotools that pip installs (2.0.x, which fixed the older cocoapi version for RLEs with
 * empty foreground runs; both agree on every RLE that {@link rleEncode} produces). Checked
 * against pycocotools 2.0.11 by `test/maskrcnn/data/rle_pycocotools.test.ts`.
 *
 * Quirk kept on purpose: only the column of each run's first and last pixel is looked at, and
 * a foreground run that spans two or more columns sets the box to the full image height
 * `0..h-1` (even if the pixels themselves do not reach the top or bottom). An empty mask gives
 * `[0, 0, 0, 0]`.
 *
 * @param rle - the mask, either form.
 * @returns `[x, y, width, height]`.
 */
export function rleToBbox(rle: Rle): Bbox {
  return bboxOfRuns(toRuns(rle, 'rleToBbox'));
}

/** maskApi's `rleMerge` for two or more masks of the same size, on working runs. */
function mergeRuns(list: Runs[], intersect: boolean): Runs {
  const { h, w } = list[0]!;
  let cnts = list[0]!.cnts.slice();
  for (let i = 1; i < list.length; i++) {
    const A = cnts;
    const B = list[i]!.cnts;
    const out: number[] = [];
    let ca = A.length > 0 ? A[0]! : 0;
    let cb = B.length > 0 ? B[0]! : 0;
    let v = 0;
    let va = 0;
    let vb = 0;
    let a = 1;
    let b = 1;
    let cc = 0;
    let ct = 1;
    while (ct > 0) {
      const c = Math.min(ca, cb);
      cc += c;
      ct = 0;
      ca -= c;
      if (!ca && a < A.length) {
        ca = A[a++]!;
        va = 1 - va;
      }
      ct += ca;
      cb -= c;
      if (!cb && b < B.length) {
        cb = B[b++]!;
        vb = 1 - vb;
      }
      ct += cb;
      const vp = v;
      v = intersect ? va & vb : va | vb;
      if (v !== vp || ct === 0) {
        out.push(cc);
        cc = 0;
      }
    }
    cnts = out;
  }
  return { h, w, cnts };
}

/**
 * Union (or intersection) of masks of the same size (pycocotools `mask.merge`).
 *
 * @param rles - one or more masks, either form, all with the same `size`.
 * @param intersect - `true` for the intersection, `false` (default) for the union.
 * @returns the merged mask, compressed.
 * @throws for an empty list or masks of different sizes (pycocotools returns a 0x0 mask there).
 */
export function rleMerge(rles: readonly Rle[], intersect = false): CompressedRle {
  if (!Array.isArray(rles)) throw new Error(`rleMerge: the masks must be a list of RLEs, got ${describe(rles)}`);
  if (typeof intersect !== 'boolean') throw new Error(`rleMerge: intersect must be true or false, got ${describe(intersect)}`);
  if (rles.length === 0) throw new Error('rleMerge: needs at least one mask, got an empty list');
  const runs = rles.map((r, i) => toRuns(r, `rleMerge: mask ${i}`));
  const [h, w] = [runs[0]!.h, runs[0]!.w];
  runs.forEach((r, i) => {
    if (r.h !== h || r.w !== w) {
      throw new Error(`rleMerge: mask ${i} has size [${r.h}, ${r.w}] but mask 0 has [${h}, ${w}]`);
    }
  });
  return fromRuns(mergeRuns(runs, intersect));
}

/**
 * Most boundary points {@link polygonRuns} walks for one mask, all its parts together (8 bytes
 * each): a bound on the memory and time of one annotation's rasterisation.
 */
const MAX_BOUNDARY_POINTS = 2 ** 25;

/**
 * Rasterises one polygon, a port of `maskApi.c`'s `rleFrPoly` (not a pixel-centre test).
 *
 * The vertices are scaled by 5 and rounded with C's `(int)(v + .5)` (truncation toward zero, so
 * negative coordinates round differently from `floor`), the edges are walked with a DDA on that
 * 5x grid, and wherever the walk crosses a pixel column's centre line the y position (clamped
 * to `[0, h]`, rounded up) becomes a run boundary.
 */
function polygonRuns(xy: ArrayLike<number>, h: number, w: number, budget = { points: MAX_BOUNDARY_POINTS }): Runs {
  const k = Math.floor(xy.length / 2);
  const scale = 5;
  const x = new Int32Array(k + 1);
  const y = new Int32Array(k + 1);
  for (let j = 0; j < k; j++) x[j] = cInt(scale * xy[j * 2]! + 0.5);
  x[k] = x[0]!;
  for (let j = 0; j < k; j++) y[j] = cInt(scale * xy[j * 2 + 1]! + 0.5);
  y[k] = y[0]!;
  // dense boundary points on the 5x grid (m points in all, as maskApi counts them)
  let total = 0;
  for (let j = 0; j < k; j++) total += Math.max(Math.abs(x[j]! - x[j + 1]!), Math.abs(y[j]! - y[j + 1]!)) + 1;
  budget.points -= total;
  if (budget.points < 0) {
    throw new Error(
      `rleFromPolygons: polygon coordinates are too large to rasterise (more than ${MAX_BOUNDARY_POINTS} boundary points on the 5x grid, ` +
        `${total} in this part; a polygon's coordinates should lie in or near its ${w}x${h} image)`,
    );
  }
  const u = new Int32Array(total);
  const v = new Int32Array(total);
  let m = 0;
  for (let j = 0; j < k; j++) {
    let xs = x[j]!;
    let xe = x[j + 1]!;
    let ys = y[j]!;
    let ye = y[j + 1]!;
    const dx = Math.abs(xe - xs);
    const dy = Math.abs(ys - ye);
    const flip = (dx >= dy && xs > xe) || (dx < dy && ys > ye);
    if (flip) {
      let tmp = xs;
      xs = xe;
      xe = tmp;
      tmp = ys;
      ys = ye;
      ye = tmp;
    }
    const s = dx >= dy ? (ye - ys) / dx : (xe - xs) / dy; // NaN for a zero-length edge, as in C
    if (dx >= dy) {
      for (let d = 0; d <= dx; d++, m++) {
        const t = flip ? dx - d : d;
        u[m] = t + xs;
        v[m] = cInt(ys + s * t + 0.5);
      }
    } else {
      for (let d = 0; d <= dy; d++, m++) {
        const t = flip ? dy - d : d;
        v[m] = t + ys;
        u[m] = cInt(xs + s * t + 0.5);
      }
    }
  }
  // points where the boundary crosses a column centre, downsampled to pixels; each becomes a
  // run boundary at the column-major position x*h + y
  const bounds: number[] = [];
  for (let j = 1; j < m; j++) {
    if (u[j] === u[j - 1]) continue;
    let xd = u[j]! < u[j - 1]! ? u[j]! : u[j]! - 1;
    xd = (xd + 0.5) / scale - 0.5;
    if (Math.floor(xd) !== xd || xd < 0 || xd > w - 1) continue;
    let yd = v[j]! < v[j - 1]! ? v[j]! : v[j - 1]!;
    yd = (yd + 0.5) / scale - 0.5;
    if (yd < 0) yd = 0;
    else if (yd > h) yd = h;
    yd = Math.ceil(yd);
    bounds.push(cUint(cInt(xd) * h + cInt(yd)));
  }
  bounds.push(cUint(h * w));
  // sort the boundaries (numerically: a Float64Array sorts by value), then take differences
  const a = Float64Array.from(bounds).sort();
  let prev = 0;
  for (let j = 0; j < a.length; j++) {
    const t = a[j]!;
    a[j] = t - prev;
    prev = t;
  }
  // fold zero-length runs: a 0 merges the run after it into the run before it
  const b: number[] = [a[0]!];
  let j = 1;
  while (j < a.length) {
    if (a[j]! > 0) b.push(a[j++]!);
    else {
      j++;
      if (j < a.length) b[b.length - 1] += a[j++]!;
    }
  }
  return { h, w, cnts: b };
}

function checkPolygon(p: unknown, i: number, what: string): number[] {
  if (!Array.isArray(p)) throw new Error(`${what}: polygon ${i} must be an array of numbers, got ${describe(p)}`);
  if (p.length === 0) throw new Error(`${what}: polygon ${i} is empty`);
  if (p.length % 2 !== 0) {
    throw new Error(`${what}: polygon ${i} has an odd number of coordinates (${p.length}); expected x1,y1,x2,y2,...`);
  }
  for (let j = 0; j < p.length; j++) {
    if (typeof p[j] !== 'number' || !Number.isFinite(p[j])) {
      throw new Error(`${what}: polygon ${i} coordinate ${j} must be a finite number, got ${describe(p[j])}`);
    }
  }
  return p as number[];
}

/**
 * Rasterises a polygon annotation (one or more parts `[x1, y1, x2, y2, ...]`) at `h x w`, as
 * pycocotools' `frPyObjects` followed by `merge`: each part is rasterised with an exact port
 * of `rleFrPoly` and the parts are **unioned**, so overlapping parts do not cut holes.
 *
 * Example: the square with corners (0,0) and (10,10) covers pixels 0..9 in x and y, while the
 * square (0.5,0.5)-(10.5,10.5) covers pixels 1..10.
 *
 * @param polygons - the parts; each must have an even number (at least 2) of finite coordinates.
 * @param h - image height.
 * @param w - image width.
 * @returns the mask, compressed.
 */
export function rleFromPolygons(polygons: readonly (readonly number[])[], h: number, w: number): CompressedRle {
  checkHW(h, w, 'rleFromPolygons');
  if (!Array.isArray(polygons) || polygons.length === 0) {
    throw new Error(`rleFromPolygons: expected a non-empty list of polygons, got ${describe(polygons)}`);
  }
  const budget = { points: MAX_BOUNDARY_POINTS };
  const parts = polygons.map((p, i) => polygonRuns(checkPolygon(p, i, 'rleFromPolygons'), h, w, budget));
  return fromRuns(parts.length === 1 ? parts[0]! : mergeRuns(parts, false));
}

/**
 * Rasterises a box `[x, y, w, h]` as `maskApi.c`'s `rleFrBbox`: the polygon with corners
 * `(xs,ys), (xs,ye), (xe,ye), (xe,ys)` through {@link rleFromPolygons}' rasteriser.
 *
 * @param bbox - the box `[x, y, width, height]`.
 * @param h - image height.
 * @param w - image width.
 * @returns the mask, compressed.
 */
export function rleFromBbox(bbox: readonly number[], h: number, w: number): CompressedRle {
  checkHW(h, w, 'rleFromBbox');
  checkBox(bbox, 'rleFromBbox: bbox');
  const xs = bbox[0]!;
  const xe = xs + bbox[2]!;
  const ys = bbox[1]!;
  const ye = ys + bbox[3]!;
  return fromRuns(polygonRuns([xs, ys, xs, ye, xe, ye, xe, ys], h, w));
}

function checkBox(b: unknown, what: string): void {
  if (!Array.isArray(b) || b.length !== 4 || !b.every((v) => typeof v === 'number' && Number.isFinite(v))) {
    throw new Error(`${what} must be 4 finite numbers [x, y, w, h], got ${describe(b)}`);
  }
}

function checkCrowd(iscrowd: readonly (boolean | number)[] | undefined, n: number, what: string): boolean[] {
  if (iscrowd === undefined) return new Array<boolean>(n).fill(false);
  if (!Array.isArray(iscrowd)) throw new Error(`${what}: iscrowd must be a list of 0/1 (or booleans), got ${describe(iscrowd)}`);
  const bad = iscrowd.findIndex((c) => c !== 0 && c !== 1 && c !== true && c !== false);
  if (bad >= 0) throw new Error(`${what}: iscrowd[${bad}] is ${describe(iscrowd[bad])}, not 0/1 (or a boolean)`);
  if (iscrowd.length !== n) {
    throw new Error(`${what}: iscrowd has ${iscrowd.length} entries but there are ${n} ground-truth masks`);
  }
  return iscrowd.map((c) => Boolean(c));
}

/** maskApi's `bbIou` for one pair. */
function boxPairIou(D: readonly number[], G: readonly number[], crowd: boolean): number {
  const ga = G[2]! * G[3]!;
  const da = D[2]! * D[3]!;
  const w = Math.min(D[2]! + D[0]!, G[2]! + G[0]!) - Math.max(D[0]!, G[0]!);
  if (w <= 0) return 0;
  const h = Math.min(D[3]! + D[1]!, G[3]! + G[1]!) - Math.max(D[1]!, G[1]!);
  if (h <= 0) return 0;
  const i = w * h;
  const u = crowd ? da : da + ga - i;
  return i / u;
}

/**
 * IoU of boxes `[x, y, w, h]`, as pycocotools' `mask.iou` on boxes (`bbIou`).
 *
 * Boxes that only touch (zero-width overlap) give 0. For a crowd ground truth the union is
 * replaced by the detection's own area: `IoU = intersection / area(dt)`.
 *
 * @param dt - detection boxes.
 * @param gt - ground-truth boxes.
 * @param iscrowd - one flag per ground truth (default all false).
 * @returns `[dt.length][gt.length]` IoUs, or `[]` if either list is empty.
 */
export function bboxIou(
  dt: readonly (readonly number[])[],
  gt: readonly (readonly number[])[],
  iscrowd?: readonly (boolean | number)[],
): number[][] {
  dt.forEach((b, i) => checkBox(b, `bboxIou: dt ${i}`));
  gt.forEach((b, i) => checkBox(b, `bboxIou: gt ${i}`));
  const crowd = checkCrowd(iscrowd, gt.length, 'bboxIou');
  if (dt.length === 0 || gt.length === 0) return [];
  return dt.map((d) => gt.map((g, j) => boxPairIou(d, g, crowd[j]!)));
}

/** Exact pixel IoU of two same-size masks given as runs (maskApi's inner merge walk). */
function runsPairIou(A: ArrayLike<number>, B: ArrayLike<number>, crowd: boolean): number {
  let ca = A.length > 0 ? A[0]! : 0;
  let cb = B.length > 0 ? B[0]! : 0;
  const ka = A.length;
  const kb = B.length;
  let va = 0;
  let vb = 0;
  let a = 1;
  let b = 1;
  let i = 0;
  let u = 0;
  let ct = 1;
  while (ct > 0) {
    const c = Math.min(ca, cb);
    if (va || vb) {
      u += c;
      if (va && vb) i += c;
    }
    ct = 0;
    ca -= c;
    if (!ca && a < ka) {
      ca = A[a++]!;
      va = 1 - va;
    }
    ct += ca;
    cb -= c;
    if (!cb && b < kb) {
      cb = B[b++]!;
      vb = 1 - vb;
    }
    ct += cb;
  }
  if (i === 0) u = 1;
  else if (crowd) u = areaOfRuns(A);
  return i / u;
}

/**
 * IoU of masks, as pycocotools' `mask.iou` on RLEs (`rleIou`).
 *
 * For each pair, first the IoU of the two {@link rleToBbox} boxes is computed (crowd rule
 * included); if it is 0 the result is 0. Otherwise, if the two masks have different sizes, the
 * result is **-1**; otherwise it is the exact pixel intersection over the union, or over the
 * detection's area for a crowd ground truth (0 when they do not intersect).
 *
 * @param dt - detection masks, either form.
 * @param gt - ground-truth masks, either form.
 * @param iscrowd - one flag per ground truth (default all false).
 * @returns `[dt.length][gt.length]` IoUs, or `[]` if either list is empty.
 */
export function rleIou(dt: readonly Rle[], gt: readonly Rle[], iscrowd?: readonly (boolean | number)[]): number[][] {
  for (const [name, list] of [['dt', dt], ['gt', gt]] as const) {
    if (!Array.isArray(list)) throw new Error(`rleIou: ${name} must be a list of RLEs, got ${describe(list)}`);
  }
  const d = dt.map((r, i) => prepareRle(r, `rleIou: dt ${i}`));
  const g = gt.map((r, i) => prepareRle(r, `rleIou: gt ${i}`));
  return preparedRleIou(d, g, checkCrowd(iscrowd, gt.length, 'rleIou'));
}

/**
 * A mask decoded once for repeated IoU computations (used by the evaluator, which compares
 * each mask with many others): the size, the run lengths, the area and the
 * {@link rleToBbox} box.
 */
export interface PreparedRle {
  /** Mask height. */
  readonly h: number;
  /** Mask width. */
  readonly w: number;
  /** Run lengths (uncompressed counts). */
  readonly counts: readonly number[];
  /** Foreground pixel count. */
  readonly area: number;
  /** The maskApi `toBbox` box `[x, y, w, h]`. */
  readonly bbox: Bbox;
}

/**
 * Validates and decodes an RLE once, for {@link preparedRleIou}.
 *
 * @param rle - the mask, either form.
 * @param what - names the mask in error messages.
 * @returns the prepared mask.
 */
export function prepareRle(rle: Rle, what = 'RLE'): PreparedRle {
  const r = toRuns(rle, what);
  return { h: r.h, w: r.w, counts: r.cnts, area: areaOfRuns(r.cnts), bbox: bboxOfRuns(r) };
}

/**
 * {@link rleIou} on masks prepared with {@link prepareRle} (same numbers, no re-decoding).
 *
 * @param dt - detection masks.
 * @param gt - ground-truth masks.
 * @param iscrowd - one flag per ground truth.
 * @returns `[dt.length][gt.length]` IoUs, or `[]` if either list is empty.
 */
export function preparedRleIou(
  dt: readonly PreparedRle[],
  gt: readonly PreparedRle[],
  iscrowd: readonly (boolean | number)[],
): number[][] {
  const crowd = checkCrowd(iscrowd, gt.length, 'preparedRleIou');
  if (dt.length === 0 || gt.length === 0) return [];
  return dt.map((dr) =>
    gt.map((gr, j) => {
      const o = boxPairIou(dr.bbox, gr.bbox, crowd[j]!);
      if (!(o > 0)) return o;
      if (dr.h !== gr.h || dr.w !== gr.w) return -1;
      return runsPairIou(dr.counts, gr.counts, crowd[j]!);
    }),
  );
}
