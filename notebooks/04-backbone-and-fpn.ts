// %% [markdown]
// # 4. Backbone and FPN
//
// Every later stage of Mask R-CNN reads feature maps, not pixels. The paper's best backbone
// (He et al., section 3, "Network Architecture") is a **ResNet** (He, Zhang, Ren, Sun, 2016)
// whose stages C2..C5 halve the resolution one after another, topped by a **Feature Pyramid
// Network** (Lin, Dollár, Girshick, He, Hariharan, Belongie, *Feature Pyramid Networks for Object
// Detection*, CVPR 2017, section 3): a top-down pathway with lateral connections that gives every
// level, fine or coarse, the same 256 channels and the semantics of the deepest stage. Mask R-CNN
// calls it *ResNet-FPN*: it "gives excellent gains in both accuracy and speed" (section 3; the
// accuracy in Table 2a, quoted at the end).
//
// This chapter builds the paper's ResNet-50-FPN to read its sizes and parameter counts (no weights
// needed for that), then opens the FPN of the trained shapes model of the model zoo on a real
// image: C2..C5 in, P2..P6 out, the top-down pathway computed by hand and checked against the
// module. The code: {@link ResNet}, {@link FeaturePyramidNetwork}, {@link BackboneWithFPN},
// {@link resnetFpnBackbone}; the detector builds it with {@link buildBackbone}.

// %%
import { MaskRCNN, defaultConfig, buildBackbone, resnet50, resnet101, inferShape, interpolate, noGrad, loadWeights, zooWeightsPath, readZooEntry, generateShapes, shapesDetectionDataset, renderTrace, heatmapGrid, Canvas, Tensor, type Shape4 } from '../lib/index.js';
import { VAL_SEED_OFFSET } from '../lib/maskrcnn/cli/shapes.js';
import { showPng, showMarkdown, markdownTable, check } from '../tools/notebooks/display.js';
import { readFileSync } from 'node:fs';

// %% [markdown]
// ## ResNet-50: five halvings, four stages
//
// The paper's configuration ({@link defaultConfig}) is ResNet-50 with bottleneck blocks
// `[3, 4, 6, 3]`. Built with `initialize: false` it costs nothing (every weight is zero), and
// shape inference ({@link inferShape}) walks the layers' kernels, strides and paddings without
// running a convolution. Follow a 1024x1024 image through the stem and the four stages:

// %%
const paper = defaultConfig();
const r50 = buildBackbone(paper, false);
const body = r50.body;
let shape: Shape4 = [1, 3, 1024, 1024];
const stemRows: Array<Array<string | number>> = [];
for (const [name, layer] of body.namedChildren()) {
  shape = inferShape(layer, shape);
  const stage = { layer1: 'C2', layer2: 'C3', layer3: 'C4', layer4: 'C5' }[name] ?? '';
  stemRows.push([name, stage, `${shape[1]} x ${shape[2]} x ${shape[3]}`, 1024 / shape[2]]);
}
showMarkdown(markdownTable(['layer (torchvision name)', 'stage', 'output (channels x H x W)', 'stride'], stemRows));
const strideOf = (name: string) => stemRows.find((r) => r[0] === name)![3] as number;
check('strides of C2..C5', ['layer1', 'layer2', 'layer3', 'layer4'].map(strideOf), [4, 8, 16, 32], 0);

// %% [markdown]
// The stem (a 7x7 stride-2 convolution and a 3x3 stride-2 max pool) already divides by 4; `layer1`
// keeps the resolution, and the first block of each of `layer2`..`layer4` has stride 2. The stage
// outputs C2..C5 are the last feature map of each resolution ("each stage's last residual block",
// FPN section 3), with strides 4, 8, 16, 32 and 256, 512, 1024, 2048 channels.

// %% [markdown]
// ## The FPN: lateral 1x1, top-down upsampling, 3x3
//
// The FPN's bottom-up pathway is the ResNet. Its top-down pathway starts at C5: a lateral 1x1
// convolution (`inner_blocks.3`) brings C5 to 256 channels (M5); each finer level adds the
// coarser merged map, upsampled by 2 (nearest neighbour), to its own lateral 1x1 of C_k
// (`M_k = 1x1(C_k) + up(M_{k+1})`); a 3x3 convolution (`layer_blocks.k`) on each merged map
// "reduces the aliasing effect of upsampling" and gives P_k (FPN section 3, figure 3). Mask
// R-CNN adds P6, a stride-2 subsampling of P5 used only by the RPN (FPN section 4.1; torchvision's
// `LastLevelMaxPool`). {@link BackboneWithFPN.outputShapes} infers every level's shape:

