// %% [markdown]
// # 6. RoI heads
//
// Mask R-CNN is a two-stage detector (He et al., *Mask R-CNN*, ICCV 2017, section 3). The first
// stage, the region proposal network, proposes boxes (chapter 5). The second stage is Fast
// R-CNN's (Girshick, ICCV 2015): for each proposal, a region of interest (RoI), it cuts a small
// fixed-size feature map out of the backbone's features, classifies it and refines its box; Mask
// R-CNN adds a third output in parallel, a mask (chapter 7). torchvision calls this second stage
// the *RoI heads*. In order, for one image:
//
// 1. **which level**: each RoI is pooled from one level of the feature pyramid, chosen by its
//    size (FPN paper, Lin et al., CVPR 2017, Eq. 1): {@link mapLevels};
// 2. **RoIAlign**: a 7x7 feature map per RoI from that level (chapter 3): {@link MultiScaleRoIAlign};
// 3. **in training, sampling**: 512 RoIs per image, a quarter of them positive
//    ({@link Matcher}, {@link BalancedPositiveNegativeSampler});
// 4. **the box head**: two fully connected layers ({@link TwoMLPHead}), then a class score per class
//    and four box deltas per class ({@link FastRCNNPredictor});
// 5. **the losses**: cross-entropy for the class, smooth L1 for the box deltas, encoded by the
//    {@link BoxCoder} with weights (10, 10, 5, 5).
//
// The paper's numbers live in {@link defaultConfig} (ResNet-50-FPN); the pictures come from the
// zoo's shapes model ({@link shapesConfig}: 128x128 images, 4 classes with background), trained by
// this project ([Training on a laptop](../training.md)). The whole stage is {@link RoIHeads}.

// %%
import {
  BalancedPositiveNegativeSampler, BoxCoder, FastRCNNPredictor, MultiScaleRoIAlign, RoIHeads, Tensor, TwoMLPHead, boxIou, crossEntropy, defaultConfig, drawBoxLayers, drawDetections, generateShapes,
  indexSelect, labelledHeatmapGrid, loadWeights, manualSeed, mapLevels, noGrad, randn, roiAlign, shapesDetectionDataset, smoothL1, traceTraining, zooWeightsPath,
} from '../lib/index.js';
import { showPng, showSvg, showMarkdown, markdownTable, check, fixed } from '../tools/notebooks/display.js';
import { lineChartSvg } from '../lib/index.js';

const paper = defaultConfig();
const { model, classes } = loadWeights(zooWeightsPath('shapes'));
// A shapes image the model never saw (training used seed 0), with its ground truth.
const { image, target } = shapesDetectionDataset(generateShapes({ count: 1, seed: 15 }), { contiguousLabels: true }).get(0);
const gtNames = Array.from(target.labels.data, (l) => classes[l]!);
console.log(`classes: ${classes.join(', ')}`);
console.log(`ground truth: ${gtNames.map((n, g) => `${n} [${Array.from(target.boxes.data.subarray(4 * g, 4 * g + 4)).join(', ')}]`).join('; ')}`);

// The model at test time, with every stage kept in a trace (chapter 5 stops at `rpn.proposals.0`).
const run = noGrad(() => model.forward([image], undefined, { trace: true }));
const trace = run.trace;
const proposals = trace.get('rpn.proposals.0')!;
const features = new Map((['0', '1', '2', '3'] as const).map((k) => [k, trace.get(`fpn.${k}`)!] as const)); // P2..P5
const imageSizes: Array<[number, number]> = [[image.shape[1]!, image.shape[2]!]];
console.log(`${proposals.shape[0]} proposals; feature maps P2..P5 ${[...features.values()].map((f) => f.shape.slice(2).join('x')).join(', ')}`);

// %% [markdown]
// ## The paper's numbers
//
// Section 3.1 of the paper ("Implementation Details") and torchvision's defaults, beside the
// zoo's shapes model: it keeps the paper's pooling and sampling rules and shrinks the widths and
// the number of RoIs (the shapes preset has since halved them again, to 32 per image: as
// accurate on shapes per iteration and cheaper, issue 14).

