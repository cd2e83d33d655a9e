"""Crash-safe, validated, pickle-free checkpoints.

A checkpoint is a folder ``checkpoints/step-00001000/`` holding

- ``model.safetensors``  G, D and the EMA generator (prefixes ``G.``, ``D.``, ``G_ema.``)
- ``state.safetensors``  every other tensor: optimizer moments, RNG states, scaler, ...
- ``state.json``         everything that is not a tensor (counters, optimizer settings,
                         the resolved config) with references into state.safetensors
- ``manifest.json``      size and SHA-256 of the three files above, written last

It is written into ``step-00001000.tmp/``: each file flushed and fsynced, then the
folder renamed into place and the parent fsynced, so a crash leaves either the old set
of checkpoints or the new one, never a half-written folder under a real name. The
loader checks the manifest and, when the newest checkpoint is truncated or corrupt,
falls back to the one before and says so. Nothing is unpickled.
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Optional

import numpy as np
import torch
from safetensors.torch import load_file

from ..files import sha256_file
from ..tensorfile import save_tensors

FORMAT = 1
FILES = ("model.safetensors", "state.safetensors", "state.json")


class CheckpointError(RuntimeError):
    """A checkpoint folder failed validation."""


# ---- nested state <-> (tensors, JSON skeleton) ---------------------------------------

def flatten_state(obj: Any, tensors: dict[str, torch.Tensor], prefix: str = "s") -> Any:
    """Replace every tensor/ndarray in a nested structure by a reference; collect the tensors.

    Dict keys keep their type (optimizer states use int keys), tuples stay tuples.
    """
    if isinstance(obj, torch.Tensor):
        key = prefix
        tensors[key] = obj.detach().to("cpu").contiguous().clone()
        return {"__tensor__": key}
    if isinstance(obj, np.ndarray):
        tensors[prefix] = torch.from_numpy(np.ascontiguousarray(obj)).clone()
        return {"__ndarray__": prefix}
    if isinstance(obj, dict):
        return {"__dict__": [[k, flatten_state(v, tensors, f"{prefix}.{k}")] for k, v in obj.items()]}
    if isinstance(obj, (list, tuple)):
        items = [flatten_state(v, tensors, f"{prefix}.{i}") for i, v in enumerate(obj)]
        return {"__tuple__": items} if isinstance(obj, tuple) else items
    if isinstance(obj, (np.integer, np.floating)):
        return obj.item()
    if obj is None or isinstance(obj, (bool, int, float, str)):
        return obj
    raise TypeError(f"cannot checkpoint a value of type {type(obj).__name__}")


def unflatten_state(obj: Any, tensors: dict[str, torch.Tensor]) -> Any:
    if isinstance(obj, dict):
        if "__tensor__" in obj:
            return tensors[obj["__tensor__"]]
        if "__ndarray__" in obj:
            return tensors[obj["__ndarray__"]].numpy()
        if "__tuple__" in obj:
            return tuple(unflatten_state(v, tensors) for v in obj["__tuple__"])
        if "__dict__" in obj:
            return {k: unflatten_state(v, tensors) for k, v in obj["__dict__"]}
        return {k: unflatten_state(v, tensors) for k, v in obj.items()}
    if isinstance(obj, list):
        return [unflatten_state(v, tensors) for v in obj]
    return obj


# ---- writing -------------------------------------------------------------------------

def _fsync_file(path: Path) -> None:
    with open(path, "rb+") as f:
        os.fsync(f.fileno())


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:  # pragma: no cover - platforms without directory fds
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_checkpoint(dest: Path, networks: dict[str, dict[str, torch.Tensor]], state: dict[str, Any],
                     milestone: bool = False) -> Path:
    """Atomically write a checkpoint folder at ``dest`` (replacing an existing one there).

    milestone: mark it as a permanent snapshot that prune() never deletes.
    networks: {"G": state_dict, "D": ..., "G_ema": ...}; state: any nested structure of
    tensors, arrays and JSON values (optimizers, counters, RNG, config).
    """
    dest = Path(dest)
    tmp = dest.with_name(dest.name + ".tmp")
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir(parents=True)
    model = {f"{net}.{k}": v.detach().to("cpu").contiguous() for net, sd in networks.items() for k, v in sd.items()}
    save_tensors(model, str(tmp / "model.safetensors"), metadata={"format": str(FORMAT)})
    tensors: dict[str, torch.Tensor] = {}
    skeleton = flatten_state(state, tensors)
    save_tensors(tensors, str(tmp / "state.safetensors"))
    (tmp / "state.json").write_text(json.dumps({"format": FORMAT, "state": skeleton}), encoding="utf-8")
    manifest = {"format": FORMAT, "files": {}}
    for name in FILES:
        _fsync_file(tmp / name)
        manifest["files"][name] = {"size": (tmp / name).stat().st_size, "sha256": sha256_file(tmp / name)}
    (tmp / "manifest.json").write_text(json.dumps(manifest, indent=1), encoding="utf-8")
    if milestone:  # marker inside the folder before the rename, so pruning can never race it
        (tmp / "MILESTONE").write_text("kept permanently\n", encoding="utf-8")
    _fsync_file(tmp / "manifest.json")
    _fsync_dir(tmp)
    if dest.exists():
        # Replacing (e.g. 'best'): move the old one aside first so a crash keeps one valid copy.
        old = dest.with_name(dest.name + ".old")
        if old.exists():
            shutil.rmtree(old)
        dest.rename(old)
        tmp.rename(dest)
        shutil.rmtree(old)
    else:
        tmp.rename(dest)
    _fsync_dir(dest.parent)
    return dest


# ---- reading -------------------------------------------------------------------------

def validate(path: Path) -> None:
    """Raise CheckpointError unless every file matches the manifest's size and hash."""
    mpath = path / "manifest.json"
    if not mpath.is_file():
        raise CheckpointError(f"{path}: no manifest.json (incomplete write)")
    try:
        manifest = json.loads(mpath.read_text(encoding="utf-8"))
        files = manifest["files"]
    except (ValueError, KeyError) as e:
        raise CheckpointError(f"{path}: unreadable manifest ({e})") from None
    for name in FILES:
        f = path / name
        if name not in files or not f.is_file():
            raise CheckpointError(f"{path}: {name} missing")
        if f.stat().st_size != files[name]["size"]:
            raise CheckpointError(f"{path}: {name} is {f.stat().st_size} bytes, expected {files[name]['size']} (truncated?)")
        if sha256_file(f) != files[name]["sha256"]:
            raise CheckpointError(f"{path}: {name} does not match its hash (corrupted)")


