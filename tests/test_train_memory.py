"""Out-of-memory in training becomes one line of advice and exit code 3 (train/memory.py, commands/train.py)."""

from __future__ import annotations

import signal
from pathlib import Path

import pytest
import torch

from snowgan.flags import parse_args
from snowgan.commands import train as command
from snowgan.train.memory import is_out_of_memory, oom_advice
from snowgan.train.step import GANSteps

TINY = ["--image_size", "16", "--builtin_count", "32", "--batch_size", "8", "--g_width", "8", "--d_width", "8",
        "--progress", "lines", "--log_every", "1", "--sample_every", "100", "--report", "false"]


@pytest.mark.parametrize("exc,expected", [
    (torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB"), True),
    (RuntimeError("[enforce fail at alloc_cpu.cpp:117] DefaultCPUAllocator: not enough memory: you tried to "
                  "allocate 4294967296 bytes."), True),
    (RuntimeError("MPS backend out of memory (MPS allocated: 9 GB)"), True),
    (MemoryError(), True),
    (RuntimeError("mat1 and mat2 shapes cannot be multiplied"), False),
    (ValueError("out of memory"), False),  # only allocator errors count, not any text
])
def test_is_out_of_memory(exc: BaseException, expected: bool) -> None:
    assert is_out_of_memory(exc) is expected


def test_advice_names_batch_accumulation_and_precision() -> None:
    cfg, _ = parse_args(["--batch_size", "64", "--image_size", "64"])
    msg = oom_advice(torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB\nmore"), cfg,
                     torch.device("cpu"), "fp32")
    assert "\n" not in msg
    assert "at the first step" in msg and "system memory" in msg
    assert "--batch_size (e.g. 32)" in msg
    assert "--grad_accum 2" in msg
    assert "--precision bf16" in msg
    assert "Tried to allocate 2.00 GiB" in msg  # the allocator's own first line, for the record


def test_advice_adapts_to_what_is_already_set() -> None:
    cfg, _ = parse_args(["--batch_size", "6", "--grad_accum", "2", "--compile", "true"])
    msg = oom_advice(MemoryError(), cfg, torch.device("cpu"), "bf16", step=40)
    assert "at step 40" in msg
    assert "--grad_accum" not in msg  # 6 is not divisible by 4: no such suggestion
    assert "--precision" not in msg  # already half precision
    assert "--batch_size (e.g. 3)" in msg and "--compile" in msg


def test_training_loop_turns_oom_into_advice_and_exit_3(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                        capsys: pytest.CaptureFixture) -> None:
    """A real run whose third generator step runs out of memory (raised where the allocator would)."""
    monkeypatch.setenv("OMP_NUM_THREADS", str(torch.get_num_threads()))  # leave this process's threads alone
    real_g_step = GANSteps.g_step
    calls = []

    def g_step_out_of_memory(self: GANSteps, batch):
        calls.append(len(batch))
        if len(calls) == 3:
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 512.00 MiB")
        return real_g_step(self, batch)

    monkeypatch.setattr(GANSteps, "g_step", g_step_out_of_memory)
    cfg, explicit = parse_args(["--mode", "train", *TINY, "--steps", "10", "--name", "oom",
                                "--runs_dir", str(tmp_path / "runs"), "--precision", "fp32"])
    handlers = signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)
    code = command.main(cfg, explicit)
    assert code == 3
    # Stopped by an exception inside the loop, the run still hands back the handlers it replaced.
    assert (signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)) == handlers
    out = capsys.readouterr().out
    (line,) = [x for x in out.splitlines() if "out of" in x and "memory" in x]
    assert "at step 2" in line and "--batch_size (e.g. 4)" in line and "--grad_accum 2" in line
    assert "--precision bf16" in line and "Traceback" not in out
    (run,) = (tmp_path / "runs").iterdir()
    assert (run / "checkpoints" / "step-00000000").is_dir()  # the run stays resumable
    assert "out of system memory" in (run / "log.txt").read_text(encoding="utf-8")
