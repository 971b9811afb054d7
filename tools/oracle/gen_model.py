#!/usr/bin/env python3
"""Writes the tiny torchvision Mask R-CNN fixture of ../../shared/oracle/SPEC.md ("Model fixtures").

Usage: /usr/bin/python3 tools/oracle/gen_model.py SEED OUTDIR [--compact]

The model is built from torchvision classes, so every key name and shape is torchvision's:
TinyResNet (torchvision ResNet, BasicBlock [1,1,1,1], stem 16, widths 16/32/64/128,
FrozenBatchNorm2d) + BackboneWithFPN (out 64, LastLevelMaxPool) + the default RPN, RoIAlign 7/14,
TwoMLPHead(64*7*7 -> 128), FastRCNNPredictor(128, 4), MaskRCNNHeads(64, (64,)*4, 1),
MaskRCNNPredictor(64, 64, 4).

Weights: seeded He-normal init (FrozenBN buffers drawn around the identity), then an LSUV-style
calibration on the two test images (each conv/linear rescaled so that its output has a target
std), then the four prediction heads are re-drawn until every discrete decision of the eval runs
is at least MIN_MARGIN away from flipping.

Files: weights.safetensors (the full state_dict, F32), goldens_{random,shapes,batch,train}.safetensors,
model_meta.json (config, keys, calibration and margin-search record, per-run tensor catalogue and
decision margins). With --compact the heaviest golden tensors (RoI features, pasted masks, parameter
gradients of the large layers) are left out and listed in each run's `omitted_tensors`, so that the
fixture can be committed (a few MB).

Deterministic in SEED (torch.manual_seed, one thread).

Golden names are the stages of the model's trace, one typed list in lib/maskrcnn/model/trace.ts
(TRACE_STAGES), plus the fixture-only names of tools/parity/model.ts (FixtureOnlyKey: target.*,
train.transform.image_sizes, loss.total, grad.*); `npm run parity` fails any other name.
"""
import json
import math
import os
import sys
from collections import OrderedDict

import torch
import torch.nn.functional as F
import torchvision
from torch import nn
from torchvision.models.detection import MaskRCNN
from torchvision.models.detection.backbone_utils import BackboneWithFPN
from torchvision.models.detection.faster_rcnn import FastRCNNPredictor, TwoMLPHead
from torchvision.models.detection.mask_rcnn import MaskRCNNHeads, MaskRCNNPredictor
from torchvision.models.detection.roi_heads import expand_boxes, maskrcnn_inference
from torchvision.models.detection.rpn import AnchorGenerator, RPNHead, concat_box_prediction_layers
from torchvision.models.resnet import BasicBlock, ResNet
from torchvision.ops import MultiScaleRoIAlign, box_iou
from torchvision.ops import boxes as box_ops
from torchvision.ops.feature_pyramid_network import LastLevelMaxPool
from torchvision.ops.misc import FrozenBatchNorm2d

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import model_common as mc  # noqa: E402

FORMAT = 'maskrcnn-oracle-model/1'
MIN_MARGIN = 1e-4
MAX_ATTEMPTS = 300

STEM, WIDTHS, BLOCKS = 16, (16, 32, 64, 128), (1, 1, 1, 1)
FPN_OUT, NUM_CLASSES, REPRESENTATION = 64, 4, 128
MASK_LAYERS, MASK_DIM = (64, 64, 64, 64), 64
ANCHOR_SIZES = ((32,), (64,), (128,), (256,), (512,))
ASPECT_RATIOS = ((0.5, 1.0, 2.0),) * 5
CONFIG_KW = dict(
    min_size=128, max_size=160,
    rpn_pre_nms_top_n_train=2000, rpn_pre_nms_top_n_test=100,
    rpn_post_nms_top_n_train=2000, rpn_post_nms_top_n_test=50,
    rpn_nms_thresh=0.7, rpn_fg_iou_thresh=0.7, rpn_bg_iou_thresh=0.3,
    rpn_batch_size_per_image=1000000, rpn_positive_fraction=0.5, rpn_score_thresh=0.0,
    box_score_thresh=0.05, box_nms_thresh=0.5, box_detections_per_img=10,
    box_fg_iou_thresh=0.5, box_bg_iou_thresh=0.5,
    box_batch_size_per_image=1000000, box_positive_fraction=0.25,
)

# Output std each calibrated layer is scaled to (module path -> target); every other conv/linear: 1.
HEAD_TARGETS = {
    'rpn.head.cls_logits': 2.0,
    'rpn.head.bbox_pred': 0.2,
    'roi_heads.box_predictor.cls_score': 1.5,
    'roi_heads.box_predictor.bbox_pred': 1.0,
    'roi_heads.mask_predictor.mask_fcn_logits': 2.0,
}
REDRAWN = ['rpn.head.cls_logits', 'rpn.head.bbox_pred', 'roi_heads.box_predictor.cls_score', 'roi_heads.box_predictor.bbox_pred']

