// %% [markdown]
// # 5. Anchors and the RPN
//
// The region proposal network (RPN) of Faster R-CNN (Ren, He, Girshick, Sun, NeurIPS 2015,
// section 3.1) slides a small network over the feature maps and, at every location, scores a
// fixed set of reference boxes, the **anchors**, for "object or not" and regresses each toward
// the object it covers. Mask R-CNN keeps it unchanged (He et al., section 3: "The first stage,
// called a Region Proposal Network (RPN), proposes candidate object bounding boxes"), on the FPN
// levels of chapter 4 with one anchor size per level, as the FPN paper does (Lin et al. 2017,
// section 4.1; Mask R-CNN section 3.1: "The RPN anchors span 5 scales and 3 aspect ratios").
//
// This chapter generates the anchors ({@link AnchorGenerator}), counts them, matches them to the
// ground truth ({@link Matcher}), samples the training batch
// ({@link BalancedPositiveNegativeSampler}), encodes and decodes box deltas ({@link BoxCoder}),
// and turns the trained zoo model's objectness and deltas into proposals
// ({@link RegionProposalNetwork}): top-k per level, clipping, NMS. On the way it answers a
// question learners ask: which ground-truth boxes get no positive anchor, and why.

// %%
import {
  AnchorGenerator, BalancedPositiveNegativeSampler, BoxCoder, BBOX_XFORM_CLIP, Matcher, BELOW_LOW_THRESHOLD, BETWEEN_THRESHOLDS,
  Canvas, Generator, Tensor, VIZ_COLORS, batchedNms, boxIou, buildBackbone, classColor, clipBoxesToImage, defaultConfig, drawBoxes,
  generateCellAnchors, generateShapes, indexSelect, interpolate, loadWeights, noGrad, readZooEntry, removeSmallBoxes, renderTrace,
  resizeBoxes, shapesDetectionDataset, tensor, topIndices, zooWeightsPath,
} from '../lib/index.js';
import { VAL_SEED_OFFSET } from '../lib/maskrcnn/cli/shapes.js';
import { showPng, showSvg, showMarkdown, markdownTable, check, fixed } from '../tools/notebooks/display.js';
import { lineChartSvg } from '../lib/index.js';

// %% [markdown]
// ## Cell anchors: one size per level, three aspect ratios
//
// An anchor of size `s` and aspect ratio `r = h / w` has area `s^2`: `w = s / sqrt(r)`,
// `h = s sqrt(r)`, centred on 0 and rounded to whole pixels (torchvision rounds half to even, as
// `torch.round`). The paper's configuration ({@link defaultConfig}) puts size 32 on P2, 64 on P3,
// ... 512 on P6, each with ratios 0.5, 1 and 2 (FPN section 4.1: "we assign anchors of a single
// scale to each level ... in total there are 15 anchors over the pyramid").

// %%
const paper = defaultConfig();
const paperGenerator = new AnchorGenerator(paper.rpn.anchorSizes, paper.rpn.aspectRatios);
const strides = [4, 8, 16, 32, 64];
const cellRows = paper.rpn.anchorSizes.map((sizes, l) => {
  const c = generateCellAnchors(sizes, paper.rpn.aspectRatios[l]!).data;
  const wh = [0, 1, 2].map((a) => `${c[4 * a + 2]! - c[4 * a]!} x ${c[4 * a + 3]! - c[4 * a + 1]!}`);
  return [`P${l + 2}`, strides[l]!, sizes.join(', '), ...wh];
});
showMarkdown(markdownTable(['level', 'stride', 'size s', 'r = 0.5 (w x h)', 'r = 1', 'r = 2'], cellRows));
const perLocation = paperGenerator.numAnchorsPerLocation();
console.log(`anchors per location on each level: ${perLocation.join(', ')}; over the pyramid: ${perLocation.reduce((a, b) => a + b, 0)}`);
console.log(`cell anchors of P2 (x1, y1, x2, y2): ${paperGenerator.cellAnchors[0]}`);
check("the paper's 32-pixel cell anchors (as in test/maskrcnn/model/box_ops.test.ts)", paperGenerator.cellAnchors[0]!.data, [-23, -11, 23, 11, -16, -16, 16, 16, -11, -23, 11, 23], 0);
check('15 anchors over the pyramid', perLocation.reduce((a, b) => a + b, 0), 15, 0);

// %% [markdown]
// ## How many anchors an image has
//
// The cell anchors are repeated at every location of every level, at `(x * stride, y * stride)`
// (the top-left corner of the cell, as torchvision places them), so an image has
// `3 * sum_l H_l W_l` anchors. The level sizes come from the backbone's shape inference
// (chapter 4), on the batch padded to a multiple of 32. For comparison, Faster R-CNN's single
// stride-16 map with 9 anchors (sizes 128, 256, 512 x 3 ratios): "For a typical 1000 x 600 image,
// there will be roughly 20000 (≈ 60 x 40 x 9) anchors in total" (Ren et al., section 3.3).

