"""Writes during training that a full, over-quota or read-only disk can refuse.

Two kinds, two policies (see docs/reliability.md):

- outputs training can do without — sample grids, stats lines — go through
  ``OptionalWrites``: a refused write is reported once per kind and skipped, and
  training goes on (if the disk stays full, the next checkpoint stops the run);
- a checkpoint that cannot be written stops the run: ``stop_line`` is what it says.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

from ..diskspace import describe, stop_message, write_errno
from ..run import checkpoint as ckpt


class OptionalWrites:
    """Run writes whose loss costs no training; report each kind's first refusal in the log."""

    def __init__(self, log: Callable[[str], None]) -> None:
        self.log = log
        self._reported: set[str] = set()

    def __call__(self, what: str, where: Path, write: Callable[[], object]) -> bool:
        """``write()``; False when the disk refused it. Errors other than a refused write propagate."""
        try:
            write()
            return True
        except Exception as e:
            code = write_errno(e)
            if code is None:
                raise
        for partial in where.parent.glob(".*.partial*"):  # report/grid.py writes aside, then renames
            partial.unlink(missing_ok=True)
        if what not in self._reported:
            self._reported.add(what)
            self.log(f"note: could not write the {what}, {describe(code, where)}; training goes on without it "
                     f"(said once), but the next checkpoint will stop the run if this persists")
        return False


def stop_line(what: str, e: ckpt.CheckpointWriteError, run_dir: Path) -> str:
    """Why the run stops at a refused checkpoint: path, free space, size, last good checkpoint, resume."""
    last = ckpt.latest_valid(run_dir, warn=lambda msg: None)
    return stop_message(what, e.errno, e.dest, e.needed, last, run_dir)


def append_line(path: Path, text: str) -> None:
    """One line at the end of a text file (stats.jsonl, samples/index.jsonl)."""
    with open(path, "a", encoding="utf-8") as f:
        f.write(text + "\n")
