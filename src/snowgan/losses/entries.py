"""The registry of adversarial losses: ``--loss NAME`` -> its ``Loss`` entry, every fact about it.

A loss is one module with a ``GANLoss`` subclass (losses/base.py: its two phases and
regularisers) and one entry here: what ``--help`` says, where the class lives, the settings
that follow it unless set (its ``defaults``: n_critic, Adam rates and betas, penalty weights),
whether D may batch-normalise under it, and whether the sign of D's scores means real vs fake.
The class takes those facts from its entry (``GANLoss.__init_subclass__``), and everything else
reads them here: resolving flags, ``--help``, every usage error, the one D-norm rule
(models/layers.resolved_d_norm) and the adaptive-augmentation warning, all without torch.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from typing import Any, Optional

from ..errors import ConfigError, did_you_mean


@dataclass(frozen=True)
class Loss:
    """One ``--loss``.

    name: what --loss takes. summary: a phrase for --help and the model card.
    cls: ``"module:Class"``, a GANLoss subclass.
    defaults: settings (flag name -> value) that follow this loss unless a recipe, file or flag sets them.
    d_norm: "none" when D must not batch-normalise under this loss (a per-sample gradient penalty,
        coupled pairs), else None (``--d_norm auto`` gives batch).
    signed_scores: whether sign(D(real)) means real vs fake (adaptive augmentation reads it).
    """

    name: str
    summary: str
    cls: str
    defaults: dict[str, Any] = field(default_factory=dict)
    d_norm: Optional[str] = None
    signed_scores: bool = True

    def loss_class(self) -> Any:
        """The GANLoss subclass (imports torch)."""
        module, attr = self.cls.split(":")
        return getattr(importlib.import_module(module), attr)


# The DCGAN paper's Adam (2e-4, beta1 0.5) with one D step.
_DCGAN_ADAM = {"disc_steps": 1, "gen_lr": 2e-4, "disc_lr": 2e-4, "beta1": 0.5, "beta2": 0.999}

LOSSES: dict[str, Loss] = {e.name: e for e in (
    # The WGAN-GP paper's and the SnowGAN write-up's (seed 000, whose command line is the
    # contract): n_critic 5, Adam 1e-4 with betas (0.5, 0.9). BatchNorm would couple the samples
    # the gradient penalty treats one by one; critic values drift, so their sign says nothing.
    Loss("wgan-gp", "Wasserstein loss with gradient penalty (the SnowGAN write-up's)",
         "snowgan.losses.classic:WassersteinGP",
         {"disc_steps": 5, "gen_lr": 1e-4, "disc_lr": 1e-4, "beta1": 0.5, "beta2": 0.9},
         d_norm="none", signed_scores=False),
    Loss("nonsat", "non-saturating GAN loss (DCGAN's)", "snowgan.losses.classic:NonSaturating", _DCGAN_ADAM),
    Loss("hinge", "hinge loss", "snowgan.losses.classic:Hinge", _DCGAN_ADAM),
    # R3GAN: Adam beta1 = 0, beta2 0.99 (its schedule goes 0.9 -> 0.99), lr 2e-4, one D step,
    # R1 and R2 with the same gamma. gamma = 1 is a starting point for 32-128 px data at
    # snowgan's widths; the R3GAN recipe sets its own. No normalisation layers (BatchNorm would
    # couple the pairs); only differences of scores carry meaning, their level drifts.
    Loss("rpgan", "relativistic pairing loss (RpGAN, R3GAN's)", "snowgan.losses.rpgan:RelativisticPairing",
         {"disc_steps": 1, "gen_lr": 2e-4, "disc_lr": 2e-4, "beta1": 0.0, "beta2": 0.99,
          "r1_gamma": 1.0, "r2_gamma": 1.0},
         d_norm="none", signed_scores=False),
)}


def loss_entry(name: str) -> Loss:
    """The entry for --loss NAME; a one-line ConfigError listing the losses for an unknown one."""
    found = LOSSES.get(name)
    if found is None:
        raise ConfigError(f"--loss {name!r} is unknown; choose one of: {', '.join(LOSSES)}"
                          f"{did_you_mean(name, list(LOSSES))}")
    return found
