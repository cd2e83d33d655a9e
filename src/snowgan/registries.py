"""Names a user can choose, and where their code lives: model families, losses, optimizers.

These tables are the only place the choices of ``--arch``, ``--loss`` and
``--optimizer`` are spelled: the configuration schema takes its choices from them,
so adding a family, a loss or an optimizer is one module plus one line here.

The values are ``"module:attribute"`` strings, imported only when used, so parsing
the command line (and ``snowgan --help``) never imports torch.
"""

from __future__ import annotations

import importlib
from typing import Any

from .errors import ConfigError

# --arch: module:function, build(cfg) -> (G, D); see models/registry.py for the network contract.
FAMILIES: dict[str, str] = {
    "dcgan": "snowgan.models.dcgan:build",
    "progan": "snowgan.models.progan:build",
    "projected": "snowgan.models.projected:build",
    "r3gan": "snowgan.models.r3gan:build",
}

# The families whose networks take class labels (--conditional); progan is not one: its
# growing G and D would need the class embedding re-wired at every stage.
CONDITIONAL_FAMILIES: tuple[str, ...] = ("dcgan", "r3gan", "projected")

# --loss: module:class, a subclass of losses.base.GANLoss (phases, regularisers, defaults).
LOSSES: dict[str, str] = {
    "wgan-gp": "snowgan.losses.classic:WassersteinGP",
    "nonsat": "snowgan.losses.classic:NonSaturating",
    "hinge": "snowgan.losses.classic:Hinge",
    "rpgan": "snowgan.losses.rpgan:RelativisticPairing",
}

# --optimizer: module:function, make(params, lr, betas, device) -> torch.optim.Optimizer.
OPTIMIZERS: dict[str, str] = {
    "adam": "snowgan.optim:make_adam",
    "adabelief": "snowgan.optim:make_adabelief",
}

_FLAGS = {id(FAMILIES): "--arch", id(LOSSES): "--loss", id(OPTIMIZERS): "--optimizer"}


def resolve(table: dict[str, str], name: str) -> Any:
    """Import and return what ``table[name]`` names; ConfigError listing the choices for an unknown name."""
    target = table.get(name)
    if target is None:
        flag = _FLAGS.get(id(table), "choice")
        raise ConfigError(f"{flag} {name!r} is unknown; choose one of: {', '.join(table)}")
    module, attr = target.split(":")
    return getattr(importlib.import_module(module), attr)
