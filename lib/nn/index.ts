/**
 * `lib/nn`: modules, layers, initialisers, losses, optimisers, learning-rate schedules,
 * safetensors weights, and the ResNet + FPN backbone, with PyTorch / torchvision names so that
 * a torchvision state dict loads by key.
 *
 * @module
 */
export {
  Module,
  Sequential,
  ModuleList,
  ModuleDict,
  type TensorModule,
  type CaptureResult,
  type ForwardHook,
  type HookHandle,
  type StateDict,
  type LoadStateDictOptions,
  type LoadStateDictResult,
  type LoadSafetensorsOptions,
  type BufferOptions,
} from './module.js';
export {
  Linear,
  Conv2d,
  ConvTranspose2d,
  BatchNorm2d,
  FrozenBatchNorm2d,
  ReLU,
  MaxPool2d,
  AdaptiveAvgPool2d,
  Flatten,
  Identity,
  type IntPair,
  type LinearOptions,
  type Conv2dLayerOptions,
  type ConvTranspose2dLayerOptions,
  type BatchNorm2dOptions,
  type FrozenBatchNorm2dOptions,
  type MaxPool2dLayerOptions,
} from './layers.js';
export * as init from './init.js';
export {
  binaryCrossEntropyWithLogits,
  crossEntropy,
  smoothL1,
  l1,
  type Reduction,
  type BceWithLogitsOptions,
  type CrossEntropyOptions,
  type SmoothL1Options,
  type L1Options,
} from './losses.js';
export {
  Optimizer,
  SGD,
  Adam,
  AdamW,
  clipGradNorm,
  type ParamGroup,
  type ParamGroupSpec,
  type SavedGroupParams,
  type LearningRate,
  type ParamsInput,
  type HyperParameter,
  type OptimizerStateDict,
  type SGDOptions,
  type AdamOptions,
  type ClipGradNormOptions,
} from './optim.js';
export {
  LRScheduler,
  linearWarmup,
  multiStepDecay,
  constantSchedule,
  chainSchedules,
  sequentialSchedules,
  type LRSchedule,
  type LinearWarmupOptions,
  type MultiStepDecayOptions,
  type LRSchedulerStateDict,
} from './schedule.js';
export {
  SafetensorsFile,
  loadSafetensors,
  saveSafetensors,
  decodeSafetensors,
  encodeSafetensors,
  parseSafetensorsHeader,
  halfToFloat,
  floatToHalf,
  MAX_HEADER_BYTES,
  type SafetensorsDType,
  type SafetensorsEntry,
  type SafetensorsHeader,
  type SafetensorsContents,
  type SafetensorsInput,
  type TypedSafetensorsInput,
  type SafetensorsWriteOptions,
} from './safetensors.js';
export {
  saveCheckpoint,
  loadCheckpoint,
  CHECKPOINT_FORMAT,
  type CheckpointParts,
  type SaveCheckpointOptions,
  type LoadCheckpointOptions,
  type LoadedCheckpoint,
} from './checkpoint.js';
