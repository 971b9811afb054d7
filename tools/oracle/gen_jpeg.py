#!/usr/bin/env python3
"""JPEG fixtures for lib/maskrcnn/data/jpeg.ts, with Pillow's (libjpeg-turbo's) decode as the oracle.

Usage:
    /usr/bin/python3 tools/oracle/gen_jpeg.py test/fixtures/jpeg
    /usr/bin/python3 tools/oracle/gen_jpeg.py --bench /tmp/photo640.jpg   # the benchmark photo, not committed
    # Debian: apt-get install python3-pil libjpeg-turbo-progs (cjpeg, for the files Pillow cannot write)

Made with Pillow 9.4.0 on libjpeg-turbo 2.1.5 (cjpeg 2.1.5). The pictures are deterministic (a
seeded generator for the noise); the JPEG bytes depend on the libjpeg version, so each JPEG's
reference decode is written beside it and the tests compare with that, not with the pictures.
Each reference ``NAME.rgb`` is ``Image.open(NAME.jpg).convert("RGB").tobytes()`` (raw interleaved
RGB, Pillow's default decode: islow inverse DCT, fancy upsampling), turned by
``ImageOps.exif_transpose`` for the EXIF-rotated files. ``manifest.json`` lists every file with
its size, chroma sampling, kind and what it covers (the test reads it).

Pillow writes the baseline and progressive files (quality 90 or 95; ``subsampling`` 0, 1, 2 =
4:4:4, 4:2:2, 4:2:0). Pillow 9.4 cannot write restart markers, 4:4:0 / 4:1:1 sampling, sequential
files of several scans or RGB-coded files, so those are written by libjpeg-turbo's ``cjpeg`` from
a PPM of the same picture and decoded by Pillow like the others; without ``cjpeg`` they are
skipped (with a message, and absent from the manifest).
"""
import io
import json
import os
import random
import shutil
import subprocess
import sys

from PIL import Image, ImageDraw, ImageOps


