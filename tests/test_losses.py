"""Losses and penalties against values worked out by hand."""

import math

import torch
from torch import nn

from snowgan import losses


def test_nonsat_matches_bce_on_logits() -> None:
    real, fake = torch.tensor([2.0, -1.0]), torch.tensor([0.5, -3.0])
    bce = nn.functional.binary_cross_entropy_with_logits
    expected = bce(real, torch.ones(2)) + bce(fake, torch.zeros(2))
    assert torch.allclose(losses.d_loss("nonsat", real, fake), expected)
    assert torch.allclose(losses.g_loss("nonsat", fake), bce(fake, torch.ones(2)))


def test_wgan_and_hinge_values() -> None:
    real, fake = torch.tensor([2.0, 0.0]), torch.tensor([0.5, -3.0])
    assert losses.d_loss("wgan-gp", real, fake).item() == (0.5 - 3.0) / 2 - 1.0
    assert losses.g_loss("wgan-gp", fake).item() == 1.25
    # hinge: relu(1-2)=0, relu(1-0)=1 -> 0.5 ; relu(1+0.5)=1.5, relu(1-3)=0 -> 0.75
    assert losses.d_loss("hinge", real, fake).item() == 0.5 + 0.75


class Linear(nn.Module):
    """D(x) = <w, x>: its input gradient is w everywhere, so GP = (||w|| - 1)^2 exactly."""

    def __init__(self, w: torch.Tensor) -> None:
        super().__init__()
        self.w = nn.Parameter(w)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x.flatten(1) * self.w.flatten()).sum(1)


def test_gradient_penalty_closed_form_and_differentiable() -> None:
    torch.manual_seed(0)
    w = torch.full((1, 2, 2), 1.5)  # ||w|| = 3
    D = Linear(w)
    real, fake = torch.randn(4, 1, 2, 2), torch.randn(4, 1, 2, 2)
    gp = losses.gradient_penalty(D, real, fake)
    assert math.isclose(gp.item(), 4.0, rel_tol=1e-6)
    gp.backward()  # create_graph: the penalty trains D
    assert D.w.grad is not None and D.w.grad.abs().sum() > 0


def test_gradient_penalty_is_finite_under_bf16_autocast() -> None:
    D = nn.Sequential(nn.Conv2d(3, 4, 3), nn.Flatten(), nn.Linear(4 * 6 * 6, 1))
    real, fake = torch.randn(2, 3, 8, 8), torch.randn(2, 3, 8, 8)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        gp = losses.gradient_penalty(lambda x: D(x).flatten(), real, fake)
    assert gp.dtype == torch.float32 and torch.isfinite(gp)


def test_r1_and_drift() -> None:
    D = Linear(torch.full((1, 1, 2), 2.0))  # ||grad||^2 = 8
    assert math.isclose(losses.r1_penalty(D, torch.randn(3, 1, 1, 2)).item(), 8.0, rel_tol=1e-6)
    assert losses.drift_penalty(torch.tensor([1.0, 3.0])).item() == 5.0