// %%
const r50 = buildBackbone(paper, false);
const levelSides = (h: number, w: number) => [...r50.outputShapes([1, 3, h, w]).fpn.values()].map((s) => [s[2], s[3]] as [number, number]);
const countRows: Array<Array<string | number>> = [];
const anchorCount = (name: string, generator: AnchorGenerator, hw: [number, number], sides: Array<[number, number]>) => {
  const n = generator.gridAnchors(hw, sides).shape[0]!;
  countRows.push([name, `${hw[0]} x ${hw[1]}`, sides.map(([h, w]) => `${h}x${w}`).join(', '), n.toLocaleString('en-US')]);
  return n;
};
const zooConfigSides: Array<[number, number]> = [[32, 32], [16, 16], [8, 8], [4, 4], [2, 2]];
const zooEntry = readZooEntry('shapes');
const { model } = loadWeights(zooWeightsPath('shapes'));
model.eval();
const zoo = model.config;
const zooGenerator = model.rpn.anchorGenerator;
const nZoo = anchorCount('zoo model (shapes), anchors 8..128', zooGenerator, [128, 128], zooConfigSides);
const n1024 = anchorCount('paper, 1024 x 1024', paperGenerator, [1024, 1024], levelSides(1024, 1024));
const nCoco = anchorCount('paper, COCO 800 x 1333 padded', paperGenerator, [800, 1344], levelSides(800, 1344));
const c4 = new AnchorGenerator([[128, 256, 512]], [[0.5, 1, 2]]);
const nFaster = anchorCount('Faster R-CNN C4 (stride 16, 9 anchors), 600 x 1000', c4, [608, 1008], [[Math.ceil(600 / 16), Math.ceil(1000 / 16)]]);
showMarkdown(markdownTable(['configuration', 'padded image', 'levels (H x W)', 'anchors'], countRows));
check('1024 x 1024: 3 (256^2 + 128^2 + 64^2 + 32^2 + 16^2)', n1024, 3 * (256 ** 2 + 128 ** 2 + 64 ** 2 + 32 ** 2 + 16 ** 2), 0);
check('128 x 128 (zoo): 3 (32^2 + 16^2 + 8^2 + 4^2 + 2^2)', nZoo, 3 * (32 ** 2 + 16 ** 2 + 8 ** 2 + 4 ** 2 + 2 ** 2), 0);
check('Faster R-CNN: roughly 60 x 40 x 9', nFaster, 60 * 40 * 9, 1000);
console.log(`COCO-sized image: ${(nCoco / nFaster).toFixed(1)}x the anchors of Faster R-CNN's single level`);

// %% [markdown]
// The zoo's shapes model ({@link shapesConfig}: 128 x 128 images) keeps the strides and scales
// the sizes down by 4: 8, 16, 32, 64, 128. Its 15 anchors at the location nearest the image
// centre, one colour per level (the ratio-1 anchor of each level labelled), on a validation image
// enlarged 4x:

// %%
const val = shapesDetectionDataset(
  generateShapes({ count: zooEntry.validation.images, seed: zooEntry.validation.seed + VAL_SEED_OFFSET, size: zooEntry.validation.size }),
  { contiguousLabels: true },
);
const sample = val.get(0);
const gt = sample.target.boxes;
const ZOOM = 4;
const enlarged = () => Canvas.fromImage(interpolate(sample.image.unsqueeze(0), { scaleFactor: ZOOM, mode: 'nearest' }).squeeze(0));
const zooAnchors = zooGenerator.gridAnchors([128, 128], zooConfigSides);
const centreAnchors: number[] = [];
let offset = 0;
zooConfigSides.forEach(([h, w]) => {
  const cell = Math.floor(h / 2) * w + Math.floor(w / 2); // the location nearest (64, 64)
  for (let a = 0; a < 3; a++) centreAnchors.push(offset + 3 * cell + a);
  offset += 3 * h * w;
});
const centre = indexSelect(zooAnchors, 0, centreAnchors);
const levelOf = centreAnchors.map((_, k) => Math.floor(k / 3));
const squares = [1, 4, 7, 10, 13];
const anchorPicture = drawBoxes(enlarged(), centre.mul(ZOOM), { colors: levelOf.map((l) => classColor(l + 1)), thickness: 2 });
drawBoxes(anchorPicture, indexSelect(centre, 0, squares).mul(ZOOM), { colors: squares.map((k) => classColor(levelOf[k]! + 1)), labels: squares.map((k) => `P${levelOf[k]! + 2} ${zoo.rpn.anchorSizes[levelOf[k]!]![0]}`), thickness: 2 });
showPng(anchorPicture.toPng(), 'The 15 anchors at the location nearest the centre, ratios 0.5, 1, 2 per level: P2 (size 8) red, P3 (16) green, P4 (32) yellow, P5 (64) blue, P6 (128) orange');
console.log(`anchors at that location (x1, y1, x2, y2), P2 first: ${centre}`);

// %% [markdown]
// ## The RPN head's two outputs
//
// The RPN head ({@link RPNHead}) is a 3x3 convolution with ReLU shared by all levels, then two
// sibling 1x1 convolutions: `cls_logits` gives one objectness logit per anchor (A = 3 per
// location: A channels), `bbox_pred` four box deltas per anchor (4A channels) (Faster R-CNN
// section 3.1, figure 3, with one logit and a sigmoid instead of two softmax scores). One forward
// pass of the zoo model with `{trace: true}`:

// %%
const trace = noGrad(() => model.forward([sample.image], undefined, { trace: true }).trace);
const headRows = [0, 1, 2, 3, 4].map((l) => {
  const o = trace.get(`rpn.head.objectness.${l}`)!;
  const d = trace.get(`rpn.head.bbox_deltas.${l}`)!;
  return [`P${l + 2}`, `[${o.shape}]`, `[${d.shape}]`, o.shape[1]! * o.shape[2]! * o.shape[3]!];
});
showMarkdown(markdownTable(['level', 'objectness', 'box deltas', 'anchors'], headRows));
const flatAnchors = trace.get('rpn.anchors.0')!;
check('the trace has one anchor per objectness logit', [flatAnchors.shape[0]!, trace.get('rpn.objectness_flat')!.shape[1]!], [nZoo, nZoo], 0);

// %% [markdown]
// The objectness probability (sigmoid of the logit) of every anchor of P3 and P4, one map per
// aspect ratio (0.5, 1, 2), on a fixed scale from 0 (dark purple) to 1 (yellow) ({@link renderTrace}'s
// `rpn_objectness` view). The shapes light up on the level whose anchor size matches them, at the
// ratio that fits their outline.

// %%
for (const level of [1, 2]) {
  const h = trace.get(`rpn.head.objectness.${level}`)!.shape[2]!;
  showPng(renderTrace(trace, 'rpn_objectness', { level, grid: { scale: 160 / h, gap: 6 } }).toPng(), `P${level + 2} (anchor size ${zoo.rpn.anchorSizes[level]![0]}, ${h} x ${h}): objectness for ratios 0.5 | 1 | 2`);
}

// %% [markdown]
// ## Matching anchors to the ground truth
//
// To train the RPN every anchor gets a label from its IoU with the ground-truth boxes (Faster
// R-CNN section 3.1.2): **positive** if its best IoU is at least 0.7, **negative** if below 0.3,
// **ignored** in between (no loss at all). The {@link Matcher} works on the `[G, anchors]` IoU
// matrix; a match is the index of the GT box, {@link BELOW_LOW_THRESHOLD} (-1) or
// {@link BETWEEN_THRESHOLDS} (-2). A box whose best anchor is below 0.7 would then have no
// positive anchor, so the RPN also makes positive "the anchor/anchors with the highest
// Intersection-over-Union (IoU) overlap with a ground-truth box" (Ren et al.), torchvision's
// `allow_low_quality_matches`. A worked example, three boxes and six anchors:

// %%
const iouExample = tensor([
  [0.9, 0.75, 0.5, 0.1, 0.0, 0.2], // box 0: two anchors above 0.7
  [0.1, 0.2, 0.55, 0.65, 0.25, 0.0], // box 1: best anchor 3 at 0.65 < 0.7
  [0.0, 0.6, 0.3, 0.0, 0.0, 0.1], // box 2: best anchor 1 at 0.6, but anchor 1 overlaps box 0 more
]);
const strict = new Matcher(0.7, 0.3, false).forward(iouExample);
const rescued = new Matcher(0.7, 0.3, true).forward(iouExample);
showMarkdown(markdownTable(['anchor', '0', '1', '2', '3', '4', '5'], [
  ['best IoU', ...[0, 1, 2, 3, 4, 5].map((j) => fixed(Math.max(...[0, 1, 2].map((g) => iouExample.data[6 * g + j]!)), 2))],
  ['match, 0.7 / 0.3 only', ...Array.from(strict.data)],
  ['match, with low-quality matches', ...Array.from(rescued.data)],
]));
check('match values: background and ignored', [BELOW_LOW_THRESHOLD, BETWEEN_THRESHOLDS], [-1, -2], 0);
check('strict matches', strict.data, [0, 0, -2, -2, -1, -1], 0);
check("the paper's thresholds (Faster R-CNN 3.1.2)", [paper.rpn.fgIouThresh, paper.rpn.bgIouThresh], [0.7, 0.3], 0);
check('low-quality matches rescue box 1 through anchor 3', rescued.data, [0, 0, -2, 1, -1, -1], 0);

// %% [markdown]
// Anchor 3 becomes positive for box 1 although its IoU is only 0.65. Box 2 is not rescued: its
// best anchor (1) is already box 0's at a higher IoU, and a rescued anchor is matched to the box
// it overlaps most (torchvision's rule), so box 2 still has no positive anchor.
//
// On the real image the RPN does the same for all 4,092 anchors
// ({@link RegionProposalNetwork.assignTargetsToAnchors}: labels 1, 0, -1 and each anchor's matched
// box). Positives green, ignored anchors yellow, the ground truth white; the negatives (almost all
// anchors) are left out here and shown sampled below.