// %%
const h = paper.roiHeads;
const s = model.config.roiHeads; // the zoo model's (trained with the shapes preset of its day)
showMarkdown(markdownTable(
  ['', 'paper (R50-FPN)', 'zoo shapes model'],
  [
    ['RoIAlign output, box branch', `${h.boxRoiOutputSize}x${h.boxRoiOutputSize}`, `${s.boxRoiOutputSize}x${s.boxRoiOutputSize}`],
    ['sampling ratio (points per bin and axis)', h.samplingRatio, s.samplingRatio],
    ['level mapper: canonical size, level', `${h.canonicalScale}, P4`, `${s.canonicalScale}, P4`],
    ['RoIs sampled per image (training)', h.boxBatchSizePerImage, s.boxBatchSizePerImage],
    ['largest fraction of positives', h.boxPositiveFraction, s.boxPositiveFraction],
    ['foreground: IoU >=', h.boxFgIouThresh, s.boxFgIouThresh],
    ['background: IoU <', h.boxBgIouThresh, s.boxBgIouThresh],
    ['box head width (fc6, fc7)', h.representationSize, s.representationSize],
    ['box coder weights', h.bboxRegWeights.join(', '), s.bboxRegWeights.join(', ')],
    ['smooth L1 beta', fixed(h.smoothL1Beta), fixed(s.smoothL1Beta)],
  ],
));
check('paper: RoIAlign 7x7 with sampling ratio 2', [h.boxRoiOutputSize, h.samplingRatio], [7, 2], 0);
check('paper: 512 RoIs per image, 25% positives (1:3)', [h.boxBatchSizePerImage, h.boxPositiveFraction], [512, 0.25], 0);
check('paper: foreground IoU >= 0.5, background below 0.5', [h.boxFgIouThresh, h.boxBgIouThresh], [0.5, 0.5], 0);
check('FPN Eq. 1: canonical 224; torchvision box head 1024; box coder (10, 10, 5, 5)', [h.canonicalScale, h.representationSize, ...h.bboxRegWeights], [224, 1024, 10, 10, 5, 5], 0);

// %% [markdown]
// ## Which level pools a RoI: FPN Eq. 1
//
// The FPN paper (Lin et al. 2017, section 4.2) assigns a RoI of width `w` and height `h` (in
// pixels of the input image) to the pyramid level
//
// `k = floor(k0 + log2(sqrt(w h) / 224))`, `k0 = 4`,
//
// clamped to the levels that exist, P2..P5. 224 is ImageNet's image size: a RoI of that size is
// pooled from P4 (stride 16), the level a ResNet classifier's `conv4` features would come from
// (Faster R-CNN's C4 design); a RoI half as large goes one level finer, twice as large one
// coarser. torchvision adds 1e-6 before the floor so that the exact powers of two land on their
// level in float32. {@link mapLevels} returns `k - 2`.

// %%
const sizes: Array<[number, number]> = [[8, 8], [32, 32], [111, 111], [112, 112], [223, 223], [224, 224], [447, 447], [448, 448], [112, 448], [896, 896], [1333, 800], [3000, 3000]];
const sizeBoxes = new Tensor(Float32Array.from(sizes.flatMap(([w, hh]) => [0, 0, w, hh])), [sizes.length, 4]);
const mapped = Array.from(mapLevels(sizeBoxes), (l) => l + 2);
showMarkdown(markdownTable(
  ['RoI w x h (pixels)', 'sqrt(w h)', 'k0 + log2(sqrt(w h) / 224)', 'level (clamped to P2..P5)', 'stride'],
  sizes.map(([w, hh], i) => [`${w} x ${hh}`, fixed(Math.sqrt(w * hh), 1), fixed(4 + Math.log2(Math.sqrt(w * hh) / 224), 3), `P${mapped[i]}`, 2 ** mapped[i]!]),
));
check('224x224 -> P4, 112 -> P3, 448 -> P5, tiny -> P2, huge -> P5', [mapped[5]!, mapped[3]!, mapped[7]!, mapped[0]!, mapped[11]!], [4, 3, 5, 2, 5], 0);
check('one pixel below a boundary stays on the finer level (111 -> P2, 223 -> P3, 447 -> P4)', [mapped[2]!, mapped[4]!, mapped[6]!], [2, 3, 4], 0);
check('the area decides, not the shape: 112 x 448 has sqrt(w h) = 224 -> P4', mapped[8]!, 4, 0);

// %% [markdown]
// On the shapes model the rule has a consequence worth seeing. Its images are 128 pixels wide
// and its objects smaller, so no RoI reaches the 112 pixels that P3 needs, and every RoI is
// pooled from P2: the preset keeps the canonical 224 of ImageNet-sized objects while its anchors
// are four times smaller than the paper's. The count of its test-time proposals per level:

