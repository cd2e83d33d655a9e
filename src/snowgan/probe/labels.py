"""Label tables for the probe: read labels.csv, match its rows to images, decide the task.

labels.csv is read by data/labels.read_labels_table (one reader, one set of rules, for
training and the probe): ``file,label`` rows, a header row allowed. ``file`` is an image's
path relative to --data (``sub/a.jpg``) or just its base name when that is unique —
the same convention as data/prepare's labels.csv. A label is a class name, or a number
for a regression target (every label a number -> regression, unless --probe_task says
otherwise: risk levels 1..5 are classes to some users and a scale to others).

Every problem is a ConfigError of one line that names the file and what to do.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Sequence

import numpy as np

from ..config import ConfigError

MIN_PER_CLASS = 4  # one held out for testing + three to train on
MIN_REGRESSION = 8


def match_rows(table: dict[str, str], names: Sequence[str], labels_path: str, data_path: str) -> dict[str, str]:
    """{image name: label} for the images the table names. Rows naming no image are an error.

    names: the images found under --data (posix paths relative to it). A row matches an
    image by its relative path, else by a base name that exactly one image has.
    """
    by_name = set(names)
    by_base: dict[str, list[str]] = {}
    for n in names:
        by_base.setdefault(PurePosixPath(n).name, []).append(n)
    out: dict[str, str] = {}
    missing, ambiguous = [], []
    for key, label in table.items():
        if key in by_name:
            out[key] = label
        elif len(by_base.get(PurePosixPath(key).name, [])) == 1 and "/" not in key:
            out[by_base[key][0]] = label
        elif len(by_base.get(PurePosixPath(key).name, [])) > 1 and "/" not in key:
            ambiguous.append(key)
        else:
            missing.append(key)
    if missing:
        raise ConfigError(f"--labels {labels_path}: {len(missing)} of {len(table)} rows name images not found in "
                          f"--data {data_path} (first: {', '.join(missing[:3])}); use paths relative to that "
                          "folder, or fix/remove those rows")
    if ambiguous:
        raise ConfigError(f"--labels {labels_path}: {len(ambiguous)} rows name a file that exists in several "
                          f"sub-folders (first: {ambiguous[0]}); write its path relative to --data")
    return out


def _is_number(text: str) -> bool:
    try:
        return math.isfinite(float(text))
    except ValueError:
        return False


@dataclass
class Targets:
    """What the head learns. task 'classify': y int64 class indices into class_names;
    task 'regress': y float64 values (class_names empty)."""

    task: str
    y: np.ndarray
    class_names: list[str]


def make_targets(labels: Sequence[str], task: str, where: str) -> Targets:
    """Label strings -> Targets, checking there is enough to learn from and to test on.

    task: auto | classify | regress. where: names the label source in messages.
    """
    numeric = all(_is_number(x) for x in labels)
    if task == "regress" and not numeric:
        bad = next(x for x in labels if not _is_number(x))
        raise ConfigError(f"{where}: --probe_task regress needs numeric labels, found {bad!r}")
    if task == "regress" or (task == "auto" and numeric):
        if len(labels) < MIN_REGRESSION:
            raise ConfigError(f"{where}: {len(labels)} labelled images; a numeric target needs at least "
                              f"{MIN_REGRESSION} (some are held out to test on)")
        y = np.array([float(x) for x in labels], np.float64)
        if np.ptp(y) == 0:
            raise ConfigError(f"{where}: every label is {labels[0]}; there is nothing to learn")
        return Targets("regress", y, [])
    counts = Counter(labels)
    if len(counts) < 2:
        raise ConfigError(f"{where}: only one class ({next(iter(counts))!r}); a probe needs at least two")
    few = sorted((c, n) for c, n in counts.items() if n < MIN_PER_CLASS)
    if few:
        listed = ", ".join(f"{c!r} has {n}" for c, n in few[:4])
        raise ConfigError(f"{where}: too few examples per class ({listed}); each class needs at least "
                          f"{MIN_PER_CLASS} (1 held out + 3 to learn from): add images or drop the class")
    class_names = sorted(counts, key=lambda c: (0, float(c), c) if _is_number(c) else (1, 0.0, c))
    index = {c: i for i, c in enumerate(class_names)}
    return Targets("classify", np.array([index[x] for x in labels], np.int64), class_names)


def numeric_labels(labels: Sequence[str], where: str) -> np.ndarray:
    """Labels as float64 values for scoring a regression head; a non-number is an error."""
    bad = [x for x in labels if not _is_number(x)]
    if bad:
        raise ConfigError(f"{where}: this head predicts a number, but labels such as {bad[0]!r} are not numbers")
    return np.array([float(x) for x in labels], np.float64)


def check_known(labels: Sequence[str], class_names: Sequence[str], where: str, head: str) -> np.ndarray:
    """Class indices of labels for scoring a trained head; unknown classes are an error."""
    index = {c: i for i, c in enumerate(class_names)}
    unknown = sorted({x for x in labels if x not in index})
    if unknown:
        raise ConfigError(f"{where}: unknown classes {', '.join(map(repr, unknown[:5]))} — the head {head} "
                          f"knows {', '.join(map(repr, class_names))}; fix the labels or train a new head")
    return np.array([index[x] for x in labels], np.int64)


def split_indices(targets: Targets, seed: int, shots: int = 0, test_fraction: float = 0.25
                  ) -> tuple[np.ndarray, np.ndarray]:
    """(train, test) index arrays from a fixed seed; stratified for classes (every class in both).

    The held-out share is the same whatever `shots` is; shots > 0 then keeps only that many
    training examples per class (in all, for numbers), to measure how far few labels go.
    """
    rng = np.random.default_rng([int(seed), 2024])
    train: list[np.ndarray] = []
    test: list[np.ndarray] = []
    groups = ([np.flatnonzero(targets.y == k) for k in range(len(targets.class_names))]
              if targets.task == "classify" else [np.arange(len(targets.y))])
    for members in groups:
        idx = rng.permutation(members)
        n_test = max(1 if targets.task == "classify" else 2, int(round(test_fraction * len(idx))))
        test.append(idx[:n_test])
        train.append(idx[n_test:n_test + shots] if shots > 0 else idx[n_test:])
    if targets.task == "regress" and shots and shots < 2:
        raise ConfigError("--probe_shots: a numeric target needs at least 2 training images")
    return np.sort(np.concatenate(train)), np.sort(np.concatenate(test))
