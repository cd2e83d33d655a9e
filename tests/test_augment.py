"""DiffAugment ops and the adaptive-probability controller (tiny CPU tensors)."""

from __future__ import annotations

import json
import math

import pytest
import torch
from torch import nn

from snowgan.augment import AdaptiveP, DiffAugment, from_config
from snowgan.config import Config, ConfigError


def _images(b: int = 6, c: int = 3, h: int = 16, w: int = 16, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.rand(b, c, h, w, generator=g) * 1.8 - 0.9  # in [-0.9, 0.9], no exact zeros


def test_p_zero_is_identity_and_draws_nothing() -> None:
    x = _images()
    torch.manual_seed(3)
    y = DiffAugment("color,translation,cutout", p=0.0)(x)
    after = torch.rand(1)
    torch.manual_seed(3)
    assert torch.equal(y, x)
    assert torch.equal(after, torch.rand(1))  # no RNG consumed


def test_color_is_a_per_sample_affine_colour_map() -> None:
    """Brightness, saturation and contrast each map every pixel's RGB by the same per-image affine map."""
    x = _images(b=5)
    torch.manual_seed(0)
    y = DiffAugment("color")(x)
    assert y.shape == x.shape and not torch.allclose(y, x)
    for xb, yb in zip(x.double(), y.double()):
        src = torch.cat([xb.flatten(1).T, torch.ones(xb[0].numel(), 1, dtype=torch.float64)], 1)  # (HW, 4)
        coef = torch.linalg.lstsq(src, yb.flatten(1).T).solution
        assert torch.allclose(src @ coef, yb.flatten(1).T, atol=1e-5)


def test_brightness_saturation_contrast_ranges() -> None:
    from snowgan.augment import brightness, contrast, saturation

    x = _images(b=64)
    torch.manual_seed(1)
    d = brightness(x) - x
    shift = d.flatten(1)
    assert torch.allclose(shift, shift[:, :1].expand_as(shift), atol=1e-6)  # one shift per image
    assert shift.abs().max() <= 0.5
    y = contrast(x)  # keeps each image's mean, scales deviations by [0.5, 1.5)
    assert torch.allclose(y.mean(dim=(1, 2, 3)), x.mean(dim=(1, 2, 3)), atol=1e-5)
    ratio = (y - y.mean(dim=(1, 2, 3), keepdim=True)).flatten(1).norm(dim=1) / \
        (x - x.mean(dim=(1, 2, 3), keepdim=True)).flatten(1).norm(dim=1)
    assert ratio.min() >= 0.5 - 1e-5 and ratio.max() < 1.5
    y = saturation(x)  # keeps each pixel's grey level
    assert torch.allclose(y.mean(dim=1), x.mean(dim=1), atol=1e-5)


def test_translation_is_an_integer_shift_with_zero_fill() -> None:
    x = _images(b=8, h=16, w=24)
    torch.manual_seed(2)
    y = DiffAugment("translation")(x)
    shifts = set()
    for xb, yb in zip(x, y):
        found = None
        for dy in range(-2, 3):  # 16 / 8
            for dx in range(-3, 4):  # 24 / 8
                ref = torch.zeros_like(xb)
                src = xb[:, max(dy, 0):16 + min(dy, 0), max(dx, 0):24 + min(dx, 0)]
                ref[:, max(-dy, 0):16 + min(-dy, 0), max(-dx, 0):24 + min(-dx, 0)] = src
                if torch.equal(ref, yb):
                    found = (dy, dx)
        assert found is not None, "output is not a zero-filled integer shift of the input"
        shifts.add(found)
    assert len(shifts) > 1  # each sample draws its own shift


def test_cutout_zeroes_one_half_size_rectangle() -> None:
    x = _images(b=8, h=16, w=16)
    torch.manual_seed(4)
    y = DiffAugment("cutout")(x)
    for xb, yb in zip(x, y):
        cut = (yb == 0).all(dim=0)  # inputs have no exact zeros
        assert torch.equal(yb[:, ~cut], xb[:, ~cut])
        rows, cols = cut.any(1).nonzero().flatten(), cut.any(0).nonzero().flatten()
        assert 0 < len(rows) <= 8 and 0 < len(cols) <= 8
        assert cut.sum() == len(rows) * len(cols)  # a full rectangle
        assert rows.max() - rows.min() + 1 == len(rows) and cols.max() - cols.min() + 1 == len(cols)


def test_gradients_flow_through_every_op() -> None:
    x = _images(b=4).requires_grad_(True)
    torch.manual_seed(5)
    DiffAugment("color,translation,cutout")(x).square().sum().backward()
    assert x.grad is not None and torch.isfinite(x.grad).all() and x.grad.abs().sum() > 0
    # Cutout alone: d(sum y)/dx is exactly the keep-mask (1 outside the hole, 0 inside).
    x2 = _images(b=4).requires_grad_(True)
    torch.manual_seed(6)
    y = DiffAugment("cutout")(x2)
    y.sum().backward()
    assert torch.equal(x2.grad, (y != 0).to(x2.grad.dtype))


def test_same_seed_same_augmentation_and_real_fake_sampled_separately() -> None:
    aug = DiffAugment("color,translation,cutout", p=0.7)
    x = _images()
    torch.manual_seed(11)
    a, b = aug(x), aug(x)
    torch.manual_seed(11)
    assert torch.equal(aug(x), a)
    assert not torch.equal(a, b)  # two calls (real, fake) draw their own transforms


def test_each_op_applied_per_sample_with_probability_p() -> None:
    x = _images(b=2000, c=1, h=8, w=8)
    aug = DiffAugment("cutout", p=0.3)
    torch.manual_seed(7)
    changed = (aug(x) != x).flatten(1).any(1).float().mean().item()
    assert abs(changed - 0.3) < 0.04
    aug.p = 1.0  # a settable attribute: the adaptive controller writes it
    assert (aug(x) != x).flatten(1).any(1).all()


def test_unknown_policy_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="--augment"):
        DiffAugment("color,rotate")


