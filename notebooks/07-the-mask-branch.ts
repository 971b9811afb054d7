// %% [markdown]
// # 7. The mask branch
//
// Mask R-CNN's one addition to Faster R-CNN is a third output per RoI, beside the class and the
// box: a mask (He et al., *Mask R-CNN*, ICCV 2017, section 3). It is a small fully convolutional
// network (FCN) on each RoI's features, drawn in the paper's figure 4 (right, the FPN head):
//
// RoI -> RoIAlign **14x14** x 256 -> four **3x3 convolutions** (256 channels each) ->
// **2x2 deconvolution, stride 2** -> 28x28 x 256 -> 1x1 convolution -> **28x28 x K**, one mask per
// class, each through its own sigmoid.
//
// Two design choices carry the section. *Mask representation*: a mask keeps its spatial layout,
// so it is predicted by convolutions (not by fully connected layers that would flatten it), and
// the RoI features must stay aligned with the image to the pixel, which is why RoIAlign
// replaced RoIPool (chapter 3). *Decoupling*: the network predicts K binary masks and the loss
// only reads the one of the ground-truth class; the classes do not compete for a pixel, the
// box branch's classifier chooses which mask is used.
//
// The code is {@link RoIHeads}'s `maskForward` and `maskrcnnLoss`, the modules
// {@link MaskRCNNHeads} (the four convolutions) and {@link MaskRCNNPredictor} (the deconvolution
// and the per-class 1x1), and {@link pasteMasksInImage}. The paper's numbers are in
// {@link defaultConfig}; the pictures come from the zoo's shapes model, as in chapter 6.

// %%
import {
  RoIHeads, MaskRCNNHeads, MaskRCNNPredictor, Tensor, boxIou, classColor, defaultConfig, drawBoxLayers, drawDetections, generateShapes, indexSelect, labelledHeatmapGrid,
  loadWeights, noGrad, pasteMasksInImage, roiAlign, shapesDetectionDataset, traceTraining, zooWeightsPath,
} from '../lib/index.js';
import { showPng, showMarkdown, markdownTable, check, fixed } from '../tools/notebooks/display.js';

const paper = defaultConfig();
const { model, classes } = loadWeights(zooWeightsPath('shapes'));
const K = model.config.numClasses; // background, square, circle, triangle
const className = (c: number): string => (c === 0 ? 'background' : classes[c]!);
// A shapes image the model never saw, where shapes drawn later cover parts of earlier ones.
const { image, target } = shapesDetectionDataset(generateShapes({ count: 4, seed: 6 }), { contiguousLabels: true }).get(3);
const G = target.labels.size;
const [H, W] = [image.shape[1]!, image.shape[2]!];
console.log(`ground truth: ${Array.from(target.labels.data, (l, g) => `${classes[l]} (${fixed(target.area.data[g]!, 0)} px)`).join(', ')}`);
const run = noGrad(() => model.forward([image], undefined, { trace: true }));
const trace = run.trace;
const features = new Map((['0', '1', '2', '3'] as const).map((k) => [k, trace.get(`fpn.${k}`)!] as const)); // P2..P5
const detBoxes = trace.get('roi_heads.detections.boxes.0')!;
const detLabels = trace.get('roi_heads.detections.labels.0')!;
console.log(`${detBoxes.shape[0]} detections go to the mask branch: ${Array.from(detLabels.data, (l) => classes[l]).join(', ')}`);

// %% [markdown]
// ## The paper's numbers
//
// Section 3.1 and figure 4 (right), as {@link defaultConfig} holds them, beside the zoo's shapes
// model (narrower, with BatchNorm after each convolution because it trains from scratch; the
// shapes preset has since kept two of the four convolutions, which learn as fast on shapes at
// half the cost, issue 14).

