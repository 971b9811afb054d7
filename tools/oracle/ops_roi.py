"""Golden cases for roi_align and roi_pool (torchvision.ops), schema in shared/oracle/SPEC.md.

Every case draws its RoIs by kind (`params.roi_kinds`, one label per RoI):
  normal   inside the map, a few cells wide
  large    covering (nearly) the whole map, a little beyond it
  partial  crossing the map's border
  tiny     smaller than one cell
  zero     x1 == x2 and y1 == y2
  outside  entirely more than one cell beyond the map
  reversed x2 < x1 and y2 < y1 (roi_pool only: torchvision treats it as a 1x1 region)
  tie      coordinates whose scaled value is exactly k + 0.5, some negative (roi_pool only: C round
           goes away from zero, JS Math.round does not)
The RoIs are drawn in feature-map cells and divided by spatial_scale, so they are image
coordinates as the ops expect. Shapes stay small so that each op's files stay well under 200 KB.
"""
import torch
from torchvision.ops import roi_align, roi_pool

from oracle_common import grad_case

SCALES = [1.0, 0.5, 0.25, 0.125, 0.0625]


def _u(gen, lo, hi):
    return lo + (hi - lo) * torch.rand((), generator=gen).item()


def _box(gen, kind, H, W):
    """One box (x1, y1, x2, y2) in feature-map cells."""
    def axis(size):
        if kind == 'normal':
            a = _u(gen, 0.2, size - 2.5)
            return a, _u(gen, a + 1.2, size - 0.2)
        if kind == 'large':
            return _u(gen, -0.9, 0.4), _u(gen, size - 0.4, size + 0.9)
        if kind == 'partial':
            if torch.rand((), generator=gen).item() < 0.5:
                return _u(gen, -2.5, -0.3), _u(gen, 0.8, 2.5)
            return _u(gen, size - 2.5, size - 0.8), _u(gen, size + 0.3, size + 2.5)
        if kind == 'tiny':
            a = _u(gen, 0.3, size - 1.5)
            return a, a + _u(gen, 0.1, 0.8)
        if kind == 'zero':
            a = _u(gen, 0.3, size - 1.3)
            return a, a
        if kind == 'outside':
            if torch.rand((), generator=gen).item() < 0.5:
                a = _u(gen, -6.0, -4.0)
                return a, _u(gen, a + 0.5, -2.2)
            a = _u(gen, size + 2.2, size + 4.0)
            return a, a + _u(gen, 0.5, 2.0)
        if kind == 'reversed':
            a = _u(gen, 1.5, size - 0.5)
            return a, _u(gen, 0.2, a - 1.0)
        raise ValueError(kind)
    x1, x2 = axis(W)
    y1, y2 = axis(H)
    return [x1, y1, x2, y2]


def _rois(gen, kinds, N, H, W, scale):
    rows = []
    for kind in kinds:
        b = int(torch.randint(0, N, (), generator=gen).item())
        rows.append([float(b)] + [v / scale for v in _box(gen, kind, H, W)])
    return torch.tensor(rows, dtype=torch.float32)


ALL_KINDS = ['normal', 'large', 'partial', 'tiny', 'zero', 'outside']


def _align_cases(gen):
    out = []
    combos = [(s, sr, al) for s in (2, 7, 14) for sr in (0, 1, 2) for al in (False, True)]
    combos.append(((3, 5), 2, False))
    for i, (size, sr, aligned) in enumerate(combos):
        PH, PW = (size, size) if isinstance(size, int) else size
        scale = SCALES[i % len(SCALES)]
        # Fewer RoIs and channels for the big outputs, so the files stay small; the kinds rotate
        # so that every kind meets every output size.
        if PH * PW >= 196:
            C, n_rois = 1, 2
        elif PH * PW >= 15:
            C, n_rois = 1, 4
        else:
            C, n_rois = 2, 6
        kinds = [ALL_KINDS[(i + j) % len(ALL_KINDS)] for j in range(n_rois)]
        N, H, W = 2, 6 + i % 3, 7 + i % 4
        inputs = {'input': torch.randn(N, C, H, W, generator=gen), 'rois': _rois(gen, kinds, N, H, W, scale)}
        params = {'output_size': [PH, PW], 'spatial_scale': scale, 'sampling_ratio': sr, 'aligned': aligned, 'roi_kinds': kinds}
        name = f'out{PH}x{PW}_sr{sr}_{"aligned" if aligned else "legacy"}_scale{int(round(1 / scale))}'
        out.append(grad_case(
            name, params,
            lambda input, rois: roi_align(input, rois, (PH, PW), spatial_scale=scale, sampling_ratio=sr, aligned=aligned),
            inputs, ['input'], gen))
    return out


def _tie_rois(scale):
    """Boxes whose scaled coordinates are exactly k + 0.5 (including -0.5 and -1.5)."""
    cells = [[0, -0.5, 0.5, 2.5, 3.5], [1, 1.5, -1.5, 4.5, 2.5], [0, 2.5, 1.5, 3.5, 5.5], [1, -0.5, -0.5, 0.5, 0.5]]
    return torch.tensor([[r[0]] + [v / scale for v in r[1:]] for r in cells], dtype=torch.float32)


def _pool_cases(gen):
    out = []

    def case(name, size, scale, kinds, N, C, H, W, rois=None, input=None, notes=None):
        PH, PW = (size, size) if isinstance(size, int) else size
        if input is None:
            input = torch.randn(N, C, H, W, generator=gen)
        if rois is None:
            rois = _rois(gen, kinds, N, H, W, scale)
        params = {'output_size': [PH, PW], 'spatial_scale': scale, 'roi_kinds': kinds}
        out.append(grad_case(name, params, lambda input, rois: roi_pool(input, rois, (PH, PW), spatial_scale=scale),
                             {'input': input, 'rois': rois}, ['input'], gen, notes))

    case('out2_scale1', 2, 1.0, ALL_KINDS, 2, 2, 6, 7)
    case('out7_scale2', 7, 0.5, ['normal', 'large', 'tiny'], 2, 1, 7, 8)
    case('out3x5_scale4', (3, 5), 0.25, ['normal', 'partial', 'large', 'zero'], 1, 2, 6, 9)
    case('rounding_ties_scale16', 3, 0.0625, ['tie'] * 4, 2, 1, 6, 6, rois=_tie_rois(0.0625),
         notes='scaled coordinates are exactly k + 0.5: C round() goes away from zero (round(-0.5) = -1)')
    case('reversed_box', 2, 1.0, ['reversed', 'normal', 'reversed'], 1, 2, 6, 6,
         notes='x2 < x1: torchvision clamps the width to one cell, a 1x1 region at round(x1, y1)')
    case('empty_bins_scale8', 4, 0.125, ['partial', 'outside', 'partial', 'normal'], 2, 1, 5, 6,
         notes='bins clipped away by the border output 0 and get no gradient')
    # Many equal values: the first maximum in row-major order takes the whole gradient.
    ties = torch.randint(0, 3, (1, 2, 6, 7), generator=gen).to(torch.float32)
    case('value_ties', 3, 1.0, ['normal', 'large', 'partial', 'normal'], 1, 2, 6, 7, input=ties,
         notes='input values in {0, 1, 2}: strict > gives the gradient to the first maximum')
    return out


def cases(gen):
    return {'roi_align': _align_cases(gen), 'roi_pool': _pool_cases(gen)}
