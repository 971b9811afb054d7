// %% [markdown]
// # 9. Inference
//
// At test time Mask R-CNN does not run the same computation as in training. He et al. (*Mask
// R-CNN*, ICCV 2017, arXiv 1703.06870), section 3.1, "Inference": the box branch runs on the
// proposals (1000 per image with FPN), its outputs go through non-maximum suppression, and only
// then does the mask branch run, on the highest-scoring 100 detections. The mask of the predicted
// class is taken, resized to the box and binarised at 0.5. This chapter walks one validation
// image of the zoo model through those steps and checks each one against the detector's own
// output:
//
// 1. scores and boxes per class, and the **score threshold**;
// 2. **class-wise NMS** and the **top-k** cut;
// 3. the **mask branch on the final detections only**, and what that gains (measured: time and
//    mask AP);
// 4. **mask pasting**: the 28x28 probability map resized into the box, then thresholded;
// 5. what each stage costs (the forward pass's timings).
//
// The code is {@link RoIHeads.postprocessDetections} (steps 1-2), {@link RoIHeads.forward}
// (step 3), {@link pasteMasksInImage} and {@link GeneralizedRCNNTransform.postprocess} (step 4),
// and {@link MaskRCNN.forward}'s `timings` (step 5).

// %%
import {
  batchedNms, boxIou, classColor, clipBoxesToImage, cocoEvaluate, concat, defaultConfig, describeBackend, detectionsToCocoResults, drawBoxes,
  drawDetections, generateShapes, heatmapGrid, indexSelect, interpolate, loadResults, loadWeights, nms, noGrad, pasteMasksInImage,
  readZooEntry, removeSmallBoxes, shapesDetectionDataset, sigmoid, stageKeys, tensor, zooWeightsPath, Canvas, Tensor, type CocoResult, type Trace,
} from '../lib/index.js';
import { VAL_SEED_OFFSET } from '../lib/maskrcnn/cli/shapes.js';
import { showPng, showMarkdown, markdownTable, check, fixed } from '../tools/notebooks/display.js';

// %% [markdown]
// ## The zoo model and one validation image
//
// The zoo's `shapes` model (chapter 8 and the "Training on a laptop" page say how it was
// trained) and its validation split, regenerated from its seed exactly as `maskrcnn shapes`
// writes it.

// %%
const entry = readZooEntry('shapes');
const { model, classes } = loadWeights(zooWeightsPath('shapes'));
model.eval();
const val = shapesDetectionDataset(
  generateShapes({ count: entry.validation.images, seed: entry.validation.seed + VAL_SEED_OFFSET, size: entry.validation.size }),
  { contiguousLabels: true },
);
const IMAGE = 10;
const { image } = val.get(IMAGE);
const gt = val.coco.annotations.filter((a) => a.image_id === val.imageInfo(IMAGE).id);
console.log(`classes: ${classes.join(', ')}`);
console.log(`validation image ${IMAGE}: [${image.shape}], ${gt.length} ground-truth shapes: ${gt.map((a) => `${classes[a.category_id]} (${a.area} px)`).join(', ')}`);

// %% [markdown]
// ## The inference numbers
//
// The paper's test-time numbers are the library's defaults (`defaultConfig`, torchvision's
// `maskrcnn_resnet50_fpn`). The `shapes` preset keeps the thresholds and shrinks the counts to
// its 128x128 images with at most four shapes: 100 proposals instead of 1000 and 20 detections
// per image instead of 100.

