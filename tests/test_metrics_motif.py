"""Motif collapse: samples that repeat one motif in different layouts look varied pixel by pixel, so the pixel
diversity signal stays quiet; their spread in a frozen network's features (collapse.feature_variety) sees them."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from snowgan.metrics.collapse import (VARIETY_MIN, collapse_signals, collapse_warning, feature_coverage,
                                      feature_variety)
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


def test_variety_is_high_for_the_same_distribution_and_low_for_one_point_or_a_few_motifs() -> None:
    rng = np.random.default_rng(0)
    cloud = rng.standard_normal((400, 16))
    real, other = cloud[:200], cloud[200:]
    assert feature_variety(other, real) > 0.6 and feature_coverage(other, real) > 0.85
    one = np.repeat(other[:1], 200, axis=0)  # every sample the same
    assert feature_variety(one, real) == 0.0 and feature_coverage(one, real) < 0.1
    # Samples near three real images only: three motifs. Their balls reach their own cluster, no real image.
    motifs = real[:3][rng.integers(0, 3, 200)] + 0.05 * rng.standard_normal((200, 16))
    assert feature_variety(motifs, real) < 0.05 and feature_coverage(motifs, real) < 0.2
    # A narrower cloud (a quarter of the spread): fewer real images in reach, though centred on them.
    assert feature_variety(0.25 * other, real) < VARIETY_MIN
    assert np.isnan(feature_variety(other[:3], real)) and np.isnan(feature_coverage(other[:10], real[:5]))


def test_varied_samples_far_from_the_real_images_are_not_called_collapsed() -> None:
    """Coverage falls when samples are varied but unlike the photos (the held-out t-shirts blurred and noisy: 0.00);
    moved onto the real images' mean they are as spread as the photos, so variety stays up and the watch quiet."""
    rng = np.random.default_rng(1)
    cloud = rng.standard_normal((400, 16))
    real, other = cloud[:200], cloud[200:]
    off = 1.3 * other + 8.0 * np.ones(16) / 4  # wider and far off: unlike the real set, not collapsed
    values = {"diversity": 0.9, "feature_coverage": feature_coverage(off, real),
              "feature_variety": feature_variety(off, real)}
    assert values["feature_coverage"] < 0.05 and values["feature_variety"] > 0.6
    assert collapse_warning(values) is None
    assert collapse_warning({**values, "feature_variety": 0.05}).startswith("possible motif collapse")


def test_stamped_motif_passes_the_pixel_watch_and_warns_in_feature_space() -> None:
    images = scenes(240, 32, seed=1)
    real, held_out = images[:120], images[120:]
    motif = stamped(scenes(1, 16, seed=10)[0], 120, 32, seed=3)
    pixels = collapse_signals(motif, real).as_dict()
    assert pixels["diversity"] > 0.7 and pixels["dup_rate"] == 0.0  # varied, pixel by pixel ...
    assert collapse_warning(pixels) is None                            # ... so the pixel watch says nothing
    f_real = pooled_features(real)
    variety = feature_variety(pooled_features(motif), f_real)
    assert variety < VARIETY_MIN
    msg = collapse_warning({**pixels, "feature_variety": variety})
    assert msg is not None and msg.startswith("possible motif collapse: ") and "mode collapse" not in msg
    assert f"the samples span {variety:.0%} of the real images' variety" in msg
    assert "try --gen_steps 1" in msg and "\n" not in msg
    healthy = collapse_signals(held_out, real).as_dict()
    healthy["feature_variety"] = feature_variety(pooled_features(held_out), f_real)
    assert healthy["feature_variety"] > 0.8 and collapse_warning(healthy) is None


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
    assert values["feature_variety"] == 0.0  # twelve copies of one image: balls of radius 0
    assert "motif collapse" in collapse_warning(values)
    assert "feature_variety: recall (Kynkaanniemi 2019, k=3) of the samples moved onto the real mean, in the " \
           "Inception pool3 features, 12 generated vs 12 real" in proto["diversity"]
    varied, _ = with_kid.measure(scenes(12, 16, seed=22))
    assert varied["feature_variety"] > values["feature_variety"]
    assert varied["feature_coverage"] > values["feature_coverage"]
    # Without an Inception metric there are no features to look in: the pixel signals only, and no number.
    pixels_only, proto = MetricSuite(["diversity"], real, "", CPU).measure(same)
    assert not {"feature_coverage", "feature_variety"} & set(pixels_only) and "feature_" not in proto["diversity"]
