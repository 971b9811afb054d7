"""The torchvision twin of the project's `shapes` preset: a fast lab for training questions.

It builds, in torchvision 0.14, the same detector as `shapesConfig()` in lib/maskrcnn/model/config.ts
(BasicBlock ResNet 16..128 with one block per stage and trainable BatchNorm, FPN 64 on P2..P6,
the preset's anchors and RPN/RoI numbers, a 2-fc box head and a 4-conv mask head), trains it on
the very tensors the project trains on (exported by tools/twin/export_dataset.ts), and writes
COCO results files that the project's evaluator scores (`maskrcnn eval --gt ... --dt ...`,
pycocotools' numbers). Every recipe knob the project has is a flag here, plus the variants being
studied (normalization in the FPN and heads, optimizer, schedule, anchor sizes, sampler sizes),
so a question such as "does GroupNorm in the heads let the learning rate go up?" is answered in
minutes before anything is ported.

usage (Debian's torch; see shared TOOLING):
  node --import tsx tools/twin/export_dataset.ts DATA/train train.safetensors   # once
  node --import tsx tools/twin/export_dataset.ts DATA/val val.safetensors
  OMP_NUM_THREADS=1 /usr/bin/python3 tools/twin/twin_shapes.py --train train.safetensors \
      --val val.safetensors --gt DATA/val/annotations.json --out OUT --iters 3000 --eval-at 1000,2000,3000

It prints one JSON line per evaluation: iteration, seconds of training so far, bbox and segm
AP/AP50/AP75 (the project's evaluator is called through `node bin/maskrcnn.js eval --json`).
"""
import argparse
import json
import math
import os
import struct
import subprocess
import sys
import time

import numpy as np
import torch
from torch import nn
import torchvision
from torchvision.models.detection import MaskRCNN
from torchvision.models.detection.backbone_utils import BackboneWithFPN
from torchvision.models.detection.faster_rcnn import FastRCNNPredictor, TwoMLPHead
from torchvision.models.detection.mask_rcnn import MaskRCNNHeads, MaskRCNNPredictor
from torchvision.models.detection.rpn import AnchorGenerator, RPNHead
from torchvision.models.resnet import BasicBlock
from torchvision.ops import MultiScaleRoIAlign
from torchvision.ops.feature_pyramid_network import LastLevelMaxPool

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, 'bench'))
from torch_peer import ConfigResNet  # noqa: E402  the one torchvision ResNet with the config's widths (bench's torch peer)


def read_safetensors(path):
    with open(path, 'rb') as f:
        n = struct.unpack('<Q', f.read(8))[0]
        header = json.loads(f.read(n))
        data = f.read()
    out = {}
    types = {'F32': np.float32, 'U8': np.uint8, 'I32': np.int32, 'I64': np.int64, 'F16': np.float16}
    for k, v in header.items():
        if k == '__metadata__':
            continue
        a, b = v['data_offsets']
        out[k] = torch.from_numpy(np.frombuffer(data[a:b], dtype=types[v['dtype']]).reshape(v['shape']).copy())
    return out


class ShapesData:
    """The exported tensors, as (image float [3,H,W] in [0,1], target) pairs."""

    def __init__(self, path):
        t = read_safetensors(path)
        self.images = t['images']
        self.ids = t['image_ids'].tolist()
        idx = t['image_index']
        self.targets = []
        for i in range(self.images.shape[0]):
            sel = (idx == i).nonzero().flatten()
            self.targets.append({
                'boxes': t['boxes'][sel].float(),
                'labels': t['labels'][sel].long(),
                'masks': t['masks'][sel],
            })

    def __len__(self):
        return self.images.shape[0]

    def get(self, i, flip=False):
        img = self.images[i].float() / 255.0
        tgt = {k: v.clone() for k, v in self.targets[i].items()}
        if flip:
            w = img.shape[-1]
            img = img.flip(-1)
            tgt['masks'] = tgt['masks'].flip(-1)
            b = tgt['boxes']
            tgt['boxes'] = torch.stack([w - b[:, 2], b[:, 1], w - b[:, 0], b[:, 3]], dim=1)
        return img, tgt


