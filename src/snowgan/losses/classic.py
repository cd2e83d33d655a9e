"""The seed projects' losses: non-saturating (DCGAN), Wasserstein with gradient penalty, hinge.

Scores are raw discriminator outputs (B,), never passed through a sigmoid first: the
non-saturating loss uses softplus on logits (numerically stable BCE), WGAN uses the
scores as critic values, hinge clamps them at +-1.
"""

from __future__ import annotations

from typing import Any, Optional

import torch
import torch.nn.functional as F

from .base import GANLoss, GradientPenalty, Regularizer


class NonSaturating(GANLoss):
    """-log sigmoid(D(x)) - log(1 - sigmoid(D(G(z)))) for D; -log sigmoid(D(G(z))) for G (Goodfellow 2014)."""

    name = "nonsat"

    def d_main(self, real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
        return F.softplus(-real.float()).mean() + F.softplus(fake.float()).mean()

    def g_main(self, fake: torch.Tensor, real: Optional[torch.Tensor] = None) -> torch.Tensor:
        return F.softplus(-fake.float()).mean()

    def realness(self, scores: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(scores.detach().float()).mean()


class Hinge(GANLoss):
    """max(0, 1 - D(x)) + max(0, 1 + D(G(z))) for D; -D(G(z)) for G (Lim & Ye 2017, SAGAN)."""

    name = "hinge"

    def d_main(self, real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
        return F.relu(1 - real.float()).mean() + F.relu(1 + fake.float()).mean()

    def g_main(self, fake: torch.Tensor, real: Optional[torch.Tensor] = None) -> torch.Tensor:
        return -fake.float().mean()


class WassersteinGP(GANLoss):
    """E[D(G(z))] - E[D(x)] + gp * GP for the critic; -E[D(G(z))] for G (Gulrajani et al. 2017).

    The defaults are the paper's and the SnowGAN write-up's (seed 000, whose command line
    is the contract): n_critic 5, Adam 1e-4 with betas (0.5, 0.9). Measured reason they
    matter: with one D step, the seed's --gen_steps 4 collapses (README, seed commands).
    """

    name = "wgan-gp"

    def own_regularizers(self, m: Any, k: int) -> list[Regularizer]:
        return [GradientPenalty("gp", m.gp_weight, k)] if m.gp_weight > 0 else []

    def d_main(self, real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
        return fake.float().mean() - real.float().mean()

    def g_main(self, fake: torch.Tensor, real: Optional[torch.Tensor] = None) -> torch.Tensor:
        return -fake.float().mean()