// %%
const { labels: [anchorLabels], matchedGtBoxes: [matchedGt] } = model.rpn.assignTargetsToAnchors([zooAnchors], [sample.target]);
const indicesWhere = (values: ArrayLike<number>, value: number) => Array.from(values, (v, j) => (v === value ? j : -1)).filter((j) => j >= 0);
const positives = indicesWhere(anchorLabels!.data, 1);
const ignored = indicesWhere(anchorLabels!.data, -1);
const negatives = indicesWhere(anchorLabels!.data, 0);
console.log(`${sample.target.boxes.shape[0]} ground-truth boxes; anchors: ${positives.length} positive, ${ignored.length} ignored, ${negatives.length} negative (of ${nZoo})`);
const matchPicture = drawBoxes(enlarged(), indexSelect(zooAnchors, 0, ignored).mul(ZOOM), { color: VIZ_COLORS.anchor, alpha: 0.6 });
drawBoxes(matchPicture, indexSelect(zooAnchors, 0, positives).mul(ZOOM), { color: VIZ_COLORS.positive, thickness: 2 });
drawBoxes(matchPicture, gt.mul(ZOOM), { color: VIZ_COLORS.groundTruth, thickness: 2 });
showPng(matchPicture.toPng(), `Anchors of the zoo model on validation image 0: ${positives.length} positive (green), ${ignored.length} ignored (yellow); ground truth white`);

// %% [markdown]
// ## Which ground-truth boxes get no positive anchor, and why
//
// How many boxes would have no anchor at IoU 0.7 or more without the low-quality rule? Measure it
// on all 100 validation images of the zoo model, with the zoo model's anchors (128 x 128 images)
// and with the paper's anchors on the same images resized as the paper resizes them (short side
// 800: boxes times 6.25, {@link resizeBoxes}).

// %%
const paperSide = 800;
const paperAnchors = paperGenerator.gridAnchors([paperSide, paperSide], levelSides(paperSide, paperSide));
interface BoxStat { image: number; box: number; side: number; aspect: number; bestIou: number; strictPositives: number; positives: number; bestAnchorTakenBy: number }
const study = (anchors: Tensor, scale: number, rpn: typeof paper.rpn): BoxStat[] => {
  const stats: BoxStat[] = [];
  for (let i = 0; i < val.length; i++) {
    const t = val.get(i).target;
    const g = t.boxes.shape[0]!;
    if (g === 0) continue;
    const boxes = scale === 1 ? t.boxes : resizeBoxes(t.boxes, [128, 128], [128 * scale, 128 * scale]);
    const iou = boxIou(boxes, anchors);
    const strictMatch = new Matcher(rpn.fgIouThresh, rpn.bgIouThresh, false).forward(iou).data;
    const match = new Matcher(rpn.fgIouThresh, rpn.bgIouThresh, true).forward(iou).data;
    const p = anchors.shape[0]!;
    for (let k = 0; k < g; k++) {
      const row = iou.data.subarray(k * p, (k + 1) * p);
      let best = 0;
      for (let j = 1; j < p; j++) if (row[j]! > row[best]!) best = j;
      const b = boxes.data.subarray(4 * k, 4 * k + 4);
      const [w, h] = [b[2]! - b[0]!, b[3]! - b[1]!];
      stats.push({
        image: i, box: k, side: Math.sqrt(w * h) / scale, aspect: h / w, bestIou: row[best]!,
        strictPositives: strictMatch.filter((m) => m === k).length,
        positives: match.filter((m) => m === k).length,
        bestAnchorTakenBy: match[best]!,
      });
    }
  }
  return stats;
};
const zooStats = study(zooAnchors, 1, zoo.rpn);
const paperStats = study(paperAnchors, paperSide / 128, paper.rpn);
const summary = (name: string, s: BoxStat[]) => {
  const none = s.filter((b) => b.strictPositives === 0);
  const after = s.filter((b) => b.positives === 0);
  return [name, s.length, `${none.length} (${((100 * none.length) / s.length).toFixed(0)}%)`, fixed(Math.min(...s.map((b) => b.bestIou)), 3), after.length];
};
showMarkdown(markdownTable(
  ['anchors', 'GT boxes', 'no anchor at IoU >= 0.7', 'lowest best IoU', 'no positive anchor even with low-quality matches'],
  [summary('zoo model: 8..128, strides 4..64, on 128 x 128', zooStats), summary("paper: 32..512, strides 4..64, on 800 x 800", paperStats)],
));

// %% [markdown]
// The share of boxes without a 0.7 anchor is large, and much larger with the zoo model's anchors.
// Two things limit the best IoU an anchor can reach:
//
// - **Scale gaps.** Sizes double from level to level. A square box of side `s` centred on a
//   square anchor of side `a` has IoU `(a / s)^2` (or `(s / a)^2`); between `a` and `2a` the
//   better of the two falls to 0.5 at `s = a sqrt 2`. Only boxes with `s / a` below
//   `sqrt(1 / 0.7) = 1.195` or above `2 sqrt 0.7 = 1.673` can reach 0.7, even when perfectly
//   centred: about half of the sizes between two levels (on a log scale) have no anchor at 0.7.
// - **Placement.** Anchors sit on the level's grid, `stride` pixels apart, so a box is off-centre
//   by up to half a stride in each direction. The paper's anchors are 8 times their stride (32 on
//   a stride-4 level); the zoo model's are only twice their stride (8 on stride 4). A box exactly
//   the size of an anchor, but half a stride away from the nearest anchor centres in x and y,
//   keeps a high IoU with the paper's anchors and loses most of it with the zoo model's:

// %%
const ratioRows = [['paper', paper], ['zoo model', zoo]].map(([name, c]) => [name as string, ...(c as typeof paper).rpn.anchorSizes.map((s, l) => `${s[0]} / ${strides[l]} = ${s[0]! / strides[l]!}`)]);
showMarkdown(markdownTable(['anchor size / stride', 'P2', 'P3', 'P4', 'P5', 'P6'], ratioRows));
const centredBest = (ratio: number) => Math.max(...[1, 2, 0.5].map((k) => Math.min(ratio * k, 1 / (ratio * k)) ** 2)); // s/a = ratio, neighbours 2a and a/2
check('a square box halfway (sqrt 2) between two anchor sizes has best IoU 0.5', centredBest(Math.SQRT2), 0.5, 1e-12);
check('0.7 is reachable up to s / a = 1.195 and from 1.673', [1.195, 1.196, 1.673, 1.674].map((r) => (centredBest(r) >= 0.7 ? 1 : 0)), [1, 0, 0, 1], 0);
const gapShare = Math.log2((2 * Math.sqrt(0.7)) / Math.sqrt(1 / 0.7));
console.log(`share of sizes between a and 2a (log scale) with no centred anchor at 0.7: log2(1.673 / 1.195) = ${fixed(gapShare, 3)}`);
check('about half of the sizes', gapShare, 0.485, 1e-3);
const halfStride = (size: number, stride: number) => boxIou(tensor([[0, 0, size, size]]), tensor([[stride / 2, stride / 2, size + stride / 2, size + stride / 2]])).item();
const offsetRows = [['paper', paper], ['zoo model', zoo]].map(([name, c]) => [name as string, ...(c as typeof paper).rpn.anchorSizes.map((sz, l) => fixed(halfStride(sz[0]!, strides[l]!), 3))]);
showMarkdown(markdownTable(['IoU of an anchor-sized box half a stride off', 'P2', 'P3', 'P4', 'P5', 'P6'], offsetRows));
check('half a stride off: 36/92 for the zoo anchors, 900/1148 for the paper\'s', [halfStride(8, 4), halfStride(32, 4)], [36 / 92, 900 / 1148], 1e-6);
check('the zoo anchors are 2 strides wide, the paper\'s 8', [zoo.rpn.anchorSizes[0]![0]! / strides[0]!, paper.rpn.anchorSizes[0]![0]! / strides[0]!], [2, 8], 0);

// %% [markdown]
// For every IoU `x`, the fraction of boxes that have an anchor at IoU `x` or more: at the 0.7 line
// the paper's anchors still serve about half of the boxes, the zoo model's a tenth.

// %%
const served = (s: BoxStat[]) => s.map((b) => b.bestIou).sort((a, b) => a - b).map((v, k, all) => [v, (all.length - k) / all.length] as [number, number]);
showSvg(lineChartSvg(
  [
    { name: 'zoo model anchors', points: served(zooStats), color: '#d62728', step: true },
    { name: "paper's anchors (800 px)", points: served(paperStats), color: '#1f77b4', step: true },
    { name: 'positive threshold 0.7', points: [[0.7, 0], [0.7, 1]], color: '#999999' },
  ],
  { title: `Ground-truth boxes with an anchor at IoU >= x (${zooStats.length} boxes, ${val.length} validation images)`, xLabel: 'x: IoU of the best anchor with the box', yLabel: 'fraction of boxes' },
), 'Fraction of ground-truth boxes whose best anchor reaches a given IoU; right of the grey line a box has a positive anchor without the low-quality rule');
const servedAt = (s: BoxStat[]) => s.filter((b) => b.bestIou >= 0.7).length / s.length;
console.log(`boxes with an anchor at 0.7: ${fixed(servedAt(zooStats), 3)} (zoo model's anchors), ${fixed(servedAt(paperStats), 3)} (paper's)`);
const median = (s: BoxStat[]) => s.map((b) => b.bestIou).sort((a, b) => a - b)[Math.floor(s.length / 2)]!;
console.log(`median best anchor IoU: ${fixed(median(zooStats), 3)} (zoo model's anchors), ${fixed(median(paperStats), 3)} (paper's)`);

// %% [markdown]
// The answer: **without the low-quality rule, every box whose size falls between two anchor sizes
// or whose centre falls between anchor positions (here most boxes) would have no positive anchor
// and the RPN would learn to call it background.** The low-quality matches give each such box its
// best anchor(s), whatever the IoU. What remains are boxes like box 2 of the worked example: their
// best anchor overlaps another ground-truth box more and goes to that box. Every box left without
// a positive anchor is of that kind:

// %%
const left = [...zooStats.map((b) => ['zoo', b] as const), ...paperStats.map((b) => ['paper', b] as const)].filter(([, b]) => b.positives === 0);
showMarkdown(markdownTable(
  ['anchors', 'image', 'box', 'side (128-px image)', 'h / w', 'best anchor IoU', 'its best anchor is matched to box'],
  left.map(([n, b]) => [n, b.image, b.box, fixed(b.side, 1), fixed(b.aspect, 2), fixed(b.bestIou, 3), b.bestAnchorTakenBy]),
));
check('every box left without a positive lost its best anchor to another box', left.map(([, b]) => (b.bestAnchorTakenBy >= 0 && b.bestAnchorTakenBy !== b.box ? 1 : 0)), left.map(() => 1), 0);
const rescuedCount = (s: BoxStat[]) => s.filter((b) => b.strictPositives === 0 && b.positives > 0).length;
console.log(`rescued by low-quality matches: ${rescuedCount(zooStats)} boxes (zoo anchors), ${rescuedCount(paperStats)} (paper's anchors)`);