// %%
const anchors = (c: typeof paper) => `${c.rpn.anchorSizes[0]![0]}..${c.rpn.anchorSizes[4]![0]}`;
console.log(`shapes image ${image.shape[2]} x ${image.shape[1]}; anchor sizes ${anchors(model.config)} (paper ${anchors(paper)}: ${paper.rpn.anchorSizes[0]![0]! / model.config.rpn.anchorSizes[0]![0]!} times larger)`);
const proposalLevels = mapLevels(proposals, 2, 5, model.config.roiHeads.canonicalScale);
const perLevel = [0, 1, 2, 3].map((l) => proposalLevels.filter((v) => v === l).length);
showMarkdown(markdownTable(['', 'P2', 'P3', 'P4', 'P5'], [['proposals of the zoo model on this image', ...perLevel]]));
let largest = 0;
for (let i = 0; i < proposals.shape[0]!; i++) {
  const p = proposals.data.subarray(4 * i, 4 * i + 4);
  largest = Math.max(largest, Math.sqrt((p[2]! - p[0]!) * (p[3]! - p[1]!)));
}
console.log(`largest proposal: sqrt(w h) = ${fixed(largest, 1)} pixels`);
check('every proposal of the 128-pixel image is pooled from P2', perLevel[0]!, proposals.shape[0]!, 0);

// %% [markdown]
// ## MultiScaleRoIAlign: one 7x7 map per RoI
//
// {@link MultiScaleRoIAlign} groups the RoIs by level and runs RoIAlign (chapter 3) on each
// level's feature map with that level's scale (P2: 1/4 ... P5: 1/32, inferred from the feature
// map's size), 7x7 bins, 2x2 sample points per bin, then puts the rows back in the RoIs' order.
// The result for the zoo model's proposals is what the model itself pooled (its trace), and
// row by row what `roiAlign` gives on the RoI's level.

// %%
const pooled = model.roi_heads.boxRoiPool.forward(features, [proposals], imageSizes);
console.log(`pooled features [${pooled.features.shape.join(', ')}]: ${proposals.shape[0]} RoIs x ${pooled.features.shape[1]} channels x 7 x 7; level scales ${pooled.scales.join(', ')}`);
check('the pooled features are the model\'s own (trace roi_heads.box_roi_pool)', pooled.features.data, trace.get('roi_heads.box_roi_pool')!.data, 0);
check('P2..P5 scales 1/4, 1/8, 1/16, 1/32', pooled.scales, [1 / 4, 1 / 8, 1 / 16, 1 / 32], 0);
const first = roiAlign(features.get('0')!, new Tensor(Float32Array.from([0, ...proposals.data.subarray(0, 4)]), [1, 5]), { outputSize: 7, spatialScale: 1 / 4, samplingRatio: 2 });
check('RoI 0 by hand: roiAlign on P2, 7x7, scale 1/4, sampling ratio 2', first.data, pooled.features.narrow(0, 0, 1).data, 0);

// %% [markdown]
// The zoo model never leaves P2, so here is the paper's setting: an 800 x 800 image, whose P2..P5
// have 200, 100, 50 and 25 cells a side (random features of 8 channels stand in for the 256 of
// a trained FPN), and four RoIs of different sizes. The paper's pooler ({@link defaultConfig}'s
// 7x7, sampling ratio 2, canonical 224) sends each to its level, and each row is RoIAlign on that
// level at that level's scale.

// %%
manualSeed(0);
const pyramid = new Map([200, 100, 50, 25].map((side, l) => [String(l), randn([1, 8, side, side])] as const));
const paperPooler = new MultiScaleRoIAlign(['0', '1', '2', '3'], h.boxRoiOutputSize, h.samplingRatio, { canonicalScale: h.canonicalScale });
const paperRois = new Tensor(Float32Array.from([100, 100, 180, 160, 50, 300, 230, 460, 300, 200, 600, 420, 100, 80, 760, 740]), [4, 4]);
const multi = paperPooler.forward(pyramid, [paperRois], [[800, 800]]);
const byLevel = [0, 1, 2, 3].map((i) => {
  const l = multi.levels[i]!;
  const row = new Tensor(Float32Array.from([0, ...paperRois.data.subarray(4 * i, 4 * i + 4)]), [1, 5]);
  return roiAlign(pyramid.get(String(l))!, row, { outputSize: 7, spatialScale: multi.scales[l]!, samplingRatio: 2 });
});
showMarkdown(markdownTable(
  ['RoI (x1, y1, x2, y2)', 'sqrt(w h)', 'level', 'scale', 'pooled'],
  [0, 1, 2, 3].map((i) => {
    const b = paperRois.data.subarray(4 * i, 4 * i + 4);
    return [`${Array.from(b).join(', ')}`, fixed(Math.sqrt((b[2]! - b[0]!) * (b[3]! - b[1]!)), 1), `P${multi.levels[i]! + 2}`, `1/${1 / multi.scales[multi.levels[i]!]!}`, `[${multi.features.narrow(0, i, 1).shape.join(', ')}]`];
  }),
));
check('the four RoIs go to P2, P3, P4, P5', Array.from(multi.levels, (l) => l + 2), [2, 3, 4, 5], 0);
check('each row is roiAlign on its level at its scale', multi.features.data, byLevel.flatMap((t) => Array.from(t.data)), 0);

