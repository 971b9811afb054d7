#!/usr/bin/env python3
"""Golden fixtures for the project's RLE code and COCO evaluator, from the real pycocotools.

Usage:
    python3 -m venv /tmp/cocovenv
    /tmp/cocovenv/bin/pip install pycocotools numpy     # (fixtures made with pycocotools 2.0.11, numpy 2.4.6)
    /tmp/cocovenv/bin/python tools/oracle/gen_coco.py 20240 test/fixtures/coco

Debian's /usr/bin/python3 has no pycocotools; use the venv. The output is deterministic in SEED
(numpy's default_rng) and every file is written atomically (temporary file in OUTDIR, fsync,
rename). It writes:

* ``rle.json``: ``pycocotools.mask`` / ``_mask`` on seeded inputs: ``encode`` of masks (mask as
  a row-major '0'/'1' string or a list of rectangles, the compressed counts, the run lengths, the
  area and ``toBbox``), ``frPyObjects`` of polygons (negative, fractional, out-of-image and
  degenerate coordinates, multi-part: the counts of each part and of their ``merge``), of
  uncompressed RLEs (non-canonical counts with zero-length runs included), ``frBbox``, ``merge``
  (union and intersection), ``iou`` on RLEs (crowd flags, the -1 size mismatch) and on boxes.
* ``eval_<name>.json``: a ground truth, one or more results lists and, for each evaluation
  (results list x iouType), COCOeval's 12 stats and the 12 lines ``summarize()`` prints, the
  per-category AP (mean of ``precision[:, :, k, 0, -1]`` over the entries > -1, which is what
  the TypeScript evaluator reports as ``perCategory[k].ap``), the per-category 12 stats
  (``_summarize`` restricted to category k, matching ``perCategory[k].stats``), the whole recall
  table ``[T][K][A][M]`` and, for a subset of (category, area range, image), the ``evalImgs``
  match tables. Cases: crowd regions (polygons; uncompressed RLEs of the image's size and of
  another size), GT areas exactly 32^2 and 96^2, tied scores within and across images, more than
  100 detections per image (a tie across the cut), detections of categories absent from the GT,
  images without GT and/or detections, a category with only crowd GT, a category with no GT, two
  identical GTs (IoU tie), box IoUs exactly at the thresholds, recalls of exactly 0.35 / 0.7 /
  0.57 ... , bbox-only results, segm results (compressed RLE, and polygons in the bbox branch),
  results with both bbox and segmentation (the w*h area rule), a segm result whose RLE size
  differs from the image (IoU -1), annotation ids 0 and negative, a GT 'ignore' field
  (overwritten by iscrowd), segm results with ``"bbox": []``.

Note: PyPI's pycocotools (2.0.x, built from ppwwyyxx/cocoapi) has a rewritten ``rleToBbox``
(cocodataset/cocoapi PR #477) that differs from cocodataset/cocoapi master on RLEs with
zero-length runs; the fixtures record what the installed pycocotools does.
"""
import contextlib
import copy
import io
import json
import os
import sys
import tempfile

from importlib import metadata

import numpy as np

from pycocotools import _mask
from pycocotools import mask as mu
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

FORMAT = 'maskrcnn-oracle-coco/1'


# ----------------------------------------------------------------------------- helpers

