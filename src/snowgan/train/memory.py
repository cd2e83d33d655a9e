"""Out-of-memory during training, turned into one line of advice instead of a traceback.

The three levers, in the order they usually help: a smaller --batch_size (less memory,
a different batch), --grad_accum (the same batch in micro-batches: activation memory
divided by the factor, arithmetic unchanged), and a lower --precision (bf16/fp16
activations are half the size of fp32 ones).
"""

from __future__ import annotations

import torch

from ..config import Config

# How allocators word it: CUDA/ROCm ("CUDA out of memory"), MPS ("MPS backend out of memory"),
# the CPU allocator ("DefaultCPUAllocator: not enough memory", "can't allocate memory").
_OOM_PHRASES = ("out of memory", "not enough memory", "can't allocate memory", "cannot allocate memory")


def is_out_of_memory(exc: BaseException) -> bool:
    """True for torch.OutOfMemoryError and for the RuntimeError/MemoryError texts of other allocators."""
    if isinstance(exc, (torch.OutOfMemoryError, MemoryError)):
        return True
    return isinstance(exc, RuntimeError) and any(p in str(exc).lower() for p in _OOM_PHRASES)


def _lower_precision(device: torch.device, current: str) -> str | None:
    """A --precision that halves activation memory on this device, or None when already reduced."""
    if current in ("bf16", "fp16"):
        return None
    if device.type == "cpu":
        return "bf16"
    return "bf16" if device.type != "cuda" or torch.cuda.is_bf16_supported() else "fp16"


def oom_advice(exc: BaseException, cfg: Config, device: torch.device, precision: str, step: int = 0) -> str:
    """One line: where memory ran out and which flags to change, with concrete values.

    precision: the precision actually in use ("fp32", "bf16", "fp16"); step: the
    iteration it happened at (0 = the first, i.e. this setting never fit).
    """
    t = cfg.train
    first = str(exc).strip().splitlines()[0][:160] if str(exc).strip() else type(exc).__name__
    tips = []
    if t.batch_size > 1:
        tips.append(f"a smaller --batch_size (e.g. {max(1, t.batch_size // 2)})")
    accum = t.grad_accum * 2
    if t.batch_size % accum == 0:
        tips.append(f"--grad_accum {accum} (same batch of {t.batch_size} in {accum} passes, "
                    f"about 1/{accum} of the activation memory)")
    lower = _lower_precision(device, precision)
    if lower is not None:
        tips.append(f"--precision {lower} (half-size activations)")
    if cfg.train.compile:
        tips.append("dropping --compile")
    when = "at the first step" if step == 0 else f"at step {step}"
    where = f"{device.type} memory" if device.type != "cpu" else "system memory"
    advice = "; or ".join(tips) if tips else "a smaller --image_size or narrower --g_width/--d_width"
    return (f"snowgan: out of {where} {when} (batch {t.batch_size}, precision {precision}, "
            f"{cfg.data.image_size} px): try {advice}. [{first}]")


def release_cached(device: torch.device) -> None:
    """Give cached allocator blocks back after an OOM so the message (and the exit) can proceed."""
    if device.type == "cuda":
        torch.cuda.empty_cache()
