"""Adversarial losses and regularisers as small pure functions.

Scores are raw discriminator outputs (B,), never passed through a sigmoid first:
the non-saturating loss uses softplus on logits (numerically stable BCE), WGAN
uses the scores as critic values, hinge clamps them at +-1.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def d_loss(kind: str, real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
    """Discriminator loss (scalar) from real scores (B,) and fake scores (B,)."""
    real, fake = real.float(), fake.float()
    if kind == "nonsat":
        # -log sigmoid(real) - log(1 - sigmoid(fake))
        return F.softplus(-real).mean() + F.softplus(fake).mean()
    if kind == "wgan-gp":
        return fake.mean() - real.mean()
    if kind == "hinge":
        return F.relu(1 - real).mean() + F.relu(1 + fake).mean()
    raise ValueError(f"unknown loss {kind!r}")


def g_loss(kind: str, fake: torch.Tensor) -> torch.Tensor:
    """Generator loss (scalar) from fake scores (B,)."""
    fake = fake.float()
    if kind == "nonsat":
        return F.softplus(-fake).mean()  # -log sigmoid(fake)
    if kind in ("wgan-gp", "hinge"):
        return -fake.mean()
    raise ValueError(f"unknown loss {kind!r}")


def gradient_penalty(D: nn.Module, real: torch.Tensor, fake: torch.Tensor,
                     eps: torch.Tensor | None = None) -> torch.Tensor:
    """WGAN-GP penalty E[(||grad_x D(x_hat)||_2 - 1)^2] on random interpolates (Gulrajani et al. 2017).

    real, fake: (B, C, H, W). The interpolation and the norm are computed in float32
    even when D runs under autocast, so bf16/fp16 cannot turn the penalty into NaN.
    eps: interpolation weights (B, 1, 1, 1) in [0, 1); drawn here when not given.
    """
    if eps is None:
        eps = torch.rand(real.shape[0], 1, 1, 1, device=real.device, dtype=torch.float32)
    x_hat = (eps * real.float() + (1 - eps) * fake.detach().float()).requires_grad_(True)
    scores = D(x_hat).float()
    (grad,) = torch.autograd.grad(scores.sum(), x_hat, create_graph=True)
    norm = grad.float().flatten(1).norm(2, dim=1)
    return (norm - 1).square().mean()


def r1_penalty(D: nn.Module, real: torch.Tensor) -> torch.Tensor:
    """R1 = E[||grad_x D(x)||^2] on real images (Mescheder et al. 2018); weight gamma/2 applied by the caller."""
    x = real.detach().float().requires_grad_(True)
    scores = D(x).float()
    (grad,) = torch.autograd.grad(scores.sum(), x, create_graph=True)
    return grad.float().flatten(1).square().sum(1).mean()


def drift_penalty(real: torch.Tensor) -> torch.Tensor:
    """E[D(x)^2] keeps WGAN critic scores near zero (progressive GAN's epsilon-drift term)."""
    return real.float().square().mean()


def d_probability(kind: str, scores: torch.Tensor) -> torch.Tensor:
    """Mean 'realness' reported as D(x) / D(G(z)): sigmoid for nonsat, raw mean otherwise."""
    scores = scores.detach().float()
    return torch.sigmoid(scores).mean() if kind == "nonsat" else scores.mean()
