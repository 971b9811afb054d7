#!/usr/bin/env python3
"""Golden fixtures for lib/tensor: PyTorch's forward values and gradients for a set of ops.

Usage: /usr/bin/python3 tools/oracle/gen_tensor_ops.py SEED OUT.json

Each case names an expression that test/tensor/torch_parity.test.ts writes the same way with
the project's API. Inputs are float64; the fixture stores them, the output, a fixed cotangent
`weight` and the gradient of sum(output * weight) with respect to every input.
"""
import json
import sys

import torch

F = torch.nn.functional

CASES = {
    # name: (input shapes, expression)
    'add_broadcast': ([[2, 3], [3]], lambda a, b: a + b),
    'sub_broadcast_col': ([[2, 3], [2, 1]], lambda a, b: a - b),
    'mul_3d': ([[2, 1, 4], [3, 1]], lambda a, b: a * b),
    'div': ([[2, 3], [3]], lambda a, b: a / (b.abs() + 0.5)),
    'pow_tensor': ([[2, 3], [2, 3]], lambda a, b: (a.abs() + 0.1) ** b),
    'pow_scalar': ([[5]], lambda a: a ** 3),
    'exp_log_sqrt': ([[4]], lambda a: (a.exp() + 1).log() + (a.abs() + 1).sqrt()),
    'sigmoid_tanh_relu': ([[6]], lambda a: a.sigmoid() * a.tanh() + a.relu()),
    'clamp': ([[8]], lambda a: a.clamp(-0.5, 0.7)),
    'maximum_minimum': ([[3, 2], [2]], lambda a, b: torch.maximum(a, b) - torch.minimum(a, b) * 2),
    'where': ([[3, 4], [4]], lambda a, b: torch.where(a > 0, a * 2, b)),
    'sum_dims': ([[2, 3, 4]], lambda a: a.sum(dim=(0, 2), keepdim=True)),
    'mean_dim': ([[2, 3, 4]], lambda a: a.mean(dim=1)),
    'max_dim': ([[3, 5]], lambda a: a.max(dim=1).values),
    'min_dim_keepdim': ([[3, 5]], lambda a: a.min(dim=0, keepdim=True).values),
    'max_all': ([[3, 5]], lambda a: a.max().reshape(1)),
    'softmax': ([[4, 6]], lambda a: torch.softmax(a * 3, dim=1)),
    'log_softmax': ([[4, 6]], lambda a: torch.log_softmax(a * 3, dim=0)),
    'logsumexp': ([[4, 6]], lambda a: torch.logsumexp(a * 5, dim=1)),
    'matmul_2d': ([[3, 4], [4, 5]], lambda a, b: a @ b),
    'matmul_batched_broadcast': ([[2, 1, 3, 4], [3, 4, 2]], lambda a, b: a @ b),
    'matmul_vec': ([[4], [2, 4, 3]], lambda a, b: a @ b),
    'permute': ([[2, 3, 4]], lambda a: a.permute(2, 0, 1) * 1),
    'transpose_reshape': ([[2, 3, 4]], lambda a: a.transpose(0, 2).reshape(4, 6) * 1),
    'expand': ([[3, 1]], lambda a: a.expand(2, 3, 4) * 1),
    'slice_step': ([[4, 7]], lambda a: a[:, 1::2] * 1),
    'narrow': ([[5, 3]], lambda a: a.narrow(0, 1, 3) * 1),
    'cat': ([[2, 3], [2, 2]], lambda a, b: torch.cat([a, b, a], dim=1)),
    'stack': ([[2, 3], [2, 3]], lambda a, b: torch.stack([a, b], dim=1)),
    'pad': ([[2, 3, 4]], lambda a: F.pad(a, (1, 2, 0, 1), value=0.5)),
    'index_select': ([[4, 3]], lambda a: a.index_select(0, torch.tensor([3, 0, 3]))),
    'gather': ([[3, 4]], lambda a: a.gather(1, torch.tensor([[0, 3], [2, 2], [1, 0]]))),
    'scatter_add': ([[3, 4], [2, 4]], lambda a, b: a.scatter_add(0, torch.tensor([[2, 0, 1, 2], [0, 0, 2, 1]]), b)),
    'masked_select': ([[3, 4]], lambda a: a.masked_select(a > 0.2)),
    'sort_desc': ([[3, 6]], lambda a: a.sort(dim=1, descending=True).values),
    'topk': ([[5, 4]], lambda a: a.topk(2, dim=0).values),
    'mlp_layer': ([[4, 3], [3, 5], [5]], lambda x, w, b: torch.log_softmax((x @ w + b).relu(), dim=1)),
}


def main():
    seed, out_path = int(sys.argv[1]), sys.argv[2]
    gen = torch.Generator().manual_seed(seed)
    cases = []
    for name, (shapes, fn) in CASES.items():
        inputs = [torch.randn(*s, generator=gen, dtype=torch.float64).requires_grad_() for s in shapes]
        out = fn(*inputs)
        weight = torch.randn(*out.shape, generator=gen, dtype=torch.float64)
        grads = torch.autograd.grad((out * weight).sum(), inputs)
        cases.append({
            'name': name,
            'inputs': [{'shape': list(t.shape), 'data': t.detach().flatten().tolist()} for t in inputs],
            'output': {'shape': list(out.shape), 'data': out.detach().flatten().tolist()},
            'weight': weight.flatten().tolist(),
            'grads': [g.flatten().tolist() for g in grads],
        })
    meta = {'generator': 'tools/oracle/gen_tensor_ops.py', 'seed': seed, 'torch': torch.__version__}
    with open(out_path + '.tmp', 'w') as f:
        json.dump({'meta': meta, 'cases': cases}, f)
    import os
    os.replace(out_path + '.tmp', out_path)


if __name__ == '__main__':
    main()