def norm_factory(kind, groups):
    if kind == 'none':
        return None
    if kind == 'gn':
        return lambda c: nn.GroupNorm(min(groups, c), c)
    if kind == 'bn':
        return nn.BatchNorm2d
    raise ValueError(kind)


class ConvFCHead(nn.Sequential):
    """Box head of convolutions: `convs` conv3x3 (+norm) then one fc (torchvision's
    FastRCNNConvFCHead, the "4conv1fc" head of Wu & He); --box-convs 0 keeps the paper's 2-fc head."""

    def __init__(self, c, res, convs, rep, norm):
        layers = []
        for _ in range(convs):
            layers += [nn.Conv2d(c, c, 3, padding=1, bias=norm is None)]
            if norm is not None:
                layers += [norm(c)]
            layers += [nn.ReLU(inplace=True)]
        layers += [nn.Flatten(), nn.Linear(c * res * res, rep), nn.ReLU(inplace=True)]
        super().__init__(*layers)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode='fan_out', nonlinearity='relu')
                if m.bias is not None:
                    nn.init.zeros_(m.bias)


def build_model(a):
    widths = [int(x) for x in a.widths.split(',')]
    body = ConfigResNet(BasicBlock, a.stem, widths, [int(x) for x in a.blocks.split(',')], nn.BatchNorm2d)
    fpn_norm = norm_factory(a.fpn_norm, a.gn_groups)
    head_norm = norm_factory(a.head_norm, a.gn_groups)
    backbone = BackboneWithFPN(body, {'layer1': '0', 'layer2': '1', 'layer3': '2', 'layer4': '3'},
                               widths, a.fpn, extra_blocks=LastLevelMaxPool(), norm_layer=fpn_norm)
    sizes = tuple(tuple(int(x) for x in s.split(':')) for s in a.anchors.split(','))
    ratios = tuple(float(r) for r in a.ratios.split(','))
    anchor_gen = AnchorGenerator(sizes, (ratios,) * len(sizes))
    names = ['0', '1', '2', '3']
    if a.box_convs > 0:
        box_head = ConvFCHead(a.fpn, 7, a.box_convs, a.rep, head_norm)
    else:
        box_head = TwoMLPHead(a.fpn * 49, a.rep)
    mask_layers = [a.mask_dim] * a.mask_convs
    model = MaskRCNN(
        backbone, num_classes=None,
        min_size=a.size, max_size=a.size,
        rpn_anchor_generator=anchor_gen,
        rpn_head=RPNHead(a.fpn, len(ratios) * len(sizes[0])),
        rpn_pre_nms_top_n_train=a.pre_nms_train, rpn_pre_nms_top_n_test=a.pre_nms_test,
        rpn_post_nms_top_n_train=a.post_nms_train, rpn_post_nms_top_n_test=a.post_nms_test,
        rpn_batch_size_per_image=a.rpn_batch,
        box_roi_pool=MultiScaleRoIAlign(names, 7, 2, canonical_scale=a.canonical),
        box_head=box_head,
        box_predictor=FastRCNNPredictor(a.rep, 4),
        box_batch_size_per_image=a.roi_batch, box_positive_fraction=a.roi_pos,
        box_detections_per_img=20,
        mask_roi_pool=MultiScaleRoIAlign(names, 14, 2, canonical_scale=a.canonical),
        mask_head=MaskRCNNHeads(a.fpn, mask_layers, 1, norm_layer=head_norm),
        mask_predictor=MaskRCNNPredictor(a.mask_dim, a.mask_dim, 4),
    )
    return model


def rle_encode(mask):
    """Uncompressed COCO RLE (column-major runs, starting with zeros) of a [H,W] 0/1 array."""
    h, w = mask.shape
    flat = mask.T.reshape(-1).astype(np.uint8)
    changes = np.flatnonzero(np.diff(flat)) + 1
    bounds = np.concatenate([[0], changes, [flat.size]])
    counts = np.diff(bounds).tolist()
    if flat[0] == 1:
        counts = [0] + counts
    return {'size': [int(h), int(w)], 'counts': [int(c) for c in counts]}


