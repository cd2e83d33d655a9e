"""Every bench script still imports, and the measurement helpers that are not one-line calls are right.

Benches run by hand, rarely: bench/fid_noise_floor.py imported ``load_dataset`` from a module it
had left and failed only when someone next measured. Importing each script (its ``main`` is not
run) catches that class of breakage.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType, SimpleNamespace

import numpy as np
import pytest
import torch

BENCH = Path(__file__).resolve().parents[1] / "bench"
sys.path.insert(0, str(BENCH))  # scripts import their neighbours (plain_reference, train_throughput)


def _load(path: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"bench_{path.stem}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)  # type: ignore[union-attr]
    return module


@pytest.mark.parametrize("path", sorted(BENCH.glob("*.py")), ids=lambda p: p.name)
def test_bench_script_imports(path: Path) -> None:
    module = _load(path)
    assert module.__doc__, f"{path.name} says what it measures"


def test_recompute_bn_averages_the_batch_statistics_under_the_given_weights() -> None:
    from snowgan.config import Config
    from snowgan.models.registry import build_networks

    cfg = Config()
    cfg.model.arch, cfg.data.image_size, cfg.model.g_width, cfg.model.latent_dim = "projected", "16", 4, 8
    G, _ = build_networks(cfg)
    G.eval()
    bn = next(m for m in G.modules() if isinstance(m, torch.nn.BatchNorm2d))
    before = bn.running_mean.clone()
    inputs: list[torch.Tensor] = []
    bench = _load(BENCH / "ema_bn_eval.py")
    hook = bn.register_forward_hook(lambda m, i, o: inputs.append(i[0].detach()))
    new = bench.recompute_bn(G, batches=3, batch=4, seed=5)  # the copy carries the hook: it records
    hook.remove()
    new_bn = next(m for m in new.modules() if isinstance(m, torch.nn.BatchNorm2d))
    assert len(inputs) == 3 and not new.training
    expected = torch.stack([x.mean(dim=(0, 2, 3)) for x in inputs]).mean(dim=0)
    torch.testing.assert_close(new_bn.running_mean, expected, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(bn.running_mean, before)  # the original is left as it was


def test_drop_class_costs_most_for_the_class_unlike_the_others(capsys) -> None:
    bench = _load(BENCH / "fid_noise_floor.py")
    rng = np.random.default_rng(0)
    centres = np.zeros((3, 16))
    centres[2, 0] = 6.0  # class "far" sits apart from the two that overlap
    labels = np.repeat(np.arange(3), 60)
    feats = centres[labels] + rng.normal(size=(180, 16))
    bench.drop_class(feats, SimpleNamespace(labels=labels, class_names=["a", "b", "far"]), n=90)
    kid = {line.split()[1]: float(line.split("KID ")[1].split()[0]) for line in capsys.readouterr().out.splitlines()
           if line.startswith("  without ")}
    assert set(kid) == {"a", "b", "far"}
    assert kid["far"] > 5 * max(kid["a"], kid["b"])


def test_a_bare_results_name_lands_in_bench_results_and_a_path_stays_as_given(tmp_path: Path, capsys) -> None:
    bench = _load(BENCH / "resultfile.py")
    assert bench.results_path("results-x.json") == BENCH / "results" / "results-x.json"
    written = bench.write_results(tmp_path / "sub" / "r.json", {"a": 1})
    assert written == tmp_path / "sub" / "r.json" and written.read_text(encoding="utf-8") == '{\n  "a": 1\n}\n'
    assert str(written) in capsys.readouterr().out
    assert not list(BENCH.glob("results-*.json")), "bench results go under bench/results/"
