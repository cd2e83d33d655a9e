"""bf16 convolutions on CPU whose weight gradients are plain matrix products.

Why: on x86 CPUs with AVX512-BF16 but no AMX (e.g. AMD Zen 4/5), oneDNN computes a bf16
convolution's *weight* gradient with an older kernel (``jit_bf16 backward_weights``)
that synchronises its threads many times per call. On an idle machine it is merely
average; on a machine whose cores are shared with other work one call can take 10-40x
longer than the float32 one (measured 1.2 s vs 27 ms single-threaded for a 128->256
4x4 stride-2 layer, batch 64), which made bf16 training slower than fp32. Forward and
input-gradient bf16 kernels (brgemm based) are fine. So under bf16 autocast on such a
CPU, every 2-D convolution and transposed convolution goes through three autograd
Functions here:

    Conv(x, w)      = conv2d(x, w)                 -> oneDNN forward
    ConvT(x, w)     = conv_transpose2d(x, w)       -> oneDNN (deconvolution)
    WGrad(g, x)     = d<g, conv2d(x, W)>/dW        -> im2col (one gather) + one bf16 GEMM, or
                                                      for stride 1 on large maps one GEMM per tap

with  dConv = (ConvT(g, w), WGrad(g, x)),  dConvT = (Conv(g, w), WGrad(x, g)),
      dWGrad = (Conv(x, gw), ConvT(g, gw)),
so derivatives of any order (the WGAN-GP and R1 penalties differentiate through an
input gradient) stay on these kernels. Everything is exact convolution arithmetic with
float32 accumulation inside the GEMM; only the summation order differs from oneDNN's.

Enable with ``fast_bf16_convs()`` (a TorchFunctionMode that reroutes torch.conv2d /
torch.conv_transpose2d, i.e. nn.Conv2d, nn.ConvTranspose2d and F.conv*); it only acts
on CPU tensors while CPU autocast to bf16 is on, for groups=1, dilation=1 and (for the
transposed convolution) output_padding=0. One more slow bf16 kernel is avoided there: a
strided depthwise conv2d whose input gradient is needed runs in fp32 (see
``_strided_depthwise_with_grad``). Anything else passes through untouched.
"""

from __future__ import annotations

from typing import Any, Sequence

import torch
import torch.nn.functional as F
from torch.overrides import TorchFunctionMode

_conv = torch.ops.aten.convolution.default


def _pair(v: int | Sequence[int]) -> tuple[int, int]:
    return (v, v) if isinstance(v, int) else (int(v[0]), int(v[1]))


def conv_weight_grad(g: torch.Tensor, x: torch.Tensor, kernel: tuple[int, int], stride: tuple[int, int],
                     padding: tuple[int, int]) -> torch.Tensor:
    """dW of y = conv2d(x, W, stride, padding) given g = dL/dy, as one GEMM.

    g: (B, Co, Ho, Wo); x: (B, Ci, H, W). Returns (Co, Ci, kh, kw) in channels_last strides
    (the layout of the parameters being trained). Works in x's dtype.
    """
    (kh, kw), (sh, sw), (ph, pw) = kernel, stride, padding
    b, ci = x.shape[:2]
    co, ho, wo = g.shape[1:]
    if shifted_weight_grad_pays(ci, ho, wo, stride):
        return _shifted_weight_grad(g, x, kernel, padding)
    xp = x.permute(0, 2, 3, 1)  # (B, H, W, Ci): a free view of a channels_last tensor
    if ph or pw:
        xp = F.pad(xp, (0, 0, pw, pw, ph, ph))
    xp = xp.contiguous()
    s_b, s_h, s_w, _ = xp.stride()
    patches = xp.as_strided((b, ho, wo, kh, kw, ci), (s_b, sh * s_h, sw * s_w, s_h, s_w, 1))
    patches = patches.reshape(b * ho * wo, kh * kw * ci)  # im2col: the one copy
    gm = g.permute(0, 2, 3, 1).reshape(b * ho * wo, co)
    return (gm.t() @ patches.to(gm.dtype)).reshape(co, kh, kw, ci).permute(0, 3, 1, 2)


def shifted_weight_grad_pays(ci: int, ho: int, wo: int, stride: tuple[int, int]) -> bool:
    """Whether conv_weight_grad takes the shift-and-GEMM form below instead of im2col.

    Measured (bf16, batch 16, 3x3, 1 and 2 threads, AVX512-BF16): on maps of 64x64 and larger
    with 16+ input channels the shifted form is 1.1-3.6x faster (32 -> 32 channels at 64 px:
    31 -> 9.6 ms at one thread); at 32x32 and below, or with 3 input channels (too little work
    per GEMM), im2col's single large GEMM wins (0.4-0.9x). Stride 1 only.
    """
    return stride == (1, 1) and ho * wo >= 4096 and ci >= 16


