/**
 * One image through the whole detector, every stage drawn to PNG with a static `index.html`
 * that names each picture by the paper's term and section, and `trace.json` with the shape and
 * value range of every traced tensor: matterport's `inspect_model` notebook as one call (and as
 * `maskrcnn inspect`). Built on the public trace API ({@link MaskRCNN.forward} with
 * `{trace: true}`) and {@link renderTrace}'s views (DESIGN.md, "Inspection is the product").
 *
 * With a ground-truth target, a second forward pass in training mode ({@link traceTraining}: under
 * `noGrad`, the global random stream and BatchNorm's running statistics saved and restored, so
 * inspecting changes nothing) adds the training-only stages: RPN targets, sampled RoIs, mask
 * targets and the five loss terms.
 *
 * @module
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { Tensor, noGrad } from '../../tensor/index.js';
import { writeFileAtomic } from '../../util/atomic_write.js';
import type { DetectionTarget } from '../data/dataset.js';
import type { MaskRCNN } from '../model/mask_rcnn.js';
import { drawDetections } from './overlay.js';
import type { Detections } from '../model/types.js';
import { traceTraining } from '../model/training_trace.js';
import { stageKeys, type Trace } from '../model/trace.js';
import { Canvas, renderTrace, type RenderTraceOptions, type TraceView } from './viz.js';

/** Options of {@link writeInspection}. */
export interface InspectionOptions {
  /** Class names by label (index 0 = background). */
  classes?: readonly string[];
  /** The page's title (default "Mask R-CNN inspection"). */
  title?: string;
  /** Ground truth of the image (labels in the model's label space): adds the training-only stages. */
  target?: Pick<DetectionTarget, 'boxes' | 'labels' | 'masks'>;
  /** Score threshold of the final-detections picture (default 0.5). */
  scoreThreshold?: number;
}

/** What {@link writeInspection} returns. */
export interface Inspection {
  /** Path of `index.html`. */
  index: string;
  /** Every file written (the PNGs, `trace.json`, `index.html`), as paths under the output folder. */
  files: string[];
}

/** One stage of the inspection: a picture to draw, named by the paper's term and section. */
export interface InspectionStage {
  /** The PNG's file name in {@link writeInspection}'s folder (also a stable id of the stage). */
  file: string;
  /** The stage's title. */
  title: string;
  /** What the picture shows, with the paper's section. */
  caption: string;
  /** Draws the picture (throws, naming what is missing, when it cannot be drawn: e.g. no detection). */
  draw: () => Canvas;
}

/** What {@link inspectionStages} returns: the stages and what they were drawn from. */
export interface InspectionStages {
  /** The stages in the page's order. */
  stages: InspectionStage[];
  /** The evaluation-mode trace. */
  evalTrace: Trace;
  /** The training-mode trace, when a target was given. */
  trainTrace?: Trace;
  /** The final detections (in the image's coordinates). */
  detections: Detections;
  /** Detections with a score at or above the threshold of the detections picture. */
  shown: number;
  /** The training losses on this image, when a target was given. */
  losses?: Record<string, number>;
}

/** Statistics of one traced tensor in `trace.json`. */
interface TensorSummary {
  shape: number[];
  dtype: string;
  min: number | null;
  max: number | null;
  mean: number | null;
  nonFinite: number;
}

/**
 * Runs `model` on `image` (`[3, H, W]` in [0, 1]) with the trace on and writes into `outDir`
 * one PNG per stage, `trace.json` and `index.html` (static, relative links). The model's mode
 * is restored afterwards. A stage that cannot be drawn (for example the per-class mask logits
 * when there is no detection) is listed on the page with the reason instead of a picture.
 */
