"""SWD on Laplacian-pyramid patches, and the diversity / collapse / memorisation signals."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from snowgan.metrics.collapse import collapse_signals, collapse_warning
from snowgan.metrics.swd import _blur, laplacian_pyramid, level_sizes, pyr_up, sliced_wasserstein, swd
from metric_fixtures import scenes


def blurred(images: np.ndarray, times: int = 2) -> np.ndarray:
    x = torch.from_numpy(images).float()
    for _ in range(times):
        x = _blur(x)
    return x.round().clamp(0, 255).byte().numpy()


# ---- SWD ------------------------------------------------------------------------------

def test_level_sizes_follow_the_progressive_gan_rule() -> None:
    assert level_sizes(128, 128) == [(128, 128), (64, 64), (32, 32), (16, 16)]
    assert level_sizes(96, 160) == [(96, 160), (48, 80), (24, 40)]
    assert level_sizes(8, 8) == [(8, 8)]  # smaller than 16: the image itself is the only level


def test_laplacian_pyramid_reconstructs_exactly() -> None:
    x = torch.rand(2, 3, 24, 40, dtype=torch.float64)
    levels = laplacian_pyramid(x, 3)
    y = levels[-1]
    for band in reversed(levels[:-1]):
        y = pyr_up(y, band.shape[-2:]) + band
    assert torch.allclose(y, x, atol=1e-12)


def test_sliced_wasserstein_of_shifted_1d_sets_is_the_shift() -> None:
    a = np.random.default_rng(0).standard_normal((4000, 1))
    # In one dimension every unit direction is +-1, so SW-1 is exactly the mean shift.
    assert sliced_wasserstein(a, a + 0.7, dir_repeats=2, dirs_per_repeat=4) == pytest.approx(0.7, rel=1e-5)


def test_swd_separates_blurred_from_sharp_and_is_near_zero_for_halves() -> None:
    images = scenes(240, 32, seed=1)
    first, second = images[:120], images[120:]
    halves = swd(first, second)
    blur = swd(first, blurred(second))
    assert set(halves.per_level) == {"32x32", "16x16"}
    # With 120 images a side the sampling floor is not 0 (the paper used 16384 images),
    # but the two halves sit well below the blurred set, and the finest level - where
    # blur removes detail - separates them by a wide margin.
    assert halves.mean < 0.5 * blur.mean
    assert blur.per_level["32x32"] > 4 * halves.per_level["32x32"]
    assert swd(first, second).mean == halves.mean  # seeded: the same number every time


def test_swd_works_on_small_grayscale_and_non_square_images() -> None:
    gray = scenes(40, 16, seed=2, channels=1)
    assert np.isfinite(swd(gray[:20], gray[20:]).mean)
    wide = scenes(30, 40, seed=3)[:, :, :24, :]  # 24x40
    assert list(swd(wide[:15], wide[15:]).per_level) == ["24x40"]


# ---- collapse signals ----------------------------------------------------------------------

def test_collapse_fires_on_one_repeated_image_and_stays_quiet_on_real_data() -> None:
    images = scenes(200, 32, seed=4)
    train, held_out = images[:120], images[120:]
    collapsed = np.repeat(held_out[:1], 80, axis=0)
    sig = collapse_signals(collapsed, held_out, train)
    assert sig.diversity == 0.0 and sig.dup_rate == 1.0
    msg = collapse_warning(sig.as_dict())
    assert msg is not None and "mode collapse" in msg and "0% as varied" in msg
    quiet = collapse_signals(held_out, train[:80], train)
    assert 0.7 < quiet.diversity < 1.4
    assert quiet.memorised == 0.0
    assert collapse_warning(quiet.as_dict()) is None


def test_memorisation_fires_on_copies_of_training_images() -> None:
    images = scenes(160, 32, seed=5)
    train, held_out = images[:100], images[100:]
    copies = train[:60].copy()  # a generator that learned the training set by heart
    sig = collapse_signals(copies, held_out, train)
    assert sig.memorised == 1.0 and sig.train_nn_ratio == 0.0
    msg = collapse_warning(sig.as_dict())
    assert msg is not None and "memorisation" in msg and "mode collapse" not in msg
