"""Model families by name: arch -> builder(config) -> (G, D).

A new family is one module with a ``build(cfg) -> (G, D)`` function and one line in
FAMILIES. Every generator maps z (B, latent_dim) to images (B, C, H, W) in [-1, 1]
and has ``latent_dim``; every discriminator maps such images to scores (B,), has
``blocks`` (an nn.ModuleList, highest resolution first) and ``forward_features``.
Progressive families also have ``set_stage(level, alpha)`` (see train/progressive.py).
"""

from __future__ import annotations

import importlib

from torch import nn

from ..config import Config, ConfigError

FAMILIES = {
    "dcgan": "snowgan.models.dcgan:build",
    "progan": "snowgan.models.progan:build",
    "projected": "snowgan.models.projected:build",
}


def build_networks(cfg: Config) -> tuple[nn.Module, nn.Module]:
    """Fresh, randomly initialised (G, D) on the CPU in float32."""
    target = FAMILIES.get(cfg.model.arch)
    if target is None:
        raise ConfigError(f"--arch {cfg.model.arch!r} is unknown; choose one of {', '.join(FAMILIES)}")
    module, fn = target.split(":")
    return getattr(importlib.import_module(module), fn)(cfg)
