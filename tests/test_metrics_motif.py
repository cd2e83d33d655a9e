"""Motif collapse: samples that repeat one motif in different layouts look varied pixel by pixel, so the pixel
diversity signal stays quiet; coverage in a frozen network's features (collapse.feature_coverage) sees them."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from snowgan.metrics.collapse import COVERAGE_MIN, collapse_signals, collapse_warning, feature_coverage
from snowgan.metrics.suite import MetricSuite
from metric_fixtures import random_standard_state_dict, scenes

CPU = torch.device("cpu")


def pooled_features(images: np.ndarray) -> np.ndarray:
    """A stand-in for a frozen feature network: two fixed random convolutions, ReLU, global average pooling.
    Like Inception's pool3, it says what is in an image more than where."""
    g = torch.Generator().manual_seed(0)
    w1 = torch.randn(32, images.shape[1], 5, 5, generator=g) / 5
    w2 = torch.randn(64, 32, 3, 3, generator=g) / 10
    x = torch.from_numpy(images).float() / 127.5 - 1
    h = torch.relu(torch.nn.functional.conv2d(x, w1, stride=2))
    h = torch.relu(torch.nn.functional.conv2d(h, w2, stride=2))
    return h.mean(dim=(2, 3)).double().numpy()


def stamped(motif: np.ndarray, n: int, size: int, seed: int, stamps: int = 2) -> np.ndarray:
    """n images of one motif stamped at random places (some mirrored) on its own palette: the collapse a run
    showed on illustrations, every sample the same creature and colours in another layout."""
    rng = np.random.default_rng(seed)
    m = motif.shape[-1]
    base = motif.reshape(motif.shape[0], -1).mean(axis=1)
    out = np.empty((n, motif.shape[0], size, size), np.uint8)
    for i in range(n):
        img = np.empty((motif.shape[0], size, size))
        img[:] = (base + rng.normal(0, 6, len(base)))[:, None, None]
        for _ in range(stamps):
            y, x = rng.integers(0, size - m + 1, 2)
            img[:, y:y + m, x:x + m] = motif[:, :, ::-1] if rng.random() < 0.5 else motif
        out[i] = np.clip(img, 0, 255)
    return out


def test_coverage_is_high_for_the_same_distribution_and_low_for_one_point_or_a_few_motifs() -> None:
    rng = np.random.default_rng(0)
    cloud = rng.standard_normal((400, 16))
    real, other = cloud[:200], cloud[200:]
    assert feature_coverage(other, real) > 0.85  # theory for equal sets at k=5: 1 - 2**-5 ~ 0.97
    assert feature_coverage(np.repeat(other[:1], 200, axis=0), real) < 0.1  # every sample the same
    # Samples near three real images only: three motifs. Each lies in the balls of the real images around it
    # (in 16 dimensions a ball reaches far), so a few reals more are covered than three, but a small share.
    motifs = real[:3][rng.integers(0, 3, 200)] + 0.05 * rng.standard_normal((200, 16))
    assert feature_coverage(motifs, real) < 0.2
    assert np.isnan(feature_coverage(other[:10], real[:5]))  # no 5th neighbour among 5 real images


def test_stamped_motif_passes_the_pixel_watch_and_warns_in_feature_space() -> None:
    images = scenes(240, 32, seed=1)
    real, held_out = images[:120], images[120:]
    motif = stamped(scenes(1, 16, seed=10)[0], 120, 32, seed=3)
    pixels = collapse_signals(motif, real).as_dict()
    assert pixels["diversity"] > 0.7 and pixels["dup_rate"] == 0.0  # varied, pixel by pixel ...
    assert collapse_warning(pixels) is None                            # ... so the pixel watch says nothing
    f_real = pooled_features(real)
    cov = feature_coverage(pooled_features(motif), f_real)
    assert cov < COVERAGE_MIN
    msg = collapse_warning({**pixels, "feature_coverage": cov})
    assert msg is not None and msg.startswith("possible motif collapse: ") and "mode collapse" not in msg
    assert f"cover {cov:.0%} of the real images' variety" in msg and "try --gen_steps 1" in msg and "\n" not in msg
    healthy = collapse_signals(held_out, real).as_dict()
    healthy["feature_coverage"] = feature_coverage(pooled_features(held_out), f_real)
    assert healthy["feature_coverage"] > 0.8 and collapse_warning(healthy) is None


@pytest.fixture(scope="module")
def weights_file(tmp_path_factory: pytest.TempPathFactory):
    path = tmp_path_factory.mktemp("w") / "random_inception.pth"
    torch.save(random_standard_state_dict(3), path)
    return path


def test_the_suite_measures_coverage_in_the_inception_features_it_has(weights_file) -> None:
    real = scenes(14, 16, seed=20)
    same = np.repeat(scenes(1, 16, seed=21), 12, axis=0)
    with_kid = MetricSuite(["kid", "dc", "diversity"], real, "", CPU, inception_weights=str(weights_file),
                           progress="none")
    values, proto = with_kid.measure(same)
    assert values["feature_coverage"] == values["coverage"]  # the same coverage as the dc metric's, same features
    assert values["feature_coverage"] < COVERAGE_MIN and "motif collapse" in collapse_warning(values)
    assert "feature_coverage: coverage (Naeem 2020, k=5) in the Inception pool3 features, 12 generated vs 12 real" \
        in proto["diversity"]
    varied, _ = with_kid.measure(scenes(12, 16, seed=22))
    assert varied["feature_coverage"] > values["feature_coverage"]
    # Without an Inception metric there are no features to look in: the pixel signals only, and no number.
    pixels_only, proto = MetricSuite(["diversity"], real, "", CPU).measure(same)
    assert "feature_coverage" not in pixels_only and "feature_coverage" not in proto["diversity"]
