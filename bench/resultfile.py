"""Where a bench's ``--json`` measurement is written: bench/results/ (not a measurement itself).

bench/ holds the scripts and bench/results/ what they measured, so the docs cite every result
as ``bench/results/results-*.json`` and the scripts' folder stays readable (issue 40: 53 result
files lay loose beside them). Every bench that writes a result goes through ``write_results``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results"


def results_path(name: str | Path) -> Path:
    """A bare file name (``--json results-x.json``) goes to bench/results/; a path with a folder
    (a scratch file under /tmp, or bench/results/... typed out) is used as given."""
    path = Path(name)
    return RESULTS / path if path.parent == Path(".") else path


def write_results(name: str | Path, data: Any) -> Path:
    """Write data as indented JSON where results_path puts name; returns the path (printed, so a
    run by hand says where its numbers went)."""
    path = results_path(name)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    print(f"results in {path}", flush=True)
    return path