// %%
const sizeTable = (backbone: typeof r50, hw: [number, number]) => {
  const { body: c, fpn: p } = backbone.outputShapes([1, 3, hw[0], hw[1]]);
  const cs = [...c.values()];
  const ps = [...p.values()];
  return ps.map((s, k) => [`P${k + 2}`, `${s[2]} x ${s[3]}`, s[1], k < 4 ? `C${k + 2}: ${cs[k]![1]} x ${cs[k]![2]} x ${cs[k]![3]}` : 'max pool of P5', hw[0] / s[2]]);
};
const at1024 = sizeTable(r50, [1024, 1024]);
showMarkdown(markdownTable(['level', 'H x W', 'channels', 'from', 'stride'], at1024));
check('P2..P6 sides at 1024 x 1024', [...r50.outputShapes([1, 3, 1024, 1024]).fpn.values()].map((s) => s[2]), [256, 128, 64, 32, 16], 0);
check('P2..P6 strides', at1024.map((r) => r[4] as number), [4, 8, 16, 32, 64], 0);
check('every level has 256 channels', at1024.map((r) => r[2] as number), [256, 256, 256, 256, 256], 0);

// %% [markdown]
// A COCO image resized to the paper's 800 x 1333 is not a multiple of 32; every stride-2 layer
// rounds up, so a cell of the coarser levels covers a little less than its stride. The transform
// pads the batch with zeros to a multiple of 32 ({@link TransformConfig}'s `sizeDivisible`), so
// that P2..P5 are exact halvings again; P6 still rounds up where P5 is odd (25 rows give 13).

// %%
const fpnSides = (h: number, w: number) => [...r50.outputShapes([1, 3, h, w]).fpn.values()].map((s) => [s[2], s[3]] as const);
const unpadded = fpnSides(800, 1333);
const padded = fpnSides(800, 1344);
showMarkdown(markdownTable(
  ['level', '800 x 1333: H x W', 'pixels per cell (W)', '800 x 1344 (padded): H x W', 'pixels per cell (W)'],
  unpadded.map(([h, w], l) => [`P${l + 2}`, `${h} x ${w}`, (1333 / w).toFixed(2), `${padded[l]![0]} x ${padded[l]![1]}`, (1344 / padded[l]![1]).toFixed(2)]),
));
check('padded to 1344: P2..P5 are exact halvings', padded.slice(0, 4).map(([, w]) => 1344 / w), [4, 8, 16, 32], 0);

// %% [markdown]
// ## Parameter counts against torchvision
//
// The whole detector of {@link defaultConfig} (91 COCO classes in torchvision's numbering) has
// the same parameters as torchvision's `maskrcnn_resnet50_fpn`: 44,401,393, the count its model
// documentation lists (and that the converted COCO weights load into strictly; see the
// torchvision-weights page). The backbone's batch norms are frozen (`FrozenBatchNorm2d`: their
// statistics and affine terms are buffers, not parameters), which is why the ResNet inside the
// detector has fewer parameters than the ImageNet classifier.

// %%
const detector = new MaskRCNN(paper, { initialize: false });
const parts = [
  ['backbone.body (ResNet-50, C2..C5)', detector.backbone.body.numParameters()],
  ['backbone.fpn (lateral 1x1 + output 3x3)', detector.backbone.fpn.numParameters()],
  ['rpn (3x3 conv + objectness + deltas)', detector.rpn.numParameters()],
  ['roi_heads (box head + mask head)', detector.roi_heads.numParameters()],
  ['total', detector.numParameters()],
] as const;
showMarkdown(markdownTable(['module', 'parameters'], parts.map(([n, c]) => [n, c.toLocaleString('en-US')])));
check("Mask R-CNN R50-FPN (91 classes) = torchvision's maskrcnn_resnet50_fpn", detector.numParameters(), 44401393, 0);