// %%
const h = paper.roiHeads;
const s = model.config.roiHeads; // the zoo model's (trained with the shapes preset of its day)
showMarkdown(markdownTable(
  ['', 'paper (R50-FPN)', 'zoo shapes model'],
  [
    ['RoIAlign output, mask branch', `${h.maskRoiOutputSize}x${h.maskRoiOutputSize}`, `${s.maskRoiOutputSize}x${s.maskRoiOutputSize}`],
    ['3x3 convolutions (channels)', h.maskHeadLayers.join(', '), s.maskHeadLayers.join(', ')],
    ['norm after each', h.maskHeadNorm, s.maskHeadNorm],
    ['deconvolution 2x2 stride 2 (channels)', h.maskDimReduced, s.maskDimReduced],
    ['mask size m x m', `${h.maskResolution}x${h.maskResolution}`, `${s.maskResolution}x${s.maskResolution}`],
    ['binarising threshold at test time', h.maskThreshold, s.maskThreshold],
    ['detections given to the mask branch (test)', h.boxDetectionsPerImg, s.boxDetectionsPerImg],
  ],
));
check('paper: RoIAlign 14x14, four 3x3 convolutions of 256', [h.maskRoiOutputSize, h.maskHeadLayers.length, ...h.maskHeadLayers], [14, 4, 256, 256, 256, 256], 0);
check('paper: 28x28 masks, threshold 0.5, the top 100 detections at test time', [h.maskResolution, h.maskThreshold, h.boxDetectionsPerImg], [28, 0.5, 100], 0);

// %% [markdown]
// ## Layer by layer
//
// The zoo model's mask branch on its detections, one layer at a time: the 3x3 convolutions
// (padding 1) keep 14x14; the deconvolution doubles it, `(14 - 1) x 2 + 2 = 28` (chapter 2); the
// 1x1 convolution gives one 28x28 map per class. The last output is the model's own
// (`roi_heads.mask_logits` in its trace). The paper's branch is built without weights to count its
// parameters.

// %%
const pooled = model.roi_heads.maskRoiPool.forward(features, [detBoxes], [[H, W]]).features;
// The paper's FCN mask head (the `maskHead: 'mlp'` ablation of Table 2e has fully connected layers instead).
const fcnHead = (h: RoIHeads): { head: MaskRCNNHeads; predictor: MaskRCNNPredictor } => {
  if (!(h.mask_head instanceof MaskRCNNHeads) || !(h.mask_predictor instanceof MaskRCNNPredictor)) throw new Error('not an FCN mask head');
  return { head: h.mask_head, predictor: h.mask_predictor };
};
const { head, predictor } = fcnHead(model.roi_heads);
const paperHeads = fcnHead(new RoIHeads(paper.roiHeads, paper.backbone.fpnChannels, 91, { initialize: false }));
const layers = [
  ...[0, 1, 2, 3].map((i) => [`mask_head.${i}: conv 3x3 (+ norm) + ReLU`, head.at(i), paperHeads.head.at(i), 256 * 256 * 9 + 256] as const),
  ['mask_predictor.conv5_mask: deconv 2x2 s2', predictor.at(0), paperHeads.predictor.at(0), 256 * 256 * 4 + 256] as const,
  ['mask_predictor.relu', predictor.at(1), paperHeads.predictor.at(1), 0] as const,
  ['mask_predictor.mask_fcn_logits: conv 1x1', predictor.at(2), paperHeads.predictor.at(2), 256 * 91 + 91] as const,
];
let x = pooled;
const rows: Array<Array<string | number>> = [['MultiScaleRoIAlign 14x14', `[${x.shape.join(', ')}]`, '', '', '']];
for (const [name, layer, paperLayer, formula] of layers) {
  x = noGrad(() => layer.forward(x));
  rows.push([name, `[${x.shape.join(', ')}]`, layer.numParameters(), paperLayer.numParameters(), formula]);
}
showMarkdown(markdownTable(['layer', 'zoo model: output', 'parameters', 'paper: parameters (built)', 'paper: weights + biases'], rows));
check('paper branch: parameters as built = the formula', rows.slice(1).map((r) => r[3] as number), layers.map((l) => l[3]), 0);
check('the convolutions keep 14x14, the deconvolution gives (14 - 1) x 2 + 2 = 28', [pooled.shape[2]!, (14 - 1) * 2 + 2, x.shape[2]!, x.shape[3]!], [14, 28, 28, 28], 0);
check('one 28x28 map per class, the model\'s own logits', [x.shape[1]!, ...x.data], [K, ...trace.get('roi_heads.mask_logits')!.data], 0);

