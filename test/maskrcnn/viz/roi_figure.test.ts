import test from 'tape';
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pngjs from 'pngjs';
import { tensor, randn, Generator } from '../../../lib/index.js';
import { drawRoiFigure, roiFigureLayout, writeRoiFigure, ROI_FIGURE_STYLE } from '../../../lib/maskrcnn/viz/roi_figure.js';
import { ROI_WORKED_EXAMPLE } from '../../../lib/ops/roi_inspect.js';
import { assertThrowsMessage } from '../../helpers.js';

const { PNG } = pngjs;

// The course's worked example: a 6x6 feature map (stride 32) and the box (10, 10, 124, 124).
const feature = () => tensor([[ROI_WORKED_EXAMPLE.feature.map((row) => [...row])]]);
const BOX = [...ROI_WORKED_EXAMPLE.roi];
const OPTIONS = { spatialScale: 1 / 32, samplingRatio: 2 };

test('drawRoiFigure: the worked example decodes, has the layout size, and marks every sample point', (t) => {
  const bytes = drawRoiFigure(feature(), BOX, OPTIONS);
  const layout = roiFigureLayout(feature(), BOX, OPTIONS);
  const png = PNG.sync.read(Buffer.from(bytes));
  t.deepEqual([png.width, png.height], [layout.width, layout.height], `a ${layout.width}x${layout.height} PNG`);
  t.equal(layout.cellSize, 64, '64 pixels per cell by default');
  t.equal(layout.samplePoints.length, 16, '2x2 bins x 2x2 samples');
  const pixel = (p: { x: number; y: number }) => {
    const i = (Math.round(p.y) * png.width + Math.round(p.x)) * 4;
    return [png.data[i], png.data[i + 1], png.data[i + 2]];
  };
  t.ok(
    layout.samplePoints.every((p) => pixel(p).join() === ROI_FIGURE_STYLE.sample.join()),
    'every sample point is drawn in the marker colour',
  );
  // The first sample of bin (0, 0) sits at feature (0.7578125, 0.7578125): 1.2578125 cells from
  // the window's left edge at -0.5.
  const [x0] = layout.view;
  t.equal(x0, -0.75, 'the window starts a quarter cell left of the map (cell 0 spans -0.5..0.5)');
  t.equal(layout.samplePoints[0]!.x, layout.alignOrigin.x + (0.7578125 - x0) * 64, 'sample pixel = origin + (x - x0) * cellSize');
  t.deepEqual(pixel({ x: 2, y: 2 }), [...ROI_FIGURE_STYLE.background], 'the margin is background');
  t.end();
});

test('drawRoiFigure: deterministic bytes; options change the picture', (t) => {
  const a = drawRoiFigure(feature(), BOX, OPTIONS);
  const b = drawRoiFigure(feature(), BOX, OPTIONS);
  t.ok(Buffer.from(a).equals(Buffer.from(b)), 'the same bytes twice');
  const c = drawRoiFigure(feature(), BOX, { ...OPTIONS, aligned: true });
  t.notOk(Buffer.from(a).equals(Buffer.from(c)), 'aligned true draws another picture');
  const small = roiFigureLayout(feature(), BOX, { ...OPTIONS, cellSize: 24, outputSize: 7 });
  t.equal(small.samplePoints.length, 7 * 7 * 4, '7x7 bins x 2x2 samples');
  t.equal(small.cellSize, 24, 'cell size option');
  // A box partly outside the map widens the window, at most 3 cells beyond the map.
  const wide = roiFigureLayout(randn([1, 1, 5, 5], { generator: new Generator(2) }), [0, -200, 20, 30, 60], { spatialScale: 1 / 16 });
  t.equal(wide.view[0], -3.5, 'the window stops 3 cells left of the map');
  t.end();
});

test('writeRoiFigure: writes the PNG atomically (no temporary file left)', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'roi-figure-'));
  try {
    const path = join(dir, 'figures', 'roi.png');
    writeRoiFigure(path, feature(), BOX, OPTIONS);
    t.ok(Buffer.from(readFileSync(path)).equals(Buffer.from(drawRoiFigure(feature(), BOX, OPTIONS))), 'the file holds drawRoiFigure\'s bytes');
    t.deepEqual(readdirSync(join(dir, 'figures')), ['roi.png'], 'only the figure in its directory');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  t.end();
});

test('drawRoiFigure: bad arguments give clear errors', (t) => {
  assertThrowsMessage(t, () => drawRoiFigure(feature(), BOX, { cellSize: 4 }), 'drawRoiFigure: cellSize must be an integer in 8..512, got 4', 'cell size');
  assertThrowsMessage(t, () => drawRoiFigure(feature(), [0, 1, 2], {}), 'inspectRoiPool: roi must be [batchIndex, x1, y1, x2, y2], got 3 numbers', 'short roi');
  assertThrowsMessage(t, () => drawRoiFigure(feature(), BOX, { channel: 1 }), 'channel must be an integer in 0..0, got 1', 'channel');
  t.end();
});
