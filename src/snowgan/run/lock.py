"""One trainer per run folder: an OS file lock held for the whole life of the training process.

Two processes training in one run folder interleave checkpoints and ``stats.jsonl`` from
two different histories, and nothing notices. So a trainer takes an exclusive lock on
``RUN/train.lock`` before it touches anything else in the folder, and keeps it until it
exits. The lock is the operating system's (``flock`` on Linux/macOS, ``msvcrt.locking`` on
Windows), not the file's existence: the kernel drops it when the process dies, however it
dies, so a ``kill -9`` never leaves a stale lock behind. The file records who holds it — pid,
host, start time, and what the file means — for the message the next trainer prints.

The file goes when training ends (a train.lock in a finished run read as "still training"):
``release`` deletes it while still holding the lock, and ``acquire`` keeps a lock only when the
file it locked is still the one at ``RUN/train.lock`` (same inode), else it tries again. So a
process that opened the file just before it was deleted, and locks the deleted inode, lets go and
locks the new file instead of holding a lock nobody else sees. A file left by a trainer that was
killed (``kill -9``, power loss) holds no lock: the next trainer takes it over and says so
(``RunLock.stale``), and the file itself says that it is stale unless that process still runs.
On Windows an open file cannot be deleted, so there the file stays and its record says it was
released.

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


def stale_note(record: dict, run_dir: Path) -> str:
    """The line a trainer prints when it took over a lock file that a killed trainer left behind."""
    who = f"pid {record.get('pid', '?')} on {record.get('host', '?')} since {record.get('started', '?')}"
    return (f"note: run {Path(run_dir).name} was last trained by {who}, which ended without finishing (killed, "
            f"or the machine stopped); its train.lock was stale, and this trainer has taken it over")


class RunLock:
    """An exclusive lock on a run folder, held until release() or the end of the process."""

    def __init__(self, run_dir: Path, fd: int, stale: Optional[dict] = None) -> None:
        self.run_dir = Path(run_dir)
        self._fd: Optional[int] = fd
        # The record of a trainer that ended without releasing the run (killed): the caller says so.
        self.stale = stale

    @classmethod
    def acquire(cls, run_dir: Path) -> "RunLock":
        """Lock ``run_dir`` for this process or raise RunLocked naming the process that has it."""
        path = RunFolder(run_dir).lock
        while True:
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)  # non-inheritable across exec (PEP 446)
            if not _try_lock(fd):
                os.close(fd)
                raise RunLocked(busy_message(run_dir))
            if _is_file_at(fd, path):
                break
            os.close(fd)  # locked a file its last holder has just deleted: lock the one there now
        stale = _record(fd)
        # (Only a record with a "note" comes from a trainer that deletes the file when it ends: an older
        # snowgan left it in every finished run, which says nothing about how that run ended.)
        record = {"pid": os.getpid(), "host": socket.gethostname(), "started": time.strftime("%Y-%m-%d %H:%M:%S %z"),
                  "note": "this process trains the run; the file is deleted when training ends, so if the process "
                          "is no longer running (it was killed), the file is stale: the next trainer takes it over"}
        _rewrite(fd, record)
        return cls(run_dir, fd, stale if stale and "note" in stale and "released" not in stale else None)

    @property
    def held(self) -> bool:
        return self._fd is not None

    def release(self) -> None:
        """Give the run back (idempotent): the file is deleted while still locked (Windows: marked released)."""
        if self._fd is None:
            return
        fd, self._fd = self._fd, None
        path = RunFolder(self.run_dir).lock
        try:
            if sys.platform == "win32":  # pragma: no cover - an open file cannot be deleted there
                _rewrite(fd, {**(_record(fd) or {}), "released": time.strftime("%Y-%m-%d %H:%M:%S %z")})
            elif _is_file_at(fd, path):
                path.unlink()
        except OSError:  # a read-only or vanished folder: the lock still goes below
            pass
        try:
            _unlock(fd)
        except OSError:  # closing below releases it anyway
            pass
        os.close(fd)

    def __enter__(self) -> "RunLock":
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


def _is_file_at(fd: int, path: Path) -> bool:
    """Whether the open file fd is the file at path now (not one deleted or replaced since it was opened)."""
    try:
        now, ours = os.stat(path), os.fstat(fd)
    except OSError:
        return False
    return (now.st_dev, now.st_ino) == (ours.st_dev, ours.st_ino)


def _record(fd: int) -> Optional[dict]:
    """The JSON record in the lock file (the last holder's), or None when empty or unreadable."""
    try:
        os.lseek(fd, 0, os.SEEK_SET)
        info = json.loads(os.read(fd, 1 << 16).decode("utf-8") or "null")
    except (OSError, ValueError):
        return None
    return info if isinstance(info, dict) else None


def _rewrite(fd: int, record: dict) -> None:
    try:
        os.lseek(fd, 0, os.SEEK_SET)
        os.ftruncate(fd, 0)
        os.write(fd, (json_text(record) + "\n").encode("utf-8"))
    except OSError:  # a full disk: the lock still holds; the first checkpoint will say what is wrong
        pass