export function writeInspection(model: MaskRCNN, image: Tensor, outDir: string, options: InspectionOptions = {}): Inspection {
  const { stages, evalTrace, trainTrace, detections, shown, losses } = inspectionStages(model, image, options);
  const total = detections.scores.size;
  const scoreThreshold = options.scoreThreshold ?? 0.5;
  mkdirSync(outDir, { recursive: true });
  const files: string[] = [];
  const rows: string[] = [];
  for (const stage of stages) {
    let figure: string;
    try {
      const canvas = stage.draw();
      canvas.save(join(outDir, stage.file));
      files.push(join(outDir, stage.file));
      figure = `<figure><img src="${escapeHtml(stage.file)}" alt="${escapeHtml(stage.title)}" width="${canvas.width}" height="${canvas.height}"><figcaption><b>${escapeHtml(stage.title)}.</b> ${escapeHtml(stage.caption)}</figcaption></figure>`;
    } catch (error) {
      figure = `<figure class="missing"><figcaption><b>${escapeHtml(stage.title)}</b>: not drawn (${escapeHtml((error as Error).message)}). ${escapeHtml(stage.caption)}</figcaption></figure>`;
    }
    rows.push(figure);
  }

  const summary = (trace: Map<string, Tensor>): Record<string, TensorSummary> => Object.fromEntries([...trace].map(([k, t]) => [k, summarize(t)]));
  const traceJson = {
    title: options.title ?? 'Mask R-CNN inspection',
    image: image.shape,
    detections: { total, shown, scoreThreshold },
    ...(losses === undefined ? {} : { losses }),
    trace: summary(evalTrace),
    ...(trainTrace === undefined ? {} : { trainTrace: summary(trainTrace) }),
  };
  const tracePath = join(outDir, 'trace.json');
  writeFileAtomic(tracePath, `${JSON.stringify(traceJson, null, 1)}\n`, 'writeInspection');
  files.push(tracePath);
  return writeInspectionPage(outDir, files, rows, { title: options.title, shown, total, scoreThreshold, losses });
}

/**
 * The stages of an inspection of `image` (`[3, H, W]` in [0, 1]) by `model`, without drawing
 * or writing anything: the same list {@link writeInspection} draws to PNG, for other front ends
 * (the course's in-browser detector draws it on a page). Runs the model with the trace on (and a
 * training-mode pass under `noGrad` when `options.target` is given); the model's mode and the
 * global random stream are restored.
 */