@torch.no_grad()
def predict(model, data, batch=10):
    model.eval()
    results = []
    for s in range(0, len(data), batch):
        imgs = [data.get(i)[0] for i in range(s, min(s + batch, len(data)))]
        outs = model(imgs)
        for k, o in enumerate(outs):
            image_id = data.ids[s + k]
            for j in range(o['boxes'].shape[0]):
                x1, y1, x2, y2 = o['boxes'][j].tolist()
                m = (o['masks'][j, 0] > 0.5).numpy()
                results.append({'image_id': image_id, 'category_id': int(o['labels'][j]), 'score': float(o['scores'][j]),
                                'bbox': [x1, y1, x2 - x1, y2 - y1], 'segmentation': rle_encode(m)})
    model.train()
    return results


def evaluate(results, gt, path):
    with open(path, 'w') as f:
        json.dump(results, f)
    out = {}
    for iou in ('bbox', 'segm'):
        if not results:
            out[iou] = [0.0] * 12
            continue
        r = subprocess.run(['node', os.path.join(ROOT, 'bin', 'maskrcnn.js'), 'eval', '--gt', gt, '--dt', path, '--iou-type', iou, '--json'],
                           capture_output=True, text=True, cwd=ROOT)
        if r.returncode != 0:
            raise RuntimeError(r.stderr)
        out[iou] = json.loads(r.stdout)['stats']
    return out


