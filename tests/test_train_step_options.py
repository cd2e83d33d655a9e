"""Memory/speed options of the training step: --grad_accum and lazy regularisation (--reg_interval)."""

from __future__ import annotations

import json
from pathlib import Path

import torch

from conftest import run_cli
from snowgan.config import Config
from snowgan.data.dataset import Batch
from snowgan.flags import parse_args
from snowgan.models.registry import build_networks
from snowgan.train.device import pick_precision
from snowgan.train.step import GANSteps, prepare_networks

CPU = torch.device("cpu")
# Per-sample layers only (instance norm in G, no norm in D), so a batch split into
# micro-batches computes exactly the same loss as the whole batch. latent 16 x micro-batch 4
# is a multiple of 16 normals: torch's CPU randn then draws the same numbers either way.
SMALL = ["--image_size", "16", "--batch_size", "8", "--g_width", "8", "--d_width", "8", "--latent_dim", "16",
         "--g_norm", "instance", "--d_norm", "none", "--precision", "fp32"]


def _steps(cfg: Config) -> GANSteps:
    torch.manual_seed(0)
    G, D = prepare_networks(cfg, *build_networks(cfg), CPU)
    return GANSteps(cfg, G, D, CPU, pick_precision("fp32", CPU))


def _reals(n: int = 8) -> Batch:
    g = torch.Generator().manual_seed(5)
    return Batch((torch.rand(n, 3, 16, 16, generator=g) * 2 - 1).to(memory_format=torch.channels_last))


def _record_grads(opt: torch.optim.Optimizer, into: list) -> None:
    """Keep copies of the gradients each optimizer step is about to apply."""
    opt.register_step_pre_hook(
        lambda o, args, kwargs: into.append([p.grad.clone() for g in o.param_groups for p in g["params"]]))


def test_grad_accum_gives_the_same_gradients_as_the_whole_batch() -> None:
    results = []
    for accum in (1, 2):
        cfg, _ = parse_args([*SMALL, "--loss", "hinge", "--grad_accum", str(accum)])
        steps = _steps(cfg)
        grads_d, grads_g = [], []
        _record_grads(steps.opt_d, grads_d)
        _record_grads(steps.opt_g, grads_g)
        torch.manual_seed(1)
        ok_d, sd = steps.d_step(_reals(), 0)
        ok_g, sg = steps.g_step(_reals())
        assert ok_d and ok_g
        results.append((sd, sg, grads_d[0], grads_g[0]))
    (sd1, sg1, gd1, gg1), (sd2, sg2, gd2, gg2) = results
    for key in ("loss_d", "d_real", "d_fake"):
        torch.testing.assert_close(sd2[key], sd1[key], rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(sg2["loss_g"], sg1["loss_g"], rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(sd2["real_scores"], sd1["real_scores"], rtol=1e-5, atol=1e-6)
    for a, b in zip(gd2 + gg2, gd1 + gg1):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-6)


def test_lazy_gradient_penalty_runs_every_kth_step_scaled_by_k() -> None:
    def d_step(reg_interval: int, index: int) -> dict:
        cfg, _ = parse_args([*SMALL, "--loss", "wgan-gp", "--reg_interval", str(reg_interval)])
        steps = _steps(cfg)
        torch.manual_seed(2)
        ok, stats = steps.d_step(_reals(), index)
        assert ok
        return stats

    every, lazy_on, lazy_off = d_step(1, 0), d_step(4, 0), d_step(4, 3)
    gp = every["gp"]
    assert gp > 0
    torch.testing.assert_close(lazy_on["gp"], gp)  # same draws, same penalty
    # loss = adversarial + gp_weight * k * GP: the lazy step carries k = 4 times the weight.
    torch.testing.assert_close(lazy_on["loss_d"] - every["loss_d"], 10.0 * 3 * gp, rtol=1e-4, atol=1e-5)
    assert float(lazy_off["gp"]) == 0.0
    torch.testing.assert_close(lazy_off["loss_d"], every["loss_d"] - 10.0 * gp, rtol=1e-4, atol=1e-5)


def test_grad_accum_run_counts_images_of_the_whole_batch(workdir: Path) -> None:
    run_cli("--mode", "train", *SMALL, "--builtin_count", "32", "--grad_accum", "2", "--steps", "4",
            "--log_every", "2", "--sample_every", "4", "--report", "false", "--progress", "none",
            "--name", "acc", cwd=workdir)
    (run,) = (workdir / "runs").iterdir()
    lines = [json.loads(x) for x in (run / "stats.jsonl").read_text(encoding="utf-8").splitlines()]
    # 5 critic steps (the default wgan-gp) x 8 images per iteration, however the batch is split.
    assert [(x["step"], x["kimg"]) for x in lines] == [(2, 0.08), (4, 0.16)]
    assert json.loads((run / "config.json").read_text(encoding="utf-8"))["train"]["grad_accum"] == 2


class _Recorder(torch.nn.Module):
    """A tiny network pair that records the labels (and the batch sizes) it is called with."""

    def __init__(self, kind: str, seen: list) -> None:
        super().__init__()
        self.kind, self.seen = kind, seen
        self.w = torch.nn.Parameter(torch.ones(()))
        self.latent_dim = 4
        self.blocks = torch.nn.ModuleList()

    def forward(self, x: torch.Tensor, labels=None) -> torch.Tensor:
        self.seen.append((self.kind, None if labels is None else labels.tolist()))
        if self.kind == "G":
            return torch.tanh(self.w * x[:, :3, None, None].expand(-1, 3, 2, 2))
        return (x.flatten(1).sum(1) * self.w)


def test_labels_reach_both_phases_and_every_network_call() -> None:
    """Batch labels flow into G (for the fakes) and D (reals, fakes, penalties) in the D and G phases."""
    cfg, _ = parse_args(["--loss", "rpgan", "--image_size", "16", "--latent_dim", "4", "--channels", "3"])
    seen: list = []
    G, D = _Recorder("G", seen), _Recorder("D", seen)
    steps = GANSteps(cfg, G, D, CPU, pick_precision("fp32", CPU))
    batch = Batch(torch.zeros(3, 3, 2, 2), torch.tensor([2, 0, 1]))
    ok_d, _ = steps.d_step(batch, 0)
    d_phase = list(seen)
    seen.clear()
    ok_g, _ = steps.g_step(batch)
    assert ok_d and ok_g
    # D phase: G makes the fakes, D scores reals and fakes (R1/R2 reuse those scores: no extra call).
    assert d_phase == [("G", [2, 0, 1]), ("D", [2, 0, 1]), ("D", [2, 0, 1])]
    # G phase of RpGAN: fakes and the reals they are paired with, all with the batch's labels.
    assert seen == [("G", [2, 0, 1]), ("D", [2, 0, 1]), ("D", [2, 0, 1])]