// %%
const paper = defaultConfig().roiHeads;
const ours = model.config.roiHeads;
showMarkdown(markdownTable(
  ['number', 'paper / torchvision (`defaultConfig`)', 'zoo model (`shapes`)'],
  [
    ['proposals per image at test time (RPN, after NMS)', defaultConfig().rpn.postNmsTopNTest, model.config.rpn.postNmsTopNTest],
    ['class score threshold', paper.boxScoreThresh, ours.boxScoreThresh],
    ['NMS IoU threshold (per class)', paper.boxNmsThresh, ours.boxNmsThresh],
    ['detections kept per image (top-k)', paper.boxDetectionsPerImg, ours.boxDetectionsPerImg],
    ['mask resolution', `${paper.maskResolution}x${paper.maskResolution}`, `${ours.maskResolution}x${ours.maskResolution}`],
    ['mask binarisation threshold', paper.maskThreshold, ours.maskThreshold],
  ],
));
check('paper: 1000 proposals with FPN at test time (section 3.1)', defaultConfig().rpn.postNmsTopNTest, 1000, 0);
check('paper: the mask branch runs on the top 100 detections (section 3.1)', paper.boxDetectionsPerImg, 100, 0);
check('paper: masks are 28x28 (section 3, figure 4) and binarised at 0.5 (section 3.1)', [paper.maskResolution, paper.maskThreshold], [28, 0.5], 0);
check('torchvision: score threshold 0.05, NMS 0.5', [paper.boxScoreThresh, paper.boxNmsThresh], [0.05, 0.5], 0);
check('the zoo model keeps the thresholds', [ours.boxScoreThresh, ours.boxNmsThresh, ours.maskThreshold], [0.05, 0.5, 0.5], 0);
check('the zoo model: 100 proposals and 20 detections per image', [model.config.rpn.postNmsTopNTest, ours.boxDetectionsPerImg], [100, 20], 0);

// %% [markdown]
// ## One forward pass, traced
//
// `forward(images, undefined, {trace: true, timings})` returns the detections and every
// intermediate by name. A first pass on another image warms the backend up (kernels compiled,
// worker threads started), so that the timings below are those of a steady state.

// %%
noGrad(() => model.forward([val.get(0).image]));
const timings: Record<string, number> = {};
const { detections, trace } = noGrad(() => model.forward([image], undefined, { trace: true, timings }));
const proposals = trace.get('rpn.proposals.0')!;
const classLogits = trace.get('roi_heads.class_logits')!;
const decoded = trace.get('roi_heads.pred_boxes_decoded')!;
const probs = trace.get('roi_heads.pred_scores_softmax')!;
const [R, K] = classLogits.shape as [number, number];
console.log(`${R} proposals; class logits [${classLogits.shape}] (background + ${K - 1} classes); one decoded box per proposal and class: [${decoded.shape}]`);
check('one box per proposal and class', decoded.size, R * K * 4, 0);

// %% [markdown]
// ## Step 1: a score per class, and the score threshold
//
// Each proposal gets a softmax over the K classes and one refined box per class (the box head's
// class-specific deltas, decoded and clipped to the image). Every (proposal, foreground class)
// pair is a candidate detection with that class's probability as its score: `R x (K - 1)`
// candidates. Those scoring at most 0.05 are dropped, then boxes less than 0.01 pixel wide or
// high.

// %%
const imageHw: [number, number] = [image.shape[1]!, image.shape[2]!];
const clipped = clipBoxesToImage(decoded.reshape(-1, 4), imageHw);
const candidates: number[] = []; // index r * K + c into the [R, K] table
for (let r = 0; r < R; r++) for (let c = 1; c < K; c++) if (probs.data[r * K + c]! > ours.boxScoreThresh) candidates.push(r * K + c);
const candBoxes = clipped.data;
const kept = Array.from(removeSmallBoxes(tensor(candidates.map((j) => Array.from(candBoxes.subarray(4 * j, 4 * j + 4)))), 1e-2), (i) => candidates[i]!);
const raw = {
  boxes: tensor(kept.map((j) => Array.from(candBoxes.subarray(4 * j, 4 * j + 4)))),
  scores: tensor(kept.map((j) => probs.data[j]!)),
  labels: kept.map((j) => j % K),
};
console.log(`${R * (K - 1)} candidates (proposal x foreground class), ${candidates.length} above the threshold ${ours.boxScoreThresh}, ${kept.length} after removing empty boxes`);
for (let c = 1; c < K; c++) console.log(`  ${classes[c]}: ${raw.labels.filter((l) => l === c).length} candidates`);