// %% [markdown]
// ## Training: which RoIs the heads learn from
//
// In training the heads do not see every proposal. The ground-truth boxes are added to the
// proposals (so that every object has at least one perfect RoI), each RoI is matched to the
// ground-truth box it overlaps most, and (section 3.1) "an RoI is considered positive if it has
// IoU with a ground-truth box of at least 0.5 and negative otherwise". Each image then
// contributes N sampled RoIs "with a ratio of 1:3 of positive to negatives"; N is 512 with FPN.
// The sampler takes at most a quarter positives, at random, and fills the rest with random
// negatives; when positives are few, negatives fill the batch.
//
// The paper's sampler on three made-up images (labels only: how many candidates are positive
// and negative):

// %%
manualSeed(0);
const paperSampler = new BalancedPositiveNegativeSampler(h.boxBatchSizePerImage, h.boxPositiveFraction);
const cases: Array<[number, number]> = [[300, 1700], [40, 1960], [300, 100]];
const drawn = cases.map(([p, n]) => {
  const labels = new Tensor(Int32Array.from({ length: p + n }, (_, i) => (i < p ? 1 : 0)), [p + n]);
  const m = paperSampler.forward([labels])[0]!;
  return [m.positive.reduce((a, b) => a + b, 0), m.negative.reduce((a, b) => a + b, 0)] as [number, number];
});
showMarkdown(markdownTable(
  ['candidates: positive', 'negative', 'sampled: positive', 'negative', 'total'],
  cases.map(([p, n], i) => [p, n, drawn[i]![0], drawn[i]![1], drawn[i]![0] + drawn[i]![1]]),
));
check('many positives: 128 positives + 384 negatives = 512', drawn[0]!, [128, 384], 0);
check('few positives: all 40, negatives fill the rest (472)', drawn[1]!, [40, 472], 0);
check('few negatives: 128 + all 100 (the batch is not filled)', drawn[2]!, [128, 100], 0);

// %% [markdown]
// The zoo model in training mode with the ground truth does all of this and keeps the sample in
// its trace (`train.roi_heads.*`); {@link traceTraining} runs that pass and puts back what a
// training-mode pass changes (BatchNorm's running averages, the random stream), so that `model`
// still predicts as loaded. The zoo model was trained sampling 64 RoIs per image, at most 16
// positive (its `config.roiHeads`; the shapes preset now samples 32, at most 8).

