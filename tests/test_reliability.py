"""Faults on purpose, end to end: a second trainer, kill -9 mid-write, Ctrl-C twice, a full or
read-only disk, an interrupted prepare, a corrupt zip member. docs/reliability.md lists them."""

from __future__ import annotations

import errno
import json
import os
import signal
import socket
import subprocess
import sys
import time
import zipfile
from pathlib import Path
from typing import Iterator

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors.torch import load_file

from conftest import cli_env, fill_disk, run_cli, write_image_folder
from snowgan.commands import train as command
from snowgan.flags import parse_args
from snowgan.run import checkpoint as ckpt
from snowgan.train import loop

# TINY from test_train_cli.py with one critic step per iteration and no report: each step is cheap.
FAST = ["--image_size", "16", "--builtin_count", "64", "--batch_size", "8", "--g_width", "8", "--d_width", "8",
        "--progress", "lines", "--log_every", "2", "--sample_every", "4", "--disc_steps", "1", "--report", "false"]


def _run_dir(runs: Path, name: str) -> Path:
    (run,) = [p for p in runs.iterdir() if p.name.endswith("-" + name)]
    return run


def _tensors(path: Path) -> dict:
    return {**load_file(str(path / "model.safetensors")), **load_file(str(path / "state.safetensors"))}


def _same(a: Path, b: Path) -> bool:
    ta, tb = _tensors(a), _tensors(b)
    return ta.keys() == tb.keys() and all(torch.equal(ta[k], tb[k]) for k in ta)


def _wait_for(pattern: str, root: Path, proc: subprocess.Popen, timeout: float = 120) -> Path:
    deadline = time.time() + timeout
    while time.time() < deadline:
        found = list(root.glob(pattern))
        if found:
            return found[0]
        assert proc.poll() is None, f"exited {proc.returncode} before {pattern} appeared"
        time.sleep(0.01)
    pytest.fail(f"{pattern} did not appear")


def _train_here(tmp_path: Path, *args: str) -> int:
    """The train command in this process (so a test can monkeypatch a write). However it ends, it
    leaves the process's Ctrl-C and SIGTERM handlers as it found them (a notebook keeps its Ctrl-C)."""
    cfg, explicit = parse_args(["--mode", "train", *FAST, "--runs_dir", str(tmp_path / "runs"), *args])
    handlers = signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)
    code = command.main(cfg, explicit)
    assert (signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)) == handlers
    return code


