"""torchvision's side of `npm run bench`'s Mask R-CNN cases: the same detectors, timed in PyTorch.

Called by bench/run.ts (through bench/torch_peer.ts) as

    OMP_NUM_THREADS=n OMP_WAIT_POLICY=PASSIVE /usr/bin/python3 bench/torch_peer.py < request.json

with one JSON request on stdin and one JSON answer on stdout (nothing else is printed there).

Request: {"threads": n, "cases": [case, ...]}, each case
  {"name", "model": "config" | "maskrcnn_resnet50_fpn", "mode": "inference" | "train-step",
   "warmup", "runs", "seed",
   "config": the project's MaskRCNNConfig (camelCase, as lib/maskrcnn/model/config.ts; "config" models),
   "images": [{"height", "width", "data": base64 float32 [3, H, W] in [0, 1]}],
   "targets": [{"boxes": [[x1, y1, x2, y2], ...], "labels": [...], "masks": base64 uint8 [N, H, W]}]
              (train-step only)}
Answer: {"torch", "torchvision", "threads", "cases": [{"name", "parameters", "runMs", "medianMs",
  "stageMs", "losses", "detectionsPerImage", "optimizer"}]}.

A "config" model is built from the project's numbers alone, as tools/twin/twin_shapes.py builds
the shapes twin (flags --fpn-norm bn --head-norm bn): torchvision's ResNet (BasicBlock or
Bottleneck) with the config's stem and stage widths, BatchNorm2d (or FrozenBatchNorm2d for
norm 'frozen'), BackboneWithFPN with LastLevelMaxPool and the config's FPN norm, the anchors,
RPN and RoI numbers, TwoMLPHead, MaskRCNNHeads with the config's mask norm, MaskRCNNPredictor.
"maskrcnn_resnet50_fpn" is torchvision's own builder with random weights (weights=None,
weights_backbone=None) and the config's box score threshold (0 in the benchmark, so the mask
branch runs on the full top-k as in the project's case).

A training step is, as in lib/maskrcnn/train/bench.ts, zero_grad (untimed), forward with targets, the
sum of the losses, backward, and the optimizer's step (the config's optimizer: AdamW with
betas (momentum, 0.999), or SGD with momentum), the same batch every step. Inference is
model.eval() under torch.no_grad().
"""
import base64
import json
import sys
import time

import numpy as np
import torch
from torch import nn
import torchvision
from torchvision.models.detection import MaskRCNN, maskrcnn_resnet50_fpn
from torchvision.models.detection.backbone_utils import BackboneWithFPN
from torchvision.models.detection.faster_rcnn import FastRCNNPredictor, TwoMLPHead
from torchvision.models.detection.mask_rcnn import MaskRCNNHeads, MaskRCNNPredictor
from torchvision.models.detection.rpn import AnchorGenerator, RPNHead
from torchvision.models.resnet import BasicBlock, Bottleneck, ResNet
from torchvision.ops import FrozenBatchNorm2d, MultiScaleRoIAlign
from torchvision.ops.feature_pyramid_network import LastLevelMaxPool


def head_norm(kind):
    if kind == 'none':
        return None
    if kind == 'batch':
        return nn.BatchNorm2d
    raise ValueError(f'unknown head norm {kind!r}')


class ConfigResNet(ResNet):
    """torchvision's ResNet with the config's stem and stage widths (module names as torchvision's)."""

    def __init__(self, block, stem, widths, layers, norm_layer):
        super().__init__(block, list(layers), norm_layer=norm_layer)
        self.inplanes = stem
        self.conv1 = nn.Conv2d(3, stem, kernel_size=7, stride=2, padding=3, bias=False)
        self.bn1 = norm_layer(stem)
        self.layer1 = self._make_layer(block, widths[0], layers[0])
        self.layer2 = self._make_layer(block, widths[1], layers[1], stride=2)
        self.layer3 = self._make_layer(block, widths[2], layers[2], stride=2)
        self.layer4 = self._make_layer(block, widths[3], layers[3], stride=2)
        self.fc = nn.Linear(widths[3] * block.expansion, 1000)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode='fan_out', nonlinearity='relu')
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.constant_(m.weight, 1)
                nn.init.constant_(m.bias, 0)


