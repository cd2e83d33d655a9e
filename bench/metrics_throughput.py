"""Throughput of the metrics code, as ratios against plain references run in the same process.

    python bench/metrics_throughput.py [--images 32] [--batch 16] [--size 64] [--device cpu]

1. Inception pool3 feature extraction (random weights with the standard names, so no
   download): snowgan's path (batch norms folded into the convolutions, channels_last
   on CPU) vs the plain network (conv -> batch norm, NCHW), images/s.
2. FID trace term for n generated vs 2n real 2048-d features: the n x n path that
   fid_from_features takes vs the two 2048 x 2048 eigen-decompositions of the textbook
   formula (same number, checked).
3. KID, 100 subsets of n: kernel matrices computed once and indexed vs three kernel
   products per subset (the textbook loop).
4. SWD and the collapse signals on n images: seconds (no reference; they need no network).

Numbers are machine- and load-dependent; compare the ratios. Record results in
docs/lab/metrics-throughput.md with the command line used (docs/metrics.md and
docs/performance.md keep the summary).
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from snowgan.metrics import kid as kid_module
from snowgan.metrics.collapse import collapse_signals
from snowgan.metrics.features import inception_features
from snowgan.metrics.fid import feature_stats, fid_from_features, frechet_distance
from snowgan.metrics.inception import FIDInceptionV3
from snowgan.metrics.swd import swd


def random_inception(seed: int = 0) -> FIDInceptionV3:
    """A plain (unfolded, NCHW) network with random He-scaled weights and sane BN statistics."""
    g = torch.Generator().manual_seed(seed)
    net = FIDInceptionV3().eval()
    sd = net.state_dict()
    for k, v in sd.items():
        if k.endswith("conv.weight"):
            fan_in = v[0].numel()
            sd[k] = torch.randn(v.shape, generator=g) * (2.0 / fan_in) ** 0.5
        elif k.endswith(("running_var", "bn.weight")):
            sd[k] = torch.rand(v.shape, generator=g) + 0.5
        elif k.endswith(("running_mean", "bn.bias")):
            sd[k] = torch.randn(v.shape, generator=g) * 0.1
    net.load_state_dict(sd)
    return net


def images_per_s(fn, n: int, repeats: int) -> float:
    fn()  # warm-up: oneDNN picks its kernels on the first call
    t = time.perf_counter()
    for _ in range(repeats):
        fn()
    return n * repeats / (time.perf_counter() - t)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--images", type=int, default=32, help="images per timed Inception pass")
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--size", type=int, default=64, help="input image side (resized to 299 inside)")
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--n", type=int, default=500, help="images for the FID/SWD/collapse timings")
    ap.add_argument("--device", default="cpu")
    args = ap.parse_args()
    device = torch.device(args.device)
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (args.images, 3, args.size, args.size), dtype=np.uint8)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, device {device}")

    plain = random_inception().to(device)
    fast = random_inception().fold_batchnorm().to(device)
    if device.type == "cpu":
        fast = fast.to(memory_format=torch.channels_last)

    @torch.inference_mode()
    def run_plain() -> None:
        for i in range(0, len(images), args.batch):
            x = torch.from_numpy(images[i:i + args.batch]).to(device).float()
            plain(x)

    def run_fast() -> None:
        inception_features(fast, images, device, batch=args.batch, progress="none")

    with torch.inference_mode():
        x = torch.from_numpy(images[:2]).to(device).float()
        diff = (plain(x) - fast(x)).abs().max().item() / plain(x).abs().max().item()
    ref = images_per_s(run_plain, len(images), args.repeats)
    ours = images_per_s(run_fast, len(images), args.repeats)
    print(f"inception pool3 {args.size}x{args.size} -> 299x299, batch {args.batch}: "
          f"plain {ref:.2f} img/s, snowgan {ours:.2f} img/s, ratio {ours / ref:.2f}x "
          f"(max relative feature difference {diff:.1e})")

    n = args.n
    real = rng.normal(size=(2 * n, 2048)) * rng.uniform(0.1, 2, 2048)
    fake = rng.normal(size=(n, 2048)) * rng.uniform(0.1, 2, 2048)
    t = time.perf_counter()
    a = fid_from_features(real, fake)
    t_fast = time.perf_counter() - t
    t = time.perf_counter()
    b = frechet_distance(*feature_stats(real), *feature_stats(fake))
    t_full = time.perf_counter() - t
    print(f"FID {n} vs {2 * n} features: small-matrix path {t_fast:.2f} s, two 2048x2048 eigh {t_full:.2f} s, "
          f"ratio {t_full / t_fast:.1f}x (values {a:.6f} vs {b:.6f})")

    t = time.perf_counter()
    k_fast = kid_module.kid_from_features(real, fake)
    t_fast = time.perf_counter() - t
    saved, kid_module.GRAM_MAX = kid_module.GRAM_MAX, 0  # force the per-subset reference path
    t = time.perf_counter()
    k_ref = kid_module.kid_from_features(real, fake)
    t_ref = time.perf_counter() - t
    kid_module.GRAM_MAX = saved
    print(f"KID {n} vs {2 * n} features, 100 subsets of {k_fast.subset_size}: precomputed kernels {t_fast:.2f} s, "
          f"per-subset products {t_ref:.2f} s, ratio {t_ref / t_fast:.1f}x (values {k_fast.mean:.3e} vs {k_ref.mean:.3e})")

    imgs = rng.integers(0, 256, (2 * n, 3, args.size, args.size), dtype=np.uint8)
    t = time.perf_counter()
    swd(imgs[:n], imgs[n:])
    print(f"SWD {n} vs {n} images at {args.size}x{args.size}: {time.perf_counter() - t:.2f} s")
    t = time.perf_counter()
    collapse_signals(imgs[:n], imgs[n:])
    print(f"collapse signals {n} vs {n} images: {time.perf_counter() - t:.2f} s")


if __name__ == "__main__":
    main()