// %% [markdown]
// A 2x2 deconvolution with stride 2 writes each input cell into its own 2x2 block of the output,
// and the blocks do not overlap: the 28x28 mask is the 14x14 grid with each cell spelled out as
// 2x2 pixels. Changing one cell of the deconvolution's input changes exactly one 2x2 block:

// %%
const beforeDeconv = noGrad(() => head.forward(pooled)).narrow(0, 0, 1);
const bumped = beforeDeconv.clone();
const [cy, cx] = [5, 9];
for (let c = 0; c < bumped.shape[1]!; c++) bumped.data[(c * 14 + cy) * 14 + cx]! += 1;
const out0 = noGrad(() => predictor.at(0).forward(beforeDeconv));
const out1 = noGrad(() => predictor.at(0).forward(bumped));
const changed: Array<[number, number]> = []; // output pixels (y, x) where any channel moved
for (let y = 0; y < 28; y++) for (let xx = 0; xx < 28; xx++) {
  let d = 0;
  for (let c = 0; c < out0.shape[1]!; c++) d = Math.max(d, Math.abs(out1.data[(c * 28 + y) * 28 + xx]! - out0.data[(c * 28 + y) * 28 + xx]!));
  if (d > 0) changed.push([y, xx]);
}
console.log(`input cell (${cy}, ${cx}) changed the output pixels ${changed.map(([y, xx]) => `(${y}, ${xx})`).join(', ')}`);
check('one input cell (5, 9) -> exactly its 2x2 output block, rows 10-11, columns 18-19', changed.flat(), [10, 18, 10, 19, 11, 18, 11, 19], 0);

// %% [markdown]
// ## Mask targets: the ground-truth mask, RoIAligned onto the RoI
//
// In training, the target of a positive RoI is its ground-truth mask cut out at the RoI and
// resampled to 28x28 ("the intersection between an RoI and its associated ground-truth mask",
// section 3.1): torchvision does it with RoIAlign on the full-image 0/1 mask (scale 1, adaptive
// sampling). The target is fractional where the mask's edge crosses a bin, and it is the
// *visible* part of the object: here a square covers the bottom of the circle and the top of the
// triangle.
//
// The zoo model in training mode gives the targets of its sampled positives ({@link traceTraining},
// as in chapter 6).

// %%
const trainTrace = traceTraining(model, [image], [target], { seed: 0 });
const rois = trainTrace.get('train.roi_heads.proposals_with_gt.0')!;
const labels = trainTrace.get('train.roi_heads.labels.0')!;
const matched = trainTrace.get('train.roi_heads.matched_idxs.0')!;
const pos = [...Array(labels.size).keys()].filter((j) => labels.data[j]! > 0);
const maskTargets = trainTrace.get('train.roi_heads.mask_targets')!; // [P, 28, 28], positives in order
const targetLabels = trainTrace.get('train.roi_heads.mask_target_labels')!;
const fractional = Array.from(maskTargets.data).filter((v) => v > 0 && v < 1).length;
console.log(`${pos.length} positive RoIs -> mask targets [${maskTargets.shape.join(', ')}]; ${fixed((100 * fractional) / maskTargets.size, 1)}% of the target pixels are fractional (edges)`);
check('one target per positive RoI, labelled with its ground-truth class', Array.from(targetLabels.data), pos.map((j) => labels.data[j]!), 0);