// %%
const trainTrace = traceTraining(model, [image], [target], { seed: 0 });
const rois = trainTrace.get('train.roi_heads.proposals_with_gt.0')!;
const roiLabels = trainTrace.get('train.roi_heads.labels.0')!;
const matched = trainTrace.get('train.roi_heads.matched_idxs.0')!;
const iou = boxIou(target.boxes, rois); // [G, R]
const r = rois.shape[0]!;
const g = target.boxes.shape[0]!;
const best = Array.from({ length: r }, (_, j) => Math.max(...Array.from({ length: g }, (_, k) => iou.data[k * r + j]!)));
const pos = [...Array(r).keys()].filter((j) => roiLabels.data[j]! > 0);
const neg = [...Array(r).keys()].filter((j) => roiLabels.data[j] === 0);
console.log(`${trainTrace.get('train.rpn.proposals.0')!.shape[0]} training proposals + ${g} ground-truth boxes -> ${r} sampled RoIs: ${pos.length} positive, ${neg.length} negative`);
console.log(`positives' IoU with their ground truth: ${fixed(Math.min(...pos.map((j) => best[j]!)), 3)} .. ${fixed(Math.max(...pos.map((j) => best[j]!)), 3)} (${pos.filter((j) => best[j] === 1).length} of them are the ground-truth boxes themselves)`);
console.log(`negatives' best IoU: ${fixed(Math.min(...neg.map((j) => best[j]!)), 3)} .. ${fixed(Math.max(...neg.map((j) => best[j]!)), 3)}`);
const { boxBatchSizePerImage, boxPositiveFraction } = model.config.roiHeads;
check('64 RoIs sampled (the zoo config), at most 16 positive', [boxBatchSizePerImage, r, pos.length <= boxBatchSizePerImage * boxPositiveFraction ? 1 : 0], [64, 64, 1], 0);
check('every positive has IoU >= 0.5, every negative < 0.5', [pos.every((j) => best[j]! >= 0.5) ? 1 : 0, neg.every((j) => best[j]! < 0.5) ? 1 : 0], [1, 1], 0);
check('a positive is labelled with the class of the ground-truth box it overlaps most',
  pos.map((j) => roiLabels.data[j]!), pos.map((j) => target.labels.data[matched.data[j]!]!), 0);
showPng(
  drawBoxLayers(image, [
    { boxes: rois, rows: neg, color: [230, 50, 50], name: 'negative' },
    { boxes: rois, rows: pos, color: [40, 220, 60], name: 'positive' },
    { boxes: target.boxes, color: [255, 255, 255], name: 'ground truth' },
  ]).toPng(),
  'The 64 sampled RoIs of the zoo model on this image: positives (IoU >= 0.5) green, negatives red, ground truth white (3x enlarged)',
);

// %% [markdown]
// What the box head receives for five of them: one positive of each class, the negative with the
// least overlap and the one with the most. Each RoI, whatever its size, becomes 64 channels of
// 7x7 (8 of them here, each map scaled to its own range): learned features, not a picture of
// the object. Each row's name gives the RoI's label, its IoU with the nearest ground-truth box and
// the probability the trained classifier gives that label. The RoI on empty background gives
// smooth, nearly flat maps; the negative that overlaps an object by just under 0.5 looks much
// like a positive, and the classifier is least sure of it.

// %%
const k = model.config.numClasses; // 4: background, square, circle, triangle
const probability = (j: number): number => {
  const row = Array.from(trainTrace.get('train.roi_heads.class_logits')!.data.subarray(j * k, (j + 1) * k));
  const top = Math.max(...row);
  const e = row.map((v) => Math.exp(v - top));
  return e[roiLabels.data[j]!]! / e.reduce((x, y) => x + y, 0);
};
const onePerClass = [1, 2, 3].map((c) => pos.find((j) => roiLabels.data[j] === c)).filter((j): j is number => j !== undefined);
const byOverlap = [...neg].sort((a, b) => best[a]! - best[b]!);
const shown = [...onePerClass, byOverlap[0]!, byOverlap[byOverlap.length - 1]!];
const sampledPooled = trainTrace.get('train.roi_heads.box_roi_pool')!;
const rowNames = shown.map((j) => `${classes[roiLabels.data[j]!] === '__background__' ? 'background' : classes[roiLabels.data[j]!]} iou ${fixed(best[j]!, 2)} p ${fixed(probability(j), 2)}`);
showPng(
  labelledHeatmapGrid(indexSelect(sampledPooled, 0, shown).narrow(1, 0, 8), { rowLabels: rowNames, columnLabels: [...Array(8).keys()].map((c) => `ch ${c}`), scale: 8 }).toPng(),
  'RoIAlign 7x7 features of five sampled RoIs (rows: label, IoU, classifier probability of the label), channels 0-7 of P2 (columns), 8 pixels per bin',
);
check('one positive of each class is shown', onePerClass.map((j) => roiLabels.data[j]!), [1, 2, 3], 0);

// %% [markdown]
// ## The box head and the predictor
//
// The 7x7x256 map of each RoI is flattened and goes through two fully connected layers of 1024
// with ReLU (torchvision's {@link TwoMLPHead}, `fc6` and `fc7`: the FPN paper's head, section
// 4.2, "two hidden 1,024-d fully-connected layers", there after RoIPool), then two parallel linear layers ({@link FastRCNNPredictor}): `cls_score`, one
// logit per class including background, and `bbox_pred`, four deltas per class (Fast R-CNN's
// class-specific box regression). The paper's heads for COCO (81 classes in the paper's
// numbering; torchvision's weights use 91) are built here without weights to count them.