@pytest.fixture
def in_process(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Leave this process's threads and deterministic-algorithm setting as they were."""
    monkeypatch.setenv("OMP_NUM_THREADS", str(torch.get_num_threads()))
    was = torch.are_deterministic_algorithms_enabled()
    yield
    torch.use_deterministic_algorithms(was)


# ---- one trainer per run ------------------------------------------------------------------

@pytest.mark.slow
def test_a_second_trainer_exits_2_and_the_first_finishes_as_if_alone(workdir: Path) -> None:
    args = [*FAST, "--deterministic", "--seed", "3", "--checkpoint_every", "4", "--keep_checkpoints", "20",
            "--steps", "40"]
    first = subprocess.Popen([sys.executable, "-m", "snowgan", "--mode", "train", *args, "--name", "same"],
                             cwd=workdir, env=cli_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        _wait_for("runs/*-same/checkpoints/step-00000004/manifest.json", workdir, first)
        first.send_signal(signal.SIGSTOP)  # hold it mid-run (lock held) while the others try
        run = _run_dir(workdir / "runs", "same")
        assert not (run / "checkpoints" / "step-00000040").exists(), "the first run finished too soon"
        started = json.loads((run / "train.lock").read_text())["started"]
        expected = (f"snowgan: error: run {run.name} is being trained by pid {first.pid} on {socket.gethostname()} "
                    f"since {started}; wait for it, stop it, or choose another --name")
        for other in (["--name", "same"], ["--resume", run.name]):
            p = run_cli("--mode", "train", *args, *other, cwd=workdir, check=False)
            assert p.returncode == 2 and [x for x in p.stderr.splitlines() if x.strip()] == [expected], p.stderr
        # A reader is not a trainer: it samples the paused run's latest checkpoint.
        run_cli("--mode", "generate", "--run", run.name, "--n_samples", "2", "--out", workdir / "g", cwd=workdir)
    finally:
        first.send_signal(signal.SIGCONT)
    out, _ = first.communicate(timeout=300)
    assert first.returncode == 0, out
    stats = [json.loads(x)["step"] for x in (run / "stats.jsonl").read_text().splitlines()]
    assert stats == list(range(2, 41, 2))  # one history, written by one process
    run_cli("--mode", "train", *args, "--name", "alone", cwd=workdir)
    alone = _run_dir(workdir / "runs", "alone")
    assert _same(run / "checkpoints" / "step-00000040", alone / "checkpoints" / "step-00000040")


# ---- kill -9 and Ctrl-C -------------------------------------------------------------------

KILL_MID_WRITE = """
import os, signal, sys
from snowgan.run import checkpoint as ckpt
from snowgan.cli import main
real_save = ckpt.save_tensors
def save(tensors, path, metadata=None):
    real_save(tensors, path, metadata)
    if "step-00000004.tmp" in path:  # model.safetensors is on disk, the rest is not
        os.kill(os.getpid(), signal.SIGKILL)
ckpt.save_tensors = save
sys.exit(main(sys.argv[1:]))
"""


@pytest.mark.slow
def test_kill_9_during_a_checkpoint_write_resumes_from_the_one_before(workdir: Path) -> None:
    args = ["--mode", "train", *FAST, "--checkpoint_every", "2", "--name", "k"]
    p = subprocess.run([sys.executable, "-c", KILL_MID_WRITE, *args, "--steps", "8"], cwd=workdir, env=cli_env(),
                       capture_output=True, text=True, timeout=300)
    assert p.returncode == -signal.SIGKILL, p.stdout + p.stderr
    run = _run_dir(workdir / "runs", "k")
    assert (run / "checkpoints" / "step-00000004.tmp" / "model.safetensors").is_file()
    assert not (run / "checkpoints" / "step-00000004").exists()
    p = run_cli(*args, "--steps", "6", cwd=workdir)
    assert "resumed from step-00000002" in p.stdout and "damaged" not in p.stdout
    assert sorted(x.name for x in (run / "checkpoints").iterdir()) == ["step-00000002", "step-00000004",
                                                                       "step-00000006"]
    ckpt.validate(run / "checkpoints" / "step-00000006")


@pytest.mark.slow
def test_ctrl_c_twice_aborts_at_once_and_the_run_resumes(workdir: Path) -> None:
    args = ["--mode", "train", *FAST, "--checkpoint_every", "100000", "--name", "c"]
    proc = subprocess.Popen([sys.executable, "-m", "snowgan", *args, "--steps", "100000"], cwd=workdir,
                            env=cli_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    _wait_for("runs/*-c/stats.jsonl", workdir, proc)
    proc.send_signal(signal.SIGINT)
    time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=120)
    # 130 when the second Ctrl-C interrupts the checkpoint (or the first one's stop completes first);
    # killed by SIGINT when it lands after the stop, while the interpreter is already exiting.
    assert proc.returncode in (128 + signal.SIGINT, -signal.SIGINT), out + err
    assert "SIGINT received" in out and "Traceback" not in err
    run = _run_dir(workdir / "runs", "c")
    newest = ckpt.latest_valid(run)  # step 0 at least; a checkpoint cut short by the second Ctrl-C is skipped
    assert newest is not None
    step = int(newest.name[5:])
    p = run_cli(*args, "--steps", str(step + 2), cwd=workdir)
    assert f"resumed from {newest.name}" in p.stdout and not list((run / "checkpoints").glob("*.tmp"))


# ---- a full disk ----------------------------------------------------------------------------

def test_full_disk_at_a_checkpoint_stops_with_exit_3_and_resumes_exactly(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture, in_process: None) -> None:
    args = ["--deterministic", "--checkpoint_every", "2", "--keep_checkpoints", "5", "--seed", "4"]
    real_save = ckpt.save_tensors

    def full_at_step_4(tensors, path, metadata=None):
        if "step-00000004" in path:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real_save(tensors, path, metadata)

    monkeypatch.setattr(ckpt, "save_tensors", full_at_step_4)
    assert _train_here(tmp_path, *args, "--steps", "6", "--name", "full") == 3
    out = capsys.readouterr().out
    run = _run_dir(tmp_path / "runs", "full")
    (line,) = [x for x in out.splitlines() if "could not write" in x]
    assert line.startswith(f"snowgan: training stopped: could not write checkpoint {run}/checkpoints/step-00000004: "
                           "no space left on device (")
    assert " free, about " in line and " needed); " in line  # the free space and the size needed
    assert f"the last good checkpoint is {run}/checkpoints/step-00000002; free some space on that disk (or pass " \
           "a --runs_dir on a larger one), " in line
    assert line.endswith(f"then resume with: snowgan --mode train --resume {run}") and "Traceback" not in out
    assert line in (run / "log.txt").read_text()
    assert sorted(p.name for p in (run / "checkpoints").iterdir()) == ["step-00000000", "step-00000002"]
    ckpt.validate(run / "checkpoints" / "step-00000002")

    monkeypatch.setattr(ckpt, "save_tensors", real_save)  # space freed
    assert _train_here(tmp_path, *args, "--steps", "6", "--resume", str(run)) == 0
    assert "resumed from step-00000002" in capsys.readouterr().out
    assert _train_here(tmp_path, *args, "--steps", "6", "--name", "alone") == 0
    assert _same(run / "checkpoints" / "step-00000006",
                 _run_dir(tmp_path / "runs", "alone") / "checkpoints" / "step-00000006")


def test_full_disk_at_a_sample_grid_is_said_once_and_training_goes_on(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture, in_process: None) -> None:
    def no_space(*a, **kw):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(loop, "save_grid", no_space)
    monkeypatch.setattr("snowgan.diskspace.free_bytes", lambda path: 10_000)
    assert _train_here(tmp_path, "--steps", "12", "--checkpoint_every", "4", "--name", "s") == 0
    out = capsys.readouterr().out
    run = _run_dir(tmp_path / "runs", "s")
    # The start-of-run estimate: kept checkpoints + grids + logs against 9.8 KiB free.
    (warning,) = [x for x in out.splitlines() if x.startswith("warning:") and "free" in x]
    assert f"{run} is on a disk with 9.8 KiB free, but this run will write about " in warning
    assert "4 checkpoints of " in warning and "4 sample grids" in warning
    notes = [x for x in out.splitlines() if x.startswith("note: could not write the sample grid")]
    assert len(notes) == 1 and f"{run}/samples/step-00000004.png: no space left on device" in notes[0]
    assert "training goes on" in notes[0] and "done: 12 steps" in out
    assert not (run / "samples" / "index.jsonl").exists()
    assert [p.name for p in ckpt.checkpoint_dirs(run)][-1] == "step-00000012"


@pytest.mark.slow
def test_a_real_full_disk_stops_at_the_checkpoint_and_resumes_after_space_is_freed(workdir: Path,
                                                                                  small_disk: Path) -> None:
    args = ["--mode", "train", *FAST, "--runs_dir", small_disk / "runs", "--checkpoint_every", "2", "--name", "t"]
    run_cli(*args, "--steps", "2", cwd=workdir)
    run = _run_dir(small_disk / "runs", "t")
    filler = fill_disk(small_disk, leave=48 << 10)  # room for log lines, not for a checkpoint
    p = run_cli(*args, "--steps", "4", cwd=workdir, check=False)
    assert p.returncode == 3, p.stdout + p.stderr
    # The real error, from safetensors' Rust writer: "... (os error 28)", recognised and said plainly.
    (line,) = [x for x in p.stdout.splitlines() if "could not write checkpoint" in x]
    assert f"{run}/checkpoints/step-00000004: no space left on device" in line
    assert f"the last good checkpoint is {run}/checkpoints/step-00000002" in line and "Traceback" not in p.stderr
    assert sorted(x.name for x in (run / "checkpoints").iterdir()) == ["step-00000000", "step-00000002"]
    filler.unlink()
    p = run_cli(*args, "--steps", "4", cwd=workdir)
    assert "resumed from step-00000002" in p.stdout
    ckpt.validate(run / "checkpoints" / "step-00000004")


@pytest.mark.slow
def test_a_read_only_runs_folder_is_one_line_and_exit_3(workdir: Path, tmp_path: Path) -> None:
    """Read-only: a remounted tmpfs as root (root ignores file modes), chmod 555 otherwise."""
    disk = tmp_path / "ro"
    disk.mkdir()
    as_root = os.geteuid() == 0
    if as_root and subprocess.run(["mount", "-t", "tmpfs", "-o", "size=8m", "tmpfs", str(disk)],
                                  capture_output=True).returncode != 0:
        pytest.skip("cannot mount a tmpfs to make read-only")
    args = ["--mode", "train", *FAST, "--runs_dir", disk / "runs", "--name", "r"]
    try:
        run_cli(*args, "--steps", "2", cwd=workdir)
        run = _run_dir(disk / "runs", "r")
        if as_root:
            subprocess.run(["mount", "-o", "remount,ro", str(disk)], check=True)
        else:
            for folder in (disk / "runs", run):
                folder.chmod(0o555)
        reason = "read-only file system" if as_root else "permission denied"
        for extra in (["--steps", "4"], ["--steps", "4", "--name", "other"]):  # resume it; start a new one
            p = run_cli(*args, *extra, cwd=workdir, check=False)
            err = [x for x in p.stderr.splitlines() if x.strip()]
            assert p.returncode == 3 and len(err) == 1, p.stdout + p.stderr
            assert err[0].startswith("snowgan: could not create or lock the run folder, ") and reason in err[0]
            assert "make that folder writable (or pass a writable --runs_dir)" in err[0]
        run_cli("--mode", "generate", "--run", run, "--n_samples", "1", "--out", tmp_path / "g", cwd=workdir)
    finally:
        if as_root:
            subprocess.run(["umount", "-l", str(disk)], check=True)
        else:
            for folder in (disk / "runs", *(disk / "runs").iterdir()):
                folder.chmod(0o755)


# ---- data faults not covered by the data tests -----------------------------------------------

def test_an_interrupted_prepare_leaves_no_cache_and_the_next_one_prepares_again(
        workdir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from snowgan.data import cache
    from snowgan.data.prepare import cache_root, prepare_dataset

    data = write_image_folder(workdir / "d", n=8)
    cfg, _ = parse_args(["--mode", "prepare", "--data", str(data), "--image_size", "16", "--workers", "1"])
    real_append = cache.NpyWriter.append

    def interrupted(self, image):
        if self.n == 3:
            raise KeyboardInterrupt  # Ctrl-C half-way through the images
        real_append(self, image)

    monkeypatch.setattr(cache.NpyWriter, "append", interrupted)
    with pytest.raises(KeyboardInterrupt):
        prepare_dataset(cfg, progress="none")
    assert not list(cache_root(cfg).glob("*/manifest.json")) and not list(cache_root(cfg).glob(".*"))
    monkeypatch.setattr(cache.NpyWriter, "append", real_append)
    ds = prepare_dataset(cfg, progress="none")
    assert len(ds) == 8 and np.asarray(ds.images).shape == (8, 3, 16, 16)


def test_a_zip_member_with_a_bad_crc_is_one_skipped_input(workdir: Path) -> None:
    from snowgan.data.prepare import prepare_dataset

    rng = np.random.default_rng(0)
    with zipfile.ZipFile(workdir / "set.zip", "w", compression=zipfile.ZIP_STORED) as z:
        for i in range(3):
            buf = __import__("io").BytesIO()
            Image.fromarray((rng.random((16, 16, 3)) * 255).astype(np.uint8)).save(buf, "PNG")
            z.writestr(f"img{i}.png", buf.getvalue())
    raw = bytearray((workdir / "set.zip").read_bytes())
    with zipfile.ZipFile(workdir / "set.zip") as z:
        info = z.getinfo("img1.png")
    at = info.header_offset + 30 + len(info.filename) + 200  # a byte inside img1.png's stored data
    raw[at] ^= 0xFF
    (workdir / "set.zip").write_bytes(bytes(raw))
    cfg, _ = parse_args(["--mode", "prepare", "--data", str(workdir / "set.zip"), "--image_size", "16",
                         "--workers", "1", "--max_bad_fraction", "0.5"])
    ds = prepare_dataset(cfg, progress="none")
    assert len(ds) == 2 and len(ds.skipped) == 1
    name, reason = ds.skipped[0]
    assert name == "img1.png" and "Bad CRC-32" in reason


def test_full_disk_while_preparing_the_dataset_is_one_line_exit_3_and_no_run_folder(
        workdir: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture, in_process: None) -> None:
    from snowgan.data import cache
    from snowgan.data.prepare import cache_root

    data = write_image_folder(workdir / "d", n=8)

    def no_space(self, image):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(cache.NpyWriter, "append", no_space)
    assert _train_here(workdir, "--data", str(data), "--workers", "1", "--steps", "2", "--name", "p") == 3
    err = [x for x in capsys.readouterr().err.splitlines() if x.startswith("snowgan:")]
    root = cache_root(parse_args(["--data", str(data)])[0])
    assert len(err) == 1 and err[0].startswith(f"snowgan: could not set up the run, {root}: no space left on device (")
    assert err[0].endswith("free some space on that disk (or pass a --cache_dir on a larger one), "
                           "then run the same command again")
    assert not list((workdir / "runs").iterdir())  # the new run that never started is gone
    assert not [p for p in root.iterdir() if p.is_dir()]  # and nothing half-prepared stays in the cache


def test_a_full_disk_in_any_command_is_one_line_and_exit_3(monkeypatch, capsys, tmp_path) -> None:
    """generate/export/evaluate/report write through the same CLI: ENOSPC becomes one line, exit 3."""
    import errno

    from snowgan import cli

    def full(argv):
        raise OSError(errno.ENOSPC, "No space left on device", str(tmp_path / "out.png"))

    monkeypatch.setattr(cli, "run", full)
    assert cli.main(["generate", "--out", str(tmp_path / "out.png")]) == 3
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "no space left on device" in err[0] and "out.png" in err[0] and "--out" in err[0]
