"""Exponential moving average of the generator's weights (used for all sampling)."""

from __future__ import annotations

import copy

import torch
from torch import nn


def make_ema(G: nn.Module) -> nn.Module:
    """A frozen copy of G in eval mode."""
    ema = copy.deepcopy(G).eval()
    for p in ema.parameters():
        p.requires_grad_(False)
    return ema


def ema_beta(batch_size: int, images_seen: int, ema_kimg: float, rampup: float) -> float:
    """Per-step decay for a half-life of ema_kimg thousand images (StyleGAN2's convention).

    With rampup > 0 the half-life is at most rampup * images_seen, so short runs (a
    few kimg on a CPU) get a useful average instead of a copy of the random init.
    """
    half_life = ema_kimg * 1000.0
    if rampup > 0:
        half_life = min(half_life, images_seen * rampup)
    return 0.5 ** (batch_size / max(half_life, 1e-8))


@torch.no_grad()
def update_ema(ema: nn.Module, G: nn.Module, beta: float) -> None:
    """ema <- beta * ema + (1 - beta) * G for parameters; buffers (BN statistics) copied."""
    ema_p = [p for p in ema.parameters()]
    g_p = [p.detach() for p in G.parameters()]
    torch._foreach_lerp_(ema_p, g_p, 1.0 - beta)
    for b_ema, b in zip(ema.buffers(), G.buffers()):
        b_ema.copy_(b)