// %% [markdown]
// ## The sampler: 256 anchors, at most half positive
//
// The loss does not see every anchor: per image, the {@link BalancedPositiveNegativeSampler}
// draws at most `256 * 0.5` positives at random and fills the rest of the 256 with random
// negatives ("we randomly sample 256 anchors in an image ... where the sampled positive and
// negative anchors have a ratio of up to 1:1. If there are fewer than 128 positive samples in an
// image, we pad the mini-batch with negative ones", Ren et al., section 3.1.3). The zoo model
// samples 128. Ignored anchors are never sampled. The same image, with both configurations:

// %%
check("the paper's sample (Faster R-CNN 3.1.3)", [paper.rpn.batchSizePerImage, paper.rpn.positiveFraction], [256, 0.5], 0);
const sampleRows: Array<Array<string | number>> = [];
const sampleOnce = (name: string, anchors: Tensor, boxes: Tensor, rpn: typeof paper.rpn) => {
  const iou = boxIou(boxes, anchors);
  const match = new Matcher(rpn.fgIouThresh, rpn.bgIouThresh, true).forward(iou);
  const labels = new Tensor(Float32Array.from(match.data, (m) => (m >= 0 ? 1 : m === BELOW_LOW_THRESHOLD ? 0 : -1)), [match.size]);
  const [{ positive, negative }] = new BalancedPositiveNegativeSampler(rpn.batchSizePerImage, rpn.positiveFraction, new Generator(0)).forward([labels]);
  const count = (m: Uint8Array) => m.reduce((a, b) => a + b, 0);
  sampleRows.push([name, anchors.shape[0]!, indicesWhere(labels.data, 1).length, indicesWhere(labels.data, -1).length, indicesWhere(labels.data, 0).length, `${rpn.batchSizePerImage} at ${rpn.positiveFraction}`, count(positive!), count(negative!)]);
  return { positive: positive!, negative: negative! };
};
const zooSampled = sampleOnce('zoo model', zooAnchors, gt, zoo.rpn);
sampleOnce('paper (800 x 800)', paperAnchors, resizeBoxes(gt, [128, 128], [paperSide, paperSide]), paper.rpn);
showMarkdown(markdownTable(['anchors', 'total', 'positive', 'ignored', 'negative', 'sample', 'sampled positive', 'sampled negative'], sampleRows));
for (const r of sampleRows) {
  const [batch, frac] = String(r[5]).split(' at ').map(Number) as [number, number];
  check(`${r[0]}: positives min(${batch * frac}, available), negatives fill the batch`, [r[6] as number, (r[6] as number) + (r[7] as number)], [Math.min(batch * frac, r[2] as number), batch], 0);
}
const samplePicture = drawBoxes(enlarged(), indexSelect(zooAnchors, 0, indicesWhere(zooSampled.negative, 1)).mul(ZOOM), { color: VIZ_COLORS.negative });
drawBoxes(samplePicture, indexSelect(zooAnchors, 0, indicesWhere(zooSampled.positive, 1)).mul(ZOOM), { color: VIZ_COLORS.positive, thickness: 2 });
showPng(samplePicture.toPng(), 'The zoo model\'s training sample on this image: positive anchors green, sampled negatives red (those inside a shape are much smaller than it: IoU below 0.3)');

// %% [markdown]
// With so few positive anchors per image the sample is all the positives and the rest negatives:
// the "1:1" is an upper bound. The most positives any of the 100 validation images has:

// %%
const mostPositives = (s: BoxStat[]) => {
  const perImage = new Map<number, number>();
  for (const b of s) perImage.set(b.image, (perImage.get(b.image) ?? 0) + b.positives);
  return Math.max(...perImage.values());
};
console.log(`zoo model's anchors: ${mostPositives(zooStats)} (the sample takes up to ${zoo.rpn.batchSizePerImage * zoo.rpn.positiveFraction}); paper's anchors: ${mostPositives(paperStats)} (up to ${paper.rpn.batchSizePerImage * paper.rpn.positiveFraction})`);
check('no validation image fills half of the sample', [mostPositives(zooStats) < 64 ? 1 : 0, mostPositives(paperStats) < 128 ? 1 : 0], [1, 1], 0);

// %% [markdown]
// ## Box deltas: encoding and decoding
//
// The RPN does not predict boxes but corrections of its anchors (R-CNN's parameterisation,
// Girshick et al. 2014, appendix C; Faster R-CNN Eq. 2): with centres `x, y` and sizes `w, h`,
//
// `t_x = (x - x_a) / w_a`, `t_y = (y - y_a) / h_a`, `t_w = log(w / w_a)`, `t_h = log(h / h_a)`.
//
// The {@link BoxCoder} encodes a ground-truth box against an anchor (the regression target) and
// decodes predicted deltas back into a box. A worked example: the anchor `(48, 48, 80, 80)`
// (centre 64, 64, side 32) and the box `(52, 40, 92, 88)` (centre 72, 64, 40 wide, 48 high).

