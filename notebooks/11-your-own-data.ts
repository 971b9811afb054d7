// %% [markdown]
// # 11. Train on your own data
//
// The chapters so far used the synthetic shapes dataset as the project generates it: PNG files
// and a COCO file written by the generator. Your own data arrives differently: photographs
// (usually JPEG) in a folder, annotated by hand with a labelling tool, with classes of your own
// and, here and there, a slip of the mouse. This chapter walks the whole route on a tiny set
// made the way a practitioner would have it:
//
// 1. a folder of **JPEG images with labelme JSON files** beside them (one per image), one of
//    them holding a broken annotation;
// 2. **conversion** to COCO ({@link labelmeToCoco}), with its report, and a seeded
//    **train/validation split** ({@link splitCoco});
// 3. **fine-tuning** the zoo's shapes model on the new classes ({@link train} with
//    `weights: 'zoo:shapes'` and `headsOnly`): the class-specific predictors start afresh,
//    everything else is loaded ({@link loadPretrained});
// 4. **evaluation** on the validation images: COCO AP and the error analysis
//    ({@link analyzeErrors}: per-class AP, confusion matrix, TIDE), and a picture;
// 5. the same steps as **`maskrcnn` commands**.
//
// Everything runs offline in seconds, so the numbers are those of a deliberately tiny run: a
// handful of images and a few dozen iterations. The point is the route, not the accuracy.

// %%
import {
  Canvas, CocoDetectionDataset, analyzeErrors, confusionMarkdown, confusionTotals, drawDetections, formatConversionReport, formatSummary,
  generateShapes, imageFormat, labelmeToCoco, noGrad, prCurvesSvg, readImage, readWeightsConfig, readZooEntry, splitCoco, tideMarkdown, train,
  writeCoco, zooWeightsPath, LOSS_TERMS, Tensor, type IterationRecord, type WeightsReport,
} from '../lib/index.js';
import jpeg from 'jpeg-js';
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { check, fixed, markdownTable, showMarkdown, showPng, showSvg } from '../tools/notebooks/display.js';
import { lineChartSvg } from '../lib/index.js';

// %% [markdown]
// ## A folder of photographs and labelme files
//
// Our stand-in for your photographs: 16 shapes images (generator seed 2026, which the zoo
// model never saw; no crowd regions, since a person annotating with labelme draws objects, not
// crowds), saved as **JPEG** at quality 85, as a camera or a phone would. The classes are ours,
// not the zoo's: the person who labelled them only cared whether an object is **round**
// (circles) or **angular** (squares and triangles), so the model must learn two classes where
// the zoo model knows three.
//
// Beside each image, the JSON file labelme writes: `imagePath` (relative to the JSON file),
// `imageWidth`, `imageHeight`, and `shapes`, each with a `label`, its `points` (`[x, y]` pairs)
// and a `shape_type`. An object cut in two by another one in front of it would be drawn as two
// polygons sharing a `group_id`, which is how labelme marks the parts of one instance (the output
// says how many objects of this set needed it). And in one file the annotator clicked twice and
// pressed Enter: a "polygon" of 2 points.
//
// labelme can also **embed the image** in its JSON file (`imageData`, the image file's bytes in
// base64, labelme's "Save With Image Data" option), and a folder shared
// that way often has no image files, or an `imagePath` from the annotator's machine
// (`C:\Users\...\IMG_0001.jpg`). The converter uses the file at `imagePath` when it exists;
// otherwise it writes the embedded image out (`maskrcnn convert labelme` beside `--out`:
// `data/train.json` gives `data/train_images/<JSON name>.jpg`; `--image-data-dir DIR` chooses the
// folder; {@link labelmeToCoco}'s `imageDataDir`), with a `file_name` relative to the labelme
// folder (`../data/train_images/photo_01.jpg`), so `--images photos` still finds every image.
// Embedded data that is not a base64 PNG or JPEG is dropped with its shapes and reported. Our
// files have `imageData: null` and their images beside them.

// %%
const COUNT = 16;
const SEED = 2026;
const QUALITY = 85;
const LABEL_OF: Record<number, string> = { 1: 'angular', 2: 'round', 3: 'angular' }; // shapes' 1 square, 2 circle, 3 triangle
const BAD_IMAGE = 5; // the file with the 2-point polygon

