"""Precision/recall (Kynkäänniemi et al. 2019, k=3) and density/coverage (Naeem et al. 2020, k=5).

Each real (or fake) sample gets a ball reaching its k-th nearest neighbour within
its own set; the union of balls estimates that set's manifold.

- precision: fraction of fakes inside the real manifold (fidelity),
- recall:    fraction of reals inside the fake manifold (diversity),
- density:   mean number of real balls containing a fake, divided by k (~1 when the
             distributions match; robust to real outliers, unlike precision),
- coverage:  fraction of reals whose own ball contains at least one fake.

Distances are Euclidean on the given features, computed in row chunks so memory
stays at chunk x N.
"""

from __future__ import annotations

from typing import Iterator

import numpy as np

PR_K = 3
DC_K = 5
_CHUNK = 1024


def _dist_chunks(a: np.ndarray, b: np.ndarray) -> Iterator[tuple[int, np.ndarray]]:
    """(start, distances (chunk, len(b))) between row chunks of a and all of b, float64."""
    b2 = (b * b).sum(1)
    for s in range(0, len(a), _CHUNK):
        x = a[s:s + _CHUNK]
        x2 = (x * x).sum(1)[:, None]
        d2 = x2 + b2[None, :] - 2.0 * x @ b.T
        # The expansion leaves round-off of ~1e-16 x the norms where a row equals a row
        # of b; call that 0 so identical images are at distance exactly 0.
        d2[d2 <= 1e-12 * (x2 + b2[None, :])] = 0.0
        yield s, np.sqrt(d2)


def pairwise_distances(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(len(a), len(b)) Euclidean distances (use only for small sets)."""
    out = np.empty((len(a), len(b)))
    for s, d in _dist_chunks(a, b):
        out[s:s + len(d)] = d
    return out


def kth_neighbour_radii(x: np.ndarray, k: int) -> np.ndarray:
    """Distance from each row of x to its k-th nearest other row (self excluded)."""
    if len(x) <= k:
        raise ValueError(f"need more than k={k} samples, got {len(x)}")
    radii = np.empty(len(x))
    for s, d in _dist_chunks(x, x):
        # Column k of the partition is the (k+1)-th smallest: the self-distance 0 is the first.
        radii[s:s + len(d)] = np.partition(d, k, axis=1)[:, k]
    return radii


def precision_recall(real: np.ndarray, fake: np.ndarray, k: int = PR_K) -> tuple[float, float]:
    """Improved precision and recall; ball membership is d <= radius as in the paper."""
    real, fake = np.asarray(real, np.float64), np.asarray(fake, np.float64)
    r_real, r_fake = kth_neighbour_radii(real, k), kth_neighbour_radii(fake, k)
    fake_in_real = np.zeros(len(fake), bool)
    real_in_fake = np.zeros(len(real), bool)
    for s, d in _dist_chunks(real, fake):  # d: (chunk of real, n_fake)
        fake_in_real |= (d <= r_real[s:s + len(d), None]).any(axis=0)
        real_in_fake[s:s + len(d)] = (d <= r_fake[None, :]).any(axis=1)
    return float(fake_in_real.mean()), float(real_in_fake.mean())


def density_coverage(real: np.ndarray, fake: np.ndarray, k: int = DC_K) -> tuple[float, float]:
    """Density and coverage; membership is d < radius as in the authors' code."""
    real, fake = np.asarray(real, np.float64), np.asarray(fake, np.float64)
    r_real = kth_neighbour_radii(real, k)
    count = np.zeros(len(fake))
    covered = np.zeros(len(real), bool)
    for s, d in _dist_chunks(real, fake):
        inside = d < r_real[s:s + len(d), None]
        count += inside.sum(axis=0)
        covered[s:s + len(d)] = d.min(axis=1) < r_real[s:s + len(d)]
    return float(count.mean() / k), float(covered.mean())
