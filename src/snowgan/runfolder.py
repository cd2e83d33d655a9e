"""The files of one run folder, named in one place.

A training run writes (all under runs/NNNNN-name/):

    config.json         the resolved settings (train/session.py); --resume and every reader start here
    dataset.json        what the data was: source, counts, skipped images (train/loop.py)
    skipped.txt         the images the pipeline skipped, one per line, with the reason
    log.txt             everything the run printed, progress lines included (tail -f works)
    stats.jsonl         one line of losses / rates per --log_every (train/loop.py)
    metrics.jsonl       one line per metric check (metrics/tracker.py)
    report.html         the report, rebuilt at each sample interval (report/html.py)
    samples/            step-NNNNNNNN.png grids, reals.png, index.jsonl (what each grid is)
    checkpoints/        step-NNNNNNNN/, best/ (train/checkpoint.py owns what is inside one)
    tensorboard/        event files with --tensorboard
    train.lock          held while a process trains the run (train/runlock.py)

Every module that reads or writes one of these asks a RunFolder for its path, so a renamed
file is one line here. Readers that must survive a live run's half-written files are in
files.py (read_json, read_jsonl); nothing here imports torch.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Optional

from .errors import ConfigError
from .files import read_json, read_jsonl

if TYPE_CHECKING:
    from .config import Config


@dataclass(frozen=True)
class RunFolder:
    """Paths (and tolerant readers) of the files in one run folder."""

    path: Path
    lock_name = "train.lock"  # (a class attribute: runlock.py names it before any folder exists)

    def __init__(self, path: str | Path) -> None:
        object.__setattr__(self, "path", Path(path))

    # ---- files ----
    @property
    def config(self) -> Path:
        return self.path / "config.json"

    @property
    def dataset(self) -> Path:
        return self.path / "dataset.json"

    @property
    def skipped(self) -> Path:
        return self.path / "skipped.txt"

    @property
    def log(self) -> Path:
        return self.path / "log.txt"

    @property
    def stats(self) -> Path:
        return self.path / "stats.jsonl"

    @property
    def metrics(self) -> Path:
        return self.path / "metrics.jsonl"

    @property
    def report(self) -> Path:
        return self.path / "report.html"

    @property
    def lock(self) -> Path:
        return self.path / self.lock_name

    # ---- folders ----
    @property
    def samples(self) -> Path:
        return self.path / "samples"

    @property
    def sample_index(self) -> Path:
        return self.samples / "index.jsonl"

    @property
    def reals_grid(self) -> Path:
        return self.samples / "reals.png"

    def sample_grid(self, step: int) -> Path:
        return self.samples / f"step-{step:08d}.png"

    @property
    def checkpoints(self) -> Path:
        return self.path / "checkpoints"

    def checkpoint(self, name: str) -> Path:
        """checkpoints/NAME: 'best', or step-NNNNNNNN (``step_name``)."""
        return self.checkpoints / name

    @staticmethod
    def step_name(step: int) -> str:
        return f"step-{step:08d}"

    @property
    def tensorboard(self) -> Path:
        return self.path / "tensorboard"

    def checkpoint_folder(self) -> Optional[Path]:
        """checkpoints/ when it is a folder, None when missing; ConfigError when something else has its name."""
        root = self.checkpoints
        if root.is_dir() or not root.exists():
            return root if root.is_dir() else None
        raise ConfigError(f"{root} is a file, not the run's checkpoints folder; put the folder back, or move the "
                          f"file aside to use the run without its checkpoints")

    # ---- the strict reader, for a command that continues the run ----
    def load_config(self) -> "Config":
        """config.json as a Config; ConfigError naming the file and what to do when it is missing or damaged."""
        from .config import Config

        if not self.config.is_file():
            raise ConfigError(f"{self.path} has no config.json; it is not a snowgan run folder")
        try:
            raw = json.loads(self.config.read_text(encoding="utf-8"))
            if not isinstance(raw, dict):
                raise ValueError(f"a JSON {type(raw).__name__}, not an object of settings")
            return Config.from_dict(raw)
        except (OSError, ValueError) as e:  # ConfigError (a bad value) is a ValueError too
            raise ConfigError(f"{self.config} is damaged ({e}); put back a good copy, or start a new run from "
                              f"this one's weights with --init_from {self.path}") from None

    # ---- tolerant readers (a live run may be mid-write) ----
    def read_config(self) -> Optional[dict[str, Any]]:
        """config.json as a dict, or None when missing or unreadable."""
        return read_json(self.config)

    def read_dataset(self) -> Optional[dict[str, Any]]:
        return read_json(self.dataset)

    def read_stats(self) -> list[dict]:
        return read_jsonl(self.stats)

    def read_metrics(self) -> list[dict]:
        return read_jsonl(self.metrics)
