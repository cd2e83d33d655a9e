"""models/layers.leaky_relu: F.leaky_relu's values and derivatives of every order, minus the zero-filling.

float64 gradcheck/gradgradcheck prove the hand-written derivatives (out of place and in
place, where a kink is never sampled); the profiler test is the reason the function
exists: an R1-style double backward through F.leaky_relu fills a zeros tensor per layer,
through ours none. The discriminators that carry gradient penalties must use it.
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.profiler import ProfilerActivity, profile

from snowgan.config import Config
from snowgan.models.layers import LeakyReLU, leaky_relu
from snowgan.models.registry import build_networks


def _away_from_kink(shape: tuple[int, ...], seed: int) -> torch.Tensor:
    """float64 values with |x| >= 0.1, so gradcheck's finite differences never straddle 0."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(shape, generator=g, dtype=torch.float64)
    return x + 0.1 * torch.sign(x)


@pytest.mark.parametrize("inplace", [False, True])
def test_values_and_derivatives_of_every_order_match_pytorch(inplace: bool) -> None:
    x = _away_from_kink((2, 3, 4, 4), 0).requires_grad_()
    w = torch.randn(3, 3, 1, 1, dtype=torch.float64, requires_grad=True)

    def ours(x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        # after a conv, as in the networks (in place on the conv's output, never on a leaf)
        return leaky_relu(F.conv2d(x, w), 0.2, inplace) * 1.5

    def ref(x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        return F.leaky_relu(F.conv2d(x, w), 0.2) * 1.5

    torch.testing.assert_close(ours(x, w), ref(x, w), rtol=0, atol=0)
    gy = torch.randn(2, 3, 4, 4, dtype=torch.float64)
    got = torch.autograd.grad(ours(x, w), (x, w), gy, create_graph=True)
    want = torch.autograd.grad(ref(x, w), (x, w), gy, create_graph=True)
    for a, b in zip(got, want):
        torch.testing.assert_close(a, b, rtol=0, atol=0)
    assert torch.autograd.gradcheck(ours, (x, w))
    assert torch.autograd.gradgradcheck(ours, (x, w))


def _r1_zero_fills(act) -> int:
    """aten::zero_ calls in one R1 penalty's backward through conv -> act -> conv (3 act layers)."""
    torch.manual_seed(0)
    convs = nn.ModuleList(nn.Conv2d(4, 4, 3, padding=1) for _ in range(3))
    x = torch.randn(2, 4, 8, 8, requires_grad=True)
    h = x
    for conv in convs:
        h = act(conv(h))
    (gx,) = torch.autograd.grad(h.sum(), x, create_graph=True)
    penalty = gx.square().sum()
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        penalty.backward()
    return sum(e.count for e in prof.key_averages() if e.key in ("aten::zero_", "aten::zeros_like"))


def test_penalty_backward_fills_no_zeros_where_pytorchs_does() -> None:
    assert _r1_zero_fills(lambda t: F.leaky_relu(t, 0.2)) >= 3  # the cost being avoided: one per layer
    assert _r1_zero_fills(lambda t: leaky_relu(t, 0.2)) == 0


@pytest.mark.parametrize("arch", ["dcgan", "r3gan", "progan"])
def test_discriminators_with_penalties_use_it(arch: str) -> None:
    cfg = Config()
    cfg.model.arch, cfg.data.image_size = arch, "16"
    cfg.model.g_width = cfg.model.d_width = 8
    torch.manual_seed(0)
    _, D = build_networks(cfg)
    assert not any(isinstance(m, nn.LeakyReLU) for m in D.modules()), "nn.LeakyReLU's double backward fills zeros"
    x = torch.randn(2, 3, 16, 16, requires_grad=True)
    (gx,) = torch.autograd.grad(D(x).sum(), x, create_graph=True)
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        gx.square().sum().backward()
    fills = sum(e.count for e in prof.key_averages() if e.key == "aten::zeros_like")
    assert fills == 0


def test_module_repr_and_no_state() -> None:
    m = LeakyReLU(0.2, inplace=True)
    assert "negative_slope=0.2" in repr(m) and "inplace=True" in repr(m)
    assert m.state_dict() == {}  # checkpoints of the networks are unchanged
