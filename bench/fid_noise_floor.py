"""FID and KID of a real image folder against itself: the noise floor at the sizes people train on.

    python bench/fid_noise_floor.py --data ../shared/data/tshirts [--size 64] [--splits 5]
    python bench/fid_noise_floor.py --data builtin --size 32      # the demo's 1024 built-in images

The folder is prepared as training would (``--image_size``, centre crop), its Inception
features computed once with the weights snowgan finds (and cached like the in-training
ones), then split at random into two disjoint halves, --splits times. Printed per count
n (both sides n images): FID and KID between the halves, mean and spread over splits.
Two samples of one distribution score above 0 on FID by an amount that shrinks with n
(FID's small-sample bias), while KID is unbiased: its mean stays near 0 at every n. A
generator's number is only meaningful well above this floor, at the same n.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from snowgan.config import Config  # noqa: E402
from snowgan.data.load import load_dataset  # noqa: E402
from snowgan.metrics.features import real_features  # noqa: E402
from snowgan.metrics.fid import fid_from_features  # noqa: E402
from snowgan.metrics.kid import kid_from_features  # noqa: E402
from snowgan.metrics.tracker import metrics_cache_dir  # noqa: E402
from snowgan.metrics.weights import load_inception, resolve_weights  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", required=True, help="a folder, zip, ... or 'builtin' (the built-in dataset)")
    ap.add_argument("--size", default="64")
    ap.add_argument("--splits", type=int, default=5)
    ap.add_argument("--counts", default="50,100,200,half")
    ap.add_argument("--drop_class", action="store_true", help="also: the cost of leaving out each class in turn")
    ap.add_argument("--drop_n", type=int, default=500, help="images on the class-less side (evaluate's default count)")
    args = ap.parse_args()
    cfg = Config()
    cfg.data.data = None if args.data == "builtin" else args.data
    cfg.data.image_size, cfg.run.progress = args.size, "none"
    data = load_dataset(cfg)
    weights = resolve_weights(None, allow_download=False)
    net = load_inception(weights)
    t = time.perf_counter()
    # The same cache key the in-training metrics use for the whole set at its own size.
    feats = real_features(net, data.images, data.fingerprint, weights.cache_key, metrics_cache_dir(cfg),
                          progress="none", subset="all-native")
    took = time.perf_counter() - t
    n_all = len(feats)
    print(f"{n_all} images of {args.data} at {args.size} px (fingerprint {data.fingerprint}); features in {took:.1f} s "
          f"({n_all / took:.2f} img/s, or a cache hit); {weights.protocol()}")
    half = n_all // 2
    counts = [half if c == "half" else int(c) for c in args.counts.split(",")]
    print(f"{'n per side':>10}  {'FID mean':>9} {'FID sd':>7}  {'KID mean':>10} {'KID sd':>9}  (mean and sd over "
          f"{args.splits} random splits)")
    rng = np.random.default_rng(0)
    splits = [rng.permutation(n_all) for _ in range(args.splits)]
    for n in counts:
        fids, kids = [], []
        for perm in splits:
            a, b = feats[perm[:n]], feats[perm[half:half + n]]
            fids.append(fid_from_features(a, b))
            kids.append(kid_from_features(a, b, seed=0).mean)
        print(f"{n:>10}  {np.mean(fids):>9.2f} {np.std(fids):>7.2f}  {np.mean(kids):>10.5f} {np.std(kids):>9.5f}")
    if args.drop_class:
        drop_class(feats, data, args.drop_n)


def drop_class(feats: np.ndarray, data, n: int) -> None:
    """Print FID/KID of all real features (N, 2048) against n of them drawn without one class, per class."""
    if data.labels is None:
        print("--drop_class: this dataset has no labels")
        return
    labels = np.asarray(data.labels)
    rng = np.random.default_rng(0)
    print(f"without one class: all {len(feats)} real images against {n} drawn from the other classes")
    for c, name in enumerate(data.class_names):
        rest = feats[labels != c]
        side = rest[rng.choice(len(rest), min(n, len(rest)), replace=False)]
        kid = kid_from_features(feats, side, seed=0)
        print(f"  without {name:<12} FID {fid_from_features(feats, side):7.2f}  KID {kid.mean:.4f} (sd {kid.std:.4f})")


if __name__ == "__main__":
    main()
