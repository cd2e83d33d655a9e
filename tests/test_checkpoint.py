"""Checkpoint folders: round trip without pickle, validation, fallback, pruning."""

import time
from pathlib import Path

import numpy as np
import pytest
import torch

from snowgan.config import ConfigError
from snowgan.run import checkpoint as ckpt


def _write(root: Path, step: int, milestone: bool = False) -> Path:
    nets = {"G": {"w": torch.full((2, 3), float(step))}, "D": {"b": torch.arange(4)}}
    opt = torch.optim.Adam([torch.nn.Parameter(torch.ones(3))])
    state = {"counters": {"step": step}, "opt": opt.state_dict(), "tuple": (1, "a", None),
             "int_keys": {3: np.arange(5, dtype=np.uint32)}, "rng": torch.get_rng_state()}
    return ckpt.write_checkpoint(root / "checkpoints" / f"step-{step:08d}", nets, state, milestone=milestone)


def test_round_trip_keeps_types(tmp_path: Path) -> None:
    path = _write(tmp_path, 7)
    c = ckpt.read_checkpoint(path)
    assert c.step == 7
    assert torch.equal(c.networks["G"]["w"], torch.full((2, 3), 7.0))
    assert c.state["tuple"] == (1, "a", None)
    assert list(c.state["int_keys"]) == [3] and c.state["int_keys"][3].dtype == np.uint32
    assert torch.equal(c.state["rng"], torch.get_rng_state()) or c.state["rng"].dtype == torch.uint8
    assert not list(path.parent.glob("*.tmp"))


@pytest.mark.parametrize("damage", ["truncate", "flip", "no_manifest"])
def test_damaged_newest_falls_back(tmp_path: Path, damage: str) -> None:
    _write(tmp_path, 1)
    newest = _write(tmp_path, 2)
    f = newest / "state.safetensors"
    if damage == "truncate":
        f.write_bytes(f.read_bytes()[:-10])
    elif damage == "flip":
        data = bytearray(f.read_bytes())
        data[-1] ^= 0xFF
        f.write_bytes(bytes(data))
    else:
        (newest / "manifest.json").unlink()
    with pytest.raises(ckpt.CheckpointError):
        ckpt.validate(newest)
    warnings = []
    assert ckpt.latest_valid(tmp_path, warn=warnings.append).name == "step-00000001"
    assert len(warnings) == 1 and "step-00000002" in warnings[0]


def test_prune_keeps_recent_and_milestones(tmp_path: Path) -> None:
    for step in range(1, 7):
        _write(tmp_path, step, milestone=(step == 2))
    ckpt.prune(tmp_path, keep=2)
    names = [p.name for p in ckpt.checkpoint_dirs(tmp_path)]
    assert names == ["step-00000002", "step-00000005", "step-00000006"]


def test_replacing_a_checkpoint_is_atomic(tmp_path: Path) -> None:
    dest = tmp_path / "checkpoints" / "best"
    ckpt.write_checkpoint(dest, {"G": {"w": torch.zeros(1)}}, {"counters": {"step": 1}})
    ckpt.write_checkpoint(dest, {"G": {"w": torch.ones(1)}}, {"counters": {"step": 2}})
    assert ckpt.read_checkpoint(dest).step == 2
    assert sorted(p.name for p in dest.parent.iterdir()) == ["best"]


def test_unsupported_values_are_rejected_not_pickled(tmp_path: Path) -> None:
    with pytest.raises(TypeError):
        ckpt.write_checkpoint(tmp_path / "c", {}, {"x": object()})


# ---- readers while a trainer writes and prunes; faults in the files -----------------------

