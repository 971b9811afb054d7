/**
 * `maskrcnn eval`: COCO-style evaluation of a results file against COCO annotations, or of a
 * model (a weights file) on a dataset folder, with pycocotools' numbers (see
 * `lib/maskrcnn/eval/cocoeval.ts`).
 *
 * @module
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { getBackend, setBackend } from '../../ops/index.js';
import { readCoco, type CocoDataset } from '../data/coco.js';
import { CocoDetectionDataset } from '../data/dataset.js';
import { cocoEvaluate, formatFixed3, formatSummary, type CocoEvalReport, type IouType } from '../eval/cocoeval.js';
import { loadResults, writeResults, type CocoDetection } from '../eval/results.js';
import { analysisJson, analysisSummary, analyzeErrors, writeAnalysis, type ErrorAnalysis } from '../eval/analysis.js';
import { evaluateModel } from '../eval/inference.js';
import { loadWeights } from '../model/weights.js';
import { parseJson } from '../../util/limits.js';
import { backendFlag, UsageError, booleanFlag, checkExists, imagesAnnotationsFlags, integerFlag, parseFlags, runCommand, stringFlag, type ParsedFlags } from './args.js';

const HELP = `usage: maskrcnn eval --gt ANNOTATIONS.json --dt RESULTS.json [--iou-type segm|bbox] [--analysis DIR] [--json]
       maskrcnn eval --weights FILE (--data DIR | --images DIR --annotations FILE) [--limit N] [--out RESULTS.json] [--analysis DIR] [--json] [--backend wasm|reference|gpu]

Evaluates detections against COCO ground truth with pycocotools' COCOeval semantics and prints
the 12-line summary (AP, AP50, AP75, APs, APm, APl, AR1, AR10, AR100, ARs, ARm, ARl) and the
AP of each category.

The first form evaluates a results file. The second runs a model first: every image of DIR
(the layout 'maskrcnn shapes' writes: DIR/annotations.json and DIR/images/), then prints the
summary for bbox and for segm (each from its own results list, as torchvision's CocoEvaluator).

options:
  --gt PATH          ground truth: a COCO instance-annotation JSON file
  --dt PATH          results: a JSON array of {image_id, category_id, score, bbox?, segmentation?}
  --iou-type TYPE    'bbox' (compare boxes) or 'segm' (compare masks). Default: 'segm' when the
                     first result has a segmentation, else 'bbox'
  --weights FILE     a weights file (maskrcnn train, saveWeights, or a converted torchvision
                     state dict) to run on --data
  --data DIR         a dataset folder: DIR/annotations.json and DIR/images/*.png. Labels are
                     1..K in category-id order when the file has K = classes - 1 categories,
                     else the category ids (torchvision's COCO models)
  --images DIR       instead of --data: the images (PNG or JPEG) of --annotations
  --annotations PATH with --images: any COCO instances file (e.g. instances_val2017.json)
  --limit N          evaluate the first N images only (default all)
  --out PATH         with --weights: also write the detections as a COCO results file
  --backend NAME     with --weights: wasm (default), reference or gpu
  --analysis DIR     error analysis into DIR (created if missing), for each evaluated IoU type:
                     per_class.md (AP, AP50, AP75 per class), confusion.md and
                     confusion_<type>.csv/.svg (IoU 0.5, score >= 0.5), tide.md (TIDE error
                     types and the AP50 each costs), pr_<type>_iou50.svg and
                     pr_<type>_iou50-95.svg (precision-recall curves); prints a short summary
                     (with --json: an "analysis" object in each evaluation's JSON)
  --json             print JSON instead of the table:
                     {"iouType", "stats": [12 numbers], "perCategory": [{"categoryId", "name", "ap", "stats"}]}
                     (with --weights: {"images", "bbox": {...}, "segm": {...}})
  -h, --help         show this help`;

const FLAGS = {
  gt: { type: 'string' },
  dt: { type: 'string' },
  'iou-type': { type: 'string' },
  json: { type: 'boolean' },
  weights: { type: 'string' },
  data: { type: 'string' },
  images: { type: 'string' },
  annotations: { type: 'string' },
  limit: { type: 'string' },
  out: { type: 'string' },
  backend: { type: 'string' },
  analysis: { type: 'string' },
} as const;

/** parseFlags, with the messages of this subcommand's first parser ('option --dt needs a value'). */
function parse(argv: readonly string[]): ParsedFlags {
  try {
    return parseFlags(argv, FLAGS);
  } catch (error) {
    const m = /^Option '(-[^\s']+)(?: <value>)?' argument (?:missing|is ambiguous)/.exec((error as Error).message);
    if (m) throw new UsageError(`option ${m[1]} needs a value`);
    const noValue = /^Option '(-[^\s']+)' does not take an argument/.exec((error as Error).message);
    if (noValue) throw new UsageError(`option ${noValue[1]} takes no value`);
    throw error;
  }
}