// %%
const paperRoIHeads = new RoIHeads(paper.roiHeads, paper.backbone.fpnChannels, 91, { initialize: false });
// The heads take any box head and predictor (torchvision's `box_head`, `box_predictor` options); the paper's are these two.
if (!(paperRoIHeads.box_head instanceof TwoMLPHead) || !(paperRoIHeads.box_predictor instanceof FastRCNNPredictor)) throw new Error('not the paper\'s box head');
const paperHeads = { box_head: paperRoIHeads.box_head, box_predictor: paperRoIHeads.box_predictor };
const fc6In = paper.backbone.fpnChannels * 7 * 7;
const headRows = [
  ['fc6', `${fc6In} -> 1024`, paperHeads.box_head.fc6.numParameters(), fc6In * 1024 + 1024],
  ['fc7', '1024 -> 1024', paperHeads.box_head.fc7.numParameters(), 1024 * 1024 + 1024],
  ['cls_score', '1024 -> 91', paperHeads.box_predictor.cls_score.numParameters(), 1024 * 91 + 91],
  ['bbox_pred', '1024 -> 4 x 91', paperHeads.box_predictor.bbox_pred.numParameters(), 1024 * 364 + 364],
] as const;
showMarkdown(markdownTable(['layer', 'shape', 'parameters (built)', 'weights + biases (formula)'], headRows.map((row) => [...row])));
check('the paper\'s box head and predictor: parameters as built = the formula', headRows.map((row) => row[2]), headRows.map((row) => row[3]), 0);
console.log(`box head + predictor of the paper: ${(paperHeads.box_head.numParameters() + paperHeads.box_predictor.numParameters()).toLocaleString('en-US')} parameters; of the zoo model: ${(model.roi_heads.box_head.numParameters() + model.roi_heads.box_predictor.numParameters()).toLocaleString('en-US')}`);

// The zoo model's head on the pooled features: class logits [R, 4] and deltas [R, 16].
const boxFeatures = noGrad(() => model.roi_heads.box_head.forward(pooled.features));
const { classLogits, boxRegression } = noGrad(() => model.roi_heads.box_predictor.forward(boxFeatures));
console.log(`box head ${boxFeatures.shape.join('x')}, class logits ${classLogits.shape.join('x')}, box deltas ${boxRegression.shape.join('x')}`);
check('the head\'s outputs are the model\'s own (trace roi_heads.class_logits, box_regression)', [...classLogits.data, ...boxRegression.data], [...trace.get('roi_heads.class_logits')!.data, ...trace.get('roi_heads.box_regression')!.data], 0);

// %% [markdown]
// ## Box deltas and the box coder: a worked example
//
// The box branch does not predict coordinates; it predicts how to move and scale the RoI `P` onto
// the ground truth `G` (R-CNN, Girshick et al. 2014, appendix C; Fast R-CNN section 2.3), with
// centres `x = x1 + w / 2`, widths `w = x2 - x1`:
//
// `t_x = w_x (G_x - P_x) / P_w`, `t_y = w_y (G_y - P_y) / P_h`, `t_w = w_w log(G_w / P_w)`, `t_h = w_h log(G_h / P_h)`.
//
// Fast R-CNN (section 2.3) normalises the regression targets "to have zero mean and unit
// variance"; its successors fixed the standard deviations at (0.1, 0.1, 0.2, 0.2) (the Faster
// R-CNN reference code) and Detectron and torchvision fold their inverse into the coder as the
// weights `(10, 10, 5, 5)`, so the deltas the head learns are of order 1. The RPN's coder uses
// (1, 1, 1, 1).
// A RoI `P = (20, 30, 60, 90)` and a ground-truth box `G = (24, 27, 68, 93)`:

