"""Class labels for prepared images: from sub-folder names, a JSONL field, or a labels.csv.

Labels are recorded now (labels.npy + class names in the manifest) for conditional
training and the probe later; an unlabelled dataset simply has none.

Sub-folder rule: after removing the folders every image shares (``photos/`` in
``photos/desert/1.jpg``), the first remaining folder is the class. There are labels
only when every image sits in such a folder and there are at least two of them: one
class says nothing, and images loose at the top would have none.

labels.csv: ``file,label`` rows (a header row is allowed). ``file`` is the input's name
as listed in skipped.txt / the manifest (``sub/a.jpg``, ``shard.jsonl:12``, ``data.npy[7]``)
or just its base name when that is unique.
"""

from __future__ import annotations

import csv
from pathlib import Path, PurePosixPath
from typing import Optional, Sequence

import numpy as np

from ..config import ConfigError


def folder_classes(names: Sequence[str]) -> Optional[list[str]]:
    """Class name per input name ('a/b/c.png' style), or None when folders give no labels."""
    dirs = [PurePosixPath(n).parts[:-1] for n in names]
    if not dirs:
        return None
    common = 0
    while all(len(d) > common for d in dirs) and len({d[common] for d in dirs}) == 1:
        common += 1
    if not all(len(d) > common for d in dirs):
        return None
    classes = [d[common] for d in dirs]
    return classes if len(set(classes)) >= 2 else None


def loose_images(names: Sequence[str]) -> int:
    """How many images sit outside class sub-folders when at least two such folders hold the others.

    0 when the layout is flat or labelled throughout; --conditional reports the count.
    """
    dirs = [PurePosixPath(n).parts[:-1] for n in names]
    if not dirs:
        return 0
    common = 0
    while all(len(d) > common for d in dirs) and len({d[common] for d in dirs}) == 1:
        common += 1
    inside = [d[common] for d in dirs if len(d) > common]
    return len(dirs) - len(inside) if len(set(inside)) >= 2 else 0


class CsvLabels:
    """Label lookup from a labels.csv table: exact input name first, else a unique base name."""

    def __init__(self, table: dict[str, str], path: str) -> None:
        self.table, self.path = table, path
        self._by_base: dict[str, Optional[str]] = {}
        for key, label in table.items():
            base = PurePosixPath(key.replace("\\", "/")).name
            clash = base in self._by_base and self._by_base[base] != label
            self._by_base[base] = None if clash else label  # ambiguous base names match nothing

    def get(self, name: str) -> Optional[str]:
        if name in self.table:
            return self.table[name]
        return self._by_base.get(PurePosixPath(name).name)


# A first row that names these columns is a header, not an image.
_HEADER_FILE = ("file", "filename", "name", "path", "image")
_HEADER_LABEL = ("label", "class", "category", "target", "value")


def read_labels_table(path: str | Path) -> dict[str, str]:
    """labels.csv -> {file name: label} in file order: the one reader, for training and the probe.

    ``file,label`` rows; a header row is allowed; names use "/" (a "\\" is read as "/").
    ConfigError naming the file and line for a short row, an empty label, an image
    labelled twice differently, non-UTF-8 text or a broken CSV.
    """
    p = Path(path).expanduser()
    if not p.is_file():
        raise ConfigError(f"--labels {path}: no such file; give a CSV with 'file,label' rows")
    out: dict[str, str] = {}
    try:
        with open(p, newline="", encoding="utf-8-sig") as f:
            for i, row in enumerate(csv.reader(f), 1):
                if not row or not "".join(row).strip():
                    continue
                if len(row) < 2:
                    raise ConfigError(f"--labels {path} line {i}: expected 'file,label', got {','.join(row)!r}")
                name, label = row[0].strip().replace("\\", "/"), row[1].strip()
                if i == 1 and name.lower() in _HEADER_FILE and label.lower() in _HEADER_LABEL:
                    continue
                if not label:
                    raise ConfigError(f"--labels {path} line {i}: {name!r} has an empty label")
                if name in out and out[name] != label:
                    raise ConfigError(f"--labels {path} line {i}: {name!r} is labelled twice "
                                      f"({out[name]!r} and {label!r}); keep one row per image")
                out[name] = label
    except UnicodeDecodeError:
        raise ConfigError(f"--labels {path}: not UTF-8 text; save it as a UTF-8 CSV") from None
    except csv.Error as e:
        raise ConfigError(f"--labels {path}: not a readable CSV ({e})") from None
    if not out:
        raise ConfigError(f"--labels {path}: no 'file,label' rows")
    return out


def read_labels_csv(path: str) -> CsvLabels:
    """labels.csv -> a label lookup by input name (see read_labels_table for the rules)."""
    return CsvLabels(read_labels_table(path), path)


def _sort_key(name: str) -> tuple:
    try:
        return (0, float(name), name)  # numeric class names in numeric order: 2 before 10
    except ValueError:
        return (1, 0.0, name)


def encode(labels: Sequence[str]) -> tuple[np.ndarray, list[str]]:
    """Label strings -> (int64 indices (N,), sorted class names)."""
    class_names = sorted(set(labels), key=_sort_key)
    index = {c: i for i, c in enumerate(class_names)}
    return np.array([index[x] for x in labels], dtype=np.int64), class_names
