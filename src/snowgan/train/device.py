"""Device, precision and thread choices, stated once at the start of a run."""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass
from typing import Optional

import torch

from ..config import ConfigError


def pick_device(name: str) -> torch.device:
    """auto -> cuda if available, else mps, else cpu. An unavailable explicit choice is an error."""
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda", int(os.environ.get("LOCAL_RANK", 0)))
        if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    if name == "cuda":
        if not torch.cuda.is_available():
            raise ConfigError("--device cuda: no CUDA GPU is visible to torch; use --device cpu or auto")
        return torch.device("cuda", int(os.environ.get("LOCAL_RANK", 0)))
    if name == "mps":
        if not (getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available()):
            raise ConfigError("--device mps: Apple MPS is not available; use --device cpu or auto")
        return torch.device("mps")
    return torch.device("cpu")


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
                return _cpu_bf16("auto: this CPU has bf16 matrix units (AMX/AVX512-BF16)")
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


def configure_threads(device: torch.device) -> str:
    """Intra-op threads = physical cores the process may use (torch's default can oversubscribe
    when OMP_NUM_THREADS is unset in containers); interop kept small so data work does not fight it."""
    if device.type != "cpu" or os.environ.get("OMP_NUM_THREADS"):
        return f"{torch.get_num_threads()} threads"
    try:
        n = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - macOS
        n = os.cpu_count() or 1
    torch.set_num_threads(max(1, n))
    return f"{n} threads"


def set_deterministic(enabled: bool) -> None:
    if enabled:
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        torch.use_deterministic_algorithms(True, warn_only=True)
        torch.backends.cudnn.benchmark = False
    else:
        torch.backends.cudnn.benchmark = True


def peak_memory_mb(device: torch.device) -> float:
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2 ** 20
    try:
        import resource

        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # KiB on Linux
    except ImportError:  # pragma: no cover - Windows
        return 0.0