export function inspectionStages(model: MaskRCNN, image: Tensor, options: InspectionOptions = {}): InspectionStages {
  if (image.ndim !== 3 || image.shape[0] !== 3) throw new Error(`writeInspection: the image must be [3, H, W], got [${image.shape}]`);
  const wasTraining = model.training;
  let evalTrace: Trace;
  let trainTrace: Trace | undefined;
  try {
    model.eval();
    evalTrace = noGrad(() => model.forward([image], undefined, { trace: true }).trace);
    if (options.target !== undefined) {
      const { boxes, labels, masks } = options.target;
      trainTrace = traceTraining(model, [image], [{ boxes, labels, masks }]);
    }
  } finally {
    if (wasTraining) model.train();
    else model.eval();
  }

  const cfg = model.config;
  const view = (trace: Trace, v: TraceView, extra: RenderTraceOptions = {}) => (): Canvas =>
    renderTrace(trace, v, { imageMean: cfg.transform.imageMean, imageStd: cfg.transform.imageStd, classNames: options.classes, ...extra });
  const levels = stageKeys(evalTrace, 'rpn.head.objectness').length;
  const fpnNames = stageKeys(evalTrace, 'fpn');
  const scoreThreshold = options.scoreThreshold ?? 0.5;
  const detections: Detections = {
    boxes: evalTrace.get('output.boxes.0')!,
    labels: evalTrace.get('output.labels.0')!,
    scores: evalTrace.get('output.scores.0')!,
    ...(evalTrace.has('output.masks.0') ? { masks: evalTrace.get('output.masks.0')! } : {}),
  };
  const total = detections.scores.size;
  const shown = Array.from(detections.scores.data).filter((s) => s >= scoreThreshold).length;

  const stages: InspectionStage[] = [
    { file: '00_input.png', title: 'Input image', caption: `The image as given, ${image.shape[2]}x${image.shape[1]} pixels.`, draw: () => Canvas.fromImage(image) },
  ];
  if (options.target !== undefined) {
    const t = options.target;
    const g = t.boxes.shape[0]!;
    const gt: Detections = { boxes: t.boxes, labels: t.labels, scores: new Tensor(new Float32Array(g).fill(1), [g]), masks: t.masks.reshape([g, 1, t.masks.shape[1]!, t.masks.shape[2]!]) };
    stages.push({ file: '01_ground_truth.png', title: 'Ground truth', caption: `The ${g} annotated instances (class, box, mask), the targets of training.`, draw: () => drawDetections(image, gt, { classes: options.classes, scoreThreshold: 0 }) });
  }
  stages.push({
    file: '02_anchors.png',
    title: 'Anchors',
    caption: `Every anchor at the location nearest the image centre, one colour per FPN level, on the resized and padded image (Faster R-CNN §3.1.1 anchors; FPN §4.1: one anchor size per level, sizes ${cfg.rpn.anchorSizes.map((s) => s.join('/')).join(', ')} on P2..P6, aspect ratios ${cfg.rpn.aspectRatios[0]?.join('/') ?? ''}).`,
    draw: view(evalTrace, 'anchors'),
  });
  for (let l = 0; l < levels; l++) {
    stages.push({
      file: `03_rpn_objectness_P${l + 2}.png`,
      title: `RPN objectness on P${l + 2}`,
      caption: `The RPN's objectness probability (sigmoid of its logit) at every location of P${l + 2}, one map per anchor of a location (Faster R-CNN RPN §3.1; Mask R-CNN §3).`,
      draw: view(evalTrace, 'rpn_objectness', { level: l }),
    });
  }
  stages.push(
    {
      file: '04_proposals_before_nms.png',
      title: 'Proposals before NMS',
      caption: 'The 100 anchors with the highest objectness, decoded by their predicted deltas, with their objectness as a bar (Faster R-CNN §3.1.2; before non-maximum suppression).',
      draw: view(evalTrace, 'proposals_before_nms'),
    },
    {
      file: '05_proposals.png',
      title: 'Proposals after NMS',
      caption: 'Region proposals after NMS (Faster R-CNN RPN, Mask R-CNN §3): the RoIs the heads see at test time.',
      draw: view(evalTrace, 'proposals'),
    },
  );
  if (trainTrace !== undefined) {
    stages.push(
      {
        file: '06_rpn_targets.png',
        title: 'RPN targets (training)',
        caption: `Positive anchors (green: IoU >= ${cfg.rpn.fgIouThresh} with a ground-truth box, or the best anchor of a box) and the ground-truth boxes they regress to (white) (Faster R-CNN §3.1.2, RPN training).`,
        draw: view(trainTrace, 'rpn_targets'),
      },
      {
        file: '07_sampled_rois.png',
        title: 'Sampled RoIs (training)',
        caption: 'The RoIs sampled for the heads: positives (IoU >= 0.5 with a ground-truth box) green, negatives red, the ground-truth boxes added as proposals (Mask R-CNN §3.1, training).',
        draw: view(trainTrace, 'sampled_rois'),
      },
      {
        file: '08_mask_targets.png',
        title: 'Mask targets (training)',
        caption: "The ground-truth mask of each positive RoI, RoIAligned to the mask head's m x m grid: the targets of L_mask (Mask R-CNN §3, mask representation and L_mask).",
        draw: view(trainTrace, 'mask_targets'),
      },
    );
  }
  stages.push(
    {
      file: '09_roi_features.png',
      title: 'RoI features',
      caption: 'RoIAlign features of the box branch for each proposal, mean over channels (Mask R-CNN §3, RoIAlign).',
      draw: view(evalTrace, 'roi_features'),
    },
    {
      file: '10_mask_logits.png',
      title: 'Mask logits of each detection',
      caption: "Each detection's mask logits for its predicted class, before the sigmoid and the pasting into the image (Mask R-CNN §3, mask representation).",
      draw: view(evalTrace, 'mask_logits'),
    },
    {
      file: '11_mask_logits_per_class.png',
      title: 'Per-class mask logits of the top detection',
      caption: 'All K masks the mask head predicts for the top detection, one per class (background first): no competition among classes, the class branch picks the mask (Mask R-CNN §3, decoupling masks and class prediction).',
      draw: view(evalTrace, 'mask_logits_per_class', { roi: 0 }),
    },
    {
      file: '12_detections.png',
      title: 'Final detections',
      caption: `Detections with score >= ${scoreThreshold} (${shown} of ${total}): class, score, box and the mask pasted into the image and thresholded at ${cfg.roiHeads.maskThreshold} (Mask R-CNN §3, inference).`,
      draw: () => drawDetections(image, detections, { classes: options.classes, scoreThreshold, maskThreshold: cfg.roiHeads.maskThreshold }),
    },
  );
  fpnNames.forEach((name, l) => {
    stages.push({
      file: `13_fpn_P${l + 2}.png`,
      title: `FPN feature map P${l + 2}`,
      caption: `The first 16 channels of P${l + 2} (trace '${name}'), each scaled to its own range (FPN §3, top-down pathway and lateral connections; Mask R-CNN §3 backbone).`,
      draw: view(evalTrace, 'fpn_features', { level: l }),
    });
  });

  const losses = trainTrace === undefined ? undefined : Object.fromEntries(stageKeys(trainTrace, 'loss').map((k) => [k.slice('loss.'.length), trainTrace!.get(k)!.data[0]!]));
  return { stages, evalTrace, ...(trainTrace === undefined ? {} : { trainTrace }), detections, shown, ...(losses === undefined ? {} : { losses }) };
}