def lr_at(a, it):
    """Learning rate of iteration `it` (0-based): linear warmup from warmup_factor, then step
    decay at the --steps fractions, or cosine to zero."""
    if a.schedule == 'cosine':
        base = a.lr * 0.5 * (1 + math.cos(math.pi * it / a.iters))
    else:
        base = a.lr * (a.gamma ** sum(1 for s in a.steps.split(',') if s and it >= int(float(s) * a.iters)))
    if it < a.warmup:
        f = a.warmup_factor + (1 - a.warmup_factor) * it / a.warmup
        base *= f
    return base


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--train', required=True)
    p.add_argument('--val', required=True)
    p.add_argument('--gt', required=True, help='the validation annotations.json (for the evaluator)')
    p.add_argument('--out', required=True)
    p.add_argument('--iters', type=int, default=750)
    p.add_argument('--eval-at', default='', help='comma-separated iterations to evaluate at (the last is always evaluated)')
    p.add_argument('--seed', type=int, default=0)
    p.add_argument('--batch', type=int, default=2)
    p.add_argument('--opt', default='sgd', choices=['sgd', 'adamw'])
    p.add_argument('--lr', type=float, default=0.01)
    p.add_argument('--momentum', type=float, default=0.9)
    p.add_argument('--wd', type=float, default=1e-4)
    p.add_argument('--warmup', type=int, default=50)
    p.add_argument('--warmup-factor', type=float, default=0.001)
    p.add_argument('--schedule', default='step', choices=['step', 'cosine'])
    p.add_argument('--steps', default='0.8')
    p.add_argument('--gamma', type=float, default=0.1)
    p.add_argument('--clip', type=float, default=0.0)
    p.add_argument('--hflip', type=float, default=0.5)
    p.add_argument('--size', type=int, default=128)
    p.add_argument('--stem', type=int, default=16)
    p.add_argument('--widths', default='16,32,64,128')
    p.add_argument('--blocks', default='1,1,1,1')
    p.add_argument('--fpn', type=int, default=64)
    p.add_argument('--fpn-norm', default='none', choices=['none', 'gn', 'bn'])
    p.add_argument('--head-norm', default='none', choices=['none', 'gn', 'bn'])
    p.add_argument('--gn-groups', type=int, default=16)
    p.add_argument('--box-convs', type=int, default=0)
    p.add_argument('--rep', type=int, default=256)
    p.add_argument('--mask-convs', type=int, default=4)
    p.add_argument('--mask-dim', type=int, default=64)
    p.add_argument('--anchors', default='8,16,32,64,128', help="sizes per level, comma between levels, ':' between the sizes of one level (e.g. 8:11,16:23,...)")
    p.add_argument('--ratios', default='0.5,1,2')
    p.add_argument('--canonical', type=int, default=224)
    p.add_argument('--pre-nms-train', type=int, default=600)
    p.add_argument('--post-nms-train', type=int, default=300)
    p.add_argument('--pre-nms-test', type=int, default=300)
    p.add_argument('--post-nms-test', type=int, default=100)
    p.add_argument('--rpn-batch', type=int, default=128)
    p.add_argument('--roi-batch', type=int, default=64)
    p.add_argument('--roi-pos', type=float, default=0.25)
    a = p.parse_args()

    torch.manual_seed(a.seed)
    a.out = os.path.abspath(a.out)
    a.gt = os.path.abspath(a.gt)
    os.makedirs(a.out, exist_ok=True)
    train, val = ShapesData(a.train), ShapesData(a.val)
    model = build_model(a)
    model.train()
    params = [q for q in model.parameters() if q.requires_grad]
    nparams = sum(q.numel() for q in params)
    if a.opt == 'sgd':
        opt = torch.optim.SGD(params, lr=a.lr, momentum=a.momentum, weight_decay=a.wd)
    else:
        opt = torch.optim.AdamW(params, lr=a.lr, betas=(a.momentum, 0.999), weight_decay=a.wd)
    evals = sorted({int(x) for x in a.eval_at.split(',') if x} | {a.iters})
    g = torch.Generator().manual_seed(a.seed + 1)
    order, pos, epoch = torch.randperm(len(train), generator=g), 0, 0
    print(json.dumps({'type': 'start', 'params': nparams, 'args': vars(a), 'threads': torch.get_num_threads()}), flush=True)
    t_train = 0.0
    losses_acc = {}
    for it in range(a.iters):
        t0 = time.perf_counter()
        lr = lr_at(a, it)
        for group in opt.param_groups:
            group['lr'] = lr
        imgs, tgts = [], []
        for _ in range(a.batch):
            if pos == len(order):
                order, pos, epoch = torch.randperm(len(train), generator=g), 0, epoch + 1
            flip = bool(torch.rand(1, generator=g) < a.hflip)
            im, tg = train.get(int(order[pos]), flip)
            pos += 1
            imgs.append(im)
            tgts.append(tg)
        losses = model(imgs, tgts)
        loss = sum(losses.values())
        if not torch.isfinite(loss):
            print(json.dumps({'type': 'nan', 'iteration': it + 1, 'losses': {k: float(v) for k, v in losses.items()}}), flush=True)
            sys.exit(1)
        opt.zero_grad()
        loss.backward()
        if a.clip > 0:
            torch.nn.utils.clip_grad_norm_(params, a.clip)
        opt.step()
        t_train += time.perf_counter() - t0
        for k, v in losses.items():
            losses_acc[k] = losses_acc.get(k, 0.0) + float(v)
        if (it + 1) % 100 == 0:
            print(json.dumps({'type': 'train', 'iteration': it + 1, 'seconds': round(t_train, 1), 'lr': lr,
                              'losses': {k: round(v / 100, 4) for k, v in losses_acc.items()}}), flush=True)
            losses_acc = {}
        if it + 1 in evals:
            t1 = time.perf_counter()
            res = predict(model, val)
            infer_s = time.perf_counter() - t1
            st = evaluate(res, a.gt, os.path.join(a.out, f'results_{it + 1}.json'))
            print(json.dumps({'type': 'eval', 'iteration': it + 1, 'seconds': round(t_train, 1), 'infer_seconds': round(infer_s, 1),
                              'bbox': [round(x, 3) for x in st['bbox'][:3]], 'segm': [round(x, 3) for x in st['segm'][:3]]}), flush=True)
    torch.save(model.state_dict(), os.path.join(a.out, 'model.pt'))


if __name__ == '__main__':
    main()
