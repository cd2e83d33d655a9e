"""Names a user can choose, and where their code lives: commands, losses, optimizers.

These tables are the only place the choices of ``snowgan COMMAND`` (``--mode``), ``--loss`` and
``--optimizer`` are spelled: the configuration schema takes its choices from them, so adding a
loss or an optimizer is one module plus one line here. Model families (``--arch``) have their
own registry, models/families.py, because a family holds more facts than where its code is.

The values are ``"module:attribute"`` strings, imported only when used, so parsing
the command line (and ``snowgan --help``) never imports torch.
"""

from __future__ import annotations

import importlib
from typing import Any

from .errors import ConfigError

# snowgan COMMAND / --mode: module:function, fn(cfg, given) -> exit code. Every entry lives in
# snowgan/commands/ (library modules never import a command); the help text of each is helptext.py's.
MODES: dict[str, str] = {
    "train": "snowgan.commands.train:main",
    "generate": "snowgan.commands.generate:main",
    "interpolate": "snowgan.commands.media:interpolate_main",
    "average": "snowgan.commands.media:average_main",
    "progress": "snowgan.commands.media:progress_main",
    "report": "snowgan.commands.media:report_main",
    "evaluate": "snowgan.commands.evaluate:evaluate_main",
    "features": "snowgan.commands.evaluate:features_main",
    "export": "snowgan.commands.export:main",
    "prepare": "snowgan.commands.prepare:main",
    "probe": "snowgan.commands.probe:probe_main",
    "predict": "snowgan.commands.probe:predict_main",
    "project": "snowgan.commands.project:main",
    "studio": "snowgan.commands.studio:main",
}

# --loss: module:class, a subclass of losses.base.GANLoss (phases, regularisers, defaults).
LOSSES: dict[str, str] = {
    "wgan-gp": "snowgan.losses.classic:WassersteinGP",
    "nonsat": "snowgan.losses.classic:NonSaturating",
    "hinge": "snowgan.losses.classic:Hinge",
    "rpgan": "snowgan.losses.rpgan:RelativisticPairing",
}

# The settings that follow each --loss unless set (flag name -> value): the loss class's
# ``defaults`` (losses/base.GANLoss). Kept here, torch-free, so resolving flags (and --help, and
# every usage error) answers without importing torch.
_DCGAN_ADAM = {"disc_steps": 1, "gen_lr": 2e-4, "disc_lr": 2e-4, "beta1": 0.5, "beta2": 0.999}
LOSS_DEFAULTS: dict[str, dict[str, Any]] = {
    # The DCGAN paper's Adam (2e-4, beta1 0.5) with one D step.
    "nonsat": _DCGAN_ADAM,
    "hinge": _DCGAN_ADAM,
    # The WGAN-GP paper's and the SnowGAN write-up's (seed 000, whose command line is the
    # contract): n_critic 5, Adam 1e-4 with betas (0.5, 0.9).
    "wgan-gp": {"disc_steps": 5, "gen_lr": 1e-4, "disc_lr": 1e-4, "beta1": 0.5, "beta2": 0.9},
    # R3GAN: Adam beta1 = 0, beta2 0.99 (its schedule goes 0.9 -> 0.99), lr 2e-4, one D step,
    # R1 and R2 with the same gamma. gamma = 1 is a starting point for 32-128 px data at
    # snowgan's widths; the R3GAN recipe sets its own.
    "rpgan": {"disc_steps": 1, "gen_lr": 2e-4, "disc_lr": 2e-4, "beta1": 0.0, "beta2": 0.99,
              "r1_gamma": 1.0, "r2_gamma": 1.0},
}

# --optimizer: module:function, make(params, lr, betas, device) -> torch.optim.Optimizer.
OPTIMIZERS: dict[str, str] = {
    "adam": "snowgan.optim:make_adam",
    "adabelief": "snowgan.optim:make_adabelief",
}

_FLAGS = {id(MODES): "--mode", id(LOSSES): "--loss", id(OPTIMIZERS): "--optimizer"}


def resolve(table: dict[str, str], name: str) -> Any:
    """Import and return what ``table[name]`` names; ConfigError listing the choices for an unknown name."""
    target = table.get(name)
    if target is None:
        flag = _FLAGS.get(id(table), "choice")
        raise ConfigError(f"{flag} {name!r} is unknown; choose one of: {', '.join(table)}")
    module, attr = target.split(":")
    return getattr(importlib.import_module(module), attr)
