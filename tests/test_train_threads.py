"""Thread choice on CPU (train/device.py): cores that other work keeps busy are left out."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest
import torch

from snowgan.train.device import busy_cpus, configure_threads


@pytest.mark.skipif(not (hasattr(os, "sched_getaffinity") and os.path.exists("/proc/stat")),
                    reason="needs Linux /proc/stat and CPU affinity")
def test_busy_cpus_sees_a_spinning_process() -> None:
    cpu = min(os.sched_getaffinity(0))
    spin = subprocess.Popen([sys.executable, "-c", f"import os; os.sched_setaffinity(0, {{{cpu}}})\nwhile True: pass"])
    try:
        time.sleep(0.3)  # past the interpreter's start-up
        busy = busy_cpus({cpu}, seconds=0.5)
    finally:
        spin.kill()
        spin.wait()
    assert 0.8 <= busy <= 1.0


def test_omp_num_threads_is_respected(monkeypatch: pytest.MonkeyPatch) -> None:
    before = torch.get_num_threads()
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    assert configure_threads(torch.device("cpu")) == f"{before} threads"
    assert torch.get_num_threads() == before


_FAULTS = """
import resource, sys, torch
from snowgan.train.device import keep_freed_memory
said = keep_freed_memory() if sys.argv[1] == "keep" else ""
for _ in range(10):  # 64 MB each: above glibc's largest dynamic mmap threshold. The kept heap
    torch.empty(16 << 20).fill_(1.0)  # settles after a few (aligned blocks leave gaps at first)
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(5):
    torch.empty(16 << 20).fill_(1.0)
print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before, said or "-")
"""


def _faults(mode: str, **env: str) -> tuple[str, int]:
    out = subprocess.run([sys.executable, "-c", _FAULTS, mode], capture_output=True, text=True, check=True,
                         env={**os.environ, **env}).stdout.strip()
    faults, said = out.split(" ", 1)
    return said, int(faults)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc malloc only")
def test_large_tensors_are_reused_instead_of_faulted_in_again() -> None:
    """Five 64 MB allocations: ~16,000 page faults each from a fresh mmap, ~none from the kept heap."""
    said, kept = _faults("keep")
    _, default = _faults("default")
    if default < 5 * 1000:
        pytest.skip(f"this kernel backs fresh maps with huge pages ({default} faults): nothing to compare")
    assert said == "freed memory kept for reuse"
    assert kept < default / 20


def test_a_users_own_malloc_tuning_is_left_alone() -> None:
    said, _ = _faults("keep", GLIBC_TUNABLES="glibc.malloc.mmap_threshold=131072")
    assert said == "-"
