"""Build a family's networks: ``--arch`` -> its entry's builder(config) -> (G, D).

A family is one folder and one entry (models/family.py, models/families.py). The network
contract every family keeps:

- ``G(z, labels=None)``: z (B, latent_dim) -> images (B, C, H, W) in [-1, 1]; attribute
  ``latent_dim``. labels: int64 (B,) class indices or None; unconditional families ignore them.
- ``D(x, labels=None)``: images (B, C, H, W) -> raw scores (B,) (no sigmoid: losses work on
  logits), or (B, K) when D scores K patches of each image (projected with --per_logit_loss):
  every loss applies to each score and averages, so (B,) is the K = 1 case; attributes ``blocks`` (nn.ModuleList, highest resolution first) and
  ``forward_features(x)``.
- A family whose entry says ``grows`` also has ``set_stage(level, alpha)`` (see models/growing.py).
"""

from __future__ import annotations

from torch import nn

from ..config import Config, ConfigError
from .families import family


def build_networks(cfg: Config) -> tuple[nn.Module, nn.Module]:
    """Fresh, randomly initialised (G, D) on the CPU in float32.

    A conditional config must carry its class names (set from the data by the trainer).
    """
    if cfg.model.conditional and not cfg.class_list:
        raise ConfigError("--conditional: the config names no classes; they come from the data when training starts")
    return family(cfg.model.arch).builder()(cfg)
