"""Kernel Inception Distance (Bińkowski et al. 2018): unbiased MMD^2, cubic polynomial kernel.

    k(x, y) = (x.y / d + 1)^3

KID is unbiased, so unlike FID its expectation does not depend on the number of
samples — which is why it is the better number for small datasets. It is averaged
over ``n_subsets`` random subsets of size m = min(n_real, n_fake, 1000); the spread
over subsets is returned too. That spread is the subset-choice noise, not the sampling
error of the estimate: when both sets have m images every subset is both whole sets,
the value is computed once and the spread is 0 (``whole``). docs/metrics.md gives the
split-to-split spread of a real folder, the sampling error at a few counts.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

SUBSET_MAX = 1000
N_SUBSETS = 100
# Up to this many samples per side, the full kernel matrices (<= 32 MiB each) are
# computed once and subsets index into them.
GRAM_MAX = 2048


@dataclass
class KID:
    mean: float
    std: float
    subset_size: int
    n_subsets: int
    whole: bool = False  # both sets used whole (no subsets to vary): std is 0 by construction


def polynomial_kernel(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """(x.y / d + 1)^3 for rows of x (n, d) and y (m, d) -> (n, m)."""
    return (x @ y.T / x.shape[1] + 1.0) ** 3


def mmd2_from_kernels(kxx: np.ndarray, kyy: np.ndarray, kxy: np.ndarray) -> float:
    """Unbiased MMD^2 from the three (m, m) kernel matrices of two equal-size samples.

    Diagonal terms k(x_i, x_i) are excluded from the within-set means (that is what
    makes it unbiased); the cross term uses all m^2 pairs.
    """
    m = len(kxx)
    if m < 2 or kyy.shape != (m, m) or kxy.shape != (m, m):
        raise ValueError("need two samples of the same size >= 2")
    within = (kxx.sum() - np.trace(kxx) + kyy.sum() - np.trace(kyy)) / (m * (m - 1))
    return float(within - 2.0 * kxy.mean())


def mmd2_unbiased(x: np.ndarray, y: np.ndarray) -> float:
    """Unbiased estimate of MMD^2 between samples x (m, d) and y (m, d) under the cubic kernel."""
    return mmd2_from_kernels(polynomial_kernel(x, x), polynomial_kernel(y, y), polynomial_kernel(x, y))


def kid_from_features(real: np.ndarray, fake: np.ndarray, n_subsets: int = N_SUBSETS,
                      subset_max: int = SUBSET_MAX, seed: int = 0) -> KID:
    """KID between real (n_r, d) and fake (n_f, d) features; subsets of min(n_r, n_f, subset_max)."""
    real = np.asarray(real, np.float64)
    fake = np.asarray(fake, np.float64)
    m = min(len(real), len(fake), subset_max)
    if m < 2:
        raise ValueError("KID needs at least 2 real and 2 generated images")
    if m == len(real) == len(fake):
        return KID(mmd2_unbiased(real, fake), 0.0, m, 1, whole=True)
    rng = np.random.default_rng(seed)
    values = np.empty(n_subsets)
    if max(len(real), len(fake)) <= GRAM_MAX:
        # Every subset is a sub-block of the full kernel matrices: compute them once and
        # index, instead of 3 matrix products of (m, d) x (d, m) per subset.
        k_rr, k_ff, k_rf = polynomial_kernel(real, real), polynomial_kernel(fake, fake), polynomial_kernel(real, fake)
        for i in range(n_subsets):
            r = rng.choice(len(real), m, replace=False)
            f = rng.choice(len(fake), m, replace=False)
            values[i] = mmd2_from_kernels(k_rr[np.ix_(r, r)], k_ff[np.ix_(f, f)], k_rf[np.ix_(r, f)])
    else:
        for i in range(n_subsets):
            r = real[rng.choice(len(real), m, replace=False)]
            f = fake[rng.choice(len(fake), m, replace=False)]
            values[i] = mmd2_unbiased(r, f)
    return KID(float(values.mean()), float(values.std()), m, n_subsets)