// %%
const coder = new BoxCoder(h.bboxRegWeights);
const P = new Tensor(Float32Array.from([20, 30, 60, 90]), [1, 4]);
const G = new Tensor(Float32Array.from([24, 27, 68, 93]), [1, 4]);
const t = coder.encode(G, P);
// By hand: P has centre (40, 60), size 40 x 60; G has centre (46, 60), size 44 x 66.
const byHand = [(10 * (46 - 40)) / 40, (10 * (60 - 60)) / 60, 5 * Math.log(44 / 40), 5 * Math.log(66 / 60)];
console.log(`P: centre (40, 60), 40 x 60; G: centre (46, 60), 44 x 66`);
console.log(`t = (${Array.from(t.data, (v) => fixed(v)).join(', ')}); by hand (${byHand.map((v) => fixed(v)).join(', ')})`);
console.log(`the RPN's coder (1, 1, 1, 1): (${Array.from(new BoxCoder([1, 1, 1, 1]).encode(G, P).data, (v) => fixed(v)).join(', ')})`);
check('encode(G, P) with (10, 10, 5, 5)', t.data, byHand, 1e-6);
check('decode(encode(G, P), P) = G', coder.decode(t, P).data, G.data, 1e-4);

// %% [markdown]
// At test time each RoI is decoded with the deltas of the class it is scored as. How much this
// moves the zoo model's proposals: for every proposal that overlaps a ground-truth box with
// IoU >= 0.5, its IoU before and after decoding with the deltas of that box's class.

// %%
const decoded = coder.decode(boxRegression, proposals); // [R, K, 4]
const piou = boxIou(target.boxes, proposals);
const np = proposals.shape[0]!;
const refinedRows: Array<[number, number, number]> = []; // [proposal, IoU before, IoU after]
for (let j = 0; j < np; j++) {
  let gBest = 0;
  for (let q = 1; q < g; q++) if (piou.data[q * np + j]! > piou.data[gBest * np + j]!) gBest = q;
  if (piou.data[gBest * np + j]! < 0.5) continue;
  const cls = target.labels.data[gBest]!;
  const box = new Tensor(decoded.data.slice((j * k + cls) * 4, (j * k + cls + 1) * 4), [1, 4]);
  refinedRows.push([j, piou.data[gBest * np + j]!, boxIou(target.boxes.narrow(0, gBest, 1), box).data[0]!]);
}
const mean = (v: number[]) => v.reduce((a, b) => a + b, 0) / v.length;
const before = mean(refinedRows.map((x) => x[1]));
const after = mean(refinedRows.map((x) => x[2]));
console.log(`${refinedRows.length} proposals with IoU >= 0.5: mean IoU ${fixed(before, 3)} before the box head, ${fixed(after, 3)} after; ${refinedRows.filter((x) => x[2] > x[1]).length} of ${refinedRows.length} improved`);
check('the box head moves the proposals closer to the objects (mean IoU increases)', after > before ? 1 : 0, 1, 0);
showPng(
  drawBoxLayers(image, [
    { boxes: proposals, rows: refinedRows.map((x) => x[0]), color: [0, 200, 255], name: 'proposal' },
    { boxes: run.detections[0]!.boxes, rows: [...Array(g).keys()], color: [255, 225, 25], name: 'final box (top 3)' },
  ]).toPng(),
  'Proposals with IoU >= 0.5 (cyan) and the three best final detections (yellow), after the box head, class-wise NMS and the score threshold (3x enlarged)',
);

// %% [markdown]
// ## The losses: L_cls and L_box
//
// Section 3 defines the loss on each sampled RoI as `L = L_cls + L_box + L_mask`, with L_cls and
// L_box "identical as those defined in" Fast R-CNN (its Eq. 1): the cross-entropy of the RoI's
// class, and for positive RoIs only a smooth L1 on the four deltas of the ground-truth class
// against the encoded targets. torchvision sums the smooth L1 over positives and coordinates and
// divides by the number of sampled RoIs (positives and negatives), and uses `beta = 1/9` where
// Fast R-CNN's Eq. 3 has 1:
//
// `smoothL1(x) = 0.5 x^2 / beta` if `|x| < beta`, else `|x| - 0.5 beta`.

