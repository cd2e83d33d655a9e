"""Latents, sampling from a generator, and the `--mode generate` command."""

from __future__ import annotations

from typing import Optional, Sequence

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
                    batch: int = 64, labels: Optional[torch.Tensor] = None) -> np.ndarray:
    """Run G on z in batches; returns uint8 (N, C, H, W). G should already be in eval mode.

    labels: int64 (N,) class indices for a conditional G; None gives image i class
    i mod K (every class in turn), ignored by an unconditional G.
    """
    k = getattr(G, "num_classes", 0)
    if labels is None and k:
        labels = torch.arange(len(z)) % k
    out = []
    for i in range(0, len(z), batch):
        y = labels[i:i + batch].to(device) if labels is not None else None
        out.append(to_uint8(G(z[i:i + batch].to(device), y)))
    return np.concatenate(out) if out else np.zeros((0,), np.uint8)


def class_mix(n: int, counts: Sequence[int]) -> torch.Tensor:
    """int64 (n,) class indices in the proportions of ``counts`` (the real images per class), interleaved.

    What a conditional run's overall metrics draw, so a folder of 900 dogs and 100 cats is compared
    with samples that are nine tenths dogs. Each class's share of n is rounded by largest remainder;
    the j-th sample of class c sits at (j + 1/2) / share_c along the sequence, so any prefix is
    mixed too. Equal counts with n a multiple of K give i mod K, what ``generate_images`` draws
    when given no labels.
    """
    c = np.asarray(counts, dtype=np.float64)
    if c.ndim != 1 or len(c) == 0 or (c < 0).any() or c.sum() <= 0:
        raise ValueError(f"class_mix: counts must be non-negative with a positive sum, got {list(counts)}")
    exact = n * c / c.sum()
    share = np.floor(exact).astype(np.int64)
    share[np.argsort(-(exact - share), kind="stable")[:n - int(share.sum())]] += 1
    keys = sorted(((j + 0.5) / q, k) for k, q in enumerate(share.tolist()) for j in range(q))
    return torch.tensor([k for _, k in keys], dtype=torch.long)


def class_rows(n_cols: int, num_classes: int, latent_dim: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Latents and labels for a per-class grid: one row per class, the same n_cols latents in every row.

    Returns z (num_classes * n_cols, latent_dim) and labels int64 (num_classes * n_cols,) =
    [0]*n_cols + [1]*n_cols + ...; a column then shows one latent drawn as each class.
    """
    z = latents(n_cols, latent_dim, seed).repeat(num_classes, 1)
    labels = torch.arange(num_classes).repeat_interleave(n_cols)
    return z, labels


def parse_classes(text: Optional[str], class_names: list[str]) -> list[int]:
    """--class values ('snowy', '2', 'desert,green') -> class indices; [] when text is None.

    Raises ValueError naming the unknown class and the known ones.
    """
    if not text:
        return []
    if not class_names:
        raise ValueError("--class needs a conditional model (trained with --conditional); this one has no classes")
    out = []
    for item in (t.strip() for t in text.split(",")):
        if item in class_names:
            out.append(class_names.index(item))
        elif item.isdigit() and int(item) < len(class_names):
            out.append(int(item))
        else:
            raise ValueError(f"--class {item!r} is not a class of this model; choose a name or index 0-"
                             f"{len(class_names) - 1} of: {', '.join(class_names)}")
    return out
