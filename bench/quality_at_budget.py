"""Does the speed cost quality? fp32 vs snowgan's fast defaults for the same wall-clock budget.

    python bench/quality_at_budget.py                          # DCGAN 32 px, 120 s each, seed 0
    python bench/quality_at_budget.py --budget_s 300 --seeds 0,1 --json out.json

Both variants train the same networks from the same initial weights on the built-in
dataset, through the training loop's hot path (bench/train_throughput.py's
SnowganIteration: Batches -> GANSteps.d_step -> g_step -> EMA). They take turns in
slices of --slice_s seconds until each has had --budget_s seconds of training, so a
machine shared with other jobs slows both alike. Then each EMA generator makes
--n_images images from the same fixed latents, scored by SWD (x1e3, Laplacian-pyramid
patches, lower is better; snowgan.metrics.swd) against as many real images. The
real-vs-real SWD of two disjoint halves of the data is printed as the noise floor.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from train_throughput import SnowganIteration  # noqa: E402
from resultfile import write_results  # noqa: E402

from snowgan.metrics.swd import swd  # noqa: E402
from snowgan.sample import generate_images, latents  # noqa: E402
from snowgan.train.device import configure_threads  # noqa: E402

VARIANTS = {"fp32": ["--precision", "fp32"], "defaults": []}


def train_for_budget(runners: dict[str, SnowganIteration], budget_s: float, slice_s: float) -> dict[str, dict]:
    """Alternate the runners in slices until each has trained budget_s seconds; per runner: s, iterations."""
    used = {k: 0.0 for k in runners}
    iters = {k: 0 for k in runners}
    order = list(runners)
    while any(used[k] < budget_s for k in order):
        for k in order:
            t0 = time.perf_counter()
            while used[k] + (time.perf_counter() - t0) < budget_s and time.perf_counter() - t0 < slice_s:
                runners[k]()
                iters[k] += 1
            used[k] += time.perf_counter() - t0
        order.reverse()  # who goes first alternates
        done = sum(min(u, budget_s) for u in used.values())
        print(f"  {done:.0f}/{budget_s * len(order):.0f} s trained: "
              + ", ".join(f"{k} {iters[k]} it" for k in order), flush=True)
    return {k: {"train_s": used[k], "iterations": iters[k],
                "kimg": iters[k] * runners[k].cfg.train.disc_steps * runners[k].batch_size / 1000} for k in runners}


def score(runner: SnowganIteration, real: np.ndarray, n: int) -> float:
    G = runner.steps.G_ema.eval()
    z = latents(n, runner.cfg.model.latent_dim, seed=1234)
    with torch.no_grad():
        fake = generate_images(G, z, runner.device)
    return swd(real[:n], fake, seed=0).mean


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--budget_s", type=float, default=120.0, help="training seconds per variant")
    p.add_argument("--slice_s", type=float, default=5.0, help="seconds per turn")
    p.add_argument("--image_size", default="32")
    p.add_argument("--batch_size", default="64")
    p.add_argument("--seeds", default="0", help="comma-separated initialisation/data seeds")
    p.add_argument("--n_images", type=int, default=512, help="generated (and real) images per SWD")
    p.add_argument("--flags", default="", help="extra snowgan flags for both variants, e.g. '--loss hinge'")
    p.add_argument("--json", default=None)
    args = p.parse_args(argv)
    threads = configure_threads(torch.device("cpu"))
    print(f"torch {torch.__version__}, {threads}", flush=True)
    base = ["--loss", "nonsat", "--image_size", args.image_size, "--batch_size", args.batch_size, "--progress", "none",
            *args.flags.split()]
    results = []
    for seed in [int(s) for s in args.seeds.split(",") if s]:
        runners = {k: SnowganIteration(base + v, seed=seed) for k, v in VARIANTS.items()}
        first = next(iter(runners.values()))
        print(f"seed {seed}: " + "; ".join(f"{k}: precision {r.precision.name}" for k, r in runners.items()),
              flush=True)
        trained = train_for_budget(runners, args.budget_s, args.slice_s)
        real = first.dataset.images
        n = min(args.n_images, len(real) // 2)
        floor = swd(real[:n], real[n:2 * n], seed=0).mean
        row = {"seed": seed, "swd_real_vs_real": floor}
        for k, r in runners.items():
            row[k] = {**trained[k], "swd": score(r, real, n)}
            print(f"  {k}: {trained[k]['iterations']} iterations ({trained[k]['kimg']:.1f} kimg) in "
                  f"{trained[k]['train_s']:.0f} s -> SWD {row[k]['swd']:.1f}", flush=True)
        print(f"  real vs real (noise floor): SWD {floor:.1f}", flush=True)
        results.append(row)
    if len(results) > 1:
        for k in VARIANTS:
            print(f"median SWD {k}: {statistics.median(r[k]['swd'] for r in results):.1f}")
    if args.json:
        write_results(args.json, {"command": " ".join(sys.argv), "threads": threads, "results": results})
    return 0


if __name__ == "__main__":
    sys.exit(main())
