"""Losses and penalties against values worked out by hand; the step runs what a loss declares."""

import math
from types import SimpleNamespace

import torch
from torch import nn
from torch.nn import functional as F

from snowgan.flags import parse_args
from snowgan.losses import build_loss, loss_class, penalties
from snowgan.losses.base import PenaltyInputs
from snowgan.losses.entries import LOSSES


def _model_cfg(loss: str, **weights: float) -> SimpleNamespace:
    m = dict(loss=loss, gp_weight=0.0, r1_gamma=0.0, r2_gamma=0.0, drift_weight=0.0)
    m.update(weights)
    return SimpleNamespace(**m)


def test_nonsat_matches_bce_on_logits() -> None:
    real, fake = torch.tensor([2.0, -1.0]), torch.tensor([0.5, -3.0])
    bce = nn.functional.binary_cross_entropy_with_logits
    loss = build_loss(_model_cfg("nonsat"))
    assert torch.allclose(loss.d_main(real, fake), bce(real, torch.ones(2)) + bce(fake, torch.zeros(2)))
    assert torch.allclose(loss.g_main(fake), bce(fake, torch.ones(2)))


def test_wgan_and_hinge_values() -> None:
    real, fake = torch.tensor([2.0, 0.0]), torch.tensor([0.5, -3.0])
    wgan = build_loss(_model_cfg("wgan-gp"))
    assert wgan.d_main(real, fake).item() == (0.5 - 3.0) / 2 - 1.0
    assert wgan.g_main(fake).item() == 1.25
    # hinge: relu(1-2)=0, relu(1-0)=1 -> 0.5 ; relu(1+0.5)=1.5, relu(1-3)=0 -> 0.75
    assert build_loss(_model_cfg("hinge")).d_main(real, fake).item() == 0.5 + 0.75


def test_rpgan_closed_form_on_fixed_scores() -> None:
    real, fake = torch.tensor([2.0, 0.0, 1.0]), torch.tensor([0.5, -3.0, 1.0])
    rp = build_loss(_model_cfg("rpgan"))
    # softplus(-(r - f)) per pair: r - f = 1.5, 3, 0
    want_d = (math.log1p(math.exp(-1.5)) + math.log1p(math.exp(-3.0)) + math.log(2.0)) / 3
    assert math.isclose(rp.d_main(real, fake).item(), want_d, rel_tol=1e-6)
    # G: softplus(-(f - r)) with the same pairing: f - r = -1.5, -3, 0
    want_g = (math.log1p(math.exp(1.5)) + math.log1p(math.exp(3.0)) + math.log(2.0)) / 3
    assert math.isclose(rp.g_main(fake, real).item(), want_g, rel_tol=1e-6)
    # Relativistic: shifting every score by the same amount changes nothing.
    assert math.isclose(rp.d_main(real + 7, fake + 7).item(), want_d, rel_tol=1e-5)
    assert rp.g_uses_real and not rp.signed_scores


def test_rpgan_regularizers_are_r1_and_r2_at_half_gamma() -> None:
    cfg, _ = parse_args(["--loss", "rpgan", "--r1_gamma", "4", "--r2_gamma", "2"])
    regs = build_loss(cfg.model).regularizers
    assert [(r.name, r.weight, r.grad_of) for r in regs] == [("r1", 2.0, "real"), ("r2", 1.0, "fake")]
    default, _ = parse_args(["--loss", "rpgan"])  # the loss's own defaults: both penalties on
    assert default.model.r1_gamma == default.model.r2_gamma > 0 and default.train.beta1 == 0.0


class Linear(nn.Module):
    """D(x) = <w, x>: its input gradient is w everywhere, so GP = (||w|| - 1)^2 exactly."""

    def __init__(self, w: torch.Tensor) -> None:
        super().__init__()
        self.w = nn.Parameter(w)

    def forward(self, x: torch.Tensor, labels=None) -> torch.Tensor:
        return (x.flatten(1) * self.w.flatten()).sum(1)


def test_gradient_penalty_closed_form_and_differentiable() -> None:
    torch.manual_seed(0)
    D = Linear(torch.full((1, 2, 2), 1.5))  # ||w|| = 3
    real, fake = torch.randn(4, 1, 2, 2), torch.randn(4, 1, 2, 2)
    gp = penalties.gradient_penalty(D, real, fake)
    assert math.isclose(gp.item(), 4.0, rel_tol=1e-6)
    gp.backward()  # create_graph: the penalty trains D
    assert D.w.grad is not None and D.w.grad.abs().sum() > 0


def test_gradient_penalty_is_finite_under_bf16_autocast() -> None:
    D = nn.Sequential(nn.Conv2d(3, 4, 3), nn.Flatten(), nn.Linear(4 * 6 * 6, 1))
    real, fake = torch.randn(2, 3, 8, 8), torch.randn(2, 3, 8, 8)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        gp = penalties.gradient_penalty(lambda x: D(x).flatten(), real, fake)
    assert gp.dtype == torch.float32 and torch.isfinite(gp)


def test_r1_and_drift() -> None:
    D = Linear(torch.full((1, 1, 2), 2.0))  # ||grad||^2 = 8
    assert math.isclose(penalties.r1_penalty(D, torch.randn(3, 1, 1, 2)).item(), 8.0, rel_tol=1e-6)
    assert penalties.drift_penalty(torch.tensor([1.0, 3.0])).item() == 5.0


class Quadratic(nn.Module):
    """D(x) = sum(x^2): grad = 2x, so ||grad||^2 = 4 ||x||^2 — different on reals and fakes."""

    def forward(self, x: torch.Tensor, labels=None) -> torch.Tensor:
        return x.flatten(1).square().sum(1) * self.scale

    def __init__(self) -> None:
        super().__init__()
        self.scale = nn.Parameter(torch.ones(()))


def test_r2_penalises_the_gradient_at_fakes_not_reals() -> None:
    D = Quadratic()
    real = torch.full((2, 1, 1, 2), 1.0).requires_grad_(True)  # ||x||^2 = 2 -> R1 = 8
    fake = torch.full((2, 1, 1, 2), 3.0).requires_grad_(True)  # ||x||^2 = 18 -> R2 = 72
    loss = build_loss(_model_cfg("rpgan", r1_gamma=1.0, r2_gamma=1.0))
    inputs = PenaltyInputs(D, real, fake, D(real), D(fake), rand=lambda n: torch.zeros(n, 1, 1, 1))
    r1, r2 = (reg.penalty(inputs) for reg in loss.regularizers)
    assert math.isclose(r1.item(), 8.0, rel_tol=1e-6) and math.isclose(r2.item(), 72.0, rel_tol=1e-6)
    r2.backward()  # differentiable w.r.t. D's parameters (d/dscale of 4 scale^2 ||x||^2 = 8 ||x||^2)
    assert math.isclose(D.scale.grad.item(), 8 * 18.0, rel_tol=1e-6)


def test_every_registered_loss_has_defaults_for_the_optimiser() -> None:
    for name in LOSSES:
        cls = loss_class(name)
        assert cls.name == name and cls.summary
        assert {"disc_steps", "gen_lr", "disc_lr", "beta1", "beta2"} <= set(cls.defaults)


def test_softplus_identity_used_by_rpgan() -> None:
    # softplus(-d) = -log sigmoid(d): RpGAN is BCE on the score difference.
    d = torch.linspace(-4, 4, 9)
    assert torch.allclose(F.softplus(-d), -torch.log(torch.sigmoid(d)), atol=1e-6)
