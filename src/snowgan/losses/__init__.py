"""Adversarial losses: each a GANLoss subclass (losses/base.py) with an entry in losses/entries.py.

classic.py: nonsat, wgan-gp, hinge (the seed projects'); rpgan.py: RpGAN + R1 + R2 (R3GAN);
penalties.py: the pure penalty functions they use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .entries import loss_entry

if TYPE_CHECKING:  # the package stays torch-free: losses/entries.py is read while parsing flags
    from .base import GANLoss


def loss_class(name: str) -> "type[GANLoss]":
    """The GANLoss subclass registered as ``name`` (ConfigError for an unknown name)."""
    return loss_entry(name).loss_class()


def build_loss(model_cfg: Any, reg_interval: int = 1) -> "GANLoss":
    """The configured loss: ``model_cfg`` is the ``model`` section (loss name, penalty weights)."""
    return loss_class(model_cfg.loss)(model_cfg, reg_interval)
