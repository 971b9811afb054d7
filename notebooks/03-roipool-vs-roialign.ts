// %% [markdown]
// # 3. RoIPool vs RoIAlign
//
// Each region of interest (RoI) must become a small fixed-size feature map (7x7 for the box head,
// 14x14 for the mask head) cut out of a feature map that is 4 to 32 times coarser than the image.
// Fast R-CNN's **RoIPool** rounds the box to the feature grid, splits it into bins, rounds the
// bins again, and max-pools each. Mask R-CNN's **RoIAlign** (He et al., section 3, figure 3)
// rounds nothing: it samples each bin at regular points by bilinear interpolation and averages.
// The paper argues that the rounding misaligns the RoI and its features, which hurts masks
// (pixel-accurate) much more than boxes. This chapter opens both operators on one worked example,
// then measures the misalignment.
//
// The operators are {@link roiPool} and {@link roiAlign}; {@link inspectRoiPool} and
// {@link inspectRoiAlign} return every intermediate value of one bin; {@link drawRoiFigure} draws
// the paper's figure 3 for any RoI.

// %%
import { tensor, roiPool, roiAlign, inspectRoiPool, inspectRoiAlign, drawRoiFigure, ROI_WORKED_EXAMPLE } from '../lib/index.js';
import { showPng, showSvg, showMarkdown, markdownTable, check, fixed } from '../tools/notebooks/display.js';
import { lineChartSvg } from '../lib/index.js';

// %% [markdown]
// ## The worked example
//
// A 6x6 feature map of stride 32 (so `spatialScale = 1/32`; the values are
// `torch.manual_seed(0); torch.randn(1, 1, 6, 6)` rounded to 4 decimals), the box
// `(x1, y1, x2, y2) = (10, 10, 124, 124)` in image pixels, a 2x2 output.

// %%
const feature = tensor([[[
  [-1.5256, -0.7502, -0.654, -1.6095, -0.1002, -0.6092],
  [-0.9798, -1.6091, -0.7121, 0.3037, -0.7773, -0.2515],
  [-0.2223, 1.6871, 0.2284, 0.4676, -0.697, -1.1608],
  [0.6995, 0.1991, 0.1991, 0.0457, 0.153, -0.4757],
  [-1.8821, -0.7765, 2.0242, -0.0865, 2.3571, -1.0373],
  [1.5748, -0.6298, 2.407, 0.2786, 0.2468, 1.1843],
]]]);
const box = [0, 10, 10, 124, 124]; // [batchIndex, x1, y1, x2, y2]
const rois = tensor([box]);
const stride32 = { outputSize: 2, spatialScale: 1 / 32 };
const bins = [[0, 0], [0, 1], [1, 0], [1, 1]] as const;
console.log(`feature map ${feature.reshape(6, 6)}`);
// The same numbers as the library's ROI_WORKED_EXAMPLE, which the tests and the lab's RoIAlign explorer use.
check('the worked example is the library\'s (float32)', [...feature.data, ...box], [...ROI_WORKED_EXAMPLE.feature.flat().map(Math.fround), ...ROI_WORKED_EXAMPLE.roi], 0);

// %% [markdown]
// ## RoIPool: two roundings, then a max
//
// First rounding: the box's corners times `1/32`, rounded to whole cells. Second rounding: the
// region (`roiWidth` cells, inclusive) is split into bins of `roiWidth / 2` cells, whose edges are
// floored and ceiled to whole cells. Each bin outputs the maximum of its cells.

// %%
const pool0 = inspectRoiPool(feature, box, stride32, [0, 0]);
const s = pool0.scaled;
console.log(`box on the feature map: x ${s.x1}..${s.x2}, y ${s.y1}..${s.y2}`);
console.log(`first rounding: columns ${pool0.roiStartW}..${pool0.roiEndW}, rows ${pool0.roiStartH}..${pool0.roiEndH} (${pool0.roiWidth} x ${pool0.roiHeight} cells)`);
console.log(`bin size: ${pool0.binSizeH} x ${pool0.binSizeW} cells`);
for (const bin of bins) {
  const p = inspectRoiPool(feature, box, stride32, bin);
  console.log(`bin (${bin.join(', ')}): rows ${p.hstart}..${p.hend - 1}, columns ${p.wstart}..${p.wend - 1}; max ${fixed(p.max)} at (${p.argmax!.y}, ${p.argmax!.x})`);
  for (const row of p.values) console.log(`    ${row.map((v) => fixed(v).padStart(8)).join('')}`);
}
const pooled = roiPool(feature, rois, stride32);
console.log(`roiPool ${pooled.reshape(2, 2)}`);
check('roiPool worked example', pooled.data, [1.6871, 0.4676, 2.0242, 2.3571]);