def test_prune_renames_before_deleting(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for step in (1, 2, 3):
        _write(tmp_path, step)
    deleted = []
    real_rmtree = ckpt.shutil.rmtree
    monkeypatch.setattr(ckpt.shutil, "rmtree", lambda p, **kw: (deleted.append(Path(p).name), real_rmtree(p, **kw)))
    ckpt.prune(tmp_path, keep=1)
    assert deleted == ["step-00000001.del", "step-00000002.del"]  # never a folder under a step-N name
    assert [p.name for p in (tmp_path / "checkpoints").iterdir()] == ["step-00000003"]


def test_reader_that_loses_the_race_with_prune_reads_the_next_newest(tmp_path: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """The reader picks step 2; while it reads, the trainer writes step 3 and prunes step 2 (keep 1)."""
    _write(tmp_path, 1)
    _write(tmp_path, 2)
    real_read = ckpt._read_verified
    raced = []

    def read_while_training(path: Path) -> dict:
        if path.name == "step-00000002" and not raced:
            raced.append(path)
            first = (path / "model.safetensors").read_bytes()  # the reader is part-way through
            _write(tmp_path, 3)
            ckpt.prune(tmp_path, keep=1)
            assert first and not path.exists()
        return real_read(path)

    monkeypatch.setattr(ckpt, "_read_verified", read_while_training)
    warnings: list[str] = []
    c, why = ckpt.open_checkpoint(tmp_path, "latest", warn=warnings.append)
    assert raced and c.step == 3 and why.startswith("latest") and warnings == []  # not called damaged


def test_reader_never_sees_a_mixed_or_half_pruned_checkpoint(tmp_path: Path) -> None:
    """A trainer thread writes and prunes (keep 1) as fast as it can; every read is whole and consistent."""
    import threading

    _write(tmp_path, 1)
    stop = threading.Event()

    errors: list[BaseException] = []
    written = [1]

    def trainer() -> None:
        step = 2
        try:
            while not stop.is_set():
                # 4 MB per file, so a read takes long enough for prunes and replacements to land in it
                nets = {"G": {"w": torch.full((1024, 1024), float(step))}}
                ckpt.write_checkpoint(tmp_path / "checkpoints" / f"step-{step:08d}", nets, {"counters": {"step": step}})
                ckpt.write_checkpoint(tmp_path / "checkpoints" / "best", nets, {"counters": {"step": step}})
                ckpt.prune(tmp_path, keep=1)
                written.append(step)
                step += 1
        except BaseException as e:  # surfaced below: a thread's exception would otherwise vanish
            errors.append(e)

    thread = threading.Thread(target=trainer)
    thread.start()
    reads = []
    deadline = time.time() + 30
    try:
        while written[-1] < 12 and time.time() < deadline:
            for which in ("latest", "best"):
                try:
                    c, _ = ckpt.open_checkpoint(tmp_path, which, warn=pytest.fail)
                except ConfigError as e:
                    assert "kept changing" in str(e) or "no best" in str(e), e
                    continue
                # model.safetensors and state.json come from the same write: same step in both
                assert float(c.networks["G"]["w"][0, 0]) == c.step
                reads.append(c.step)
    finally:
        stop.set()
        thread.join()
    assert errors == [] and written[-1] >= 12 and len(reads) > 12 and max(reads) > 2, (errors, written, reads)


def test_clear_leftovers_puts_back_an_interrupted_replacement(tmp_path: Path) -> None:
    _write(tmp_path, 1)
    root = tmp_path / "checkpoints"
    best = ckpt.write_checkpoint(root / "best", {"G": {"w": torch.zeros(1)}}, {"counters": {"step": 1}})
    best.rename(root / "best.old")  # killed between 'best -> best.old' and 'best.tmp -> best'
    (root / "best.tmp").mkdir()
    (root / "step-00000002.tmp").mkdir()  # killed mid-write
    (root / "step-00000000.del").mkdir()  # killed mid-prune
    ckpt.clear_leftovers(tmp_path)
    assert sorted(p.name for p in root.iterdir()) == ["best", "step-00000001"]
    assert ckpt.read_checkpoint(root / "best").step == 1


def test_a_pickle_with_a_forged_manifest_is_refused_and_never_unpickled(tmp_path: Path) -> None:
    import hashlib
    import json
    import pickle

    path = _write(tmp_path, 1)
    marker = tmp_path / "unpickled"
    payload = pickle.dumps(_Exploit(str(marker)))
    (path / "model.safetensors").write_bytes(payload)
    manifest = json.loads((path / "manifest.json").read_text())
    manifest["files"]["model.safetensors"] = {"size": len(payload), "sha256": hashlib.sha256(payload).hexdigest()}
    (path / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(ckpt.CheckpointError, match="not a snowgan checkpoint"):
        ckpt.read_checkpoint(path)
    assert not marker.exists()


class _Exploit:
    """Unpickling this would create a file: proof that a checkpoint was unpickled."""

    def __init__(self, path: str) -> None:
        self.path = path

    def __reduce__(self):
        return (Path.touch, (Path(self.path),))


def test_a_full_disk_mid_write_leaves_no_tmp_and_the_earlier_checkpoints_intact(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import errno

    first = _write(tmp_path, 1)
    real_save = ckpt.save_tensors

    def full_after_model(tensors, path, metadata=None):
        if path.endswith("state.safetensors"):  # the model file went through, then the disk filled
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_save(tensors, path, metadata)

    monkeypatch.setattr(ckpt, "save_tensors", full_after_model)
    with pytest.raises(ckpt.CheckpointWriteError) as e:
        _write(tmp_path, 2)
    assert e.value.errno == errno.ENOSPC and e.value.dest.name == "step-00000002" and e.value.needed > 0
    assert [p.name for p in (tmp_path / "checkpoints").iterdir()] == ["step-00000001"]
    ckpt.validate(first)


def test_safetensors_io_errors_are_recognised_by_their_errno() -> None:
    from safetensors import SafetensorError

    from snowgan.diskspace import write_errno

    rust = SafetensorError("Error while serializing: I/O error: No space left on device (os error 28)")
    assert write_errno(rust) == 28
    assert write_errno(SafetensorError("Error while deserializing header: HeaderTooLarge")) is None
    assert write_errno(PermissionError(13, "Permission denied")) == 13
    assert write_errno(FileNotFoundError(2, "nope")) is None
