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