// %%
const anchor = tensor([[48, 48, 80, 80]]);
const box = tensor([[52, 40, 92, 88]]);
const rpnCoder = new BoxCoder(paper.rpn.boxCoderWeights);
const deltas = rpnCoder.encode(box, anchor);
const byHand = [(72 - 64) / 32, (64 - 64) / 32, Math.log(40 / 32), Math.log(48 / 32)];
console.log(`encode: t = ${Array.from(deltas.data, (v) => fixed(v, 6)).join(', ')}`);
const decoded = rpnCoder.decode(deltas, anchor);
console.log(`decode(t, anchor) = ${Array.from(decoded.data, (v) => fixed(v, 4)).join(', ')}`);
check('encode = the formula by hand', deltas.data, byHand, 1e-6);
check('decode(encode(box)) = box', decoded.data, box.data, 1e-4);
const headCoder = new BoxCoder(paper.roiHeads.bboxRegWeights);
const headDeltas = headCoder.encode(box, anchor);
console.log(`the box head's weights (10, 10, 5, 5) scale the same targets: ${Array.from(headDeltas.data, (v) => fixed(v, 6)).join(', ')}`);
check('box-head targets = weights x RPN targets', headDeltas.data, byHand.map((v, i) => v * paper.roiHeads.bboxRegWeights[i]!), 1e-5);
const clamped = rpnCoder.decode(tensor([[0, 0, 10, 10]]), anchor);
console.log(`t_w = t_h = 10 is clamped to log(1000 / 16) = ${fixed(BBOX_XFORM_CLIP)}: the decoded box is ${fixed(clamped.data[2]! - clamped.data[0]!, 1)} wide, not 32 e^10`);
check('the clamp: at most 1000/16 = 62.5 times the anchor', clamped.data[2]! - clamped.data[0]!, 32 * 62.5, 1e-2);

// %% [markdown]
// The trained RPN at work: for the positive anchors of the validation image above, the regression
// target (the matched box encoded against the anchor), the deltas the model predicts
// (`rpn.bbox_deltas_flat` in the trace), and the IoU with the box before (the anchor) and after
// decoding the prediction.

// %%
const predicted = trace.get('rpn.bbox_deltas_flat')!.reshape(nZoo, 4);
const posAnchors = indexSelect(zooAnchors, 0, positives);
const targets = rpnCoder.encode(indexSelect(matchedGt!, 0, positives), posAnchors);
const predictedPos = indexSelect(predicted, 0, positives);
const moved = rpnCoder.decode(predictedPos, posAnchors).reshape(positives.length, 4);
const fmt = (t: Tensor, r: number) => Array.from(t.data.subarray(4 * r, 4 * r + 4), (v) => fixed(v, 3)).join(', ');
const iouWith = (boxes: Tensor, r: number) => boxIou(indexSelect(boxes, 0, [r]), indexSelect(matchedGt!, 0, [positives[r]!])).item();
const deltaRows = positives.map((a, r) => [a, fmt(targets, r), fmt(predictedPos, r), fixed(iouWith(posAnchors, r), 3), fixed(iouWith(moved, r), 3)]);
showMarkdown(markdownTable(['anchor', 'target (t_x, t_y, t_w, t_h)', 'predicted', 'IoU of the anchor', 'IoU after decoding'], deltaRows));
check('decoding the predicted deltas brings every positive anchor closer to its box', positives.map((_, r) => (iouWith(moved, r) > iouWith(posAnchors, r) ? 1 : 0)), positives.map(() => 1), 0);

// %% [markdown]
// ## Proposals: top-k per level, clip, NMS
//
// At test time, every anchor is decoded by its predicted deltas, and
// {@link RegionProposalNetwork.filterProposals} keeps, per image: the `preNmsTopN` anchors with the
// highest objectness on each level (1000 in the paper, 300 in the zoo model), their boxes clipped
// to the image, boxes smaller than `minSize` dropped, NMS at IoU 0.7 within each level (boxes of
// different levels do not suppress each other), then the `postNmsTopN` best of all levels (1000
// in the paper: "At test time, the proposal number is ... 1000 for FPN", Mask R-CNN section 3.1;
// 100 in the zoo model). Here it is by hand from the trace, with the counts at every step:

