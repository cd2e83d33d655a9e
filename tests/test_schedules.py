"""R3GAN's schedules (models/r3gan/schedule.py): pure functions of kimg with the paper's end points."""

from __future__ import annotations

import math
from dataclasses import replace

import pytest

from snowgan.models.r3gan.schedule import R3GANSchedule, cosine_ramp


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


def test_documented_wiring_sets_what_the_training_step_reads() -> None:
    """The module docstring's snippet, run against the real GANSteps and Techniques of an r3gan recipe run."""
    import torch

    from snowgan.data.dataset import Batch
    from snowgan.flags import parse_args
    from snowgan.models.registry import build_networks
    from snowgan.train.ema import ema_beta
    from snowgan.train.step import GANSteps
    from snowgan.train.techniques import Techniques
    from snowgan.train.device import pick_precision

    cfg, _ = parse_args(["--recipe", "r3gan", "--image_size", "16", "--g_width", "8", "--d_width", "8",
                         "--latent_dim", "8", "--batch_size", "4"])
    torch.manual_seed(0)
    G, D = build_networks(cfg)
    dev = torch.device("cpu")
    tech = Techniques(cfg)
    steps = GANSteps(cfg, G, D, dev, pick_precision("fp32", dev), tech.augment)
    sched = R3GANSchedule(total_kimg=cfg.train.kimg, lr=(cfg.train.disc_lr, cfg.train.disc_lr / 4),
                          gamma=(cfg.model.r1_gamma, cfg.model.r1_gamma / 10), aug_p=(0.0, cfg.aug.aug_p))
    images_seen = 10_000  # half of the recipe's 20 kimg
    v = sched.at(images_seen / 1000)
    for opt in (steps.opt_g, steps.opt_d):
        for group in opt.param_groups:
            group["lr"], group["betas"] = v.lr, (v.beta1, v.beta2)
    for reg in steps.loss.regularizers:
        if reg.name in ("r1", "r2"):
            reg.weight = 0.5 * v.gamma
    if tech.augment is not None and tech.ada is None:
        tech.augment.p = v.aug_p
    assert {r.name: r.weight for r in steps.loss.regularizers} == {"r1": pytest.approx(0.55), "r2": pytest.approx(0.55)}
    assert tech.augment.p == pytest.approx(0.15) and v.lr == pytest.approx(1.25e-4)
    # Adam reads the new values on its next step: the D update moves every weight by about lr.
    before = [p.detach().clone() for p in steps.D_module.parameters()]
    ok, stats = steps.d_step(Batch(torch.rand(4, 3, 16, 16) * 2 - 1, None), 0)
    assert ok and set(stats) >= {"r1", "r2"}
    moved = max(float((p.detach() - b).abs().max()) for p, b in zip(steps.D_module.parameters(), before))
    assert moved == pytest.approx(v.lr, rel=0.05)  # Adam's first step is lr * sign(grad) in size
    assert 0 < ema_beta(4, images_seen, v.ema_kimg, rampup=0) < 1