def build_from_config(c):
    bb, tr, rpn, rh = c['backbone'], c['transform'], c['rpn'], c['roiHeads']
    block = {'basic': BasicBlock, 'bottleneck': Bottleneck}[bb['block']]
    norm = {'batch': nn.BatchNorm2d, 'frozen': FrozenBatchNorm2d}[bb['norm']]
    body = ConfigResNet(block, bb['stemChannels'], bb['widths'], bb['blocksPerStage'], norm)
    trainable = ['layer4', 'layer3', 'layer2', 'layer1', 'conv1'][:bb['trainableLayers']]
    if bb['trainableLayers'] == 5:
        trainable.append('bn1')
    for name, p in body.named_parameters():
        if all(not name.startswith(t) for t in trainable):
            p.requires_grad_(False)
    in_channels = [w * block.expansion for w in bb['widths']]
    fpn = bb['fpnChannels']
    backbone = BackboneWithFPN(body, {'layer1': '0', 'layer2': '1', 'layer3': '2', 'layer4': '3'}, in_channels, fpn,
                               extra_blocks=LastLevelMaxPool(), norm_layer=head_norm(bb['fpnNorm']))
    sizes = tuple(tuple(s) for s in rpn['anchorSizes'])
    ratios = tuple(tuple(r) for r in rpn['aspectRatios'])
    anchors = AnchorGenerator(sizes, ratios)
    names = ['0', '1', '2', '3']
    k = c['numClasses']
    rep = rh['representationSize']
    box_res = rh['boxRoiOutputSize']
    mask_layers = list(rh['maskHeadLayers'])
    model = MaskRCNN(
        backbone, num_classes=None,
        min_size=tr['minSize'], max_size=tr['maxSize'], image_mean=tr['imageMean'], image_std=tr['imageStd'],
        rpn_anchor_generator=anchors,
        rpn_head=RPNHead(fpn, anchors.num_anchors_per_location()[0]),
        rpn_pre_nms_top_n_train=rpn['preNmsTopNTrain'], rpn_pre_nms_top_n_test=rpn['preNmsTopNTest'],
        rpn_post_nms_top_n_train=rpn['postNmsTopNTrain'], rpn_post_nms_top_n_test=rpn['postNmsTopNTest'],
        rpn_nms_thresh=rpn['nmsThresh'], rpn_fg_iou_thresh=rpn['fgIouThresh'], rpn_bg_iou_thresh=rpn['bgIouThresh'],
        rpn_batch_size_per_image=rpn['batchSizePerImage'], rpn_positive_fraction=rpn['positiveFraction'],
        rpn_score_thresh=rpn['scoreThresh'],
        box_roi_pool=MultiScaleRoIAlign(names, box_res, rh['samplingRatio'], canonical_scale=rh['canonicalScale']),
        box_head=TwoMLPHead(fpn * box_res * box_res, rep),
        box_predictor=FastRCNNPredictor(rep, k),
        box_score_thresh=rh['boxScoreThresh'], box_nms_thresh=rh['boxNmsThresh'],
        box_detections_per_img=rh['boxDetectionsPerImg'],
        box_fg_iou_thresh=rh['boxFgIouThresh'], box_bg_iou_thresh=rh['boxBgIouThresh'],
        box_batch_size_per_image=rh['boxBatchSizePerImage'], box_positive_fraction=rh['boxPositiveFraction'],
        bbox_reg_weights=tuple(rh['bboxRegWeights']),
        mask_roi_pool=MultiScaleRoIAlign(names, rh['maskRoiOutputSize'], rh['samplingRatio'], canonical_scale=rh['canonicalScale']),
        mask_head=MaskRCNNHeads(fpn, mask_layers, rh['maskHeadDilation'], norm_layer=head_norm(rh['maskHeadNorm'])),
        mask_predictor=MaskRCNNPredictor(mask_layers[-1], rh['maskDimReduced'], k),
    )
    model.transform.size_divisible = tr['sizeDivisible']
    return model


def build(case):
    if case['model'] == 'maskrcnn_resnet50_fpn':
        c = case.get('config') or {}
        kwargs = {}
        if 'roiHeads' in c:
            kwargs['box_score_thresh'] = c['roiHeads']['boxScoreThresh']
        return maskrcnn_resnet50_fpn(weights=None, weights_backbone=None, **kwargs)
    if case['model'] == 'config':
        return build_from_config(case['config'])
    raise ValueError(f"unknown model {case['model']!r}")