def _shifted_weight_grad(g: torch.Tensor, x: torch.Tensor, kernel: tuple[int, int],
                         padding: tuple[int, int]) -> torch.Tensor:
    """conv_weight_grad for stride 1 without im2col: one GEMM per kernel tap over shifted views.

    With x padded and flattened to X (B*Hp*Wp, Ci) and g placed on the same padded grid, G
    (B*Hp*Wp, Co) (zeros outside its Ho x Wo corner), the output pixel in row r of G reads
    tap (dy, dx) from row r + dy*Wp + dx of X, never across a row or image edge because
    Wo + kw - 1 = Wp. So dW[:, :, dy, dx] = G[:N-off]^T @ X[off:], off = dy*Wp + dx: contiguous
    slices, no copy beyond the two pads. Same shapes and layout as conv_weight_grad.
    """
    (kh, kw), (ph, pw) = kernel, padding
    ci = x.shape[1]
    co, ho, wo = g.shape[1:]
    hp, wp = x.shape[2] + 2 * ph, x.shape[3] + 2 * pw
    gm = F.pad(g.permute(0, 2, 3, 1), (0, 0, 0, wp - wo, 0, hp - ho)).contiguous().view(-1, co)
    xm = F.pad(x.permute(0, 2, 3, 1), (0, 0, pw, pw, ph, ph)).to(gm.dtype).contiguous().view(-1, ci)
    n = xm.shape[0]
    out = torch.empty(kh, kw, co, ci, dtype=gm.dtype, device=gm.device)
    for dy in range(kh):
        for dx in range(kw):
            off = dy * wp + dx
            torch.mm(gm[:n - off].t(), xm[off:], out=out[dy, dx])
    return out.permute(2, 3, 0, 1).contiguous(memory_format=torch.channels_last)


class _Conv(torch.autograd.Function):
    """conv2d(x, w) + b (b optional): the bias rides in oneDNN's call instead of a pass of its own."""

    @staticmethod
    def forward(ctx: Any, x: torch.Tensor, w: torch.Tensor, b: torch.Tensor | None, stride: tuple,
                padding: tuple) -> torch.Tensor:
        ctx.save_for_backward(x, w)
        ctx.geom = (stride, padding)
        return _conv(x, w, b, stride, padding, (1, 1), False, (0, 0), 1)

    @staticmethod
    def backward(ctx: Any, g: torch.Tensor):
        x, w = ctx.saved_tensors
        stride, padding = ctx.geom
        gx = gw = gb = None
        if ctx.needs_input_grad[0]:
            gx = _ConvT.apply(g, w, None, stride, padding, x.shape[-2:])
        if ctx.needs_input_grad[1]:
            gw = _WGrad.apply(g, x, tuple(w.shape[-2:]), stride, padding)
        if ctx.needs_input_grad[2]:
            gb = g.sum(dim=(0, 2, 3))  # differentiable in g, as the penalties' double backward needs
        return gx, gw, gb, None, None


class _ConvT(torch.autograd.Function):
    """conv_transpose2d(x, w) + b (b optional) with the output size fixed to out_hw (output_padding derived)."""

    @staticmethod
    def forward(ctx: Any, x: torch.Tensor, w: torch.Tensor, b: torch.Tensor | None, stride: tuple, padding: tuple,
                out_hw: Sequence[int]) -> torch.Tensor:
        ctx.save_for_backward(x, w)
        ctx.geom = (stride, padding)
        kh, kw = w.shape[-2:]
        op = tuple(int(o) - ((i - 1) * s - 2 * p + k) for o, i, s, p, k in
                   zip(out_hw, x.shape[-2:], stride, padding, (kh, kw)))
        return _conv(x, w, b, stride, padding, (1, 1), True, op, 1)

    @staticmethod
    def backward(ctx: Any, g: torch.Tensor):
        x, w = ctx.saved_tensors
        stride, padding = ctx.geom
        gx = gw = gb = None
        if ctx.needs_input_grad[0]:
            gx = _Conv.apply(g, w, None, stride, padding)
        if ctx.needs_input_grad[1]:
            # Transposed conv's weight gradient is a conv weight gradient with the roles swapped.
            gw = _WGrad.apply(x, g, tuple(w.shape[-2:]), stride, padding)
        if ctx.needs_input_grad[2]:
            gb = g.sum(dim=(0, 2, 3))
        return gx, gw, gb, None, None, None


class _WGrad(torch.autograd.Function):
    """(g, x) -> conv_weight_grad(g, x): bilinear, so its own derivatives are convolutions."""

    @staticmethod
    def forward(ctx: Any, g: torch.Tensor, x: torch.Tensor, kernel: tuple, stride: tuple,
                padding: tuple) -> torch.Tensor:
        ctx.save_for_backward(g, x)
        ctx.geom = (stride, padding)
        return conv_weight_grad(g, x, kernel, stride, padding)

    @staticmethod
    def backward(ctx: Any, gw: torch.Tensor):
        g, x = ctx.saved_tensors
        stride, padding = ctx.geom
        gg = gx = None
        gw = gw.to(x.dtype)
        if ctx.needs_input_grad[0]:  # <WGrad(g, x), V> = <g, conv(x, V)>
            gg = _Conv.apply(x, gw, None, stride, padding)
        if ctx.needs_input_grad[1]:  # ... = <convT(g, V), x>
            gx = _ConvT.apply(g, gw, None, stride, padding, x.shape[-2:])
        return gg, gx, None, None, None


