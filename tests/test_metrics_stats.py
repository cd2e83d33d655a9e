"""FID, KID, precision/recall and density/coverage on features whose distribution we control."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.linalg

from snowgan.metrics.fid import feature_stats, fid_from_features, frechet_distance
from snowgan.metrics.kid import kid_from_features, mmd2_unbiased
from snowgan.metrics.prdc import density_coverage, kth_neighbour_radii, precision_recall


def _random_cov(rng: np.random.Generator, d: int, rank: int | None = None) -> np.ndarray:
    a = rng.normal(size=(d, rank or d))
    return a @ a.T / d


# ---- FID ---------------------------------------------------------------------------

def test_fid_of_a_set_against_itself_is_zero() -> None:
    rng = np.random.default_rng(0)
    # Fewer samples than dimensions: a singular covariance, as with a few hundred images.
    f = rng.normal(size=(150, 256)) * rng.uniform(0.1, 3.0, 256) + rng.normal(size=256)
    assert fid_from_features(f, f) == pytest.approx(0.0, abs=1e-8 * np.trace(feature_stats(f)[1]))


def test_fid_matches_closed_form_for_diagonal_gaussians() -> None:
    rng = np.random.default_rng(1)
    d = 64
    mu1, mu2 = rng.normal(size=d), rng.normal(size=d)
    s1, s2 = rng.uniform(0.1, 4, d), rng.uniform(0.1, 4, d)
    # For commuting covariances the trace term is sum(sqrt(s1 * s2)).
    expected = np.sum((mu1 - mu2) ** 2) + np.sum((np.sqrt(s1) - np.sqrt(s2)) ** 2)
    assert frechet_distance(mu1, np.diag(s1), mu2, np.diag(s2)) == pytest.approx(expected, rel=1e-10)


def test_fid_matches_scipy_sqrtm_reference_for_general_covariances() -> None:
    rng = np.random.default_rng(2)
    d = 40
    mu1, mu2 = rng.normal(size=d), rng.normal(size=d)
    c1, c2 = _random_cov(rng, d), _random_cov(rng, d, rank=25)  # one singular, non-commuting
    covmean = scipy.linalg.sqrtm(c1 @ c2).real
    reference = np.sum((mu1 - mu2) ** 2) + np.trace(c1) + np.trace(c2) - 2 * np.trace(covmean)
    assert frechet_distance(mu1, c1, mu2, c2) == pytest.approx(reference, rel=1e-7)


def test_fid_from_sampled_gaussian_features_approaches_closed_form() -> None:
    rng = np.random.default_rng(3)
    d, n = 6, 40000
    q, _ = np.linalg.qr(rng.normal(size=(d, d)))  # shared rotation: covariances commute
    s1, s2 = rng.uniform(0.5, 2, d), rng.uniform(0.5, 2, d)
    mu1, mu2 = np.zeros(d), np.full(d, 0.5)
    x = rng.normal(size=(n, d)) * np.sqrt(s1) @ q.T + mu1
    y = rng.normal(size=(n, d)) * np.sqrt(s2) @ q.T + mu2
    expected = np.sum((mu1 - mu2) ** 2) + np.sum((np.sqrt(s1) - np.sqrt(s2)) ** 2)
    assert fid_from_features(x, y) == pytest.approx(expected, rel=0.03)


def test_fid_small_sample_path_equals_full_eigendecomposition() -> None:
    rng = np.random.default_rng(10)
    d = 96
    real = rng.normal(size=(300, d)) * rng.uniform(0.2, 2, d)
    fake = rng.normal(size=(40, d)) * rng.uniform(0.2, 2, d) + 0.2  # fewer samples than dimensions
    full = frechet_distance(*feature_stats(real), *feature_stats(fake))
    assert fid_from_features(real, fake) == pytest.approx(full, rel=1e-9)
    assert fid_from_features(fake, real) == pytest.approx(full, rel=1e-9)


def test_fid_rejects_mismatched_statistics() -> None:
    with pytest.raises(ValueError):
        frechet_distance(np.zeros(3), np.eye(3), np.zeros(4), np.eye(4))


# ---- KID ---------------------------------------------------------------------------

def test_mmd2_unbiased_matches_direct_double_sum() -> None:
    rng = np.random.default_rng(4)
    x, y = rng.normal(size=(7, 5)), rng.normal(size=(7, 5)) + 0.3
    k = lambda a, b: (a @ b / 5 + 1) ** 3  # noqa: E731
    m = 7
    xx = sum(k(x[i], x[j]) for i in range(m) for j in range(m) if i != j) / (m * (m - 1))
    yy = sum(k(y[i], y[j]) for i in range(m) for j in range(m) if i != j) / (m * (m - 1))
    xy = sum(k(x[i], y[j]) for i in range(m) for j in range(m)) / (m * m)
    assert mmd2_unbiased(x, y) == pytest.approx(xx + yy - 2 * xy, rel=1e-12)


def test_kid_expectation_is_zero_for_one_distribution_and_positive_for_two() -> None:
    rng = np.random.default_rng(5)
    d, m, draws = 16, 40, 300
    same = np.array([mmd2_unbiased(rng.normal(size=(m, d)), rng.normal(size=(m, d))) for _ in range(draws)])
    # Unbiased: the mean over independent draws is within 3 standard errors of 0.
    assert abs(same.mean()) < 3 * same.std() / np.sqrt(draws)
    shifted = np.array([mmd2_unbiased(rng.normal(size=(m, d)), rng.normal(size=(m, d)) + 0.5)
                        for _ in range(30)])
    assert shifted.mean() > 10 * same.std() / np.sqrt(draws)


def test_kid_precomputed_kernels_give_the_same_subsets_as_direct_computation(monkeypatch) -> None:
    import snowgan.metrics.kid as kid

    rng = np.random.default_rng(11)
    real, fake = rng.normal(size=(70, 12)), rng.normal(size=(50, 12)) + 0.2
    fast = kid.kid_from_features(real, fake, n_subsets=7, subset_max=30, seed=3)
    monkeypatch.setattr(kid, "GRAM_MAX", 10)  # force the per-subset path
    slow = kid.kid_from_features(real, fake, n_subsets=7, subset_max=30, seed=3)
    assert fast.mean == pytest.approx(slow.mean, rel=1e-10) and fast.std == pytest.approx(slow.std, rel=1e-8)


def test_kid_subset_size_is_min_of_counts_and_1000() -> None:
    rng = np.random.default_rng(6)
    r = kid_from_features(rng.normal(size=(60, 8)), rng.normal(size=(45, 8)), n_subsets=5)
    assert (r.subset_size, r.n_subsets) == (45, 5)
    assert abs(r.mean) < 0.5 and r.std >= 0


def test_kid_of_two_whole_sets_is_one_value_without_a_spread() -> None:
    rng = np.random.default_rng(7)
    real, fake = rng.normal(size=(30, 8)), rng.normal(size=(30, 8)) + 0.3
    r = kid_from_features(real, fake, n_subsets=5)
    # Every subset of 30 from 30 is the whole set: one unbiased MMD^2, and a std of exactly 0
    # (not 3e-16 of summation-order noise that would read as a measured spread).
    assert r.whole and r.std == 0.0 and (r.subset_size, r.n_subsets) == (30, 1)
    assert r.mean == pytest.approx(mmd2_unbiased(real, fake), rel=1e-12)
    assert not kid_from_features(real, fake[:20]).whole


# ---- precision / recall / density / coverage -------------------------------------------

def test_knn_radius_excludes_the_point_itself() -> None:
    x = np.array([[0.0], [1.0], [3.0], [7.0]])
    assert kth_neighbour_radii(x, 1).tolist() == [1.0, 1.0, 2.0, 4.0]
    assert kth_neighbour_radii(x, 2).tolist() == [3.0, 2.0, 3.0, 6.0]


def test_prdc_identical_and_disjoint_clouds() -> None:
    rng = np.random.default_rng(7)
    real = rng.normal(size=(300, 5))
    p, r = precision_recall(real, real.copy())
    _, c = density_coverage(real, real.copy())
    assert (p, r, c) == (1.0, 1.0, 1.0)
    far = real + 1000.0
    assert precision_recall(real, far) == (0.0, 0.0)
    assert density_coverage(real, far) == (0.0, 0.0)


def test_precision_counts_exactly_the_overlapping_half() -> None:
    rng = np.random.default_rng(8)
    real = rng.normal(size=(400, 4))
    fake = np.concatenate([real[:200], rng.normal(size=(200, 4)) + 1000.0])  # half copies, half far away
    p, _ = precision_recall(real, fake)
    _, coverage = density_coverage(real, fake)
    assert p == 0.5
    assert coverage >= 0.5  # the copied half covers itself at least


def test_prdc_on_uniform_square_vs_its_left_half() -> None:
    """Fake fills only the left half of the real support: full fidelity, half the diversity."""
    rng = np.random.default_rng(9)
    n = 2000
    real = rng.uniform(size=(n, 2))
    fake = rng.uniform(size=(n, 2)) * [0.5, 1.0]
    p, r = precision_recall(real, fake)
    density, coverage = density_coverage(real, fake)
    assert p > 0.95
    assert r == pytest.approx(0.5, abs=0.06)
    assert coverage == pytest.approx(0.5, abs=0.06)
    # Where fake lives it is spread like real, so each fake sits in ~k real balls: density ~1.
    assert density == pytest.approx(1.0, abs=0.1)
