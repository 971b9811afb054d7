/** The SVG charts of lib/maskrcnn/viz/plot.ts used by the error analysis: line chart and heat map. */
import test from 'tape';
import { heatmapSvg, lineChartSvg } from '../../../lib/maskrcnn/viz/plot.js';

test('lineChartSvg: one path per series on linear axes, a legend row each, the pen lifted at non-finite points', (t) => {
  const svg = lineChartSvg(
    [
      { name: 'a <b>', points: [[0, 0], [0.5, 0.5], [1, 1]] },
      { name: 'gap', points: [[0, 1], [0.5, NaN], [1, 0]], color: '#000', width: 3 },
    ],
    { title: 'PR', xLabel: 'recall', yLabel: 'precision', xRange: [0, 1], yRange: [0, 1] },
  );
  t.ok(svg.startsWith('<svg') && svg.trimEnd().endsWith('</svg>'), 'an SVG document');
  t.ok(svg.includes('d="M64.0 432.0L360.0 234.0L656.0 36.0"'), 'x in [0, 1] over the plot width, y upwards');
  t.ok(svg.includes('d="M64.0 36.0M656.0 432.0"'), 'a NaN lifts the pen');
  t.ok(svg.includes('a &lt;b&gt;'), 'legend text escaped');
  t.ok(svg.includes('stroke="#000" stroke-width="3"'), 'colour and width as given');
  const tall = lineChartSvg(Array.from({ length: 40 }, (_, i) => ({ name: `c${i}`, points: [[0, 1], [1, 0]] as [number, number][] })));
  t.ok(Number(/height="(\d+)"/.exec(tall)![1]) > 480, 'taller when the legend needs it');
  t.end();
});

test('lineChartSvg: ranges default to the points (y widened by 5%); a step series holds each y until the next x', (t) => {
  const svg = lineChartSvg([{ name: 'lr', points: [[0, 1], [10, 3], [20, 2]], step: true }]);
  // x spans [0, 20] over 64..656; y spans [0.9, 3.1] (2 +- 5%) over 432..36.
  const y = (v: number): string => (36 + 396 * (1 - (v - 0.9) / 2.2)).toFixed(1);
  t.ok(svg.includes(`d="M64.0 ${y(1)}L360.0 ${y(1)}L360.0 ${y(3)}L656.0 ${y(3)}L656.0 ${y(2)}"`), 'staircase: horizontal, then vertical');
  const flat = lineChartSvg([{ name: 'c', points: [[0, 5], [1, 5]] }]);
  t.ok(flat.includes(`d="M64.0 234.0L656.0 234.0"`), 'a constant series sits mid-height (its range widened by 1 each way)');
  t.end();
});

test('heatmapSvg: a labelled cell per value, shaded by value; a shape mismatch is named', (t) => {
  const svg = heatmapSvg(['cat', 'dog'], ['cat', 'dog', 'missed'], [
    [4, 0, 1],
    [2, 3, NaN],
  ]);
  t.equal((svg.match(/<rect x=/g) ?? []).length, 6, 'six cells');
  t.ok(svg.includes('fill="rgb(8,48,107)"'), 'the largest value darkest');
  t.ok(svg.includes('fill="rgb(255,255,255)"'), 'zero white');
  t.throws(() => heatmapSvg(['a'], ['b'], [[1, 2]]), /heatmapSvg: values must be 1 rows of 1 numbers/, 'shape checked');
  t.end();
});
