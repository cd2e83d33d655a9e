"""Kernel Inception Distance (Bińkowski et al. 2018): unbiased MMD^2, cubic polynomial kernel.

    k(x, y) = (x.y / d + 1)^3

KID is unbiased, so unlike FID its expectation does not depend on the number of
samples — which is why it is the better number for small datasets. It is averaged
over ``n_subsets`` random subsets of size m = min(n_real, n_fake, 1000); the spread
over subsets is returned too, so a reader can see whether two runs really differ.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

SUBSET_MAX = 1000
N_SUBSETS = 100


@dataclass
class KID:
    mean: float
    std: float
    subset_size: int
    n_subsets: int


def polynomial_kernel(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """(x.y / d + 1)^3 for rows of x (n, d) and y (m, d) -> (n, m)."""
    return (x @ y.T / x.shape[1] + 1.0) ** 3


def mmd2_unbiased(x: np.ndarray, y: np.ndarray) -> float:
    """Unbiased estimate of MMD^2 between samples x (m, d) and y (m, d) under the cubic kernel.

    Diagonal terms k(x_i, x_i) are excluded from the within-set means (that is what
    makes it unbiased); the cross term uses all m^2 pairs.
    """
    m = len(x)
    if m < 2 or len(y) != m:
        raise ValueError("need two samples of the same size >= 2")
    kxx = polynomial_kernel(x, x)
    kyy = polynomial_kernel(y, y)
    kxy = polynomial_kernel(x, y)
    within = (kxx.sum() - np.trace(kxx) + kyy.sum() - np.trace(kyy)) / (m * (m - 1))
    return float(within - 2.0 * kxy.mean())


def kid_from_features(real: np.ndarray, fake: np.ndarray, n_subsets: int = N_SUBSETS,
                      subset_max: int = SUBSET_MAX, seed: int = 0) -> KID:
    """KID between real (n_r, d) and fake (n_f, d) features; subsets of min(n_r, n_f, subset_max)."""
    real = np.asarray(real, np.float64)
    fake = np.asarray(fake, np.float64)
    m = min(len(real), len(fake), subset_max)
    if m < 2:
        raise ValueError("KID needs at least 2 real and 2 generated images")
    rng = np.random.default_rng(seed)
    values = np.empty(n_subsets)
    for i in range(n_subsets):
        r = real[rng.choice(len(real), m, replace=False)]
        f = fake[rng.choice(len(fake), m, replace=False)]
        values[i] = mmd2_unbiased(r, f)
    return KID(float(values.mean()), float(values.std()), m, n_subsets)
