"""Train every recipe for a few steps at a fixed seed and print a hash of its weights.

    python scripts/recipe_hashes.py                 # all recipes, one line each: NAME HASH
    python scripts/recipe_hashes.py snowgan bobross # only these
    python scripts/recipe_hashes.py --check FILE    # compare with an earlier output; exit 1 on a change

A refactor that must not change training (issue 40: "every recipe trains bit-identically to
before at a fixed seed") is checked by running this before and after and comparing. The hash
covers the last checkpoint's model.safetensors tensors (G, D and the EMA G), read back in name
order, so file metadata (the snowgan version, timestamps) does not enter it.

Each recipe runs at 32 px on 32 built-in images with narrow networks, so the whole set takes
about a minute on two CPU cores; the recipe's own family, loss, optimizer, schedule and
techniques are kept (only sizes and the length are overridden).
"""

from __future__ import annotations

import argparse
import hashlib
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SMALL = ["--image_size", "32", "--builtin_count", "32", "--batch_size", "4", "--g_width", "4", "--d_width", "4",
         "--steps", "3", "--seed", "0", "--progress", "none", "--metrics_every", "0", "--data_format", "builtin"]


def recipes() -> list[str]:
    return sorted(p.stem for p in (ROOT / "src" / "snowgan" / "recipes").glob("*.toml"))


def weights_hash(run: Path) -> str:
    from safetensors.numpy import load_file  # numpy only: the hash does not depend on torch's printing

    last = sorted((run / "checkpoints").glob("step-*"))[-1]
    tensors = load_file(str(last / "model.safetensors"))
    h = hashlib.sha256()
    for name in sorted(tensors):
        h.update(name.encode())
        h.update(tensors[name].tobytes())
    return h.hexdigest()[:16]


def train_and_hash(recipe: str, work: Path) -> str:
    env = {**os.environ, "SNOWGAN_CACHE": str(work / "cache"), "OMP_NUM_THREADS": "1"}
    out = subprocess.run([sys.executable, "-m", "snowgan", "train", "--recipe", recipe, *SMALL, "--name", recipe],
                         cwd=work, env=env, capture_output=True, text=True)
    if out.returncode != 0:
        return f"failed: {(out.stderr or out.stdout).strip().splitlines()[-1]}"
    run = next((work / "runs").glob(f"*-{recipe}"))
    return weights_hash(run)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("names", nargs="*", help="recipes (default: all)")
    ap.add_argument("--check", type=Path, help="an earlier output: exit 1 if any hash differs")
    args = ap.parse_args(argv)
    earlier = {}
    if args.check:
        earlier = dict(line.split(maxsplit=1) for line in args.check.read_text().splitlines() if line.strip())
    changed = 0
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.names or recipes():
            digest = train_and_hash(name, Path(tmp))
            mark = ""
            if name in earlier and earlier[name].strip() != digest:
                mark, changed = f"  CHANGED (was {earlier[name].strip()})", changed + 1
            print(f"{name} {digest}{mark}", flush=True)
    return 1 if changed else 0


if __name__ == "__main__":
    sys.exit(main())
