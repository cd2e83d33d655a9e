"""The run lock (run/lock.py) and race-free run folders (runs.new_run_dir, train/session.py)."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from conftest import cli_env
from snowgan.flags import parse_args
from snowgan.runs import new_run_dir
from snowgan.run.lock import LOCK_NAME, RunLock, RunLocked, stale_note
from snowgan.train.session import open_session


def test_a_second_holder_is_refused_with_who_holds_it(tmp_path: Path) -> None:
    with RunLock.acquire(tmp_path) as lock:
        assert lock.held
        record = json.loads((tmp_path / LOCK_NAME).read_text())
        assert record["pid"] == os.getpid() and record["host"] == socket.gethostname()
        with pytest.raises(RunLocked) as e:  # flock conflicts between two opens, even in one process
            RunLock.acquire(tmp_path)
        assert str(e.value) == (f"run {tmp_path.name} is being trained by pid {os.getpid()} on "
                                f"{socket.gethostname()} since {record['started']}; wait for it, stop it, "
                                "or choose another --name")
    RunLock.acquire(tmp_path).release()  # released: free again


def test_the_lock_dies_with_its_process(tmp_path: Path) -> None:
    """kill -9 of the holder: the lock file stays, naming the dead pid, and does not block anyone."""
    holder = subprocess.Popen([sys.executable, "-c", "import sys, time\nfrom snowgan.run.lock import RunLock\n"
                               f"RunLock.acquire({str(tmp_path)!r}); print('locked', flush=True); time.sleep(600)"],
                              env=cli_env(), stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        with pytest.raises(RunLocked, match=f"pid {holder.pid} "):
            RunLock.acquire(tmp_path)
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
    assert json.loads((tmp_path / LOCK_NAME).read_text())["pid"] == holder.pid  # the stale record...
    with RunLock.acquire(tmp_path) as lock:  # ...is not a stale lock, and the next holder knows it was left behind
        assert lock.stale is not None and lock.stale["pid"] == holder.pid
        assert "killed" in stale_note(lock.stale, tmp_path) and str(holder.pid) in stale_note(lock.stale, tmp_path)
    assert not (tmp_path / LOCK_NAME).exists()


def test_the_lock_file_goes_when_training_ends_and_a_late_opener_takes_the_new_one(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Issue 42: train.lock stayed in a finished run. Deleting it must keep the lock's guarantee: a process
    that opened the file just before it went, and locks that deleted file, must not hold a lock nobody sees."""
    from snowgan.run import lock as runlock

    path = tmp_path / LOCK_NAME
    first = RunLock.acquire(tmp_path)
    early = os.open(path, os.O_RDWR)  # a second trainer opens the file just before the first lets go
    first.release()
    assert not path.exists()
    real_open, opened = os.open, []

    def racing_open(name, flags, mode=0o777):  # ...and its acquire gets that early descriptor first
        opened.append(name)
        return early if len(opened) == 1 else real_open(name, flags, mode)

    monkeypatch.setattr(runlock.os, "open", racing_open)
    second = RunLock.acquire(tmp_path)
    assert len(opened) == 2 and path.exists() and second.stale is None  # it let the deleted file go
    with pytest.raises(RunLocked):  # and a third trainer meets its lock on the file that is there
        RunLock.acquire(tmp_path)
    second.release()
    path.write_text('{"pid": 1, "host": "h", "started": "then"}')  # left in a finished run by an older snowgan
    with RunLock.acquire(tmp_path) as third:
        assert third.stale is None  # not said to be a killed trainer's


def test_new_runs_started_at_once_get_distinct_folders(tmp_path: Path) -> None:
    made: list[Path] = []
    start = threading.Barrier(8)

    def make() -> None:
        start.wait()
        made.append(new_run_dir(tmp_path, "same"))

    threads = [threading.Thread(target=make) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(p.name for p in made) == [f"{i:05d}-same" for i in range(1, 9)]


def _cfg(tmp_path: Path, *args: str):
    return parse_args(["--mode", "train", "--runs_dir", str(tmp_path / "runs"), *args])


def test_a_second_session_on_a_locked_run_touches_nothing(tmp_path: Path) -> None:
    first = open_session(*_cfg(tmp_path, "--name", "same", "--steps", "5"))
    try:
        config = first.run_dir / "config.json"
        before = config.read_bytes(), config.stat().st_mtime_ns
        for args in (["--name", "same", "--steps", "9"], ["--resume", first.run_dir.name, "--steps", "9"]):
            with pytest.raises(RunLocked, match=f"run {first.run_dir.name} is being trained by pid {os.getpid()}"):
                open_session(*_cfg(tmp_path, *args))
        assert (config.read_bytes(), config.stat().st_mtime_ns) == before
        assert sorted(p.name for p in first.run_dir.iterdir()) == ["config.json", LOCK_NAME]
    finally:
        first.close()
    again = open_session(*_cfg(tmp_path, "--name", "same", "--steps", "9"))
    assert again.resuming and again.run_dir == first.run_dir
    again.close()


def test_a_run_folder_without_config_is_not_continued_by_name(tmp_path: Path) -> None:
    """A folder another trainer has just made (config.json not yet written) is not 'the run called same'."""
    (tmp_path / "runs" / "00001-same").mkdir(parents=True)
    session = open_session(*_cfg(tmp_path, "--name", "same"))
    assert session.run_dir.name == "00002-same" and not session.resuming
    session.close()


def test_config_json_is_replaced_atomically_on_resume(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A full disk while a resume rewrites config.json must not leave it empty."""
    import errno

    first = open_session(*_cfg(tmp_path, "--name", "c"))
    first.close()
    config = first.run_dir / "config.json"
    before = config.read_bytes()
    real_write = Path.write_text

    def full(self: Path, *a, **kw):
        if self.name.startswith("config.json"):
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_write(self, *a, **kw)

    monkeypatch.setattr(Path, "write_text", full)
    with pytest.raises(OSError):
        open_session(*_cfg(tmp_path, "--name", "c", "--steps", "7"))
    monkeypatch.undo()
    assert config.read_bytes() == before
    RunLock.acquire(first.run_dir).release()  # the failed session gave the lock back