// %%
const beta = h.smoothL1Beta;
const xs = new Tensor(Float32Array.from([0.05, 0.5, -2]), [3]);
const sl1 = smoothL1(xs, new Tensor(new Float32Array(3), [3]), { beta, reduction: 'none' });
const sl1Hand = [0.5 * 0.05 ** 2 / beta, 0.5 - 0.5 * beta, 2 - 0.5 * beta];
console.log(`smoothL1(0.05, 0.5, -2; beta 1/9) = ${Array.from(sl1.data, (v) => fixed(v, 5)).join(', ')}; by hand ${sl1Hand.map((v) => fixed(v, 5)).join(', ')}`);
check('smooth L1 worked example, beta = 1/9', sl1.data, sl1Hand, 1e-6);
// The loss is symmetric: the left half of the curves, so that the legend (top right) stays clear.
const curve = (f: (x: number) => number) => Array.from({ length: 121 }, (_, i) => { const x = -3 + i / 40; return [x, f(x)] as [number, number]; });
const smooth = (b: number) => (x: number) => (Math.abs(x) < b ? (0.5 * x * x) / b : Math.abs(x) - 0.5 * b);
showSvg(lineChartSvg(
  [
    { name: 'beta 1/9 (torchvision)', points: curve(smooth(beta)), color: '#1f77b4' },
    { name: 'beta 1 (Fast R-CNN)', points: curve(smooth(1)), color: '#2ca02c' },
    { name: 'L2: x^2 / 2', points: curve((x) => 0.5 * x * x), color: '#d62728' },
  ],
  { title: 'Box loss per coordinate: smooth L1 and L2', xLabel: 'x = predicted delta - target delta (the loss is symmetric in x)', yLabel: 'loss', size: [720, 480] },
), 'Smooth L1 is quadratic near 0 and linear beyond beta: a far-off box does not dominate the gradient as it would under L2');

// %% [markdown]
// The zoo model's two losses on its 64 sampled RoIs, computed again by hand from the traced
// logits, deltas, labels and regression targets, equal the model's `loss_classifier` and
// `loss_box_reg`:

// %%
const logits = trainTrace.get('train.roi_heads.class_logits')!;
const deltas = trainTrace.get('train.roi_heads.box_regression')!;
const targets = trainTrace.get('train.roi_heads.regression_targets.0')!;
let lcls = 0;
let lbox = 0;
for (let j = 0; j < r; j++) {
  const row = Array.from(logits.data.subarray(j * k, (j + 1) * k));
  const top = Math.max(...row);
  const logSumExp = top + Math.log(row.reduce((a, v) => a + Math.exp(v - top), 0));
  lcls += (logSumExp - row[roiLabels.data[j]!]!) / r;
  const c = roiLabels.data[j]!;
  if (c > 0) for (let q = 0; q < 4; q++) lbox += smooth(beta)(deltas.data[j * 4 * k + 4 * c + q]! - targets.data[4 * j + q]!) / r;
}
const lossCls = trainTrace.get('loss.loss_classifier')!.data[0]!;
const lossBox = trainTrace.get('loss.loss_box_reg')!.data[0]!;
console.log(`L_cls: by hand ${fixed(lcls, 6)}, the model's ${fixed(lossCls, 6)}; crossEntropy ${fixed(crossEntropy(logits, roiLabels).data[0]!, 6)}`);
console.log(`L_box: by hand ${fixed(lbox, 6)}, the model's ${fixed(lossBox, 6)} (over ${pos.length} positives, divided by ${r} RoIs)`);
check('L_cls by hand = loss_classifier', lcls, lossCls, 1e-5);
check('L_box by hand = loss_box_reg', lbox, lossBox, 1e-5);

// %% [markdown]
// ## The result
//
// At test time the box branch scores every proposal for every class (softmax), decodes each
// class's box, keeps the scores above a threshold, runs non-maximum suppression per class and
// keeps the best detections (the numbers below); chapter 9 opens these steps. All the
// detections of the zoo model on this image, and those with a score of at least 0.5 drawn:

// %%
console.log(`paper: score > ${h.boxScoreThresh}, class-wise NMS at IoU ${h.boxNmsThresh}, at most ${h.boxDetectionsPerImg} detections per image (zoo shapes model: ${s.boxDetectionsPerImg})`);
check('paper: score threshold 0.05, NMS 0.5, 100 detections', [h.boxScoreThresh, h.boxNmsThresh, h.boxDetectionsPerImg], [0.05, 0.5, 100], 0);
const det = run.detections[0]!;
showMarkdown(markdownTable(['detection', 'class', 'score', 'box'], Array.from(det.labels.data, (l, d) => [d, classes[l]!, fixed(det.scores.data[d]!, 3), Array.from(det.boxes.data.subarray(4 * d, 4 * d + 4), (v) => fixed(v, 1)).join(', ')])));
showPng(drawDetections(image, { boxes: det.boxes, labels: det.labels, scores: det.scores }, { classes }).toPng(), 'Detections of the zoo model with score >= 0.5: class, score and box (no masks yet: chapter 7)');
check('the three objects are found, each with its class, as the three best detections', Array.from(det.labels.data.subarray(0, 3)).sort(), Array.from(target.labels.data).sort(), 0);
