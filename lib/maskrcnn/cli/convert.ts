/**
 * `maskrcnn convert`: labelme folders and VIA region files to COCO instance JSON, optionally
 * split into train and validation files (see `lib/maskrcnn/data/convert.ts`).
 *
 * @module
 */
import { dirname } from 'node:path';
import { makeDirectory } from '../../util/atomic_write.js';
import { writeCoco } from '../data/coco.js';
import { type ConversionResult, formatConversionReport, labelmeToCoco, splitCoco, viaToCoco } from '../data/convert.js';
import { checkExists, commandErrorLine, numberFlag, integerFlag, parseFlags, runCommand, stringFlag, UsageError } from './args.js';

const HELP = `usage: maskrcnn convert labelme DIR --out FILE [--classes a,b,c] [--image-data-dir DIR]
                                 [--val-fraction F [--seed S] [--val-out FILE]]
       maskrcnn convert via FILE --out FILE [--images DIR] [--attribute NAME] [--label NAME]
                                 [--classes a,b,c] [--val-fraction F [--seed S] [--val-out FILE]]

Converts annotations made with labelme (a folder of its JSON files, one per image) or the VGG
Image Annotator (a VIA 2 region or project JSON file, as matterport's balloon sample) to a COCO
instances file with polygons, bbox, area and iscrowd 0, ready for
  maskrcnn train --images DIR --annotations FILE
Categories are the labels seen, sorted, with ids 1..K, or --classes in the order given.

Nothing is dropped silently: each polygon of fewer than 3 points, polygon covering no pixel,
unsupported shape (labelme circles, lines, points; VIA circles, ellipses, points), region without
a class, label not in --classes, or missing image is printed with its file and index, points
outside the image are clipped to it and counted, and a summary gives the counts per reason.

options:
  --out FILE           the COCO file to write (the training part with --val-fraction)
  --classes a,b,c      the class names (ids 1..K in this order); shapes of other labels are dropped
  --val-fraction F     also write a validation file with this fraction of the images, 0..1
                       (a seeded shuffle of the images; default 0: no split)
  --seed S             seed of the split (default 0)
  --val-out FILE       the validation file (default: --out with _val before .json)
  --image-data-dir DIR (labelme) where to write images embedded in labelme files (imageData)
                       whose imagePath is missing or names no file (default: beside --out,
                       named after it: data/train.json -> data/train_images/)
  --images DIR         (via) the folder of the images, read for their sizes (default: FILE's folder)
  --attribute NAME     (via) the region attribute that holds the class (default: a region's only
                       attribute)
  --label NAME         (via) the class of regions without one (the balloon sample has none)
  -h, --help           show this help

file_name in the COCO file is relative to the labelme folder (labelme), or VIA's filename (via):
train with --images DIR (labelme) or --images <the VIA images folder>.

labelme files may embed their image (imageData, base64). The file at imagePath is used when it
exists; otherwise the embedded image is written to the --image-data-dir folder as
<JSON file's name>.jpg or .png, and its file_name is its path relative to the labelme folder
(e.g. ../data/train_images/img7.jpg), so --images DIR still finds every image.`;

const FLAGS = {
  out: { type: 'string' },
  classes: { type: 'string' },
  'val-fraction': { type: 'string' },
  seed: { type: 'string' },
  'val-out': { type: 'string' },
  images: { type: 'string' },
  'image-data-dir': { type: 'string' },
  attribute: { type: 'string' },
  label: { type: 'string' },
} as const;

/** `FILE.json` → `FILE_val.json` (any other name gets `_val.json` appended). */
function valPath(out: string): string {
  return /\.json$/i.test(out) ? out.replace(/\.json$/i, '_val.json') : `${out}_val.json`;
}

/** The default folder for labelme's embedded images: `FILE.json` → `FILE_images` beside it. */
function imageDataDirFor(out: string): string {
  return /\.json$/i.test(out) ? out.replace(/\.json$/i, '_images') : `${out}_images`;
}