// %% [markdown]
// The repository keeps torchvision's own state-dict keys and shapes of this backbone
// (`test/fixtures/nn/torchvision_keys.json`, written by `tools/oracle/model_keys.py` from
// torchvision 0.14). Counting the values of the keys that are parameters here gives the same
// number, and what is left over is exactly the frozen norms' buffers:

// %%
const torchvisionKeys = JSON.parse(readFileSync(new URL('../test/fixtures/nn/torchvision_keys.json', import.meta.url), 'utf8')) as { maskrcnn_resnet50_fpn_backbone: Array<[string, number[]]> };
const tvShapes = new Map(torchvisionKeys.maskrcnn_resnet50_fpn_backbone);
const volume = (s: readonly number[]) => s.reduce((a, b) => a * b, 1);
const ourParams = detector.backbone.namedParameters();
const tvParamCount = ourParams.reduce((n, [k]) => n + volume(tvShapes.get(k)!), 0);
const tvAll = [...tvShapes.values()].reduce((n, s) => n + volume(s), 0);
const buffers = detector.backbone.namedBuffers().reduce((n, [, b]) => n + b.size, 0);
console.log(`torchvision's backbone state dict: ${tvShapes.size} tensors, ${tvAll.toLocaleString('en-US')} values`);
console.log(`  of which parameters here: ${tvParamCount.toLocaleString('en-US')} (this backbone: ${detector.backbone.numParameters().toLocaleString('en-US')}); frozen-norm buffers: ${(tvAll - tvParamCount).toLocaleString('en-US')} (here: ${buffers.toLocaleString('en-US')})`);
check('backbone parameters = torchvision fixture', detector.backbone.numParameters(), tvParamCount, 0);
check('the rest of the fixture = the frozen norms', buffers, tvAll - tvParamCount, 0);

// %% [markdown]
// **ResNet-101-FPN** (the paper's second backbone) differs only in `layer3`: 23 bottleneck blocks
// instead of 6. torchvision publishes the classifiers' counts (ResNet-50: 25,557,032;
// ResNet-101: 44,549,160, in its model documentation) but no Mask R-CNN with ResNet-101, so check
// the classifiers, then explain the detector's difference block by block: 17 more conv4 blocks,
// each with its three convolutions' weights, and (in the classifier only) the affine terms of its
// three batch norms.

// %%
const r101Config = defaultConfig();
r101Config.backbone.blocksPerStage = [3, 4, 23, 3];
const detector101 = new MaskRCNN(r101Config, { initialize: false });
const cls50 = resnet50({ initialize: false }).numParameters();
const cls101 = resnet101({ initialize: false }).numParameters();
const block = detector101.backbone.body.getSubmodule('layer3.1');
const blockConvs = block.namedParameters().filter(([k]) => k.startsWith('conv')).reduce((n, [, p]) => n + p.size, 0);
const blockNormAffine = resnet101({ initialize: false }).getSubmodule('layer3.1').numParameters() - blockConvs;
showMarkdown(markdownTable(['', 'ResNet-50', 'ResNet-101', 'difference', '= 17 blocks x'], [
  ['ImageNet classifier (torchvision `resnet50` / `resnet101`)', cls50.toLocaleString('en-US'), cls101.toLocaleString('en-US'), (cls101 - cls50).toLocaleString('en-US'), `${blockConvs.toLocaleString('en-US')} conv + ${blockNormAffine.toLocaleString('en-US')} norm`],
  ['Mask R-CNN with FPN, 91 classes', detector.numParameters().toLocaleString('en-US'), detector101.numParameters().toLocaleString('en-US'), (detector101.numParameters() - detector.numParameters()).toLocaleString('en-US'), `${blockConvs.toLocaleString('en-US')} conv (norms frozen)`],
]));
check("ResNet-50 classifier = torchvision's", cls50, 25557032, 0);
check("ResNet-101 classifier = torchvision's", cls101, 44549160, 0);
check('classifier difference = 17 blocks with norms', cls101 - cls50, 17 * (blockConvs + blockNormAffine), 0);
check('detector difference = 17 blocks of convolutions', detector101.numParameters() - detector.numParameters(), 17 * blockConvs, 0);

