"""Paths through the latent space: looping keyframe slerps, a smooth random walk, pair grids.

All functions return latent vectors only (float32 tensors on the CPU); turning them into
images is ``snowgan.sample.generate_images``. Latents are z ~ N(0, I) of size latent_dim.
"""

from __future__ import annotations

import math
from typing import Optional

import torch

from ..sample import latents


def slerp(a: torch.Tensor, b: torch.Tensor, t: torch.Tensor | float) -> torch.Tensor:
    """Spherical interpolation from a (t=0) to b (t=1) along the last dimension.

    a, b: (..., D); t: a float or a tensor broadcastable against (..., 1). Gaussian latents
    live near a sphere of radius sqrt(D); a straight line between two of them dips
    towards the origin, where a generator has seen few inputs and images wash out.
    Slerp keeps the norm. Nearly parallel vectors fall back to a straight line.
    """
    t = torch.as_tensor(t, dtype=a.dtype)
    an = a / a.norm(dim=-1, keepdim=True).clamp_min(1e-12)
    bn = b / b.norm(dim=-1, keepdim=True).clamp_min(1e-12)
    omega = torch.acos((an * bn).sum(-1, keepdim=True).clamp(-1 + 1e-7, 1 - 1e-7))
    so = torch.sin(omega)
    near = so < 1e-4
    wa = torch.where(near, 1 - t, torch.sin((1 - t) * omega) / so.clamp_min(1e-12))
    wb = torch.where(near, t, torch.sin(t * omega) / so.clamp_min(1e-12))
    return wa * a + wb * b


def keyframe_latents(k: int, latent_dim: int, seed: int, truncation: Optional[float] = None) -> torch.Tensor:
    """K keyframes (K, latent_dim); keyframe i is the latent of seed+i, the same one
    ``--mode generate --seed S`` uses for its image i, so a keyframe can be rendered alone."""
    if k < 2:
        raise ValueError("an interpolation needs at least 2 keyframes")
    return torch.cat([latents(1, latent_dim, seed + i, truncation) for i in range(k)])


def keyframe_loop(keys: torch.Tensor, frames: int) -> torch.Tensor:
    """A closed loop A -> B -> ... -> A through keys (K, ..., D) in ``frames`` steps.

    Returns (frames, ..., D). Frame i sits at position i*K/frames along the loop, so every
    keyframe gets the same time; the loop's end is not repeated, so the video loops
    seamlessly. Extra middle dimensions interpolate many paths at once (a grid video).
    """
    k = keys.shape[0]
    if frames < k:
        raise ValueError(f"{frames} frames cannot visit {k} keyframes; use at least {k}")
    pos = torch.arange(frames, dtype=torch.float64) * k / frames
    seg = pos.floor().long()
    t = (pos - seg).float()
    a, b = keys[seg], keys[(seg + 1) % k]
    return slerp(a, b, t.reshape(frames, *([1] * (keys.ndim - 1))))


def latent_walk(frames: int, latent_dim: int, seed: int, wander: int = 6,
                truncation: Optional[float] = None, paths: int = 1) -> torch.Tensor:
    """A smooth random walk that drifts and comes back to its start: (frames, paths, D).

    z(t) = sum_k w_k (a_k cos 2πkt + b_k sin 2πkt), a_k, b_k ~ N(0, I), sum w_k^2 = 1 with
    w_k ∝ 1/k. At every t, z(t) is exactly N(0, I) (cos^2 + sin^2 = 1), so the walk never
    leaves the region G was trained on, unlike a summed-noise walk whose norm grows; it
    is periodic, so the GIF loops without a jump. ``wander`` harmonics: more = more turns.
    truncation clamps each coordinate to [-t, t].
    """
    if wander < 1:
        raise ValueError("wander must be at least 1")
    g = torch.Generator().manual_seed(int(seed))
    coef = torch.randn(2, wander, paths, latent_dim, generator=g)
    w = 1.0 / torch.arange(1, wander + 1, dtype=torch.float32)
    w = w / w.norm()
    t = torch.arange(frames, dtype=torch.float32) / frames
    ang = 2 * math.pi * t[:, None] * torch.arange(1, wander + 1, dtype=torch.float32)[None]  # (T, W)
    cos, sin = (torch.cos(ang) * w)[..., None, None], (torch.sin(ang) * w)[..., None, None]
    z = (cos * coef[0] + sin * coef[1]).sum(1)  # (T, paths, D)
    if truncation is not None:
        z = z.clamp(-truncation, truncation)
    return z


def pair_rows(a: torch.Tensor, b: torch.Tensor, steps: int) -> torch.Tensor:
    """Rows of interpolations: row r goes from a[r] to b[r] in ``steps`` columns, ends included.

    a, b: (R, D). Returns (R * steps, D) in row-major order, ready for a grid with
    ``nrow=steps``.
    """
    if steps < 2:
        raise ValueError("a pair interpolation needs at least 2 columns")
    t = torch.linspace(0, 1, steps)
    z = slerp(a[:, None, :], b[:, None, :], t[None, :, None])  # (R, steps, D)
    return z.reshape(-1, a.shape[-1])
