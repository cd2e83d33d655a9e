"""One trainer per run folder: an OS file lock held for the whole life of the training process.

Two processes training in one run folder interleave checkpoints and ``stats.jsonl`` from
two different histories, and nothing notices. So a trainer takes an exclusive lock on
``RUN/train.lock`` before it touches anything else in the folder, and keeps it until it
exits. The lock is the operating system's (``flock`` on Linux/macOS, ``msvcrt.locking`` on
Windows), not the file's existence: the kernel drops it when the process dies, however it
dies, so a ``kill -9`` never leaves a stale lock behind. The file itself stays (deleting it
would let a third process lock a fresh inode while a second still holds the old one) and
records who holds it — pid, host, start time — for the message the next trainer prints.

Limits, stated in docs/reliability.md: a forked helper process inherits the lock until it
exits too (snowgan's decode pool lives only while a dataset is prepared); on network file
systems the lock is only as good as the server's lock manager (NFSv4 and SMB honour it).
"""

from __future__ import annotations

import json
import os
import socket
import sys
import time
from pathlib import Path
from typing import Optional

from ..errors import ConfigError
from ..files import json_text
from ..runfolder import RunFolder

LOCK_NAME = RunFolder.lock_name  # train.lock
# Windows locks byte ranges, and a locked byte cannot be read by others: lock one byte far past
# the JSON record, so the next trainer can still read who holds the run.
_WINDOWS_LOCK_OFFSET = 1 << 30


class RunLocked(ConfigError):
    """Another process is training this run (exit code 2, like any refused input)."""


def _try_lock(fd: int) -> bool:
    """Take the exclusive lock without waiting; False when another process holds it."""
    if sys.platform == "win32":  # pragma: no cover - exercised on Windows only
        import msvcrt

        os.lseek(fd, _WINDOWS_LOCK_OFFSET, os.SEEK_SET)
        try:
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
        except OSError:
            return False
        return True
    import fcntl

    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


def _unlock(fd: int) -> None:
    if sys.platform == "win32":  # pragma: no cover
        import msvcrt

        os.lseek(fd, _WINDOWS_LOCK_OFFSET, os.SEEK_SET)
        msvcrt.locking(fd, msvcrt.LK_UNLCK, 1)
        return
    import fcntl

    fcntl.flock(fd, fcntl.LOCK_UN)


def read_holder(run_dir: Path) -> Optional[dict]:
    """What the lock file says about its last holder ({pid, host, started}), or None."""
    try:
        info = json.loads(RunFolder(run_dir).lock.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return info if isinstance(info, dict) else None


def busy_message(run_dir: Path) -> str:
    """The one line a second trainer prints: who trains this run, and what the user can do."""
    holder = read_holder(run_dir)
    if holder and {"pid", "host", "started"} <= holder.keys():
        who = f"pid {holder['pid']} on {holder['host']} since {holder['started']}"
    else:  # the holder is between taking the lock and writing its record
        who = f"another process (see {RunFolder(run_dir).lock})"
    return f"run {Path(run_dir).name} is being trained by {who}; wait for it, stop it, or choose another --name"


class RunLock:
    """An exclusive lock on a run folder, held until release() or the end of the process."""

    def __init__(self, run_dir: Path, fd: int) -> None:
        self.run_dir = Path(run_dir)
        self._fd: Optional[int] = fd

    @classmethod
    def acquire(cls, run_dir: Path) -> "RunLock":
        """Lock ``run_dir`` for this process or raise RunLocked naming the process that has it."""
        path = RunFolder(run_dir).lock
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)  # non-inheritable across exec (PEP 446)
        if not _try_lock(fd):
            os.close(fd)
            raise RunLocked(busy_message(run_dir))
        record = {"pid": os.getpid(), "host": socket.gethostname(),
                  "started": time.strftime("%Y-%m-%d %H:%M:%S %z")}
        try:
            os.lseek(fd, 0, os.SEEK_SET)
            os.ftruncate(fd, 0)
            os.write(fd, (json_text(record) + "\n").encode("utf-8"))
        except OSError:  # a full disk: the lock still holds; the first checkpoint will say what is wrong
            pass
        return cls(run_dir, fd)

    @property
    def held(self) -> bool:
        return self._fd is not None

    def release(self) -> None:
        """Give the run back (idempotent). The file stays; only the OS lock goes."""
        if self._fd is None:
            return
        fd, self._fd = self._fd, None
        try:
            _unlock(fd)
        except OSError:  # closing below releases it anyway
            pass
        os.close(fd)

    def __enter__(self) -> "RunLock":
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()
