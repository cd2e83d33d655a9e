"""Write failures a user can act on (a full disk, a quota, a read-only or forbidden folder),
free space, and how much a training run is going to write.

Torch-free and import-free so every layer can use it. Two kinds of exception reach us when
a write fails: Python's ``OSError`` (``open``/``write``/``mkdir``/Pillow), and the
safetensors writer's ``SafetensorError``, which is not an OSError and carries the errno
only in its text (``I/O error: No space left on device (os error 28)``).
"""

from __future__ import annotations

import errno
import os
import re
import shutil
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Optional

from .errors import ConfigError

# The errnos that mean "this place cannot take the bytes", each with the words users know.
REASONS: dict[int, str] = {errno.ENOSPC: "no space left on device", errno.EROFS: "read-only file system",
                           errno.EACCES: "permission denied", errno.EPERM: "operation not permitted"}
if hasattr(errno, "EDQUOT"):  # not on Windows
    REASONS[errno.EDQUOT] = "disk quota exceeded"
_SPACE = {errno.ENOSPC, getattr(errno, "EDQUOT", -1)}
_OS_ERROR_TEXT = re.compile(r"\(os error (\d+)\)")


def write_errno(exc: BaseException) -> Optional[int]:
    """The errno when ``exc`` (or what it was raised from) is a disk write failure, else None."""
    seen: set[int] = set()
    e: Optional[BaseException] = exc
    while e is not None and id(e) not in seen:
        seen.add(id(e))
        if isinstance(e, OSError) and e.errno in REASONS:
            return e.errno
        m = _OS_ERROR_TEXT.search(str(e))  # safetensors (Rust) I/O errors
        if m and int(m.group(1)) in REASONS:
            return int(m.group(1))
        e = e.__cause__ or e.__context__
    return None


def is_space_errno(code: int) -> bool:
    """True for a full disk or quota (freeing space helps), False for permissions/read-only."""
    return code in _SPACE


def free_bytes(path: str | Path) -> Optional[int]:
    """Bytes free for this user on the file system holding ``path`` (or its nearest existing parent)."""
    p = Path(path).absolute()
    while not p.exists() and p != p.parent:
        p = p.parent
    try:
        return shutil.disk_usage(p).free
    except OSError:
        return None


def human_bytes(n: Optional[float]) -> str:
    """1536 -> '1.5 KiB'; None -> 'unknown'."""
    if n is None:
        return "unknown"
    for unit in ("bytes", "KiB", "MiB", "GiB", "TiB"):
        if abs(n) < 1024 or unit == "TiB":
            return f"{int(n)} bytes" if unit == "bytes" else f"{n:.1f} {unit}"
        n /= 1024
    raise AssertionError("unreachable")


def folder_bytes(path: Path) -> int:
    """Total size of the files under ``path`` (0 when it is gone)."""
    total = 0
    for f in Path(path).rglob("*"):
        try:
            if f.is_file():
                total += f.stat().st_size
        except OSError:  # removed while we looked
            pass
    return total


def describe(code: int, path: Path, needed: Optional[int] = None) -> str:
    """'PATH: no space left on device (1.2 MiB free, about 3.4 MiB needed)'."""
    size = f", about {human_bytes(needed)} needed" if needed else ""
    return f"{path}: {REASONS.get(code, 'write failed')} ({human_bytes(free_bytes(path))} free{size})"


@contextmanager
def writing(path: str | Path) -> Iterator[None]:
    """Name ``path`` in a write failure raised inside that names no file.

    Pillow, NumPy, ``Path.write_text`` and safetensors report a full disk without the file
    (open succeeds, the write fails), and a message built from that names the working folder
    and its disk's free space instead of the place that filled up. Re-raised as
    ``OSError(errno, reason, path)``, so every catcher (cli.main, training) reads the right place.
    """
    try:
        yield
    except Exception as e:
        code = write_errno(e)
        if code is None or getattr(e, "filename", None):
            raise
        raise OSError(code, os.strerror(code), str(path)) from e


def reserve(path: str | Path) -> None:
    """Allocate every block of the (sparse) file at ``path`` now, where the platform can.

    Why: a memory-mapped file that meets a full disk while its pages are written kills the
    process with SIGBUS, no message; allocated up front, a full disk is an OSError here instead.
    """
    if not hasattr(os, "posix_fallocate"):  # macOS, Windows
        return
    with open(path, "r+b") as f:
        os.posix_fallocate(f.fileno(), 0, os.fstat(f.fileno()).st_size)


def check_room(where: str | Path, needed: int, what: str, flag: str) -> None:
    """ConfigError, before any work, when the file system holding ``where`` has less free space than
    ``needed`` bytes (an estimate of ``what``): better one line now than a full disk half-way."""
    free = free_bytes(where)
    if free is not None and needed > free:
        raise ConfigError(f"{flag} {where}: about {human_bytes(needed)} to write ({what}), but its disk has "
                          f"{human_bytes(free)} free; ask for fewer, free some space, or give an {flag} on a "
                          f"larger disk")


def what_to_do(code: int, flag: str = "--runs_dir") -> str:
    """The remedy for this kind of failure, in a few words; ``flag`` chooses the folder elsewhere."""
    if is_space_errno(code):
        return f"free some space on that disk (or pass a {flag} on a larger one)"
    return f"make that folder writable (or pass a writable {flag})"


def stop_message(what: str, code: int, path: Path, needed: Optional[int], last_good: Optional[Path],
                 run_dir: Path) -> str:
    """The line a run ends with when it cannot write: where, why, what is safe, what to do."""
    last = f"the last good checkpoint is {last_good}" if last_good else "no checkpoint was written yet"
    return (f"could not write {what} {describe(code, path, needed)}; {last}; {what_to_do(code)}, "
            f"then resume with: snowgan --mode train --resume {run_dir}")


# ---- the free-space check at start ---------------------------------------------------

@dataclass
class RunWrites:
    """About how many bytes a training run writes from now to its end."""

    checkpoint_bytes: int  # one checkpoint folder
    checkpoints: int       # held on disk at the peak: kept + the one being written + milestones + best
    grid_bytes: int        # one sample grid PNG
    grids: int             # sample grids still to come
    other_bytes: int       # stats, log, plots, report

    @property
    def total(self) -> int:
        return self.checkpoint_bytes * self.checkpoints + self.grid_bytes * self.grids + self.other_bytes

    def summary(self) -> str:
        return (f"{self.checkpoints} checkpoints of {human_bytes(self.checkpoint_bytes)}, {self.grids} sample grids "
                f"of about {human_bytes(self.grid_bytes)}, {human_bytes(self.other_bytes)} of logs and report")


def low_space_warning(run_dir: Path, writes: RunWrites, already: int = 0) -> Optional[str]:
    """A warning line when the disk holding ``run_dir`` has less free space than the run will add.

    already: bytes of this run's checkpoints on disk now, which pruning will reuse.
    """
    needed = max(writes.total - already, writes.checkpoint_bytes)
    free = free_bytes(run_dir)
    if free is None or free >= needed:
        return None
    return (f"warning: {run_dir} is on a disk with {human_bytes(free)} free, but this run will write about "
            f"{human_bytes(needed)} ({writes.summary()}); it will stop with a message when the disk fills. "
            f"Free some space, lower --keep_checkpoints or raise --sample_every, or use another --runs_dir")
