#!/usr/bin/env python3
"""torchvision's state-dict keys and shapes for the backbones lib/nn rebuilds, so that a test can
check that every key name and shape matches without Python: resnet18, resnet50 (classifiers, BatchNorm)
and the backbone of maskrcnn_resnet50_fpn (FrozenBatchNorm2d body + FPN 256 with LastLevelMaxPool),
with which parameters torchvision leaves trainable for trainable_backbone_layers 0, 3 and 5.

Usage: /usr/bin/python3 tools/oracle/model_keys.py OUT.json
"""
import json
import sys

import torch
import torchvision
from torchvision.models.detection import maskrcnn_resnet50_fpn


def keys(module):
    return [[k, list(v.shape)] for k, v in module.state_dict().items()]


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    out = {
        'torch_version': torch.__version__,
        'torchvision_version': torchvision.__version__,
        'resnet18': keys(torchvision.models.resnet18()),
        'resnet50': keys(torchvision.models.resnet50()),
    }
    for layers in (0, 3, 5):
        # weights_backbone=None with an explicit trainable count; torchvision then uses BatchNorm2d,
        # so pass FrozenBatchNorm2d as the detection default with pretrained weights does.
        from torchvision.models.detection.backbone_utils import _resnet_fpn_extractor
        from torchvision.ops import misc as misc_nn_ops
        body = torchvision.models.resnet50(norm_layer=misc_nn_ops.FrozenBatchNorm2d)
        backbone = _resnet_fpn_extractor(body, layers)
        if layers == 3:
            out['maskrcnn_resnet50_fpn_backbone'] = keys(backbone)
            # and the same names through the full detector
            model = maskrcnn_resnet50_fpn(weights=None, weights_backbone=None, num_classes=91)
            out['maskrcnn_resnet50_fpn_backbone_in_model'] = [k for k in model.state_dict() if k.startswith('backbone.')]
        out[f'trainable_{layers}'] = [k for k, p in backbone.named_parameters() if p.requires_grad]
    with open(sys.argv[1], 'w') as f:
        json.dump(out, f, separators=(',', ':'))
        f.write('\n')
    print(f'model_keys: wrote {sys.argv[1]}')


if __name__ == '__main__':
    main()
