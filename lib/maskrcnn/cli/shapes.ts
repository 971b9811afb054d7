/**
 * `maskrcnn shapes`: writes the synthetic shapes dataset, a training and a validation split,
 * as PNG images plus COCO JSON.
 *
 * @module
 */
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { makeDirectory } from '../../util/atomic_write.js';
import { type ShapesSummary, writeShapes } from '../data/shapes.js';
import { commandErrorLine } from './args.js';

/** The seed offset of the validation split: val uses `seed + VAL_SEED_OFFSET`, so its images differ from train's. */
export const VAL_SEED_OFFSET = 0x9e3779b9;

/** One split of a shapes dataset folder: its sub-folder, image count, generator seed and first image id. */
export interface ShapesSplit {
  /** `'train'` or `'val'`. */
  name: 'train' | 'val';
  /** Images. */
  count: number;
  /** Seed of the split's generator. */
  seed: number;
  /** Id of its first image (the splits' ids do not overlap). */
  startImageId: number;
}

/**
 * The layout every shapes dataset of the project uses (`maskrcnn shapes`, the demo, `ablate`, the
 * course's loss ablation): train with `seed` and ids from 1, val with `seed + VAL_SEED_OFFSET`
 * and ids after train's.
 */
export function shapesSplits(train: number, val: number, seed: number): [ShapesSplit, ShapesSplit] {
  return [
    { name: 'train', count: train, seed, startImageId: 1 },
    { name: 'val', count: val, seed: seed + VAL_SEED_OFFSET, startImageId: train + 1 },
  ];
}

const HELP = `usage: maskrcnn shapes --out DIR [--train N] [--val M] [--seed S] [--size PX] [--force]

Writes the synthetic shapes dataset (squares, circles, triangles with occlusion and a few
crowd regions) in COCO format:
  DIR/train/images/*.png  DIR/train/annotations.json
  DIR/val/images/*.png    DIR/val/annotations.json

options:
  --out DIR     output folder (required)
  --train N     number of training images (default 500)
  --val M       number of validation images (default 100)
  --seed S      seed; the same seed writes the same bytes (default 0).
                train uses S, val uses S + ${VAL_SEED_OFFSET}
  --size PX     image width and height in pixels, 16..4096 (default 128)
  --force       write into DIR/train and DIR/val even if they are not empty
  -h, --help    show this help`;

interface Args {
  out: string;
  train: number;
  val: number;
  seed: number;
  size: number;
  force: boolean;
}

/** Parses the arguments, or returns the error message naming the bad flag or value. */
function parseArgs(argv: string[]): Args | string {
  const args: Partial<Args> = { train: 500, val: 100, seed: 0, size: 128, force: false };
  const integer = (flag: string, text: string, min: number, max: number): number | string => {
    if (!/^-?\d+$/.test(text)) return `${flag} must be an integer, got '${text}'`;
    const v = Number(text);
    if (!Number.isSafeInteger(v) || v < min || v > max) return `${flag} must be an integer in ${min}..${max}, got ${text}`;
    return v;
  };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '--force') {
      args.force = true;
      continue;
    }
    const eq = arg.indexOf('=');
    const flag = arg.startsWith('--') && eq > 0 ? arg.slice(0, eq) : arg;
    if (!['--out', '--train', '--val', '--seed', '--size'].includes(flag)) {
      return arg.startsWith('-') ? `unknown option '${flag}'` : `unexpected argument '${arg}'`;
    }
    let value: string;
    if (eq > 0 && arg.startsWith('--')) value = arg.slice(eq + 1);
    else {
      const next = argv[i + 1];
      if (next === undefined || (next.startsWith('--') && next.length > 2)) return `${flag} needs a value`;
      value = next;
      i++;
    }
    if (flag === '--out') {
      if (value === '') return '--out needs a non-empty folder name';
      args.out = value;
      continue;
    }
    const limits: Record<string, [number, number]> = {
      '--train': [0, 10_000_000],
      '--val': [0, 10_000_000],
      '--seed': [-(2 ** 52), 2 ** 52],
      '--size': [16, 4096],
    };
    const [min, max] = limits[flag]!;
    const v = integer(flag, value, min, max);
    if (typeof v === 'string') return v;
    args[flag.slice(2) as 'train' | 'val' | 'seed' | 'size'] = v;
  }
  if (args.out === undefined) return '--out DIR is required';
  return args as Args;
}

function nonEmpty(dir: string): boolean {
  return existsSync(dir) && readdirSync(dir).length > 0;
}

function describe(name: string, s: ShapesSummary): string {
  const perCategory = Object.entries(s.perCategory)
    .map(([category, n]) => `${n} ${category}s`)
    .join(', ');
  return (
    `${name}: ${s.images} images, ${s.instances} instances (${perCategory}; ${s.occluded} partly occluded), ` +
    `${s.crowds} crowd regions -> ${s.dir}`
  );
}

/** Runs `maskrcnn shapes` on `argv` (the arguments after `shapes`) and returns the exit code. */
export async function runShapes(argv: string[]): Promise<number> {
  if (argv.includes('--help') || argv.includes('-h')) {
    console.log(HELP);
    return 0;
  }
  const args = parseArgs(argv);
  if (typeof args === 'string') {
    console.error(`maskrcnn shapes: ${args}\n\n${HELP}`);
    return 2;
  }
  const splits = shapesSplits(args.train, args.val, args.seed);
  if (!args.force) {
    for (const { name } of splits) {
      const dir = join(args.out, name);
      if (nonEmpty(dir)) {
        console.error(`maskrcnn shapes: ${dir} is not empty; pass --force to write into it anyway`);
        return 1;
      }
    }
  }
  const started = Date.now();
  for (const { name, count, seed, startImageId } of splits) {
    try {
      makeDirectory(join(args.out, name, 'images'), 'shapes'); // an error for a folder that cannot be made (recursive mkdirSync can loop forever)
    } catch (error) {
      console.error(commandErrorLine('shapes', error));
      return 1;
    }
    const summary = writeShapes(join(args.out, name), { count, seed, size: args.size, startImageId });
    console.log(describe(name, summary));
  }
  console.log(`seed ${args.seed}, ${args.size}x${args.size} pixels, ${((Date.now() - started) / 1000).toFixed(1)} s`);
  return 0;
}
