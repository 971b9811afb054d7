/**
 * Loading torchvision's trained Mask R-CNN: `maskrcnn_resnet50_fpn`'s state dict, converted once
 * to safetensors by `tools/convert_torchvision.py` (same key names, float32), loads by name into
 * the paper's ResNet-50-FPN {@link MaskRCNN} ({@link defaultConfig}, 91 COCO classes with
 * background). The state-dict keys are torchvision's (`backbone.body.layer1.0.conv1.weight`,
 * `rpn.head.conv.0.0.weight`, `roi_heads.mask_predictor.conv5_mask.weight`, ...), so the load is
 * strict: every key of the model must be in the file and every key of the file must be used;
 * otherwise the error lists every missing and every unexpected key (and every shape mismatch).
 *
 * @module
 */
import { existsSync } from 'node:fs';
import { SafetensorsFile } from '../nn/index.js';
import { defaultConfig, type MaskRCNNConfig } from './config.js';
import { MaskRCNN, type MaskRCNNOptions } from './mask_rcnn.js';

/** Options of {@link loadTorchvision}. */
export interface LoadTorchvisionOptions {
  /**
   * The detector's numbers (default: {@link defaultConfig} with the number of classes read from
   * the file's `roi_heads.box_predictor.cls_score.weight`, 91 for torchvision's COCO model).
   */
  config?: MaskRCNNConfig;
  /** RoIPool / single-level pooling, for the ablations (see {@link MaskRCNNOptions}). */
  pooler?: MaskRCNNOptions['pooler'];
}

/** The key whose first dimension is the number of classes (background included). */
const CLASS_KEY = 'roi_heads.box_predictor.cls_score.weight';

/**
 * Builds Mask R-CNN and loads a torchvision state dict saved as safetensors (see the file
 * comment and the course page "Torchvision weights"), in evaluation mode. Throws when the file
 * cannot be read or when its keys or shapes do not match the model's, naming every missing and
 * unexpected key.
 *
 * @document ../../docs/course/torchvision-weights.md
 */
export function loadTorchvision(path: string, options: LoadTorchvisionOptions = {}): MaskRCNN {
  if (!existsSync(path)) {
    throw new Error(`loadTorchvision: ${path} does not exist (convert torchvision's weights with tools/convert_torchvision.py first)`);
  }
  let config = options.config;
  if (config === undefined) {
    const file = SafetensorsFile.open(path);
    let numClasses = 91;
    try {
      const entry = file.header.entries.get(CLASS_KEY);
      if (entry !== undefined && entry.shape.length === 2) numClasses = entry.shape[0]!;
    } finally {
      file.close();
    }
    config = defaultConfig(numClasses);
  }
  const model = new MaskRCNN(config, { initialize: false, ...(options.pooler ? { pooler: options.pooler } : {}) });
  try {
    model.loadSafetensors(path); // strict: missing and unexpected keys are errors
  } catch (error) {
    throw new Error(`loadTorchvision: ${path} is not a state dict of this Mask R-CNN (torchvision key names, float32):\n${(error as Error).message}`);
  }
  model.eval();
  return model;
}