// %% [markdown]
// One target pixel by hand. Bin (i, j) of a RoI `(x1, y1, x2, y2)` covers
// `y1 + i (y2 - y1) / 28 .. y1 + (i + 1) (y2 - y1) / 28` (and likewise in x); adaptive sampling
// puts `ceil((y2 - y1) / 28)` x `ceil((x2 - x1) / 28)` points in it, at the centres of equal
// sub-cells; each point reads the 0/1 mask by bilinear interpolation (pixel `(r, c)`'s value sits
// at the point `(r, c)`), and the bin is the mean. Take the tallest positive RoI (so that a bin
// holds several sample points) and the bin of its middle row whose target is nearest 0.5:

// %%
const height = (j: number) => rois.data[4 * j + 3]! - rois.data[4 * j + 1]!;
const p0 = pos.reduce((bestP, j, p) => (height(j) > height(pos[bestP]!) ? p : bestP), 0); // index among the positives
const roi = Array.from(rois.data.subarray(4 * pos[p0]!, 4 * pos[p0]! + 4));
const gtMask = target.masks.narrow(0, matched.data[pos[p0]!]!, 1).reshape(H, W);
const row0 = Array.from(maskTargets.data.subarray(p0 * 784 + 14 * 28, p0 * 784 + 15 * 28));
const j0 = row0.reduce((bestJ, v, j) => (Math.abs(v - 0.5) < Math.abs(row0[bestJ]! - 0.5) ? j : bestJ), 0);
const bilinear = (y: number, xx: number): number => {
  const [yl, xl] = [Math.floor(y), Math.floor(xx)];
  const [ly, lx] = [y - yl, xx - xl];
  const at = (r: number, c: number) => (r >= 0 && r < H && c >= 0 && c < W ? gtMask.data[r * W + c]! : 0);
  return (1 - ly) * (1 - lx) * at(yl, xl) + (1 - ly) * lx * at(yl, xl + 1) + ly * (1 - lx) * at(yl + 1, xl) + ly * lx * at(yl + 1, xl + 1);
};
const [bw, bh] = [(roi[2]! - roi[0]!) / 28, (roi[3]! - roi[1]!) / 28];
const [gw, gh] = [Math.ceil(bw), Math.ceil(bh)];
const samples: string[] = [];
let sum = 0;
for (let iy = 0; iy < gh; iy++) for (let ix = 0; ix < gw; ix++) {
  const y = roi[1]! + 14 * bh + ((iy + 0.5) * bh) / gh;
  const xx = roi[0]! + j0 * bw + ((ix + 0.5) * bw) / gw;
  sum += bilinear(y, xx);
  samples.push(`(${fixed(y, 2)}, ${fixed(xx, 2)}) -> ${fixed(bilinear(y, xx), 3)}`);
}
console.log(`RoI (${roi.map((v) => fixed(v, 2)).join(', ')}), class ${className(targetLabels.data[p0]!)}: bins of ${fixed(bh, 3)} x ${fixed(bw, 3)} pixels, ${gh} x ${gw} samples each`);
console.log(`bin (14, ${j0}): samples (y, x) -> mask value: ${samples.join('; ')}`);
console.log(`mean ${fixed(sum / (gw * gh))}; the target: ${fixed(row0[j0]!)}`);
check('the target pixel equals the hand computation', row0[j0]!, sum / (gw * gh), 1e-5);
check('a bin of several samples on the edge of the mask', [gw * gh > 1 ? 1 : 0, row0[j0]! > 0 && row0[j0]! < 1 ? 1 : 0], [1, 1], 0);

// %% [markdown]
// The targets of four positives, one per object, and where their RoIs lie. A target is cut to
// its RoI (a RoI smaller than its object cuts the object's edge off) and holds only the object's
// visible pixels (the large square, drawn last, hides a sliver of the circle and of the
// triangle).

