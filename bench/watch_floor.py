"""The spectral error and the feature variety of a real folder against itself, and of motif-collapsed sets.

    python bench/watch_floor.py --data ../shared/data/tshirts --size 64 [--splits 5] [--grids DIR]

What a user reads the two numbers against (docs/metrics.md):

1. Two random disjoint halves of the real images (prepared as training would, centre crop), --splits
   times: the high-frequency spectral error (metrics/spectrum.py, dB), the feature variety (k=3) and the
   feature coverage (k=5) in the Inception features (metrics/collapse.py) between n images of one half
   and n of the other, at n = 256 (the in-training watch's count) and n = half the folder (about what
   ``snowgan evaluate`` compares). Both sides are the same distribution: the numbers are the floor.
2. Motif-collapsed sets of 256 images made from the real ones: crops of one photo at random places and
   scales, mirrored and recoloured (every sample the same shirt and print in another layout: what a run
   on 919 illustrations showed, issue 43), for three photos, and the same from four photos; then
   held-out real images blurred (Gaussian, sigma 1 px), noisy (sd 12 of 255), at half resolution, or
   blurred (sigma 1.5) and noisy (sd 8): varied but unlike the photos, where the watch must stay quiet.
   Printed for each: the pixel diversity the collapse watch always measured, the feature variety and
   coverage, the spectral error and the warning
   ``collapse_warning`` gives. --grids DIR writes the first 32 images of each set as a PNG.

The real images' Inception features are cached like the in-training ones (the same key as
bench/fid_noise_floor.py), so a second call, or one after a run's first KID check, skips them.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from snowgan.config import Config  # noqa: E402
from snowgan.data.load import load_dataset  # noqa: E402
from snowgan.metrics.collapse import (collapse_signals, collapse_warning, feature_coverage,  # noqa: E402
                                      feature_variety)
from snowgan.metrics.features import inception_features, real_features  # noqa: E402
from snowgan.metrics.spectrum import power_spectrum, spectral_error  # noqa: E402
from snowgan.metrics.tracker import metrics_cache_dir  # noqa: E402
from snowgan.metrics.weights import load_inception, resolve_weights  # noqa: E402

WATCH_N = 256
SOURCES = (42, 5, 100)  # the photos whose crops make the one-photo sets (index in the prepared folder)


def prepared(data: str, size: int) -> tuple[np.ndarray, str]:
    cfg = Config()
    cfg.data.data = None if data == "builtin" else data
    cfg.data.image_size, cfg.run.progress = str(size), "none"
    ds = load_dataset(cfg)
    return np.asarray(ds.images), ds.fingerprint


def crops(src: np.ndarray, n: int, size: int, seed: int) -> np.ndarray:
    """n crops of one uint8 (C, H, W) image: 35-80 % of its side at a random place, area-resized to size,
    mirrored half the time, channels permuted and scaled by 0.7-1.3 (another palette of the same motif)."""
    rng = np.random.default_rng(seed)
    _, h, w = src.shape
    out = np.empty((n, src.shape[0], size, size), np.uint8)
    for i in range(n):
        s = int(rng.uniform(0.35, 0.8) * min(h, w))
        y, x = rng.integers(0, h - s + 1), rng.integers(0, w - s + 1)
        c = F.interpolate(torch.from_numpy(src[None, :, y:y + s, x:x + s].astype(np.float32)), size=(size, size),
                          mode="area")[0].numpy()
        if rng.random() < 0.5:
            c = c[:, :, ::-1]
        c = c[rng.permutation(c.shape[0])] * rng.uniform(0.7, 1.3, (c.shape[0], 1, 1))
        out[i] = np.clip(c + 0.5, 0, 255)
    return out


def blurred(images: np.ndarray, sigma: float) -> np.ndarray:
    """A separable Gaussian blur (7 taps, reflected borders) of uint8 (N, C, H, W) images."""
    k = torch.exp(-torch.arange(-3, 4, dtype=torch.float32) ** 2 / (2 * sigma * sigma))
    k = k / k.sum()
    x = torch.from_numpy(images.astype(np.float32))
    c = x.shape[1]
    x = F.conv2d(F.pad(x, (3, 3, 0, 0), mode="reflect"), k.view(1, 1, 1, 7).repeat(c, 1, 1, 1), groups=c)
    x = F.conv2d(F.pad(x, (0, 0, 3, 3), mode="reflect"), k.view(1, 1, 7, 1).repeat(c, 1, 1, 1), groups=c)
    return x.round().clamp(0, 255).to(torch.uint8).numpy()


def save_grid(images: np.ndarray, path: Path, cols: int = 16) -> None:
    from PIL import Image

    n, c, h, w = images.shape
    rows = -(-n // cols)
    grid = np.full((rows * (h + 2), cols * (w + 2), 3), 255, np.uint8)
    for i, im in enumerate(images):
        r, q = divmod(i, cols)
        grid[r * (h + 2):r * (h + 2) + h, q * (w + 2):q * (w + 2) + w] = np.repeat(im, 3 // c, 0).transpose(1, 2, 0)
    Image.fromarray(grid).save(path)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", required=True, help="a folder, zip, ... or 'builtin'")
    ap.add_argument("--size", type=int, default=64)
    ap.add_argument("--splits", type=int, default=5)
    ap.add_argument("--grids", default=None, help="a folder for a PNG of each motif-collapsed set")
    args = ap.parse_args()
    images, fingerprint = prepared(args.data, args.size)
    cfg = Config()
    weights = resolve_weights(None, allow_download=False)
    net = load_inception(weights)
    t = time.perf_counter()
    feats = real_features(net, images, fingerprint, weights.cache_key, metrics_cache_dir(cfg), progress="none",
                          subset="all-native")
    print(f"{len(images)} images of {args.data} at {args.size} px (fingerprint {fingerprint}); Inception features in "
          f"{time.perf_counter() - t:.1f} s (or a cache hit); {weights.protocol()}")
    half = len(images) // 2
    rng = np.random.default_rng(0)
    splits = [rng.permutation(len(images)) for _ in range(args.splits)]
    print(f"two halves of the real images, {args.splits} random splits (mean +- sd):")
    for n in (WATCH_N, half):
        hf, bias, cov, rec = [], [], [], []
        for p in splits:
            a, b = p[:n], p[half:half + n]
            err = spectral_error(power_spectrum(images[a]), power_spectrum(images[b]))
            hf.append(err.hf)
            bias.append(err.bias)
            cov.append(feature_coverage(feats[b], feats[a]))
            rec.append(feature_variety(feats[b], feats[a]))
        print(f"  n = {n:>4} a side: spectral_hf {np.mean(hf):.2f} +- {np.std(hf):.2f} dB (bias {np.mean(bias):+.2f}), "
              f"feature_coverage {np.mean(cov):.3f} +- {np.std(cov):.3f}, "
              f"feature_variety {np.mean(rec):.3f} +- {np.std(rec):.3f}")
    sources, _ = prepared(args.data, 2 * args.size)  # crops from twice the size: as sharp as the real images
    real = images[splits[0][:WATCH_N]]
    f_real = feats[splits[0][:WATCH_N]]
    sets = {f"crops of photo {i}": crops(sources[i], WATCH_N, args.size, seed=i) for i in SOURCES}
    four = np.concatenate([crops(sources[i], WATCH_N // 4, args.size, seed=i) for i in SOURCES + (300,)])
    sets["crops of 4 photos"] = four[rng.permutation(len(four))]
    held = images[splits[0][half:half + WATCH_N]]
    sets["held-out real images"] = held
    sets["held-out, blurred"] = blurred(held, 1.0)
    noise = np.random.default_rng(1).normal(0, 12, held.shape)
    sets["held-out, noisy"] = np.clip(held + noise, 0, 255).round().astype(np.uint8)
    half_res = F.interpolate(F.avg_pool2d(torch.from_numpy(held).float(), 2), scale_factor=2, mode="bilinear")
    sets["held-out, half resolution"] = half_res.round().clamp(0, 255).to(torch.uint8).numpy()
    noise = np.random.default_rng(2).normal(0, 8, held.shape)
    sets["held-out, blurred and noisy"] = np.clip(blurred(held, 1.5) + noise, 0, 255).round().astype(np.uint8)
    print(f"sets of {WATCH_N} against {WATCH_N} real images (the watch's counts):")
    for name, x in sets.items():
        f = feats[splits[0][half:half + WATCH_N]] if name == "held-out real images" else \
            inception_features(net, x, progress="none")
        values = collapse_signals(x, real).as_dict()
        values["feature_coverage"] = feature_coverage(f, f_real)
        values["feature_variety"] = feature_variety(f, f_real)
        err = spectral_error(power_spectrum(real), power_spectrum(x))
        warning = collapse_warning(values)
        print(f"  {name:<28} pixel diversity {values['diversity']:.2f}, feature_coverage "
              f"{values['feature_coverage']:.3f}, feature_variety {values['feature_variety']:.3f}, "
              f"spectral_hf {err.hf:.2f} dB: "
              f"{'WARNING ' + warning if warning else 'no warning'}")
        if args.grids:
            Path(args.grids).mkdir(parents=True, exist_ok=True)
            save_grid(x[:32], Path(args.grids) / f"{name.replace(' ', '-')}-{args.size}px.png")


if __name__ == "__main__":
    main()
