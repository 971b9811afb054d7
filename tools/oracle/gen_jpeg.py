#!/usr/bin/env python3
"""JPEG fixtures for lib/maskrcnn/data/jpeg.ts, with Pillow's (libjpeg-turbo's) decode as the oracle.

Usage:
    /usr/bin/python3 tools/oracle/gen_jpeg.py test/fixtures/jpeg    # Debian: apt-get install python3-pil

Made with Pillow 9.4.0 (libjpeg-turbo 2.1.5). The images are deterministic (no randomness); the
JPEG bytes depend on the libjpeg version, so the decoded reference is written beside each JPEG
and the test compares with that, not with the original pixels. Files written (each small):

* ``rgb.jpg`` / ``rgb.rgb``: a 32x24 colour image (gradients and a disc), quality 90, chroma
  4:4:4 (``subsampling=0``), and Pillow's decode of it as raw interleaved RGB bytes. 4:4:4 because
  jpeg-js upsamples subsampled chroma by pixel replication where libjpeg interpolates ("fancy
  upsampling"), which differs by tens of levels at sharp colour edges of 4:2:0 files.
* ``gray.jpg`` / ``gray.rgb``: the same picture as a one-component (grayscale) JPEG, and Pillow's
  ``convert('RGB')`` of its decode (three equal channels).
* ``orient6.jpg`` / ``orient6.rgb``: ``rgb.jpg``'s pixels stored with EXIF Orientation 6 (the
  camera was turned: display rotated 90 degrees clockwise) and Pillow's
  ``ImageOps.exif_transpose`` of its decode: 24x32 RGB bytes.
"""
import os
import sys

from PIL import Image, ImageDraw, ImageOps


def atomic_write(path, data):
    tmp = f"{path}.{os.getpid()}.tmp"
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def picture():
    w, h = 32, 24
    im = Image.new("RGB", (w, h))
    px = im.load()
    for y in range(h):
        for x in range(w):
            px[x, y] = (x * 255 // (w - 1), y * 255 // (h - 1), 128 + (x - y) * 2)
    ImageDraw.Draw(im).ellipse([8, 4, 22, 18], fill=(240, 200, 40))
    return im


def save_jpeg(im, path, **kw):
    tmp = f"{path}.{os.getpid()}.tmp.jpg"
    im.save(tmp, quality=90, **kw)
    with open(tmp, "rb") as f:
        data = f.read()
    os.remove(tmp)
    atomic_write(path, data)


def main(outdir):
    im = picture()
    rgb = os.path.join(outdir, "rgb.jpg")
    save_jpeg(im, rgb, subsampling=0)
    atomic_write(os.path.join(outdir, "rgb.rgb"), Image.open(rgb).convert("RGB").tobytes())

    gray = os.path.join(outdir, "gray.jpg")
    save_jpeg(im.convert("L"), gray)
    decoded = Image.open(gray)
    assert decoded.mode == "L"
    atomic_write(os.path.join(outdir, "gray.rgb"), decoded.convert("RGB").tobytes())

    orient = os.path.join(outdir, "orient6.jpg")
    exif = Image.Exif()
    exif[0x0112] = 6
    save_jpeg(im, orient, subsampling=0, exif=exif.tobytes())
    turned = ImageOps.exif_transpose(Image.open(orient)).convert("RGB")
    assert turned.size == (24, 32), turned.size
    atomic_write(os.path.join(outdir, "orient6.rgb"), turned.tobytes())


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "test/fixtures/jpeg")
