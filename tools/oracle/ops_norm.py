"""Golden cases for frozen_batch_norm (torchvision.ops.FrozenBatchNorm2d)."""
import torch
from torchvision.ops.misc import FrozenBatchNorm2d

from oracle_common import grad_case


def cases(gen):
    out = []
    for name, (n, c, h, w) in {'basic': (2, 3, 5, 4), 'one_pixel': (1, 8, 1, 1)}.items():
        bn = FrozenBatchNorm2d(c, eps=1e-5)
        bn.weight.copy_(torch.randn(c, generator=gen))
        bn.bias.copy_(torch.randn(c, generator=gen))
        bn.running_mean.copy_(torch.randn(c, generator=gen))
        bn.running_var.copy_(torch.rand(c, generator=gen) + 0.1)
        inputs = {
            'input': torch.randn(n, c, h, w, generator=gen),
            'weight': bn.weight.clone(), 'bias': bn.bias.clone(),
            'running_mean': bn.running_mean.clone(), 'running_var': bn.running_var.clone(),
        }
        out.append(grad_case(name, {'eps': 1e-5}, lambda input, **_: bn(input), inputs, ['input'], gen))
    return {'frozen_batch_norm': out}
