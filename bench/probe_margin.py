"""How much does GAN pretraining buy the probe on the built-in dataset? Measured, not asserted.

For each training seed: train a small run with the real CLI, then run `--mode probe`
on built-in images the run never saw, for several split seeds, and read the held-out
accuracy of the pretrained D and of the random-init D of the same shape from head.json.
Prints every result and the mean/min of the difference.

    python bench/probe_margin.py --image_size 16 --channels 1 --steps 150 --shots 0 4 8

Nothing here is timed; it is a quality measurement run by hand (it trains several runs).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src"


def cli(*args: str, cwd: Path) -> None:
    env = dict(os.environ, PYTHONPATH=str(SRC) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    subprocess.run([sys.executable, "-m", "snowgan", *map(str, args)], cwd=cwd, env=env, check=True,
                   stdout=subprocess.DEVNULL)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--image_size", default="16")
    ap.add_argument("--channels", default="1")
    ap.add_argument("--width", default="16", help="g_width and d_width")
    ap.add_argument("--steps", default="150")
    ap.add_argument("--batch_size", default="32")
    ap.add_argument("--train_count", default="256", help="built-in images the GAN trains on")
    ap.add_argument("--probe_count", default="256", help="unseen built-in images the probe uses")
    ap.add_argument("--probe_block", default="-1")
    ap.add_argument("--train_seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--split_seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--shots", type=int, nargs="+", default=[0], help="--probe_shots values (0 = all labels)")
    ap.add_argument("--finetune", action="store_true")
    a = ap.parse_args()
    diffs: dict[int, list[float]] = {k: [] for k in a.shots}
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        for ts in a.train_seeds:
            name = f"t{ts}"
            cli("--mode", "train", "--loss", "nonsat", "--image_size", a.image_size, "--channels", a.channels,
                "--g_width", a.width,
                "--d_width", a.width, "--builtin_count", a.train_count, "--batch_size", a.batch_size,
                "--steps", a.steps, "--seed", ts, "--name", name, "--progress", "none",
                "--sample_every", "100000", "--checkpoint_every", "100000", "--precision", "fp32", cwd=work)
            for ss in a.split_seeds:
                for shots in a.shots:
                    out = work / f"head-{ts}-{ss}-{shots}"
                    cli("--mode", "probe", "--run", name, "--seed", ss, "--builtin_count", a.probe_count,
                        "--probe_block", a.probe_block, "--probe_shots", shots, "--out", out, "--progress", "none",
                        *(["--finetune"] if a.finetune else []), cwd=work)
                    s = json.loads((out / "head.json").read_text())["scores"]
                    pre, rnd = s["pretrained"]["accuracy"], s["random_init"]["accuracy"]
                    diffs[shots].append(pre - rnd)
                    print(f"train seed {ts} split seed {ss} shots {shots}: pretrained {pre:.3f}  "
                          f"random-init {rnd:.3f}  diff {pre - rnd:+.3f}", flush=True)
    print(f"settings: {vars(a)}")
    for shots, d in diffs.items():
        print(f"shots {shots or 'all'}: pretrained - random-init accuracy over {len(d)} probes: mean "
              f"{statistics.mean(d):+.4f}, min {min(d):+.4f}, max {max(d):+.4f}, "
              f"positive {sum(x > 0 for x in d)}, ties {sum(x == 0 for x in d)}")


if __name__ == "__main__":
    main()