# Heavy tensors: left out of the batch run always (they equal the single-image runs), and out of
# every run with --compact. With --compact the batch run also leaves out every tensor larger than
# COMPACT_MAX_BYTES (they equal the single runs'), and the train run its images (the single runs')
# and the gradients larger than that.
HEAVY = ('roi_heads.box_roi_pool', 'roi_heads.mask_roi_pool', 'roi_heads.mask_head', 'output.masks.')
COMPACT_MAX_BYTES = 32 * 1024


class TinyResNet(ResNet):
    """torchvision's ResNet with a narrow stem and narrow stages (same module names and order)."""

    def __init__(self, stem=STEM, widths=WIDTHS, layers=BLOCKS):
        super().__init__(BasicBlock, list(layers), norm_layer=FrozenBatchNorm2d)
        self.inplanes = stem
        self.conv1 = nn.Conv2d(3, stem, kernel_size=7, stride=2, padding=3, bias=False)
        self.bn1 = FrozenBatchNorm2d(stem)
        self.layer1 = self._make_layer(BasicBlock, widths[0], layers[0])
        self.layer2 = self._make_layer(BasicBlock, widths[1], layers[1], stride=2)
        self.layer3 = self._make_layer(BasicBlock, widths[2], layers[2], stride=2)
        self.layer4 = self._make_layer(BasicBlock, widths[3], layers[3], stride=2)
        self.fc = nn.Linear(widths[3], 1000)


def build_model():
    body = TinyResNet()
    backbone = BackboneWithFPN(body, {'layer1': '0', 'layer2': '1', 'layer3': '2', 'layer4': '3'},
                               list(WIDTHS), FPN_OUT, extra_blocks=LastLevelMaxPool())
    names = ['0', '1', '2', '3']
    model = MaskRCNN(
        backbone, num_classes=None,
        rpn_anchor_generator=AnchorGenerator(ANCHOR_SIZES, ASPECT_RATIOS),
        rpn_head=RPNHead(FPN_OUT, 3),
        box_roi_pool=MultiScaleRoIAlign(names, 7, 2),
        box_head=TwoMLPHead(FPN_OUT * 7 * 7, REPRESENTATION),
        box_predictor=FastRCNNPredictor(REPRESENTATION, NUM_CLASSES),
        mask_roi_pool=MultiScaleRoIAlign(names, 14, 2),
        mask_head=MaskRCNNHeads(FPN_OUT, MASK_LAYERS, 1),
        mask_predictor=MaskRCNNPredictor(MASK_DIM, MASK_DIM, NUM_CLASSES),
        **CONFIG_KW,
    )
    return model


def calibrated_layers(model):
    """Every conv / linear / deconv in forward order, with its output-std target."""
    return [(name, m, HEAD_TARGETS.get(name, 1.0)) for name, m in model.named_modules()
            if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear))]


def he_normal_(m, gen):
    with torch.no_grad():
        w = m.weight
        if isinstance(m, nn.ConvTranspose2d):
            fan_in = w.shape[0] * w.shape[2] * w.shape[3]
        else:
            fan_in = w[0].numel()
        w.copy_(torch.randn(w.shape, generator=gen) * math.sqrt(2.0 / fan_in))
        if m.bias is not None:
            m.bias.copy_(torch.randn(m.bias.shape, generator=gen) * 0.1)


def init_model(model, gen):
    for _, m in model.named_modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
            he_normal_(m, gen)
        elif isinstance(m, FrozenBatchNorm2d):
            c = m.weight.shape[0]
            m.weight.copy_(torch.rand(c, generator=gen) * 0.5 + 0.75)
            m.bias.copy_(torch.randn(c, generator=gen) * 0.1)
            m.running_mean.copy_(torch.randn(c, generator=gen) * 0.1)
            m.running_var.copy_(torch.rand(c, generator=gen) * 0.5 + 0.75)


def calibrate(model, images, layers, record):
    """LSUV-style: for each layer in order, run the eval model on the images and scale the layer's
    weight and bias so that its output std equals the target."""
    model.eval()
    for name, m, target in layers:
        captured = []
        h = m.register_forward_hook(lambda _m, _i, o: captured.append(o.detach()))
        with torch.no_grad():
            model(images)
        h.remove()
        if not captured:
            raise RuntimeError(f'calibration: {name} did not run (no detections?)')
        out = torch.cat([c.flatten() for c in captured])
        std = float(out.std())
        scale = target / std
        with torch.no_grad():
            m.weight.mul_(scale)
            if m.bias is not None:
                m.bias.mul_(scale)
        record.append([name, target, std, scale])


# ----------------------------------------------------------------------------- one eval run, stage by stage