// %% [markdown]
// ## Step 2: class-wise NMS, then the top k
//
// NMS visits the boxes by decreasing score and drops every box that overlaps a kept one with
// IoU above 0.5. The paper only says "non-maximum suppression"; torchvision (like Detectron and
// Faster R-CNN before it) does it **per class** ({@link batchedNms}): a square and a circle may
// overlap as much as they like. First a small
// case that shows the difference: A and B are two squares that overlap with IoU above 0.5, C is a
// circle on the same spot.

// %%
const toy = tensor([[10, 10, 50, 50], [14, 12, 54, 52], [12, 10, 52, 50]]);
const toyScores = tensor([0.9, 0.8, 0.7]);
const toyLabels = [1, 1, 2];
const toyIou = boxIou(toy, toy);
showMarkdown(markdownTable(['IoU', 'A (square, 0.9)', 'B (square, 0.8)', 'C (circle, 0.7)'], ['A', 'B', 'C'].map((n, i) => [n, ...[0, 1, 2].map((j) => fixed(toyIou.data[3 * i + j]!, 3))])));
const perClass = Array.from(batchedNms(toy, toyScores, toyLabels, 0.5).data);
const agnostic = Array.from(nms(toy, toyScores, 0.5).data);
console.log(`class-wise NMS keeps ${perClass.map((i) => 'ABC'[i]).join(', ')}; class-agnostic NMS keeps ${agnostic.map((i) => 'ABC'[i]).join(', ')}`);
check('class-wise NMS: B (same class as A) is suppressed, C (another class) survives', perClass, [0, 2], 0);
check('class-agnostic NMS would also drop C', agnostic, [0], 0);

// %% [markdown]
// The top-k cut comes after NMS: of what survives, the `boxDetectionsPerImg` best. 150 disjoint
// boxes (NMS removes none) with distinct scores: the paper's 100 are kept, the best ones.

// %%
const grid = tensor(Array.from({ length: 150 }, (_, i) => [20 * (i % 15), 20 * Math.floor(i / 15), 20 * (i % 15) + 10, 20 * Math.floor(i / 15) + 10]));
const gridScores = tensor(Array.from({ length: 150 }, (_, i) => ((i * 37) % 150) / 150));
const top = Array.from(batchedNms(grid, gridScores, new Array<number>(150).fill(1), 0.5, paper.boxDetectionsPerImg).data);
const lowestKept = Math.min(...top.map((i) => gridScores.data[i]!));
const bestDropped = Math.max(...Array.from(gridScores.data).filter((_, i) => !top.includes(i)));
console.log(`kept ${top.length} of 150; lowest kept score ${fixed(lowestKept, 3)}, best dropped score ${fixed(bestDropped, 3)}`);
check('top-k keeps 100', top.length, 100, 0);
check('top-k keeps the best scores', lowestKept > bestDropped ? 1 : 0, 1, 0);

// %% [markdown]
// Now the real candidates. Applying class-wise NMS and the zoo model's top 20 to them by hand must
// give exactly the detections the model returned.

