"""Fréchet distance between Gaussians fitted to feature sets (FID on Inception pool3).

    FID = |mu1 - mu2|^2 + tr(S1) + tr(S2) - 2 tr( (S1^1/2 S2 S1^1/2)^1/2 )

The trace term equals tr((S1 S2)^1/2) (the matrices are similar), but the symmetric
form S1^1/2 S2 S1^1/2 is positive semi-definite, so its square root comes from a
symmetric eigen-decomposition: stable, real, and no scipy ``sqrtm`` (which returns
complex parts and needs an epsilon hack on singular covariances — common here,
where a few hundred samples estimate a 2048x2048 covariance). Everything is float64.
"""

from __future__ import annotations

import numpy as np


def feature_stats(features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(N, D) features -> mu (D,) and unbiased covariance sigma (D, D), float64."""
    f = np.asarray(features, dtype=np.float64)
    if f.ndim != 2 or len(f) < 2:
        raise ValueError(f"need at least 2 feature vectors (N, D), got shape {f.shape}")
    mu = f.mean(axis=0)
    centred = f - mu
    sigma = centred.T @ centred / (len(f) - 1)
    return mu, sigma


def _psd_eigenvalues_clean(w: np.ndarray) -> np.ndarray:
    """Zero the eigenvalues that are round-off, not signal.

    Below the usual numerical-rank tolerance (n * eps * largest) an eigenvalue of a
    PSD matrix is indistinguishable from 0; left in, its square root (~1e-7 of the
    scale each, times hundreds of null directions when N < D) would keep the FID of a
    set against itself visibly above 0.
    """
    tol = len(w) * np.finfo(np.float64).eps * max(float(np.abs(w).max(initial=0.0)), 1e-300)
    return np.where(w > tol, w, 0.0)


def _sqrt_psd(m: np.ndarray) -> np.ndarray:
    """Square root of a symmetric positive semi-definite matrix."""
    m = (m + m.T) / 2
    w, v = np.linalg.eigh(m)
    return (v * np.sqrt(_psd_eigenvalues_clean(w))) @ v.T


def trace_sqrt_product(sigma1: np.ndarray, sigma2: np.ndarray) -> float:
    """tr((sigma1 sigma2)^1/2) for symmetric PSD matrices, via sqrt(S1) S2 sqrt(S1)."""
    s1 = _sqrt_psd(np.asarray(sigma1, np.float64))
    inner = s1 @ np.asarray(sigma2, np.float64) @ s1
    w = np.linalg.eigvalsh((inner + inner.T) / 2)
    return float(np.sqrt(_psd_eigenvalues_clean(w)).sum())


def frechet_distance(mu1: np.ndarray, sigma1: np.ndarray, mu2: np.ndarray, sigma2: np.ndarray) -> float:
    """Fréchet distance between N(mu1, sigma1) and N(mu2, sigma2); >= 0."""
    mu1, mu2 = np.asarray(mu1, np.float64), np.asarray(mu2, np.float64)
    sigma1, sigma2 = np.asarray(sigma1, np.float64), np.asarray(sigma2, np.float64)
    if mu1.shape != mu2.shape or sigma1.shape != sigma2.shape or sigma1.shape != (len(mu1), len(mu1)):
        raise ValueError(f"statistics do not match: mu {mu1.shape} vs {mu2.shape}, "
                         f"sigma {sigma1.shape} vs {sigma2.shape}")
    diff = mu1 - mu2
    value = diff @ diff + np.trace(sigma1) + np.trace(sigma2) - 2.0 * trace_sqrt_product(sigma1, sigma2)
    # Round-off can leave a tiny negative number when the two sets are identical.
    return float(max(value, 0.0))


def fid_against_stats(features: np.ndarray, mu_ref: np.ndarray, sigma_ref: np.ndarray) -> float:
    """FID between (N, D) features and reference statistics (e.g. a pytorch-fid .npz).

    When N - 1 < D (the usual case here: a few hundred images, 2048 features) the
    features' covariance is S = Xc^T Xc / (N - 1) with Xc the centred features, and
    the non-zero eigenvalues of S_ref S equal those of the small symmetric PSD matrix
    Xc S_ref Xc^T / (N - 1). The trace term then needs one N x N eigen-decomposition
    instead of two D x D ones: the same number, an order of magnitude faster.
    """
    f = np.asarray(features, np.float64)
    mu, sigma = feature_stats(f)
    mu_ref, sigma_ref = np.asarray(mu_ref, np.float64), np.asarray(sigma_ref, np.float64)
    if len(f) - 1 >= f.shape[1] or sigma_ref.shape != sigma.shape:
        return frechet_distance(mu_ref, sigma_ref, mu, sigma)
    xc = f - mu
    inner = xc @ sigma_ref @ xc.T / (len(f) - 1)
    w = np.linalg.eigvalsh((inner + inner.T) / 2)
    diff = mu - mu_ref
    value = diff @ diff + np.trace(sigma) + np.trace(sigma_ref) - 2.0 * float(np.sqrt(_psd_eigenvalues_clean(w)).sum())
    return float(max(value, 0.0))


def fid_from_features(real: np.ndarray, fake: np.ndarray) -> float:
    """FID between two (N, D) feature sets (symmetric; the smaller set takes the fast path)."""
    small, large = (fake, real) if len(fake) <= len(real) else (real, fake)
    return fid_against_stats(small, *feature_stats(large))
