"""Regularisers of the discriminator as small pure functions.

Scores are raw discriminator outputs (B,), or (B, K) for a D that scores patches (the penalties
differentiate their sum per image). Penalties are computed in float32 even
when D runs under autocast, so bf16/fp16 cannot turn them into NaN. Each returns the
unweighted penalty; the loss's Regularizer applies the weight (and the lazy interval).
"""

from __future__ import annotations

from typing import Callable

import torch

ScoreFn = Callable[[torch.Tensor], torch.Tensor]


def input_gradient_sq_norm(scores: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """E[||grad_x D(x)||^2] from scores (B,) already computed on x (B, C, H, W), x.requires_grad.

    The zero-centred penalty of Mescheder et al. 2018: R1 when x are reals, R2 when x are
    fakes. Reusing the scores of the main forward saves one D forward per penalty.
    create_graph=True: the penalty itself is differentiated by D's update.
    """
    (grad,) = torch.autograd.grad(scores.float().sum(), x, create_graph=True)
    return grad.float().flatten(1).square().sum(1).mean()


def r1_penalty(D: ScoreFn, real: torch.Tensor) -> torch.Tensor:
    """R1 = E[||grad_x D(x)||^2] on real images (B, C, H, W) with its own D forward; weight gamma/2 by the caller."""
    x = real.detach().float().requires_grad_(True)
    return input_gradient_sq_norm(D(x), x)


def gradient_penalty(D: ScoreFn, real: torch.Tensor, fake: torch.Tensor,
                     eps: torch.Tensor | None = None) -> torch.Tensor:
    """WGAN-GP penalty E[(||grad_x D(x_hat)||_2 - 1)^2] on random interpolates (Gulrajani et al. 2017).

    real, fake: (B, C, H, W). eps: interpolation weights (B, 1, 1, 1) in [0, 1); drawn
    here when not given.
    """
    if eps is None:
        eps = torch.rand(real.shape[0], 1, 1, 1, device=real.device, dtype=torch.float32)
    x_hat = (eps * real.detach().float() + (1 - eps) * fake.detach().float()).requires_grad_(True)
    scores = D(x_hat).float()
    (grad,) = torch.autograd.grad(scores.sum(), x_hat, create_graph=True)
    norm = grad.float().flatten(1).norm(2, dim=1)
    return (norm - 1).square().mean()


def drift_penalty(real_scores: torch.Tensor) -> torch.Tensor:
    """E[D(x)^2] keeps WGAN critic scores near zero (progressive GAN's epsilon-drift term)."""
    return real_scores.float().square().mean()