// %%
const keep = Array.from(batchedNms(raw.boxes, raw.scores, raw.labels, ours.boxNmsThresh, ours.boxDetectionsPerImg).data);
const finalBoxes = trace.get('roi_heads.detections.boxes.0')!;
const finalScores = trace.get('roi_heads.detections.scores.0')!;
const finalLabels = trace.get('roi_heads.detections.labels.0')!;
const D = finalScores.size;
console.log(`${raw.scores.size} candidates -> ${keep.length} after class-wise NMS and the top ${ours.boxDetectionsPerImg}`);
check('by hand = the model: scores', keep.map((i) => raw.scores.data[i]!), finalScores.data, 0);
check('by hand = the model: labels', keep.map((i) => raw.labels[i]!), finalLabels.data, 0);
check('by hand = the model: boxes', keep.flatMap((i) => Array.from(raw.boxes.data.subarray(4 * i, 4 * i + 4))), finalBoxes.data, 0);
const finalIou = boxIou(finalBoxes, finalBoxes);
const overlapping: string[] = [];
let sameClassOverlaps = 0;
for (let i = 0; i < D; i++) {
  for (let j = i + 1; j < D; j++) {
    const iou = finalIou.data[i * D + j]!;
    if (iou <= ours.boxNmsThresh) continue;
    if (finalLabels.data[i] === finalLabels.data[j]) sameClassOverlaps++;
    overlapping.push(`${classes[finalLabels.data[i]!]} ${fixed(finalScores.data[i]!, 2)} / ${classes[finalLabels.data[j]!]} ${fixed(finalScores.data[j]!, 2)} (IoU ${fixed(iou, 2)})`);
  }
}
console.log(`pairs of final detections with IoU > ${ours.boxNmsThresh}: ${overlapping.length}`);
for (const p of overlapping) console.log(`  ${p}`);
check('after class-wise NMS no two detections of one class overlap with IoU > 0.5', sameClassOverlaps, 0, 0);

// %% [markdown]
// The pictures: every candidate above the score threshold (left) and the detections after NMS
// (right), coloured by class (the same colours as the overlays; the image is dimmed). Each shape was proposed many
// times, and NMS keeps one box per shape and class. A box that claims a shape for another class,
// with a low score, survives NMS (the pairs listed above); the score threshold of a picture
// (0.5 in the overlay below) hides it, and COCO's AP counts it only after the better-ranked
// right answers (chapter 10).

// %%
/** The image, dimmed and enlarged `scale` times, with `boxes` drawn in their class colours (for pictures). */
function boxesPicture(img: Tensor, boxes: Tensor, labels: ArrayLike<number>, scale = 3): Canvas {
  const big = interpolate(img.mul(0.4).unsqueeze(0), { scaleFactor: scale, mode: 'nearest' }).squeeze(0);
  return drawBoxes(Canvas.fromImage(big), boxes.mul(scale), { colors: Array.from(labels, (l) => classColor(l)), thickness: 2 });
}
const before = boxesPicture(image, raw.boxes, raw.labels);
const after = boxesPicture(image, finalBoxes, finalLabels.data);
const sideBySide = new Canvas(before.width * 2 + 8, before.height, [255, 255, 255]);
sideBySide.paste(before, 0, 0);
sideBySide.paste(after, before.width + 8, 0);
showPng(sideBySide.toPng(), `Validation image ${IMAGE}: ${raw.scores.size} candidates above the score threshold (left), ${D} detections after class-wise NMS (right)`);

// %% [markdown]
// ## Step 3: the mask branch, on the final detections only
//
// In training the mask branch runs on every positive sampled RoI, in parallel with the box
// branch. At test time it runs **after** the box branch, on the final detections (section 3.1):
// fewer RoIs, and better ones, since they are the refined boxes rather than the raw proposals;
// the paper says this "speeds up inference and improves accuracy". The mask head predicts K
// masks per RoI; only the one of the predicted class is used, through a per-pixel sigmoid.

// %%
const maskLogits = trace.get('roi_heads.mask_logits')!;
const maskProbs = trace.get('roi_heads.detections.mask_probs.0')!;
console.log(`mask branch input: ${maskLogits.shape[0]} RoIs (the detections), not the ${R} proposals; logits [${maskLogits.shape}]`);
check('the mask branch ran on exactly the final detections', maskLogits.shape[0]!, D, 0);
/** Each RoI's mask probabilities for its own class: `sigmoid(logits[i, labels[i]])`, `[D, 1, 28, 28]`. */
const maskOfClass = (logits: Tensor, labels: ArrayLike<number>): Tensor =>
  concat(Array.from(labels, (label, i) => sigmoid(logits.narrow(0, i, 1).narrow(1, label, 1))), 0);
check("each detection's mask = sigmoid of its own class's logits", maskOfClass(maskLogits, finalLabels.data).data, maskProbs.data, 1e-6);