const work = mkdtempSync(join(tmpdir(), 'maskrcnn-own-data-'));
const photos = join(work, 'photos');
mkdirSync(photos);
const shapes = generateShapes({ count: COUNT, seed: SEED, crowdProbability: 0 });
let drawnInstances = 0;
let groupedInstances = 0;
let jpegBytes = 0;
for (const [i, im] of shapes.images.entries()) {
  const name = `photo_${String(i + 1).padStart(2, '0')}`;
  const rgba = new Uint8Array(im.width * im.height * 4);
  for (let p = 0; p < im.width * im.height; p++) {
    rgba.set(im.rgb.subarray(3 * p, 3 * p + 3), 4 * p);
    rgba[4 * p + 3] = 255;
  }
  const encoded = jpeg.encode({ data: rgba, width: im.width, height: im.height }, QUALITY).data;
  writeFileSync(join(photos, `${name}.jpg`), encoded);
  jpegBytes += encoded.length;
  const labelmeShapes: object[] = [];
  im.instances.forEach((inst, k) => {
    const polygons = inst.segmentation as number[][];
    drawnInstances++;
    if (polygons.length > 1) groupedInstances++;
    for (const polygon of polygons) {
      const points = Array.from({ length: polygon.length / 2 }, (_, j) => [polygon[2 * j]!, polygon[2 * j + 1]!]);
      labelmeShapes.push({ label: LABEL_OF[inst.categoryId]!, points, group_id: polygons.length > 1 ? k + 1 : null, description: '', shape_type: 'polygon', flags: {} });
    }
  });
  if (i + 1 === BAD_IMAGE) labelmeShapes.push({ label: 'round', points: [[40, 41], [52, 44]], group_id: null, description: '', shape_type: 'polygon', flags: {} });
  const labelme = { version: '5.5.0', flags: {}, shapes: labelmeShapes, imagePath: `${name}.jpg`, imageData: null, imageHeight: im.height, imageWidth: im.width };
  writeFileSync(join(photos, `${name}.json`), JSON.stringify(labelme, null, 2));
}
const files = readdirSync(photos).sort();
console.log(`photos/: ${files.filter((f) => f.endsWith('.jpg')).length} JPEG files (${(jpegBytes / 1024).toFixed(1)} KiB in all), ${files.filter((f) => f.endsWith('.json')).length} labelme files`);
console.log(`${drawnInstances} objects annotated, ${groupedInstances} of them in several parts (group_id)`);
const example = JSON.parse(readFileSync(join(photos, 'photo_01.json'), 'utf8')) as { shapes: Array<{ label: string; points: number[][] }> } & Record<string, unknown>;
console.log(`photo_01.json: imagePath ${JSON.stringify(example['imagePath'])}, ${example['imageWidth']}x${example['imageHeight']}, shapes:`);
for (const s of example.shapes) console.log(`  ${s.label}: ${s.points.length} points, starting ${JSON.stringify(s.points.slice(0, 2))}`);
check('one labelme file per JPEG', files.filter((f) => f.endsWith('.json')).length, files.filter((f) => f.endsWith('.jpg')).length, 0);

// %% [markdown]
// JPEG is lossy: the pixels the detector reads are not the pixels that were drawn. `readImage`
// (what training, `predict` and `eval` use) tells JPEG from PNG by the file's first bytes, not by
// its name, decodes it, and returns a `[3, H, W]` tensor in [0, 1]. Its decoder computes what
// libjpeg-turbo computes by default (the integer inverse DCT, "fancy" upsampling of the
// half-resolution colour planes, the same fixed-point YCbCr conversion), so the pixels equal
// those Pillow and torchvision's `decode_jpeg` give a Python pipeline (the tests hold it to
// Pillow's bytes on 4:4:4, 4:2:2, 4:2:0, progressive, gray, CMYK and odd-sized files); a
// decoder that merely repeats the colour samples differs by tens of levels at colour edges.
// How far the decoded pixels are from the originals:

// %%
const firstBytes = readFileSync(join(photos, 'photo_01.jpg'));
const decoded = readImage(join(photos, 'photo_01.jpg'));
const original = shapes.images[0]!;
let absError = 0;
let maxError = 0;
for (let p = 0; p < original.width * original.height; p++) {
  for (let c = 0; c < 3; c++) {
    const e = Math.abs(decoded.data[c * original.width * original.height + p]! * 255 - original.rgb[3 * p + c]!);
    absError += e;
    maxError = Math.max(maxError, e);
  }
}
const meanError = absError / (3 * original.width * original.height);
console.log(`photo_01.jpg: format ${imageFormat(firstBytes)}, tensor [${decoded.shape.join(', ')}]; mean |decoded - drawn| ${fixed(meanError, 2)} of 255, largest ${maxError.toFixed(0)}`);
check('readImage recognises the JPEG', imageFormat(firstBytes) === 'jpeg' ? 1 : 0, 1, 0);
check('the mean error is a few grey levels (below 5 of 255)', meanError < 5 ? 1 : 0, 1, 0);

// %% [markdown]
// ## Conversion to COCO, and what it reports
//
// {@link labelmeToCoco} reads every `.json` file of the folder and writes one COCO instance per
// labelme shape (or per `group_id` group): its polygons, its `bbox` (the extent of its points),
// its `area` (the pixels of the rasterised polygons, as pycocotools counts them) and `iscrowd: 0`.
// The categories are the labels seen, sorted, with ids 1..K. Nothing is dropped silently: every
// problem is reported with its file and the shape's index in that file's `shapes` list.

// %%
const converted = labelmeToCoco(photos);
const { coco, report } = converted;
console.log(formatConversionReport(report).split(`${photos}/`).join('photos/'));
console.log(`categories: ${coco.categories.map((c) => `${c.id} ${c.name}`).join(', ')}`);
const badFile = `photo_${String(BAD_IMAGE).padStart(2, '0')}.json`;
const badShapeIndex = (JSON.parse(readFileSync(join(photos, badFile), 'utf8')) as { shapes: unknown[] }).shapes.length - 1;
check('16 files read, 16 images kept', [report.files, report.images, report.droppedImages], [COUNT, COUNT, 0], 0);
check('every object drawn is an annotation', report.kept, drawnInstances, 0);
check('one problem: the 2-point polygon, in its file, at its index', [
  report.problems.length, report.dropped['too-few-points'] ?? 0, report.problems[0]!.file.endsWith(badFile) ? 1 : 0, report.problems[0]!.where === `shape ${badShapeIndex}` ? 1 : 0,
], [1, 1, 1, 1], 0);
check('two classes: angular, round', coco.categories.map((c) => c.id), [1, 2], 0);

// %% [markdown]
// A validation split held out from training: {@link splitCoco} shuffles the images with the
// project's seeded generator and keeps `round(fraction x images)` of them for validation (the
// same split `maskrcnn convert labelme ... --val-fraction 0.25 --seed 0` writes). Both halves
// keep both categories.

// %%
const VAL_FRACTION = 0.25;
const split = splitCoco(coco, VAL_FRACTION, 0);
const trainFile = join(work, 'train.json');
const valFile = join(work, 'train_val.json');
writeCoco(trainFile, split.train);
writeCoco(valFile, split.val);
const perClass = (d: typeof coco) => d.categories.map((c) => d.annotations.filter((a) => a.category_id === c.id).length);
showMarkdown(markdownTable(['split', 'images', 'annotations', ...coco.categories.map((c) => c.name)], [
  ['train', split.train.images.length, split.train.annotations.length, ...perClass(split.train)],
  ['validation', split.val.images.length, split.val.annotations.length, ...perClass(split.val)],
]));
console.log(`validation images: ${split.val.images.map((im) => im.file_name).join(', ')}`);
check('validation: round(0.25 x 16) = 4 images', split.val.images.length, Math.round(VAL_FRACTION * COUNT), 0);
check('the two halves hold every image and every annotation', [split.train.images.length + split.val.images.length, split.train.annotations.length + split.val.annotations.length], [COUNT, report.kept], 0);

// %% [markdown]
// Read back through {@link CocoDetectionDataset} (what `maskrcnn train --images DIR
// --annotations FILE` does), the annotations become the targets a training step sees: boxes,
// labels 1..K and masks. A training image with its converted annotations, drawn as if they were
// detections of score 1, is the quickest check that the conversion put every polygon where it
// belongs:

// %%
const trainSet = CocoDetectionDataset.fromFiles(trainFile, photos, { contiguousLabels: true });
const valSet = CocoDetectionDataset.fromFiles(valFile, photos, { contiguousLabels: true });
const classes = ['__background__', ...trainSet.categories.map((c) => c.name)];
/** A sample's ground truth as "detections" of score 1, for {@link drawDetections}. */
function groundTruthPicture(index: number, set: CocoDetectionDataset): Canvas {
  const { image, target } = set.get(index);
  const g = target.boxes.shape[0]!;
  const [h, w] = [image.shape[1]!, image.shape[2]!];
  return drawDetections(image, { boxes: target.boxes, labels: target.labels, scores: new Tensor(new Float32Array(g).fill(1), [g]), masks: target.masks.reshape(g, 1, h, w) }, { classes });
}
showPng(groundTruthPicture(0, trainSet).toPng(), `${trainSet.imageInfo(0).file_name} with its converted labelme annotations (ground truth, drawn at score 1)`);
console.log(`${trainSet.length} training and ${valSet.length} validation images; classes ${classes.slice(1).join(', ')}`);

// %% [markdown]
// ## Fine-tuning the zoo model
//
// Training from scratch on 12 images would learn little. Starting from a model trained on
// similar images, most of what it needs is already there: the backbone's features, the RPN's
// idea of an object. What the zoo model lacks is our classes. {@link train} with
// `weights: 'zoo:shapes'` builds the model with the **zoo file's own architecture** (read by
// {@link readWeightsConfig}) and **our number of classes** (2 + background), then
// {@link loadPretrained} copies every tensor from the file, except the class-specific
// predictors: the zoo's box predictor has 4 outputs per RoI (3 classes + background) and ours
// needs 3, so the classification and box regression layers and the mask predictor's per-class
// 1x1 convolution keep fresh initial weights. Any other mismatch would be an error naming the
// tensor.
//
// `headsOnly` freezes the whole backbone (ResNet body and FPN): only the RPN and the RoI heads
// train, matterport's `layers='heads'`, the usual first step with little data. (The finer
// control is the configuration's `backbone.trainableLayers`, `--trainable-layers N` on the
// command line: how many ResNet stages train, from the top.) The frozen backbone's BatchNorm
// layers keep their running statistics.

// %%
const ITERATIONS = 30;
const BATCH = 2;
const zooFile = readWeightsConfig(zooWeightsPath('shapes'));
const zooConfig = zooFile.config!;
const config = { ...zooConfig, numClasses: classes.length };
let weightsReport: WeightsReport | undefined;
let parameters = { trainable: 0, frozen: 0 };
const runDir = join(work, 'run');
const started = performance.now();
const result = train({
  config, train: trainSet, val: valSet, outDir: runDir, iterations: ITERATIONS, batchSize: BATCH, seed: 0,
  weights: 'zoo:shapes', headsOnly: true,
  reporter: { weights: (info) => (weightsReport = info), start: (info) => (parameters = info.parameters) },
});
const seconds = (performance.now() - started) / 1000;
const w = weightsReport!;
console.log(`zoo model: ${zooConfig.numClasses} classes (background included); ours: ${config.numClasses}`);
console.log(`loaded ${w.loaded.length} tensors from ${w.source}; re-initialised ${w.reinitialized.length}:`);
for (const key of w.reinitialized) console.log(`  ${key}`);
console.log(`parameters: ${parameters.trainable.toLocaleString('en-US')} trainable, ${parameters.frozen.toLocaleString('en-US')} frozen (the backbone)`);
console.log(`${result.iteration} iterations of ${BATCH} images, optimizer ${zooConfig.optimizer.kind}, lr ${zooConfig.optimizer.lr}: ${seconds.toFixed(1)} s with the final evaluation`);
check('the file has the zoo\'s 4 classes, the model 3', [w.fileClasses ?? -1, config.numClasses], [4, 3], 0);
check('only predictor tensors were re-initialised', w.reinitialized.every((k) => k.startsWith('roi_heads.box_predictor.') || k.startsWith('roi_heads.mask_predictor.')) ? 1 : 0, 1, 0);
check('re-initialised: cls_score and bbox_pred (weight, bias), mask_fcn_logits (weight, bias)', w.reinitialized.length, 6, 0);
check('every other tensor was loaded', w.loaded.length + w.reinitialized.length, result.model.stateDict().size, 0);
check('the backbone is frozen', parameters.frozen > 0 ? 1 : 0, 1, 0);

