/**
 * Running a trained detector over images and datasets: detections to COCO results (boxes as
 * `[x, y, w, h]`, masks binarised at the config's threshold and run-length encoded, as
 * torchvision's `coco_eval` does), and a whole-dataset evaluation that returns pycocotools'
 * 12 numbers for `bbox` and `segm` (each from its own results list, as torchvision's
 * `CocoEvaluator` prepares them).
 *
 * @module
 */
import { noGrad } from '../../tensor/index.js';
import type { CocoDataset } from '../data/coco.js';
import type { CocoDetectionDataset } from '../data/dataset.js';
import { rleEncode } from '../data/rle.js';
import { cocoEvaluate, type CocoEvalReport } from './cocoeval.js';
import { loadResults, type CocoDetection, type CocoResult } from './results.js';
import type { MaskRCNN } from '../model/mask_rcnn.js';
import type { Detections } from '../model/types.js';

/** Options of {@link detectionsToCocoResults}. */
export interface ToCocoResultsOptions {
  /** The COCO category id of a label (default: the label itself). */
  categoryIdOf?: (label: number) => number;
  /** Mask probabilities at or above this become mask pixels (default 0.5, the paper's). */
  maskThreshold?: number;
}

/**
 * One image's detections (in its original coordinates, as {@link MaskRCNN.forward} returns
 * them) as COCO result entries: `bbox` as `[x, y, width, height]` and, when the detections
 * have masks, `segmentation` as a compressed RLE of the mask thresholded at `maskThreshold`.
 */
export function detectionsToCocoResults(detections: Detections, imageId: number, options: ToCocoResultsOptions = {}): CocoResult[] {
  const categoryIdOf = options.categoryIdOf ?? ((label: number) => label);
  const threshold = options.maskThreshold ?? 0.5;
  const { boxes, labels, scores, masks } = detections;
  const n = scores.shape[0]!;
  const results: CocoResult[] = [];
  let h = 0;
  let w = 0;
  if (masks !== undefined) {
    if (masks.ndim !== 4 || masks.shape[0] !== n || masks.shape[1] !== 1) {
      throw new Error(`detectionsToCocoResults: masks [${masks.shape}] do not fit ${n} detections (expected [${n}, 1, H, W])`);
    }
    h = masks.shape[2]!;
    w = masks.shape[3]!;
  }
  for (let i = 0; i < n; i++) {
    const [x1, y1, x2, y2] = [boxes.data[4 * i]!, boxes.data[4 * i + 1]!, boxes.data[4 * i + 2]!, boxes.data[4 * i + 3]!];
    const result: CocoResult = {
      image_id: imageId,
      category_id: categoryIdOf(labels.data[i]!),
      score: scores.data[i]!,
      bbox: [x1, y1, x2 - x1, y2 - y1],
    };
    if (masks !== undefined) {
      const probs = masks.data.subarray(i * h * w, (i + 1) * h * w);
      const binary = new Uint8Array(h * w);
      for (let p = 0; p < binary.length; p++) binary[p] = probs[p]! >= threshold ? 1 : 0;
      result.segmentation = rleEncode(binary, h, w);
    }
    results.push(result);
  }
  return results;
}

/** Options of {@link predictDataset} and {@link evaluateModel}. */
export interface PredictDatasetOptions {
  /** Images per forward pass (default 1). */
  batchSize?: number;
  /** Run on the first `limit` images only (default: all). */
  limit?: number;
  /** Called after each batch with the number of images done and the total. */
  onProgress?: (done: number, total: number) => void;
}

/**
 * Runs `model` (switched to evaluation mode for the call, then restored) over `dataset` and
 * returns every detection as a COCO result, category ids mapped back through the dataset.
 */
export function predictDataset(model: MaskRCNN, dataset: CocoDetectionDataset, options: PredictDatasetOptions = {}): CocoResult[] {
  const batchSize = options.batchSize ?? 1;
  if (!Number.isInteger(batchSize) || batchSize < 1) throw new Error(`predictDataset: batchSize must be a positive integer, got ${batchSize}`);
  const total = Math.min(dataset.length, options.limit ?? dataset.length);
  const wasTraining = model.training;
  model.eval();
  const results: CocoResult[] = [];
  try {
    noGrad(() => {
      for (let start = 0; start < total; start += batchSize) {
        const indices = Array.from({ length: Math.min(batchSize, total - start) }, (_, k) => start + k);
        const images = indices.map((i) => dataset.get(i).image);
        const { detections } = model.forward(images);
        detections.forEach((d, k) => {
          const imageId = dataset.imageInfo(indices[k]!).id;
          results.push(...detectionsToCocoResults(d, imageId, { categoryIdOf: (label) => dataset.categoryOfLabel(label).id, maskThreshold: model.config.roiHeads.maskThreshold }));
        });
        options.onProgress?.(start + indices.length, total);
      }
    });
  } finally {
    if (wasTraining) model.train();
  }
  return results;
}

/** What {@link evaluateModel} returns. */
export interface ModelEvaluation {
  /** Every detection as a COCO result. */
  results: CocoResult[];
  /** Box AP: pycocotools' report (its `stats` are the 12 summary numbers). */
  bbox: CocoEvalReport;
  /** Mask AP. */
  segm: CocoEvalReport;
  /** Number of images evaluated. */
  images: number;
  /** The detections as each evaluation loaded them (for error analysis on top of the reports). */
  detections: {
    /** The results as box detections. */
    bbox: CocoDetection[];
    /** The results as mask detections. */
    segm: CocoDetection[];
  };
}

/**
 * COCO evaluation of `model` on `dataset` (bbox and segm), over the first `limit` images or
 * all of them: {@link predictDataset}, then pycocotools' evaluation restricted to those images.
 */
export function evaluateModel(model: MaskRCNN, dataset: CocoDetectionDataset, options: PredictDatasetOptions = {}): ModelEvaluation {
  const results = predictDataset(model, dataset, options);
  const images = Math.min(dataset.length, options.limit ?? dataset.length);
  const imgIds = Array.from({ length: images }, (_, i) => dataset.imageInfo(i).id);
  const gt: CocoDataset = dataset.coco;
  // As torchvision's CocoEvaluator: one results list per IoU type (pycocotools' loadRes takes
  // the bbox branch, with box areas, whenever a result has a bbox).
  const boxResults = results.map(({ segmentation: _s, ...r }) => r);
  const maskResults = results.filter((r) => r.segmentation !== undefined).map(({ bbox: _b, ...r }) => r);
  const detections = { bbox: loadResults(gt, boxResults, { source: 'predictions (bbox)' }), segm: loadResults(gt, maskResults, { source: 'predictions (segm)' }) };
  return {
    results,
    bbox: cocoEvaluate(gt, detections.bbox, { iouType: 'bbox', imgIds }),
    segm: cocoEvaluate(gt, detections.segm, { iouType: 'segm', imgIds }),
    images,
    detections,
  };
}