def eval_run(model, images):
    """Runs the eval model stage by stage (as GeneralizedRCNN.forward does), returning every golden
    tensor by its SPEC name, the intermediates the margins need, and the model's own output."""
    model.eval()
    g = OrderedDict()
    with torch.no_grad():
        reference = model(images)
        for i, img in enumerate(images):
            g[f'input.image.{i}'] = img
        original_sizes = [tuple(img.shape[-2:]) for img in images]
        images_t, _ = model.transform(images)
        g['transform.images'] = images_t.tensors
        g['transform.image_sizes'] = torch.tensor(images_t.image_sizes, dtype=torch.int64)
        body = model.backbone.body(images_t.tensors)
        for k, v in body.items():
            g[f'backbone.body.{k}'] = v
        features = model.backbone.fpn(body)
        for k, v in features.items():
            g[f'fpn.{k}'] = v
        rpn = model.rpn
        feats = list(features.values())
        objectness, deltas = rpn.head(feats)
        for l, (o, d) in enumerate(zip(objectness, deltas)):
            g[f'rpn.head.objectness.{l}'] = o
            g[f'rpn.head.bbox_deltas.{l}'] = d
        anchors = rpn.anchor_generator(images_t, feats)
        for i, a in enumerate(anchors):
            g[f'rpn.anchors.{i}'] = a
        num_images = len(anchors)
        num_anchors_per_level = [o[0].shape[0] * o[0].shape[1] * o[0].shape[2] for o in objectness]
        g['rpn.num_anchors_per_level'] = torch.tensor(num_anchors_per_level, dtype=torch.int64)
        obj_flat, deltas_flat = concat_box_prediction_layers(objectness, deltas)
        g['rpn.objectness_flat'] = obj_flat.reshape(num_images, -1)
        g['rpn.bbox_deltas_flat'] = deltas_flat.reshape(num_images, -1, 4)
        proposals = rpn.box_coder.decode(deltas_flat, anchors).view(num_images, -1, 4)
        g['rpn.decoded_proposals'] = proposals
        boxes, scores = rpn.filter_proposals(proposals, obj_flat, images_t.image_sizes, num_anchors_per_level)
        for i, (b, s) in enumerate(zip(boxes, scores)):
            g[f'rpn.proposals.{i}'] = b
            g[f'rpn.proposal_scores.{i}'] = s
        rh = model.roi_heads
        box_features = rh.box_roi_pool(features, boxes, images_t.image_sizes)
        g['roi_heads.box_roi_pool'] = box_features
        box_head = rh.box_head(box_features)
        g['roi_heads.box_head'] = box_head
        class_logits, box_regression = rh.box_predictor(box_head)
        g['roi_heads.class_logits'] = class_logits
        g['roi_heads.box_regression'] = box_regression
        g['roi_heads.pred_boxes_decoded'] = rh.box_coder.decode(box_regression, boxes)
        g['roi_heads.pred_scores_softmax'] = F.softmax(class_logits, -1)
        det_boxes, det_scores, det_labels = rh.postprocess_detections(class_logits, box_regression, boxes, images_t.image_sizes)
        mask_features = rh.mask_roi_pool(features, det_boxes, images_t.image_sizes)
        g['roi_heads.mask_roi_pool'] = mask_features
        mask_head = rh.mask_head(mask_features)
        g['roi_heads.mask_head'] = mask_head
        mask_logits = rh.mask_predictor(mask_head)
        g['roi_heads.mask_logits'] = mask_logits
        mask_probs = maskrcnn_inference(mask_logits, det_labels)
        result = []
        for i in range(num_images):
            g[f'roi_heads.detections.boxes.{i}'] = det_boxes[i]
            g[f'roi_heads.detections.scores.{i}'] = det_scores[i]
            g[f'roi_heads.detections.labels.{i}'] = det_labels[i]
            g[f'roi_heads.detections.mask_probs.{i}'] = mask_probs[i]
            result.append({'boxes': det_boxes[i], 'scores': det_scores[i], 'labels': det_labels[i], 'masks': mask_probs[i]})
        detections = model.transform.postprocess(result, images_t.image_sizes, original_sizes)
        for i, d in enumerate(detections):
            for k in ('boxes', 'labels', 'scores', 'masks'):
                g[f'output.{k}.{i}'] = d[k]
    # The stage-by-stage run must be torchvision's forward, exactly.
    for i, (mine, ref) in enumerate(zip(detections, reference)):
        for k in ref:
            if not torch.equal(mine[k], ref[k]):
                raise AssertionError(f'eval_run: output.{k}.{i} differs from model(images)')
    extra = {
        'images_t': images_t, 'num_anchors_per_level': num_anchors_per_level, 'obj_flat': obj_flat.reshape(num_images, -1),
        'proposals_decoded': proposals, 'proposals': boxes, 'class_logits': class_logits, 'box_regression': box_regression,
        'det_boxes': det_boxes, 'det_scores': det_scores, 'det_labels': det_labels, 'detections': detections,
        'original_sizes': original_sizes,
    }
    return g, extra


