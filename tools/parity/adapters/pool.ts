/**
 * Parity adapters for the pool family of ops: `max_pool2d`, `interpolate_nearest`,
 * `interpolate_bilinear` (fixtures from tools/oracle/ops_pool.py).
 */
import type { OracleCase, ParityAdapter } from '../harness.js';
import { fromJson } from '../harness.js';
import { interpolate, maxPool2d, type InterpolateMode } from '../../../lib/ops/index.js';

type Pair = [number, number];

function maxPool(c: OracleCase) {
  const p = c.params as { kernel_size: Pair; stride: Pair; padding: Pair; dilation: Pair; ceil_mode: boolean };
  if (p.dilation.some((d) => d !== 1) || p.ceil_mode) throw new Error('max_pool2d: only dilation 1 and ceil_mode false are implemented');
  const input = fromJson(c.inputs['input']!).requiresGrad_();
  const output = maxPool2d(input, { kernelSize: p.kernel_size, stride: p.stride, padding: p.padding });
  output.backward(fromJson(c.inputs['grad_output']!));
  return { output, grad_input: input.grad! };
}

function resize(c: OracleCase) {
  const p = c.params as { mode: InterpolateMode; size: Pair | null; scale_factor: Pair | null; recompute_scale_factor?: boolean | null; align_corners?: boolean };
  if (p.align_corners) throw new Error('interpolate: align_corners true is not implemented');
  const input = fromJson(c.inputs['input']!).requiresGrad_();
  const output = interpolate(input, {
    mode: p.mode,
    ...(p.size !== null ? { size: p.size } : {}),
    ...(p.scale_factor !== null ? { scaleFactor: p.scale_factor } : {}),
    ...(p.recompute_scale_factor ? { recomputeScaleFactor: true } : {}),
  });
  output.backward(fromJson(c.inputs['grad_output']!));
  return { output, grad_input: input.grad! };
}

/** Adapters of this family, by fixture op name. */
export const adapters: Record<string, ParityAdapter> = {
  max_pool2d: maxPool,
  interpolate_nearest: resize,
  interpolate_bilinear: resize,
};
