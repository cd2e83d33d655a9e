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


def _out_dir(cfg, run_dir, explicit_out: Optional[str], force: bool):
    """The output folder: --out (refused if non-empty without --force) or a new numbered one."""
    from pathlib import Path

    from .config import ConfigError

    if explicit_out:
        out = Path(explicit_out)
        if out.exists() and (not out.is_dir() or any(out.iterdir())) and not force:
            raise ConfigError(f"--out {out} already exists and is not empty; choose another path or add --force")
        out.mkdir(parents=True, exist_ok=True)
        return out
    root = Path(run_dir) / "generated"
    root.mkdir(parents=True, exist_ok=True)
    n = 1 + max((int(p.name[:5]) for p in root.iterdir() if p.name[:5].isdigit()), default=0)
    out = root / f"{n:05d}-seed{cfg.run.seed}"
    out.mkdir()
    return out


def generate_main(cfg, explicit: set[str]) -> int:
    """`snowgan --mode generate`: N images (PNG files or one .npy) or one grid, from the EMA generator."""
    from pathlib import Path

    from PIL import Image

    from .config import ConfigError
    from .report.grid import save_grid
    from .runs import find_run
    from .train.checkpoint import load_run
    from .train.device import pick_device

    device = pick_device(cfg.run.device)
    if cfg.cmd.model:
        from .export import load_generator

        G = load_generator(cfg.cmd.model, device=device)
        source, out_root = f"model {cfg.cmd.model}", Path(cfg.cmd.model)
    else:
        run_dir = find_run(cfg.run.runs_dir, cfg.run.run)
        loaded = load_run(run_dir, cfg.cmd.checkpoint, device)
        G, out_root = loaded.G, run_dir
        source = f"run {run_dir.name}, {loaded.why} {loaded.path.name} (step {loaded.step}, {loaded.kimg:.1f} kimg)"
    print(f"generating from {source}, EMA generator, seed {cfg.run.seed}")
    n = cfg.cmd.n_samples
    rows = cols = None
    if cfg.cmd.grid:
        try:
            rows, cols = (int(v) for v in cfg.cmd.grid.lower().split("x"))
        except ValueError:
            raise ConfigError(f"--grid {cfg.cmd.grid!r}: give ROWSxCOLS, e.g. 4x8") from None
        n = rows * cols
    if n < 1:
        raise ConfigError("--n_samples must be at least 1")
    # One seed per image (seed, seed+1, ...) so any single image can be regenerated alone.
    z = torch.cat([latents(1, G.latent_dim, cfg.run.seed + i, cfg.cmd.truncation) for i in range(n)])
    images = generate_images(G, z, device)
    if rows is not None:
        out = Path(cfg.cmd.out) if cfg.cmd.out else None
        if out is None:
            out_dir = _out_dir(cfg, out_root, None, False)
            out = out_dir / f"grid-{rows}x{cols}.png"
        elif out.exists() and not cfg.cmd.force:
            raise ConfigError(f"--out {out} already exists; choose another path or add --force")
        labels = [str(cfg.run.seed + i) for i in range(n)] if cfg.cmd.label_seeds else None
        save_grid(images, out, nrow=cols, labels=labels)
        print(f"wrote a {rows}x{cols} grid to {out}")
        return 0
    out_dir = _out_dir(cfg, out_root, cfg.cmd.out, cfg.cmd.force)
    if cfg.cmd.format == "npy":
        path = out_dir / "samples.npy"
        np.save(path, images.transpose(0, 2, 3, 1))  # (N, H, W, C) uint8, the common layout
        print(f"wrote {n} images as {path} (uint8, N x H x W x C)")
        return 0
    for i, img in enumerate(images):
        arr = img.transpose(1, 2, 0)
        Image.fromarray(arr[..., 0] if arr.shape[-1] == 1 else arr).save(out_dir / f"seed{cfg.run.seed + i:06d}.png")
    print(f"wrote {n} images to {out_dir}")
    return 0
