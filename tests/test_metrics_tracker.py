"""MetricTracker: the in-training hook (metrics.jsonl, best tracking, collapse warning, plot, cache)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from snowgan.config import Config, ConfigError
from snowgan.data.prepared import PreparedDataset
from snowgan.metrics.suite import parse_metric_names
from snowgan.metrics.tracker import MetricTracker, choose_best_metric
from metric_fixtures import random_standard_state_dict, scenes


class BankGenerator(nn.Module):
    """A stand-in generator: returns the first B images of a fixed bank for a batch of B latents."""

    def __init__(self, bank: np.ndarray, latent_dim: int = 8) -> None:
        super().__init__()
        self.latent_dim = latent_dim
        self.register_buffer("bank", torch.from_numpy(bank).float() / 127.5 - 1.0)

    def forward(self, z: torch.Tensor, labels=None) -> torch.Tensor:  # the G(z, labels) contract
        return self.bank[: len(z)]


def _setup(tmp_path: Path, metrics: str = "swd,diversity", samples: int = 40) -> tuple[Config, PreparedDataset]:
    cfg = Config()
    cfg.metrics.metrics = metrics
    cfg.metrics.metrics_samples = samples
    cfg.data.cache_dir = str(tmp_path / "cache")
    cfg.run.progress = "none"
    images = scenes(120, 32, seed=11)
    return cfg, PreparedDataset(images=images[:80], fingerprint="test0001", description="scenes")


def test_tracker_quiet_on_real_images_and_warns_on_one_image(tmp_path: Path) -> None:
    cfg, data = _setup(tmp_path)
    held_out = scenes(120, 32, seed=11)[80:]
    tracker = MetricTracker(cfg, data, tmp_path / "run", torch.device("cpu"))
    assert tracker.names == ["swd", "diversity"] and tracker.best_key == "swd"

    good = tracker.measure(BankGenerator(held_out), step=100, kimg=1.6)
    assert tracker.collapse_warning(good) is None
    assert tracker.is_best(good)

    collapsed = tracker.measure(BankGenerator(np.repeat(held_out[:1], 40, axis=0)), step=200, kimg=3.2)
    msg = tracker.collapse_warning(collapsed)
    assert msg is not None and "mode collapse" in msg
    assert collapsed["swd"] > good["swd"] and not tracker.is_best(collapsed)

    lines = [json.loads(x) for x in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert [x["step"] for x in lines] == [100, 200]
    assert "collapse_warning" in lines[1] and "collapse_warning" not in lines[0]
    assert "40 generated vs 40 of 80 real images" in lines[0]["protocol"]["swd"]
    # The report draws metrics.jsonl (plots/metrics.png); the tracker draws no second picture of it.
    assert not (tmp_path / "run" / "metrics.png").exists()

    # A resumed run remembers its best value from metrics.jsonl.
    again = MetricTracker(cfg, data, tmp_path / "run", torch.device("cpu"))
    assert again.best == pytest.approx(good["swd"])
    assert not again.is_best({"swd": good["swd"] + 1.0}) and again.is_best({"swd": good["swd"] - 1.0})


def test_tracker_with_inception_metrics_caches_real_features(tmp_path: Path) -> None:
    weights = tmp_path / "w.pth"
    torch.save(random_standard_state_dict(3), weights)
    cfg, _ = _setup(tmp_path, metrics="fid,kid,pr,dc", samples=6)
    cfg.metrics.inception_weights = str(weights)
    small = PreparedDataset(images=scenes(8, 16, seed=12), fingerprint="tiny0001")
    tracker = MetricTracker(cfg, small, tmp_path / "run", torch.device("cpu"))
    assert tracker.best_key == "kid"  # auto: KID before FID (unbiased at in-training sample counts)
    values = tracker.measure(BankGenerator(scenes(6, 16, seed=13)), step=10, kimg=0.1)
    for key in ("fid", "kid", "kid_std", "precision", "recall", "density", "coverage"):
        assert np.isfinite(values[key])
    cached = list((tmp_path / "cache" / "metrics").glob("tiny0001-inception-*.npz"))
    assert len(cached) == 1
    with np.load(cached[0], allow_pickle=False) as f:
        assert f["value"].shape == (8, 2048)


def test_metric_names_and_best_metric_choices() -> None:
    cpu = torch.device("cpu")
    assert parse_metric_names("auto", cpu) == ["swd", "diversity", "spectrum"]
    assert parse_metric_names("swd, kid,fid", cpu) == ["fid", "kid", "swd"]
    assert parse_metric_names("all", cpu) == ["fid", "kid", "pr", "dc", "swd", "diversity", "spectrum"]
    with pytest.raises(ConfigError, match="--metrics 'fid,is'"):
        parse_metric_names("fid,is", cpu)
    assert choose_best_metric("auto", ["kid", "swd"]) == "kid"
    assert choose_best_metric("auto", ["fid", "kid", "swd"]) == "kid"
    assert choose_best_metric("auto", ["fid", "swd"]) == "fid"
    assert choose_best_metric("auto", ["diversity"]) is None
    assert choose_best_metric("coverage", ["dc"]) == "coverage"
    with pytest.raises(ConfigError, match="add kid to --metrics"):
        choose_best_metric("kid", ["swd"])


class ClassBankGenerator(BankGenerator):
    """A conditional stand-in: image i is class labels[i]'s bank image (dark or bright); keeps the labels asked for."""

    num_classes = 2

    def __init__(self, bank: np.ndarray) -> None:
        super().__init__(bank)
        self.asked: list[int] = []

    def forward(self, z: torch.Tensor, labels=None) -> torch.Tensor:
        self.asked += labels.tolist()
        return torch.where(labels.view(-1, 1, 1, 1) == 0, self.bank[: len(z)] * 0.2, self.bank[: len(z)])


def test_tracker_asks_a_conditional_generator_for_the_data_class_proportions(tmp_path: Path) -> None:
    cfg, data = _setup(tmp_path, metrics="swd")
    data.labels, data.class_names = np.array([0] * 60 + [1] * 20), ["dark", "bright"]
    cfg.model.conditional, cfg.model.class_names = True, "dark,bright"
    G = ClassBankGenerator(scenes(40, 32, seed=3))
    MetricTracker(cfg, data, tmp_path / "run", torch.device("cpu")).measure(G, step=1, kimg=0.1)
    assert np.bincount(G.asked).tolist() == [30, 10]  # 40 samples as 60:20, not every class in turn
    cfg.model.class_names = "other,names"  # a real set whose classes are not the run's: every class in turn
    G.asked = []
    MetricTracker(cfg, data, tmp_path / "run2", torch.device("cpu")).measure(G, step=1, kimg=0.1)
    assert np.bincount(G.asked).tolist() == [20, 20]
