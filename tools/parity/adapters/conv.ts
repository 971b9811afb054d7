/**
 * Parity adapters for the conv family: `conv2d` and `conv_transpose2d` (fixtures from
 * tools/oracle/ops_conv.py), with the gradients of input, weight and bias.
 */
import type { Computed, OracleCase, ParityAdapter } from '../harness.js';
import { fromJson } from '../harness.js';
import { conv2d, convTranspose2d } from '../../../lib/ops/index.js';

/** Runs one conv case forward, then backward with the fixture's `grad_output`. */
function convCase(c: OracleCase, transposed: boolean): Computed {
  const input = fromJson(c.inputs['input']!).requiresGrad_();
  const weight = fromJson(c.inputs['weight']!).requiresGrad_();
  const bias = c.params['bias'] ? fromJson(c.inputs['bias']!).requiresGrad_() : null;
  const p = c.params as { stride: [number, number]; padding: [number, number]; dilation: [number, number]; groups: number; output_padding?: [number, number] };
  const options = { stride: p.stride, padding: p.padding, dilation: p.dilation, groups: p.groups };
  const output = transposed
    ? convTranspose2d(input, weight, bias, { ...options, outputPadding: p.output_padding ?? [0, 0] })
    : conv2d(input, weight, bias, options);
  output.backward(fromJson(c.inputs['grad_output']!));
  const computed: Computed = { output, grad_input: input.grad!, grad_weight: weight.grad! };
  if (bias !== null) computed['grad_bias'] = bias.grad!;
  return computed;
}

/** Adapters of this family, by fixture op name. */
export const adapters: Record<string, ParityAdapter> = {
  conv2d: (c) => convCase(c, false),
  conv_transpose2d: (c) => convCase(c, true),
};
