"""Building blocks shared by the model families, and the image-size rule."""

from __future__ import annotations

import torch
from torch import nn

from ..sizes import split_size  # noqa: F401  (the families import it from here)


def resolved_d_norm(model_cfg) -> str:
    """--d_norm, with auto resolved: none for a loss whose D must not batch-normalise (gradient
    penalties treat samples one by one, R3GAN's pairs would be coupled; losses/ say which), none
    under spectral norm where the family takes that as D's normalisation, else batch.

    The one rule every family's discriminator follows, and the model card reports; the family's
    entry says whether spectral norm replaces the normalisation (``spectral_norm_is_d_norm``:
    Projected GAN's heads keep BatchNorm beside it, as in the paper)."""
    from ..losses.entries import loss_entry
    from .families import family

    if model_cfg.d_norm != "auto":
        return model_cfg.d_norm
    if loss_entry(model_cfg.loss).d_norm == "none":
        return "none"
    replaces = family(model_cfg.arch).spectral_norm_is_d_norm
    return "none" if (model_cfg.spectral_norm and replaces) else "batch"


class _LeakyReLU(torch.autograd.Function):
    """y = lrelu(x); saves y (its sign is x's), and its derivative is _LeakyReLUGrad."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, slope: float, inplace: bool) -> torch.Tensor:
        if inplace:
            y = torch.nn.functional.leaky_relu_(x, slope)
            ctx.mark_dirty(y)
        else:
            y = torch.nn.functional.leaky_relu(x, slope)
        ctx.save_for_backward(y)
        ctx.slope = slope
        ctx.set_materialize_grads(False)  # an undefined incoming gradient stays None, not zeros
        return y

    @staticmethod
    def backward(ctx, g: torch.Tensor | None):
        return _slope_masked(ctx, g)


def _slope_masked(ctx, g: torch.Tensor | None):
    """Both Functions' backward: g * lrelu'(saved y) (again a _LeakyReLUGrad), nothing for y or slope."""
    if g is None:
        return None, None, None
    (y,) = ctx.saved_tensors
    return _LeakyReLUGrad.apply(g, y, ctx.slope), None, None


class _LeakyReLUGrad(torch.autograd.Function):
    """(g, y) -> g * lrelu'(y): linear in g; its derivative in y is zero (lrelu'' = 0 a.e.), returned as None."""

    @staticmethod
    def forward(ctx, g: torch.Tensor, y: torch.Tensor, slope: float) -> torch.Tensor:
        ctx.save_for_backward(y)
        ctx.slope = slope
        ctx.set_materialize_grads(False)
        return torch.ops.aten.leaky_relu_backward(g, y, slope, True)

    @staticmethod
    def backward(ctx, gg: torch.Tensor | None):
        return _slope_masked(ctx, gg)


def leaky_relu(x: torch.Tensor, slope: float = 0.2, inplace: bool = False) -> torch.Tensor:
    """F.leaky_relu with a cheaper double backward; same values and derivatives of every order.

    Why: gradient penalties (R1, R2, WGAN-GP) differentiate D's input gradient again. PyTorch's
    derivative of leaky_relu_backward returns an explicit zeros_like(x) for its input argument,
    which is then pushed back through the rest of the graph: for R3GAN at 64 px, batch 32, that
    zero-filling was ~5 % of an iteration's operator time (torch 2.13, CPU profile; in wall
    time within noise). Here that term is None, so autograd skips it and allocates nothing. Any shape, dtype and device; ``inplace`` overwrites x as
    nn.LeakyReLU(inplace=True) does (where x is not needed by the layer before it).
    """
    return _LeakyReLU.apply(x, slope, inplace)


class LeakyReLU(nn.Module):
    """nn.LeakyReLU through ``leaky_relu`` above, for discriminators (whose penalties differentiate
    twice); no parameters, so checkpoints are unchanged."""

    def __init__(self, slope: float = 0.2, inplace: bool = False) -> None:
        super().__init__()
        self.slope, self.inplace = slope, inplace

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return leaky_relu(x, self.slope, self.inplace)

    def extra_repr(self) -> str:
        return f"negative_slope={self.slope}" + (", inplace=True" if self.inplace else "")


