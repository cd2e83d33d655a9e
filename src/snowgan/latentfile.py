"""Latent vectors on disk: one safetensors file with a tensor ``z`` (N, latent_dim), float32.

Written by ``--mode project`` (the latent it found for a photo) and the studio's download
button; read by ``--mode generate --latents FILE`` and ``--mode interpolate --latents FILE``.
Safetensors, not a pickle, so a latent file from anyone is safe to open.
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import torch

from .errors import ConfigError
from .tensorfile import save_tensors

FORMAT = "snowgan-latents-1"


def save_latents(z: torch.Tensor, path: str | Path, info: Optional[dict[str, str]] = None) -> None:
    """Write latents z (N, D) (or one (D,)) to path; ``info`` goes into the file's text metadata."""
    z = z.detach().to("cpu", torch.float32).reshape(-1, z.shape[-1]).contiguous()
    meta = {"format": FORMAT, "latent_dim": str(z.shape[1])}
    meta.update({k: str(v) for k, v in (info or {}).items()})
    save_tensors({"z": z}, str(path), metadata=meta)


def load_latents(path: str | Path, latent_dim: int) -> torch.Tensor:
    """Latents (N, latent_dim) float32 from a file save_latents wrote; ConfigError saying what is wrong."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    p = Path(path).expanduser()
    if not p.is_file():
        raise ConfigError(f"--latents {p}: no such file")
    try:
        tensors = load_file(str(p))
    except (SafetensorError, OSError, ValueError) as e:
        raise ConfigError(f"--latents {p}: not a safetensors file ({e})") from None
    if "z" not in tensors:
        raise ConfigError(f"--latents {p}: no tensor named 'z' (has {', '.join(sorted(tensors)) or 'none'}); "
                          "write it with --mode project")
    z = tensors["z"].float()
    if z.ndim == 1:
        z = z[None]
    if z.ndim != 2 or z.shape[1] != latent_dim:
        raise ConfigError(f"--latents {p}: latents of shape {tuple(z.shape)}, but this model's latent_dim is "
                          f"{latent_dim}; use a latent file made with this model")
    if not torch.isfinite(z).all():
        raise ConfigError(f"--latents {p}: contains NaN or infinite values")
    return z


def latent_info(path: str | Path) -> dict[str, str]:
    """The text metadata save_latents wrote (e.g. 'class' for a conditional model's latent); {} if unreadable."""
    from safetensors import SafetensorError, safe_open

    try:
        with safe_open(str(Path(path).expanduser()), framework="pt") as f:
            return dict(f.metadata() or {})
    except (SafetensorError, OSError, ValueError):
        return {}