def decision_margins(model, extra):
    """Replicates each discrete decision of the eval run and returns the smallest distance of any
    input from flipping it (and checks that the replica reproduces torchvision's choices)."""
    rpn, rh = model.rpn, model.roi_heads
    images_t = extra['images_t']
    m = {}

    def put(key, value):
        m[key] = min(m.get(key, math.inf), value)

    pre_n, post_n = rpn.pre_nms_top_n(), rpn.post_nms_top_n()
    counts = extra['num_anchors_per_level']
    for i, (obj, props, size) in enumerate(zip(extra['obj_flat'], extra['proposals_decoded'], images_t.image_sizes)):
        offset, idx, lvls = 0, [], []
        for l, n in enumerate(counts):
            ob = obj[offset:offset + n]
            k = min(pre_n, n)
            top = ob.topk(k).indices
            if n > k:
                v = ob.sort(descending=True).values
                put('rpn_topk_min_logit_gap', float(v[k - 1] - v[k]))
            idx.append(top + offset)
            lvls.append(torch.full((k,), l))
            offset += n
        idx, lvls = torch.cat(idx), torch.cat(lvls)
        boxes = box_ops.clip_boxes_to_image(props[idx], size)
        scores = torch.sigmoid(obj[idx])
        put('rpn_min_size_min_abs_diff', mc.min_size_margin(boxes, rpn.min_size))
        keep = box_ops.remove_small_boxes(boxes, rpn.min_size)
        boxes, scores, lvls = boxes[keep], scores[keep], lvls[keep]
        keep = torch.where(scores >= rpn.score_thresh)[0]
        boxes, scores, lvls = boxes[keep], scores[keep], lvls[keep]
        keep, iou_m, order_m = mc.batched_nms_trace(boxes, scores, lvls, rpn.nms_thresh)
        put('rpn_nms_min_abs_iou_minus_thresh', iou_m)
        put('rpn_nms_suppression_min_score_gap', order_m)
        put('rpn_post_nms_cut_min_score_gap', mc.cut_gap(scores[keep], post_n))
        keep = keep[:post_n]
        put('rpn_proposals_min_adjacent_score_gap', mc.min_adjacent_gap(scores[keep]))
        if not torch.equal(boxes[keep], extra['proposals'][i]):
            raise AssertionError(f'margins: the RPN replica disagrees with filter_proposals (image {i})')
    # Box head post-processing.
    put('box_roi_level_mapper_min_gap', mc.level_mapper_margin(torch.cat(extra['proposals'])))
    put('mask_roi_level_mapper_min_gap', mc.level_mapper_margin(torch.cat(extra['det_boxes'])))
    pred_boxes = rh.box_coder.decode(extra['box_regression'], extra['proposals'])
    pred_scores = F.softmax(extra['class_logits'], -1)
    per_image = [p.shape[0] for p in extra['proposals']]
    for i, (boxes, scores, size) in enumerate(zip(pred_boxes.split(per_image), pred_scores.split(per_image), images_t.image_sizes)):
        boxes = box_ops.clip_boxes_to_image(boxes, size)
        labels = torch.arange(scores.shape[1]).view(1, -1).expand_as(scores)
        boxes, scores, labels = boxes[:, 1:].reshape(-1, 4), scores[:, 1:].reshape(-1), labels[:, 1:].reshape(-1)
        put('box_score_thresh_min_abs_diff', float((scores - rh.score_thresh).abs().min()) if scores.numel() else math.inf)
        inds = torch.where(scores > rh.score_thresh)[0]
        boxes, scores, labels = boxes[inds], scores[inds], labels[inds]
        put('box_min_size_min_abs_diff', mc.min_size_margin(boxes, 1e-2))
        keep = box_ops.remove_small_boxes(boxes, min_size=1e-2)
        boxes, scores, labels = boxes[keep], scores[keep], labels[keep]
        keep, iou_m, order_m = mc.batched_nms_trace(boxes, scores, labels, rh.nms_thresh)
        put('box_nms_min_abs_iou_minus_thresh', iou_m)
        put('box_nms_suppression_min_score_gap', order_m)
        put('detections_cut_min_score_gap', mc.cut_gap(scores[keep], rh.detections_per_img))
        keep = keep[:rh.detections_per_img]
        put('detections_min_adjacent_score_gap', mc.min_adjacent_gap(scores[keep]))
        if not torch.equal(boxes[keep], extra['det_boxes'][i]):
            raise AssertionError(f'margins: the box post-processing replica disagrees with postprocess_detections (image {i})')
    # paste_masks_in_image casts the expanded boxes (original image coordinates) to int64.
    for d in extra['detections']:
        scale = (28 + 2) / 28
        put('paste_box_int_cast_min_frac_gap', mc.int_cast_margin(expand_boxes(d['boxes'], scale)))
    return {k: (v if math.isfinite(v) else None) for k, v in m.items()}


