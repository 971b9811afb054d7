/**
 * `maskrcnn eval`: COCO-style evaluation of a results file against COCO annotations, with
 * pycocotools' numbers (see `lib/maskrcnn/eval/cocoeval.ts`).
 *
 * @module
 */
import { readFileSync } from 'node:fs';
import { readCoco } from '../data/coco.js';
import { cocoEvaluate, formatFixed3, formatSummary, type IouType } from '../eval/cocoeval.js';
import { loadResults } from '../eval/results.js';

const HELP = `usage: maskrcnn eval --gt ANNOTATIONS.json --dt RESULTS.json [--iou-type segm|bbox] [--json]

Evaluates detections against COCO ground truth with pycocotools' COCOeval semantics and prints
the 12-line summary (AP, AP50, AP75, APs, APm, APl, AR1, AR10, AR100, ARs, ARm, ARl) and the
AP of each category.

options:
  --gt PATH          ground truth: a COCO instance-annotation JSON file
  --dt PATH          results: a JSON array of {image_id, category_id, score, bbox?, segmentation?}
  --iou-type TYPE    'bbox' (compare boxes) or 'segm' (compare masks). Default: 'segm' when the
                     first result has a segmentation, else 'bbox'
  --json             print one JSON object instead of the table:
                     {"iouType", "stats": [12 numbers], "perCategory": [{"categoryId", "name", "ap", "stats"}]}
  -h, --help         show this help`;

interface EvalArgs {
  gt: string;
  dt: string;
  iouType?: IouType;
  json: boolean;
}

/** Parses the arguments; returns an error message (string) on a usage error, or 'help'. */
function parseArgs(argv: string[]): EvalArgs | 'help' | { error: string } {
  let gt: string | undefined;
  let dt: string | undefined;
  let iouType: IouType | undefined;
  let json = false;
  for (let i = 0; i < argv.length; i++) {
    const raw = argv[i]!;
    if (raw === '-h' || raw === '--help') return 'help';
    const eq = raw.startsWith('--') ? raw.indexOf('=') : -1;
    const flag = eq >= 0 ? raw.slice(0, eq) : raw;
    const inline = eq >= 0 ? raw.slice(eq + 1) : undefined;
    const value = (): string | { error: string } => {
      if (inline !== undefined) return inline;
      const next = argv[i + 1];
      if (next === undefined || next.startsWith('--')) return { error: `option ${flag} needs a value` };
      i++;
      return next;
    };
    switch (flag) {
      case '--gt':
      case '--dt':
      case '--iou-type': {
        const v = value();
        if (typeof v !== 'string') return v;
        if (flag === '--gt') gt = v;
        else if (flag === '--dt') dt = v;
        else if (v === 'bbox' || v === 'segm') iouType = v;
        else return { error: `option --iou-type must be 'bbox' or 'segm', got '${v}'` };
        break;
      }
      case '--json':
        if (inline !== undefined) return { error: 'option --json takes no value' };
        json = true;
        break;
      default:
        return { error: raw.startsWith('-') ? `unknown option '${raw}'` : `unexpected argument '${raw}'` };
    }
  }
  if (gt === undefined) return { error: 'missing --gt ANNOTATIONS.json' };
  if (dt === undefined) return { error: 'missing --dt RESULTS.json' };
  return { gt, dt, iouType, json };
}

/**
 * Runs `maskrcnn eval` on `argv` (the arguments after `eval`) and returns the exit code:
 * 0 on success, 2 for a usage error (unknown option, missing `--gt`/`--dt`), 1 when a file
 * cannot be read or is invalid (the message names the file and the problem).
 *
 * @param argv - the command-line arguments after `eval`.
 * @returns the process exit code.
 */
export async function runEval(argv: string[]): Promise<number> {
  const args = parseArgs(argv);
  if (args === 'help') {
    console.log(HELP);
    return 0;
  }
  if ('error' in args) {
    console.error(`maskrcnn eval: ${args.error}\n\n${HELP}`);
    return 2;
  }
  try {
    const gt = readCoco(args.gt);
    const raw = readJson(args.dt, 'results');
    const detections = loadResults(gt, raw, { source: args.dt });
    const first: unknown = Array.isArray(raw) ? raw[0] : undefined;
    const hasSegm = typeof first === 'object' && first !== null && 'segmentation' in first;
    const iouType: IouType = args.iouType ?? (hasSegm ? 'segm' : 'bbox');
    const report = cocoEvaluate(gt, detections, { iouType });
    if (args.json) {
      const perCategory = report.perCategory.map((c) => ({ categoryId: c.categoryId, name: c.name, ap: c.ap, stats: c.stats }));
      console.log(JSON.stringify({ iouType, stats: report.stats, perCategory }));
    } else {
      const lines = [`Evaluate annotation type *${iouType}*`, formatSummary(report.stats), '', 'per-category AP @[ IoU=0.50:0.95 | area=all | maxDets=100 ]:'];
      const width = Math.max(4, ...report.perCategory.map((c) => c.name.length));
      for (const c of report.perCategory) {
        lines.push(`  ${String(c.categoryId).padStart(4)}  ${c.name.padEnd(width)}  ${formatFixed3(c.ap)}`);
      }
      console.log(lines.join('\n'));
    }
    return 0;
  } catch (error) {
    console.error(`maskrcnn eval: ${error instanceof Error ? error.message : String(error)}`);
    return 1;
  }
}

/** Reads and parses a JSON file; errors name the file. */
function readJson(path: string, what: string): unknown {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    throw new Error(`cannot read ${what} file ${path}: ${(error as Error).message}`);
  }
  try {
    return JSON.parse(text) as unknown;
  } catch (error) {
    throw new Error(`${path}: ${what} file is not valid JSON (${(error as Error).message})`);
  }
}
