"""Golden cases for conv2d and conv_transpose2d (torch.nn.functional, which torchvision's
nn.Conv2d / nn.ConvTranspose2d layers call), with the gradients of input, weight and bias.

Schema (SPEC.md): params stride [sh, sw], padding [ph, pw], dilation [dh, dw], groups, bias
(bool) and, for conv_transpose2d, output_padding [oh, ow]; inputs input, weight
([Cout, Cin/groups, kH, kW] for conv2d, [Cin, Cout/groups, kH, kW] for conv_transpose2d), bias
(only if bias), grad_output; outputs output, grad_input, grad_weight, grad_bias (if bias).
Shapes are small so that the files stay small.
"""
import torch
import torch.nn.functional as F

from oracle_common import grad_case


def pair(v):
    return list(v) if isinstance(v, (list, tuple)) else [v, v]


def conv_case(gen, name, n, cin, hw, cout, k, stride=1, padding=0, dilation=1, groups=1, bias=True, notes=None):
    h, w = pair(hw)
    kh, kw = pair(k)
    params = {'stride': pair(stride), 'padding': pair(padding), 'dilation': pair(dilation), 'groups': groups, 'bias': bias}
    inputs = {
        'input': torch.randn(n, cin, h, w, generator=gen),
        'weight': torch.randn(cout, cin // groups, kh, kw, generator=gen) / (cin // groups * kh * kw) ** 0.5,
    }
    if bias:
        inputs['bias'] = torch.randn(cout, generator=gen)

    def fn(input, weight, bias=None, **_):
        return F.conv2d(input, weight, bias, stride=params['stride'], padding=params['padding'],
                        dilation=params['dilation'], groups=groups)

    differentiable = ['input', 'weight'] + (['bias'] if bias else [])
    return grad_case(name, params, fn, inputs, differentiable, gen, notes)


def deconv_case(gen, name, n, cin, hw, cout, k, stride=1, padding=0, output_padding=0, dilation=1, groups=1, bias=True,
                notes=None):
    h, w = pair(hw)
    kh, kw = pair(k)
    params = {'stride': pair(stride), 'padding': pair(padding), 'output_padding': pair(output_padding),
              'dilation': pair(dilation), 'groups': groups, 'bias': bias}
    inputs = {
        'input': torch.randn(n, cin, h, w, generator=gen),
        'weight': torch.randn(cin, cout // groups, kh, kw, generator=gen) / (cin // groups) ** 0.5,
    }
    if bias:
        inputs['bias'] = torch.randn(cout, generator=gen)

    def fn(input, weight, bias=None, **_):
        return F.conv_transpose2d(input, weight, bias, stride=params['stride'], padding=params['padding'],
                                  output_padding=params['output_padding'], groups=groups, dilation=params['dilation'])

    differentiable = ['input', 'weight'] + (['bias'] if bias else [])
    return grad_case(name, params, fn, inputs, differentiable, gen, notes)


def cases(gen):
    conv = [
        conv_case(gen, '1x1', 1, 6, (5, 4), 4, 1, notes='a 1x1 conv (FPN lateral): a per-pixel matrix product'),
        conv_case(gen, '3x3_pad1', 2, 3, 6, 4, 3, padding=1, notes='same-size 3x3 conv'),
        conv_case(gen, 'stem_7x7_s2_p3', 1, 3, 10, 4, 7, stride=2, padding=3, notes="ResNet stem geometry, small"),
        conv_case(gen, '3x3_s2', 1, 4, (7, 8), 5, 3, stride=2, padding=1, notes='stride 2 on odd and even sizes'),
        conv_case(gen, '3x3_dilation2', 1, 3, 9, 4, 3, padding=2, dilation=2, notes='atrous 3x3'),
        conv_case(gen, 'groups2', 1, 4, 6, 6, 3, padding=1, groups=2),
        conv_case(gen, 'depthwise', 1, 5, 6, 5, 3, stride=2, padding=1, groups=5, notes='groups = C_in = C_out'),
        conv_case(gen, 'no_bias', 2, 3, 5, 4, 3, bias=False),
        conv_case(gen, 'non_square', 1, 3, (7, 9), 4, (3, 2), stride=(2, 1), padding=(1, 0), dilation=(1, 2),
                  notes='non-square kernel, stride, padding and dilation'),
        conv_case(gen, 'odd_sizes_valid', 3, 2, (5, 7), 3, (5, 3), stride=(1, 2), notes='no padding, kernel as tall as the input'),
    ]
    deconv = [
        deconv_case(gen, 'mask_head_2x2_s2', 1, 8, 7, 4, 2, stride=2,
                    notes='the mask head deconv (256 -> 256, 14x14 -> 28x28) scaled down: 8 -> 4, 7x7 -> 14x14'),
        deconv_case(gen, '3x3_s2_p1_op1', 1, 4, (5, 4), 3, 3, stride=2, padding=1, output_padding=1),
        deconv_case(gen, '3x3_s1_p1', 2, 3, 5, 4, 3, padding=1, notes='stride 1: the same as a conv with the flipped kernel'),
        deconv_case(gen, 'dilation2', 1, 3, 4, 2, 3, stride=2, dilation=2, padding=1, output_padding=1),
        deconv_case(gen, 'groups2', 1, 4, 4, 6, 3, stride=2, padding=1, groups=2),
        deconv_case(gen, 'no_bias', 1, 3, 4, 3, 2, stride=2, bias=False),
        deconv_case(gen, 'non_square_op_dilation', 1, 2, (3, 4), 3, (3, 2), stride=(2, 1), padding=(0, 1),
                    dilation=(1, 3), output_padding=(1, 2), notes='output_padding 2 allowed by dilation 3 > stride 1'),
    ]
    return {'conv2d': conv, 'conv_transpose2d': deconv}