// %% [markdown]
// ## The trained model on a real image
//
// The model zoo's `shapes` detector ({@link readZooEntry}) is the same architecture made small
// enough to train on a laptop: BasicBlock ResNet with one block per stage and widths 16..128, an
// FPN of 64 channels, 128 x 128 images. Its validation images are regenerated from their seed, as
// the zoo's test does. One forward pass with `{trace: true}` returns C2..C5 (`backbone.body.0..3`)
// and P2..P6 (`fpn.0..3`, `fpn.pool`).

// %%
const entry = readZooEntry('shapes');
const { model, classes } = loadWeights(zooWeightsPath('shapes'));
model.eval();
const val = shapesDetectionDataset(
  generateShapes({ count: 8, seed: entry.validation.seed + VAL_SEED_OFFSET, size: entry.validation.size }),
  { contiguousLabels: true },
);
const sample = val.get(0);
const trace = noGrad(() => model.forward([sample.image], undefined, { trace: true }).trace);
const levels = ['0', '1', '2', '3', 'pool'] as const;
const traced = levels.map((k, l) => [`P${l + 2}`, trace.get(`fpn.${k}`)!] as const);
const tracedC = [0, 1, 2, 3].map((k) => [`C${k + 2}`, trace.get(`backbone.body.${k}`)!] as const);
const shapesRows = [...tracedC, ...traced].map(([n, t]) => [n, t.shape.slice(1).join(' x '), 128 / t.shape[2]!]);
showMarkdown(markdownTable(['map', 'channels x H x W', 'stride'], shapesRows));
console.log(`classes: ${classes.slice(1).join(', ')}; the image has ${sample.target.labels.size} annotated shapes`);
check('shapes model: P2..P6 sides for a 128 x 128 image', traced.map(([, t]) => t.shape[2]!), [32, 16, 8, 4, 2], 0);

// %% [markdown]
// The image, enlarged 3x (nearest neighbour) so that its pixels can be seen:

// %%
const enlarge = (image: Tensor, factor: number) => interpolate(image.unsqueeze(0), { scaleFactor: factor, mode: 'nearest' }).squeeze(0);
showPng(Canvas.fromImage(enlarge(sample.image, 3)).toPng(), 'Validation image 0 of the zoo model (128 x 128, shown at 3x)');

// %% [markdown]
// ### The bottom-up pathway: C2..C5
//
// The first eight channels of each stage, each map scaled to its own range (dark purple = its
// lowest value, yellow = its highest), every level drawn 128 pixels wide so that the resolution
// halves visibly from stage to stage. C2 still shows edges of the shapes; by C5 (4 x 4) a map is a
// coarse vote over the whole image.

// %%
for (const [name, c] of tracedC) {
  const [, ch, h, w] = c.shape as [number, number, number, number];
  showPng(heatmapGrid(new Tensor(c.data.subarray(0, 8 * h * w), [8, h, w]), { columns: 8, scale: 128 / h, gap: 4 }).toPng(), `${name}: channels 0-7 of ${ch}, ${h} x ${w} (stride ${128 / h})`);
}

// %% [markdown]
// ### The top-down pathway, computed by hand
//
// Here is the FPN's forward pass written out with the model's own layers: lateral 1x1 on each
// C_k, nearest upsampling of the coarser merged map, add, 3x3, and P6 as the stride-2 subsampling
// of P5. It must give exactly the module's P2..P6.

// %%
const fpn = model.backbone.fpn;
const C = tracedC.map(([, t]) => t);
const merged: Tensor[] = [];
const lateral: Tensor[] = [];
const upsampled: Tensor[] = [];
noGrad(() => {
  merged[3] = fpn.innerBlocks.at(3).forward(C[3]!); // M5 = 1x1(C5)
  for (let k = 2; k >= 0; k--) {
    lateral[k] = fpn.innerBlocks.at(k).forward(C[k]!); // 1x1(C_k)
    upsampled[k] = interpolate(merged[k + 1]!, { size: [lateral[k]!.shape[2]!, lateral[k]!.shape[3]!], mode: 'nearest' }); // up(M_{k+1})
    merged[k] = lateral[k]!.add(upsampled[k]!); // M_k
  }
});
const P = noGrad(() => merged.map((m, k) => fpn.layerBlocks.at(k).forward(m))); // P_k = 3x3(M_k)
const P6 = P[3]!.slice(2, 0, undefined, 2).slice(3, 0, undefined, 2); // every second row and column of P5
const maxDiff = (a: Tensor, b: Tensor) => a.sub(b).abs().max().item();
const diffs = [...P, P6].map((p, l) => maxDiff(p, traced[l]![1]));
console.log(`largest |by hand - module| on P2..P6: ${diffs.map((d) => d.toExponential(1)).join(', ')}`);
check('the FPN by hand = the module', diffs, [0, 0, 0, 0, 0], 1e-5);