@dataclass
class Checkpoint:
    path: Path
    networks: dict[str, dict[str, torch.Tensor]]
    state: dict[str, Any]

    @property
    def step(self) -> int:
        return int(self.state["counters"]["step"])


def read_checkpoint(path: Path, map_location: str | torch.device = "cpu", validated: bool = False) -> Checkpoint:
    """Load a checkpoint folder (validating it first unless told it already was)."""
    path = Path(path)
    if not validated:
        validate(path)
    flat = load_file(str(path / "model.safetensors"), device=str(map_location))
    networks: dict[str, dict[str, torch.Tensor]] = {}
    for key, value in flat.items():
        net, _, name = key.partition(".")
        networks.setdefault(net, {})[name] = value
    tensors = load_file(str(path / "state.safetensors"), device="cpu")
    skeleton = json.loads((path / "state.json").read_text(encoding="utf-8"))["state"]
    return Checkpoint(path, networks, unflatten_state(skeleton, tensors))


def checkpoint_dirs(run_dir: Path) -> list[Path]:
    """Regular checkpoints step-*, oldest first (no .tmp/.old leftovers, no 'best')."""
    root = Path(run_dir) / "checkpoints"
    if not root.is_dir():
        return []
    dirs = [p for p in root.iterdir() if p.is_dir() and p.name.startswith("step-") and p.name[5:].isdigit()]
    return sorted(dirs, key=lambda p: int(p.name[5:]))


