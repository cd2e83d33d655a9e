"""Numbered run folders under runs/: create, find by number/name/path, newest."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Callable, Optional

from .config import ConfigError
from .runfolder import RunFolder

_RUN_RE = re.compile(r"^(\d{5})-(.+)$")


def list_runs(runs_dir: str | Path) -> list[Path]:
    """Run folders (NNNNN-name) sorted by number, oldest first."""
    root = Path(runs_dir)
    if not root.is_dir():
        return []
    runs = [p for p in root.iterdir() if p.is_dir() and _RUN_RE.match(p.name)]
    return sorted(runs, key=lambda p: int(p.name[:5]))


def run_name(path: Path) -> str:
    m = _RUN_RE.match(path.name)
    return m.group(2) if m else path.name


def new_run_dir(runs_dir: str | Path, name: str) -> Path:
    """Create runs/NNNNN-name with the next free number; never reuses a folder."""
    if not re.fullmatch(r"[\w.\-]+", name):
        raise ConfigError(f"--name {name!r}: use letters, digits, '.', '_' or '-'")
    root = Path(runs_dir)
    root.mkdir(parents=True, exist_ok=True)
    existing = list_runs(root)
    num = int(existing[-1].name[:5]) + 1 if existing else 1
    while True:
        path = root / f"{num:05d}-{name}"
        try:
            path.mkdir()
            return path
        except FileExistsError:  # another process took this number
            num += 1


def find_by_name(runs_dir: str | Path, name: str) -> Optional[Path]:
    """Newest run folder whose name part is exactly `name`, or None."""
    matches = [p for p in list_runs(runs_dir) if run_name(p) == name]
    return matches[-1] if matches else None


def has_checkpoint(run_dir: Path) -> bool:
    """True when the run folder holds a finished checkpoint (one with its manifest written last)."""
    folder = RunFolder(run_dir).checkpoints
    return folder.is_dir() and any(p.is_dir() and not p.name.endswith(".tmp") and (p / "manifest.json").is_file()
                                   for p in folder.iterdir())


def find_run(runs_dir: str | Path, spec: Optional[str], need_checkpoint: bool = False,
             note: Callable[[str], None] = print) -> Path:
    """Resolve a run: a folder path, a folder name in runs_dir, a run number (3 or 00003), a run name,
    or None = the newest (with need_checkpoint: the newest that has a checkpoint, saying which
    newer runs it passed over, e.g. one still starting or one that failed before its first)."""
    if spec is None:
        runs = list_runs(runs_dir)
        if not runs:
            raise ConfigError(f"no runs in {runs_dir}/; train one first (snowgan train) or pass --run PATH")
        if not need_checkpoint:
            return runs[-1]
        usable = [r for r in runs if has_checkpoint(r)]
        if not usable:
            raise ConfigError(f"no run in {runs_dir}/ has a checkpoint yet ({', '.join(r.name for r in runs[-3:])}"
                              f"{' ...' if len(runs) > 3 else ''}); train one first (snowgan train)")
        skipped = runs[runs.index(usable[-1]) + 1:]
        if skipped:
            note(f"note: using run {usable[-1].name}, the newest with a checkpoint "
                 f"({', '.join(r.name for r in skipped)} {'has' if len(skipped) == 1 else 'have'} none yet)")
        return usable[-1]
    p = Path(spec)
    if p.is_dir() and (RunFolder(p).config.is_file() or RunFolder(p).checkpoints.is_dir()):
        return p
    for r in list_runs(runs_dir):  # the folder's own name, e.g. 00003-mountains
        if r.name == spec:
            return r
    if spec.isdigit():
        for r in list_runs(runs_dir):
            if int(r.name[:5]) == int(spec):
                return r
    by_name = find_by_name(runs_dir, spec)
    if by_name is not None:
        return by_name
    raise ConfigError(f"run {spec!r} not found (looked for a folder, a run number and a name in {runs_dir}/)")