// %% [markdown]
// ## RoIAlign: sample points, four neighbours, bilinear weights
//
// No rounding: the box is `x1 / 32 .. x2 / 32` exactly, each bin is `roiWidth / 2` cells wide,
// and with sampling ratio 1 each bin is sampled once, at its centre. The value at a sample point
// `(y, x)` is the bilinear interpolation of its four neighbouring cells,
// `w1 f1 + w2 f2 + w3 f3 + w4 f4` with `u = x - x_low`, `v = y - y_low`,
// `w1 = (1-u)(1-v)`, `w2 = u(1-v)`, `w3 = (1-u)v`, `w4 = uv`.

// %%
const align1 = { ...stride32, samplingRatio: 1 };
const a0 = inspectRoiAlign(feature, box, align1, [0, 0]);
console.log(`RoI in feature coordinates: x ${a0.roiStartW}..${a0.roiEndW}, y ${a0.roiStartH}..${a0.roiEndH}; bins of ${a0.binSizeH} x ${a0.binSizeW} cells; ${a0.gridH}x${a0.gridW} sample per bin`);
const alignRows: Array<Array<string | number>> = [];
const samplePoints: number[] = [];
for (const bin of bins) {
  const a = inspectRoiAlign(feature, box, align1, bin);
  for (const p of a.samples) {
    samplePoints.push(p.y, p.x);
    alignRows.push([
      `(${bin.join(', ')})`, `(${p.y}, ${p.x})`, `rows ${p.yLow},${p.yHigh} cols ${p.xLow},${p.xHigh}`,
      [p.f1, p.f2, p.f3, p.f4].map((v) => fixed(v)).join(', '), `${fixed(p.u, 6)}, ${fixed(p.v, 6)}`,
      [p.w1, p.w2, p.w3, p.w4].map((v) => fixed(v)).join(', '), fixed(a.output),
    ]);
  }
}
showMarkdown(markdownTable(['bin', 'sample (y, x)', 'neighbours', 'f1..f4', 'u, v', 'w1..w4', 'bin output'], alignRows));
const aligned = roiAlign(feature, rois, align1);
console.log(`roiAlign (sampling ratio 1) ${aligned.reshape(2, 2)}`);
check('first and last sample points', [samplePoints[0]!, samplePoints[1]!, samplePoints[6]!, samplePoints[7]!], [1.203125, 1.203125, 2.984375, 2.984375], 0);
check('roiAlign worked example', aligned.data, [-0.8546, 0.3236, 0.2177, 0.0546]);

// %% [markdown]
// ## The two pictures
//
// The paper's figure 3 for this RoI: on the left RoIPool's quantized region and bins (the cells
// it max-pools), on the right RoIAlign's exact bins and sample points.

// %%
showPng(drawRoiFigure(feature, box, { ...align1, cellSize: 56 }), 'RoIPool (left) and RoIAlign with sampling ratio 1 (right) on the worked example');
showPng(drawRoiFigure(feature, box, { ...stride32, samplingRatio: 2, cellSize: 56 }), 'The same RoI with sampling ratio 2: four sample points per bin');

// %% [markdown]
// ## Alignment and sampling ratio
//
// `aligned: true` (Detectron2's correction, not in the paper) shifts the box by half a cell so
// that cell centres sit at integer + 0.5 coordinates; `samplingRatio` is the number of samples
// per bin and axis, and `<= 0` means adaptive: `ceil(binSize)` (here `ceil(1.78125) = 2`).

// %%
const variantRows: Array<Array<string>> = [];
for (const alignedFlag of [false, true]) {
  for (const samplingRatio of [1, 2, 0]) {
    const out = roiAlign(feature, rois, { ...stride32, samplingRatio, aligned: alignedFlag });
    const grid = inspectRoiAlign(feature, box, { ...stride32, samplingRatio, aligned: alignedFlag }, [0, 0]);
    variantRows.push([String(alignedFlag), samplingRatio > 0 ? String(samplingRatio) : `adaptive (${grid.gridH})`, ...Array.from(out.data, (v) => fixed(v))]);
  }
}
showMarkdown(markdownTable(['aligned', 'sampling ratio', 'bin (0,0)', 'bin (0,1)', 'bin (1,0)', 'bin (1,1)'], variantRows));

// %% [markdown]
// ## The misalignment, measured
//
// Slide the box to the right one image pixel at a time, from 0 to 64 pixels (two feature cells),
// and watch bin (0, 0) of each operator. RoIPool's region snaps to whole cells (32 pixels): its
// output stays put, then jumps; the region it reads is off from the true box by up to half a cell.
// RoIAlign's sample points move with the box by 1/32 cell per pixel, so its output moves a little
// at every step.

