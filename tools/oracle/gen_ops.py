#!/usr/bin/env python3
"""Writes the operator golden fixtures in the format of ../../shared/oracle/SPEC.md.

Usage: /usr/bin/python3 tools/oracle/gen_ops.py SEED OUTDIR [--op NAME ...]

Deterministic in SEED (torch.manual_seed, one thread). Each family module (ops_*.py beside
this file) has `cases(gen)` returning {op: [case, ...]}; the cases of an op are split into files
`OUTDIR/<op>_<NN>.json` of under 200 KB, listed in `OUTDIR/index.json`.
"""
import importlib
import json
import os
import sys

import torch
import torchvision

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from oracle_common import FORMAT, Float32  # noqa: E402

FAMILIES = ['ops_norm', 'ops_conv', 'ops_pool', 'ops_roi', 'ops_losses']
MAX_BYTES = 200_000


def dumps(obj):
    """JSON with float32 values written as their shortest round-tripping decimals."""
    if isinstance(obj, Float32):
        return repr(obj)
    if isinstance(obj, float):
        return json.dumps(obj)
    if isinstance(obj, dict):
        return '{' + ','.join(json.dumps(str(k)) + ':' + dumps(v) for k, v in obj.items()) + '}'
    if isinstance(obj, (list, tuple)):
        return '[' + ','.join(dumps(v) for v in obj) + ']'
    return json.dumps(obj)


def write_atomic(path, text):
    with open(path + '.tmp', 'w') as f:
        f.write(text)
    os.replace(path + '.tmp', path)


def main():
    args = sys.argv[1:]
    if len(args) < 2:
        sys.exit(__doc__)
    seed, outdir = int(args[0]), args[1]
    only = [args[i + 1] for i, a in enumerate(args) if a == '--op']
    torch.manual_seed(seed)
    torch.set_num_threads(1)
    os.makedirs(outdir, exist_ok=True)
    versions = {'torch_version': torch.__version__, 'torchvision_version': torchvision.__version__}
    files = []
    for family in FAMILIES:
        try:
            module = importlib.import_module(family)
        except ModuleNotFoundError:
            print(f'gen_ops: {family}.py not present, skipped', file=sys.stderr)
            continue
        gen = torch.Generator().manual_seed(seed * 1000 + FAMILIES.index(family))
        for op, cases in module.cases(gen).items():
            if only and op not in only:
                continue
            part, chunk = 0, []

            def flush():
                nonlocal part, chunk
                if not chunk:
                    return
                name = f'{op}_{part:02d}.json'
                text = dumps({'format': FORMAT, 'op': op, 'seed': seed, **versions, 'part': part, 'cases': chunk})
                write_atomic(os.path.join(outdir, name), text)
                files.append({'file': name, 'op': op, 'cases': [c['name'] for c in chunk], 'bytes': len(text)})
                part, chunk = part + 1, []

            size = 0
            for case in cases:
                n = len(dumps(case))
                if chunk and size + n > MAX_BYTES:
                    flush()
                    size = 0
                chunk.append(case)
                size += n
            flush()
    index = {'format': FORMAT, 'seed': seed, **versions, 'files': files}
    write_atomic(os.path.join(outdir, 'index.json'), json.dumps(index, indent=1))
    print(f'gen_ops: wrote {sum(len(f["cases"]) for f in files)} cases in {len(files)} files to {outdir}')


if __name__ == '__main__':
    main()