// %%
const onePerObject = [...Array(G).keys()].map((g) => pos.findIndex((j) => matched.data[j] === g)).filter((p) => p >= 0);
const iouOf = (p: number) => boxIou(target.boxes.narrow(0, matched.data[pos[p]!]!, 1), rois.narrow(0, pos[p]!, 1)).data[0]!;
const roiName = (p: number, i: number) => `${i + 1} ${className(targetLabels.data[p]!)} iou ${fixed(iouOf(p), 2)}`;
showPng(
  drawBoxLayers(image, onePerObject.map((p, i) => ({ boxes: rois, rows: [pos[p]!], color: classColor(i + 5), name: roiName(p, i) }))).toPng(),
  'Four positive RoIs, one per object (name: number, ground-truth class, IoU with it), 3x enlarged',
);
showPng(
  labelledHeatmapGrid(indexSelect(maskTargets, 0, onePerObject).unsqueeze(0), { columnLabels: onePerObject.map((p, i) => `${i + 1} ${className(targetLabels.data[p]!)}`), scale: 5, range: [0, 1], legend: 'mask target' }).toPng(),
  'Their 28x28 mask targets (numbered as the RoIs above): the ground-truth mask of the matched object, RoIAligned onto the RoI',
);
check('one positive per object is shown', onePerObject.length, G, 0);

// %% [markdown]
// ## The loss reads one mask per RoI
//
// "For an RoI associated with ground-truth class k, L_mask is only defined on the k-th mask (other
// mask outputs do not contribute to the loss)" (section 3); L_mask is the average binary
// cross-entropy over the m x m pixels, `-(z log sigmoid(x) + (1 - z) log(1 - sigmoid(x)))`, and
// over the positive RoIs. Recomputed by hand from the trace, it is the model's `loss_mask`:

// %%
const trainLogits = trainTrace.get('train.roi_heads.mask_logits')!; // [P, K, 28, 28]
let lmask = 0;
for (let p = 0; p < pos.length; p++) {
  const k = targetLabels.data[p]!;
  for (let q = 0; q < 784; q++) {
    const xl = trainLogits.data[(p * K + k) * 784 + q]!;
    const z = maskTargets.data[p * 784 + q]!;
    const sig = 1 / (1 + Math.exp(-xl));
    lmask -= (z * Math.log(sig) + (1 - z) * Math.log(1 - sig)) / (pos.length * 784);
  }
}
const lossMask = trainTrace.get('loss.loss_mask')!.data[0]!;
console.log(`L_mask by hand ${fixed(lmask, 6)}; the model's loss_mask ${fixed(lossMask, 6)}`);
check('L_mask by hand = loss_mask', lmask, lossMask, 1e-5);

// %% [markdown]
// What "do not contribute" means for learning: the gradient of the model's own mask loss
// ({@link RoIHeads}'s `maskrcnnLoss`) with respect to all K x 28 x 28 logits of each RoI is zero
// everywhere except in the ground-truth class's map. Each class's map is trained only by the RoIs
// of its class, and the background map (label 0) by none.

// %%
const leaf = trainLogits.detach().clone();
leaf.requiresGrad = true;
const posBoxes = indexSelect(rois, 0, pos);
const posMatched = indexSelect(matched, 0, pos);
model.roi_heads.maskrcnnLoss(leaf, [posBoxes], [target], [posMatched]).backward();
const gradByChannel = Array.from({ length: K }, (_, c) => {
  let gtClass = 0;
  let other = 0;
  for (let p = 0; p < pos.length; p++) for (let q = 0; q < 784; q++) {
    const v = Math.abs(leaf.grad!.data[(p * K + c) * 784 + q]!);
    if (targetLabels.data[p] === c) gtClass += v;
    else other += v;
  }
  return [className(c), fixed(gtClass, 6), fixed(other, 6)];
});
showMarkdown(markdownTable(['logit map', 'sum of abs(gradient) over the RoIs of that class', 'over the other RoIs'], gradByChannel));
check('no gradient reaches a map of another class than the RoI\'s', gradByChannel.map((r) => Number(r[2])), Array(K).fill(0), 0);

// %% [markdown]
// ## All K masks of a RoI
//
// At test time the mask branch runs on the detections, and every class's 28x28 map comes out;
// the classifier's label picks one. Below, each detection's K probability maps (sigmoid of the
// logits): rows are detections (with their label), columns the classes.