// %% [markdown]
// How much the ordering saves, measured on this image: the mask branch on the detections, and on
// all proposals (what running it in parallel with the box branch would cost). The time depends
// on the machine and on what else runs on it; the ratio of RoIs does not.

// %%
/** The FPN levels P2..P6 of a trace, keyed as the heads read them (`'0'`..`'3'`, `'pool'`). */
const featuresOf = (t: Trace) => new Map(stageKeys(t, 'fpn').map((k) => [k.slice('fpn.'.length), t.get(k)!] as [string, Tensor]));
const features = featuresOf(trace);
const timeMaskBranch = (boxes: Tensor): number => {
  const t0 = performance.now();
  noGrad(() => model.roi_heads.maskForward(features, [boxes], [imageHw]));
  return performance.now() - t0;
};
timeMaskBranch(finalBoxes); // warm-up
const onDetections = timeMaskBranch(finalBoxes);
const onProposals = timeMaskBranch(proposals);
showMarkdown(markdownTable(['mask branch on', 'RoIs', 'milliseconds'], [['the final detections', D, fixed(onDetections, 1)], ['all proposals', R, fixed(onProposals, 1)]]));

// %% [markdown]
// And the accuracy. Run in parallel, the mask branch would see each detection's **proposal**
// (the RPN's box before the box head refined it) and its mask would be pasted into that box; run
// after the box branch, it sees the refined box. The same detections, with either mask, scored by
// COCO's mask AP (chapter 10) on the first 25 validation images. Each detection's proposal is
// found in the trace: the proposal whose decoded box and score for the detection's class are
// exactly the detection's.

// %%
const SUBSET = 25;
const withRefined: CocoResult[] = [];
const withProposal: CocoResult[] = [];
noGrad(() => {
  for (let n = 0; n < SUBSET; n++) {
    const out = model.forward([val.get(n).image], undefined, { trace: true });
    const [det, t] = [out.detections[0]!, out.trace];
    const hw: [number, number] = [t.get('transform.image_sizes')!.data[0]!, t.get('transform.image_sizes')!.data[1]!];
    check('128x128 images are not resized (detections and trace share coordinates)', hw, imageHw, 0);
    const props = t.get('rpn.proposals.0')!;
    const boxesPerClass = clipBoxesToImage(t.get('roi_heads.pred_boxes_decoded')!.reshape(-1, 4), hw).data;
    const scores = t.get('roi_heads.pred_scores_softmax')!.data;
    const source = Array.from(det.labels.data, (label, d) => {
      const r = Array.from({ length: props.shape[0]! }, (_, r) => r).find((r) =>
        scores[r * K + label] === det.scores.data[d] && [0, 1, 2, 3].every((q) => boxesPerClass[4 * (r * K + label) + q] === det.boxes.data[4 * d + q]));
      if (r === undefined) throw new Error(`image ${n}: no proposal gives detection ${d}`);
      return r;
    });
    const proposalBoxes = indexSelect(props, 0, source);
    const probsFromProposals = maskOfClass(model.roi_heads.maskForward(featuresOf(t), [proposalBoxes], [hw]), det.labels.data);
    const pastedFromProposals = pasteMasksInImage(probsFromProposals, proposalBoxes, hw);
    const asCoco = { categoryIdOf: (label: number) => val.categoryOfLabel(label).id };
    withRefined.push(...detectionsToCocoResults(det, val.imageInfo(n).id, asCoco));
    withProposal.push(...detectionsToCocoResults({ ...det, masks: pastedFromProposals }, val.imageInfo(n).id, asCoco));
  }
});
const segmAp = (results: CocoResult[]) =>
  cocoEvaluate(val.coco, loadResults(val.coco, results.map(({ bbox: _b, ...r }) => r)), { iouType: 'segm', imgIds: Array.from({ length: SUBSET }, (_, n) => val.imageInfo(n).id) }).stats;
