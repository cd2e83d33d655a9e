"""The registry of model families: ``--arch NAME`` -> its ``Family`` entry (models/family.py).

Adding a family is one folder, ``models/NAME/`` (``networks.py`` with its ``build``, and
``family.py`` with ``FAMILY = Family(...)``), plus its name in ``BUILT_IN`` below; a plugin or
a test calls ``register(FAMILY)`` instead. Every other part of snowgan reads the facts from
here, so no ``if arch == ...`` is needed anywhere (tests/test_families_registry.py keeps it so).

Torch-free: each entry module holds only data; the networks load on ``Family.builder()``.
"""

from __future__ import annotations

import importlib
from typing import Optional

from ..errors import ConfigError, did_you_mean
from .family import Family

# The families shipped with snowgan, by folder under models/, in the order --help lists them.
BUILT_IN: tuple[str, ...] = ("dcgan", "progan", "projected", "r3gan")
# --arch when nothing chooses one: the SnowGAN write-up's family (docs/architecture.md says why).
DEFAULT = "dcgan"

FAMILIES: dict[str, Family] = {}


def register(family: Family) -> Family:
    """Add (or replace) a family; the --arch choices, validation and the model card see it at once."""
    FAMILIES[family.name] = family
    return family


def family(name: str) -> Family:
    """The entry for --arch NAME; a one-line ConfigError listing the families for an unknown one."""
    found = FAMILIES.get(name)
    if found is None:
        raise ConfigError(f"--arch {name!r} is unknown; choose one of: {', '.join(FAMILIES)}"
                          f"{did_you_mean(name, list(FAMILIES))}")
    return found


def conditional_families() -> list[str]:
    return [f.name for f in FAMILIES.values() if f.conditional]


def option_owners(option: str) -> list[str]:
    """The families that read cfg.model.OPTION as their own, or [] for an option every family reads."""
    return [f.name for f in FAMILIES.values() if option in f.options]


def owned_options() -> dict[str, list[str]]:
    """Every family-owned option -> the families that read it."""
    out: dict[str, list[str]] = {}
    for f in FAMILIES.values():
        for option in f.options:
            out.setdefault(option, []).append(f.name)
    return out


def schedules() -> dict[str, Optional[str]]:
    """--schedule's choices: constant (as set), and each family's paper schedule by the family's name."""
    return {"constant": None, **{f.name: f.schedule for f in FAMILIES.values() if f.schedule}}


for _name in BUILT_IN:
    register(importlib.import_module(f"{__package__}.{_name}.family").FAMILY)