// %% [markdown]
// The five loss terms over the iterations. The three terms of the RoI heads, whose last layers
// start from fresh weights, start well above the RPN's two, which come from the zoo model as they
// are (and keep training). With 2 images per iteration the curves are noisy, so the checks
// compare the mean of the first 5 iterations with the mean of the last 5.

// %%
const records: IterationRecord[] = result.records;
const COLORS = ['#1f77b4', '#ff7f0e', '#2ca02c', '#d62728', '#9467bd'];
showSvg(lineChartSvg(
  [
    ...LOSS_TERMS.map((term, i) => ({ name: term, points: records.map((r): [number, number] => [r.iteration, r.losses[term]!]), color: COLORS[i]! })),
    { name: 'total', points: records.map((r): [number, number] => [r.iteration, r.loss]), color: '#000000' },
  ],
  { title: `Fine-tuning the zoo model on the new classes (heads only, batch ${BATCH})`, xLabel: 'iteration', yLabel: 'loss' },
), 'The loss terms of the fine-tuning run');
const meanOf = (rs: IterationRecord[], f: (r: IterationRecord) => number) => rs.reduce((s, r) => s + f(r), 0) / rs.length;
const [head, tail] = [records.slice(0, 5), records.slice(-5)];
showMarkdown(markdownTable(['term', 'first 5 iterations', 'last 5 iterations'], [
  ...LOSS_TERMS.map((term) => [`\`${term}\``, fixed(meanOf(head, (r) => r.losses[term]!), 3), fixed(meanOf(tail, (r) => r.losses[term]!), 3)]),
  ['**total**', fixed(meanOf(head, (r) => r.loss), 3), fixed(meanOf(tail, (r) => r.loss), 3)],
]));
const rpnTerms = ['loss_objectness', 'loss_rpn_box_reg'];
const headTerms = ['loss_classifier', 'loss_box_reg', 'loss_mask'];
check('at the start, each RoI-head term is above both RPN terms', Math.min(...headTerms.map((t) => meanOf(head, (r) => r.losses[t]!))) > Math.max(...rpnTerms.map((t) => meanOf(head, (r) => r.losses[t]!))) ? 1 : 0, 1, 0);
check('every loss is finite', records.every((r) => Number.isFinite(r.loss)) ? 1 : 0, 1, 0);
check('the total loss went down (mean of the last 5 below the first 5)', meanOf(tail, (r) => r.loss) < meanOf(head, (r) => r.loss) ? 1 : 0, 1, 0);
check('the fresh classifier learned (loss_classifier down)', meanOf(tail, (r) => r.losses['loss_classifier']!) < meanOf(head, (r) => r.losses['loss_classifier']!) ? 1 : 0, 1, 0);

// %% [markdown]
// ## Evaluation and error analysis
//
// {@link train} evaluates on the validation split at the end (COCO bbox and segm, as
// {@link evaluateModel}); {@link analyzeErrors} breaks each evaluation down (what
// `maskrcnn eval --analysis DIR` writes to files; see [Error analysis](../error-analysis.md)).

// %%
const evaluation = result.evaluation!;
console.log(`${evaluation.images} validation images, ${evaluation.results.length} detections`);
for (const kind of ['bbox', 'segm'] as const) console.log(`${kind}:\n${formatSummary(evaluation[kind].stats)}`);
const analyses = (['bbox', 'segm'] as const).map((kind) => analyzeErrors(valSet.coco, evaluation.detections[kind], evaluation[kind]));
check('the evaluation covers the 4 validation images', evaluation.images, split.val.images.length, 0);

// %% [markdown]
// Per-class AP (area all, 100 detections per image), for boxes and masks:

