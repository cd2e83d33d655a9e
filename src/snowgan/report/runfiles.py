"""Read a run folder's logs while training may still be writing them.

Every reader here tolerates a half-written last line, a missing file and stray
garbage, because plots and the report are rebuilt at each sampling interval of a
live run. Nothing here imports torch.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from ..files import read_json, read_jsonl
from ..runfolder import RunFolder


def numeric(value: object) -> Optional[float]:
    """A finite float from an int/float JSON value, else None (bools and strings are not numbers)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    v = float(value)
    return v if math.isfinite(v) else None


@dataclass
class SampleGrid:
    """One fixed-latent sample grid written during training."""

    path: Path
    step: int
    kimg: Optional[float]
    epoch: Optional[float]
    res: Optional[str]  # progressive growing: the resolution at that time, e.g. "16x16"
    alpha: Optional[float]  # progressive growing: fade-in of the newest layer (1 = stable)


_STEP_RE = re.compile(r"step-(\d+)\.png$")


def _res_text(value: object) -> Optional[str]:
    if value is None:
        return None
    if isinstance(value, (list, tuple)) and len(value) == 2:
        return f"{value[0]}x{value[1]}"
    return f"{value}x{value}" if isinstance(value, int) else str(value)


def sample_grids(run_dir: Path) -> list[SampleGrid]:
    """The run's sample grids in training order, one per file.

    From samples/index.jsonl (the last entry for a file wins: the loop may log the final
    grid twice); files listed there but gone are dropped; step-*.png files missing from
    the index (an index lost or from an older version) are added from their names.
    """
    folder = RunFolder(run_dir).samples
    by_file: dict[str, SampleGrid] = {}
    for row in read_jsonl(RunFolder(run_dir).sample_index):
        name = row.get("file")
        if not isinstance(name, str) or "/" in name or "\\" in name or not (folder / name).is_file():
            continue
        step = numeric(row.get("step"))
        by_file[name] = SampleGrid(folder / name, int(step or 0), numeric(row.get("kimg")),
                                   numeric(row.get("epoch")), _res_text(row.get("res")),
                                   numeric(row.get("alpha")))
    for p in folder.glob("step-*.png") if folder.is_dir() else []:
        m = _STEP_RE.search(p.name)
        if m and p.name not in by_file:
            by_file[p.name] = SampleGrid(p, int(m.group(1)), None, None, None, None)
    return sorted(by_file.values(), key=lambda g: (g.step, g.path.name))


def _field(node: object, key: str) -> object:
    """node[key] for a plain dict or a checkpoint skeleton dict ({"__dict__": [[key, value], ...]})."""
    if isinstance(node, dict) and "__dict__" in node:
        node = {k: v for k, v in node["__dict__"] if isinstance(k, str)}
    return node[key] if isinstance(node, dict) and key in node else None


def best_step(run_dir: Path) -> Optional[int]:
    """Training step of checkpoints/best, or None when the run keeps no (readable) best checkpoint."""
    state = read_json(RunFolder(run_dir).checkpoint("best") / "state.json")
    step = numeric(_field(_field(_field(state, "state"), "counters"), "step"))
    return None if step is None else int(step)


def warnings(run_dir: Path, limit: int = 50) -> list[str]:
    """Collapse and other warnings of a run, oldest first: ``warning`` fields of stats.jsonl
    and metrics.jsonl lines (prefixed with their step) and ``warning:`` lines of log.txt."""
    found: list[str] = []
    folder = RunFolder(run_dir)
    for rows in (folder.read_stats(), folder.read_metrics()):
        for row in rows:
            w = row.get("warning") or row.get("warnings")
            items = w if isinstance(w, list) else [w] if w else []
            for item in items:
                where = f"step {row['step']}: " if "step" in row else ""
                found.append(f"{where}{item}")
    try:
        log = folder.log.read_text(encoding="utf-8", errors="replace")
    except OSError:
        log = ""
    found += [line.strip() for line in log.splitlines() if line.strip().lower().startswith("warning")]
    seen: set[str] = set()
    unique = [w for w in found if not (w in seen or seen.add(w))]
    return unique[-limit:]


# Words of the collapse watch's warnings (metrics/collapse.py): each check gives them afresh, so a
# later check that gives none has superseded them.
_CHECK_WORDS = ("possible mode collapse", "possible memorisation")


def current_warnings(run_dir: Path) -> tuple[list[str], list[str]]:
    """(warnings that still hold, earlier ones) for the report: a collapse warning holds only while
    the latest metrics check still gives it (issue 42: every past warning in a red box read as if the
    run were still collapsing after diversity had recovered); any other warning keeps holding."""
    found = warnings(run_dir)
    checks = [r for r in RunFolder(run_dir).read_metrics() if "step" in r]
    if not checks:  # no check has judged them yet: they all hold
        return found, []
    latest = checks[-1].get("collapse_warning")
    now = [f"step {checks[-1]['step']}: {latest}"] if isinstance(latest, str) and latest else []
    other = [w for w in found if not any(word in w.lower() for word in _CHECK_WORDS)]
    # The latest warning's own log line is not history: it is the one in the box.
    return other + now, [w for w in found if w not in other and not (latest and w.endswith(latest))]
