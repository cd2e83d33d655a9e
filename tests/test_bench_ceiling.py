"""bench/matrix_ceiling.py and bench/grouped_conv_routes.py: what they count and time is right.

Both benches back a claim in docs/performance.md (how close to the matmul peak a step's own
kernels let it get), so their parts are checked here on tiny layers: the FLOP formula's grouped
weight-gradient correction, the kind each aten call is filed under, that the ceiling's timer
counts exactly the FLOPs count_flops does, and that every grouped-convolution route computes
the same layer.
"""

from __future__ import annotations

import sys
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))

import grouped_conv_routes as gr  # noqa: E402
import matrix_ceiling as mc  # noqa: E402
import train_throughput as tt  # noqa: E402


def _grouped_step(groups: int, need_weight_grad: bool = True):
    torch.manual_seed(0)
    x = torch.randn(2, 8, 6, 6, requires_grad=True)
    w = torch.randn(8, 8 // groups, 3, 3, requires_grad=need_weight_grad)
    return lambda: F.conv2d(x, w, padding=1, groups=groups).square().sum().backward()


def test_grouped_weight_gradient_costs_what_its_forward_does():
    forward = 2 * 2 * 6 * 6 * 8 * 2 * 9  # B * H * W * C_out * (C_in / groups) * 3 * 3, times 2
    # forward + input gradient + weight gradient, each one forward's worth (torch's own formula
    # would count the weight gradient 4x: as if dense)
    assert tt.count_flops(_grouped_step(groups=4)) == 3 * forward
    assert tt.count_flops(_grouped_step(groups=4, need_weight_grad=False)) == 2 * forward
    dense = 4 * forward
    assert tt.count_flops(_grouped_step(groups=1)) == 3 * dense  # dense layers: torch's formula as is


def test_each_call_is_filed_under_its_layer_kind():
    kinds = set()
    torch.manual_seed(0)
    x = torch.randn(2, 8, 6, 6, requires_grad=True)
    layers = [lambda v: F.conv2d(v, torch.randn(8, 8, 3, 3), padding=1),  # dense
              lambda v: F.conv2d(v, torch.randn(8, 8, 1, 1)),  # 1x1
              lambda v: F.conv2d(v, torch.randn(8, 2, 3, 3), padding=1, groups=4),  # grouped
              lambda v: F.conv2d(v, torch.randn(8, 1, 3, 3), padding=1, groups=8),  # depthwise
              lambda v: F.conv_transpose2d(v, torch.randn(8, 8, 4, 4), stride=2, padding=1),
              lambda v: v.flatten(1) @ torch.randn(288, 4)]
    for layer in layers:
        flops, seconds, by_kind = mc.time_matrix_kernels(lambda: layer(x).sum().backward(), iterations=1)
        assert flops > 0 and seconds > 0
        kinds |= set(by_kind)
    assert kinds == {f"{k} {way}" for k in ("dense conv", "1x1 conv", "grouped conv", "depthwise conv",
                                              "transposed conv") for way in ("forward", "backward")} | {"matrix product"}


def test_the_ceiling_times_exactly_the_work_count_flops_counts():
    snow = tt.SnowganIteration(["--arch", "r3gan", "--loss", "rpgan", "--g_width", "8", "--d_width", "8",
                                "--max_width", "16", "--latent_dim", "16", "--image_size", "16", "--batch_size", "2",
                                "--progress", "none"])
    flops, seconds, by_kind = mc.time_matrix_kernels(snow, iterations=2)
    assert flops == 2 * tt.count_flops(snow)
    assert seconds == sum(v[1] for v in by_kind.values()) and seconds > 0
    assert {"grouped conv forward", "grouped conv backward"} <= set(by_kind)  # R3GAN's 3x3s are grouped


def test_every_grouped_route_computes_the_same_layer():
    torch.manual_seed(0)
    B, C, H, groups = 2, 8, 5, 2
    x, w = torch.randn(B, C, H, H), torch.randn(C, C // groups, 3, 3)
    want = F.conv2d(x, w, padding=1, groups=groups)
    for name, fn in gr.routes(x, w, groups).items():
        if name == "taps-bmm":
            got = fn().permute(1, 0, 2).reshape(B, H, H, C).permute(0, 3, 1, 2)
        elif name.startswith("backward"):
            got = None
            grad_in, grad_w, _ = fn()
            assert grad_in.shape == x.shape and grad_w.shape == w.shape
        else:
            got = fn()
        if got is not None:
            torch.testing.assert_close(got, want, rtol=1e-4, atol=1e-4, msg=name)
