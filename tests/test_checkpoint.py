"""Checkpoint folders: round trip without pickle, validation, fallback, pruning."""

from pathlib import Path

import numpy as np
import pytest
import torch

from snowgan.train import checkpoint as ckpt


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