/**
 * Runs `maskrcnn convert` on `argv` (the arguments after `convert`) and returns the exit code:
 * 0 on success, 2 for a usage error (no or unknown format, a missing input, a bad flag value),
 * 1 when an input cannot be read or is not a labelme / VIA file (the message names it).
 *
 * @param argv - the command-line arguments after `convert`.
 * @returns the process exit code.
 */
export async function runConvert(argv: string[]): Promise<number> {
  return runCommand('convert', argv, HELP, () => {
    const flags = parseFlags(argv, FLAGS, true);
    const [format, input, ...extra] = flags.positionals;
    if (format === undefined) throw new UsageError('the format is required: labelme DIR or via FILE');
    if (format !== 'labelme' && format !== 'via') throw new UsageError(`unknown format '${format}' (labelme or via)`);
    if (input === undefined) throw new UsageError(format === 'labelme' ? 'labelme needs the folder of its JSON files' : 'via needs the VIA JSON file');
    if (extra.length > 0) throw new UsageError(`unexpected argument '${extra[0]}'`);
    const out = stringFlag(flags, 'out');
    const classes = flags.values['classes'] === undefined ? undefined : stringFlag(flags, 'classes').split(',').map((c) => c.trim());
    if (classes !== undefined && classes.some((c) => c === '')) throw new UsageError(`--classes has an empty name: '${flags.values['classes'] as string}'`);
    const fraction = numberFlag(flags, 'val-fraction', 0, 0, 0.99);
    const seed = integerFlag(flags, 'seed', 0, -(2 ** 31), 2 ** 32 - 1);
    const valOut = flags.values['val-out'] === undefined ? valPath(out) : stringFlag(flags, 'val-out');
    if (fraction === 0 && (flags.values['val-out'] !== undefined || flags.values['seed'] !== undefined)) {
      throw new UsageError('--val-out and --seed need --val-fraction F (the share of images for validation)');
    }
    if (format === 'labelme') {
      for (const name of ['images', 'attribute', 'label']) if (flags.values[name] !== undefined) throw new UsageError(`--${name} is for via, not labelme`);
      checkExists('labelme', input, 'dir');
    } else {
      if (flags.values['image-data-dir'] !== undefined) throw new UsageError('--image-data-dir is for labelme, not via');
      checkExists('via', input);
      if (flags.values['images'] !== undefined) checkExists('--images', stringFlag(flags, 'images'), 'dir');
    }
    let result: ConversionResult;
    try {
      result =
        format === 'labelme'
          ? labelmeToCoco(input, {
              ...(classes === undefined ? {} : { classes }),
              imageDataDir: flags.values['image-data-dir'] === undefined ? imageDataDirFor(out) : stringFlag(flags, 'image-data-dir'),
            })
          : viaToCoco(input, {
              ...(classes === undefined ? {} : { classes }),
              ...(flags.values['images'] === undefined ? {} : { imageDir: stringFlag(flags, 'images') }),
              ...(flags.values['attribute'] === undefined ? {} : { attribute: stringFlag(flags, 'attribute') }),
              ...(flags.values['label'] === undefined ? {} : { defaultLabel: stringFlag(flags, 'label') }),
            });
    } catch (error) {
      console.error(commandErrorLine('convert', error));
      return 1;
    }
    const { coco, report } = result;
    console.log(formatConversionReport(report));
    console.log(`categories: ${coco.categories.map((c) => `${c.id} ${c.name}`).join(', ') || 'none'}`);
    if (coco.images.length === 0) {
      console.error('maskrcnn convert: no image was kept; nothing written');
      return 1;
    }
    makeDirectory(dirname(out), 'maskrcnn convert');
    if (fraction > 0) makeDirectory(dirname(valOut), 'maskrcnn convert');
    if (fraction > 0) {
      const { train, val } = splitCoco(coco, fraction, seed);
      writeCoco(out, train);
      writeCoco(valOut, val);
      console.log(`train: ${train.images.length} images, ${train.annotations.length} annotations -> ${out}`);
      console.log(`val:   ${val.images.length} images, ${val.annotations.length} annotations -> ${valOut} (seed ${seed})`);
    } else {
      writeCoco(out, coco);
      console.log(`${coco.images.length} images, ${coco.annotations.length} annotations -> ${out}`);
    }
    return 0;
  });
}