// %%
showMarkdown(markdownTable(['class', 'bbox AP', 'bbox AP50', 'bbox AP75', 'segm AP', 'segm AP50', 'segm AP75'], analyses[0]!.perClass.map((c, k) => {
  const s = analyses[1]!.perClass[k]!;
  return [c.name, fixed(c.ap, 3), fixed(c.ap50, 3), fixed(c.ap75, 3), fixed(s.ap, 3), fixed(s.ap50, 3), fixed(s.ap75, 3)];
})));
for (const a of analyses) {
  const defined = a.perClass.filter((c) => c.ap > -1).map((c) => c.ap);
  check(`${a.iouType}: AP is the mean of the per-class APs`, defined.reduce((x, y) => x + y, 0) / defined.length, a.overall.ap, 1e-12);
}

// %% [markdown]
// The confusion matrix (masks, IoU 0.5, detections scoring at least 0.5): rows are the
// ground-truth class, then detections that duplicate a found object or lie on background;
// columns the predicted class, then the objects no detection found. With only two classes, the
// off-diagonal cells answer the question this data set asks: does the model tell round from
// angular?

// %%
const segm = analyses[1]!;
showMarkdown(confusionMarkdown(segm.confusion));
const totals = confusionTotals(segm.confusion);
const objects = valSet.coco.annotations.filter((a) => !a.iscrowd).length;
console.log(`masks @ IoU 0.5: ${totals.correct} correct, ${totals.wrongClass} wrong class, ${totals.duplicate} duplicate, ${totals.background} background, ${totals.missed} missed, of ${objects} objects`);
check('every object is found (right or wrong class) or missed', totals.correct + totals.wrongClass + totals.missed, objects, 0);

// %% [markdown]
// TIDE's breakdown (Bolya et al., ECCV 2020) of the mask AP50: each error gets one type, and
// dAP50 is what fixing only that type with an oracle would add. TIDE counts every detection the
// model returned, down to its lowest scores, so it finds more errors than the confusion matrix
// above; an error only costs AP when it is ranked above a true positive of its class, so errors
// that all score below the true positives leave dAP50 at 0 however many there are.

// %%
showMarkdown(tideMarkdown(segm.tide));
// TIDE, like AP, looks at every detection, not only those scoring >= 0.5: where are the false positives in the ranking?
const segmDetections = evaluation.detections.segm;
const errorIds = new Set(segm.tide.errors.flatMap((e) => (e.detectionId === undefined ? [] : [e.detectionId])));
const fpScores = [...errorIds].map((id) => segmDetections[id - 1]!.score);
const tpScores = segmDetections.filter((_, i) => !errorIds.has(i + 1)).map((d) => d.score);
console.log(`${segmDetections.length} mask detections: ${fpScores.length} false positives (best score ${fixed(Math.max(0, ...fpScores), 3)}), ${tpScores.length} true positives (lowest score ${fixed(Math.min(1, ...tpScores), 3)})`);
showSvg(prCurvesSvg(segm.pr.iou50, 'Fine-tuned model, segm: precision-recall at IoU 0.5 (validation)'), 'Mask precision-recall curves at IoU 0.5, per class and overall');
check('TIDE starts from the evaluator\'s AP50', segm.tide.ap50, evaluation.segm.stats[1]!, 1e-12);

// %% [markdown]
// A validation image: its converted ground truth (left) and the fine-tuned model's detections
// scoring at least 0.5 (right), masks included.

// %%
const VAL_IMAGE = 0;
const { image: valImage } = valSet.get(VAL_IMAGE);
const detections = noGrad(() => result.model.forward([valImage])).detections[0]!;
const left = groundTruthPicture(VAL_IMAGE, valSet);
const right = drawDetections(valImage, detections, { classes });
const pair = new Canvas(left.width + right.width + 8, Math.max(left.height, right.height), [255, 255, 255]);
pair.paste(left, 0, 0);
pair.paste(right, left.width + 8, 0);
showPng(pair.toPng(), `${valSet.imageInfo(VAL_IMAGE).file_name}: ground truth (left), fine-tuned detections with score >= 0.5 (right)`);
const kept = Array.from(detections.scores.data).filter((s) => s >= 0.5).length;
console.log(`${kept} detections at score >= 0.5, for ${valSet.get(VAL_IMAGE).target.boxes.shape[0]} annotated objects`);

