/**
 * Decode time of a JPEG by the project's decoder (`lib/maskrcnn/data/jpeg_decode.ts`) and by
 * jpeg-js (still a dependency: chapter 11 encodes with it), and each one's largest difference
 * from Pillow's decode when its `.rgb` is beside the file.
 *
 * Usage:
 *   /usr/bin/python3 tools/oracle/gen_jpeg.py --bench /tmp/photo640.jpg
 *   node --import tsx tools/oracle/bench_jpeg.ts /tmp/photo640.jpg [runs]
 *
 * Prints the median and the fastest of `runs` decodes (default 41) after 3 warm-up decodes.
 */
import { existsSync, readFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import jpeg from 'jpeg-js';
import { decodeJpegPixels } from '../../lib/maskrcnn/data/jpeg_decode.js';

const [path, runsArg] = process.argv.slice(2);
if (path === undefined) {
  console.error('usage: node --import tsx tools/oracle/bench_jpeg.ts FILE.jpg [runs]');
  process.exit(2);
}
const runs = Number(runsArg ?? 41);
const bytes = new Uint8Array(readFileSync(path));
const referencePath = path.replace(/\.jpe?g$/i, '.rgb');
const reference = existsSync(referencePath) ? readFileSync(referencePath) : undefined;

/** Largest |rgba - Pillow's rgb| over every pixel and channel, or '-' without a reference. */
function maxDifference(rgba: Uint8Array): string {
  if (reference === undefined) return '-';
  let max = 0;
  for (let p = 0; p < reference.length / 3; p++) for (let c = 0; c < 3; c++) max = Math.max(max, Math.abs(rgba[4 * p + c]! - reference[3 * p + c]!));
  return String(max);
}

/** Times `decode` and prints a table row. */
function time(name: string, decode: () => Uint8Array): void {
  let out = decode();
  for (let i = 0; i < 2; i++) out = decode();
  const times: number[] = [];
  for (let i = 0; i < runs; i++) {
    const start = performance.now();
    out = decode();
    times.push(performance.now() - start);
  }
  times.sort((a, b) => a - b);
  console.log(`| ${name} | ${times[Math.floor(runs / 2)]!.toFixed(1)} ms | ${times[0]!.toFixed(1)} ms | ${maxDifference(out)} |`);
}

console.log(`${path}: ${bytes.length} bytes, ${runs} runs\n\n| decoder | median | fastest | max diff vs Pillow |\n|---|---|---|---|`);
time('maskrcnn-ts (jpeg_decode.ts)', () => decodeJpegPixels(bytes).rgba);
time('jpeg-js', () => jpeg.decode(bytes, { useTArray: true, formatAsRGBA: true }).data);
