/**
 * Parity adapters for the roi family: `roi_align` and `roi_pool` (torchvision.ops), replayed
 * through {@link roiAlign} and {@link roiPool} with the fixture's `grad_output`.
 */
import type { OracleCase, ParityAdapter } from '../harness.js';
import { fromJson } from '../harness.js';
import { roiAlign, roiPool } from '../../../lib/ops/index.js';

function outputSize(c: OracleCase): [number, number] {
  const s = c.params['output_size'] as number | [number, number];
  return typeof s === 'number' ? [s, s] : s;
}

function roiAlignCase(c: OracleCase) {
  const input = fromJson(c.inputs['input']!).requiresGrad_();
  const output = roiAlign(input, fromJson(c.inputs['rois']!), {
    outputSize: outputSize(c),
    spatialScale: c.params['spatial_scale'] as number,
    // The fixtures write 0 for adaptive; any value <= 0 means adaptive here too.
    samplingRatio: c.params['sampling_ratio'] as number,
    aligned: c.params['aligned'] as boolean,
  });
  output.backward(fromJson(c.inputs['grad_output']!));
  return { output, grad_input: input.grad! };
}

function roiPoolCase(c: OracleCase) {
  const input = fromJson(c.inputs['input']!).requiresGrad_();
  const output = roiPool(input, fromJson(c.inputs['rois']!), {
    outputSize: outputSize(c),
    spatialScale: c.params['spatial_scale'] as number,
  });
  output.backward(fromJson(c.inputs['grad_output']!));
  return { output, grad_input: input.grad! };
}

/** Adapters of this family, by fixture op name. */
export const adapters: Record<string, ParityAdapter> = { roi_align: roiAlignCase, roi_pool: roiPoolCase };
