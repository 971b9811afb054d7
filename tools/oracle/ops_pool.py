"""Golden cases for max_pool2d, interpolate_nearest and interpolate_bilinear
(torch.nn.functional.max_pool2d / interpolate, torch 1.13 CPU kernels)."""
import torch
import torch.nn.functional as F

from oracle_common import grad_case


def _pair(v):
    return list(v) if isinstance(v, (list, tuple)) else [v, v]


def max_pool_cases(gen):
    specs = [
        # name, input shape, kernel, stride, padding, notes
        ('resnet_stem_3x3_s2_p1', (2, 3, 8, 8), 3, 2, 1, 'ResNet stem: 3x3, stride 2, padding 1'),
        ('k2_s2', (1, 2, 6, 6), 2, 2, 0, None),
        ('fpn_p6_k1_s2', (1, 3, 5, 7), 1, 2, 0, "FPN's P6 (LastLevelMaxPool): plain stride-2 subsampling"),
        ('non_square', (1, 2, 7, 6), (3, 2), (2, 1), (1, 0), None),
        ('odd_sizes_k3_s2', (2, 2, 7, 9), 3, 2, 0, None),
        ('ties_3x3_s1_p1', (1, 2, 5, 6), 3, 1, 1, 'integer-valued input: many ties, the first maximum in row-major order wins'),
    ]
    out = []
    for name, shape, k, s, p, notes in specs:
        x = torch.randn(shape, generator=gen)
        if name.startswith('ties'):
            x = torch.randint(0, 3, shape, generator=gen).float()
        params = {'kernel_size': _pair(k), 'stride': _pair(s), 'padding': _pair(p), 'dilation': [1, 1], 'ceil_mode': False}
        out.append(grad_case(name, params,
                             lambda input, k=k, s=s, p=p: F.max_pool2d(input, k, s, p),
                             {'input': x}, ['input'], gen, notes))
    return out


def interpolate_cases(gen, mode, specs):
    out = []
    for name, shape, size, scale_factor, recompute, notes in specs:
        x = torch.randn(shape, generator=gen)
        kwargs = {'size': size, 'scale_factor': scale_factor, 'mode': mode, 'recompute_scale_factor': recompute}
        if mode == 'bilinear':
            kwargs['align_corners'] = False
        params = {'mode': mode, 'size': _pair(size) if size is not None else None,
                  'scale_factor': _pair(scale_factor) if scale_factor is not None else None,
                  'recompute_scale_factor': recompute}
        if mode == 'bilinear':
            params['align_corners'] = False
        out.append(grad_case(name, params, lambda input, kw=kwargs: F.interpolate(input, **kw),
                             {'input': x}, ['input'], gen, notes))
    return out


def transform_scale(h, w, min_size, max_size):
    """The scale torchvision's GeneralizedRCNNTransform passes (float32 min, then .item())."""
    size = torch.tensor([h, w], dtype=torch.float32)
    scale = torch.min(min_size / torch.min(size), max_size / torch.max(size))
    return scale.item()


def cases(gen):
    nearest = [
        # name, input shape, size, scale_factor, recompute_scale_factor, notes
        ('fpn_2x_by_size', (1, 2, 4, 5), (8, 10), None, None, "FPN's top-down upsampling: size = the lateral map's"),
        ('2x_by_scale_factor', (1, 2, 3, 4), None, 2.0, None, None),
        ('downsample_by_size', (1, 2, 9, 8), (4, 3), None, None, None),
        ('14_to_46_quirk', (1, 1, 14, 5), (46, 7), None, None,
         'float32 scale 14/46: output row 23 reads row 6, not floor(23*14/46) = 7'),
        ('scale_factor_1_7', (1, 2, 5, 6), None, 1.7, None, 'the kernel uses 1/1.7, not in/out'),
        ('scale_factor_1_7_recompute', (1, 2, 5, 6), None, 1.7, True, 'recompute_scale_factor: the kernel uses in/out'),
        ('different_hw_scale_factor', (1, 2, 6, 4), None, (1.5, 0.5), None, None),
        ('scale_factor_2_1_on_5', (1, 1, 5, 4), None, (2.1, 1.3), None,
         'output 10 = 2 x 5: PyTorch then uses dst >> 1, not floor(dst / 2.1) (nearest_idx). One channel on '
         'purpose: torch 1.13 takes this shortcut in its backward and in its forward for channels-last-'
         'contiguous inputs (C = 1), not in its forward for C > 1'),
    ]
    bilinear = [
        ('up_2x_by_size', (1, 2, 4, 5), (8, 10), None, None, None),
        ('down_by_size', (1, 2, 9, 8), (4, 5), None, None, None),
        ('scale_factor_1_3_recompute', (1, 3, 7, 9), None, 1.3, True, 'as the transform: output floor(in*s), kernel scale in/out'),
        ('scale_factor_1_3', (1, 3, 7, 9), None, 1.3, None, 'kernel scale 1/1.3'),
        ('non_integer_ratio_14_to_46', (1, 1, 14, 5), (46, 13), None, None, None),
        ('one_pixel_input', (1, 2, 1, 1), (3, 4), None, None, 'a 1x1 input: both source indices are 0'),
        ('transform_like_scale', (1, 3, 10, 13), None, transform_scale(10, 13, 16, 20), True,
         "GeneralizedRCNNTransform's resize: scale = min(16/10, 20/13) in float32, recompute_scale_factor=True"),
    ]
    return {
        'max_pool2d': max_pool_cases(gen),
        'interpolate_nearest': interpolate_cases(gen, 'nearest', nearest),
        'interpolate_bilinear': interpolate_cases(gen, 'bilinear', bilinear),
    }
