"""A run's evaluations (``snowgan evaluate``): every one kept, read back, the newest picked, one line each.

Each call writes a new ``RUN/evaluations/NNNNN-seedS.json`` (runfolder.claim_numbered), so a second
``evaluate --seed 1`` no longer replaces the first; a run folder from before keeps its single
``metrics.json``, read as the oldest evaluation. ``evaluate --list``, the report and the model card
read them here. Torch-free.
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any, Optional

from .files import read_json
from .runfolder import RunFolder
from .text import significant


def read_all(run_dir: Path) -> list[tuple[Path, dict[str, Any]]]:
    """(path, record) of every readable evaluation of a run, oldest first."""
    found = [(p, read_json(p)) for p in RunFolder(run_dir).evaluation_files()]
    return [(p, raw) for p, raw in found if raw is not None]


def newest(run_dir: Path, step: Optional[int] = None) -> Optional[tuple[Path, dict[str, Any]]]:
    """The newest evaluation of the checkpoint at ``step`` when there is one, else the newest of all."""
    found = read_all(run_dir)
    at_step = [e for e in found if step is not None and e[1].get("step") == step]
    return (at_step or found)[-1] if found else None


def values(raw: dict[str, Any]) -> dict[str, float]:
    """{metric: its headline value} of an evaluation record (finite numbers only)."""
    entries = raw.get("metrics")
    if not isinstance(entries, dict):
        return {}
    return {k: float(e["value"]) for k, e in entries.items()
            if isinstance(e, dict) and isinstance(e.get("value"), (int, float)) and not isinstance(e["value"], bool)
            and math.isfinite(e["value"])}


def one_line(path: Path, raw: dict[str, Any], run_dir: Path) -> str:
    """'evaluations/00002-seed1.json: 2025-01-31T10:00:00, best (step 400), 1000 samples, seed 1: fid 95.2, kid 0.034'"""
    numbers = ", ".join(f"{k} {significant(v, 3)}" for k, v in values(raw).items()) or "no metrics"
    settings = [str(raw.get("time", "time unknown")),
                f"{raw.get('checkpoint', 'checkpoint ?')} (step {raw.get('step', '?')})",
                f"{raw.get('n_samples', '?')} samples", f"seed {raw.get('seed', '?')}"]
    return f"{os.path.relpath(path, run_dir)}: {', '.join(settings)}: {numbers}"
