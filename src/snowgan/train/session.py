"""Which run folder a training command writes to, and with which resolved config.

- ``--resume RUN``: continue that run.
- ``--name NAME`` naming an existing run: continue it (the same as --resume NAME).
- otherwise: a new numbered folder ``runs/NNNNN-NAME`` (NAME defaults to the recipe or arch).

On a resume the run's saved config.json is the base; settings given now (flags, a
``--config`` file, a recipe) override it (``flags.overlay``), except the ones that
define the networks (IDENTITY_FIELDS): changing those would not fit the checkpoint,
so it is an error that says to start a new run instead.

Before anything in the folder is written, the process takes the run lock
(``runlock.RunLock``): a second trainer on the same run stops with exit 2 and the
first one's pid, host and start time. A new folder is claimed by ``mkdir`` (atomic,
so two new runs never share a number) and locked before its config.json exists; a
run found by --name counts only once its config.json is there, i.e. once its
trainer holds the lock — so the second of two trainers started at once either meets
the lock or makes its own numbered folder, never a half-made one.
"""

from __future__ import annotations

import os
import shutil
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

from ..config import IDENTITY_FIELDS, Config, ConfigError, flat_fields
from ..decided import Decided, config_json
from ..diskspace import describe, write_errno, writing
from ..files import json_text
from ..flags import SELECTORS, overlay
from ..runfolder import RunFolder
from ..runs import find_by_name, find_run, new_run_dir, run_name
from ..run.lock import RunLock


@dataclass
class Session:
    """A training process's hold on one run folder: the settings it was given (resolved, frozen), what
    the run has decided since it started (decided.Decided), and their sum, ``cfg``, which the
    trainer's parts read. ``decide`` records a new decision and rewrites config.json."""

    settings: Config
    run_dir: Path
    resuming: bool
    log: "RunLog"
    lock: Optional[RunLock] = None  # held by the process that writes (rank 0); None on the others
    # A new run: the settings no recipe, --config or flag gave (length, intervals) are the
    # Trainer's to plan (train/plan.py). Settings given are in `given`.
    plan: bool = False
    given: frozenset[str] = frozenset()
    decided: Decided = field(default_factory=Decided)

    def __post_init__(self) -> None:
        self.cfg = self.decided.apply(self.settings)

    def decide(self, write: bool = True, **changes: Any) -> Config:
        """Record start-up decisions (Decided's fields); returns the run's new effective config. write:
        this process writes the run folder (rank 0)."""
        self.decided = self.decided.but(**changes)
        self.cfg = self.decided.apply(self.settings)
        if write:
            write_config(self.run_dir, self.settings, self.decided)
        return self.cfg

    def close(self) -> None:
        """Give the run back to other trainers (the OS also does it when the process ends)."""
        if self.lock is not None:
            self.lock.release()


class RunLog:
    """The run's voice: ``log(msg)`` prints (unless quiet) and appends to RUN/log.txt; ``log.detail(msg)``
    only appends, and prints with --verbose. A full disk loses log lines, never the run.

    What a person watching needs (the plan, each check's verdict, warnings, where things are) is
    printed; what an engineer may want later (kernels, metric protocols, every value) is detail."""

    def __init__(self, run_dir: Optional[Path], quiet: bool, verbose: bool = False) -> None:
        """run_dir None: a log that keeps nothing (a torchrun rank other than 0, whose rank 0 logs)."""
        self.path = RunFolder(run_dir).log if run_dir is not None else None
        self.quiet, self.verbose = quiet, verbose
        self._failed = False

    def __call__(self, msg: str) -> None:
        self._write(msg, show=not self.quiet)

    def detail(self, msg: str) -> None:
        self._write(msg, show=self.verbose and not self.quiet)

    def _write(self, msg: str, show: bool) -> None:
        if show:
            print(msg, flush=True)
        if self.path is None:
            return
        try:
            with open(self.path, "a", encoding="utf-8") as f:
                f.write(msg + "\n")
        except OSError as e:
            code = write_errno(e)
            if code is None:
                raise
            if not self._failed:  # said once; the terminal still gets every line
                self._failed = True
                print(f"note: cannot append to {describe(code, self.path)}; log lines go to the terminal only",
                      file=sys.stderr, flush=True)


def _make_logger(run_dir: Path, cfg: Config) -> RunLog:
    return RunLog(run_dir, cfg.run.progress == "none", cfg.run.verbose)


def write_config(run_dir: Path, settings: Config, decided: Decided) -> None:
    """RUN/config.json (the settings and, beside them, the start-up decisions), replaced whole: a full
    disk mid-write must not leave a run without its settings."""
    tmp = run_dir / "config.json.tmp"
    try:
        with writing(RunFolder(run_dir).config):
            tmp.write_text(json_text(config_json(settings, decided), indent=2, sort_keys=False), encoding="utf-8")
        os.replace(tmp, RunFolder(run_dir).config)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _by_name(runs_dir: str, name: str) -> Optional[Path]:
    """The newest run called ``name`` whose trainer got as far as writing its config.json."""
    found = find_by_name(runs_dir, name)
    return found if found is not None and RunFolder(found).config.is_file() else None


def open_session(cfg: Config, explicit: set[str]) -> Session:
    """Claim the run folder (new or continued) under the run lock; raises RunLocked when it is taken."""
    runs_dir = cfg.run.runs_dir
    existing: Optional[Path] = None
    if cfg.run.resume:
        existing = find_run(runs_dir, cfg.run.resume)
    elif cfg.run.name:
        existing = _by_name(runs_dir, cfg.run.name)

    if existing is None:
        name = cfg.run.name or cfg.run.recipe or cfg.model.arch
        run_dir = new_run_dir(runs_dir, name)
        lock = RunLock.acquire(run_dir)  # free: nobody else can have found a folder without config.json
        decided = Decided(run_name=run_name(run_dir))
        try:
            write_config(run_dir, cfg, decided)
        except BaseException:  # e.g. a full disk: leave no folder that looks like a run
            lock.release()
            shutil.rmtree(run_dir, ignore_errors=True)
            raise
        return Session(cfg, run_dir, False, _make_logger(run_dir, cfg), lock,
                       plan=True, given=frozenset(explicit), decided=decided)

    lock = RunLock.acquire(existing)  # before anything in the folder changes
    try:
        return _continue(cfg, explicit, existing, lock)
    except BaseException:
        lock.release()
        raise


def _continue(cfg: Config, explicit: set[str], existing: Path, lock: RunLock) -> Session:
    """A session on an existing run, its saved config overlaid with the settings given now."""
    saved = RunFolder(existing).load_config()
    now = flat_fields(cfg)
    before = flat_fields(saved)
    for key in sorted(explicit - SELECTORS):
        if key in IDENTITY_FIELDS and now[key] != before[key]:
            raise ConfigError(
                f"--{key} {now[key]} differs from run {existing.name}'s {before[key]}; the checkpoint's networks "
                f"would not fit. Start a new run with another --name (or --init_from {existing.name} to transfer)")
    decided = RunFolder(existing).load_decided().without(explicit)
    settings = overlay(saved, cfg, explicit).replace(mode="train", resume=str(existing))
    decided = decided.but(run_name=run_name(existing))
    write_config(existing, settings, decided)
    return Session(settings, existing, True, _make_logger(existing, settings), lock, decided=decided)
