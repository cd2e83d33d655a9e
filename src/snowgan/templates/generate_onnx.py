"""Images from generator.onnx without PyTorch: pip install onnxruntime numpy pillow

    python generate_onnx.py --n 8 --seed 0 --out images/ [--class NAME] [--truncation 1.5]

Seed s gives the image `snowgan generate --model . --seed s` makes: latents are drawn as torch.randn
draws them on a CPU (its MT19937 and Box-Muller), here in numpy. Written by `snowgan export --format onnx`.
"""
import argparse
import json
from pathlib import Path

import numpy as np
import onnxruntime as ort
from PIL import Image


def randn(bits, n, spare):
    """n values of torch.randn(n) from the MT19937 `bits`; spare holds its scalar path's second value."""
    if n >= 16:  # torch's block path: 24-bit uniforms, Box-Muller over blocks of 16, a ragged tail redrawn
        def unit(k):
            return (bits.random_raw(k) & 0xFFFFFF).astype(np.float32) / np.float32(2 ** 24)
        u = unit(n)
        for s in [*range(0, n - 15, 16), *([n - 16] if n % 16 else [])]:
            b = u[s:s + 16] if s % 16 == 0 else unit(16)
            r, t = np.sqrt(-2 * np.log(1 - b[:8])), np.float32(2 * np.pi) * b[8:]
            u[s:s + 16] = np.concatenate([r * np.cos(t), r * np.sin(t)])
        return u
    out = []
    for _ in range(n):  # torch's scalar path: float64 Box-Muller, one value kept for the next draw
        if not spare:
            a = [int(x) for x in bits.random_raw(4)]
            u1, u2 = (((hi << 32) | lo) % 2 ** 53 / 2 ** 53 for hi, lo in (a[:2], a[2:]))
            r = np.sqrt(-2 * np.log1p(-u2))
            spare += [r * np.sin(2 * np.pi * u1), r * np.cos(2 * np.pi * u1)]
        out.append(spare.pop())
    return np.array(out, np.float32)


def latent(seed, dim, truncation=None):
    """snowgan.sample.latents(1, dim, seed, truncation)[0]: values beyond the truncation are redrawn."""
    bits, spare = np.random.MT19937(), []
    bits.state = np.random.RandomState(seed % 2 ** 32).get_state(legacy=False)
    z = randn(bits, dim, spare)
    for _ in range(1000 if truncation else 0):
        bad = np.abs(z) > truncation
        if not bad.any():
            break
        z[bad] = randn(bits, int(bad.sum()), spare)
    return z



def main():
    here = Path(__file__).resolve().parent
    p = argparse.ArgumentParser(description="images from generator.onnx (onnxruntime, numpy, Pillow)")
    p.add_argument("--n", type=int, default=8, help="number of images (seeds seed, seed+1, ...)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default="onnx-images", help="folder for the PNGs")
    p.add_argument("--class", dest="cls", help="a conditional model's class (name or index); default: each in turn")
    p.add_argument("--truncation", type=float, help="redraw latent values beyond this (e.g. 1.5)")
    p.add_argument("--model", default=str(here / "generator.onnx"))
    a = p.parse_args()
    if a.n < 1:
        p.error("--n: give at least 1")
    sess = ort.InferenceSession(a.model, providers=["CPUExecutionProvider"])
    dim = sess.get_inputs()[0].shape[1]  # z: (batch, latent_dim)
    classes = json.loads(sess.get_modelmeta().custom_metadata_map.get("classes", "[]"))
    if a.cls is not None and a.cls not in classes and not (a.cls.isdigit() and int(a.cls) < len(classes)):
        p.error(f"--class {a.cls}: choose one of {classes}" if classes else "--class: this model has no classes")
    k = None if a.cls is None else classes.index(a.cls) if a.cls in classes else int(a.cls)
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    for first in range(0, a.n, 64):  # 64 images per run of the graph
        seeds = range(a.seed + first, a.seed + min(a.n, first + 64))
        feed = {"z": np.stack([latent(s, dim, a.truncation) for s in seeds])}
        labels = [i % max(1, len(classes)) if k is None else k for i in range(first, first + len(seeds))]
        if classes:
            feed["class"] = np.array(labels, np.int64)
        images = sess.run(["images"], feed)[0]  # (B, C, H, W) in [-1, 1]
        pixels = ((images.clip(-1, 1) + 1) * 127.5).round().astype(np.uint8).transpose(0, 2, 3, 1)
        for s, y, px in zip(seeds, labels, pixels):  # file names as snowgan generate writes them
            name = f"{classes[y] + '-' if classes else ''}seed{s:06d}.png"
            Image.fromarray(px[..., 0] if px.shape[-1] == 1 else px).save(out / name)
    print(f"wrote {a.n} images to {out}")


if __name__ == "__main__":
    main()