ENFORCED = [
    'rpn_topk_min_logit_gap', 'rpn_min_size_min_abs_diff', 'rpn_nms_min_abs_iou_minus_thresh',
    'rpn_nms_suppression_min_score_gap', 'rpn_post_nms_cut_min_score_gap', 'box_roi_level_mapper_min_gap',
    'mask_roi_level_mapper_min_gap', 'box_score_thresh_min_abs_diff', 'box_min_size_min_abs_diff',
    'box_nms_min_abs_iou_minus_thresh', 'box_nms_suppression_min_score_gap', 'detections_cut_min_score_gap',
    'paste_box_int_cast_min_frac_gap',
]


def margins_ok(margins):
    return all(margins.get(k) is None or margins[k] >= MIN_MARGIN for k in ENFORCED)


# ----------------------------------------------------------------------------- the training run

def train_run(model, images, targets):
    """One training step on the batch: losses, gradients of every trainable parameter, and the
    training intermediates (captured from torchvision's own methods)."""
    model.train()
    captured = {}
    rpn, rh = model.rpn, model.roi_heads
    orig_assign, orig_filter, orig_select = rpn.assign_targets_to_anchors, rpn.filter_proposals, rh.select_training_samples

    def assign(anchors, tg):
        labels, matched = orig_assign(anchors, tg)
        captured['anchors'] = anchors
        captured['anchor_labels'], captured['matched_gt_boxes'] = labels, matched
        return labels, matched

    def filt(*a, **k):
        boxes, scores = orig_filter(*a, **k)
        captured['rpn_proposals'] = boxes
        return boxes, scores

    def select(proposals, tg):
        out = orig_select(proposals, tg)
        captured['select'] = out
        captured['select_targets'] = tg
        return out

    rpn.assign_targets_to_anchors, rpn.filter_proposals, rh.select_training_samples = assign, filt, select
    try:
        model.zero_grad(set_to_none=True)
        torch.manual_seed(0)  # the samplers' randperm only reorders terms (every labelled anchor/proposal is taken)
        losses = model(images, targets)
        total = sum(losses.values())
        total.backward()
    finally:
        del rpn.assign_targets_to_anchors, rpn.filter_proposals, rh.select_training_samples
    with torch.no_grad():
        images_t, targets_t = model.transform(images, [{k: v.clone() for k, v in t.items()} for t in targets])
    g = OrderedDict()
    for i, (img, t) in enumerate(zip(images, targets)):
        g[f'input.image.{i}'] = img
        g[f'target.boxes.{i}'] = t['boxes']
        g[f'target.labels.{i}'] = t['labels']
        g[f'target.masks.{i}'] = t['masks']
    g['transform.images'] = images_t.tensors
    g['train.transform.image_sizes'] = torch.tensor(images_t.image_sizes, dtype=torch.int64)
    for i, t in enumerate(targets_t):
        g[f'train.transform.target_boxes.{i}'] = t['boxes']
        g[f'train.transform.target_masks.{i}'] = t['masks']
    for i, (lab, mat) in enumerate(zip(captured['anchor_labels'], captured['matched_gt_boxes'])):
        g[f'train.rpn.anchor_labels.{i}'] = lab
        g[f'train.rpn.matched_gt_boxes.{i}'] = mat
    for i, p in enumerate(captured['rpn_proposals']):
        g[f'train.rpn.proposals.{i}'] = p
    proposals, matched_idxs, labels, regression_targets = captured['select']
    per_image = [p.shape[0] for p in proposals]
    reg = regression_targets if isinstance(regression_targets, (list, tuple)) else regression_targets.split(per_image)
    for i in range(len(proposals)):
        g[f'train.roi_heads.proposals_with_gt.{i}'] = proposals[i]
        g[f'train.roi_heads.matched_idxs.{i}'] = matched_idxs[i]
        g[f'train.roi_heads.labels.{i}'] = labels[i]
        g[f'train.roi_heads.regression_targets.{i}'] = reg[i]
    for k, v in losses.items():
        g[f'loss.{k}'] = v.detach()
    g['loss.total'] = total.detach()
    for name, p in model.named_parameters():
        if p.requires_grad:
            g[f'grad.{name}'] = p.grad if p.grad is not None else torch.zeros_like(p)
    # Matcher margins: RPN on anchors (0.7 / 0.3, low-quality matches), RoI heads on proposals with GT (0.5 / 0.5).
    margins = {}
    for i, t in enumerate(captured['select_targets']):
        for key, value in mc.matcher_margins(box_iou(t['boxes'], captured['anchors'][i]), 0.7, 0.3, True).items():
            margins[f'rpn_matcher_{key}'] = min(margins.get(f'rpn_matcher_{key}', math.inf), value)
        for key, value in mc.matcher_margins(box_iou(t['boxes'], proposals[i]), 0.5, 0.5, False).items():
            margins[f'roi_matcher_{key}'] = min(margins.get(f'roi_matcher_{key}', math.inf), value)
    return g, margins


