"""train/cpu_conv.py: convolutions whose weight gradients are GEMMs, exact to any derivative order.

float64 gradcheck/gradgradcheck proves the hand-written backward formulas (first and
second order, both convolution kinds, strides and padding); the bf16 tests check that
the TorchFunctionMode reroutes nn.Conv2d/ConvTranspose2d under CPU autocast and that a
WGAN-GP penalty (a double backward) matches plain float32 autograd to bf16 accuracy.
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from snowgan.train import cpu_conv
from snowgan.train.cpu_conv import conv_weight_grad, fast_bf16_convs

GEOMETRIES = [(1, 0), (2, 1), (1, 1), (2, 0)]  # (stride, padding)
GRADCHECK_GEOMETRIES = [(1, 0), (2, 1)]  # gradgradcheck is slow on 2 shared cores


@pytest.mark.parametrize("stride,padding", GEOMETRIES)
def test_weight_grad_gemm_equals_autograd(stride: int, padding: int) -> None:
    g = torch.Generator().manual_seed(0)
    x = torch.randn(2, 3, 9, 9, generator=g, dtype=torch.float64)
    w = torch.randn(5, 3, 4, 4, generator=g, dtype=torch.float64, requires_grad=True)
    y = F.conv2d(x, w, stride=stride, padding=padding)
    gy = torch.randn(y.shape, generator=g, dtype=torch.float64)
    (want,) = torch.autograd.grad(y, w, gy)
    got = conv_weight_grad(gy, x.to(memory_format=torch.channels_last), (4, 4), (stride,) * 2, (padding,) * 2)
    torch.testing.assert_close(got, want)


@pytest.mark.parametrize("kernel,padding,hw", [(3, 1, (64, 64)), (4, 1, (48, 96)), (5, 2, (64, 70)), (3, 0, (66, 66))])
def test_shifted_weight_grad_on_large_maps_equals_autograd(kernel: int, padding: int, hw: tuple) -> None:
    """Stride-1 layers on maps of 4096+ pixels take the one-GEMM-per-tap form (no im2col):
    odd and even kernels, no padding, non-square maps, in its channels_last layout."""
    g = torch.Generator().manual_seed(1)
    x = torch.randn(2, 16, *hw, generator=g, dtype=torch.float64)
    w = torch.randn(5, 16, kernel, kernel, generator=g, dtype=torch.float64, requires_grad=True)
    y = F.conv2d(x, w, padding=padding)
    assert cpu_conv.shifted_weight_grad_pays(16, y.shape[2], y.shape[3], (1, 1))
    gy = torch.randn(y.shape, generator=g, dtype=torch.float64)
    (want,) = torch.autograd.grad(y, w, gy)
    got = conv_weight_grad(gy, x.to(memory_format=torch.channels_last), (kernel,) * 2, (1, 1), (padding,) * 2)
    torch.testing.assert_close(got, want)
    assert got.is_contiguous(memory_format=torch.channels_last)


def test_shifted_weight_grad_in_bf16_tracks_float32() -> None:
    """The form the bf16 mode actually runs: bf16 operands, float32 accumulation in each GEMM."""
    g = torch.Generator().manual_seed(2)
    x = torch.randn(4, 32, 64, 64, generator=g).to(torch.bfloat16, memory_format=torch.channels_last)
    gy = torch.randn(4, 8, 64, 64, generator=g).to(torch.bfloat16, memory_format=torch.channels_last)
    got = conv_weight_grad(gy, x, (3, 3), (1, 1), (1, 1))
    w = torch.zeros(8, 32, 3, 3, requires_grad=True)
    (want,) = torch.autograd.grad(F.conv2d(x.float(), w, padding=1), w, gy.float())
    assert got.dtype == torch.bfloat16
    torch.testing.assert_close(got.float(), want, rtol=1e-2, atol=1e-2 * want.abs().max().item())


# (ours, reference, x shape, w shape): a convolution and a transposed one, same checks.
KINDS = {"conv2d": (cpu_conv.conv2d, F.conv2d, (1, 2, 5, 5), (2, 2, 3, 3)),
         "conv_transpose2d": (cpu_conv.conv_transpose2d, F.conv_transpose2d, (1, 2, 3, 3), (2, 2, 4, 4))}


@pytest.mark.parametrize("kind", list(KINDS))
@pytest.mark.parametrize("stride,padding", GRADCHECK_GEOMETRIES)
def test_first_and_second_order_gradients(kind: str, stride: int, padding: int) -> None:
    ours, ref, x_shape, w_shape = KINDS[kind]
    g = torch.Generator().manual_seed(1)
    x = torch.randn(x_shape, generator=g, dtype=torch.float64, requires_grad=True)
    w = torch.randn(w_shape, generator=g, dtype=torch.float64, requires_grad=True)
    b = torch.randn(2, generator=g, dtype=torch.float64, requires_grad=True)  # the bias rides in the conv call

    def f(x, w, b):
        return ours(x, w, b, stride=stride, padding=padding)

    torch.testing.assert_close(f(x, w, b), ref(x, w, b, stride=stride, padding=padding))
    torch.testing.assert_close(f(x, w, None), ref(x, w, stride=stride, padding=padding))
    assert torch.autograd.gradcheck(f, (x, w, b))
    assert torch.autograd.gradgradcheck(f, (x, w, b))


def _tiny_nets(seed: int) -> tuple[nn.Module, nn.Module]:
    """Smooth activations: with (Leaky)ReLU a bf16 rounding that flips one unit's sign changes a
    tiny net's gradient by whole percent, hiding the arithmetic being compared."""
    torch.manual_seed(seed)
    G = nn.Sequential(nn.ConvTranspose2d(8, 16, 4, 1, 0, bias=False), nn.Tanh(),
                      nn.ConvTranspose2d(16, 3, 4, 2, 1), nn.Tanh())  # (B, 8, 1, 1) -> (B, 3, 8, 8)
    D = nn.Sequential(nn.Conv2d(3, 16, 4, 2, 1), nn.Tanh(), nn.Conv2d(16, 32, 4, 2, 1),
                      nn.Tanh(), nn.Conv2d(32, 1, 2, 1, 0), nn.Flatten())  # (B, 3, 8, 8) -> (B, 1)
    return G, D


