"""torchrun with 2 CPU processes (gloo) matches one process with the same global batch."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from safetensors.torch import load_file

from conftest import cli_env, run_cli, run_cli_here

# No BatchNorm (per-rank statistics would differ from one process by design): WGAN-GP critic,
# InstanceNorm generator, fp32 so the only difference is the order of floating-point sums.
ARGS = ["--image_size", "16", "--builtin_count", "64", "--batch_size", "8", "--g_width", "8", "--d_width", "8",
        "--progress", "lines", "--loss", "wgan-gp", "--g_norm", "instance", "--precision", "fp32",
        "--disc_steps", "2", "--checkpoint_every", "3", "--keep_checkpoints", "5"]


def torchrun(workdir: Path, *args: str, nproc: int = 2) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={nproc}",
           "-m", "snowgan", *args]
    proc = subprocess.run(cmd, cwd=workdir, env=cli_env({"OMP_NUM_THREADS": "1"}), capture_output=True,
                          text=True, timeout=300)
    return proc


def _weights(workdir: Path, name: str, step: int) -> dict:
    (run,) = (workdir / "runs").glob(f"*-{name}")
    ck = run / "checkpoints" / f"step-{step:08d}"
    return {**load_file(str(ck / "model.safetensors")), **load_file(str(ck / "state.safetensors"))}


def _max_diff(a: dict, b: dict) -> float:
    assert a.keys() == b.keys()
    return max(float((a[k].double() - b[k].double()).abs().max()) for k in a if a[k].is_floating_point())


@pytest.mark.slow
def test_two_processes_match_one_and_resume_on_one(workdir: Path) -> None:
    run_cli("--mode", "train", *ARGS, "--steps", "6", "--name", "one", cwd=workdir)
    p = torchrun(workdir, "--mode", "train", *ARGS, "--steps", "6", "--name", "two")
    assert p.returncode == 0, p.stdout + p.stderr
    assert "split over 2 processes" in p.stdout
    one, two = _weights(workdir, "one", 6), _weights(workdir, "two", 6)
    assert not any(k.startswith(("G.module.", "D.module.")) for k in two)  # unwrapped networks
    assert _max_diff(one, two) < 1e-6

    # Resume across world sizes: 2 processes for 3 steps, then 1 process to step 6.
    p = torchrun(workdir, "--mode", "train", *ARGS, "--steps", "3", "--name", "switch")
    assert p.returncode == 0, p.stdout + p.stderr
    run_cli_here("--mode", "train", "--name", "switch", "--steps", "6", cwd=workdir)
    assert _max_diff(one, _weights(workdir, "switch", 6)) < 1e-6


def _start(workdir: Path, *args: str) -> subprocess.Popen:
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
           "-m", "snowgan", *args]
    return subprocess.Popen(cmd, cwd=workdir, env=cli_env({"OMP_NUM_THREADS": "1"}), stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, start_new_session=True)


def _wait_for_stats(workdir: Path, proc: subprocess.Popen) -> Path:
    deadline = time.time() + 120
    while time.time() < deadline:
        stats = list((workdir / "runs").glob("*/stats.jsonl"))
        if stats:
            return stats[0].parent
        assert proc.poll() is None, proc.stdout.read()
        time.sleep(0.1)
    pytest.fail("training did not start")


def _children(pid: int) -> list[int]:
    kids = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    return [int(k) for k in kids]


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/task").is_dir(), reason="needs Linux /proc to find the workers")
def test_a_killed_rank_brings_the_job_down(workdir: Path) -> None:
    proc = _start(workdir, "--mode", "train", *ARGS, "--steps", "100000", "--log_every", "1")
    try:
        _wait_for_stats(workdir, proc)
        workers = _children(proc.pid)
        assert len(workers) == 2
        os.kill(workers[1], signal.SIGKILL)
        out, _ = proc.communicate(timeout=180)  # must end, not hang
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert proc.returncode != 0


@pytest.mark.slow
def test_sigterm_to_the_launcher_checkpoints_once(workdir: Path) -> None:
    proc = _start(workdir, "--mode", "train", *ARGS, "--steps", "100000", "--checkpoint_every", "100000",
                  "--log_every", "1")
    try:
        run = _wait_for_stats(workdir, proc)
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=180)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert "Resume with" in out, out
    steps = sorted(int(p.name[5:]) for p in (run / "checkpoints").glob("step-*"))
    assert len(steps) == 2 and steps[0] == 0 and steps[1] > 0  # step 0 and exactly one at the stop


HOLD_RUN = """
import sys, time
from snowgan.flags import parse_args
from snowgan.train.session import open_session
session = open_session(*parse_args(["--mode", "train", "--name", "busy"]))
print(session.run_dir, flush=True)
time.sleep(600)
"""


@pytest.mark.slow
def test_torchrun_on_a_run_another_process_trains_is_refused_on_every_rank(workdir: Path) -> None:
    """Rank 0 meets the run lock; every rank leaves with it at once instead of waiting in a collective."""
    holder = subprocess.Popen([sys.executable, "-c", HOLD_RUN], cwd=workdir, env=cli_env(), stdout=subprocess.PIPE,
                              text=True)
    try:
        run = Path(holder.stdout.readline().strip())
        p = torchrun(workdir, "--mode", "train", *ARGS, "--steps", "3", "--name", "busy")
    finally:
        holder.kill()
        holder.wait()
    assert p.returncode != 0
    assert p.stderr.count(f"run {run.name} is being trained by pid {holder.pid}") == 1, p.stdout + p.stderr
    assert sorted(x.name for x in (workdir / run).iterdir()) == ["config.json", "train.lock"]