def latest_valid(run_dir: Path, warn: Callable[[str], None] = print) -> Optional[Path]:
    """Newest checkpoint that validates; reports each newer one that did not."""
    for path in reversed(checkpoint_dirs(run_dir)):
        try:
            validate(path)
            return path
        except CheckpointError as e:
            warn(f"warning: skipping damaged checkpoint: {e}; falling back to the previous one")
    return None


def is_milestone(path: Path) -> bool:
    return (path / "MILESTONE").is_file()


def prune(run_dir: Path, keep: int) -> None:
    """Delete all but the newest `keep` regular checkpoints (milestones and best are kept).

    Called only after the newest checkpoint has been written and validated. Also clears
    leftovers of interrupted writes.
    """
    root = Path(run_dir) / "checkpoints"
    for leftover in list(root.glob("*.tmp")) + list(root.glob("*.old")):
        shutil.rmtree(leftover, ignore_errors=True)
    regular = [p for p in checkpoint_dirs(run_dir) if not is_milestone(p)]
    for old in regular[:-keep] if keep > 0 else []:
        shutil.rmtree(old, ignore_errors=True)


# ---- loading a trained run for sampling / evaluation ---------------------------------

@dataclass
class LoadedRun:
    """A trained run's networks, ready to sample: G is the EMA generator, both in eval mode."""

    cfg: Any
    G: torch.nn.Module
    D: torch.nn.Module
    step: int
    kimg: float
    path: Path


def best_metric_of(run_dir: Path) -> str:
    """The metric that chose a run's best checkpoint, as its metrics.jsonl records it."""
    from ..files import read_jsonl

    names = [r.get("best_metric") for r in read_jsonl(Path(run_dir) / "metrics.jsonl")]
    return next((n for n in reversed(names) if isinstance(n, str)), "the tracked metric")


def pick_checkpoint(run_dir: Path, which: str = "auto", warn: Callable[[str], None] = print) -> tuple[Path, str]:
    """(checkpoint folder, why) for which = auto | best | latest | a step number."""
    from ..config import ConfigError

    best = Path(run_dir) / "checkpoints" / "best"
    if which in ("auto", "best") and best.is_dir():
        try:
            validate(best)
            return best, f"best checkpoint (by {best_metric_of(Path(run_dir))})"
        except CheckpointError as e:
            if which == "best":
                raise ConfigError(f"--checkpoint best: {e}") from None
            warn(f"warning: {e}; using the latest checkpoint instead")
    if which == "best":
        raise ConfigError(f"{run_dir} has no best checkpoint (train with --metrics_every to keep one)")
    if which.isdigit():
        path = Path(run_dir) / "checkpoints" / f"step-{int(which):08d}"
        if not path.is_dir():
            steps = [int(p.name[5:]) for p in checkpoint_dirs(Path(run_dir))]
            have = f"the steps kept are {', '.join(map(str, steps))}" if steps else "it has no checkpoint yet"
            raise ConfigError(f"--checkpoint {which}: run {Path(run_dir).name} has no checkpoint at step {int(which)}; "
                              f"{have} (or use best, latest)")
        validate(path)
        return path, f"checkpoint at step {int(which)}"
    path = latest_valid(Path(run_dir), warn=warn)
    if path is None:
        raise ConfigError(f"{run_dir} has no valid checkpoint yet; train longer or resume it")
    return path, "latest checkpoint" + (" (no best checkpoint kept)" if which == "auto" else "")


def load_run(run_dir: Path, which: str = "auto", device: str | torch.device = "cpu",
             warn: Callable[[str], None] = print) -> LoadedRun:
    """Rebuild the networks of a run from its checkpoint (no pickle), on `device`."""
    from ..config import Config
    from ..models.registry import build_networks

    path, why = pick_checkpoint(Path(run_dir), which, warn)
    c = read_checkpoint(path, map_location="cpu", validated=True)
    cfg = Config.from_dict(c.state["config"])
    G, D = build_networks(cfg)
    G.load_state_dict(c.networks["G_ema"])
    D.load_state_dict(c.networks["D"])
    counters = c.state["counters"]
    loaded = LoadedRun(cfg, G.to(device).eval(), D.to(device).eval(), int(counters["step"]),
                       counters["images_seen"] / 1000, path)
    loaded.why = why  # type: ignore[attr-defined]
    return loaded
