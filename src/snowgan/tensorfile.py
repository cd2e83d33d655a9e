"""Writing safetensors files with the permissions a user expects.

``safetensors.torch.save_file`` creates its file with mode 0600 whatever the umask, so
checkpoints, exported model folders and probe heads were readable by their owner only:
a model folder meant to be shared, or a run folder on a group machine, then needs a manual
``chmod``. Every snowgan writer goes through :func:`save_tensors`, which gives the file the
mode an ordinary ``open(path, "w")`` would (0666 minus the umask).
"""

from __future__ import annotations

import os
from pathlib import Path

import torch
from safetensors.torch import save_file

from .diskspace import writing


def _default_mode() -> int:
    """0o666 minus the process umask (read without changing it for other threads)."""
    try:  # Linux: /proc says it without a set-and-restore race
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return 0o666 & ~int(line.split()[1], 8)
    except OSError:
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return 0o666 & ~mask


def save_tensors(tensors: dict[str, torch.Tensor], path: str | Path,
                 metadata: dict[str, str] | None = None) -> None:
    """Write ``tensors`` to ``path`` as safetensors, with umask-respecting permissions."""
    with writing(path):  # safetensors' own I/O errors name no file
        save_file(tensors, str(path), metadata=metadata)
    os.chmod(path, _default_mode())