# ----------------------------------------------------------------------------- writing

DESCRIPTIONS = [
    ('input.image.', 'raw image [3,H,W] in [0,1]'),
    ('transform.images', 'normalised, resized, zero-padded batch [N,3,H,W]'),
    ('transform.image_sizes', 'resized (unpadded) sizes [N,2] (h, w)'),
    ('backbone.body.', 'ResNet stage output C2..C5 (name 0..3)'),
    ('fpn.pool', 'P6 = max_pool2d(P5, 1, stride 2)'),
    ('fpn.', 'FPN output P2..P5'),
    ('rpn.head.objectness.', 'RPN objectness logits per level [N,A,H,W]'),
    ('rpn.head.bbox_deltas.', 'RPN box deltas per level [N,4A,H,W]'),
    ('rpn.anchors.', 'anchors of image i, level-major then y, x, cell anchor [sum HWA,4]'),
    ('rpn.num_anchors_per_level', 'H*W*A per level'),
    ('rpn.objectness_flat', 'objectness in anchor order [N,sum HWA]'),
    ('rpn.bbox_deltas_flat', 'deltas in anchor order [N,sum HWA,4]'),
    ('rpn.decoded_proposals', 'anchors + deltas, decoded (weights 1,1,1,1), unclipped'),
    ('rpn.proposals.', 'RPN proposals of image i after top-n, clip, small-box removal, NMS, post-n'),
    ('rpn.proposal_scores.', 'sigmoid objectness of those proposals'),
    ('roi_heads.box_roi_pool', 'MultiScaleRoIAlign 7x7 features of all proposals'),
    ('roi_heads.box_head', 'TwoMLPHead output'),
    ('roi_heads.class_logits', 'class logits [sum P, K+1]'),
    ('roi_heads.box_regression', 'class-specific box deltas [sum P, 4(K+1)]'),
    ('roi_heads.pred_boxes_decoded', 'decoded boxes (weights 10,10,5,5), unclipped [sum P, K+1, 4]'),
    ('roi_heads.pred_scores_softmax', 'softmax of the class logits'),
    ('roi_heads.detections.', 'detections of image i in resized-image coordinates'),
    ('roi_heads.mask_roi_pool', 'MultiScaleRoIAlign 14x14 features of the detections'),
    ('roi_heads.mask_head', 'MaskRCNNHeads output'),
    ('roi_heads.mask_logits', 'mask logits [sum D, K+1, 28, 28]'),
    ('output.masks.', 'pasted mask probabilities in original image coordinates [D,1,H0,W0]'),
    ('output.', 'final detections in original image coordinates'),
    ('target.', 'training target of image i (original coordinates; masks U8)'),
    ('train.transform.', 'targets after the transform (resized)'),
    ('train.rpn.anchor_labels.', 'RPN anchor labels 1 / 0 / -1'),
    ('train.rpn.matched_gt_boxes.', 'GT box matched to each anchor'),
    ('train.rpn.proposals.', 'train-mode RPN proposals (top-n 2000)'),
    ('train.roi_heads.', 'sampled RoIs (every labelled proposal) and their targets'),
    ('loss.', 'training loss'),
    ('grad.', 'gradient of loss.total w.r.t. the parameter'),
]


def describe(name):
    for prefix, text in DESCRIPTIONS:
        if name.startswith(prefix):
            return text
    return ''


def dtype_name(t):
    return {torch.float32: 'F32', torch.int64: 'I64', torch.uint8: 'U8', torch.bool: 'U8'}[t.dtype]


def write_run(outdir, run, tensors, omit):
    kept = [(k, v.detach().contiguous()) for k, v in tensors.items() if not omit(k)]
    omitted = [k for k in tensors if omit(k)]
    path = os.path.join(outdir, f'goldens_{run}.safetensors')
    size = mc.write_safetensors(path, kept, {'format': FORMAT, 'run': run})
    catalogue = [[k, dtype_name(v), list(v.shape), describe(k)] for k, v in kept]
    return {'file': f'goldens_{run}.safetensors', 'bytes': size, 'omitted_tensors': omitted, 'tensors': catalogue}


