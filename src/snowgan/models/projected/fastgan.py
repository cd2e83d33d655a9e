"""FastGAN-lite generator (Liu et al. 2021, as used by Projected GAN, Sauer et al. 2021).

Structure, from a z vector to an image of any supported size h0*2^k x w0*2^k:

    z -> normalise to unit second moment -> transposed conv to the h0 x w0 base -> BN -> GLU
    k x up-block: nearest 2x upsample -> 3x3 conv -> BN -> GLU          ("UpBlockSmall", the lite one)
    skip-layer excitation (SLE) into the last levels: a small level's features, pooled to
        4x4 -> 4x4 conv -> swish -> 1x1 conv -> sigmoid, scale a level d doublings larger
        channel by channel (d = 4 as in FastGAN once the network is deep enough)
    3x3 conv to the image channels -> tanh (the registry's [-1, 1])

Conditional (num_classes > 0): every BatchNorm becomes class-conditional, BigGAN's way (a class
embedding mapped linearly to a scale and shift after the norm, models/conditional.ConditionalBatchNorm2d
with embed_dim), and nothing is joined to z. An earlier version concatenated a class embedding to
z instead; G then drew every sample of a class as the same image (66 steps of --recipe projected
--conditional on the built-in mountains: each row of the per-class grid one picture repeated), as
the DCGAN did before the same change (docs/conditional.md).

Every convolution is spectrally normalised, as in FastGAN and Projected GAN's copy of it.
The GLU halves the channels a conv produces, so each conv makes twice what the level keeps.
Widths follow snowgan's convention: g_width channels at the output resolution, doubling
per halving, capped at max_width.

Where FastGAN applies SLE at 64, 128, 256 and 512 px from 4, 8, 16 and 32 px (d = 4), a
small image has too few levels for that; here SLE goes into every level j >= d (at most the
last four), d = 4 when k >= 4, else max(1, k - 1), so 32 px (k = 3) gets 4->16 and 8->32.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..conditional import ConditionalBatchNorm2d, class_labels
from ..init_args import RecordsInit
from ..layers import norm_layer, split_size, widths


def _sn(layer: nn.Module) -> nn.Module:
    return nn.utils.parametrizations.spectral_norm(layer)


class GLU(nn.Module):
    """(B, 2C, H, W) -> (B, C, H, W): first half gated by the sigmoid of the second."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a, b = x.chunk(2, dim=1)
        return a * torch.sigmoid(b)


CLASS_EMBED_DIM = 64  # conditional: each norm's class embedding, mapped linearly to its scale and shift


def _norm(norm: str, channels: int, num_classes: int) -> nn.Module:
    """G's normalisation: class-conditional when num_classes > 0 (then called as norm(x, y))."""
    if not num_classes:
        return norm_layer(norm, channels)
    return ConditionalBatchNorm2d(channels, num_classes, norm, embed_dim=CLASS_EMBED_DIM)


def _normed(norm: nn.Module, x: torch.Tensor, y: torch.Tensor | None) -> torch.Tensor:
    return norm(x) if y is None else norm(x, y)


class UpBlock(nn.Module):
    """(B, cin, H, W) [, labels (B,)] -> (B, cout, 2H, 2W): nearest upsample, 3x3 conv, norm, GLU."""

    def __init__(self, cin: int, cout: int, norm: str, num_classes: int = 0) -> None:
        super().__init__()
        self.conv = _sn(nn.Conv2d(cin, 2 * cout, 3, 1, 1, bias=False))
        self.norm = _norm(norm, 2 * cout, num_classes)
        self.glu = GLU()

    def forward(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        return self.glu(_normed(self.norm, self.conv(F.interpolate(x, scale_factor=2.0, mode="nearest")), y))


class SkipExcitation(nn.Module):
    """SLE: channel gates (B, cout, 1, 1) in (0, 1) from a small level's map (B, cin, h, w), any h, w."""

    def __init__(self, cin: int, cout: int) -> None:
        super().__init__()
        self.main = nn.Sequential(
            nn.AdaptiveAvgPool2d(4),
            _sn(nn.Conv2d(cin, cout, 4, 1, 0, bias=False)), nn.SiLU(),
            _sn(nn.Conv2d(cout, cout, 1, 1, 0, bias=False)), nn.Sigmoid())

    def forward(self, small: torch.Tensor, big: torch.Tensor) -> torch.Tensor:
        return big * self.main(small)


def sle_pairs(k: int) -> list[tuple[int, int]]:
    """(source level, target level) of each skip-layer excitation for k doublings (level 0 = base)."""
    d = 4 if k >= 4 else max(1, k - 1)
    return [(j - d, j) for j in range(max(d, k - 3), k + 1)]


class FastGANGenerator(RecordsInit, nn.Module):
    """z (B, latent_dim) [, labels (B,)] -> images (B, channels, H, W) in [-1, 1].

    Conditional (num_classes > 0): the class enters through every norm (class-conditional
    BatchNorm, see the module docstring); unconditional Gs ignore labels.
    """

    def __init__(self, image_size: tuple[int, int], channels: int = 3, latent_dim: int = 256,
                 width: int = 64, max_width: int = 512, norm: str = "batch", num_classes: int = 0) -> None:
        super().__init__()
        h0, w0, k = split_size(*image_size)
        self.latent_dim = latent_dim
        self.num_classes = num_classes
        self.image_size = tuple(image_size)
        ch = widths(width, k + 1, max_width)  # level 0 (base) ... level k (output)
        # init = (transposed conv, norm, GLU): a Sequential so the unconditional keys stay init.0/init.1
        self.init = nn.Sequential(_sn(nn.ConvTranspose2d(latent_dim, 2 * ch[0], (h0, w0), 1, 0, bias=False)),
                                  _norm(norm, 2 * ch[0], num_classes), GLU())
        self.ups = nn.ModuleList(UpBlock(ch[i - 1], ch[i], norm, num_classes) for i in range(1, k + 1))
        self.pairs = sle_pairs(k)
        self.sle = nn.ModuleDict({str(j): SkipExcitation(ch[i], ch[j]) for i, j in self.pairs})
        self.to_rgb = _sn(nn.Conv2d(ch[k], channels, 3, 1, 1, bias=True))

    def forward(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        # Unit second moment per sample, as Projected GAN's FastGAN does (cf. ProGAN's pixel norm on z).
        z = z * torch.rsqrt(z.float().square().mean(dim=1, keepdim=True) + 1e-8).to(z.dtype)
        y = class_labels(labels, z.shape[0], self.num_classes, z.device) if self.num_classes else None
        conv, norm, glu = self.init
        x = glu(_normed(norm, conv(z.reshape(z.shape[0], -1, 1, 1)), y))
        levels = [x]
        for j, up in enumerate(self.ups, start=1):
            x = up(x, y)
            if str(j) in self.sle:
                src = next(i for i, t in self.pairs if t == j)
                x = self.sle[str(j)](levels[src], x)
            levels.append(x)
        return torch.tanh(self.to_rgb(x))