const [refinedStats, proposalStats] = [segmAp(withRefined), segmAp(withProposal)];
showMarkdown(markdownTable(['masks predicted on', 'mask AP', 'AP50', 'AP75'], [
  ['the refined boxes (Mask R-CNN inference)', ...refinedStats.slice(0, 3).map((v) => fixed(v, 3))],
  ['the proposals (as in training)', ...proposalStats.slice(0, 3).map((v) => fixed(v, 3))],
]));
const gain = [0, 1, 2].map((i) => fixed(refinedStats[i]! - proposalStats[i]!, 3));
console.log(`${withRefined.length} detections on ${SUBSET} images; refined minus proposals: AP ${gain[0]}, AP50 ${gain[1]}, AP75 ${gain[2]}`);
check('section 3.1: masks on the refined boxes are more accurate', refinedStats[0]! > proposalStats[0]! ? 1 : 0, 1, 0);

// %% [markdown]
// The paper's claim holds here: the same detections get better masks when the mask branch sees
// the refined boxes. Compare the differences printed above at the loose AP50 (the object is found
// either way), at AP75, and in AP, which averages up to the strict IoU 0.95: where a mask must fit
// its object closely, the better box matters most.

// %% [markdown]
// ## Step 4: pasting a mask into the image
//
// The mask is a 28x28 probability map over the box. {@link pasteMasksInImage} (torchvision's
// `paste_masks_in_image`) pads it with a one-cell border of zeros, enlarges the box about its
// centre by `(28 + 2) / 28` to match, truncates the corners to whole pixels, resizes the padded
// map bilinearly to the box's `x2 - x1 + 1` by `y2 - y1 + 1` pixels, and writes it into an image
// of zeros. A pixel belongs to the mask when its probability is at least 0.5.
//
// **A case small enough to do by hand.** A 2x2 mask of ones in the box `(2, 2, 6, 6)` of a 9x9
// image. Padded: `0 1 1 0` along each axis. The box grows by `(2 + 2) / 2 = 2` about its centre 4:
// `(0, 0, 8, 8)`, 9 pixels a side. Bilinear resizing from 4 to 9 cells (`align_corners=False`)
// reads output pixel `x` at `(x + 0.5) * 4/9 - 0.5` in the padded row: `x = 1` at `1/6`
// (value 1/6), `x = 2` at `11/18` (value 11/18), `x = 3..5` between the ones (value 1); the
// edges clamp to the zero border. The mask is separable, so the 2-D map is the outer product of
// that profile with itself.

// %%
const small = pasteMasksInImage(tensor([[[[1, 1], [1, 1]]]]), tensor([[2, 2, 6, 6]]), [9, 9]);
const profile = [0, 1 / 6, 11 / 18, 1, 1, 1, 11 / 18, 1 / 6, 0];
const handMap = profile.flatMap((py) => profile.map((px) => py * px));
console.log(`pasted [${small.shape}]:`);
for (let y = 0; y < 9; y++) console.log(`  ${Array.from(small.data.subarray(9 * y, 9 * y + 9), (v) => fixed(v, 3)).join(' ')}`);
check('pasted map = the hand computation', small.data, handMap, 1e-6);
const binary: number[] = Array.from(small.data, (v) => (v >= 0.5 ? 1 : 0));
const cols = [...new Set(binary.flatMap((v, p) => (v ? [p % 9] : [])))].sort((a, b) => a - b);
const corner = small.data[2 * 9 + 2]!;
console.log(`thresholded at 0.5: ${binary.reduce((a, b) => a + b, 0)} pixels in columns (and rows) ${cols.join(', ')}; corner pixel (2, 2) ${fixed(corner, 3)} = (11/18)^2`);
check('the binary mask spans pixels 2..6: 5 x 5 minus the 4 corners = 21 pixels', [binary.reduce((a, b) => a + b, 0), ...cols], [21, 2, 3, 4, 5, 6], 0);
check('corner (11/18)^2 is below 0.5', corner, (11 / 18) ** 2, 1e-6);

