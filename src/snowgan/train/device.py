"""Device, precision and thread choices, stated once at the start of a run."""

from __future__ import annotations

import contextlib
import ctypes
import os
import sys
import time
from dataclasses import dataclass
from typing import Optional

import torch

from ..config import ConfigError


def cpu_has_fast_bf16() -> bool:
    """True on CPUs with AMX tiles or AVX512-BF16, where bf16 matrix work beats fp32."""
    cpu = torch.cpu
    for probe in ("_is_amx_tile_supported", "_is_avx512_bf16_supported"):
        fn = getattr(cpu, probe, None)
        if fn is not None:
            try:
                if fn():
                    return True
            except RuntimeError:  # pragma: no cover
                pass
    return False


@dataclass
class Precision:
    """How the networks run: autocast dtype (None = fp32) and whether fp16 needs a grad scaler."""

    name: str
    dtype: Optional[torch.dtype]
    use_scaler: bool
    why: str
    # CPU bf16 only: route convolutions through train/cpu_conv.py (weight gradients as GEMMs).
    gemm_conv_grads: bool = False

    def autocast(self, device: torch.device) -> contextlib.AbstractContextManager:
        if self.dtype is None:
            return contextlib.nullcontext()
        ac = torch.autocast(device_type=device.type, dtype=self.dtype)
        if not (self.gemm_conv_grads and device.type == "cpu"):
            return ac
        from .cpu_conv import fast_bf16_convs

        stack = contextlib.ExitStack()
        stack.enter_context(ac)
        stack.enter_context(fast_bf16_convs())
        return stack


def cpu_has_amx() -> bool:
    fn = getattr(torch.cpu, "_is_amx_tile_supported", None)
    try:
        return bool(fn and fn())
    except RuntimeError:  # pragma: no cover
        return False


def pick_precision(requested: str, device: torch.device) -> Precision:
    if requested == "auto":
        if device.type == "cpu":
            if cpu_has_fast_bf16():
                units = "AMX" if cpu_has_amx() else "AVX512-BF16, no AMX"
                return _cpu_bf16(f"auto: this CPU has bf16 matrix instructions ({units})")
            return Precision("fp32", None, False, "auto: this CPU has no fast bf16")
        if device.type == "cuda":
            if torch.cuda.is_bf16_supported():
                return Precision("bf16", torch.bfloat16, False, "auto: GPU supports bf16 (no loss scaling needed)")
            return Precision("fp16", torch.float16, True, "auto: GPU without bf16, fp16 with loss scaling")
        return Precision("fp32", None, False, f"auto: fp32 on {device.type}")
    if requested == "fp32":
        return Precision("fp32", None, False, "requested")
    if requested == "bf16":
        if device.type == "cpu":
            return _cpu_bf16("requested")
        return Precision("bf16", torch.bfloat16, False, "requested")
    if device.type == "cpu":
        raise ConfigError("--precision fp16 is not supported on CPU; use bf16 or fp32")
    return Precision("fp16", torch.float16, device.type == "cuda", "requested")


def _cpu_bf16(why: str) -> Precision:
    """bf16 autocast on CPU; without AMX, oneDNN's bf16 conv weight-gradient kernel is slow
    (see train/cpu_conv.py), so convolutions then compute it as a GEMM instead."""
    gemm = not cpu_has_amx()
    return Precision("bf16", torch.bfloat16, False, why + ("; conv weight gradients as bf16 GEMMs" if gemm else ""),
                     gemm_conv_grads=gemm)


def busy_cpus(cpus: set[int], seconds: float = 0.25) -> float:
    """How many of these CPUs other work keeps busy right now (0.0 .. len(cpus)), from /proc/stat.

    Sampled while this process sleeps, so it counts other processes only. 0.0 where
    /proc/stat is unavailable (macOS, Windows).
    """
    def sample() -> dict[int, tuple[int, int]]:
        out = {}
        with open("/proc/stat", encoding="ascii") as f:
            for line in f:
                name, *vals = line.split()
                if name.startswith("cpu") and name[3:].isdigit() and int(name[3:]) in cpus:
                    v = [int(x) for x in vals]
                    idle = v[3] + (v[4] if len(v) > 4 else 0)  # idle + iowait
                    out[int(name[3:])] = (sum(v[:8]), idle)
        return out

    try:
        a = sample()
        time.sleep(seconds)
        b = sample()
    except (OSError, ValueError):
        return 0.0
    busy = 0.0
    for cpu, (total, idle) in b.items():
        if cpu in a and total > a[cpu][0]:
            busy += 1.0 - (idle - a[cpu][1]) / (total - a[cpu][0])
    return max(0.0, busy)


