"""Which torch device a command runs on (--device auto|cpu|cuda|mps); training and every command
that uses a trained model ask the same function."""

from __future__ import annotations

import os

import torch

from ..errors import ConfigError


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