// %%
const logits = trace.get('roi_heads.mask_logits')!; // [D, K, 28, 28]
const shownDet = [...Array(Math.min(G, detBoxes.shape[0]!)).keys()];
const probs = logits.sigmoid();
showPng(
  labelledHeatmapGrid(indexSelect(probs, 0, shownDet), {
    rowLabels: shownDet.map((d) => `det ${d}: ${className(detLabels.data[d]!)}`),
    columnLabels: classes.map((_, c) => className(c)),
    scale: 4,
    range: [0, 1],
    legend: 'mask probability',
  }).toPng(),
  'Mask probabilities of every class for the top detections (rows: detection and its label; columns: the class of the map)',
);
showPng(
  labelledHeatmapGrid(indexSelect(logits, 0, shownDet), {
    rowLabels: shownDet.map((d) => `det ${d}: ${className(detLabels.data[d]!)}`),
    columnLabels: classes.map((_, c) => className(c)),
    scale: 4,
    range: [-12, 12],
    legend: 'mask logit',
  }).toPng(),
  'The same maps as logits, before the sigmoid (clipped to -12..12 for the colours)',
);

// %% [markdown]
// How good is each class's map as this RoI's mask? The IoU of each map (probability >= 0.5) with
// the target the RoI would have in training (its matched ground-truth mask RoIAligned to 28x28):

// %%
const detIou = boxIou(target.boxes, detBoxes);
const D = detBoxes.shape[0]!;
const mapIou: number[][] = [];
const sumInside: number[] = [];
for (const d of shownDet) {
  let g = 0;
  for (let q = 1; q < G; q++) if (detIou.data[q * D + d]! > detIou.data[g * D + d]!) g = q;
  const tgt = roiAlign(target.masks.narrow(0, g, 1).unsqueeze(1), new Tensor(Float32Array.from([0, ...detBoxes.data.subarray(4 * d, 4 * d + 4)]), [1, 5]), { outputSize: 28, spatialScale: 1 });
  mapIou.push(classes.map((_, c) => {
    let inter = 0;
    let union = 0;
    for (let q = 0; q < 784; q++) {
      const a = probs.data[(d * K + c) * 784 + q]! >= 0.5;
      const b = tgt.data[q]! >= 0.5;
      inter += a && b ? 1 : 0;
      union += a || b ? 1 : 0;
    }
    return inter / Math.max(union, 1);
  }));
  // Inside the object: the sum of the object classes' probabilities per pixel.
  let total = 0;
  let n = 0;
  for (let q = 0; q < 784; q++) if (tgt.data[q]! >= 0.5) { for (let c = 1; c < K; c++) total += probs.data[(d * K + c) * 784 + q]!; n++; }
  sumInside.push(total / n);
}
showMarkdown(markdownTable(
  ['detection', ...classes.map((_, c) => `IoU of the ${className(c)} map`), 'inside the object: sum of the 3 class probabilities'],
  shownDet.map((d, i) => [`${d}: ${className(detLabels.data[d]!)}`, ...mapIou[i]!.map((v) => fixed(v, 3)), fixed(sumInside[i]!, 2)]),
));
const objectMaps = mapIou.flatMap((r) => r.slice(1));
const backgroundMaps = mapIou.map((r) => r[0]!);
console.log(`object classes' maps: IoU ${fixed(Math.min(...objectMaps), 3)} .. ${fixed(Math.max(...objectMaps), 3)}; the background map: ${fixed(Math.min(...backgroundMaps), 3)} .. ${fixed(Math.max(...backgroundMaps), 3)}`);
check('the untrained background map is the worst mask of every detection', mapIou.map((r) => (r[0]! < Math.min(...r.slice(1)) ? 1 : 0)), shownDet.map(() => 1), 0);
check('no competition: inside an object the class probabilities sum to more than 1', sumInside.map((v) => (v > 1 ? 1 : 0)), shownDet.map(() => 1), 0);