def configure_threads(device: torch.device) -> str:
    """Intra-op threads = the cores this process may use that other work leaves free.

    torch's default can oversubscribe when OMP_NUM_THREADS is unset in containers. And on
    a machine shared with other busy processes, more OpenMP threads than free cores is
    far slower than fewer: every parallel region waits at a barrier for the thread that
    was descheduled (measured: DCGAN-64 at 2 threads on 2 cores with one core busy ran
    at 20 img/s, at 1 thread 113 img/s). So cores that other work keeps busy at start-up
    are left out. OMP_NUM_THREADS, when set, is respected as is.
    """
    if device.type != "cpu" or os.environ.get("OMP_NUM_THREADS"):
        return f"{torch.get_num_threads()} threads"
    try:
        cpus = set(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - macOS
        cpus = set(range(os.cpu_count() or 1))
    n = len(cpus)
    busy = busy_cpus(cpus) if n > 1 else 0.0
    threads = max(1, min(n, round(n - busy)))
    torch.set_num_threads(threads)
    if threads == n:
        return f"{threads} threads"
    return (f"{threads} thread{'s' if threads > 1 else ''} ({n} cores, about {busy:.1f} busy with other work; "
            f"set OMP_NUM_THREADS to choose)")


_KEEP_BYTES = 1 << 30  # glibc's mmap and trim thresholds while training on CPU


def keep_freed_memory() -> str:
    """Let glibc serve large CPU tensors from its heap instead of a fresh mmap per allocation.

    Why: glibc malloc maps every block above its mmap threshold (at most 32 MB with its dynamic
    rule) freshly from the kernel and unmaps it on free, so each large activation, gradient
    or im2col buffer of every iteration is page-faulted in again, one fault per 4 KiB page
    (photos at 64 px: ~36,000 faults per iteration; a 32 MB fill took 11 ms instead of 1.3).
    With both thresholds at 1 GiB, freed blocks stay in the heap for the next iteration:
    tens of faults per iteration, 1.04x per photos iteration and 1.07x per R3GAN one (alternating
    in-process blocks, noisy), the same peak resident memory. It is what jemalloc/tcmalloc preloading gives (PyTorch's CPU tuning
    guide); resident memory stays at the run's peak instead of dipping between steps.

    Linux with glibc only; left alone when the user tunes malloc through the environment
    (GLIBC_TUNABLES, MALLOC_MMAP_THRESHOLD_, MALLOC_TRIM_THRESHOLD_) or preloads an allocator
    (LD_PRELOAD). Returns a few words for the log ("" when nothing was changed).
    """
    env = os.environ
    if (not sys.platform.startswith("linux") or "malloc" in env.get("GLIBC_TUNABLES", "")
            or env.get("MALLOC_MMAP_THRESHOLD_") or env.get("MALLOC_TRIM_THRESHOLD_") or env.get("LD_PRELOAD")):
        return ""
    try:
        libc = ctypes.CDLL("libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):  # musl or another libc
        return ""
    m_trim_threshold, m_mmap_threshold = -1, -3  # glibc's <malloc.h> parameter numbers
    if mallopt(m_mmap_threshold, _KEEP_BYTES) != 1 or mallopt(m_trim_threshold, _KEEP_BYTES) != 1:
        return ""
    return "freed memory kept for reuse"


def set_deterministic(enabled: bool) -> None:
    """This run's --deterministic, both ways: torch's switches are global to the process, and a run
    trained in the same process after a deterministic one (a notebook, in-process tests) must not
    inherit its slower algorithms."""
    if enabled:
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    torch.use_deterministic_algorithms(enabled, warn_only=True)
    torch.backends.cudnn.benchmark = not enabled


def peak_memory_mb(device: torch.device) -> float:
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2 ** 20
    try:
        import resource

        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # KiB on Linux
    except ImportError:  # pragma: no cover - Windows
        return 0.0
