"""Latents, sampling from a generator, and the `--mode generate` command."""

from __future__ import annotations

from typing import Optional

import numpy as np
import torch
from torch import nn


def latents(n: int, latent_dim: int, seed: int, truncation: Optional[float] = None) -> torch.Tensor:
    """n latent vectors (n, latent_dim) ~ N(0, I), reproducible from seed on any device.

    Drawn on the CPU from a private generator so the same seed gives the same z
    everywhere. truncation t: components with |z| > t are redrawn until inside
    (the BigGAN truncation trick); smaller t trades variety for fidelity.
    """
    g = torch.Generator().manual_seed(int(seed))
    z = torch.randn(n, latent_dim, generator=g)
    if truncation is not None:
        if truncation <= 0:
            raise ValueError("truncation must be positive")
        for _ in range(1000):
            bad = z.abs() > truncation
            if not bad.any():
                break
            z[bad] = torch.randn(int(bad.sum()), generator=g)
    return z


def to_uint8(x: torch.Tensor) -> np.ndarray:
    """Images in [-1, 1] (N, C, H, W) -> uint8 numpy (N, C, H, W)."""
    return ((x.detach().float().clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8).cpu().numpy()


@torch.no_grad()
def generate_images(G: nn.Module, z: torch.Tensor, device: torch.device | str = "cpu",
                    batch: int = 64) -> np.ndarray:
    """Run G on z in batches; returns uint8 (N, C, H, W). G should already be in eval mode."""
    out = []
    for i in range(0, len(z), batch):
        out.append(to_uint8(G(z[i:i + batch].to(device))))
    return np.concatenate(out) if out else np.zeros((0,), np.uint8)