/**
 * Runs `maskrcnn eval` on `argv` (the arguments after `eval`) and returns the exit code:
 * 0 on success, 2 for a usage error (unknown option, missing `--gt`/`--dt` or `--weights`/`--data`,
 * a path that does not exist), 1 when a file cannot be read or is invalid (the message names
 * the file and the problem).
 *
 * @param argv - the command-line arguments after `eval`.
 * @returns the process exit code.
 */
export async function runEval(argv: string[]): Promise<number> {
  return runCommand('eval', argv, HELP, () => {
    const flags = parse(argv);
    const json = booleanFlag(flags, 'json');
    const analysisDir = flags.values['analysis'] === undefined ? undefined : stringFlag(flags, 'analysis');
    if (flags.values['weights'] !== undefined) return evalModel(flags, json, analysisDir);
    for (const name of ['data', 'images', 'annotations', 'limit', 'out', 'backend']) {
      if (flags.values[name] !== undefined) throw new UsageError(`--${name} needs --weights (it runs a model; to evaluate a results file use --gt and --dt)`);
    }
    if (flags.values['gt'] === undefined) throw new UsageError('missing --gt ANNOTATIONS.json (or --weights FILE --data DIR)');
    if (flags.values['dt'] === undefined) throw new UsageError('missing --dt RESULTS.json');
    const gtPath = stringFlag(flags, 'gt');
    const dtPath = stringFlag(flags, 'dt');
    let iouArg: IouType | undefined;
    if (flags.values['iou-type'] !== undefined) {
      const v = stringFlag(flags, 'iou-type');
      if (v !== 'bbox' && v !== 'segm') throw new UsageError(`option --iou-type must be 'bbox' or 'segm', got '${v}'`);
      iouArg = v;
    }
    return failures(() => {
      const gt = readCoco(gtPath);
      const raw = readJson(dtPath, 'results');
      const detections = loadResults(gt, raw, { source: dtPath });
      const first: unknown = Array.isArray(raw) ? raw[0] : undefined;
      const hasSegm = typeof first === 'object' && first !== null && 'segmentation' in first;
      const iouType: IouType = iouArg ?? (hasSegm ? 'segm' : 'bbox');
      let report: CocoEvalReport;
      try {
        report = cocoEvaluate(gt, detections, { iouType });
      } catch (error) {
        // a mask that only fails when it is rasterised (a polygon far outside its image)
        throw new Error(`${dtPath} against ${gtPath}: ${(error as Error).message}`);
      }
      const notes: string[] = [];
      // Valid (a model that found nothing), but say so: every AP is 0 where there is ground truth.
      if (detections.length === 0) notes.push(`${dtPath} holds 0 detections: every AP and AR is 0 where there is ground truth (-1 where there is none)`);
      const unknown = report.unknownCategories;
      if (unknown.detections > 0) {
        notes.push(`${dtPath}: ${unknown.detections} of ${detections.length} detections have category ids the ground truth does not have (${unknown.ids.join(', ')}); they are ignored, as pycocotools does`);
      }
      for (const note of notes) {
        if (json) console.error(`maskrcnn eval: note: ${note}`);
        else console.log(note);
      }
      const analysis = analysisDir === undefined ? undefined : analyze(analysisDir, [[gt, detections, report]]);
      console.log(json ? JSON.stringify(reportJson(iouType, report, analysis?.[0])) : formatReport(iouType, report));
      if (analysis !== undefined && !json) console.log(`\n${analysisSummary(analysis)}\nanalysis -> ${analysisDir}`);
      return 0;
    });
  });
}