/** Writes the inspection's `index.html` and returns the inspection. */
function writeInspectionPage(
  outDir: string,
  files: string[],
  rows: readonly string[],
  info: { title: string | undefined; shown: number; total: number; scoreThreshold: number; losses: Record<string, number> | undefined },
): Inspection {
  const { shown, total, scoreThreshold, losses } = info;
  const title = info.title ?? 'Mask R-CNN inspection';
  const lossLine = losses === undefined ? '' : `<p>Training losses on this image (L = L_cls + L_box + L_mask + the RPN's): ${Object.entries(losses).map(([k, v]) => `${escapeHtml(k)} ${Number.isFinite(v) ? v.toFixed(4) : String(v)}`).join(', ')}.</p>`;
  const html = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>${escapeHtml(title)}</title>
<style>
body { font-family: sans-serif; max-width: 60em; margin: 2em auto; padding: 0 1em; background: #fafafa; color: #222; }
figure { margin: 2em 0; }
figure img { image-rendering: pixelated; min-width: 384px; max-width: 100%; height: auto; border: 1px solid #ccc; }
figure.missing figcaption { color: #a00; }
figcaption { margin-top: 0.4em; }
</style>
</head>
<body>
<h1>${escapeHtml(title)}</h1>
<p>Every stage of Mask R-CNN (He et al., ICCV 2017) on one image, from the trace of <code>model.forward([image], undefined, {trace: true})</code>.
${shown} of ${total} detections have score &gt;= ${scoreThreshold}. Shapes and value ranges of every traced tensor: <a href="trace.json">trace.json</a>.</p>
${lossLine}
${rows.join('\n')}
</body>
</html>
`;
  const index = join(outDir, 'index.html');
  writeFileAtomic(index, html, 'writeInspection');
  files.push(index);
  return { index, files };
}

/** Shape, dtype, min, max, mean (over the finite values; `null` when there are none) and the count of NaN/infinite values. */
function summarize(t: Tensor): TensorSummary {
  let min = Infinity;
  let max = -Infinity;
  let sum = 0;
  let count = 0;
  let nonFinite = 0;
  for (let i = 0; i < t.size; i++) {
    const v = Number(t.data[i]);
    if (!Number.isFinite(v)) {
      nonFinite++;
      continue;
    }
    if (v < min) min = v;
    if (v > max) max = v;
    sum += v;
    count++;
  }
  return { shape: [...t.shape], dtype: String(t.dtype), min: count ? min : null, max: count ? max : null, mean: count ? sum / count : null, nonFinite };
}

function escapeHtml(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}