def atomic_write(path, data):
    tmp = f"{path}.{os.getpid()}.tmp"
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def picture(w=32, h=24, noise=0, seed=1):
    """Gradients, a yellow disc (sharp colour edges) and optional seeded noise (photo-like texture)."""
    im = Image.new("RGB", (w, h))
    px = im.load()
    for y in range(h):
        for x in range(w):
            px[x, y] = (x * 255 // (w - 1), y * 255 // (h - 1), max(0, min(255, 128 + (x - y) * 2)))
    ImageDraw.Draw(im).ellipse([w // 4, h // 6, w * 11 // 16, h * 3 // 4], fill=(240, 200, 40))
    if noise:
        rng = random.Random(seed)
        for y in range(h):
            for x in range(w):
                r, g, b = px[x, y]
                px[x, y] = tuple(max(0, min(255, v + rng.randint(-noise, noise))) for v in (r, g, b))
    return im


def jpeg_bytes(im, **kw):
    buf = io.BytesIO()
    im.save(buf, format="JPEG", **kw)
    return buf.getvalue()


def cjpeg_bytes(im, args):
    ppm = io.BytesIO()
    im.save(ppm, format="PPM")
    return subprocess.run(["cjpeg", *args], input=ppm.getvalue(), stdout=subprocess.PIPE, check=True).stdout


def main(outdir):
    os.makedirs(outdir, exist_ok=True)
    manifest = []

    def emit(name, data, covers, turn=False):
        path = os.path.join(outdir, f"{name}.jpg")
        atomic_write(path, data)
        decoded = Image.open(path)
        decoded.load()
        info = {"file": f"{name}.jpg", "reference": f"{name}.rgb", "covers": covers}
        info["stored_size"] = list(decoded.size)
        info["mode"] = decoded.mode
        info["progressive"] = bool(decoded.info.get("progressive"))
        rgb = (ImageOps.exif_transpose(decoded) if turn else decoded).convert("RGB")
        info["size"] = list(rgb.size)
        atomic_write(os.path.join(outdir, f"{name}.rgb"), rgb.tobytes())
        manifest.append(info)

    base = picture()
    photo = picture(48, 40, noise=40, seed=7)
    odd = picture(33, 17, noise=24, seed=3)

    # The first three keep their names (and bytes) from the first version of this script.
    emit("rgb", jpeg_bytes(base, quality=90, subsampling=0), "4:4:4 baseline, 32x24")
    emit("gray", jpeg_bytes(base.convert("L"), quality=90), "one component (grayscale), 32x24")
    exif = Image.Exif()
    exif[0x0112] = 6
    emit("orient6", jpeg_bytes(base, quality=90, subsampling=0, exif=exif.tobytes()), "EXIF orientation 6, 4:4:4", turn=True)

    emit("s422", jpeg_bytes(base, quality=90, subsampling=1), "4:2:2 (h2v1 fancy upsampling), 32x24")
    emit("s420", jpeg_bytes(base, quality=90, subsampling=2), "4:2:0 (h2v2 fancy upsampling), 32x24")
    emit("photo444", jpeg_bytes(photo, quality=95, subsampling=0), "noisy 48x40 4:4:4 (inverse DCT rounding)")
    emit("photo420", jpeg_bytes(photo, quality=95, subsampling=2), "noisy 48x40 4:2:0")
    emit("progressive", jpeg_bytes(photo, quality=90, subsampling=2, progressive=True), "progressive 4:2:0 (spectral selection and successive approximation)")
    emit("progressive_gray", jpeg_bytes(odd.convert("L"), quality=90, progressive=True), "progressive grayscale, 33x17")
    emit("odd420", jpeg_bytes(odd, quality=90, subsampling=2), "33x17 4:2:0 (partial MCUs, odd chroma width)")
    emit("odd422", jpeg_bytes(odd, quality=90, subsampling=1), "33x17 4:2:2")
    emit("odd_q75", jpeg_bytes(odd, quality=75), "33x17 at Pillow's defaults (quality 75, 4:2:0)")
    emit("tiny420", jpeg_bytes(picture(3, 3, noise=60, seed=5), quality=90, subsampling=2), "3x3 4:2:0 (chroma 2 samples wide: upsampled by replication)")
    emit("tiny1", jpeg_bytes(Image.new("RGB", (1, 1), (200, 30, 90)), quality=90, subsampling=2), "1x1 4:2:0")
    emit("cmyk", jpeg_bytes(odd.convert("CMYK"), quality=90), "CMYK (Adobe APP14, inverted), 33x17")
    exif8 = Image.Exif()
    exif8[0x0112] = 8
    emit("orient8", jpeg_bytes(odd, quality=90, subsampling=2, exif=exif8.tobytes()), "EXIF orientation 8 on a 33x17 4:2:0 file", turn=True)
    exif3 = Image.Exif()
    exif3[0x0112] = 3
    emit("orient3", jpeg_bytes(odd, quality=90, subsampling=2, exif=exif3.tobytes()), "EXIF orientation 3 on a 33x17 4:2:0 file", turn=True)

    if shutil.which("cjpeg"):
        emit("s440", cjpeg_bytes(odd, ["-quality", "90", "-sample", "1x2"]), "4:4:0 (h1v2 fancy upsampling) by cjpeg, 33x17")
        emit("s411", cjpeg_bytes(odd, ["-quality", "90", "-sample", "4x1"]), "4:1:1 (h4v1, upsampled by replication) by cjpeg, 33x17")
        emit("restart", cjpeg_bytes(photo, ["-quality", "90", "-sample", "2x2", "-restart", "2B"]), "restart markers every 2 MCUs by cjpeg, 48x40 4:2:0")
        emit("progressive_restart", cjpeg_bytes(photo, ["-quality", "90", "-progressive", "-sample", "2x2", "-restart", "1B"]), "progressive with a restart marker every MCU by cjpeg")
        script = os.path.join(outdir, f".scans.{os.getpid()}.txt")
        with open(script, "w") as f:
            f.write("0;\n1;\n2;\n")  # one sequential scan per component: non-interleaved (T.81 A.2.2)
        try:
            emit("sequential_scans", cjpeg_bytes(odd, ["-quality", "90", "-sample", "2x2", "-scans", script]), "a sequential (not progressive) file of three non-interleaved scans by cjpeg, 33x17 4:2:0")
        finally:
            os.remove(script)
        emit("rgb_colorspace", cjpeg_bytes(odd, ["-quality", "90", "-rgb"]), "RGB stored without colour transform (Adobe transform 0) by cjpeg -rgb, 33x17")
    else:
        print("cjpeg not found: s440, s411, restart and progressive_restart not written", file=sys.stderr)
    atomic_write(os.path.join(outdir, "manifest.json"), (json.dumps(manifest, indent=1) + "\n").encode())


def bench(path):
    """A 640x480 photo-like JPEG (smooth colour regions, edges, sensor-like noise; quality 90,
    4:2:0, Pillow's defaults otherwise) for tools/oracle/bench_jpeg.ts, and Pillow's decode of it
    beside it (``.rgb``)."""
    from PIL import ImageFilter
    rng = random.Random(1)
    w, h = 640, 480
    base = Image.new("RGB", (w, h))
    px = base.load()
    for y in range(h):
        for x in range(w):
            px[x, y] = ((x * 255) // w, (y * 255) // h, 128)
    blobs = Image.new("RGB", (80, 60))
    bp = blobs.load()
    for y in range(60):
        for x in range(80):
            bp[x, y] = tuple(rng.randint(0, 255) for _ in range(3))
    im = Image.blend(base, blobs.resize((w, h), Image.BICUBIC).filter(ImageFilter.GaussianBlur(2)), 0.6)
    im = Image.blend(im, Image.effect_noise((w, h), 20).convert("RGB"), 0.15)
    atomic_write(path, jpeg_bytes(im, quality=90))
    atomic_write(path[: -len(".jpg")] + ".rgb" if path.endswith(".jpg") else path + ".rgb", Image.open(path).convert("RGB").tobytes())


if __name__ == "__main__":
    if len(sys.argv) > 2 and sys.argv[1] == "--bench":
        bench(sys.argv[2])
    else:
        main(sys.argv[1] if len(sys.argv) > 1 else "test/fixtures/jpeg")
