"""The classes a conditional run trains on: checked against the data, counted, announced.

``--conditional`` needs every image labelled (sub-folders, ``--labels`` CSV, a JSONL or
.npz label field; the built-in mountains have four classes) and enough images of each
class to fill its share of a batch. The class names are recorded in the config
(``class_names``), so a run, its checkpoints and its exports know them without the data.
"""

from __future__ import annotations

from typing import Optional

import numpy as np

from ..config import Config, ConfigError
from .prepared import PreparedDataset

_HOW = "sub-folders per class, --labels labels.csv, or a JSONL label field (--field_label)"


def class_counts(dataset: PreparedDataset) -> list[int]:
    """Images per class index (len(class_names),); [] for unlabelled data."""
    if dataset.labels is None:
        return []
    return np.bincount(np.asarray(dataset.labels), minlength=len(dataset.class_names)).tolist()


def conditional_problem(cfg: Config, dataset: PreparedDataset) -> Optional[str]:
    """Why this data cannot train a conditional run (one line: what is wrong and what to do), or None.

    Refused: data without labels, data where some images have none, a class name with a comma,
    a class with fewer images than its share of a batch, and a resumed run whose recorded
    classes differ from the data's.
    """
    missing = [name for name, why in dataset.skipped if why.startswith("no row in --labels")]
    if missing:
        return (f"--conditional: {len(missing)} images have no row in --labels {cfg.data.labels} (first: "
                f"{missing[0]}); add rows for them or move them out of --data")
    if dataset.unlabelled:
        return (f"--conditional: {dataset.unlabelled} of {len(dataset)} images have no label; label every "
                f"image ({_HOW}) or train without --conditional")
    if dataset.labels is None:
        return f"--conditional: the data has no labels; give them with {_HOW}, or train without --conditional"
    names = list(dataset.class_names)
    bad = [n for n in names if "," in n or not n]
    if bad:
        return f"--conditional: class name {bad[0]!r} has a comma or is empty; rename that class"
    counts = class_counts(dataset)
    # Each class should fill its share of a batch at least once per pass over the data.
    share = max(1, cfg.train.batch_size // len(names))
    small = [(n, c) for n, c in zip(names, counts) if c < share]
    if small:
        n, c = min(small, key=lambda t: t[1])
        return (f"--conditional: class {n!r} has {c} images, fewer than its share of a batch ({share} = "
                f"--batch_size {cfg.train.batch_size} / {len(names)} classes); add images, merge it into "
                "another class, or lower --batch_size")
    recorded, joined = cfg.model.class_names, ",".join(names)
    if recorded and recorded != joined:
        return (f"--conditional: the data's classes ({joined}) differ from the run's ({recorded}); "
                "train on the same classes or start a new run")
    return None


def check_conditional(cfg: Config, dataset: PreparedDataset) -> list[int]:
    """Validate the data for --conditional; returns images per class (the trainer records the
    class names, ``dataset.class_names``, as a start-up decision: decided.Decided).

    Raises ConfigError with ``conditional_problem``'s line when the data cannot be trained on.
    """
    problem = conditional_problem(cfg, dataset)
    if problem is not None:
        raise ConfigError(problem)
    return class_counts(dataset)


def conditional_by_default(cfg: Config, given: set[str], dataset: PreparedDataset) -> tuple[bool, Optional[str]]:
    """Whether a new run trains on the data's classes without being asked to (--conditional), and a
    note for the log when the data has classes that cannot be used (else None).

    Only the --data default (flags.DATA_RECIPE, Projected GAN, chosen when no recipe, family or loss
    is named) does so, and only when --conditional was not given (``--conditional false`` turns it
    off) and every image is labelled with at least two classes that each fill their share of a batch.
    Measured (docs/conditional.md, "The --data default trains on the data's classes"): on the built-in
    mountains' four classes, at equal time, the conditional run's KID was half the unconditional
    one's; the DCGAN runner-up gained nothing from it, so it stays unconditional unless asked.
    given: the fields set by flags, --config or --recipe (Session.given).
    """
    from ..flags import DATA_RECIPE

    if cfg.model.conditional or given & {"conditional", "recipe", "arch", "loss"} or cfg.run.recipe != DATA_RECIPE:
        return False, None
    if len(dataset.class_names) < 2 and not dataset.unlabelled:
        return False, None  # no classes (a flat folder) or one: nothing to use, nothing to say
    problem = conditional_problem(cfg, dataset)
    if problem is None:
        return True, None
    why = problem.removeprefix("--conditional: ").replace(" or train without --conditional", " to train on them")
    return False, f"note: training without the data's classes: {why}"


def proportional_classes(classes: list[str], dataset: PreparedDataset, n: int):
    """int64 (n,) classes for a conditional run's overall metrics, in the real set's proportions
    (sample.class_mix), or None (the generator then draws every class in turn) when the run is
    unconditional (``classes`` empty) or the real set's classes are not the run's."""
    if not classes or dataset.labels is None or list(dataset.class_names) != list(classes):
        return None
    from ..sample import class_mix

    return class_mix(n, class_counts(dataset))


def describe_classes(names: list[str], counts: list[int]) -> str:
    """'4 classes: desert 256, green 256, snowy 256, rocky 256' for the start-up log."""
    return f"{len(names)} classes: " + ", ".join(f"{n} {c}" for n, c in zip(names, counts))