// %% [markdown]
// One channel through the merge at P2: the lateral 1x1 of C2 (fine, but only as deep as
// `layer1`), the upsampled M3 (blocky: 16 x 16 values repeated 2 x 2, carrying what the deeper
// stages saw), their sum M2, and P2 after the 3x3 convolution, which mixes each value with its
// neighbours and with all 64 channels of M2: no 2 x 2 blocks remain. Left to right, each map
// scaled to its own range; the channel shown is the one where the top-down term is largest.

// %%
const [, ch2, h2, w2] = lateral[0]!.shape as [number, number, number, number];
const plane = h2 * w2;
let channel = 0;
let best = -1;
for (let c = 0; c < ch2; c++) {
  let energy = 0;
  for (let p = 0; p < plane; p++) energy += upsampled[0]!.data[c * plane + p]! ** 2;
  if (energy > best) [best, channel] = [energy, c];
}
const stack = [lateral[0]!, upsampled[0]!, merged[0]!, P[0]!].map((t) => t.data.subarray(channel * plane, (channel + 1) * plane));
const four = new Tensor(Float32Array.from(stack.flatMap((s) => Array.from(s))), [4, h2, w2]);
showPng(heatmapGrid(four, { columns: 4, scale: 6, gap: 6 }).toPng(), `P2, channel ${channel}: 1x1(C2) | up(M3) | M2 = sum | P2 = 3x3(M2) (each map scaled to its own range)`);

// %% [markdown]
// ### The pyramid: P2..P6
//
// Every level now has the same 64 channels (256 in the paper) and the same kind of features; only
// the resolution differs. The first eight channels of each, drawn 128 pixels wide as above (this
// is {@link renderTrace}'s `fpn_features` view, the one `maskrcnn inspect` draws):

// %%
traced.forEach(([name, t], l) => {
  const h = t.shape[2]!;
  showPng(renderTrace(trace, 'fpn_features', { level: l, grid: { maxMaps: 8, columns: 8, scale: 128 / h, gap: 4 } }).toPng(), `${name}: channels 0-7 of ${t.shape[1]}, ${h} x ${t.shape[3]} (stride ${128 / h})`);
});

// %% [markdown]
// Which level sees which object is the business of the next stages: the RPN puts anchors of one
// size on each level (chapter 5), and the RoI heads pool each box from the level that suits its
// size (FPN Eq. 1, chapter 6).
//
// ## What the paper measured
//
// The backbone's effect on accuracy is the paper's to measure (COCO minival, mask AP), quoted from
// He et al., *Mask R-CNN*, ICCV 2017 (arXiv 1703.06870), Table 2a; only the last column is
// computed here. FPN beats the C4 backbone (RoIs pooled from the stride-16 C4 and a conv5 head)
// at equal depth, and depth helps on top.

// %%
// Quoted from the paper (Table 2a): net-depth-features, mask AP, AP50, AP75.
const table2a = [
  ['ResNet-50-C4', 30.3, 51.2, 31.5],
  ['ResNet-101-C4', 32.7, 54.2, 34.3],
  ['ResNet-50-FPN', 33.6, 55.2, 35.3],
  ['ResNet-101-FPN', 34.8, 56.3, 36.5],
  ['ResNeXt-101-FPN', 35.3, 57.3, 37.3],
] as const;
const base = table2a[0][1];
showMarkdown('**Table 2a** (He et al. 2017), mask AP on COCO minival:\n\n' + markdownTable(
  ['backbone', 'AP', 'AP50', 'AP75', 'AP vs R-50-C4 (computed)'],
  table2a.map(([n, ap, ap50, ap75]) => [n, ap.toFixed(1), ap50.toFixed(1), ap75.toFixed(1), ap === base ? '' : `+${(ap - base).toFixed(1)}`]),
));