def test_none_turns_a_recipes_augmentation_off() -> None:
    x = torch.rand(4, 3, 8, 8) * 2 - 1
    for off in ("none", "off", "None", ""):
        assert torch.equal(DiffAugment(off, p=1.0)(x), x)
        cfg = Config()
        cfg.aug.augment = off
        assert from_config(cfg) == (None, None)  # the training step then skips augmentation entirely


# ---- adaptive p -------------------------------------------------------------------------

def test_adaptive_p_moves_by_the_ada_rule_and_is_clamped() -> None:
    ada = AdaptiveP(target=0.6, speed_kimg=1.0, interval=4, p=0.0)
    for _ in range(4):
        ada.accumulate(torch.ones(8))  # D sure every real is real: overfitting
    assert ada.update(n_images=32) == pytest.approx(0.032)  # 32 / (1 * 1000)
    assert ada.last_rt == 1.0
    for _ in range(100):
        ada.accumulate(torch.full((8,), 3.0))
        ada.update(n_images=100)
    assert ada.p < 1.0 and ada.p > 0.999
    for _ in range(3):
        ada.accumulate(torch.tensor([1.0, -1.0, -2.0, 0.5]))  # r_t = 0 < target: less augmentation
        ada.update(n_images=200)
    assert ada.p == pytest.approx(0.4, abs=1e-6)
    for _ in range(10):
        ada.accumulate(-torch.ones(4))
        ada.update(n_images=1000)
    assert ada.p == 0.0
    assert ada.update(n_images=1000) == 0.0  # nothing accumulated: no move


def test_adaptive_state_round_trips_through_json() -> None:
    ada = AdaptiveP(0.6, 2.0, 4, p=0.25)
    ada.accumulate(torch.tensor([1.0, 1.0, -1.0]))  # mid-interval at checkpoint time
    state = json.loads(json.dumps(ada.state_dict()))
    other = AdaptiveP(0.6, 2.0, 4)
    other.load_state_dict(state)
    assert other.p == 0.25
    # r_t = 1/3 is below the target: both step down by 300 / 2000.
    assert ada.update(300) == other.update(300) == pytest.approx(0.25 - 300 / 2000)


def _train_d(ada: AdaptiveP, aug: DiffAugment, real: torch.Tensor, fake_fn, steps: int) -> list[float]:
    """A tiny D trained with the nonsat loss; the controller sets aug.p as the loop will."""
    torch.manual_seed(0)
    D = nn.Sequential(nn.Flatten(), nn.Linear(real[0].numel(), 32), nn.LeakyReLU(0.2), nn.Linear(32, 1))
    opt = torch.optim.Adam(D.parameters(), lr=1e-2)
    ps = []
    for it in range(1, steps + 1):
        r_s = D(aug(real)).flatten()
        f_s = D(aug(fake_fn())).flatten()
        loss = nn.functional.softplus(-r_s).mean() + nn.functional.softplus(f_s).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        ada.accumulate(r_s)
        if it % ada.interval == 0:
            aug.p = ada.update(n_images=len(real) * ada.interval)
            ps.append(aug.p)
    return ps


def test_adaptive_p_rises_when_d_memorises_and_falls_when_it_cannot() -> None:
    g = torch.Generator().manual_seed(1)
    real = torch.rand(16, 1, 8, 8, generator=g) * 2 - 1  # 16 fixed images: easy to memorise
    ps = _train_d(AdaptiveP(0.6, 0.5, 2), DiffAugment("translation,cutout"), real,
                  lambda: torch.rand(16, 1, 8, 8) * 2 - 1, steps=60)
    # p climbs from 0 while D memorises, until augmentation holds r_t near the target.
    assert ps[1] < ps[4] < ps[8] and max(ps) > 0.3 and ps[-1] > 0.15
    # Fakes from the same distribution as fresh reals: D cannot be sure, r_t stays low.
    ps = _train_d(AdaptiveP(0.6, 0.5, 2, p=0.5), DiffAugment("translation,cutout", p=0.5),
                  torch.rand(16, 1, 8, 8, generator=g) * 2 - 1, lambda: torch.rand(16, 1, 8, 8) * 2 - 1, steps=20)
    assert ps[-1] < 0.5


def test_from_config() -> None:
    cfg = Config()
    assert from_config(cfg) == (None, None)
    cfg.aug.ada_target = 0.6
    with pytest.raises(ConfigError, match="--ada_target"):
        from_config(cfg)
    cfg.aug.augment = "color,cutout"
    aug, ada = from_config(cfg)
    assert isinstance(aug, DiffAugment) and aug.p == 0.0 and ada.p == 0.0 and ada.target == 0.6
    cfg.aug.ada_target, cfg.aug.aug_p = None, 0.5
    aug, ada = from_config(cfg)
    assert ada is None and aug.p == 0.5 and aug.policy == "color,cutout"
    assert math.isclose(AdaptiveP(0.6, 1, 1, p=5.0).p, 1.0, abs_tol=1e-9) and AdaptiveP(0.6, 1, 1, p=5.0).p < 1
