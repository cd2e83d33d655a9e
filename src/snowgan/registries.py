"""Names a user can choose, and where their code lives: commands and optimizers.

These tables are the only place the choices of ``snowgan COMMAND`` (``--mode``) and
``--optimizer`` are spelled: the configuration schema takes its choices from them, so adding an
optimizer is one function plus one line here. Model families (``--arch``) and losses (``--loss``)
have registries of their own, models/families.py and losses/entries.py, because each entry
holds more facts than where its code is.

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

# --optimizer: module:function, make(params, lr, betas, device) -> torch.optim.Optimizer.
OPTIMIZERS: dict[str, str] = {
    "adam": "snowgan.optim:make_adam",
    "adabelief": "snowgan.optim:make_adabelief",
}

_FLAGS = {id(MODES): "--mode", id(OPTIMIZERS): "--optimizer"}


def resolve(table: dict[str, str], name: str) -> Any:
    """Import and return what ``table[name]`` names; ConfigError listing the choices for an unknown name."""
    target = table.get(name)
    if target is None:
        flag = _FLAGS.get(id(table), "choice")
        raise ConfigError(f"{flag} {name!r} is unknown; choose one of: {', '.join(table)}")
    module, attr = target.split(":")
    return getattr(importlib.import_module(module), attr)
