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

Readers (generate, evaluate, report, export) may run while a trainer writes and prunes:
pruning renames a folder to ``step-N.del`` before deleting it, and a reader reads every
file's bytes once, checks them against the manifest it read first, and when the folder
vanished or changed under it (``CheckpointGone``) picks again — the newest one then on disk.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Optional

import torch
from safetensors.torch import load as load_tensor_bytes

from ..diskspace import write_errno
from ..files import json_text, sha256_file
from ..runfolder import RunFolder
from ..tensorfile import save_tensors
from .nested import flatten_state, unflatten_state

FORMAT = 1
FILES = ("model.safetensors", "state.safetensors", "state.json")


# Leftovers of interrupted work inside checkpoints/: a write (.tmp), a replacement (.old), a prune (.del).
LEFTOVER_SUFFIXES = (".tmp", ".old", ".del")
_READ_ATTEMPTS = 5  # a reader re-picks this often when a trainer prunes or replaces under it


class CheckpointError(RuntimeError):
    """A checkpoint folder failed validation."""


class CheckpointGone(CheckpointError):
    """The folder was pruned or replaced while being read: pick again, it is not damaged."""


class CheckpointWriteError(OSError):
    """Writing a checkpoint failed for lack of space or permission; nothing under ``dest`` changed.

    errno and filename as for OSError; ``needed`` is about how many bytes the write needed.
    """

    def __init__(self, code: int, dest: Path, needed: int) -> None:
        super().__init__(code, os.strerror(code), str(dest))
        self.dest, self.needed = Path(dest), needed


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


def _write_files(tmp: Path, model: dict[str, torch.Tensor], tensors: dict[str, torch.Tensor], skeleton: Any,
                 milestone: bool) -> None:
    """The four files into ``tmp``, each fsynced, the manifest last (it vouches for the rest)."""
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir(parents=True)
    save_tensors(model, str(tmp / "model.safetensors"), metadata={"format": str(FORMAT)})
    save_tensors(tensors, str(tmp / "state.safetensors"))
    (tmp / "state.json").write_text(json_text({"format": FORMAT, "state": skeleton}), encoding="utf-8")
    manifest = {"format": FORMAT, "files": {}}
    for name in FILES:
        _fsync_file(tmp / name)
        manifest["files"][name] = {"size": (tmp / name).stat().st_size, "sha256": sha256_file(tmp / name)}
    (tmp / "manifest.json").write_text(json_text(manifest, indent=1), encoding="utf-8")
    if milestone:  # marker inside the folder before the rename, so pruning can never race it
        (tmp / "MILESTONE").write_text("kept permanently\n", encoding="utf-8")
    _fsync_file(tmp / "manifest.json")
    _fsync_dir(tmp)


def write_checkpoint(dest: Path, networks: dict[str, dict[str, torch.Tensor]], state: dict[str, Any],
                     milestone: bool = False) -> Path:
    """Atomically write a checkpoint folder at ``dest`` (replacing an existing one there).

    milestone: mark it as a permanent snapshot that prune() never deletes.
    networks: {"G": state_dict, "D": ..., "G_ema": ...}; state: any nested structure of
    tensors, arrays and JSON values (optimizers, counters, RNG, config). Raises
    CheckpointWriteError (an OSError) when the disk is full or not writable; the
    half-written ``.tmp`` folder is removed and every earlier checkpoint is untouched.
    """
    dest = Path(dest)
    tmp = dest.with_name(dest.name + ".tmp")
    model = {f"{net}.{k}": v.detach().to("cpu").contiguous() for net, sd in networks.items() for k, v in sd.items()}
    tensors: dict[str, torch.Tensor] = {}
    skeleton = flatten_state(state, tensors)
    try:
        _write_files(tmp, model, tensors, skeleton, milestone)
    except BaseException as e:
        # Nothing half-written stays behind (on a full disk that also gives the space back).
        shutil.rmtree(tmp, ignore_errors=True)
        code = write_errno(e) if isinstance(e, Exception) else None
        if code is not None:
            needed = sum(t.numel() * t.element_size() for t in [*model.values(), *tensors.values()])
            raise CheckpointWriteError(code, dest, needed) from e
        raise
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

def _parse_manifest(path: Path, text: bytes) -> dict:
    try:
        files = json.loads(text)["files"]
        return {name: (int(files[name]["size"]), str(files[name]["sha256"])) for name in files}
    except (ValueError, KeyError, TypeError) as e:
        raise CheckpointError(f"{path}: unreadable manifest ({e})") from None


