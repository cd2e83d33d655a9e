"""Which run folder a training command writes to, and with which resolved config.

- ``--resume RUN``: continue that run.
- ``--name NAME`` naming an existing run: continue it (the same as --resume NAME).
- otherwise: a new numbered folder ``runs/NNNNN-NAME`` (NAME defaults to the recipe or arch).

On a resume the run's saved config.json is the base; settings given now (flags, a
``--config`` file, a recipe) override it (``flags.overlay``), except the ones that
define the networks (IDENTITY_FIELDS): changing those would not fit the checkpoint,
so it is an error that says to start a new run instead.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional

from ..config import IDENTITY_FIELDS, Config, ConfigError, flat_fields
from ..flags import SELECTORS, overlay
from ..runs import find_by_name, find_run, new_run_dir, run_name


@dataclass
class Session:
    cfg: Config
    run_dir: Path
    resuming: bool
    log: Callable[[str], None]


def _make_logger(run_dir: Path, quiet: bool) -> Callable[[str], None]:
    log_path = run_dir / "log.txt"

    def log(msg: str) -> None:
        if not quiet:
            print(msg, flush=True)
        with open(log_path, "a", encoding="utf-8") as f:
            f.write(msg + "\n")

    return log


def open_session(cfg: Config, explicit: set[str]) -> Session:
    runs_dir = cfg.run.runs_dir
    existing: Optional[Path] = None
    if cfg.run.resume:
        existing = find_run(runs_dir, cfg.run.resume)
    elif cfg.run.name and find_by_name(runs_dir, cfg.run.name) is not None:
        existing = find_by_name(runs_dir, cfg.run.name)

    if existing is None:
        name = cfg.run.name or cfg.run.recipe or cfg.model.arch
        run_dir = new_run_dir(runs_dir, name)
        cfg.run.name = run_name(run_dir)
        (run_dir / "config.json").write_text(cfg.to_json(), encoding="utf-8")
        return Session(cfg, run_dir, False, _make_logger(run_dir, cfg.run.progress == "none"))

    saved_path = existing / "config.json"
    if not saved_path.is_file():
        raise ConfigError(f"{existing} has no config.json; it is not a snowgan run folder")
    saved = Config.from_dict(json.loads(saved_path.read_text(encoding="utf-8")))
    now = flat_fields(cfg)
    before = flat_fields(saved)
    for key in sorted(explicit - SELECTORS):
        if key in IDENTITY_FIELDS and now[key] != before[key]:
            raise ConfigError(
                f"--{key} {now[key]} differs from run {existing.name}'s {before[key]}; the checkpoint's networks "
                f"would not fit. Start a new run with another --name (or --init_from {existing.name} to transfer)")
    saved = overlay(saved, cfg, explicit)
    saved.run.mode = "train"
    saved.run.name = run_name(existing)
    saved.run.resume = str(existing)
    (existing / "config.json").write_text(saved.to_json(), encoding="utf-8")
    return Session(saved, existing, True, _make_logger(existing, saved.run.progress == "none"))
