"""Data throughput: how fast `prepare` decodes, and whether the cache keeps up with training.

    python bench/data_throughput.py [--n 400] [--src 640x480] [--size 64] [--batch 64]

Measured in one process, on the same generated JPEG photos, so the ratios are fair:

1. prepare rate (images/s) of snowgan's prepare (1 worker, and all cores) against a
   plain one-process PIL loop doing the same work (open, RGB, centre-crop, Lanczos to
   size: ``ImageOps.fit``) — the loop most training scripts run on every epoch;
2. a cache hit: how long reusing the prepared dataset takes;
3. read rate from the memory-mapped cache through the training loader (random batches,
   uint8 -> float [-1, 1]) against what a DCGAN training iteration consumes
   (images/s of D step + G step at the same size and batch).

Figures are printed; record them in docs/lab/data-throughput.md (docs/performance.md keeps
the summary).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))


def make_photos(folder: Path, n: int, w: int, h: int) -> None:
    """n photo-like JPEGs: smooth colour fields with fine noise (compress like real photos)."""
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    for i in range(n):
        f = rng.uniform(0.5, 3, 3)
        img = np.stack([np.sin(xx / w * f[c] * 6 + yy / h * f[(c + 1) % 3] * 4 + i) for c in range(3)], -1)
        img = (img * 90 + 128 + rng.normal(0, 12, (h, w, 3))).clip(0, 255).astype(np.uint8)
        Image.fromarray(img).save(folder / f"photo_{i:04d}.jpg", quality=90)


def plain_loop(files: list[Path], size: int) -> np.ndarray:
    out = np.empty((len(files), size, size, 3), np.uint8)
    for i, p in enumerate(files):
        with Image.open(p) as im:
            out[i] = np.asarray(ImageOps.fit(im.convert("RGB"), (size, size), Image.Resampling.LANCZOS))
    return out


def timed(fn, *a, **k):
    t = time.perf_counter()
    r = fn(*a, **k)
    return r, time.perf_counter() - t


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=400)
    ap.add_argument("--src", default="640x480", help="WxH of the generated photos")
    ap.add_argument("--size", type=int, default=64)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--train_iters", type=int, default=5)
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0: as training sets them)")
    args = ap.parse_args()
    w, h = (int(v) for v in args.src.split("x"))

    import torch

    from snowgan.flags import parse_args
    from snowgan.data.dataset import Batches
    from snowgan.data.pipeline import worker_count
    from snowgan.data.prepare import prepare_dataset

    from snowgan.train.device import configure_threads

    dev = torch.device("cpu")
    threads = configure_threads(dev) if args.threads == 0 else f"{args.threads} threads"
    if args.threads:
        torch.set_num_threads(args.threads)
    cores = worker_count(0)
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"{args.n} JPEG photos {w}x{h} -> {args.size}x{args.size}; {cores} cores (load average {load:.1f}); "
          f"torch {torch.__version__}, {threads}")
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "photos"
        src.mkdir()
        make_photos(src, args.n, w, h)
        files = sorted(src.iterdir())

        _, t_ref = timed(plain_loop, files, args.size)
        ref = args.n / t_ref
        print(f"plain PIL loop (1 process)        {ref:8.1f} img/s")

        def cfg_for(workers: int, cache: str):
            cfg, _ = parse_args(["--data", str(src), "--image_size", str(args.size), "--workers", str(workers),
                                 "--cache_dir", os.path.join(tmp, cache), "--progress", "none"])
            return cfg

        for workers in sorted({1, cores}):
            cfg = cfg_for(workers, f"cache{workers}")
            ds, t = timed(prepare_dataset, cfg, progress="none")
            print(f"snowgan prepare, {workers:2d} worker(s)       {args.n / t:8.1f} img/s   "
                  f"x{(args.n / t) / ref:.2f} vs plain loop")
        _, t_hit = timed(prepare_dataset, cfg, progress="none")
        print(f"cache hit (fingerprint + mmap)     {t_hit * 1000:8.1f} ms")

        with warnings.catch_warnings():  # torch notes that the memory-mapped cache is read-only: it is
            warnings.simplefilter("ignore", UserWarning)
            batches = Batches(ds, seed=0, device=dev, target_hw=(args.size, args.size), mirror=True)
        n_batches = max(20, 4 * args.n // args.batch)
        batches.next(args.batch)
        _, t_read = timed(lambda: [batches.next(args.batch) for _ in range(n_batches)])
        read = n_batches * args.batch / t_read
        print(f"cache read via loader (batch {args.batch})   {read:8.0f} img/s")

        dcgan = ["--loss", "nonsat", "--image_size", str(args.size), "--batch_size", str(args.batch)]
        consume = train_rate(parse_args(dcgan)[0],
                             dev, args.batch, args.train_iters)
        print(f"DCGAN training consumes            {consume:8.0f} img/s   "
              f"(cache read is x{read / consume:.0f} that)")


def train_rate(cfg, device, batch: int, iters: int) -> float:
    """Real images per second one D step + one G step (DCGAN defaults, auto precision) take in."""
    import torch

    from snowgan.models.registry import build_networks
    from snowgan.train.device import pick_precision
    from snowgan.train.step import GANSteps

    torch.manual_seed(0)
    G, D = build_networks(cfg)
    steps = GANSteps(cfg, G.to(device), D.to(device), device, pick_precision(cfg.train.precision, device))
    from snowgan.data.dataset import Batch

    real = Batch(torch.rand(batch, cfg.data.channels, *cfg.image_hw, device=device) * 2 - 1)
    steps.d_step(real)
    steps.g_step(real)  # warm-up
    t = time.perf_counter()
    for i in range(iters):
        steps.d_step(real, i)
        steps.g_step(real)
    return iters * batch / (time.perf_counter() - t)


if __name__ == "__main__":
    main()