def _rel_err(got: torch.Tensor, want: torch.Tensor) -> float:
    got, want = got.detach().float(), want.detach().float()
    return float((got - want).norm() / want.norm().clamp_min(1e-12))


def _close_in_bf16(got: torch.Tensor, want: torch.Tensor) -> None:
    """bf16 has an 8-bit mantissa: compare relative to the tensor's scale."""
    assert _rel_err(got, want) < 0.05


def test_mode_reroutes_only_under_bf16_autocast(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = []
    real = cpu_conv.conv2d
    monkeypatch.setattr(cpu_conv, "conv2d", lambda *a, **k: calls.append(1) or real(*a, **k))
    x = torch.randn(2, 3, 8, 8)
    conv = nn.Conv2d(3, 4, 3, padding=1)
    with fast_bf16_convs():
        plain = conv(x)
    assert not calls and plain.dtype == torch.float32
    with torch.autocast("cpu", dtype=torch.bfloat16), fast_bf16_convs():
        fast = conv(x)
        grouped = nn.Conv2d(4, 4, 3, groups=2)(fast.float())  # groups != 1 passes through untouched
    assert len(calls) == 1 and fast.dtype == torch.bfloat16 and grouped.shape == (2, 4, 6, 6)
    _close_in_bf16(fast, plain)


@pytest.mark.parametrize("kernel", [3, 5])
def test_strided_depthwise_with_a_gradient_runs_in_fp32(kernel: int) -> None:
    # oneDNN's bf16 input gradient of a strided depthwise conv is several times slower than fp32's on
    # these CPUs, so the mode runs those calls (only) in fp32 and hands bf16 on: bit-for-bit the fp32
    # convolution of the same input, rounded once; a bf16 kernel would round its inputs and products.
    torch.manual_seed(0)
    w, b = torch.randn(8, 1, kernel, kernel), torch.randn(8)
    x = (torch.randn(2, 8, 17, 12) * 3).requires_grad_()
    assert not torch.equal(x.detach().bfloat16().float(), x.detach())  # x has more than bf16 precision
    exact = F.conv2d(x.detach(), w, b, 2, 1, 1, 8)
    with torch.autocast("cpu", dtype=torch.bfloat16), fast_bf16_convs():
        y = F.conv2d(x, w, b, 2, 1, 1, 8)
        stride1 = F.conv2d(x, w, b, 1, 1, 1, 8)
        with torch.no_grad():  # forward only (D's own step): bf16's forward kernel is the fast one
            no_grad = F.conv2d(x, w, b, 2, 1, 1, 8)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        bf16_stride1 = F.conv2d(x, w, b, 1, 1, 1, 8)
        bf16_no_grad = F.conv2d(x.detach(), w, b, 2, 1, 1, 8)
    assert y.dtype == torch.bfloat16 and torch.equal(y, exact.bfloat16())
    assert torch.equal(stride1, bf16_stride1) and torch.equal(no_grad, bf16_no_grad)  # untouched
    assert not torch.equal(bf16_no_grad, exact.bfloat16())  # so the fp32 result above is the route's
    y.float().square().sum().backward()
    assert x.grad is not None and x.grad.dtype == torch.float32 and x.grad.abs().sum() > 0


def test_wgan_gp_double_backward_matches_fp32() -> None:
    """D's gradient from a WGAN-GP loss (penalty on input gradients) through the bf16 route vs fp32."""
    G, D = _tiny_nets(3)
    D = D.to(memory_format=torch.channels_last)
    torch.manual_seed(4)
    z, real, eps = torch.randn(6, 8, 1, 1), torch.rand(6, 3, 8, 8) * 2 - 1, torch.rand(6, 1, 1, 1)

    def grads(mode: str) -> list[torch.Tensor]:
        D.zero_grad(set_to_none=True)
        G.zero_grad(set_to_none=True)
        ctx = {"fp32": [], "bf16": [torch.autocast("cpu", dtype=torch.bfloat16)],
               "fast": [torch.autocast("cpu", dtype=torch.bfloat16), fast_bf16_convs()]}[mode]
        for c in ctx:
            c.__enter__()
        try:
            fake = G(z)
            mix = (eps * real + (1 - eps) * fake.detach().float()).requires_grad_(True)
            (gx,) = torch.autograd.grad(D(mix).float().sum(), mix, create_graph=True)
            gp = ((gx.float().flatten(1).norm(dim=1) - 1) ** 2).mean()
            loss = D(fake.float()).float().mean() - D(real).float().mean() + 10 * gp
        finally:
            for c in reversed(ctx):
                c.__exit__(None, None, None)
        loss.backward()
        return [p.grad.clone() for p in D.parameters()] + [p.grad.clone() for p in G.parameters()]

    want, stock, got = grads("fp32"), grads("bf16"), grads("fast")
    assert len(want) == len(got) == len(stock)
    for a, s, b in zip(got, stock, want):
        assert torch.isfinite(a).all()
        # As close to fp32 as PyTorch's own bf16 autocast (both round every layer to bf16).
        assert _rel_err(a, b) <= 1.5 * _rel_err(s, b) + 0.01
