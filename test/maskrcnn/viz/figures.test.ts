import test from 'tape';
import { Tensor } from '../../../lib/tensor/index.js';
import { VIZ_COLORS, drawBoxLayers, heatColor, heatmapGrid, labelledHeatmapGrid, textWidth } from '../../../lib/maskrcnn/index.js';
import { zeros } from '../../../lib/tensor/index.js';

/** Four 2x3 maps as [2 rows, 2 columns, 2, 3]: values 0..23. */
const maps = new Tensor(Float32Array.from({ length: 24 }, (_, i) => i), [2, 2, 2, 3]);

test('labelledHeatmapGrid: the maps sit where heatmapGrid puts them, shifted right of the row names and below the column names', (t) => {
  const rowLabels = ['A', 'LONGER'];
  const columnLabels = ['X', 'Y'];
  const canvas = labelledHeatmapGrid(maps, { rowLabels, columnLabels, scale: 5, gap: 2, textScale: 1, range: [0, 23], legend: 'VALUE' });
  const grid = heatmapGrid(maps.reshape(4, 2, 3), { columns: 2, scale: 5, gap: 2, range: [0, 23] });
  const left = textWidth('LONGER', 1) + 6; // widest row name + a margin of 3 font pixels on each side
  const top = 7 + 3; // one text line + the margin
  let same = true;
  for (let y = 0; y < grid.height; y++) for (let x = 0; x < grid.width; x++) if (canvas.pixel(left + x, top + y).join() !== grid.pixel(x, y).join()) same = false;
  t.ok(same, `every grid pixel is heatmapGrid's, at (${left}, ${top})`);
  // Map (1, 1) (values 18..23) at row 1, column 1: its first value is 18/23 of the scale.
  const x = left + 2 + (3 * 5 + 2) + 1;
  const y = top + 2 + (2 * 5 + 2) + 1;
  t.deepEqual(canvas.pixel(x, y), heatColor(18 / 23), 'map (1, 1) starts with the colour of 18 on [0, 23]');
  t.end();
});

test('labelledHeatmapGrid: names are written in the text colour and a shared range gets a colour bar from low to high', (t) => {
  const canvas = labelledHeatmapGrid(maps, { rowLabels: ['A', 'B'], columnLabels: ['X', 'Y'], scale: 5, gap: 2, textScale: 1, range: [0, 1] });
  const textPixels = (x0: number, y0: number, x1: number, y1: number): number => {
    let n = 0;
    for (let y = y0; y < y1; y++) for (let x = x0; x < x1; x++) if (canvas.pixel(x, y).join() === VIZ_COLORS.text.join()) n++;
    return n;
  };
  const left = textWidth('A', 1) + 6;
  t.ok(textPixels(0, 10, left, canvas.height) > 0, 'row names left of the grid');
  t.ok(textPixels(left, 0, canvas.width, 10) > 0, 'column names above the grid');
  // The bar: 3 font pixels under the grid, from heatColor(0) at its left end to heatColor(1) at its right end.
  const gridBottom = 10 + (2 * (2 * 5 + 2) + 2);
  const barY = gridBottom + 3 + 1;
  const barX0 = left + 2;
  const barX1 = left + (2 * (3 * 5 + 2) + 2) - 2 - 1;
  t.deepEqual(canvas.pixel(barX0, barY), heatColor(0), 'the bar starts at the colour of low');
  t.deepEqual(canvas.pixel(barX1, barY), heatColor(1), 'and ends at the colour of high');
  const noRange = labelledHeatmapGrid(maps, { scale: 5, gap: 2, textScale: 1 });
  t.ok(noRange.height < canvas.height - 10, `without a range (each map its own scale) there is no bar: ${noRange.height} px high against ${canvas.height}`);
  t.end();
});

test('labelledHeatmapGrid: labels that do not fit the maps are named', (t) => {
  t.throws(() => labelledHeatmapGrid(maps.reshape(4, 2, 3)), /maps must be \[R, C, H, W\], got \[4,2,3\]/);
  t.throws(() => labelledHeatmapGrid(maps, { rowLabels: ['A'] }), /1 row labels for 2 rows/);
  t.throws(() => labelledHeatmapGrid(maps, { columnLabels: ['X', 'Y', 'Z'] }), /3 column labels for 2 columns/);
  t.end();
});

test('drawBoxLayers: boxes in the enlarged image, the chosen rows only, later layers on top, a legend under the picture', (t) => {
  const image = zeros([3, 4, 4]); // black
  const boxes = new Tensor(Float32Array.from([0, 0, 2, 2, 1, 1, 3, 3]), [2, 4]);
  const red: [number, number, number] = [255, 0, 0];
  const green: [number, number, number] = [0, 255, 0];
  const canvas = drawBoxLayers(image, [
    { boxes, rows: [1], color: red, name: 'second' },
    { boxes, rows: [0], color: green, name: 'first' },
  ], { scale: 3, thickness: 1, textScale: 1 });
  // Box 1 enlarged 3x is [3, 3, 9, 9]: border pixels x, y in 3..8; box 0 is [0, 0, 6, 6].
  t.deepEqual(canvas.pixel(8, 8), red, 'row 1 drawn at 3x');
  t.deepEqual(canvas.pixel(0, 0), green, 'row 0 drawn by the second layer');
  t.deepEqual(canvas.pixel(5, 3), green, 'the later layer is on top where the outlines cross');
  t.deepEqual(canvas.pixel(7, 7), [0, 0, 0], 'inside stays the image');
  t.equal(canvas.width, 12, 'the picture is 12 px wide');
  t.equal(canvas.height, 12 + 2 * 7 + 2 * 3, 'the two legend entries, wider together than the 12 px picture, wrap onto two lines of 7 font pixels (plus margins)');
  t.deepEqual(canvas.pixel(3, 12 + 3), red, 'the legend starts with a square of the first layer\'s colour');
  t.throws(() => drawBoxLayers(image, [{ boxes, rows: [2], color: red, name: 'bad' }]), /layer 'bad' has no row 2 \(boxes \[2,4\]\)/);
  t.throws(() => drawBoxLayers(zeros([4, 4]), []), /the image must be \[3, H, W\], got \[4,4\]/);
  t.end();
});