def config_record():
    return {
        'backbone': {
            'name': 'TinyResNet', 'block': 'BasicBlock', 'stem_channels': STEM, 'widths': list(WIDTHS),
            'blocks_per_stage': list(BLOCKS), 'norm': 'FrozenBatchNorm2d', 'norm_eps': 1e-5,
            'return_layers': {'layer1': '0', 'layer2': '1', 'layer3': '2', 'layer4': '3'},
            'in_channels_list': list(WIDTHS),
        },
        'fpn': {'out_channels': FPN_OUT, 'extra_blocks': 'LastLevelMaxPool', 'names': ['0', '1', '2', '3', 'pool']},
        'num_classes': NUM_CLASSES,
        'transform': {'min_size': CONFIG_KW['min_size'], 'max_size': CONFIG_KW['max_size'],
                      'image_mean': [0.485, 0.456, 0.406], 'image_std': [0.229, 0.224, 0.225], 'size_divisible': 32,
                      'resize_mode': 'bilinear', 'align_corners': False, 'recompute_scale_factor': True},
        'rpn': {
            'anchor_sizes': [list(s) for s in ANCHOR_SIZES], 'aspect_ratios': [list(a) for a in ASPECT_RATIOS],
            'head_conv_depth': 1,
            'pre_nms_top_n_train': CONFIG_KW['rpn_pre_nms_top_n_train'], 'pre_nms_top_n_test': CONFIG_KW['rpn_pre_nms_top_n_test'],
            'post_nms_top_n_train': CONFIG_KW['rpn_post_nms_top_n_train'], 'post_nms_top_n_test': CONFIG_KW['rpn_post_nms_top_n_test'],
            'nms_thresh': CONFIG_KW['rpn_nms_thresh'], 'fg_iou_thresh': CONFIG_KW['rpn_fg_iou_thresh'],
            'bg_iou_thresh': CONFIG_KW['rpn_bg_iou_thresh'], 'batch_size_per_image': CONFIG_KW['rpn_batch_size_per_image'],
            'positive_fraction': CONFIG_KW['rpn_positive_fraction'], 'score_thresh': CONFIG_KW['rpn_score_thresh'],
            'min_size': 1e-3, 'box_coder_weights': [1.0, 1.0, 1.0, 1.0], 'bbox_xform_clip': math.log(1000.0 / 16),
            'smooth_l1_beta': 1.0 / 9,
        },
        'roi_heads': {
            'featmap_names': ['0', '1', '2', '3'], 'box_roi_output_size': 7, 'mask_roi_output_size': 14, 'sampling_ratio': 2,
            'representation_size': REPRESENTATION, 'box_score_thresh': CONFIG_KW['box_score_thresh'],
            'box_nms_thresh': CONFIG_KW['box_nms_thresh'], 'box_detections_per_img': CONFIG_KW['box_detections_per_img'],
            'box_fg_iou_thresh': CONFIG_KW['box_fg_iou_thresh'], 'box_bg_iou_thresh': CONFIG_KW['box_bg_iou_thresh'],
            'box_batch_size_per_image': CONFIG_KW['box_batch_size_per_image'],
            'box_positive_fraction': CONFIG_KW['box_positive_fraction'], 'bbox_reg_weights': [10.0, 10.0, 5.0, 5.0],
            'remove_small_boxes_min_size': 1e-2, 'mask_head_layers': list(MASK_LAYERS), 'mask_head_dilation': 1,
            'mask_dim_reduced': MASK_DIM, 'mask_resolution': 28, 'paste_padding': 1, 'smooth_l1_beta': 1.0 / 9,
        },
    }


