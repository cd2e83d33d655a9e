"""The files of one run folder, named in one place.

docs/outputs.md draws the whole layout as a tree (a test checks it against a real run); in short,
everything about a run is under runs/NNNNN-name/, one copy of each, in a named folder per kind:

    config.json         the resolved settings (train/session.py); --resume and every reader start here
    dataset.json        what the data was: source, counts, skipped images (train/loop.py)
    skipped.txt         the images the pipeline skipped, one per line, with the reason
    log.txt             everything the run printed, progress lines included (tail -f works)
    stats.jsonl         one line of losses / rates per --log_every (train/loop.py)
    metrics.jsonl       one line per metric check (metrics/tracker.py)
    report.html         the report, rebuilt at each sample interval (report/html.py)
    train.lock          only while a process trains the run (run/lock.py)
    samples/            step-NNNNNNNN.png grids, reals.png, index.jsonl (what each grid is)
    checkpoints/        step-NNNNNNNN/, best/ (run/checkpoint.py owns what is inside one)
    plots/              the report's curves (report/plots.py)
    generated/          snowgan generate: NNNNN-seedS/, one folder per call
    media/              interpolate, average, progress and the report's videos: KIND-NNNNN.*
    evaluations/        snowgan evaluate: NNNNN-seedS.json, one file per call
    projections/        snowgan project: NNNNN-PHOTO/, one folder per call
    export/             snowgan export without --out; probe-head/: snowgan probe without --out
    tensorboard/        event files with --tensorboard

Older snowgan wrote an evaluation to metrics.json and the report's videos to report/; both
are still read (``evaluation_files``, report/media.newest), never written.

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
    from .decided import Decided


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

    @property
    def reals_augmented_grid(self) -> Path:
        return self.samples / "reals-augmented.png"

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

    @property
    def plots(self) -> Path:
        return self.path / "plots"

    # ---- what the commands write (each call a new numbered name: nothing made before is replaced) ----
    @property
    def generated(self) -> Path:
        return self.path / "generated"

    @property
    def media(self) -> Path:
        return self.path / "media"

    @property
    def evaluations(self) -> Path:
        return self.path / "evaluations"

    @property
    def projections(self) -> Path:
        return self.path / "projections"

    @property
    def export(self) -> Path:
        return self.path / "export"

    @property
    def probe_head(self) -> Path:
        return self.path / "probe-head"

    # ---- written by older snowgan: read, never written ----
    @property
    def old_evaluation(self) -> Path:
        return self.path / "metrics.json"

    @property
    def old_report_media(self) -> Path:
        return self.path / "report"

    def evaluation_files(self) -> list[Path]:
        """Every evaluation of the run, oldest first: an older snowgan's metrics.json, then evaluations/."""
        numbered = sorted(self.evaluations.glob("[0-9][0-9][0-9][0-9][0-9]-*.json")) if self.evaluations.is_dir() else []
        return ([self.old_evaluation] if self.old_evaluation.is_file() else []) + numbered

    def checkpoint_folder(self) -> Optional[Path]:
        """checkpoints/ when it is a folder, None when missing; ConfigError when something else has its name."""
        root = self.checkpoints
        if root.is_dir() or not root.exists():
            return root if root.is_dir() else None
        raise ConfigError(f"{root} is a file, not the run's checkpoints folder; put the folder back, or move the "
                          f"file aside to use the run without its checkpoints")

    # ---- the strict reader, for a command that continues the run ----
    def load_config(self) -> "Config":
        """config.json as the run's effective Config (its settings with its start-up decisions in place;
        decided.py), frozen; ConfigError naming the file and what to do when it is missing or damaged."""
        from .decided import effective

        if not self.config.is_file():
            raise ConfigError(f"{self.path} has no config.json; it is not a snowgan run folder")
        try:
            raw = json.loads(self.config.read_text(encoding="utf-8"))
            if not isinstance(raw, dict):
                raise ValueError(f"a JSON {type(raw).__name__}, not an object of settings")
            return effective(raw)
        except (OSError, ValueError) as e:  # ConfigError (a bad value) is a ValueError too
            raise ConfigError(f"{self.config} is damaged ({e}); put back a good copy, or start a new run from "
                              f"this one's weights with --init_from {self.path}") from None

    def load_decided(self) -> "Decided":
        """The start-up decisions config.json records (none for a run from before they were kept apart)."""
        from .decided import Decided

        return Decided.from_dict((self.read_config() or {}).get("decided"))

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


def claim_numbered(folder: Path, label: str, suffix: str = "") -> Path:
    """Create ``folder/NNNNN-label`` + suffix with the next free number and return it: a folder when
    suffix is "", else an empty file for the caller to replace. Created exclusively (mkdir, open 'x'),
    so two commands at once never share a number and nothing that exists is reused."""
    folder.mkdir(parents=True, exist_ok=True)
    n = 1 + max((int(p.name[:5]) for p in folder.iterdir() if p.name[:5].isdigit()), default=0)
    while True:
        path = folder / f"{n:05d}-{label}{suffix}"
        try:
            if suffix:
                with open(path, "x"):
                    pass
            else:
                path.mkdir()
            return path
        except FileExistsError:  # another command took this number
            n += 1
