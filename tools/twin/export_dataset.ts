/**
 * Exports a shapes (or any COCO) dataset folder, read by the project's own loader, to one
 * safetensors file for the torchvision twin (`tools/twin/twin_shapes.py`): the twin then trains
 * on exactly the images, boxes, labels and masks the project trains on (crowds left out, labels
 * 1..K in category order), without reimplementing PNG, polygon or RLE decoding in Python.
 *
 * usage: node --import tsx tools/twin/export_dataset.ts DATA_DIR OUT.safetensors
 *
 * Tensors: `images` U8 [N,3,H,W] (all images the same size), `boxes` F32 [M,4], `labels` I32 [M],
 * `masks` U8 [M,H,W], `image_index` I32 [M] (which image each instance belongs to), `image_ids`
 * I32 [N] (the COCO ids, for the results file).
 */
import { CocoDetectionDataset } from '../../lib/maskrcnn/data/dataset.js';
import { saveSafetensors } from '../../lib/nn/safetensors.js';
import { Tensor } from '../../lib/tensor/index.js';

const [dataDir, out] = process.argv.slice(2);
if (dataDir === undefined || out === undefined) {
  console.error('usage: node --import tsx tools/twin/export_dataset.ts DATA_DIR OUT.safetensors');
  process.exit(2);
}
const ds = CocoDetectionDataset.fromDirectory(dataDir, { contiguousLabels: true });
const first = ds.get(0).image;
const [, h, w] = first.shape as [number, number, number];
const n = ds.length;
const images = new Float32Array(n * 3 * h * w);
const boxes: number[] = [];
const labels: number[] = [];
const masks: number[][] = [];
const imageIndex: number[] = [];
const imageIds: number[] = [];
for (let i = 0; i < n; i++) {
  const { image, target } = ds.get(i);
  if (image.shape[1] !== h || image.shape[2] !== w) throw new Error(`export: image ${i} is ${image.shape.join('x')}, not 3x${h}x${w}`);
  const px = image.data;
  for (let k = 0; k < px.length; k++) images[i * 3 * h * w + k] = Math.round(px[k]! * 255);
  imageIds.push(ds.imageInfo(i).id);
  const m = target.boxes.shape[0]!;
  for (let j = 0; j < m; j++) {
    boxes.push(...Array.from(target.boxes.data.subarray(4 * j, 4 * j + 4)));
    labels.push(target.labels.data[j]!);
    masks.push(Array.from(target.masks.data.subarray(j * h * w, (j + 1) * h * w)));
    imageIndex.push(i);
  }
}
const m = labels.length;
const maskData = new Float32Array(m * h * w);
masks.forEach((mk, j) => maskData.set(mk, j * h * w));
saveSafetensors(out, {
  images: { tensor: new Tensor(images, [n, 3, h, w], 'float32'), dtype: 'U8' },
  boxes: new Tensor(new Float32Array(boxes), [m, 4], 'float32'),
  labels: new Tensor(new Int32Array(labels), [m], 'int32'),
  masks: { tensor: new Tensor(maskData, [m, h, w], 'float32'), dtype: 'U8' },
  image_index: new Tensor(new Int32Array(imageIndex), [m], 'int32'),
  image_ids: new Tensor(new Int32Array(imageIds), [n], 'int32'),
});
console.log(`exported ${n} images (${h}x${w}) and ${m} instances to ${out}`);
