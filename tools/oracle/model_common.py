"""Helpers of tools/oracle/gen_model.py: a safetensors writer, the two test images with their
targets, and the decision-margin replicas of torchvision's discrete steps (top-n, NMS, score
thresholds, the RoI level mapper, the int cast of paste_masks_in_image, the matchers).

Each replica recomputes a torchvision decision from the same tensors and reports how far the
closest input was from flipping it; gen_model.py asserts that the replica reproduces torchvision's
own output before trusting its margins.
"""
import json
import math
import os
import struct

import torch

# ----------------------------------------------------------------------------- safetensors

_DTYPES = {torch.float32: 'F32', torch.int64: 'I64', torch.uint8: 'U8', torch.float64: 'F64', torch.int32: 'I32'}


def write_safetensors(path, tensors, metadata=None):
    """Writes [(name, tensor)] (insertion order kept) as safetensors, atomically (temp file, fsync, rename).
    The header is padded with spaces so that the data starts at a multiple of 8."""
    header = {}
    if metadata is not None:
        header['__metadata__'] = {str(k): str(v) for k, v in metadata.items()}
    blobs = []
    offset = 0
    for name, t in tensors:
        t = t.detach().contiguous().cpu()
        if t.dtype == torch.bool:
            t = t.to(torch.uint8)
        dtype = _DTYPES[t.dtype]
        data = t.numpy().astype(t.numpy().dtype.newbyteorder('<'), copy=False).tobytes()
        header[name] = {'dtype': dtype, 'shape': list(t.shape), 'data_offsets': [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    text = json.dumps(header, separators=(',', ':')).encode('utf-8')
    text += b' ' * ((8 - (8 + len(text)) % 8) % 8)
    tmp = f'{path}.{os.getpid()}.tmp'
    with open(tmp, 'wb') as f:
        f.write(struct.pack('<Q', len(text)))
        f.write(text)
        for b in blobs:
            f.write(b)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    return 8 + len(text) + offset


# ----------------------------------------------------------------------------- images

def random_image(gen):
    """The `random` run: U(0,1) noise, 3x128x160 (torchvision's transform keeps it at scale 1.0), with
    three elliptical targets of classes 1, 2, 3 (for the training run)."""
    image = torch.rand((3, 128, 160), generator=gen)
    boxes = torch.tensor([[12.0, 20.0, 70.0, 90.0], [80.0, 10.0, 150.0, 60.0], [60.0, 70.0, 140.0, 122.0]])
    labels = torch.tensor([1, 2, 3])
    masks = torch.zeros((3, 128, 160), dtype=torch.uint8)
    yy, xx = torch.meshgrid(torch.arange(128, dtype=torch.float32) + 0.5, torch.arange(160, dtype=torch.float32) + 0.5, indexing='ij')
    for i, (x1, y1, x2, y2) in enumerate(boxes.tolist()):
        cx, cy, rx, ry = (x1 + x2) / 2, (y1 + y2) / 2, (x2 - x1) / 2, (y2 - y1) / 2
        masks[i] = (((xx - cx) / rx) ** 2 + ((yy - cy) / ry) ** 2 <= 1).to(torch.uint8)
    return image, {'boxes': boxes, 'labels': labels, 'masks': masks}


def shapes_image():
    """The `shapes` run: a 3x112x150 image with four coloured rectangles on a grey background
    (torchvision resizes it to 119x160 and pads it to 128x160), with their boxes, labels and masks."""
    h, w = 112, 150
    image = torch.full((3, h, w), 0.45)
    rects = [  # x1, y1, x2, y2 (pixel edges), label, colour
        (8, 10, 48, 50, 1, (0.9, 0.1, 0.1)),
        (60, 6, 132, 40, 2, (0.1, 0.8, 0.2)),
        (20, 62, 70, 104, 3, (0.15, 0.2, 0.95)),
        (88, 56, 140, 100, 1, (0.95, 0.85, 0.1)),  # y1 56, not 55: an anchor's IoU with y1 = 55 is 0.29995 (RPN matcher margin)
    ]
    boxes, labels, masks = [], [], []
    for x1, y1, x2, y2, label, colour in rects:
        for c in range(3):
            image[c, y1:y2, x1:x2] = colour[c]
        m = torch.zeros((h, w), dtype=torch.uint8)
        m[y1:y2, x1:x2] = 1
        boxes.append([float(x1), float(y1), float(x2), float(y2)])
        labels.append(label)
        masks.append(m)
    return image, {'boxes': torch.tensor(boxes), 'labels': torch.tensor(labels), 'masks': torch.stack(masks)}


# ----------------------------------------------------------------------------- margins

def _iou_row(box, others):
    """IoU of one box with others, in float32, as torchvision's CPU nms kernel computes it."""
    area_i = (box[2] - box[0]) * (box[3] - box[1])
    areas = (others[:, 2] - others[:, 0]) * (others[:, 3] - others[:, 1])
    xx1 = torch.maximum(box[0], others[:, 0])
    yy1 = torch.maximum(box[1], others[:, 1])
    xx2 = torch.minimum(box[2], others[:, 2])
    yy2 = torch.minimum(box[3], others[:, 3])
    inter = (xx2 - xx1).clamp(min=0) * (yy2 - yy1).clamp(min=0)
    return inter / (area_i + areas - inter)


def nms_trace(boxes, scores, thresh):
    """Greedy NMS (suppress iff IoU > thresh) that also reports, over the comparisons it makes,
    min |IoU - thresh| and min score gap of a suppressing pair. Returns (keep, iou_margin, order_gap)."""
    order = torch.argsort(scores, descending=True, stable=True)
    b = boxes[order]
    s = scores[order]
    n = b.shape[0]
    suppressed = torch.zeros(n, dtype=torch.bool)
    keep = []
    iou_margin = math.inf
    order_gap = math.inf
    for i in range(n):
        if suppressed[i]:
            continue
        keep.append(int(order[i]))
        rest = torch.arange(i + 1, n)
        rest = rest[~suppressed[rest]]
        if rest.numel() == 0:
            continue
        iou = _iou_row(b[i], b[rest])
        finite = ~torch.isnan(iou)
        if finite.any():
            iou_margin = min(iou_margin, float((iou[finite] - thresh).abs().min()))
        hit = iou > thresh
        if hit.any():
            order_gap = min(order_gap, float((s[i] - s[rest[hit]]).min()))
        suppressed[rest[hit]] = True
    return torch.tensor(keep, dtype=torch.int64), iou_margin, order_gap


def batched_nms_trace(boxes, scores, idxs, thresh):
    """NMS per category (what batched_nms computes), keep sorted by decreasing score, with margins."""
    keep_all = []
    iou_margin = math.inf
    order_gap = math.inf
    for c in torch.unique(idxs).tolist():
        sel = torch.where(idxs == c)[0]
        keep, m, g = nms_trace(boxes[sel], scores[sel], thresh)
        keep_all.append(sel[keep])
        iou_margin, order_gap = min(iou_margin, m), min(order_gap, g)
    keep = torch.cat(keep_all) if keep_all else torch.zeros(0, dtype=torch.int64)
    keep = keep[torch.argsort(scores[keep], descending=True, stable=True)]
    return keep, iou_margin, order_gap


def min_size_margin(boxes, min_size):
    """min over boxes of |w - min_size| and |h - min_size| (remove_small_boxes keeps w >= min_size and h >= min_size)."""
    if boxes.numel() == 0:
        return math.inf
    ws = boxes[:, 2] - boxes[:, 0]
    hs = boxes[:, 3] - boxes[:, 1]
    return float(torch.cat([(ws - min_size).abs(), (hs - min_size).abs()]).min())


def cut_gap(sorted_scores, n):
    """The score gap at a 'keep the first n' cut (inf when nothing is cut)."""
    if sorted_scores.numel() <= n:
        return math.inf
    return float(sorted_scores[n - 1] - sorted_scores[n])


def min_adjacent_gap(sorted_scores):
    """The smallest gap between consecutive sorted scores (the output order's margin)."""
    if sorted_scores.numel() < 2:
        return math.inf
    return float((sorted_scores[:-1] - sorted_scores[1:]).min())


def level_mapper_margin(boxes, k_min=2, k_max=5, canonical_scale=224, canonical_level=4, eps=1e-6):
    """Distance of 4 + log2(sqrt(area)/224) + eps from the level boundaries that the clamp to [k_min, k_max] keeps."""
    if boxes.numel() == 0:
        return math.inf
    area = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    v = canonical_level + torch.log2(torch.sqrt(area) / canonical_scale) + torch.tensor(eps, dtype=boxes.dtype)
    bounds = torch.arange(k_min + 1, k_max + 1, dtype=v.dtype)
    return float((v[:, None] - bounds[None, :]).abs().min())


def int_cast_margin(values):
    """Distance of float values from the nearest integer (an int64 cast truncates: it flips there)."""
    if values.numel() == 0:
        return math.inf
    return float((values - values.round()).abs().min())


def matcher_margins(iou, high, low, allow_low_quality):
    """Margins of torchvision's Matcher on a [G, P] IoU matrix: distance of each proposal's best IoU
    from the thresholds, the gap to the second-best GT where the match is foreground, and (with
    low-quality matches) the gap between each GT's best IoU and the next distinct value below it."""
    out = {}
    if iou.numel() == 0:
        return out
    best, _ = iou.max(dim=0)
    out['threshold_min_abs_diff'] = float(torch.cat([(best - high).abs(), (best - low).abs()]).min())
    fg = best >= high
    if allow_low_quality:
        gt_best, _ = iou.max(dim=1)
        tied = (iou == gt_best[:, None]).any(dim=0)
        fg = fg | tied
        below = torch.where(iou < gt_best[:, None], iou, torch.full_like(iou, -math.inf)).max(dim=1).values
        out['low_quality_min_gap_below_best'] = float((gt_best - below).min())
    if iou.shape[0] > 1 and fg.any():
        top2 = iou[:, fg].topk(2, dim=0).values
        out['foreground_min_gap_to_second_gt'] = float((top2[0] - top2[1]).min())
    return out
