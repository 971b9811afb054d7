/**
 * Parity adapter for `losses` (binary cross-entropy with logits, cross-entropy, smooth L1): the
 * case name's prefix says which loss.
 */
import type { OracleCase, ParityAdapter } from '../harness.js';
import { fromJson } from '../harness.js';
import { binaryCrossEntropyWithLogits, crossEntropy, smoothL1, type Reduction } from '../../../lib/nn/index.js';

function losses(c: OracleCase) {
  const input = fromJson(c.inputs['input']!).requiresGrad_();
  const target = fromJson(c.inputs['target']!);
  const reduction = c.params['reduction'] as Reduction;
  let output;
  if (c.name.startsWith('bce_with_logits_')) {
    const weight = c.inputs['weight'] === undefined ? undefined : fromJson(c.inputs['weight']);
    output = binaryCrossEntropyWithLogits(input, target, { reduction, ...(weight === undefined ? {} : { weight }) });
  } else if (c.name.startsWith('cross_entropy_')) {
    output = crossEntropy(input, target, { reduction, ignoreIndex: (c.params['ignore_index'] as number | undefined) ?? -100 });
  } else if (c.name.startsWith('smooth_l1_')) {
    output = smoothL1(input, target, { reduction, beta: c.params['beta'] as number });
  } else {
    throw new Error(`losses: unknown case prefix in '${c.name}'`);
  }
  output.backward(fromJson(c.inputs['grad_output']!));
  return { output, grad_input: input.grad! };
}

/** Adapters of this family, by fixture op name. */
export const adapters: Record<string, ParityAdapter> = { losses };
