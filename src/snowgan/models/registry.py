"""Model families by name: ``--arch`` -> builder(config) -> (G, D).

A new family is one module with a ``build(cfg) -> (G, D)`` function and one line in
``registries.FAMILIES``. The network contract every family keeps:

- ``G(z, labels=None)``: z (B, latent_dim) -> images (B, C, H, W) in [-1, 1]; attribute
  ``latent_dim``. labels: int64 (B,) class indices or None; unconditional families ignore them.
- ``D(x, labels=None)``: images (B, C, H, W) -> raw scores (B,) (no sigmoid: losses work on
  logits), or (B, K) when D scores K patches of each image (projected with --per_logit_loss):
  every loss applies to each score and averages, so (B,) is the K = 1 case; attributes ``blocks`` (nn.ModuleList, highest resolution first) and
  ``forward_features(x)``.
- Progressive families also have ``set_stage(level, alpha)`` (see train/progressive.py).
"""

from __future__ import annotations

from torch import nn

from ..config import Config, ConfigError
from ..registries import FAMILIES, resolve


def build_networks(cfg: Config) -> tuple[nn.Module, nn.Module]:
    """Fresh, randomly initialised (G, D) on the CPU in float32.

    A conditional config must carry its class names (set from the data by the trainer).
    """
    if cfg.model.conditional and not cfg.class_list:
        raise ConfigError("--conditional: the config names no classes; they come from the data when training starts")
    return resolve(FAMILIES, cfg.model.arch)(cfg)
