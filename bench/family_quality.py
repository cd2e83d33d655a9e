"""Quality at equal CPU time: model families and recipes trained for the same seconds, then scored.

    python bench/family_quality.py --data ../shared/data/tshirts --image_size 64 --budget_s 600 \\
        --variants wgan-gp,houses,r3gan,projected --seeds 0 --json out.json

Each variant is a real `snowgan --mode train` process (the whole loop: augmentation,
schedules, EMA). All variants start together, but only one runs at a time: the harness
pauses the others (SIGSTOP / SIGCONT) and rotates every --slice_s seconds, so a machine
shared with other jobs slows every variant alike and each gets --budget_s seconds of its
own. When a variant's budget is spent it gets SIGTERM, which makes snowgan finish the
iteration, save a checkpoint and exit. Then `snowgan --mode evaluate` scores each run's
final EMA generator against the same real images (KID and FID when the Inception
weights are available, SWD and the diversity signals always).

Variants (VARIANTS below) are flag lists over a shared base; add one by adding a line.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from resultfile import write_results

REPO = Path(__file__).resolve().parents[1]

# name -> flags. "wgan-gp" is snowgan's default model (the seed write-up's); "houses" and
# "mountains" are the best seed recipes for photos at CPU budgets (DCGAN families).
VARIANTS: dict[str, list[str]] = {
    "wgan-gp": [],
    "dcgan": ["--loss", "nonsat"],
    "dcgan-aug": ["--loss", "nonsat", "--augment", "color,translation,cutout"],
    "houses": ["--recipe", "houses"],
    "mountains": ["--recipe", "mountains"],
    "r3gan": ["--recipe", "r3gan"],
    "projected": ["--recipe", "projected"],
    "projected-bb64": ["--recipe", "projected", "--backbone_size", "64"],  # the frozen net sees 64 px, not 128
    "projected-lr5e-4": ["--recipe", "projected", "--gen_lr", "5e-4", "--disc_lr", "5e-4"],  # 2.5x the paper's lr
    # The --data default (projected at lr 5e-4), and with the paper's hinge on every logit of every head.
    "photos": ["--recipe", "photos"],
    "photos-per-logit": ["--recipe", "photos", "--per_logit_loss"],
    "photos-lr1e-3": ["--recipe", "photos", "--gen_lr", "1e-3", "--disc_lr", "1e-3"],  # 5x the paper's lr
    "photos-bb64": ["--recipe", "photos", "--backbone_size", "64"],  # the frozen net sees the 64 px images as they are
    "photos-bb96": ["--recipe", "photos", "--backbone_size", "96"],  # between: ~0.56x the 128 px backbone's work
    # A run that knows its length (--minutes, as a user's --data run does) can decay toward its end:
    # R3GAN's cosine schedules (lr to a quarter, aug_p ramped up, EMA half-life to 2.5 % of the run).
    "photos-r3sched": ["--recipe", "photos", "--minutes", "9.5", "--schedule", "r3gan"],
    "photos-bb64-d64": ["--recipe", "photos", "--backbone_size", "64", "--d_width", "64"],  # wider heads on the smaller maps
    "photos-noaug": ["--recipe", "photos", "--augment", "none"],  # a CPU run sees each photo ~3 times
    "photos-bs8": ["--recipe", "photos", "--batch_size", "8"],  # twice the updates in the same CPU time
    "photos-ttur": ["--recipe", "photos", "--disc_lr", "2e-4"],  # a slower D than G (D runs far ahead)
    # A quarter of G's FLOPs (half the channels at every level): G is half of a 64 px step on a CPU.
    # photos has it since it won with two G steps (docs/lab/projected-log.md, "A narrower G");
    # photos-g32 is the width before.
    "photos-g16": ["--recipe", "photos", "--g_width", "16"],
    "photos-g32": ["--recipe", "photos", "--g_width", "32"],
    "photos-d16": ["--recipe", "photos", "--d_width", "16"],  # D's heads at half width too, now that G is cheap
    # A longer EMA: half-life up to a fifth of the images seen (0.05 by default, StyleGAN2's), to
    # average over the oscillation a short run is stopped in; and the same at lr 1e-3.
    "photos-ema20": ["--recipe", "photos", "--ema_rampup", "0.2"],
    "photos-lr1e-3-ema20": ["--recipe", "photos", "--gen_lr", "1e-3", "--disc_lr", "1e-3", "--ema_rampup", "0.2"],
    # D is far ahead in short runs: two G updates per D update (the photos default since it won this
    # comparison; photos-gs1 is the default before); or a batch of 32 (fixed costs spread).
    # Measured in docs/lab/projected-log.md, "Two G steps per D step".
    "photos-gs1": ["--recipe", "photos", "--gen_steps", "1"],
    "photos-gs2": ["--recipe", "photos", "--gen_steps", "2"],
    "photos-gs3": ["--recipe", "photos", "--gen_steps", "3"],  # further still: does G keep gaining?
    "photos-bs32": ["--recipe", "photos", "--batch_size", "32"],
    # The built-in quick start and its class-conditional twin (issue 20: per-class KID at equal time).
    "demo": ["--recipe", "demo"],
    "demo-conditional": ["--recipe", "demo-conditional"],
    # The ResNet families made conditional (their G joins a class embedding to z): per-class diversity
    # against their unconditional runs shows whether a class collapses inside itself.
    "r3gan-conditional": ["--recipe", "r3gan", "--conditional"],
    "projected-conditional": ["--recipe", "projected", "--conditional"],
    # The --data default and its runner-up on labelled data (the built-in mountains' four classes):
    # does asking for every class close the classes an unconditional short run leaves out?
    "photos-conditional": ["--recipe", "photos", "--conditional"],
    "dcgan-aug-conditional": ["--loss", "nonsat", "--augment", "color,translation,cutout", "--conditional"],
}


def run_cli(args: list[str], cwd: Path, env: dict, **kw) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "snowgan", *args], cwd=cwd, env=env, **kw)


def train_all(variants: dict[str, list[str]], base: list[str], work: Path, budget_s: float, slice_s: float,
              env: dict) -> dict[str, dict]:
    """Start every variant paused, then give each slices of CPU until its budget is spent."""
    procs: dict[str, subprocess.Popen] = {}
    logs = {}
    for name, flags in variants.items():
        logs[name] = open(work / f"{name}.log", "w")
        length = [] if any(f in flags for f in ("--kimg", "--steps", "--epochs", "--minutes")) else ["--steps", "10000000"]
        p = run_cli(["--mode", "train", *base, *flags, "--name", name, *length], work, env,
                    stdout=logs[name], stderr=subprocess.STDOUT, start_new_session=True)
        os.killpg(p.pid, signal.SIGSTOP)
        procs[name] = p
    used = {k: 0.0 for k in procs}
    live = list(procs)
    while live:
        for name in list(live):
            p = procs[name]
            if p.poll() is not None:  # crashed or finished early
                live.remove(name)
                continue
            os.killpg(p.pid, signal.SIGCONT)
            t0 = time.perf_counter()
            share = min(slice_s, budget_s - used[name])
            try:
                p.wait(timeout=share)
            except subprocess.TimeoutExpired:
                pass
            used[name] += time.perf_counter() - t0
            if p.poll() is None and used[name] >= budget_s:
                os.killpg(p.pid, signal.SIGTERM)  # checkpoint and exit
                p.wait()
                live.remove(name)
            elif p.poll() is None:
                os.killpg(p.pid, signal.SIGSTOP)
        done = ", ".join(f"{k} {used[k]:.0f}s" for k in procs)
        print(f"  trained: {done}", flush=True)
    for f in logs.values():
        f.close()
    return {k: {"train_s": round(used[k], 1), "returncode": procs[k].returncode} for k in procs}


def evaluate(name: str, work: Path, env: dict, metrics: str, n: int) -> dict:
    out = (work / f"{name}-metrics.json").resolve()  # the CLI runs in work: a relative path would nest
    p = subprocess.run([sys.executable, "-m", "snowgan", "--mode", "evaluate", "--run", name, "--metrics", metrics,
                        "--n_samples", str(n), "--checkpoint", "latest", "--out", str(out), "--progress", "none"],
                       cwd=work, env=env, capture_output=True, text=True)
    if p.returncode != 0:
        return {"error": (p.stderr or p.stdout).strip().splitlines()[-1:]}
    res = json.loads(out.read_text())
    row = {k: v["value"] for k, v in res["metrics"].items()}
    if "kid" in res["metrics"]:
        row["kid_std"] = res["metrics"]["kid"]["std"]
    row.update(step=res["step"], kimg=res["kimg"])
    if "per_class" in res:  # a conditional run: the same metrics per class, against that class's reals
        row["per_class"] = {c: {k: v["value"] for k, v in m.items()} for c, m in res["per_class"].items()}
    return row


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default=None, help="image folder (default: the built-in dataset)")
    ap.add_argument("--image_size", default="64")
    ap.add_argument("--budget_s", type=float, default=600.0, help="training seconds per variant")
    ap.add_argument("--slice_s", type=float, default=20.0, help="seconds per turn")
    ap.add_argument("--variants", default="wgan-gp,houses", help=f"comma-separated, from {', '.join(VARIANTS)}")
    ap.add_argument("--seeds", default="0")
    ap.add_argument("--metrics", default="kid,fid,swd,diversity")
    ap.add_argument("--n_samples", type=int, default=500)
    ap.add_argument("--flags", default="", help="extra flags for every variant")
    ap.add_argument("--per", action="append", default=[], metavar="NAME=FLAGS",
                    help="extra flags for one variant, e.g. 'r3gan=--kimg 2' (its schedules then span what fits)")
    ap.add_argument("--work", default="bench-family-quality", help="folder for the runs (kept for the grids)")
    ap.add_argument("--json", default=None)
    a = ap.parse_args(argv)
    env = dict(os.environ, PYTHONPATH=str(REPO / "src"), OMP_NUM_THREADS=os.environ.get("OMP_NUM_THREADS", "2"))
    chosen = {k: list(VARIANTS[k]) for k in a.variants.split(",")}
    for spec in a.per:
        name, _, flags = spec.partition("=")
        chosen[name] += flags.split()
    results = []
    for seed in [int(s) for s in a.seeds.split(",")]:
        work = Path(a.work) / f"seed{seed}"
        work.mkdir(parents=True, exist_ok=True)
        base = ["--image_size", a.image_size, "--seed", str(seed), "--progress", "lines", *a.flags.split()]
        if a.data:
            base += ["--data", str(Path(a.data).resolve())]
        print(f"seed {seed}: {len(chosen)} variants, {a.budget_s:.0f} s each, in {work}", flush=True)
        trained = train_all(chosen, base, work, a.budget_s, a.slice_s, env)
        row = {"seed": seed}
        for name in chosen:
            row[name] = {**trained[name], **evaluate(name, work, env, a.metrics, a.n_samples)}
            print(f"  {name}: {json.dumps(row[name])}", flush=True)
        results.append(row)
    if a.json:
        write_results(a.json, {"command": " ".join(sys.argv), "results": results})
    return 0


if __name__ == "__main__":
    sys.exit(main())
