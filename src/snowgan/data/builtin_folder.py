"""Write the built-in mountains to a folder of PNGs with a labels.csv, for any tool to read.

    snowgan --mode prepare --data_format builtin --out DIR [--builtin_start S] [--builtin_count N]
            [--image_size SIZE] [--channels 1|3]

gives DIR/builtin-00000.png ... (named by image number, as the probe names built-in images)
and DIR/labels.csv with ``file,label`` rows (label = desert, green, snowy or rocky). That is
the format ``--mode probe --data DIR --labels DIR/labels.csv`` and ``--mode prepare --labels``
read, so the built-in set doubles as a worked example of labelling your own photos.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

from ..config import Config, ConfigError
from ..progress import progress_iter

LABELS_FILE = "labels.csv"


def image_name(i: int) -> str:
    """File name of built-in image number i."""
    return f"builtin-{i:05d}.png"


def write_builtin_folder(cfg: Config, out: Path) -> tuple[int, list[str]]:
    """Write the built-in images cfg selects and labels.csv into out; (count, class names).

    Refuses a non-empty folder unless --force, and then replaces only the files it writes.
    """
    from ..report.grid import save_picture
    from .synthetic import builtin_dataset

    if out.exists() and not out.is_dir():
        raise ConfigError(f"--out {out} is a file; give a folder for the built-in images")
    if out.is_dir() and any(out.iterdir()) and not cfg.cmd.force:
        raise ConfigError(f"--out {out} is not empty; choose a new folder, or add --force to replace "
                          "the built-in images and labels.csv in it")
    ds = builtin_dataset(cfg)  # uint8 (N, C, H, W), labels int64 (N,)
    assert ds.labels is not None
    out.mkdir(parents=True, exist_ok=True)
    start = int(cfg.data.builtin_start)
    rows = [("file", "label")]
    for j in progress_iter(range(len(ds)), len(ds), "write PNGs", "img", cfg.run.progress):
        name = image_name(start + j)
        save_picture(np.asarray(ds.images[j]).transpose(1, 2, 0), out / name)
        rows.append((name, ds.class_names[int(ds.labels[j])]))
    # labels.csv last: once it exists, every image it names is in place.
    with open(out / LABELS_FILE, "w", newline="", encoding="utf-8") as f:
        csv.writer(f).writerows(rows)
    return len(ds), list(ds.class_names)
