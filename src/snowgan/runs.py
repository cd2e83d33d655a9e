"""Numbered run folders under runs/: create, find by number/name/path, newest."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Callable, Optional

from .config import ConfigError
from .errors import did_you_mean, did_you_mean_path
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


DEFAULT_RUNS_DIR = "runs"


def _where(runs_dir: str | Path) -> tuple[Path, Optional[Path]]:
    """(the folder of runs to look in, the run folder the user stands in or None).

    With the default --runs_dir and no runs/ here, a command started inside a run folder (where
    people open report.html) uses that run, and one started inside runs/ uses the runs there."""
    root = Path(runs_dir)
    if root.is_dir() or str(runs_dir) != DEFAULT_RUNS_DIR:
        return root, None
    here = Path.cwd()
    if _RUN_RE.match(here.name) and RunFolder(here).config.is_file():
        return here.parent, here
    if list_runs(here):
        return here, None
    return root, None


def _listing(runs: list[Path], most: int = 8) -> str:
    """'00001-demo, 00002-photos' (the newest `most`, with '...' before them when there are more)."""
    shown = [r.name for r in runs[-most:]]
    return ("... " if len(runs) > most else "") + ", ".join(shown)


def find_run(runs_dir: str | Path, spec: Optional[str], need_checkpoint: bool = False,
             note: Callable[[str], None] = print) -> Path:
    """Resolve a run: a folder path, a folder name in runs_dir, a run number (3 or 00003), a run name,
    or None = the newest (with need_checkpoint: the newest that has a checkpoint, saying which
    newer runs it passed over, e.g. one still starting or one that failed before its first).

    A name that several runs share picks the newest and says which it matched. Inside a run folder
    (or inside runs/) with the default --runs_dir, that run (or those runs) are used (_where)."""
    root, standing_in = _where(runs_dir)
    if spec is None and standing_in is not None:
        if need_checkpoint and not has_checkpoint(standing_in):
            raise ConfigError(f"run {standing_in.name} (the folder you are in) has no checkpoint yet; "
                              f"wait for its first, or pass --run")
        return standing_in
    runs = list_runs(root)
    if spec is None:
        if not runs:
            raise ConfigError(f"no runs in {root}/; train one first (snowgan train) or pass --run PATH")
        if not need_checkpoint:
            return runs[-1]
        usable = [r for r in runs if has_checkpoint(r)]
        if not usable:
            raise ConfigError(f"no run in {root}/ has a checkpoint yet ({_listing(runs, 3)}); "
                              f"train one first (snowgan train)")
        skipped = runs[runs.index(usable[-1]) + 1:]
        if skipped:
            note(f"note: using run {usable[-1].name}, the newest with a checkpoint "
                 f"({', '.join(r.name for r in skipped)} {'has' if len(skipped) == 1 else 'have'} none yet)")
        return usable[-1]
    p = Path(spec)
    if p.is_dir() and (RunFolder(p).config.is_file() or RunFolder(p).checkpoints.is_dir()):
        return p
    for r in runs:  # the folder's own name, e.g. 00003-mountains
        if r.name == spec:
            return r
    if spec.isdigit():
        for r in runs:
            if int(r.name[:5]) == int(spec):
                return r
    named = [r for r in runs if run_name(r) == spec]
    if len(named) > 1:
        note(f"note: --run {spec} matches {len(named)} runs ({_listing(named)}); using the newest, "
             f"{named[-1].name} (give its number to choose another)")
    if named:
        return named[-1]
    there = f"the runs there: {_listing(runs)}" if runs else "there are no runs there yet"
    hint = (did_you_mean(spec, sorted({run_name(r) for r in runs} | {r.name for r in runs}))
            or did_you_mean_path(spec, lambda q: RunFolder(q).config.is_file()))
    raise ConfigError(f"run {spec!r} not found in {root}/ as a folder, a run number or a name{hint} ({there})")