def decode_image(im):
    a = np.frombuffer(base64.b64decode(im['data']), dtype=np.float32)
    return torch.from_numpy(a.copy()).reshape(3, im['height'], im['width'])


def decode_target(t, h, w):
    boxes = torch.tensor(t['boxes'], dtype=torch.float32).reshape(-1, 4)
    n = boxes.shape[0]
    masks = np.frombuffer(base64.b64decode(t['masks']), dtype=np.uint8)
    return {
        'boxes': boxes,
        'labels': torch.tensor(t['labels'], dtype=torch.int64).reshape(n),
        'masks': torch.from_numpy(masks.copy()).reshape(n, h, w),
    }


def make_optimizer(params, o):
    if o['kind'] == 'adamw':
        return torch.optim.AdamW(params, lr=o['lr'], betas=(o['momentum'], 0.999), weight_decay=o['weightDecay']), \
            f"AdamW lr {o['lr']} betas ({o['momentum']}, 0.999) weight decay {o['weightDecay']}"
    if o['kind'] == 'sgd':
        return torch.optim.SGD(params, lr=o['lr'], momentum=o['momentum'], weight_decay=o['weightDecay']), \
            f"SGD lr {o['lr']} momentum {o['momentum']} weight decay {o['weightDecay']}"
    raise ValueError(f"unknown optimizer {o['kind']!r}")


def median(xs):
    s = sorted(xs)
    m = len(s) // 2
    return s[m] if len(s) % 2 else (s[m - 1] + s[m]) / 2


def run_case(case):
    torch.manual_seed(case.get('seed', 0))
    model = build(case)
    images = [decode_image(im) for im in case['images']]
    warmup, runs = case['warmup'], case['runs']
    run_ms, losses, stage_runs, dets, opt_name = [], [], {}, 0.0, None
    if case['mode'] == 'inference':
        model.eval()
        params = sum(p.numel() for p in model.parameters())
        with torch.no_grad():
            for r in range(warmup + runs):
                t0 = time.perf_counter()
                out = model(images)
                ms = (time.perf_counter() - t0) * 1000
                dets = sum(o['boxes'].shape[0] for o in out) / len(out)
                if r >= warmup:
                    run_ms.append(ms)
    elif case['mode'] == 'train-step':
        model.train()
        targets = [decode_target(t, im.shape[1], im.shape[2]) for t, im in zip(case['targets'], images)]
        trainable = [p for p in model.parameters() if p.requires_grad]
        params = sum(p.numel() for p in trainable)
        opt, opt_name = make_optimizer(trainable, case['config']['optimizer'])
        stage_runs = {'forward': [], 'backward': [], 'optimizer.step': []}
        for r in range(warmup + runs):
            opt.zero_grad(set_to_none=True)
            t0 = time.perf_counter()
            loss_dict = model(images, targets)
            t1 = time.perf_counter()
            total = sum(loss_dict.values())
            total.backward()
            t2 = time.perf_counter()
            opt.step()
            t3 = time.perf_counter()
            if r >= warmup:
                run_ms.append((t3 - t0) * 1000)
                losses.append(float(total))
                stage_runs['forward'].append((t1 - t0) * 1000)
                stage_runs['backward'].append((t2 - t1) * 1000)
                stage_runs['optimizer.step'].append((t3 - t2) * 1000)
    else:
        raise ValueError(f"unknown mode {case['mode']!r}")
    return {
        'name': case['name'], 'parameters': params, 'runMs': run_ms, 'medianMs': median(run_ms),
        'stageMs': {k: median(v) for k, v in stage_runs.items()}, 'losses': losses,
        'detectionsPerImage': dets, 'optimizer': opt_name,
    }


def main():
    req = json.load(sys.stdin)
    threads = int(req['threads'])
    torch.set_num_threads(threads)
    out = {'torch': torch.__version__, 'torchvision': torchvision.__version__, 'threads': torch.get_num_threads(), 'cases': []}
    for case in req['cases']:
        out['cases'].append(run_case(case))
    json.dump(out, sys.stdout)
    sys.stdout.write('\n')


if __name__ == '__main__':
    main()
