"""The azimuthally averaged power spectrum and its high-frequency error (metrics/spectrum.py), on images whose
spectra are known: white noise is flat, smooth fields fall with frequency, a checkerboard sits at the top."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from snowgan.metrics.spectrum import HF_FROM, power_spectrum, spectral_error, spectrum_record
from snowgan.metrics.suite import MetricSuite, parse_metric_names
from metric_fixtures import scenes


def fields(n: int, size: int = 32, seed: int = 0, slope: float = 1.0, channels: int = 3,
           shape: tuple[int, int] | None = None) -> np.ndarray:
    """n uint8 random fields with amplitude ~ 1/f**slope (slope 1: natural-image statistics; 0: white noise)."""
    h, w = shape or (size, size)
    rng = np.random.default_rng(seed)
    f = np.sqrt(np.fft.fftfreq(h)[:, None] ** 2 + np.fft.fftfreq(w)[None, :] ** 2)
    amp = 1.0 / np.maximum(f, 1.0 / max(h, w)) ** slope
    noise = rng.standard_normal((n, channels, h, w))
    x = np.real(np.fft.ifft2(np.fft.fft2(noise) * amp))
    x = (x - x.mean(axis=(1, 2, 3), keepdims=True)) / x.std(axis=(1, 2, 3), keepdims=True)
    return np.clip(128 + 40 * x, 0, 255).round().astype(np.uint8)


def checkerboard(images: np.ndarray, gain: float) -> np.ndarray:
    """images whose four pixel phases of each 2x2 tile have their own gains, (1 +- gain) per axis: the
    checkerboard a stride-2 transposed convolution leaves (each output phase sums other kernel taps)."""
    h, w = images.shape[-2:]
    yy, xx = np.mgrid[:h, :w]
    board = np.where(yy % 2 == 0, 1 + gain, 1 - gain) * np.where(xx % 2 == 0, 1 + gain, 1 - gain)
    return np.clip(images.astype(float) * board, 0, 255).round().astype(np.uint8)


def test_identical_sets_have_no_error_and_the_bins_reach_the_corner() -> None:
    x = fields(16, 32, seed=1)
    s = power_spectrum(x)
    err = spectral_error(s, power_spectrum(x.copy()))
    assert err.hf == 0.0 and err.bias == 0.0
    # bins of width 1/32 from about 1/32 up into the corner (sqrt(0.5) cycles/px), where the last few merge
    assert s.freq[0] < 2 / 32 and s.freq[-1] > 0.6 and (np.diff(s.freq) > 0).all()
    assert s.counts.sum() == 32 * 32 - 1 and s.counts[-1] >= 16  # every frequency but DC in one bin


def test_white_noise_is_flat_and_smooth_fields_fall_with_frequency() -> None:
    white = power_spectrum(fields(32, 32, seed=2, slope=0.0))
    smooth = power_spectrum(fields(32, 32, seed=3, slope=1.5))
    band = white.freq > HF_FROM
    # White noise: the same power at every frequency (within the estimate's noise), ...
    assert np.ptp(white.db[1:]) < 2.5
    # ... a 1/f^1.5 field: power falls by 10*3*log10(f ratio) dB over a decade of frequency.
    assert smooth.db[0] - smooth.db[-1] > 30
    err = spectral_error(smooth, white)
    assert err.hf > 10 and err.bias == pytest.approx(err.hf)  # noise has far more fine detail, everywhere above
    reverse = spectral_error(white, smooth)
    assert reverse.hf == pytest.approx(err.hf) and reverse.bias == pytest.approx(-err.hf)
    assert band.sum() > 10


def test_a_checkerboard_adds_high_frequency_error_and_blur_takes_it_away() -> None:
    images = fields(128, 32, seed=4)
    real, other = images[:64], images[64:]
    floor = spectral_error(power_spectrum(real), power_spectrum(other))
    assert floor.hf < 0.6  # two sets of the same fields: only the estimate's noise
    board = spectral_error(power_spectrum(real), power_spectrum(checkerboard(other, 0.1)))
    assert board.hf > 3 * floor.hf + 1.0 and board.bias > 1.0  # more fine detail than the real images
    x = torch.from_numpy(other).float()
    blurred = torch.nn.functional.avg_pool2d(x, 3, 1, 1, count_include_pad=False).round().byte().numpy()
    blur = spectral_error(power_spectrum(real), power_spectrum(blurred))
    assert blur.hf > 3 * floor.hf + 1.0 and blur.bias < -1.0  # less fine detail: the sign says which


def test_contrast_and_brightness_do_not_count_only_the_distribution_over_frequencies() -> None:
    images = fields(64, 32, seed=5)
    dim = (images.astype(float) * 0.6 + 40).round().astype(np.uint8)  # same pictures, less contrast, brighter
    err = spectral_error(power_spectrum(images), power_spectrum(dim))
    assert err.hf < 0.3


def test_flat_grey_and_non_square_images_give_finite_numbers_and_sizes_must_match() -> None:
    flat = np.full((4, 3, 16, 16), 128, np.uint8)
    err = spectral_error(power_spectrum(fields(4, 16, seed=6)), power_spectrum(flat))
    assert np.isfinite(err.hf) and err.bias < -50  # no detail at all: on the floor, far below
    wide = fields(8, shape=(24, 40), seed=7, channels=1)
    s = power_spectrum(wide)
    assert s.freq[0] < 2 / 24 and np.isfinite(s.db).all()
    with pytest.raises(ValueError, match="different sizes"):
        spectral_error(s, power_spectrum(fields(8, 32, seed=8)))
    with pytest.raises(ValueError, match="too small"):
        power_spectrum(np.zeros((2, 3, 2, 2), np.uint8))


def test_batches_do_not_change_the_result() -> None:
    from snowgan.metrics import spectrum

    images = fields(70, 16, seed=9)  # more than one batch of 64
    whole = power_spectrum(images)
    saved = spectrum._BATCH
    try:
        spectrum._BATCH = 7
        pieces = power_spectrum(images)
    finally:
        spectrum._BATCH = saved
    np.testing.assert_allclose(pieces.db, whole.db, rtol=1e-10)


def test_the_suite_measures_it_by_default_with_both_curves_and_a_protocol() -> None:
    assert "spectrum" in parse_metric_names("auto", torch.device("cpu"))
    real = scenes(48, 32, seed=10)
    suite = MetricSuite(["spectrum"], real, "", torch.device("cpu"))
    values, proto = suite.measure(checkerboard(scenes(40, 32, seed=11), 0.1))
    assert values["spectral_hf"] > 1 and values["spectral_hf_bias"] > 0
    assert "40 generated vs 40 of 48 real images" in proto["spectrum"] and "dB" in proto["spectrum"]
    curves = suite.curves["spectrum"]
    assert len(curves["freq"]) == len(curves["real_db"]) == len(curves["generated_db"]) == 21
    json.dumps(curves)  # plain lists: they go into metrics.jsonl and an evaluation's file
    again, _ = MetricSuite(["spectrum"], real, "", torch.device("cpu")).measure(
        checkerboard(scenes(40, 32, seed=11), 0.1))
    assert again["spectral_hf"] == values["spectral_hf"]  # deterministic


def test_the_report_band_is_the_metric_band() -> None:
    from snowgan.report.plots import SPECTRUM_HF_FROM

    assert SPECTRUM_HF_FROM == HF_FROM
    rec = spectrum_record(power_spectrum(fields(4, 16)), power_spectrum(fields(4, 16, seed=1)))
    assert set(rec) == {"freq", "real_db", "generated_db"}
