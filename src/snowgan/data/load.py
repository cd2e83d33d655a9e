"""The dataset a config names: the built-in mountains, or --data prepared (and cached) once."""

from __future__ import annotations

from ..config import Config
from .prepare import prepare_dataset
from .prepared import PreparedDataset
from .synthetic import builtin_dataset


def load_dataset(cfg: Config) -> PreparedDataset:
    """The built-in dataset when no --data is given, otherwise the prepared source."""
    if cfg.data.data is None or cfg.data.data_format == "builtin":
        return builtin_dataset(cfg)
    return prepare_dataset(cfg, progress=cfg.run.progress)
