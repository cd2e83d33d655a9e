"""A grouped 'same' convolution (stride 1) whose derivatives of every order are grouped convolutions.

Why: R1/R2 differentiate D's input gradient with respect to D's weights (a double
backward). PyTorch's generic double backward of a grouped convolution computes that
weight term by swapping batch and channels and convolving once *per group* with an
H x W "kernel" made of the incoming gradient, after transposing copies of both
tensors: for R3GAN's 16-channel groups at 64 px that was a third of the whole R1 pass
(measured, docs/lab/r3gan-log.md). Here the three bilinear maps

    Conv(x, w)   = conv2d(x, w, groups)                     -> oneDNN / cuDNN grouped forward
    ConvT(g, w)  = conv_transpose2d(g, w, groups)  = dL/dx   -> the backend's grouped data gradient
    WGrad(g, x)  = d<g, conv2d(x, W)>/dW           = dL/dw   -> the backend's grouped weight gradient

are autograd Functions whose derivatives are again these three
(dConv = (ConvT(g, w), WGrad(g, x)), dConvT = (Conv(h, w), WGrad(g, h)),
dWGrad = (Conv(x, v), ConvT(g, v))), so first, second and higher derivatives all run on
the backend's grouped kernels. Exact convolution arithmetic; any device.

Used for the square grouped kernels of R3GAN's residual blocks (in channels = out
channels, odd kernel, padding k // 2, stride 1), where conv_transpose2d with the same
weight is exactly the adjoint of conv2d.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

_conv = torch.ops.aten.convolution.default
_conv_backward = torch.ops.aten.convolution_backward.default


def _geometry(w_shape: torch.Size) -> tuple[list[int], list[int]]:
    kh, kw = w_shape[-2:]
    return [1, 1], [kh // 2, kw // 2]


class _Conv(torch.autograd.Function):
    @staticmethod
    def forward(ctx: Any, x: torch.Tensor, w: torch.Tensor, groups: int) -> torch.Tensor:
        ctx.save_for_backward(x, w)
        ctx.groups = groups
        stride, pad = _geometry(w.shape)
        return _conv(x, w, None, stride, pad, [1, 1], False, [0, 0], groups)

    @staticmethod
    def backward(ctx: Any, g: torch.Tensor):
        x, w = ctx.saved_tensors
        gx = _ConvT.apply(g, w, ctx.groups) if ctx.needs_input_grad[0] else None
        gw = _WGrad.apply(g, x, w.shape, ctx.groups) if ctx.needs_input_grad[1] else None
        return gx, gw, None


class _ConvT(torch.autograd.Function):
    @staticmethod
    def forward(ctx: Any, g: torch.Tensor, w: torch.Tensor, groups: int) -> torch.Tensor:
        ctx.save_for_backward(g, w)
        ctx.groups = groups
        stride, pad = _geometry(w.shape)
        # The data-gradient kernel rather than a transposed convolution: equal in bf16, up to
        # 2x faster in fp32 here. The input is needed only for its shape and layout (= g's).
        return _conv_backward(g, torch.empty_like(g), w, None, stride, pad, [1, 1], False, [0, 0], groups,
                              [True, False, False])[0]

    @staticmethod
    def backward(ctx: Any, h: torch.Tensor):
        g, w = ctx.saved_tensors
        gg = _Conv.apply(h, w, ctx.groups) if ctx.needs_input_grad[0] else None
        # <ConvT(g, w), h> = <g, Conv(h, w)>: the weight gradient of Conv at input h.
        gw = _WGrad.apply(g, h, w.shape, ctx.groups) if ctx.needs_input_grad[1] else None
        return gg, gw, None


class _WGrad(torch.autograd.Function):
    @staticmethod
    def forward(ctx: Any, g: torch.Tensor, x: torch.Tensor, w_shape: torch.Size, groups: int) -> torch.Tensor:
        ctx.save_for_backward(g, x)
        ctx.groups = groups
        stride, pad = _geometry(w_shape)
        # The backend needs a weight only for its shape and layout.
        w_like = x.new_empty(w_shape).to(memory_format=torch.channels_last) \
            if x.is_contiguous(memory_format=torch.channels_last) else x.new_empty(w_shape)
        return _conv_backward(g, x, w_like, None, stride, pad, [1, 1], False, [0, 0], groups,
                              [False, True, False])[1]

    @staticmethod
    def backward(ctx: Any, v: torch.Tensor):
        g, x = ctx.saved_tensors
        v = v.to(x.dtype)
        gg = _Conv.apply(x, v, ctx.groups) if ctx.needs_input_grad[0] else None  # <g, Conv(x, v)>
        gx = _ConvT.apply(g, v, ctx.groups) if ctx.needs_input_grad[1] else None  # <ConvT(g, v), x>
        return gg, gx, None, None


def grouped_conv2d(x: torch.Tensor, w: torch.Tensor, groups: int) -> torch.Tensor:
    """conv2d(x, w, stride 1, padding k // 2, groups) through the Functions above.

    x: (B, C, H, W); w: (C, C / groups, k, k). Under autocast both are cast to the
    autocast dtype first (what F.conv2d would do), so every saved tensor is already in it.
    """
    dev = x.device.type
    if torch.is_autocast_enabled(dev):
        dtype = torch.get_autocast_dtype(dev)
        x, w = x.to(dtype), w.to(dtype)
    elif w.dtype != x.dtype:
        w = w.to(x.dtype)
    return _Conv.apply(x, w, groups)


class GroupedConv2d(nn.Conv2d):
    """nn.Conv2d (bias-free, stride 1, 'same' padding, in = out channels) with grouped_conv2d's derivatives."""

    def __init__(self, channels: int, kernel: int, groups: int) -> None:
        super().__init__(channels, channels, kernel, padding=kernel // 2, groups=groups, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return grouped_conv2d(x, self.weight, self.groups)