def validate(path: Path) -> None:
    """Raise CheckpointError unless every file matches the manifest's size and hash."""
    mpath = path / "manifest.json"
    if not mpath.is_file():
        raise CheckpointError(f"{path}: no manifest.json (incomplete write)")
    try:
        files = _parse_manifest(path, mpath.read_bytes())
    except FileNotFoundError:
        raise CheckpointGone(f"{path}: removed while being checked") from None
    for name in FILES:
        f = path / name
        if name not in files or not f.is_file():
            raise CheckpointError(f"{path}: {name} missing")
        size, digest = files[name]
        if f.stat().st_size != size:
            raise CheckpointError(f"{path}: {name} is {f.stat().st_size} bytes, expected {size} (truncated?)")
        if sha256_file(f) != digest:
            raise CheckpointError(f"{path}: {name} does not match its hash (corrupted)")


@dataclass
class Checkpoint:
    path: Path
    networks: dict[str, dict[str, torch.Tensor]]
    state: dict[str, Any]

    @property
    def step(self) -> int:
        return int(self.state["counters"]["step"])


def _read_verified(path: Path) -> dict[str, bytes]:
    """Every file's bytes, each checked against the manifest read first: one consistent snapshot.

    Reading bytes once (rather than hashing the files, then loading them) means what is
    loaded is exactly what was checked, even when the folder is replaced in between.
    """
    try:
        manifest = (path / "manifest.json").read_bytes()
    except FileNotFoundError:
        if not path.is_dir():
            raise CheckpointGone(f"{path}: removed before it could be read") from None
        raise CheckpointError(f"{path}: no manifest.json (incomplete write)") from None
    files = _parse_manifest(path, manifest)
    data: dict[str, bytes] = {}
    for name in FILES:
        if name not in files:
            raise CheckpointError(f"{path}: {name} missing from its manifest")
        size, digest = files[name]
        try:
            data[name] = (path / name).read_bytes()
        except FileNotFoundError:
            raise CheckpointError(f"{path}: {name} missing") from None
        if len(data[name]) != size:
            raise CheckpointError(f"{path}: {name} is {len(data[name])} bytes, expected {size} (truncated?)")
        if hashlib.sha256(data[name]).hexdigest() != digest:
            raise CheckpointError(f"{path}: {name} does not match its hash (corrupted)")
    return data


def _manifest_now(path: Path) -> Optional[bytes]:
    try:
        return (path / "manifest.json").read_bytes()
    except OSError:
        return None


def read_checkpoint(path: Path, map_location: str | torch.device = "cpu") -> Checkpoint:
    """Load a checkpoint folder, verified against its manifest; nothing is unpickled.

    Raises CheckpointError when it is damaged, CheckpointGone when it was pruned or
    replaced while being read (the caller may pick again).
    """
    path = Path(path)
    before = _manifest_now(path)
    try:
        data = _read_verified(path)
        try:
            flat = load_tensor_bytes(data["model.safetensors"])
            tensors = load_tensor_bytes(data["state.safetensors"])
            skeleton = json.loads(data["state.json"].decode("utf-8"))["state"]
        except Exception as e:  # e.g. a pickle with a forged manifest: refused, never unpickled
            raise CheckpointError(f"{path}: not a snowgan checkpoint ({type(e).__name__}: {e})") from None
    except CheckpointError:
        if not path.is_dir() or _manifest_now(path) != before:
            raise CheckpointGone(f"{path}: pruned or replaced while being read") from None
        raise
    networks: dict[str, dict[str, torch.Tensor]] = {}
    for key, value in flat.items():
        net, _, name = key.partition(".")
        networks.setdefault(net, {})[name] = value.to(map_location)
    return Checkpoint(path, networks, unflatten_state(skeleton, tensors))


def checkpoint_dirs(run_dir: Path) -> list[Path]:
    """Regular checkpoints step-*, oldest first (no .tmp/.old/.del leftovers, no 'best')."""
    root = RunFolder(run_dir).checkpoint_folder()
    if root is None:
        return []
    dirs = [p for p in root.iterdir() if p.name.startswith("step-") and p.name[5:].isdigit() and p.is_dir()]
    return sorted(dirs, key=lambda p: int(p.name[5:]))


def latest_valid(run_dir: Path, warn: Callable[[str], None] = print) -> Optional[Path]:
    """Newest checkpoint that validates; reports each newer one that did not (not one pruned meanwhile)."""
    for path in reversed(checkpoint_dirs(run_dir)):
        try:
            validate(path)
            return path
        except CheckpointError as e:
            if path.is_dir() and not isinstance(e, CheckpointGone):
                warn(f"warning: skipping damaged checkpoint: {e}; falling back to the previous one")
    return None


def is_milestone(path: Path) -> bool:
    return (path / "MILESTONE").is_file()


