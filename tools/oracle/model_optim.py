#!/usr/bin/env python3
"""Golden values for lib/nn's optimisers: SGD (momentum, dampening, Nesterov, weight decay), Adam
(weight decay, AMSGrad), AdamW and clip_grad_norm_, as torch 1.13 computes them (single-tensor path).

Usage: /usr/bin/python3 tools/oracle/model_optim.py OUT.json

Each case starts from a seeded parameter, applies a few steps with seeded gradients (set directly,
so only the update rule is tested), and records the parameter after every step.
"""
import json
import sys

import torch


def values(t):
    return [float(v) for v in t.detach().flatten().tolist()]


def run(name, make, steps=4, shape=(3, 4), seed=0):
    gen = torch.Generator().manual_seed(seed)
    p = torch.nn.Parameter(torch.randn(shape, generator=gen))
    start = values(p)
    opt = make([p])
    grads, after = [], []
    for _ in range(steps):
        g = torch.randn(shape, generator=gen)
        p.grad = g.clone()
        grads.append(values(g))
        opt.step()
        after.append(values(p))
    return {'name': name, 'shape': list(shape), 'param': start, 'grads': grads, 'after': after}


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    torch.set_num_threads(1)
    kw = {'foreach': False}
    cases = [
        ('sgd_plain', {'type': 'SGD', 'lr': 0.1}, lambda ps: torch.optim.SGD(ps, lr=0.1, **kw)),
        ('sgd_momentum_wd_dampening', {'type': 'SGD', 'lr': 0.02, 'momentum': 0.9, 'weightDecay': 1e-2, 'dampening': 0.1},
         lambda ps: torch.optim.SGD(ps, lr=0.02, momentum=0.9, weight_decay=1e-2, dampening=0.1, **kw)),
        ('sgd_nesterov', {'type': 'SGD', 'lr': 0.05, 'momentum': 0.9, 'nesterov': True, 'weightDecay': 1e-4},
         lambda ps: torch.optim.SGD(ps, lr=0.05, momentum=0.9, nesterov=True, weight_decay=1e-4, **kw)),
        ('adam_default_lr_1e-2', {'type': 'Adam', 'lr': 0.01}, lambda ps: torch.optim.Adam(ps, lr=0.01, **kw)),
        ('adam_wd_amsgrad', {'type': 'Adam', 'lr': 0.003, 'betas': [0.8, 0.99], 'eps': 1e-6, 'weightDecay': 0.1, 'amsgrad': True},
         lambda ps: torch.optim.Adam(ps, lr=0.003, betas=(0.8, 0.99), eps=1e-6, weight_decay=0.1, amsgrad=True, **kw)),
        ('adamw_default_wd', {'type': 'AdamW', 'lr': 0.01}, lambda ps: torch.optim.AdamW(ps, lr=0.01, **kw)),
        ('adamw_amsgrad', {'type': 'AdamW', 'lr': 0.02, 'weightDecay': 0.05, 'amsgrad': True},
         lambda ps: torch.optim.AdamW(ps, lr=0.02, weight_decay=0.05, amsgrad=True, **kw)),
    ]
    out = {'torch_version': torch.__version__, 'cases': []}
    for i, (name, options, make) in enumerate(cases):
        case = run(name, make, seed=i)
        case['options'] = options
        out['cases'].append(case)
    # clip_grad_norm_: two gradients, total 2-norm, clipped and not clipped.
    gen = torch.Generator().manual_seed(100)
    clips = []
    for max_norm in (1.0, 100.0):
        a = torch.nn.Parameter(torch.zeros(2, 3))
        b = torch.nn.Parameter(torch.zeros(4))
        a.grad = torch.randn(2, 3, generator=gen) * 2
        b.grad = torch.randn(4, generator=gen) * 2
        before = [values(a.grad), values(b.grad)]
        total = torch.nn.utils.clip_grad_norm_([a, b], max_norm)
        clips.append({'max_norm': max_norm, 'grads': before, 'total_norm': float(total), 'clipped': [values(a.grad), values(b.grad)]})
    out['clip_grad_norm'] = clips
    with open(sys.argv[1], 'w') as f:
        json.dump(out, f, indent=1)
        f.write('\n')
    print(f'model_optim: wrote {len(out["cases"])} optimiser cases and {len(clips)} clip cases to {sys.argv[1]}')


if __name__ == '__main__':
    main()