// %% [markdown]
// What the table shows: on shapes, every object class's map segments every object about equally
// well; only the background map, which no RoI ever trained, is poor. The decoupling does not make
// the other classes' masks blank: each class's map is trained on its own class's RoIs, and a
// square, a circle and a triangle are all one flat-coloured blob on a flat background, so each
// map learned to outline whatever blob is in the RoI. (The background map's checkerboard is the
// deconvolution's 2x2 blocks showing through untrained weights.) Nor do the maps compete: inside
// an object the three object probabilities add up to far more than 1, which a per-pixel softmax
// over the classes (FCN's multinomial loss) would forbid. The paper measured both sides of this choice on
// COCO: the softmax costs 5.5 mask AP (Table 2b, below), and a single class-agnostic mask is
// "nearly as effective: it has 29.7 mask AP vs. 30.3 for the class-specific counterpart"
// (section 4.2), the division of labour between the classifier and the mask branch.

// %%
// Quoted from the paper (Table 2b, ResNet-50-C4): mask AP, AP50, AP75.
const table2b = { 'softmax (multinomial)': [24.8, 44.1, 25.1], 'sigmoid (binary, per class)': [30.3, 51.2, 31.5] };
const gain = table2b['sigmoid (binary, per class)'].map((v, i) => `+${(v - table2b['softmax (multinomial)'][i]!).toFixed(1)}`);
showMarkdown('**Table 2b** (He et al. 2017), multinomial vs. independent masks, ResNet-50-C4:\n\n' + markdownTable(
  ['', 'AP', 'AP50', 'AP75'],
  [...Object.entries(table2b).map(([name, v]) => [name, ...v.map((a) => a.toFixed(1))]), ['difference (computed)', ...gain]],
));

// %% [markdown]
// ## From 28x28 to the image
//
// "The m x m floating-number mask output is then resized to the RoI size, and binarized at a
// threshold of 0.5" (section 3.1, inference). {@link pasteMasksInImage} takes the predicted
// class's probability map, pads it by one pixel, enlarges the box by the same factor, resizes the
// map bilinearly to the box and writes it into an empty image; the model's output masks are
// exactly that. Each object's final mask against its ground truth:

// %%
const chosen = trace.get('roi_heads.detections.mask_probs.0')!; // [D, 1, 28, 28]: the label's map
const pasted = pasteMasksInImage(chosen, detBoxes, [H, W]);
const outputMasks = trace.get('output.masks.0')!;
check('pasted masks = the model\'s output masks', pasted.data, outputMasks.data, 0);
const scores = trace.get('output.scores.0')!;
const maskRows: Array<Array<string | number>> = [];
const maskIous: number[] = [];
for (let g = 0; g < G; g++) {
  let bestD = -1;
  let bestIou = 0;
  for (let d = 0; d < D; d++) {
    if (scores.data[d]! < 0.5) continue;
    let inter = 0;
    let union = 0;
    for (let q = 0; q < H * W; q++) {
      const a = pasted.data[d * H * W + q]! >= h.maskThreshold;
      const b = target.masks.data[g * H * W + q]! > 0;
      inter += a && b ? 1 : 0;
      union += a || b ? 1 : 0;
    }
    if (inter / union > bestIou) [bestD, bestIou] = [d, inter / union];
  }
  maskIous.push(bestIou);
  maskRows.push([classes[target.labels.data[g]!]!, fixed(target.area.data[g]!, 0), bestD, bestD >= 0 ? classes[detLabels.data[bestD]!]! : '-', fixed(bestIou, 3)]);
}
showMarkdown(markdownTable(['object', 'visible pixels', 'best detection (score >= 0.5)', 'its class', 'mask IoU (threshold 0.5)'], maskRows));
check('every object has a detection whose mask overlaps it with IoU above 0.8', maskIous.map((v) => (v > 0.8 ? 1 : 0)), maskIous.map(() => 1), 0);
showPng(
  drawDetections(image, { boxes: run.detections[0]!.boxes, labels: run.detections[0]!.labels, scores: run.detections[0]!.scores, masks: outputMasks }, { classes }).toPng(),
  'The zoo model\'s detections with score >= 0.5 and their masks, pasted into the image and thresholded at 0.5',
);