def clear_leftovers(run_dir: Path) -> None:
    """Remove what interrupted writes, replacements and prunes left in checkpoints/.

    Only the process holding the run lock may call this (another trainer's ``.tmp`` is
    its work in progress). A replacement killed between its two renames leaves ``X.old``
    and no ``X``: that old copy is the only valid one, so it is put back, not deleted.
    """
    root = RunFolder(run_dir).checkpoint_folder()
    if root is None:
        return
    for p in sorted(root.iterdir()):
        if p.suffix == ".old" and not p.with_suffix("").exists():
            p.rename(p.with_suffix(""))
        elif p.suffix in LEFTOVER_SUFFIXES:
            shutil.rmtree(p, ignore_errors=True)


def prune(run_dir: Path, keep: int) -> None:
    """Delete all but the newest `keep` regular checkpoints (milestones and best are kept).

    Called only after the newest checkpoint has been written and validated. Each folder
    is renamed to ``step-N.del`` first, so a reader sees it whole or not at all, never
    half-deleted. Also clears leftovers of interrupted writes.
    """
    clear_leftovers(run_dir)
    regular = [p for p in checkpoint_dirs(run_dir) if not is_milestone(p)]
    for old in regular[:-keep] if keep > 0 else []:
        doomed = old.with_name(old.name + ".del")
        try:
            old.rename(doomed)
        except FileNotFoundError:
            continue
        shutil.rmtree(doomed, ignore_errors=True)


def best_metric_of(run_dir: Path) -> str:
    """The metric that chose a run's best checkpoint, as its metrics.jsonl records it."""

    names = [r.get("best_metric") for r in RunFolder(run_dir).read_metrics()]
    return next((n for n in reversed(names) if isinstance(n, str)), "the tracked metric")


def _candidates(run_dir: Path, which: str) -> list[tuple[Path, str]]:
    """(folder, why) in the order ``which`` prefers them, as on disk now; not yet validated."""
    from ..config import ConfigError

    root = RunFolder(run_dir).checkpoints
    if which.isdigit():
        path = root / f"step-{int(which):08d}"
        if not path.is_dir():
            steps = [int(p.name[5:]) for p in checkpoint_dirs(Path(run_dir))]
            have = f"the steps kept are {', '.join(map(str, steps))}" if steps else "it has no checkpoint yet"
            raise ConfigError(f"--checkpoint {which}: run {Path(run_dir).name} has no checkpoint at step {int(which)}; "
                              f"{have} (or use best, latest)")
        return [(path, f"checkpoint at step {int(which)}")]
    best = [(root / "best", f"best checkpoint (by {best_metric_of(Path(run_dir))})")] if (root / "best").is_dir() \
        else []
    if which == "best":
        if not best:
            raise ConfigError(f"{run_dir} has no best checkpoint (train with --metrics_every to keep one)")
        return best
    why = "latest checkpoint" + (" (no best checkpoint kept)" if which == "auto" else "")
    latest = [(p, why) for p in reversed(checkpoint_dirs(run_dir))]
    return (best if which == "auto" else []) + latest


def open_checkpoint(run_dir: Path, which: str = "auto", map_location: str | torch.device = "cpu",
                    warn: Callable[[str], None] = print) -> tuple[Checkpoint, str]:
    """Read the checkpoint ``which`` names (auto | best | latest | a step): (checkpoint, why).

    Safe while the run trains: a folder pruned or replaced under the reader is not an
    error, the choice is made again from what is on disk then; a damaged one is reported
    and the next newest is read (except for an explicit step or 'best').
    """
    from ..config import ConfigError

    damaged: set[Path] = set()
    for _ in range(_READ_ATTEMPTS):
        candidates = [c for c in _candidates(Path(run_dir), which) if c[0] not in damaged]
        if not candidates:
            break
        path, why = candidates[0]
        try:
            return read_checkpoint(path, map_location), why
        except CheckpointGone:
            continue
        except CheckpointError as e:
            if which != "auto" and which != "latest":
                raise ConfigError(f"--checkpoint {which}: {e}") from None
            damaged.add(path)
            warn(f"warning: skipping damaged checkpoint: {e}; "
                 + ("using the latest checkpoint instead" if path.name == "best" else "falling back to the previous one"))
    else:
        raise ConfigError(f"{run_dir}: its checkpoints kept changing while being read (is it training with "
                          "--keep_checkpoints 1?); try again, or pass --checkpoint with a milestone's step")
    raise ConfigError(f"{run_dir} has no valid checkpoint yet; train longer or resume it")


def pick_checkpoint(run_dir: Path, which: str = "auto", warn: Callable[[str], None] = print) -> tuple[Path, str]:
    """(checkpoint folder, why) for which = auto | best | latest | a step number, validated."""
    c, why = open_checkpoint(run_dir, which, "cpu", warn)
    return c.path, why