class PixelNorm(nn.Module):
    """Normalise each pixel's feature vector to unit RMS (Karras et al. 2018)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * torch.rsqrt(x.float().square().mean(dim=1, keepdim=True) + 1e-8).to(x.dtype)


def norm_layer(kind: str, channels: int) -> nn.Module:
    """batch | instance | layer | pixel | none -> a module for (B, channels, H, W)."""
    if kind == "batch":
        return nn.BatchNorm2d(channels)
    if kind == "instance":
        return nn.InstanceNorm2d(channels, affine=True)
    if kind == "layer":
        return nn.GroupNorm(1, channels)
    if kind == "pixel":
        return PixelNorm()
    if kind == "none":
        return nn.Identity()
    raise ValueError(f"unknown normalisation {kind!r}")


def maybe_sn(layer: nn.Module, enabled: bool) -> nn.Module:
    """Wrap a conv/linear layer in spectral normalisation when enabled."""
    if not enabled:
        return layer
    return nn.utils.parametrizations.spectral_norm(layer)


def widths(base_width: int, levels: int, max_width: int) -> list[int]:
    """Channel counts from the smallest resolution (index 0) to the largest (index levels-1).

    The layer at the largest resolution has base_width channels; each halving of the
    resolution doubles them, capped at max_width (the DCGAN ngf/ndf convention).
    """
    return [min(max_width, base_width * 2 ** (levels - 1 - i)) for i in range(levels)]


# ---- progressive GAN layers (Karras et al. 2018) --------------------------------------

class EqualizedConv2d(nn.Module):
    """Conv2d with the equalised learning rate: weights ~ N(0, 1), scaled by He's constant at run time.

    Storing unit-variance weights and multiplying by gain / sqrt(fan_in) in forward makes
    every layer's effective step size the same under Adam (the paper's section 4.1).
    """

    def __init__(self, in_ch: int, out_ch: int, kernel: int, padding: int = 0, gain: float = 2 ** 0.5,
                 bias: bool = True) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.randn(out_ch, in_ch, kernel, kernel))
        self.bias = nn.Parameter(torch.zeros(out_ch)) if bias else None
        self.scale = gain / (in_ch * kernel * kernel) ** 0.5
        self.padding = padding

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return nn.functional.conv2d(x, self.weight * self.scale, self.bias, padding=self.padding)


class EqualizedLinear(nn.Module):
    """Linear layer with the equalised learning rate (see EqualizedConv2d)."""

    def __init__(self, in_features: int, out_features: int, gain: float = 2 ** 0.5, bias: bool = True) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.randn(out_features, in_features))
        self.bias = nn.Parameter(torch.zeros(out_features)) if bias else None
        self.scale = gain / in_features ** 0.5

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return nn.functional.linear(x, self.weight * self.scale, self.bias)


class MinibatchStdDev(nn.Module):
    """Append one feature map: the mean standard deviation over groups of samples.

    (B, C, H, W) -> (B, C + 1, H, W). Each group of up to ``group_size`` samples (the
    largest divisor of B not above it) gets the std of every feature across the group,
    averaged to one number: D can see a batch with too little variety (mode collapse).
    """

    def __init__(self, group_size: int = 4) -> None:
        super().__init__()
        self.group_size = group_size

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c, h, w = x.shape
        g = min(self.group_size, b)
        while b % g:
            g -= 1
        y = x.float().reshape(g, b // g, c, h, w)  # sample i is in group i % (b // g)
        y = (y.var(dim=0, unbiased=False) + 1e-8).sqrt().mean(dim=(1, 2, 3))  # (b // g,)
        y = y.reshape(1, b // g, 1, 1, 1).expand(g, b // g, 1, h, w).reshape(b, 1, h, w)
        return torch.cat([x, y.to(x.dtype)], dim=1)