// %%
const shifts = Array.from({ length: 65 }, (_, dx) => dx);
const poolSeries: Array<[number, number]> = [];
const alignSeries: Array<[number, number]> = [];
let misalignment = 0;
for (const dx of shifts) {
  const shifted = [0, 10 + dx, 10, 124 + dx, 124];
  const r = tensor([shifted]);
  poolSeries.push([dx, roiPool(feature, r, stride32).data[0]!]);
  alignSeries.push([dx, roiAlign(feature, r, { ...stride32, samplingRatio: 2 }).data[0]!]);
  const q = inspectRoiPool(feature, shifted, stride32, [0, 0]);
  misalignment = Math.max(misalignment, Math.abs(q.roiStartW * 32 - shifted[1]!), Math.abs(q.roiEndW * 32 - shifted[3]!));
}
const steps = (series: Array<[number, number]>) => series.slice(1).map(([, v], i) => Math.abs(v - series[i]![1]));
const summarise = (name: string, series: Array<[number, number]>) => {
  const d = steps(series);
  const moved = d.filter((v) => v > 1e-6).length;
  return [name, String(moved), fixed(Math.max(...d)), fixed(d.reduce((a, b) => a + b, 0) / d.length), fixed(Math.max(...d) / (d.reduce((a, b) => a + b, 0) / d.length), 1)];
};
showMarkdown(markdownTable(
  ['bin (0, 0) under 1-pixel shifts (64 steps)', 'steps where the output changed', 'largest change in one step', 'mean change per step', 'largest / mean'],
  [summarise('RoIPool', poolSeries), summarise('RoIAlign (sampling ratio 2)', alignSeries)],
));
console.log(`RoIPool's quantized region is off from the true box by up to ${misalignment} image pixels (${misalignment / 32} of a stride-32 cell).`);
showSvg(
  lineChartSvg(
    [
      { name: 'RoIPool', points: poolSeries, color: '#d62728', step: true },
      { name: 'RoIAlign (sampling 2)', points: alignSeries, color: '#1f77b4' },
    ],
    { title: 'Bin (0, 0) as the box slides right (stride 32)', xLabel: 'shift of the box (image pixels)', yLabel: 'output of bin (0, 0)' },
  ),
  'RoIPool jumps when the rounding flips and is flat in between; RoIAlign moves smoothly',
);
check('RoIPool changes in few steps', steps(poolSeries).filter((v) => v > 1e-6).length < 8 ? 1 : 0, 1, 0);
check('RoIAlign changes at every step', steps(alignSeries).every((v) => v > 0) ? 1 : 0, 1, 0);

// %% [markdown]
// ## What the paper measured
//
// The effect on accuracy is the paper's to measure (COCO minival, mask AP and box AP), not this
// notebook's: the tables below are quoted from He et al., *Mask R-CNN*, ICCV 2017
// (arXiv 1703.06870), Table 2c (ResNet-50-C4, stride 16) and Table 2d (ResNet-50-C5, stride 32);
// only the last row of 2d (the differences) is computed here. The gain is larger at stride 32,
// where RoIPool's rounding is coarser (up to half a cell, as measured above), and largest at the
// strict AP75: misalignment costs most where masks must be pixel-accurate.

// %%
// Quoted from the paper (Table 2c): align?, bilinear?, aggregation, mask AP, AP50, AP75.
const table2c = [
  ['RoIPool', '', '', 'max', 26.9, 48.8, 26.4],
  ['RoIWarp', '', 'yes', 'max', 27.2, 49.2, 27.1],
  ['RoIWarp', '', 'yes', 'ave', 27.1, 48.9, 27.1],
  ['RoIAlign', 'yes', 'yes', 'max', 30.2, 51.0, 31.8],
  ['RoIAlign', 'yes', 'yes', 'ave', 30.3, 51.2, 31.5],
] as const;
// Quoted from the paper (Table 2d): mask AP, AP50, AP75, box AP, AP50, AP75.
const table2d = { RoIPool: [23.6, 46.5, 21.6, 28.2, 52.7, 26.9], RoIAlign: [30.9, 51.8, 32.1, 34.0, 55.3, 36.4] };
showMarkdown('**Table 2c** (He et al. 2017), ResNet-50-C4, stride 16:\n\n' + markdownTable(['', 'align?', 'bilinear?', 'agg.', 'AP', 'AP50', 'AP75'], table2c.map((r) => r.map((v) => (typeof v === 'number' ? v.toFixed(1) : v)))));
const delta = table2d.RoIAlign.map((v, i) => `+${(v - table2d.RoIPool[i]!).toFixed(1)}`);
showMarkdown('**Table 2d** (He et al. 2017), ResNet-50-C5, stride 32:\n\n' + markdownTable(
  ['', 'AP', 'AP50', 'AP75', 'AP bb', 'AP50 bb', 'AP75 bb'],
  [['RoIPool', ...table2d.RoIPool.map((v) => v.toFixed(1))], ['RoIAlign', ...table2d.RoIAlign.map((v) => v.toFixed(1))], ['difference (computed)', ...delta]],
));