// %%
check("the paper's proposal numbers (top 1000 per level, NMS 0.7, 1000 kept)", [paper.rpn.preNmsTopNTest, paper.rpn.nmsThresh, paper.rpn.postNmsTopNTest], [1000, 0.7, 1000], 0);
const rpn = zoo.rpn;
const logits = trace.get('rpn.objectness_flat')!.data;
const boxesAll = trace.get('rpn.decoded_proposals')!.reshape(nZoo, 4);
const perLevel = Array.from(trace.get('rpn.num_anchors_per_level')!.data);
const top: number[] = [];
const levelOfTop: number[] = [];
let start = 0;
perLevel.forEach((count, l) => {
  for (const j of topIndices(logits, start, count, Math.min(rpn.preNmsTopNTest, count))) {
    top.push(j);
    levelOfTop.push(l);
  }
  start += count;
});
const topBoxes = clipBoxesToImage(indexSelect(boxesAll, 0, top), [128, 128]);
const topScores = new Tensor(Float32Array.from(top, (j) => 1 / (1 + Math.exp(-logits[j]!))), [top.length]);
const big = Array.from(removeSmallBoxes(topBoxes, rpn.minSize)).filter((k) => topScores.data[k]! >= rpn.scoreThresh);
const candidates = indexSelect(topBoxes, 0, big);
const candidateScores = indexSelect(topScores, 0, big);
const candidateLevels = big.map((k) => levelOfTop[k]!);
const keptAll = Array.from(batchedNms(candidates, candidateScores, candidateLevels, rpn.nmsThresh).data);
const kept = keptAll.slice(0, rpn.postNmsTopNTest);
const proposals = indexSelect(candidates, 0, kept);
const stepRows = [0, 1, 2, 3, 4].map((l) => [
  `P${l + 2}`, perLevel[l]!, levelOfTop.filter((v) => v === l).length, candidateLevels.filter((v) => v === l).length,
  keptAll.filter((k) => candidateLevels[k] === l).length, kept.filter((k) => candidateLevels[k] === l).length,
]);
stepRows.push(['all', nZoo, top.length, big.length, keptAll.length, kept.length]);
showMarkdown(markdownTable(['level', 'anchors', `top ${rpn.preNmsTopNTest}`, `>= ${rpn.minSize} px`, 'after NMS 0.7', `best ${rpn.postNmsTopNTest} overall`], stepRows));
const traced = trace.get('rpn.proposals.0')!;
check('the proposals by hand = the model\'s (boxes)', proposals.data, traced.data, 0);
check('the proposals by hand = the model\'s (scores)', indexSelect(candidateScores, 0, kept).data, trace.get('rpn.proposal_scores.0')!.data, 0);

// %% [markdown]
// Before NMS the boxes pile up on the objects: every anchor near an object regresses to nearly the
// same box, on every level whose anchors are near the object's size. NMS keeps the best box of each
// pile on each level. The candidates with objectness at least 0.05 before and after NMS, coloured by
// level (P2 red, P3 green, P4 yellow, P5 blue, P6 orange), each with its objectness as a bar:

// %%
const confident = (indices: number[]) => indices.filter((k) => candidateScores.data[k]! >= 0.05);
const drawCandidates = (indices: number[]) =>
  drawBoxes(enlarged(), indexSelect(candidates, 0, indices).mul(ZOOM), { colors: indices.map((k) => classColor(candidateLevels[k]! + 1)), scores: indices.map((k) => candidateScores.data[k]!), thickness: 2 });
const before = confident(Array.from({ length: big.length }, (_, k) => k));
const after = confident(kept);
showPng(drawCandidates(before).toPng(), `Before NMS: ${before.length} candidates with objectness >= 0.05`);
showPng(drawCandidates(after).toPng(), `After NMS (IoU 0.7 within each level): ${after.length} proposals with objectness >= 0.05`);
const levelCounts = (indices: number[]) => [0, 1, 2, 3, 4].map((l) => indices.filter((k) => candidateLevels[k] === l).length);
showMarkdown(markdownTable(['objectness >= 0.05', 'P2', 'P3', 'P4', 'P5', 'P6'], [['before NMS', ...levelCounts(before)], ['after NMS', ...levelCounts(after)]]));

// %% [markdown]
// What the regression buys: for each ground-truth box of the first eight validation images, the
// IoU of its best anchor and of its best proposal. The anchors rarely reach 0.7 (above); the
// proposals, the anchors moved by the predicted deltas, nearly always do.

// %%
const gain: Array<Array<string | number>> = [];
const bestOver = (iou: Tensor, row: number) => Math.max(...iou.data.subarray(row * iou.shape[1]!, (row + 1) * iou.shape[1]!));
for (let i = 0; i < 8; i++) {
  const s = val.get(i);
  const props = i === 0 ? traced : noGrad(() => model.forward([s.image], undefined, { trace: true }).trace.get('rpn.proposals.0')!);
  const byAnchor = boxIou(s.target.boxes, zooAnchors);
  const byProposal = boxIou(s.target.boxes, props);
  for (let k = 0; k < s.target.boxes.shape[0]!; k++) gain.push([i, k, fixed(bestOver(byAnchor, k), 3), fixed(bestOver(byProposal, k), 3)]);
}
showMarkdown(markdownTable(['image', 'box', 'best anchor IoU', 'best proposal IoU'], gain));
const atLeast = (col: number, t: number) => gain.filter((r) => Number(r[col]) >= t).length;
console.log(`boxes with IoU >= 0.7: ${atLeast(2, 0.7)} of ${gain.length} by an anchor, ${atLeast(3, 0.7)} of ${gain.length} by a proposal`);
check('the proposals cover more boxes at 0.7 than the anchors', atLeast(3, 0.7) > atLeast(2, 0.7) ? 1 : 0, 1, 0);
