"""G updated more often than D, measured variant by variant: why the default is a 5-step critic.

    python bench/gen_steps_balance.py                       # 32 px, 400 iterations each, ~20 min on 2 cores
    python bench/gen_steps_balance.py --image_size 64 --out /tmp/balance --json balance.json

Each variant is a real `python -m snowgan --mode train` run on the built-in dataset in a
scratch folder, from the same seed, for the same number of iterations. At the end the EMA
generator is measured by the in-training metrics (the same code as `--metrics_every`):

- diversity: mean pairwise distance of generated images / the same of real images
  (1 = as varied as the data; the collapse warning fires below 0.5),
- dup_rate: fraction of generated images with a near-duplicate among them,
- swd: sliced Wasserstein distance x1e3 to the real images (lower is better).

It writes every variant's last sample grid and one labelled montage (`balance.png`) to
--out, so the numbers can be checked by eye. The README's "The two seed commands" quotes it.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from PIL import Image, ImageDraw

from resultfile import write_results

SRC = Path(__file__).resolve().parents[1] / "src"

# name -> flags. The seed command verbatim gets the default model (WGAN-GP, 5 critic steps);
# the others ask for the DCGAN loss to show what G out-stepping D does there.
_SEED = ["--gen_steps", "4", "--disc_lr", "0.0001"]
_DCGAN_SEED = ["--loss", "nonsat", *_SEED]
VARIANTS: dict[str, list[str]] = {
    "DCGAN 1 G : 1 D (--loss nonsat)": ["--loss", "nonsat"],
    "DCGAN + seed flags": _DCGAN_SEED,
    "DCGAN + seed flags + --gen_lr 5e-5": [*_DCGAN_SEED, "--gen_lr", "0.00005"],
    "DCGAN + seed flags + --spectral_norm": [*_DCGAN_SEED, "--spectral_norm", "true"],
    "DCGAN + seed flags + --disc_steps 4 --gen_lr 1e-4": [*_DCGAN_SEED, "--disc_steps", "4", "--gen_lr", "0.0001"],
    "WGAN-GP, 1 critic step + seed flags": ["--loss", "wgan-gp", "--disc_steps", "1", *_SEED],
    "seed verbatim (default WGAN-GP, 5 critic steps)": _SEED,
}


def run_variant(flags: list[str], workdir: Path, image_size: str, steps: int, samples: int) -> dict:
    """Train one variant; returns its final metrics, wall time and the path of its last grid."""
    env = dict(os.environ, PYTHONPATH=str(SRC) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    cmd = [sys.executable, "-m", "snowgan", "--mode", "train", *flags, "--image_size", image_size,
           "--steps", str(steps), "--metrics", "diversity,swd", "--metrics_every", str(steps),
           "--metrics_samples", str(samples), "--sample_every", str(steps), "--log_every", str(max(1, steps // 4)),
           "--checkpoint_every", str(steps), "--report", "false", "--progress", "lines", "--name", "v"]
    t0 = time.perf_counter()
    p = subprocess.run(cmd, cwd=workdir, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if p.returncode != 0:
        raise SystemExit(f"variant failed ({' '.join(flags)}):\n{p.stdout[-2000:]}\n{p.stderr[-2000:]}")
    run = next((workdir / "runs").glob("*-v"))
    last = json.loads((run / "metrics.jsonl").read_text().splitlines()[-1])
    grid = sorted((run / "samples").glob("step-*.png"))[-1]
    return {"diversity": last["diversity"], "dup_rate": last["dup_rate"], "swd": last["swd"],
            "wall_s": round(wall, 1), "grid": grid}


def montage(grids: dict[str, Path], path: Path, tile: int = 256) -> None:
    """One row of labelled grids, each scaled to tile x tile."""
    label_h = 34
    out = Image.new("RGB", (tile * len(grids), tile + label_h), "white")
    draw = ImageDraw.Draw(out)
    for i, (name, g) in enumerate(grids.items()):
        out.paste(Image.open(g).convert("RGB").resize((tile, tile), Image.LANCZOS), (i * tile, label_h))
        for j, line in enumerate([name[:40], name[40:80]]):
            draw.text((i * tile + 4, 2 + 15 * j), line, fill="black")
    out.save(path, optimize=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--image_size", default="32")
    ap.add_argument("--steps", type=int, default=400, help="iterations per variant")
    ap.add_argument("--samples", type=int, default=256, help="images per measurement")
    ap.add_argument("--out", type=Path, default=Path("balance"), help="folder for the grids and montage")
    ap.add_argument("--json", type=Path, help="write the table here too")
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    rows, grids = {}, {}
    print(f"{args.steps} iterations at {args.image_size} px per variant, built-in data, seed 0")
    print(f"{'variant':50s} {'diversity':>9s} {'dup_rate':>8s} {'swd':>7s} {'wall_s':>7s}")
    for name, flags in VARIANTS.items():
        with tempfile.TemporaryDirectory() as tmp:
            r = run_variant(flags, Path(tmp), args.image_size, args.steps, args.samples)
            keep = args.out / f"{len(grids):02d}-{re.sub(r'[^a-z0-9]+', '-', name.lower()).strip('-')}.png"
            keep.write_bytes(r.pop("grid").read_bytes())
        grids[name], rows[name] = keep, r
        print(f"{name:50s} {r['diversity']:9.3f} {r['dup_rate']:8.2f} {r['swd']:7.1f} {r['wall_s']:7.1f}", flush=True)
    montage(grids, args.out / "balance.png")
    print(f"grids and montage in {args.out}/ (balance.png)")
    if args.json:
        write_results(args.json, {"image_size": args.image_size, "steps": args.steps, "variants": rows})


if __name__ == "__main__":
    main()
