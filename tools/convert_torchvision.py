#!/usr/bin/env python3
"""Convert torchvision's Mask R-CNN weights (a .pth you already have) to safetensors.

    python3 tools/convert_torchvision.py maskrcnn_resnet50_fpn_coco-bf2d0c1e.pth maskrcnn_resnet50_fpn.safetensors

Reads the state dict of torchvision's `maskrcnn_resnet50_fpn` (the file torchvision downloads to
~/.cache/torch/hub/checkpoints/, or any checkpoint with the same keys: a dict holding the state
dict directly, or under "model" / "state_dict"), and writes every tensor under the SAME key name
as float32, so that `loadTorchvision(path)` in lib/maskrcnn/model/weights.ts loads it by name, strictly.
This script never downloads anything: pass the path of a file you already have.

Only torch is needed (no torchvision, no safetensors package): the safetensors format is an
8-byte little-endian header length, a JSON header {name: {dtype, shape, data_offsets}} and the raw
little-endian tensor bytes. The output is written to a temporary file in the same directory,
flushed, and renamed over the destination (a crash never leaves a truncated file).

Checks: the state dict must have torchvision's Mask R-CNN keys (a `backbone.body.*`,
`rpn.head.*`, `roi_heads.box_predictor.*` and `roi_heads.mask_predictor.*` key each); integer
buffers (`num_batches_tracked`, which torchvision's FrozenBatchNorm2d does not have) are skipped.
"""
import json
import os
import struct
import sys
import tempfile

import torch


REQUIRED_PREFIXES = ("backbone.body.", "backbone.fpn.", "rpn.head.", "roi_heads.box_head.",
                     "roi_heads.box_predictor.", "roi_heads.mask_head.", "roi_heads.mask_predictor.")


def load_state_dict(path):
    obj = torch.load(path, map_location="cpu")
    for key in ("model", "state_dict"):
        if isinstance(obj, dict) and key in obj and isinstance(obj[key], dict):
            obj = obj[key]
    if not isinstance(obj, dict):
        raise SystemExit(f"convert_torchvision: {path} holds a {type(obj).__name__}, not a state dict")
    missing = [p for p in REQUIRED_PREFIXES if not any(k.startswith(p) for k in obj)]
    if missing:
        raise SystemExit(f"convert_torchvision: {path} is not a torchvision Mask R-CNN state dict "
                         f"(no key starts with {', '.join(missing)})")
    return obj


def encode(state_dict):
    header, chunks, offset = {}, [], 0
    for name, tensor in state_dict.items():
        if not torch.is_tensor(tensor):
            continue
        if not tensor.is_floating_point():
            continue  # num_batches_tracked and the like: not part of the model's state
        data = tensor.detach().to(torch.float32).contiguous().numpy().astype("<f4").tobytes()
        header[name] = {"dtype": "F32", "shape": list(tensor.shape), "data_offsets": [offset, offset + len(data)]}
        chunks.append(data)
        offset += len(data)
    header["__metadata__"] = {"format": "pt", "source": "torchvision maskrcnn_resnet50_fpn"}
    text = json.dumps(header, separators=(",", ":")).encode("utf-8")
    text += b" " * (-len(text) % 8)  # the format pads the header to a multiple of 8 with spaces
    return struct.pack("<Q", len(text)) + text, chunks


def write_atomic(path, head, chunks):
    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=".convert_torchvision.", dir=directory)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(head)
            for chunk in chunks:
                f.write(chunk)
            f.flush()
            os.fsync(f.fileno())
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp creates 0600; give the file the usual permissions
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def main(argv):
    if len(argv) != 3:
        raise SystemExit("usage: python3 tools/convert_torchvision.py IN.pth OUT.safetensors")
    state_dict = load_state_dict(argv[1])
    head, chunks = encode(state_dict)
    write_atomic(argv[2], head, chunks)
    print(f"wrote {argv[2]}: {len(chunks)} tensors, {sum(len(c) for c in chunks) / 1e6:.1f} MB")


if __name__ == "__main__":
    main(sys.argv)
