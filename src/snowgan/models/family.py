"""What a model family is: one record of every fact the rest of snowgan asks about it.

A family lives in one folder, ``models/NAME/``: its networks (``networks.py``, with a
``build(cfg) -> (G, D)``) and its entry (``family.py``, ``FAMILY = Family(...)``). The
registry (``models/families.py``) lists the entries; nothing outside ``models/`` names a
family: the trainer asks ``family.grows``, validation asks ``family.options``, the model card
asks ``family.title`` and ``family.norm_layers``, and so on.

This module is torch-free (no networks are imported), so the command line, ``--help`` and
every usage error read the registry without importing torch.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any, Optional


@dataclass(frozen=True)
class Family:
    """One network family (``--arch NAME``) and its facts.

    name: what ``--arch`` takes.
    title: how a person writes it ("Projected GAN"), for the model card and messages.
    summary: one line for ``--help`` and the model card: what it is, when to use it.
    build: ``"module:function"``, build(cfg) -> (G, D) (the contract: models/registry.py).
    options: the ``cfg.model`` fields only this family reads; validation refuses any of them
        set away from its default under another family (one rule for every family).
    conditional: whether its networks take class labels (``--conditional``).
    g_steps_per_d_step: G updates per D update measured healthy; above it the start-up
        warning speaks (train/techniques.py schedule_warning).
    grows: trains progressively, from ``--pg_start`` px up to the image size (models/growing.py);
        its networks have ``set_stage(level, alpha)``.
    schedule: ``"module:Class"`` of the paper's schedule that ``--schedule NAME`` selects (lr,
        betas, R1/R2 gamma, aug_p and EMA over the run), or None.
    spectral_norm_is_d_norm: under ``--d_norm auto``, spectral norm replaces D's normalisation
        (the usual rule). False where the paper keeps both (Projected GAN's heads).
    norm_layers: whether ``--g_norm``/``--d_norm`` apply at all (False: R3GAN has none).
    """

    name: str
    title: str
    summary: str
    build: str
    options: tuple[str, ...] = ()
    conditional: bool = False
    g_steps_per_d_step: int = 1
    grows: bool = False
    schedule: Optional[str] = None
    spectral_norm_is_d_norm: bool = True
    norm_layers: bool = True

    def builder(self) -> Any:
        """The build function (imports the networks, and so torch)."""
        return resolve_target(self.build)

    def schedule_class(self) -> Any:
        return resolve_target(self.schedule) if self.schedule else None


def resolve_target(target: str) -> Any:
    """Import and return what a ``"module:attribute"`` string names."""
    module, attr = target.split(":")
    return getattr(importlib.import_module(module), attr)
