/**
 * Parity adapter for `frozen_batch_norm`.
 */
import type { OracleCase, ParityAdapter } from '../harness.js';
import { fromJson } from '../harness.js';
import { frozenBatchNorm2d } from '../../../lib/ops/index.js';

function frozenBatchNorm(c: OracleCase) {
  const input = fromJson(c.inputs['input']!).requiresGrad_();
  const [w, b, m, v] = ['weight', 'bias', 'running_mean', 'running_var'].map((k) => fromJson(c.inputs[k]!)) as [
    ReturnType<typeof fromJson>,
    ReturnType<typeof fromJson>,
    ReturnType<typeof fromJson>,
    ReturnType<typeof fromJson>,
  ];
  const output = frozenBatchNorm2d(input, w, b, m, v, { eps: c.params['eps'] as number });
  output.backward(fromJson(c.inputs['grad_output']!));
  return { output, grad_input: input.grad! };
}

/** Adapters of this family, by fixture op name. */
export const adapters: Record<string, ParityAdapter> = { frozen_batch_norm: frozenBatchNorm };
