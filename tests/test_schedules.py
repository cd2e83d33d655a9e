"""R3GAN's schedules (train/schedules.py): pure functions of kimg with the paper's end points."""

from __future__ import annotations

import math
from dataclasses import replace

import pytest

from snowgan.train.schedules import R3GANSchedule, cosine_ramp


def test_end_points_are_the_papers() -> None:
    s = R3GANSchedule(total_kimg=40.0)
    start, end = s.at(0.0), s.at(40.0)
    assert (start.lr, start.gamma, start.aug_p, start.beta1, start.beta2, start.ema_kimg) == \
        (2e-4, 2.0, 0.0, 0.0, 0.9, 0.0)
    assert end.lr == pytest.approx(5e-5) and end.gamma == pytest.approx(0.2)  # gamma decays 10x
    assert end.aug_p == pytest.approx(0.3) and end.beta2 == pytest.approx(0.99) and end.beta1 == 0.0
    assert end.ema_kimg == pytest.approx(0.025 * 40.0)


def test_cosine_shape_and_hold_after_the_end() -> None:
    s = R3GANSchedule(total_kimg=10.0)
    mid = s.at(5.0)
    assert mid.lr == pytest.approx((2e-4 + 5e-5) / 2) and mid.beta2 == pytest.approx(0.945)
    quarter = s.at(2.5)  # (1 - cos(pi/4)) / 2 of the way
    assert quarter.gamma == pytest.approx(2.0 + (0.2 - 2.0) * (1 - math.cos(math.pi / 4)) / 2)
    assert replace(s.at(25.0), kimg=10.0) == s.at(10.0)  # held after the end
    assert s.at(-1.0).lr == 2e-4 and s.progress(-1.0) == 0.0 and s.progress(99.0) == 1.0


def test_every_value_moves_monotonically() -> None:
    s = R3GANSchedule(total_kimg=3.0)
    values = [s.at(k / 10) for k in range(0, 41)]
    for name, direction in (("lr", -1), ("gamma", -1), ("aug_p", 1), ("beta2", 1), ("ema_kimg", 1)):
        seq = [getattr(v, name) for v in values]
        assert all(direction * (b - a) >= 0 for a, b in zip(seq, seq[1:])), name


def test_pure_function_of_kimg_scales_with_run_length() -> None:
    short, long = R3GANSchedule(total_kimg=2.0), R3GANSchedule(total_kimg=2000.0)
    assert short.at(1.0).lr == pytest.approx(long.at(1000.0).lr)  # same fraction of the run, same value
    first, _, again = (short.at(k) for k in (1.5, 0.5, 1.5))
    assert first == again  # no hidden state: a resumed run asking for kimg 1.5 gets the same values


def test_custom_pairs_and_checks() -> None:
    s = R3GANSchedule(total_kimg=8.0, gamma=(0.05, 0.005), aug_p=(0.0, 0.55), ema_fraction=(0.0, 0.25))
    assert s.at(8.0).gamma == pytest.approx(0.005) and s.at(8.0).aug_p == pytest.approx(0.55)
    assert s.at(8.0).ema_kimg == pytest.approx(2.0)
    with pytest.raises(ValueError, match="total_kimg"):
        R3GANSchedule(total_kimg=0)
    with pytest.raises(ValueError, match="beta"):
        R3GANSchedule(total_kimg=1, beta2=(0.9, 1.0))
    with pytest.raises(ValueError, match="lr"):
        R3GANSchedule(total_kimg=1, lr=(2e-4,))  # type: ignore[arg-type]
    assert cosine_ramp(5.0, 0.0, 1.0, 2.0) == 2.0  # a zero-length schedule is at its end