// %% [markdown]
// ### Reading these numbers
//
// Do not read much into them. Four validation images hold only a handful of objects (the
// counts are in the split table above), so one object more or less found moves AP by many
// points, and a class with one validation object has an AP of 0 or 1 at each threshold. And
// this data set is kind to the zoo model, by construction rather than by tuning: the images come
// from the generator the zoo model was trained on (another seed; only the JPEG compression is
// new), and the new classes are unions of its old ones (round = circle, angular = square or
// triangle), so the frozen backbone's features already separate them and the fresh predictors
// only need to learn a new read-out, which the loss table shows them learning.
//
// Photographs of objects the pretrained model has never seen are harder: from a run this short,
// expect low AP and many `cls` and `miss` errors. The way on is more of everything: more images
// (tens per class at least), a few hundred iterations, then, once the heads have settled,
// unfreezing the top ResNet stages (`--trainable-layers 2` or `3`) at a lower learning rate; and
// enough validation images to tell an improvement from noise. The zoo model reached the numbers
// of chapter 10 after the training below (its record in `zoo/shapes/zoo.json`):

// %%
const zoo = readZooEntry('shapes');
const zooTrainImages = Number(/--train (\d+)/.exec(zoo.commands[0] ?? '')?.[1] ?? NaN);
console.log(`zoo model: ${zoo.training.iterations} iterations of ${zoo.training.batchSize} images (${zoo.training.iterations * zoo.training.batchSize} image passes) over ${zooTrainImages} training images, ${(zoo.training.seconds / 60).toFixed(0)} min; segm AP50 ${fixed(zoo.metrics.stored.segm[1]!, 3)} on its ${zoo.validation.images} validation images`);
console.log(`this run: ${ITERATIONS} iterations of ${BATCH} images (${ITERATIONS * BATCH} image passes) over ${trainSet.length} training images, ${seconds.toFixed(0)} s; segm AP50 ${fixed(evaluation.segm.stats[1]!, 3)} on ${evaluation.images} validation images (${objects} objects)`);
check('a loose guard: the fine-tuned heads find most validation objects (segm AP50 above 0.5)', evaluation.segm.stats[1]! > 0.5 ? 1 : 0, 1, 0);

// %% [markdown]
// ## The same, from the command line
//
// Each step above is one `maskrcnn` command (`npx maskrcnn ...` in this repository), with the
// same seeds: the split's (`--seed`) and the training run's (0, the default). With the folder of
// JPEG and labelme files in `photos/`, and the numbers this chapter used:

// %%
const commands = [
  `# labelme folder -> COCO, with a seeded validation split (writes data/train.json and data/train_val.json;`,
  `# images embedded in labelme files whose image file is missing go to data/train_images/)`,
  `npx maskrcnn convert labelme photos --out data/train.json --val-fraction ${VAL_FRACTION} --seed 0`,
  `# fine-tune the zoo model on the new classes, heads only; evaluates on the validation file at the end`,
  `npx maskrcnn train --images photos --annotations data/train.json --val-annotations data/train_val.json \\`,
  `    --weights zoo:shapes --heads-only --iterations ${ITERATIONS} --batch-size ${BATCH} --out run`,
  `# COCO AP and the error analysis (per_class.md, confusion.md, tide.md, CSV and SVG files)`,
  `npx maskrcnn eval --weights run/model.safetensors --images photos --annotations data/train_val.json --analysis run/analysis`,
  `# every stage of the detector on one image, with the training targets of its annotations`,
  `npx maskrcnn inspect --weights run/model.safetensors --image photos/${valSet.imageInfo(VAL_IMAGE).file_name} --annotations data/train_val.json --out run/inspect`,
];
console.log(commands.join('\n'));

// %% [markdown]
// `train` prints the same report of loaded and re-initialised tensors, and the trainable and
// frozen parameter counts, before the first iteration. `--trainable-layers N` (0..5) instead of
// `--heads-only` also trains the FPN and the top N ResNet stages. A torchvision COCO model
// converted by `tools/convert_torchvision.py` fine-tunes the same way with
// `--weights maskrcnn_resnet50_fpn.safetensors` (see [Training on a laptop](../training.md)
// and [Torchvision weights](../torchvision-weights.md)).

// %%
rmSync(work, { recursive: true, force: true });