/** `eval --weights F --data DIR`: runs the model over the dataset, then bbox and segm evaluation. */
function evalModel(flags: ParsedFlags, json: boolean, analysisDir: string | undefined): number {
  for (const name of ['gt', 'dt', 'iou-type']) {
    if (flags.values[name] !== undefined) throw new UsageError(`--${name} cannot be combined with --weights (--weights evaluates bbox and segm on --data)`);
  }
  const weights = stringFlag(flags, 'weights');
  const { annotations, images } = evalDataFlags(flags);
  const limit = flags.values['limit'] === undefined ? undefined : integerFlag(flags, 'limit', undefined, 1, Number.MAX_SAFE_INTEGER);
  const out = flags.values['out'] === undefined ? undefined : stringFlag(flags, 'out');
  const backend = backendFlag(flags);
  checkExists('--weights', weights);
  return failures(() => {
    const previous = getBackend();
    try {
      if (backend !== undefined) setBackend(backend);
      const { model } = loadWeights(weights);
      const numClasses = model.config.numClasses;
      // Labels 1..K in category-id order (maskrcnn shapes, training) or the ids themselves (torchvision's COCO).
      const probe = CocoDetectionDataset.fromFiles(annotations, images);
      const contiguous = probe.categories.length + 1 === numClasses;
      const maxId = Math.max(0, ...probe.categories.map((c) => c.id));
      if (!contiguous && maxId >= numClasses) {
        throw new Error(`${annotations}: ${probe.categories.length} categories (ids up to ${maxId}) do not fit the model's ${numClasses} classes (background included)`);
      }
      const dataset = contiguous ? CocoDetectionDataset.fromFiles(annotations, images, { contiguousLabels: true }) : probe;
      const started = Date.now();
      const evaluation = evaluateModel(model, dataset, limit === undefined ? {} : { limit });
      const seconds = (Date.now() - started) / 1000;
      if (out !== undefined) writeResults(out, evaluation.results);
      const analysis =
        analysisDir === undefined
          ? undefined
          : analyze(analysisDir, [
              [dataset.coco, evaluation.detections.bbox, evaluation.bbox],
              [dataset.coco, evaluation.detections.segm, evaluation.segm],
            ]);
      if (json) {
        console.log(JSON.stringify({ images: evaluation.images, bbox: reportJson('bbox', evaluation.bbox, analysis?.[0]), segm: reportJson('segm', evaluation.segm, analysis?.[1]) }));
      } else {
        console.log(`${evaluation.images} images, ${evaluation.results.length} detections, ${seconds.toFixed(1)} s`);
        console.log(formatReport('bbox', evaluation.bbox));
        console.log('');
        console.log(formatReport('segm', evaluation.segm));
        if (out !== undefined) console.log(`\nresults -> ${out}`);
        if (analysis !== undefined) console.log(`\n${analysisSummary(analysis)}\nanalysis -> ${analysisDir}`);
      }
      return 0;
    } finally {
      setBackend(previous);
    }
  });
}

/** `--data DIR` (DIR/annotations.json, DIR/images), or `--images DIR --annotations FILE`, checked to exist. */
function evalDataFlags(flags: ParsedFlags): { annotations: string; images: string } {
  const given = (name: string): boolean => flags.values[name] !== undefined;
  if (given('data')) {
    for (const name of ['images', 'annotations']) if (given(name)) throw new UsageError(`--${name} cannot be combined with --data`);
    const data = stringFlag(flags, 'data');
    checkExists('--data', data, 'dir');
    checkExists('--data', join(data, 'annotations.json'));
    return { annotations: join(data, 'annotations.json'), images: join(data, 'images') };
  }
  return imagesAnnotationsFlags(flags);
}

/** A report as the JSON that `--json` prints (with the error analysis when `--analysis` was given). */
function reportJson(
  iouType: IouType,
  report: CocoEvalReport,
  analysis?: ErrorAnalysis,
): { iouType: IouType; stats: number[]; perCategory: { categoryId: number; name: string; ap: number; stats: number[] }[]; analysis?: Record<string, unknown> } {
  const perCategory = report.perCategory.map((c) => ({ categoryId: c.categoryId, name: c.name, ap: c.ap, stats: c.stats }));
  return analysis === undefined ? { iouType, stats: report.stats, perCategory } : { iouType, stats: report.stats, perCategory, analysis: analysisJson(analysis) };
}

/** `--analysis DIR`: analyses each evaluation and writes the files into DIR. */
function analyze(dir: string, evaluations: readonly (readonly [CocoDataset, CocoDetection[], CocoEvalReport])[]): ErrorAnalysis[] {
  const analyses = evaluations.map(([gt, detections, report]) => analyzeErrors(gt, detections, report));
  writeAnalysis(dir, analyses);
  return analyses;
}

/** pycocotools' summary table and the AP of each category. */
function formatReport(iouType: IouType, report: CocoEvalReport): string {
  const lines = [`Evaluate annotation type *${iouType}*`, formatSummary(report.stats), '', 'per-category AP @[ IoU=0.50:0.95 | area=all | maxDets=100 ]:'];
  const width = Math.max(4, ...report.perCategory.map((c) => c.name.length));
  for (const c of report.perCategory) {
    lines.push(`  ${String(c.categoryId).padStart(4)}  ${c.name.padEnd(width)}  ${formatFixed3(c.ap)}`);
  }
  return lines.join('\n');
}

/** Runs `body`; an error that is not a usage error prints `maskrcnn eval: message` and gives exit code 1. */
function failures(body: () => number): number {
  try {
    return body();
  } catch (error) {
    if (error instanceof UsageError) throw error;
    console.error(`maskrcnn eval: ${error instanceof Error ? error.message : String(error)}`);
    return 1;
  }
}

/** Reads and parses a JSON file (nesting depth checked first); errors name the file. */
function readJson(path: string, what: string): unknown {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    throw new Error(`cannot read ${what} file ${path}: ${(error as Error).message}`);
  }
  return parseJson(text, `${path} (${what} file)`);
}
