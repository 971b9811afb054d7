/** Small shared fixtures of the detector tests. */
import { shapesConfig, type MaskRCNNConfig } from '../../lib/maskrcnn/index.js';

/** The shapes preset on 64-pixel images with fewer proposals: a real training step in ~0.1 s. */
export function tinyConfig(): MaskRCNNConfig {
  const c = shapesConfig(4);
  c.transform = { ...c.transform, minSize: 64, maxSize: 64 };
  c.rpn = { ...c.rpn, preNmsTopNTrain: 200, postNmsTopNTrain: 100, preNmsTopNTest: 100, postNmsTopNTest: 50, batchSizePerImage: 64 };
  c.roiHeads = { ...c.roiHeads, boxBatchSizePerImage: 32, boxDetectionsPerImg: 10 };
  return c;
}