def conv2d(x: torch.Tensor, w: torch.Tensor, bias: torch.Tensor | None = None,
           stride: int | Sequence[int] = 1, padding: int | Sequence[int] = 0) -> torch.Tensor:
    """torch.conv2d (dilation 1, groups 1) through the Functions above, in x's dtype."""
    b = None if bias is None else bias.to(x.dtype)
    return _Conv.apply(x, w.to(x.dtype), b, _pair(stride), _pair(padding))


def conv_transpose2d(x: torch.Tensor, w: torch.Tensor, bias: torch.Tensor | None = None,
                     stride: int | Sequence[int] = 1, padding: int | Sequence[int] = 0) -> torch.Tensor:
    """torch.conv_transpose2d (output_padding 0, groups 1, dilation 1) through the Functions above."""
    st, pd = _pair(stride), _pair(padding)
    kh, kw = w.shape[-2:]
    out_hw = tuple((i - 1) * s - 2 * p + k for i, s, p, k in zip(x.shape[-2:], st, pd, (kh, kw)))
    b = None if bias is None else bias.to(x.dtype)
    return _ConvT.apply(x, w.to(x.dtype), b, st, pd, out_hw)


def _bind(names: Sequence[str], args: tuple, kwargs: dict, defaults: dict) -> dict:
    out = dict(defaults)
    out.update(zip(names, args))
    out.update(kwargs)
    return out


_CONV_ARGS = ("input", "weight", "bias", "stride", "padding", "dilation", "groups")
_CONVT_ARGS = ("input", "weight", "bias", "stride", "padding", "output_padding", "groups", "dilation")


class _FastBF16Convs(TorchFunctionMode):
    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if func is torch.conv2d or func is torch.conv_transpose2d:
            out = self._maybe_fast(func, args, kwargs)
            if out is not None:
                return out
        return func(*args, **kwargs)

    @staticmethod
    def _maybe_fast(func, args: tuple, kwargs: dict) -> torch.Tensor | None:
        x = args[0] if args else kwargs.get("input")
        if not (isinstance(x, torch.Tensor) and x.device.type == "cpu" and x.dim() == 4
                and torch.is_autocast_enabled("cpu") and torch.get_autocast_dtype("cpu") == torch.bfloat16):
            return None
        transposed = func is torch.conv_transpose2d
        a = _bind(_CONVT_ARGS if transposed else _CONV_ARGS, args, kwargs,
                  {"bias": None, "stride": 1, "padding": 0, "dilation": 1, "groups": 1, "output_padding": 0})
        if not transposed and _strided_depthwise_with_grad(x, a):
            return _fp32(func, args, kwargs)
        if (a["groups"] != 1 or _pair(a["dilation"]) != (1, 1) or _pair(a["output_padding"]) != (0, 0)
                or isinstance(a["padding"], str)):
            return None
        x = x.to(torch.bfloat16)
        if transposed:
            return conv_transpose2d(x, a["weight"], a["bias"], a["stride"], a["padding"])
        return conv2d(x, a["weight"], a["bias"], a["stride"], a["padding"])


def _strided_depthwise_with_grad(x: torch.Tensor, a: dict) -> bool:
    """A depthwise conv2d with stride > 1 whose input gradient will be needed.

    Why: oneDNN's bf16 *input* gradient of such a layer is 4-30x slower than the fp32 one on
    these CPUs (torch 2.13, one thread, batch 16, EfficientNet-Lite0's four stride-2 depthwise
    layers at 128 px: 307 ms against 40 ms); the projected G step backpropagates through them.
    Stride-1 depthwise layers and forward-only calls are faster in bf16 and keep it.
    """
    w = a["weight"]
    return (a["groups"] > 1 and isinstance(w, torch.Tensor) and w.shape[1] == 1 and max(_pair(a["stride"])) > 1
            and torch.is_grad_enabled() and x.requires_grad)


def _fp32(func, args: tuple, kwargs: dict) -> torch.Tensor:
    """func in fp32 with autocast off; the result in bf16, as the autocast call would give."""
    cast = [t.float() if isinstance(t, torch.Tensor) else t for t in args]
    kw = {k: (v.float() if isinstance(v, torch.Tensor) else v) for k, v in kwargs.items()}
    with torch.autocast("cpu", enabled=False):
        return func(*cast, **kw).to(torch.bfloat16)


def fast_bf16_convs() -> TorchFunctionMode:
    """Context manager: inside it, bf16-autocast CPU convolutions use the Functions above."""
    return _FastBF16Convs()
