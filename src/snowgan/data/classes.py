"""The classes a conditional run trains on: checked against the data, counted, announced.

``--conditional`` needs every image labelled (sub-folders, ``--labels`` CSV, a JSONL or
.npz label field; the built-in mountains have four classes) and enough images of each
class to fill its share of a batch. The class names are recorded in the config
(``class_names``), so a run, its checkpoints and its exports know them without the data.
"""

from __future__ import annotations

import numpy as np

from ..config import Config, ConfigError
from .prepared import PreparedDataset

_HOW = "sub-folders per class, --labels labels.csv, or a JSONL label field (--field_label)"


def class_counts(dataset: PreparedDataset) -> list[int]:
    """Images per class index (len(class_names),); [] for unlabelled data."""
    if dataset.labels is None:
        return []
    return np.bincount(np.asarray(dataset.labels), minlength=len(dataset.class_names)).tolist()


def check_conditional(cfg: Config, dataset: PreparedDataset) -> list[int]:
    """Validate the data for --conditional and record its class names in cfg; returns images per class.

    Raises ConfigError (one line: what is wrong and what to do) for data without labels,
    data where some images have none, a class with fewer images than its share of a batch,
    and a resumed run whose recorded classes differ from the data's.
    """
    missing = [name for name, why in dataset.skipped if why.startswith("no row in --labels")]
    if missing:
        raise ConfigError(f"--conditional: {len(missing)} images have no row in --labels {cfg.data.labels} (first: "
                          f"{missing[0]}); add rows for them or move them out of --data")
    if dataset.unlabelled:
        raise ConfigError(f"--conditional: {dataset.unlabelled} of {len(dataset) } images have no label; label every "
                          f"image ({_HOW}) or train without --conditional")
    if dataset.labels is None:
        raise ConfigError(f"--conditional: the data has no labels; give them with {_HOW}, or train without "
                          "--conditional")
    names = list(dataset.class_names)
    bad = [n for n in names if "," in n or not n]
    if bad:
        raise ConfigError(f"--conditional: class name {bad[0]!r} has a comma or is empty; rename that class")
    counts = class_counts(dataset)
    # Each class should fill its share of a batch at least once per pass over the data.
    share = max(1, cfg.train.batch_size // len(names))
    small = [(n, c) for n, c in zip(names, counts) if c < share]
    if small:
        n, c = min(small, key=lambda t: t[1])
        raise ConfigError(f"--conditional: class {n!r} has {c} images, fewer than its share of a batch ({share} = "
                          f"--batch_size {cfg.train.batch_size} / {len(names)} classes); add images, merge it into "
                          "another class, or lower --batch_size")
    recorded = cfg.model.class_names
    joined = ",".join(names)
    if recorded and recorded != joined:
        raise ConfigError(f"--conditional: the data's classes ({joined}) differ from the run's ({recorded}); "
                          "train on the same classes or start a new run")
    cfg.model.class_names = joined
    return counts


def describe_classes(names: list[str], counts: list[int]) -> str:
    """'4 classes: desert 256, green 256, snowy 256, rocky 256' for the start-up log."""
    return f"{len(names)} classes: " + ", ".join(f"{n} {c}" for n, c in zip(names, counts))