def main():
    args = sys.argv[1:]
    compact = '--compact' in args
    args = [a for a in args if a != '--compact']
    if len(args) != 2:
        sys.exit(__doc__)
    seed, outdir = int(args[0]), args[1]
    torch.manual_seed(seed)
    torch.set_num_threads(1)
    os.makedirs(outdir, exist_ok=True)
    gen = torch.Generator().manual_seed(seed)

    model = build_model()
    init_model(model, gen)
    img_random, tgt_random = mc.random_image(gen)
    img_shapes, tgt_shapes = mc.shapes_image()
    images = [img_random, img_shapes]
    layers = calibrated_layers(model)
    calibration = []
    calibrate(model, images, layers, calibration)

    # Margin search: re-draw the four prediction heads until every eval decision is >= MIN_MARGIN from flipping.
    heads = [(n, m, t) for n, m, t in layers if n in REDRAWN]
    mask_layers = [(n, m, t) for n, m, t in layers if n.startswith('roi_heads.mask_')]
    attempts = []
    for attempt in range(MAX_ATTEMPTS):
        if attempt > 0:
            for _, m, _ in heads:
                he_normal_(m, gen)
            redo = []
            calibrate(model, images, heads + mask_layers, redo)
        runs = {'random': eval_run(model, [img_random]), 'shapes': eval_run(model, [img_shapes]), 'batch': eval_run(model, images)}
        margins = {run: decision_margins(model, extra) for run, (_, extra) in runs.items()}
        worst = min((v for mm in margins.values() for k, v in mm.items() if k in ENFORCED and v is not None), default=math.inf)
        ok = all(margins_ok(mm) for mm in margins.values())
        train = None
        if ok:
            # The RoI matcher works on the train-mode proposals, which depend on the heads too.
            train = train_run(model, images, [tgt_random, tgt_shapes])
            low = {k: v for k, v in train[1].items() if v < MIN_MARGIN}
            if low:
                print(f'gen_model: attempt {attempt}: training matcher margins {low}', file=sys.stderr)
                ok = False
        attempts.append({'attempt': attempt, 'min_enforced_margin': worst, 'ok': ok})
        print(f'gen_model: attempt {attempt}: min enforced margin {worst:.3g}{"  ok" if ok else ""}', file=sys.stderr)
        if ok:
            break
    else:
        sys.exit(f'gen_model: no head draw reached margin {MIN_MARGIN} in {MAX_ATTEMPTS} attempts')

    # Weights.
    state = model.state_dict()
    meta_versions = {'format': FORMAT, 'seed': str(seed), 'torch_version': torch.__version__, 'torchvision_version': torchvision.__version__}
    weights_bytes = mc.write_safetensors(os.path.join(outdir, 'weights.safetensors'), list(state.items()), meta_versions)
    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    num_params = sum(p.numel() for p in model.parameters() if p.requires_grad)
    num_buffers = sum(b.numel() for n, b in model.named_buffers())

    def heavy(k):
        return any(k.startswith(h) for h in HEAVY)

    def large(t):
        return t.numel() * t.element_size() > COMPACT_MAX_BYTES

    run_meta = {}
    for run, (g, extra) in runs.items():
        if run == 'batch':
            omit = (lambda k, g=g: heavy(k) or (compact and large(g[k])))
        else:
            omit = (lambda k: heavy(k)) if compact else (lambda k: False)
        record = write_run(outdir, run, g, omit)
        record.update({
            'input_sizes_hw': [list(s) for s in extra['original_sizes']],
            'resized_sizes_hw': [list(s) for s in extra['images_t'].image_sizes],
            'padded_batch_shape': list(extra['images_t'].tensors.shape),
            'num_proposals': [int(p.shape[0]) for p in extra['proposals']],
            'num_detections': [int(d.shape[0]) for d in extra['det_boxes']],
            'decision_margins': margins[run],
        })
        run_meta[run] = record

    g_train, train_margins = train
    # The batch's images are the single runs'; only large parameter gradients are dropped besides.
    redundant = ('input.image.', 'transform.images', 'grad.')
    omit_train = (lambda k: large(g_train[k]) and k.startswith(redundant)) if compact else (lambda k: False)
    record = write_run(outdir, 'train', g_train, omit_train)
    record.update({
        'input_sizes_hw': [list(img.shape[-2:]) for img in images],
        'decision_margins': {k: (v if math.isfinite(v) else None) for k, v in train_margins.items()},
        'losses': {k[len('loss.'):]: float(v) for k, v in g_train.items() if k.startswith('loss.')},
    })
    run_meta['train'] = record

    meta = {
        **meta_versions, 'seed': seed, 'compact': compact,
        'config': config_record(),
        'num_parameters': num_params, 'num_buffer_values': num_buffers,
        'weights': {'file': 'weights.safetensors', 'bytes': weights_bytes,
                    'keys': [[k, list(v.shape), 'parameter' if k in trainable else 'buffer'] for k, v in state.items()]},
        'calibration': {'method': 'LSUV-style: per layer in forward order, scale weight and bias so the output std on both test images equals the target',
                        'init': 'He-normal weights N(0, 2/fan_in), biases N(0, 0.1^2); FrozenBN weight U(0.75,1.25), bias N(0,0.1^2), mean N(0,0.1^2), var U(0.75,1.25)',
                        'layers': calibration},
        'margin_search': {'min_margin': MIN_MARGIN, 'enforced': ENFORCED, 'redrawn_layers': REDRAWN, 'attempts': attempts},
        'runs': run_meta,
    }
    tmp = os.path.join(outdir, 'model_meta.json.tmp')
    with open(tmp, 'w') as f:
        json.dump(meta, f, indent=1)
        f.write('\n')
    os.replace(tmp, os.path.join(outdir, 'model_meta.json'))
    total = weights_bytes + sum(r['bytes'] for r in run_meta.values())
    print(f'gen_model: {num_params} trainable parameters, {num_buffers} buffer values; wrote {total / 1e6:.2f} MB to {outdir}'
          f' (attempts: {len(attempts)})')


if __name__ == '__main__':
    main()