// %% [markdown]
// Two things a learner may not expect. The box `(2, 2, 6, 6)` is 4 pixels wide as a continuous
// box, but the mask spans 5 pixel columns: torchvision counts the pixels from `x1` to `x2`
// inclusive, so boxes and masks of one object can differ by a pixel at an edge. And the corners
// are lost: bilinear resizing rounds a square mask's corners, since `(11/18)^2` is below 0.5
// although each factor is above it.
//
// **The zoo model's best detection**: its 28x28 probability map (left), and the same map pasted
// into the 128x128 image, shown around the box (middle), then thresholded at 0.5 (right).

// %%
const best = 0;
const bx = Array.from(finalBoxes.data.subarray(4 * best, 4 * best + 4));
const pasted = detections[0]!.masks!.narrow(0, best, 1).reshape(imageHw[0], imageHw[1]);
const [cx0, cy0] = [Math.max(0, Math.floor(bx[0]!) - 4), Math.max(0, Math.floor(bx[1]!) - 4)];
const [cx1, cy1] = [Math.min(imageHw[1], Math.ceil(bx[2]!) + 4), Math.min(imageHw[0], Math.ceil(bx[3]!) + 4)];
const crop = pasted.narrow(0, cy0, cy1 - cy0).narrow(1, cx0, cx1 - cx0);
const cropBinary = new Tensor(Float32Array.from(crop.data, (v) => (v >= ours.maskThreshold ? 1 : 0)), [1, cy1 - cy0, cx1 - cx0]);
const m28 = heatmapGrid(maskProbs.narrow(0, best, 1), { scale: 8, range: [0, 1] });
const mPasted = heatmapGrid(crop.unsqueeze(0), { scale: 8, range: [0, 1] });
const mBinary = heatmapGrid(cropBinary, { scale: 8, range: [0, 1] });
const strip = new Canvas(m28.width + mPasted.width + mBinary.width + 16, Math.max(m28.height, mPasted.height), [255, 255, 255]);
strip.paste(m28, 0, 0);
strip.paste(mPasted, m28.width + 8, 0);
strip.paste(mBinary, m28.width + mPasted.width + 16, 0);
const area = Array.from(pasted.data).filter((v) => v >= ours.maskThreshold).length;
console.log(`detection 0: ${classes[finalLabels.data[best]!]}, score ${fixed(finalScores.data[best]!, 3)}, box (${bx.map((v) => fixed(v, 1)).join(', ')}), mask ${area} pixels`);
showPng(strip.toPng(), `The 28x28 mask of detection 0 (left), pasted into its box (middle, crop ${cx1 - cx0}x${cy1 - cy0} px), thresholded at 0.5 (right); viridis scale 0..1`);

// %% [markdown]
// The final picture: every detection scoring at least 0.5 with its mask, box and score
// ({@link drawDetections}, what `maskrcnn predict` writes).

// %%
showPng(drawDetections(image, detections[0]!, { classes }).toPng(), `The zoo model on validation image ${IMAGE}: masks, boxes and scores of the detections scoring at least 0.5`);
console.log(`${Array.from(finalScores.data).filter((s) => s >= 0.5).length} detections at score >= 0.5, for ${gt.filter((a) => !a.iscrowd).length} ground-truth shapes`);

// %% [markdown]
// ## Step 5: where the time goes
//
// `forward`'s `timings` record the milliseconds of each stage of the pass above (the backend is
// named below; the numbers depend on the machine and its load, so nothing is asserted about
// them). `roi_heads` includes the box branch, NMS and the mask branch; `postprocess` is mostly
// the mask pasting.

// %%
console.log(`backend: ${describeBackend()}`);
const total = Object.values(timings).reduce((a, b) => a + b, 0);
showMarkdown(markdownTable(['stage', 'ms', 'share'], Object.entries(timings).map(([k, v]) => [k, fixed(v, 1), `${fixed((100 * v) / total, 0)}%`]).concat([['total', fixed(total, 1), '100%']])));
check('the six stages of forward', Object.keys(timings).length, 6, 0);