def clean(v):
    """numpy scalars/arrays and bytes to plain JSON values."""
    if isinstance(v, dict):
        return {str(k): clean(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [clean(x) for x in v]
    if isinstance(v, np.ndarray):
        return clean(v.tolist())
    if isinstance(v, (bool, np.bool_)):
        return bool(v)
    if isinstance(v, (np.integer,)):
        return int(v)
    if isinstance(v, (float, np.floating)):
        return float(v)
    if isinstance(v, bytes):
        return v.decode('ascii')
    return v


def write_atomic(path, obj):
    text = json.dumps(clean(obj), separators=(',', ':'))
    d = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix='.' + os.path.basename(path) + '.', suffix='.tmp', dir=d)
    try:
        with os.fdopen(fd, 'w') as f:
            f.write(text)
            f.write('\n')
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.remove(tmp)
        raise


def cstr(rle):
    c = rle['counts']
    return c.decode('ascii') if isinstance(c, bytes) else c


def runs_of(mask):
    """Column-major run lengths (zeros first) of an (h, w) 0/1 array."""
    flat = np.asarray(mask, dtype=np.uint8).flatten(order='F')
    if flat.size == 0:
        return [0]
    change = np.flatnonzero(flat[1:] != flat[:-1]) + 1
    bounds = np.concatenate([[0], change, [flat.size]])
    runs = np.diff(bounds).tolist()
    if flat[0] == 1:
        runs = [0] + runs
    return [int(r) for r in runs]


def encode(mask):
    return mu.encode(np.asfortranarray(np.asarray(mask, dtype=np.uint8)))


def mask_string(mask):
    return ''.join('1' if v else '0' for v in np.asarray(mask).flatten(order='C'))


def rects_mask(h, w, rects):
    m = np.zeros((h, w), dtype=np.uint8)
    for y0, x0, y1, x1 in rects:
        m[y0:y1, x0:x1] = 1
    return m


def poly_rle(polys, h, w):
    return mu.merge(mu.frPyObjects(polys, h, w))


def box_poly(x, y, w, h):
    return [x, y, x + w, y, x + w, y + h, x, y + h]


def star(rng, cx, cy, r, n, ndigits=2):
    ang = np.sort(rng.uniform(0, 2 * np.pi, n))
    rad = rng.uniform(0.45 * r, r, n)
    pts = []
    for a, q in zip(ang, rad):
        pts += [round(float(cx + q * np.cos(a)), ndigits), round(float(cy + q * np.sin(a)), ndigits)]
    return pts


def fl(x):
    return [float(v) for v in x]


@contextlib.contextmanager
def quiet():
    with contextlib.redirect_stdout(io.StringIO()):
        yield


# ----------------------------------------------------------------------------- RLE fixtures

def rle_fixtures(rng):
    out = {'encode': [], 'poly': [], 'bbox': [], 'uncompressed': [], 'merge': [], 'iou_rle': [], 'iou_bbox': []}

    # --- encode / area / toBbox / decode
    masks = []
    masks.append(('1x1 zero', np.zeros((1, 1), np.uint8)))
    masks.append(('1x1 one', np.ones((1, 1), np.uint8)))
    masks.append(('1x7 random', (rng.random((1, 7)) < 0.5).astype(np.uint8)))
    masks.append(('7x1 random', (rng.random((7, 1)) < 0.5).astype(np.uint8)))
    masks.append(('9x11 all zero', np.zeros((9, 11), np.uint8)))
    masks.append(('9x11 all one', np.ones((9, 11), np.uint8)))
    for i, (h, w, p) in enumerate([(5, 6, .5), (13, 17, .5), (16, 16, .1), (16, 16, .9), (24, 31, .3), (3, 40, .6), (40, 3, .4)]):
        masks.append((f'random {h}x{w} p={p}', (rng.random((h, w)) < p).astype(np.uint8)))
    # foreground runs that span columns: a run from the bottom of column x into column x+1
    m = np.zeros((10, 8), np.uint8)
    m[6:, 2] = 1
    m[:3, 3] = 1
    masks.append(('run spans 2 columns (bbox gets full height)', m))
    m = np.zeros((10, 8), np.uint8)
    m[8:, 1] = 1
    m[:, 2:5] = 1
    m[:1, 5] = 1
    masks.append(('run spans 5 columns', m))
    m = np.zeros((10, 8), np.uint8)
    m[4:7, 3] = 1
    masks.append(('single column blob', m))
    m = np.zeros((6, 6), np.uint8)
    m[5, 5] = 1
    masks.append(('last pixel only', m))
    m = np.zeros((6, 6), np.uint8)
    m[0, 0] = 1
    masks.append(('first pixel only', m))
    for name, m in masks:
        r = encode(m)
        h, w = m.shape
        out['encode'].append({
            'name': name, 'h': h, 'w': w, 'mask': mask_string(m), 'counts': cstr(r), 'runs': runs_of(m),
            'area': int(mu.area(r)), 'bbox': fl(mu.toBbox(r)),
        })
    # large masks with long runs (multi-character values, negative deltas), given as rectangles
    for name, (h, w), rects in [
        ('300x310 one small blob (runs > 2^15)', (300, 310), [(120, 200, 130, 212)]),
        ('256x256 big square', (256, 256), [(3, 3, 250, 251)]),
        ('200x220 several rects', (200, 220), [(0, 0, 200, 1), (50, 10, 60, 200), (190, 5, 200, 219), (80, 80, 150, 90)]),
        ('1x70000 long row', (1, 70000), [(0, 33000, 1, 66000)]),
        ('70000x1 long column', (70000, 1), [(5, 0, 69990, 1)]),
    ]:
        m = rects_mask(h, w, rects)
        r = encode(m)
        out['encode'].append({
            'name': name, 'h': h, 'w': w, 'rects': [list(x) for x in rects], 'counts': cstr(r), 'runs': runs_of(m),
            'area': int(mu.area(r)), 'bbox': fl(mu.toBbox(r)),
        })
    # random blocky masks (varied run lengths)
    for i in range(4):
        h, w = int(rng.integers(20, 60)), int(rng.integers(20, 60))
        rects = []
        for _ in range(int(rng.integers(1, 6))):
            y0, x0 = int(rng.integers(0, h)), int(rng.integers(0, w))
            rects.append((y0, x0, int(rng.integers(y0, h + 1)), int(rng.integers(x0, w + 1))))
        m = rects_mask(h, w, rects)
        r = encode(m)
        out['encode'].append({
            'name': f'random rects {i}', 'h': h, 'w': w, 'mask': mask_string(m), 'counts': cstr(r), 'runs': runs_of(m),
            'area': int(mu.area(r)), 'bbox': fl(mu.toBbox(r)),
        })

    # --- frPyObjects of polygons
    polys = []
    polys.append(('square 0..10', 20, 20, [[0, 0, 10, 0, 10, 10, 0, 10]]))
    polys.append(('square 0.5..10.5', 20, 20, [[0.5, 0.5, 10.5, 0.5, 10.5, 10.5, 0.5, 10.5]]))
    polys.append(('triangle', 15, 17, [[1, 1, 14, 3, 6, 13]]))
    polys.append(('negative coordinates (C truncation vs floor)', 12, 12,
                  [[-0.25, -0.25, 6.3, -0.1, 5.9, 7.7, -0.3, 6.5]]))
    polys.append(('negative -0.09/-0.11', 12, 12, [[-0.11, -0.09, 4, -0.11, 4, 4.0, -0.09, 4]]))
    polys.append(('out of image on all sides', 10, 14, [[-3, -4, 20, -2, 18, 15, -5, 13]]))
    polys.append(('entirely outside (right)', 10, 10, [[12, 1, 15, 1, 15, 5, 12, 5]]))
    polys.append(('entirely outside (below)', 10, 10, [[1, 12, 5, 12, 5, 15, 1, 15]]))
    polys.append(('entirely outside (left/above)', 10, 10, [[-6, -6, -1, -6, -1, -1, -6, -1]]))
    polys.append(('tiny inside one pixel', 10, 10, [[3.1, 3.1, 3.4, 3.1, 3.3, 3.4]]))
    polys.append(('degenerate: collinear', 10, 10, [[1, 1, 5, 5, 8, 8]]))
    polys.append(('degenerate: repeated vertices', 10, 10, [[2, 2, 2, 2, 7, 2, 7, 2, 7, 7, 2, 7]]))
    polys.append(('multi-part overlapping (union, no hole)', 20, 20,
                  [[1, 1, 12, 1, 12, 12, 1, 12], [6, 6, 18, 6, 18, 18, 6, 18]]))
    polys.append(('multi-part disjoint + a 2-point part + a 1-point part', 20, 24,
                  [[1, 1, 8, 1, 8, 8], [10, 10, 20, 11, 15, 19], [2, 15, 9, 18], [3, 3]]))
    polys.append(('self-intersecting bow tie', 16, 16, [[1, 1, 14, 14, 14, 1, 1, 14]]))
    polys.append(('clockwise vs anticlockwise', 16, 16, [[2, 2, 2, 12, 12, 12, 12, 2]]))
    polys.append(('steep and shallow edges', 30, 30, [[0.2, 0.7, 29.6, 3.1, 27.2, 29.9, 1.3, 26.4, 14.5, 15.5]]))
    polys.append(('x.5 boundaries', 12, 12, [[1.5, 1.5, 9.5, 1.5, 9.5, 9.5, 1.5, 9.5]]))
    polys.append(('x.1/x.9 boundaries', 12, 12, [[1.1, 1.9, 9.9, 1.1, 9.1, 9.9, 1.9, 9.1]]))
    for i in range(16):
        h, w = int(rng.integers(8, 70)), int(rng.integers(8, 70))
        nparts = int(rng.integers(1, 4))
        parts = []
        for _ in range(nparts):
            cx, cy = rng.uniform(-5, w + 5), rng.uniform(-5, h + 5)
            r = rng.uniform(2, max(h, w) * 0.6)
            parts.append(star(rng, cx, cy, r, int(rng.integers(3, 12)), ndigits=int(rng.integers(0, 4))))
        polys.append((f'random {i}', h, w, parts))
    for name, h, w, parts in polys:
        rles = mu.frPyObjects(parts, h, w)
        merged = mu.merge(rles)
        out['poly'].append({
            'name': name, 'h': h, 'w': w, 'polygons': parts, 'parts': [cstr(r) for r in rles],
            'counts': cstr(merged), 'area': int(mu.area(merged)), 'bbox': fl(mu.toBbox(merged)),
        })

    # --- frBbox
    boxes = [[0, 0, 10, 10], [0.5, 0.5, 10, 10], [1.2, 3.7, 5.5, 2.25], [-3, -2, 8, 9], [5, 5, 30, 30],
             [2, 2, 0, 5], [2, 2, 5, 0], [11, 3, 4, 4], [3.1, 3.1, 0.2, 0.2], [-0.1, -0.3, 4.2, 4.4]]
    for _ in range(10):
        boxes.append([round(float(v), 2) for v in [rng.uniform(-5, 20), rng.uniform(-5, 20), rng.uniform(0, 15), rng.uniform(0, 15)]])
    for i, b in enumerate(boxes):
        h, w = (16, 18) if i % 2 == 0 else (18, 16)
        r = _mask.frBbox(np.array([b], dtype=np.float64), h, w)[0]
        out['bbox'].append({'h': h, 'w': w, 'box': b, 'counts': cstr(r), 'area': int(mu.area(r)), 'bbox': fl(mu.toBbox(r))})

    # --- uncompressed RLE (frPyObjects with a dict), canonical and not
    for name, size, counts in [
        ('canonical', [5, 6], [3, 4, 23]),
        ('starts with foreground', [4, 4], [0, 5, 3, 8]),
        ('zero-length runs inside', [5, 6], [10, 0, 5, 3, 0, 2, 10]),
        ('zero-length first two runs', [4, 5], [0, 0, 7, 6, 7]),
        ('odd number of runs, trailing zero run', [3, 3], [2, 3, 4]),
        ('even number of runs, ends with foreground', [3, 3], [2, 3, 1, 3]),
        ('all foreground', [3, 4], [0, 12]),
        ('all background', [3, 4], [12]),
        ('long runs', [300, 301], [45000, 300, 5, 44995, 300 * 301 - 90300]),
        ('no pixels, trailing zero-length foreground run', [3, 4], [12, 0]),
        ('no pixels, leading zero-length runs', [3, 4], [0, 0, 12]),
        ('no pixels, zero-length foreground run inside', [3, 4], [5, 0, 7]),
        ('zero-length foreground then zero-length background run', [3, 4], [4, 0, 0, 8]),
        ('zero-length background run between foreground runs', [3, 4], [4, 3, 0, 5]),
    ]:
        r = mu.frPyObjects({'size': size, 'counts': counts}, 999, 999)  # h, w arguments are unused here
        dec = mu.decode(r)
        out['uncompressed'].append({
            'name': name, 'size': size, 'runs': counts, 'counts': cstr(r), 'area': int(mu.area(r)), 'bbox': fl(mu.toBbox(r)),
            'mask': mask_string(dec) if dec.size <= 400 else None,
        })

    # --- merge
    def rand_mask(h, w):
        kind = rng.integers(0, 3)
        if kind == 0:
            return (rng.random((h, w)) < rng.uniform(0.2, 0.8)).astype(np.uint8)
        rects = []
        for _ in range(int(rng.integers(1, 4))):
            y0, x0 = int(rng.integers(0, h)), int(rng.integers(0, w))
            rects.append((y0, x0, int(rng.integers(y0, h + 1)), int(rng.integers(x0, w + 1))))
        return rects_mask(h, w, rects)

    for i in range(14):
        h, w = int(rng.integers(1, 25)), int(rng.integers(1, 25))
        n = [1, 2, 2, 3, 4][i % 5]
        ms = [rand_mask(h, w) for _ in range(n)]
        if i == 3:
            ms = [np.zeros((h, w), np.uint8), ms[1]]
        if i == 4:
            ms[0] = np.ones((h, w), np.uint8)
        rles = [encode(m) for m in ms]
        out['merge'].append({
            'h': h, 'w': w, 'inputs': [cstr(r) for r in rles],
            'union': cstr(mu.merge(rles, intersect=False)), 'intersection': cstr(mu.merge(rles, intersect=True)),
        })

    # --- iou on RLEs
    for i in range(6):
        h, w = int(rng.integers(5, 30)), int(rng.integers(5, 30))
        dts = [rand_mask(h, w) for _ in range(int(rng.integers(1, 5)))]
        gts = [rand_mask(h, w) for _ in range(int(rng.integers(1, 5)))]
        if i == 0:
            gts.append(dts[0].copy())  # identical
            gts.append(np.zeros((h, w), np.uint8))  # empty
        dr = [{'size': [h, w], 'counts': cstr(encode(m))} for m in dts]
        gr = [{'size': [h, w], 'counts': cstr(encode(m))} for m in gts]
        crowd = [int(rng.integers(0, 2)) for _ in gts]
        out['iou_rle'].append({'dt': dr, 'gt': gr, 'iscrowd': crowd, 'iou': clean(mu.iou(dr, gr, crowd))})
    # size mismatch: -1 when the boxes overlap, 0 when they do not; bbox-overlap without pixel overlap
    a = rects_mask(10, 10, [(2, 2, 8, 8)])
    b = rects_mask(12, 10, [(3, 3, 9, 9)])
    c = rects_mask(12, 10, [(9, 0, 12, 2)])
    d = np.zeros((10, 10), np.uint8)
    d[2, 2] = 1
    d[7, 7] = 1
    e = np.zeros((10, 10), np.uint8)
    e[7, 2] = 1
    e[2, 7] = 1
    dr = [{'size': [10, 10], 'counts': cstr(encode(x))} for x in (a, d)]
    gr = [{'size': [12, 10], 'counts': cstr(encode(b))}, {'size': [12, 10], 'counts': cstr(encode(c))},
          {'size': [10, 10], 'counts': cstr(encode(e))}, {'size': [10, 10], 'counts': cstr(encode(a))}]
    for crowd in ([0, 0, 0, 0], [1, 1, 1, 1], [0, 1, 0, 1]):
        out['iou_rle'].append({'dt': dr, 'gt': gr, 'iscrowd': crowd, 'iou': clean(mu.iou(dr, gr, crowd))})
    out['iou_rle'].append({'dt': [], 'gt': gr, 'iscrowd': [0, 0, 0, 0], 'iou': clean(mu.iou([], gr, [0, 0, 0, 0]))})
    out['iou_rle'].append({'dt': dr, 'gt': [], 'iscrowd': [], 'iou': clean(mu.iou(dr, [], []))})

    # --- iou on boxes
    for i in range(5):
        dts = [[round(float(v), 3) for v in [rng.uniform(0, 20), rng.uniform(0, 20), rng.uniform(0, 15), rng.uniform(0, 15)]]
               for _ in range(int(rng.integers(1, 6)))]
        gts = [[round(float(v), 3) for v in [rng.uniform(0, 20), rng.uniform(0, 20), rng.uniform(0, 15), rng.uniform(0, 15)]]
               for _ in range(int(rng.integers(1, 6)))]
        crowd = [int(rng.integers(0, 2)) for _ in gts]
        out['iou_bbox'].append({'dt': dts, 'gt': gts, 'iscrowd': crowd, 'iou': clean(mu.iou(dts, gts, crowd))})
    dts = [[0, 0, 10, 10], [10, 0, 5, 5], [0, 10, 5, 5], [2, 2, 0, 5], [0, 0, 10, 5], [0, 0, 10, 7.5], [0, 0, 10, 9], [0, 0, 20, 10]]
    gts = [[0, 0, 10, 10], [10, 10, 3, 3], [0, 0, 10, 10]]
    out['iou_bbox'].append({'dt': dts, 'gt': gts, 'iscrowd': [0, 0, 1], 'iou': clean(mu.iou(dts, gts, [0, 0, 1]))})
    out['iou_bbox'].append({'dt': [], 'gt': gts, 'iscrowd': [0, 0, 1], 'iou': clean(mu.iou([], gts, [0, 0, 1]))})
    return out


# ----------------------------------------------------------------------------- evaluation

def summarize_arrays(prec, rec, p):
    """pycocotools' _summarizeDets on given precision/recall arrays (for per-category slices)."""
    def one(ap=1, iouThr=None, areaRng='all', maxDets=100):
        aind = [i for i, a in enumerate(p.areaRngLbl) if a == areaRng]
        mind = [i for i, m in enumerate(p.maxDets) if m == maxDets]
        if ap == 1:
            s = prec
            if iouThr is not None:
                s = s[np.where(iouThr == p.iouThrs)[0]]
            s = s[:, :, :, aind, mind]
        else:
            s = rec
            if iouThr is not None:
                s = s[np.where(iouThr == p.iouThrs)[0]]
            s = s[:, :, aind, mind]
        return -1.0 if len(s[s > -1]) == 0 else float(np.mean(s[s > -1]))
    md = p.maxDets
    return [one(1), one(1, .5, maxDets=md[2]), one(1, .75, maxDets=md[2]), one(1, areaRng='small', maxDets=md[2]),
            one(1, areaRng='medium', maxDets=md[2]), one(1, areaRng='large', maxDets=md[2]),
            one(0, maxDets=md[0]), one(0, maxDets=md[1]), one(0, maxDets=md[2]),
            one(0, areaRng='small', maxDets=md[2]), one(0, areaRng='medium', maxDets=md[2]), one(0, areaRng='large', maxDets=md[2])]


def run_eval(gt_dict, results, iou_type, keep):
    """COCOeval on deep copies; keep(k_index, a_index, img_id) selects the evalImgs to store."""
    with quiet():
        cgt = COCO()
        cgt.dataset = copy.deepcopy(gt_dict)
        cgt.createIndex()
        cdt = cgt.loadRes(copy.deepcopy(results))
        E = COCOeval(cgt, cdt, iou_type)
        E.evaluate()
        E.accumulate()
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        E.summarize()
    p = E.params
    prec, rec = E.eval['precision'], E.eval['recall']
    T, R, K, A, M = E.eval['counts']
    stats = [float(x) for x in E.stats]
    assert summarize_arrays(prec, rec, p) == stats, 'summarize_arrays must reproduce COCOeval.stats'
    per_cat = []
    for k, cat in enumerate(p.catIds):
        s = prec[:, :, k, 0, -1]
        ap = -1.0 if len(s[s > -1]) == 0 else float(np.mean(s[s > -1]))
        per_cat.append({'categoryId': int(cat), 'ap': ap,
                        'stats': summarize_arrays(prec[:, :, k:k + 1], rec[:, k:k + 1], p)})
    I = len(p.imgIds)
    imgs = []
    nonnull = 0
    for idx, e in enumerate(E.evalImgs):
        k, rest = divmod(idx, A * I)
        a, i = divmod(rest, I)
        if e is None:
            continue
        nonnull += 1
        if not keep(k, a, int(p.imgIds[i])):
            continue
        imgs.append({
            'imageId': int(e['image_id']), 'categoryId': int(e['category_id']), 'area': a,
            'dtIds': [int(x) for x in e['dtIds']], 'gtIds': [int(x) for x in e['gtIds']],
            'dtMatches': [[int(v) for v in row] for row in e['dtMatches']],
            'gtMatches': [[int(v) for v in row] for row in e['gtMatches']],
            'dtIgnore': [[int(v) for v in row] for row in e['dtIgnore']],
            'gtIgnore': [int(v) for v in e['gtIgnore']],
            'dtScores': [float(v) for v in e['dtScores']],
        })
    return {
        'iouType': iou_type, 'stats': stats, 'summary': printed.getvalue().rstrip('\n'), 'perCategory': per_cat,
        'recall': [float(v) for v in rec.flatten(order='C')], 'counts': [T, R, K, A, M],
        'nonNullEvalImgs': nonnull, 'evalImgs': imgs,
    }


def eval_fixture(name, description, gt, results, evals, keep=lambda k, a, i: a == 0):
    out = {'format': FORMAT, 'name': name, 'description': description, 'gt': gt, 'results': results, 'evals': []}
    for res_name, iou_type in evals:
        r = run_eval(gt, results[res_name], iou_type, keep)
        r['results'] = res_name
        out['evals'].append(r)
    return out


class Ids:
    def __init__(self, start=1):
        self.n = start

    def __call__(self):
        self.n += 1
        return self.n - 1


def gt_box(aid, img, cat, box, area=None, iscrowd=0):
    return {'id': aid, 'image_id': img, 'category_id': cat, 'bbox': list(box), 'iscrowd': iscrowd,
            'area': float(box[2] * box[3]) if area is None else area, 'segmentation': [box_poly(*box)]}


def gt_poly(aid, img, cat, parts, h, w, area=None, iscrowd=0):
    r = poly_rle(parts, h, w)
    return {'id': aid, 'image_id': img, 'category_id': cat, 'bbox': fl(mu.toBbox(r)), 'iscrowd': iscrowd,
            'area': float(mu.area(r)) if area is None else area, 'segmentation': parts}


def gt_rle(aid, img, cat, mask, area=None, iscrowd=0, compressed=True):
    r = encode(mask)
    seg = {'size': list(mask.shape), 'counts': cstr(r) if compressed else runs_of(mask)}
    return {'id': aid, 'image_id': img, 'category_id': cat, 'bbox': fl(mu.toBbox(r)), 'iscrowd': iscrowd,
            'area': float(mu.area(r)) if area is None else area, 'segmentation': seg}


def det(img, cat, score, box=None, seg=None):
    d = {'image_id': img, 'category_id': cat}
    if box is not None:
        d['bbox'] = [float(v) for v in box]
    if seg is not None:
        d['segmentation'] = seg
    d['score'] = score
    return d


def jitter_box(rng, b, s):
    x, y, w, h = b
    return [round(float(v), 2) for v in (x + rng.normal(0, s), y + rng.normal(0, s), max(0.5, w + rng.normal(0, s)), max(0.5, h + rng.normal(0, s)))]


def mask_of(ann, h, w):
    seg = ann['segmentation']
    if isinstance(seg, list):
        return mu.decode(poly_rle(seg, h, w))
    if isinstance(seg['counts'], list):
        return mu.decode(mu.frPyObjects(seg, h, w))
    return mu.decode(seg)


def shift_mask(m, dy, dx):
    out = np.zeros_like(m)
    h, w = m.shape
    ys, xs = np.nonzero(m)
    ys, xs = ys + dy, xs + dx
    ok = (ys >= 0) & (ys < h) & (xs >= 0) & (xs < w)
    out[ys[ok], xs[ok]] = 1
    return out


def edge_dataset(rng):
    images = [{'id': 1, 'height': 100, 'width': 120}, {'id': 2, 'height': 64, 'width': 64}, {'id': 3, 'height': 80, 'width': 90},
              {'id': 4, 'height': 50, 'width': 50}, {'id': 5, 'height': 120, 'width': 130}, {'id': 6, 'height': 40, 'width': 60},
              {'id': 7, 'height': 30, 'width': 30}]
    size = {im['id']: (im['height'], im['width']) for im in images}
    cats = [{'id': 5, 'name': 'crowdonly'}, {'id': 1, 'name': 'a'}, {'id': 9, 'name': 'nogt'}, {'id': 2, 'name': 'b'}]
    anns = []
    anns.append(gt_box(11, 1, 1, [10, 10, 32, 32], area=1024))  # area exactly 32^2
    anns.append(gt_box(12, 1, 1, [10, 10, 32, 32], area=1024))  # identical: IoU tie goes to the later GT
    anns.append(gt_poly(13, 1, 1, [star(rng, 80, 35, 28, 9)], 100, 120, area=9216))  # area exactly 96^2
    crowd = rects_mask(100, 120, [(60, 0, 100, 50)])
    anns.append(gt_rle(14, 1, 1, crowd, iscrowd=1, compressed=False))
    anns.append(gt_poly(15, 1, 1, [[100.4, 70.2, 126, 72, 125.5, 106, 98, 103.7], [90, 80, 110.25, 80, 105, 95.5]], 100, 120))
    blob = np.zeros((100, 120), np.uint8)
    blob[40:70, 50:90] = 1
    blob[45:50, 60:85] = 0
    anns.append(gt_rle(16, 1, 2, blob))
    anns.append(gt_poly(17, 1, 2, [[0, 50, 40, 50, 40, 100, 0, 100]], 100, 120, iscrowd=1))
    anns.append(gt_box(21, 2, 1, [0, 0, 64, 64], area=9216))  # area field exactly 96^2 (box is 64x64)
    anns.append(gt_box(22, 2, 1, [5.5, 40.25, 31.9, 20.1], area=1023.999))
    anns.append(gt_rle(23, 2, 5, rects_mask(64, 64, [(0, 40, 30, 64)]), iscrowd=1, compressed=False))
    anns.append(gt_box(24, 2, 2, [30, 30, 32, 32.0], area=1024.001))
    for j in range(6):
        x, y = 5 + (j % 3) * 40, 5 + (j // 3) * 55
        anns.append(gt_poly(51 + j, 5, 2, [star(rng, x + 18, y + 20, 18, int(rng.integers(4, 9)))], 120, 130))
    anns.append(gt_box(57, 5, 1, [10, 10, 96, 96], area=9216))
    anns.append(gt_poly(58, 5, 5, [[60, 60, 125, 60, 125, 115, 60, 115]], 120, 130, iscrowd=1))
    anns.append(gt_rle(61, 6, 5, rects_mask(40, 60, [(5, 5, 35, 55)]), iscrowd=1, compressed=False))
    anns.append(gt_box(71, 7, 1, [2, 2, 10, 10]))
    anns[-1]['ignore'] = 1  # overwritten by iscrowd (0) in COCOeval._prepare
    anns[3]['ignore'] = 0  # crowd GT 14: ignored all the same
    gt = {'images': images, 'categories': cats, 'annotations': anns}

    dets = []
    # image 1, category 1
    dets += [det(1, 1, 0.9, [10, 10, 32, 32]), det(1, 1, 0.9, [10, 10, 32, 32]), det(1, 1, 0.8, [10, 10, 32, 32])]
    dets += [det(1, 1, 0.85, [5, 65, 20, 20]), det(1, 1, 0.6, [30, 70, 15, 25]), det(1, 1, 0.3, [0, 60, 50, 40]),
             det(1, 1, 0.7, [5, 55, 30, 40]), det(1, 1, 0.5, [10, 30, 32, 40])]
    b13 = anns[2]['bbox']
    for s in (0.95, 0.5, 0.45, 0.2):
        dets.append(det(1, 1, s, jitter_box(rng, b13, 4)))
    b15 = anns[4]['bbox']
    dets += [det(1, 1, 0.66, b15), det(1, 1, 0.66, jitter_box(rng, b15, 3))]
    # image 1, category 2
    b16 = anns[5]['bbox']
    dets += [det(1, 2, 0.9, b16), det(1, 2, 0.4, jitter_box(rng, b16, 5)), det(1, 2, 0.75, [5, 60, 20, 30]), det(1, 2, 0.5, [3, 3, 0, 10])]
    # image 2: IoU 0.75 exactly with GT 21, exact GT 22, IoU 0.5 exactly with GT 24, crowd-only category 5
    dets += [det(2, 1, 0.5, [0, 0, 64, 48]), det(2, 1, 0.5, [5.5, 40.25, 31.9, 20.1]), det(2, 2, 0.5, [30, 30, 32, 16]),
             det(2, 2, 0.35, [30, 30, 16, 16]), det(2, 5, 0.9, [45, 5, 10, 10]), det(2, 5, 0.3, [0, 40, 20, 20])]
    # image 3 (no GT): unmatched detections of area exactly 32^2 and 96^2, tied scores with other images
    dets += [det(3, 1, 0.5, [0, 0, 32, 32]), det(3, 1, 0.5, [10, 10, 96, 96]), det(3, 1, 0.5, [1, 1, 32, 32.0000001]),
             det(3, 1, 0.9, [40, 40, 31.99, 32]), det(3, 9, 0.8, [1, 1, 5, 5]), det(3, 42, 0.99, [1, 1, 5, 5]),
             det(3, 2, 0.66, [2, 2, 96, 96.5])]
    # image 5: jittered detections per GT, tied scores
    for a in anns:
        if a['image_id'] != 5:
            continue
        for _ in range(int(rng.integers(1, 3))):
            dets.append(det(5, a['category_id'], float(rng.choice([0.9, 0.7, 0.5, 0.3])), jitter_box(rng, a['bbox'], 3)))
    dets += [det(5, 42, 0.5, [1, 1, 20, 20]), det(5, 9, 0.5, [1, 1, 20, 20]), det(6, 5, 0.8, [10, 10, 20, 20]), det(6, 1, 0.8, [10, 10, 20, 20])]
    bbox_only = dets

    # the same detections with masks: bbox branch (area = w*h even for segm)
    with_seg = []
    for j, d in enumerate(dets):
        d = copy.deepcopy(d)
        h, w = size[d['image_id']]
        x, y, bw, bh = d['bbox']
        kind = j % 3
        if kind == 0:  # compressed RLE: an ellipse inside the box (its pixel area differs from w*h)
            yy, xx = np.mgrid[0:h, 0:w]
            cx, cy = x + bw / 2, y + bh / 2
            m = (((xx + 0.5 - cx) / max(bw / 2, 0.5)) ** 2 + ((yy + 0.5 - cy) / max(bh / 2, 0.5)) ** 2 <= 1).astype(np.uint8)
            d['segmentation'] = {'size': [h, w], 'counts': cstr(encode(m))}
        elif kind == 1:  # polygons
            d['segmentation'] = [[x + 1, y, x + bw, y + 1.5, x + bw - 1, y + bh, x, y + bh - 2.5]]
        with_seg.append(d)
    # one whose box is 40x40 (medium) but whose mask is tiny (small)
    m = rects_mask(80, 90, [(60, 60, 70, 70)])
    with_seg.append(det(3, 1, 0.55, [55, 55, 40, 40], {'size': [80, 90], 'counts': cstr(encode(m))}))

    # segmentation branch: compressed RLEs only (area = pixel count, bbox = toBbox)
    segm = []
    for a in anns:
        h, w = size[a['image_id']]
        m = mask_of(a, h, w)
        for s in range(int(rng.integers(1, 3))):
            mm = shift_mask(m, int(rng.integers(-3, 4)), int(rng.integers(-3, 4)))
            segm.append(det(a['image_id'], a['category_id'], float(rng.choice([0.9, 0.8, 0.5, 0.3])),
                            seg={'size': [h, w], 'counts': cstr(encode(mm))}))
    segm[0], segm[3] = segm[3], segm[0]
    sq = rects_mask(80, 90, [(10, 10, 42, 42)])  # area exactly 1024, unmatched (image 3 has no GT)
    segm.append(det(3, 1, 0.5, seg={'size': [80, 90], 'counts': cstr(encode(sq))}))
    big = rects_mask(80, 90, [(0, 0, 96, 96)])
    segm.append(det(3, 1, 0.45, seg={'size': [80, 90], 'counts': cstr(encode(big))}))
    # a mask of another size over GT 13 (its box overlaps, so pycocotools' IoU is -1)
    m13 = mask_of(anns[2], 100, 120)
    other = np.zeros((101, 120), np.uint8)
    other[:100] = m13
    segm.append(det(1, 1, 0.97, seg={'size': [101, 120], 'counts': cstr(encode(other))}))
    # a segm result that also gives a (wrong) bbox: kept for bbox evaluation, area stays the pixel count
    segm.append(det(2, 2, 0.6, [30, 30, 32, 32], {'size': [64, 64], 'counts': cstr(encode(rects_mask(64, 64, [(30, 30, 40, 40)])))}))
    segm.append(det(1, 42, 0.6, seg={'size': [100, 120], 'counts': cstr(encode(blob))}))

    results = {'bbox': bbox_only, 'bbox+segm': with_seg, 'segm': segm}
    evals = [('bbox', 'bbox'), ('bbox', 'segm'), ('bbox+segm', 'segm'), ('bbox+segm', 'bbox'), ('segm', 'segm'), ('segm', 'bbox')]
    return eval_fixture('edge', 'hand-made edge cases: crowd, area edges, ties, absent categories, empty images',
                        gt, results, evals, keep=lambda k, a, i: True)


def recall_dataset(rng):
    images = [{'id': i, 'height': 100, 'width': 100} for i in range(1, 6)]
    cats = [{'id': 1, 'name': 'r035'}, {'id': 2, 'name': 'r07'}, {'id': 3, 'name': 'r057'}, {'id': 4, 'name': 'levels'}]
    ids = Ids(1)
    anns = []
    dets = []

    def grid(img, cat, n):
        out = []
        for j in range(n):
            x, y = 5 + 18 * (j % 5), 5 + 18 * (j // 5)
            a = gt_box(ids(), img, cat, [x, y, 10, 10])
            anns.append(a)
            out.append(a)
        return out

    c1 = [a for img in range(1, 5) for a in grid(img, 1, 5)]  # 20 GTs
    c2 = [a for img in range(1, 3) for a in grid(img, 2, 5)]  # 10 GTs
    c3 = [a for img in range(1, 6) for a in grid(img, 3, 20)]  # 100 GTs
    c4 = [a for img in range(1, 6) for a in grid(img, 4, 20)]  # 100 GTs
    scores = [0.9, 0.8, 0.8, 0.7, 0.5, 0.5, 0.5, 0.3, 0.2, 0.1]
    for gts, ntp, nfp in ((c1, 7, 3), (c2, 7, 2), (c3, 57, 10)):
        pick = rng.permutation(len(gts))[:ntp]
        for j in pick:
            dets.append(det(gts[j]['image_id'], gts[j]['category_id'], float(rng.choice(scores)), gts[j]['bbox']))
        for _ in range(nfp):
            dets.append(det(int(rng.integers(1, 6)), gts[0]['category_id'], float(rng.choice(scores)), [92, 92, 5, 5]))
    # category 4: det box heights give IoU exactly 1, .95, .9, ..., .5 with a 10x10 GT
    levels = [(10, 30), (9.5, 5), (9, 6), (8.5, 6), (8, 10), (7.5, 12), (7, 1), (6.5, 12), (6, 1), (5.5, 11), (5, 1)]
    order = rng.permutation(100)
    p = 0
    for hgt, n in levels:
        for _ in range(n):
            g = c4[order[p]]
            p += 1
            x, y = g['bbox'][:2]
            dets.append(det(g['image_id'], 4, float(rng.choice(scores)), [x, y, 10, hgt]))
    perm = rng.permutation(len(dets))
    dets = [dets[j] for j in perm]
    gt = {'images': images, 'categories': cats, 'annotations': anns}
    return eval_fixture('recall', 'recalls of exactly 0.35, 0.7, 0.57 and box IoUs exactly at the thresholds',
                        gt, {'bbox': dets}, [('bbox', 'bbox'), ('bbox', 'segm')])


def maxdets_dataset(rng):
    images = [{'id': 10, 'height': 200, 'width': 200}, {'id': 20, 'height': 150, 'width': 180}, {'id': 30, 'height': 50, 'width': 50}]
    cats = [{'id': 1, 'name': 'many'}, {'id': 2, 'name': 'cut'}]
    ids = Ids(1)
    anns = []
    dets = []
    for img, n, h, w in ((10, 30, 200, 200), (20, 10, 150, 180)):
        for _ in range(n):
            x, y = float(rng.integers(0, w - 30)), float(rng.integers(0, h - 30))
            anns.append(gt_box(ids(), img, 1, [x, y, float(rng.integers(5, 30)), float(rng.integers(5, 30))]))
    levels = [0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3]
    for img, n, h, w in ((10, 150, 200, 200), (20, 105, 150, 180), (30, 5, 50, 50)):
        gts = [a for a in anns if a['image_id'] == img]
        for j in range(n):
            if gts and j < 2 * len(gts):
                box = jitter_box(rng, gts[j % len(gts)]['bbox'], 2)
            else:
                box = [float(rng.integers(0, w - 20)), float(rng.integers(0, h - 20)), float(rng.integers(3, 20)), float(rng.integers(3, 20))]
            dets.append(det(img, 1, float(rng.choice(levels)), box))
    # category 2: one GT; its exact detection is the 101st of 101 with the same score as the 100th
    anns.append(gt_box(ids(), 10, 2, [150, 150, 20, 20]))
    for j in range(100):
        dets.append(det(10, 2, 0.5 if j >= 90 else 0.6, [float(j % 10) * 10, float(j // 10) * 10, 8, 8]))
    dets.append(det(10, 2, 0.5, [150, 150, 20, 20]))
    anns.append(gt_box(ids(), 20, 2, [10, 10, 20, 20]))
    dets.append(det(20, 2, 0.5, [10, 10, 20, 20]))
    gt = {'images': images, 'categories': cats, 'annotations': anns}
    return eval_fixture('maxdets', 'more than 100 detections per image, tied scores at the cut and across images',
                        gt, {'bbox': dets}, [('bbox', 'bbox'), ('bbox', 'segm')])


def random_dataset(rng, n_images=10, n_cats=10):
    cat_ids = sorted(rng.choice(np.arange(1, 91), n_cats, replace=False).tolist())
    cats = [{'id': int(c), 'name': f'c{c}'} for c in rng.permutation(cat_ids)]
    images = [{'id': int(100 + 7 * i), 'height': int(rng.integers(40, 160)), 'width': int(rng.integers(40, 160))} for i in range(n_images)]
    ids = Ids(1000)
    anns = []
    for im in images:
        h, w = im['height'], im['width']
        for _ in range(int(rng.integers(0, 7))):
            cat = int(rng.choice(cat_ids[:-1]))  # the last category never has GT
            parts = [star(rng, rng.uniform(0, w), rng.uniform(0, h), rng.uniform(4, 0.4 * max(h, w)), int(rng.integers(3, 10)))]
            if rng.random() < 0.2:
                parts.append(star(rng, rng.uniform(0, w), rng.uniform(0, h), rng.uniform(3, 15), int(rng.integers(3, 7))))
            kind = rng.random()
            crowd = 1 if rng.random() < 0.12 else 0
            r = poly_rle(parts, h, w)
            if float(mu.area(r)) == 0:
                continue
            if kind < 0.15:
                a = gt_rle(ids(), im['id'], cat, mu.decode(r), iscrowd=crowd, compressed=not crowd)
            else:
                a = gt_poly(ids(), im['id'], cat, parts, h, w, iscrowd=crowd)
            if rng.random() < 0.3:
                a['area'] = round(a['area'] * float(rng.uniform(0.8, 1.2)), 2)
            anns.append(a)
    bbox_res = []
    segm_res = []
    for a in anns:
        im = next(i for i in images if i['id'] == a['image_id'])
        h, w = im['height'], im['width']
        m = mask_of(a, h, w)
        for _ in range(int(rng.integers(1, 3)) if rng.random() < 0.85 else 0):
            s = round(float(rng.random()), 2)
            bbox_res.append(det(a['image_id'], a['category_id'], s, jitter_box(rng, a['bbox'], 0.04 * max(a['bbox'][2:]) + 0.3)))
            mm = shift_mask(m, int(rng.integers(-2, 3)), int(rng.integers(-2, 3)))
            segm_res.append(det(a['image_id'], a['category_id'], s, seg={'size': [h, w], 'counts': cstr(encode(mm))}))
    for _ in range(25):
        im = images[int(rng.integers(0, n_images))]
        h, w = im['height'], im['width']
        cat = int(rng.choice(cat_ids))
        s = round(float(rng.random()), 2)
        box = [round(float(rng.uniform(0, w - 5)), 1), round(float(rng.uniform(0, h - 5)), 1), round(float(rng.uniform(2, 40)), 1), round(float(rng.uniform(2, 40)), 1)]
        bbox_res.append(det(im['id'], cat, s, box))
        segm_res.append(det(im['id'], cat, s, seg={'size': [h, w], 'counts': cstr(encode(mu.decode(_mask.frBbox(np.array([box]), h, w)[0])))}))
    perm = rng.permutation(len(bbox_res))
    bbox_res = [bbox_res[j] for j in perm]
    segm_res = [segm_res[j] for j in perm]
    gt = {'images': images, 'categories': cats, 'annotations': anns}
    first = {images[0]['id'], images[1]['id'], images[2]['id']}
    return eval_fixture('random', f'seeded random dataset, {n_images} images, {n_cats} categories', gt,
                        {'bbox': bbox_res, 'segm': segm_res},
                        [('bbox', 'bbox'), ('bbox', 'segm'), ('segm', 'segm'), ('segm', 'bbox')],
                        keep=lambda k, a, i: a == 0 and i in first)


def ids_dataset(rng):
    images = [{'id': 1, 'height': 60, 'width': 60}, {'id': 2, 'height': 60, 'width': 60}]
    cats = [{'id': 3, 'name': 'x'}]
    anns = [gt_box(0, 1, 3, [5, 5, 20, 20]), gt_box(-4, 1, 3, [30, 30, 20, 20]), gt_box(7, 2, 3, [5, 5, 40, 40], area=1600),
            gt_box(8, 2, 3, [50, 50, 5, 5], area=1024)]
    dets = [det(1, 3, 0.9, [5, 5, 20, 20]), det(1, 3, 0.8, [30, 30, 20, 20]), det(1, 3, 0.7, [6, 6, 20, 20]),
            det(2, 3, 0.95, [5, 5, 40, 40]), det(2, 3, 0.6, [50, 50, 5, 5]), det(2, 3, 0.5, [0, 0, 32, 32])]
    gt = {'images': images, 'categories': cats, 'annotations': anns}
    return eval_fixture('ids', 'GT annotation ids 0 and negative (pycocotools tests matches by id truthiness)',
                        gt, {'bbox': dets}, [('bbox', 'bbox'), ('bbox', 'segm')], keep=lambda k, a, i: True)


def crowd_size_dataset(rng):
    images = [{'id': 1, 'height': 40, 'width': 50}]
    cats = [{'id': 1, 'name': 'x'}]
    crowd = rects_mask(45, 47, [(0, 0, 20, 20)])  # own size [45, 47] differs from the image's [40, 50]
    anns = [gt_rle(1, 1, 1, crowd, iscrowd=1, compressed=False), gt_box(2, 1, 1, [25, 25, 10, 10])]
    dets = [det(1, 1, 0.9, [2, 2, 10, 10]), det(1, 1, 0.8, [25, 25, 10, 10]), det(1, 1, 0.7, [0, 0, 20, 20])]
    gt = {'images': images, 'categories': cats, 'annotations': anns}
    return eval_fixture('crowd_size', 'an uncompressed crowd RLE whose own size differs from the image (segm IoU -1)',
                        gt, {'bbox': dets}, [('bbox', 'bbox'), ('bbox', 'segm')], keep=lambda k, a, i: True)


def empty_bbox_dataset(rng):
    images = [{'id': 1, 'height': 30, 'width': 40}, {'id': 2, 'height': 30, 'width': 40}]
    cats = [{'id': 1, 'name': 'x'}]
    anns = [gt_box(1, 1, 1, [5, 5, 10, 10]), gt_box(2, 2, 1, [20, 10, 12, 8])]
    dets = []
    for img, rects, s in ((1, [(5, 5, 15, 15)], 0.9), (1, [(6, 5, 16, 15)], 0.8), (2, [(10, 20, 18, 32)], 0.7), (2, [(0, 0, 3, 3)], 0.6)):
        dets.append({'image_id': img, 'category_id': 1, 'bbox': [], 'score': s,
                     'segmentation': {'size': [30, 40], 'counts': cstr(encode(rects_mask(30, 40, rects)))}})
    gt = {'images': images, 'categories': cats, 'annotations': anns}
    return eval_fixture('empty_bbox', "segm results whose 'bbox' is [] (loadRes takes the segmentation branch and keeps the [])",
                        gt, {'segm': dets}, [('segm', 'segm')], keep=lambda k, a, i: True)


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    seed, outdir = int(sys.argv[1]), sys.argv[2]
    os.makedirs(outdir, exist_ok=True)
    meta = {'format': FORMAT, 'seed': seed, 'pycocotools': metadata.version('pycocotools'), 'numpy': np.__version__,
            'command': f'tools/oracle/gen_coco.py {seed} OUTDIR'}
    rng = np.random.default_rng(seed)
    rle = rle_fixtures(rng)
    rle.update(meta)
    write_atomic(os.path.join(outdir, 'rle.json'), rle)
    for make in (edge_dataset, recall_dataset, maxdets_dataset, random_dataset, ids_dataset, crowd_size_dataset, empty_bbox_dataset):
        fx = make(rng)
        fx.update(meta)
        write_atomic(os.path.join(outdir, f"eval_{fx['name']}.json"), fx)
    print('wrote', outdir)


if __name__ == '__main__':
    main()
