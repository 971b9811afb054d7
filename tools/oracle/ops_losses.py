"""Golden cases for the losses (fixture op `losses`): torch.nn.functional.binary_cross_entropy_with_logits,
cross_entropy and smooth_l1_loss, as Mask R-CNN uses them (RPN objectness and mask loss; classifier;
box regression with beta 1/9). The loss is named by the case name's prefix."""
import torch
import torch.nn.functional as F

from oracle_common import grad_case


def cases(gen):
    out = []

    def bce(name, reduction, shape, scale=3.0, weight=False):
        inputs = {
            'input': torch.randn(shape, generator=gen) * scale,
            'target': torch.rand(shape, generator=gen),
        }
        if weight:
            inputs['weight'] = torch.rand(shape, generator=gen) + 0.5
        params = {'reduction': reduction}

        def fn(input, target, weight=None):
            return F.binary_cross_entropy_with_logits(input, target, weight=weight, reduction=reduction)
        out.append(grad_case('bce_with_logits_' + name, params, fn, inputs, ['input'], gen))

    bce('mean', 'mean', (4, 7))
    bce('sum_large_logits', 'sum', (3, 5), scale=40.0)  # exp(40) would overflow a naive form in float32
    bce('none_mask_like', 'none', (2, 1, 6, 6))
    bce('mean_weighted', 'mean', (3, 4), weight=True)

    def ce(name, reduction, n, c, extra=(), ignore=False):
        logits = torch.randn((n, c) + extra, generator=gen) * 2
        target = torch.randint(0, c, (n,) + extra, generator=gen)
        params = {'reduction': reduction, 'ignore_index': -100}
        if ignore:
            target.view(-1)[::3] = -100
        fn = lambda input, target: F.cross_entropy(input, target, reduction=reduction, ignore_index=-100)  # noqa: E731
        out.append(grad_case('cross_entropy_' + name, params, fn, {'input': logits, 'target': target}, ['input'], gen))

    ce('mean', 'mean', 8, 5)
    ce('sum', 'sum', 6, 4)
    ce('none_spatial', 'none', 2, 3, extra=(3, 2))
    ce('mean_ignore_index', 'mean', 9, 4, ignore=True)

    def sl1(name, reduction, beta, shape):
        inputs = {'input': torch.randn(shape, generator=gen), 'target': torch.randn(shape, generator=gen)}
        # Some exact ties and some errors just inside / outside beta.
        inputs['target'].view(-1)[0] = inputs['input'].view(-1)[0]
        fn = lambda input, target: F.smooth_l1_loss(input, target, reduction=reduction, beta=beta)  # noqa: E731
        out.append(grad_case('smooth_l1_' + name, {'reduction': reduction, 'beta': beta}, fn, inputs, ['input'], gen))

    sl1('beta_1_9_sum', 'sum', 1.0 / 9.0, (10, 4))
    sl1('beta_1_mean', 'mean', 1.0, (5, 4))
    sl1('beta_0_none', 'none', 0.0, (3, 4))
    return {'losses': out}
