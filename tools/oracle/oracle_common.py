"""Shared helpers for the project's golden-fixture generators (format: ../../shared/oracle/SPEC.md,
"maskrcnn-oracle-ops/1").

A case is a dict {name, params, inputs: {name: tensor}, outputs: {name: tensor}, notes?}; tensors
are written as {shape, dtype, data} with data flat and row-major, float32 values as the shortest
decimal that round-trips to the same float32.
"""
import numpy as np
import torch

FORMAT = 'maskrcnn-oracle-ops/1'


def tensor_json(t):
    """A torch tensor as the fixture's JSON object (float32, int64 or bool)."""
    t = t.detach().cpu().contiguous()
    if t.dtype == torch.bool:
        return {'shape': list(t.shape), 'dtype': 'bool', 'data': [bool(v) for v in t.flatten().tolist()]}
    if t.dtype in (torch.int64, torch.int32):
        return {'shape': list(t.shape), 'dtype': 'int64', 'data': [int(v) for v in t.flatten().tolist()]}
    values = t.to(torch.float32).flatten().numpy()
    return {'shape': list(t.shape), 'dtype': 'float32', 'data': [Float32(v) for v in values]}


class Float32(float):
    """A float32 value that JSON-encodes as its shortest round-tripping decimal."""

    def __new__(cls, value):
        obj = super().__new__(cls, float(value))
        obj.text = np.format_float_positional(np.float32(value), unique=True, trim='-') \
            if np.isfinite(value) and (value == 0 or 1e-4 <= abs(value) < 1e16) \
            else np.format_float_scientific(np.float32(value), unique=True, trim='-')
        return obj

    def __repr__(self):
        return self.text


def grad_case(name, params, fn, inputs, differentiable, gen, notes=None):
    """Runs `fn(**inputs)`, draws a seeded `grad_output`, and records the output and
    `grad_<name>` = dL/d(input) for every input in `differentiable`, with L = sum(output * grad_output)."""
    leaves = {k: (v.detach().clone().requires_grad_(k in differentiable) if v.is_floating_point() else v)
              for k, v in inputs.items()}
    output = fn(**leaves)
    grad_output = torch.randn(output.shape, generator=gen, dtype=torch.float32)
    wanted = [leaves[k] for k in differentiable]
    grads = torch.autograd.grad((output * grad_output).sum(), wanted, allow_unused=True) if output.numel() else [None] * len(wanted)
    case = {
        'name': name,
        'params': params,
        'inputs': {**{k: tensor_json(v) for k, v in inputs.items()}, 'grad_output': tensor_json(grad_output)},
        'outputs': {'output': tensor_json(output)},
    }
    for k, g in zip(differentiable, grads):
        case['outputs']['grad_' + k] = tensor_json(g if g is not None else torch.zeros_like(inputs[k]))
    if notes:
        case['notes'] = notes
    return case
