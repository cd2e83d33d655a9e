"""DCGAN generator and discriminator (Radford et al. 2016) for any base*2^k size.

At 64x64 with g_width = d_width = 64 these are exactly the networks of
pytorch/examples' dcgan (the reference in bench/). Other sizes start from an
h0 x w0 base (3..8 pixels per side) and double k times. The same classes serve the
WGAN-GP critic (d_norm none, no sigmoid anywhere: D returns raw scores/logits).
"""

from __future__ import annotations

from typing import Optional

import torch
from torch import nn

from .layers import maybe_sn, norm_layer, resolved_d_norm, split_size, widths


def _init_weights(m: nn.Module) -> None:
    # DCGAN paper: all weights from N(0, 0.02); norm scales from N(1, 0.02).
    if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
        w = m.parametrizations.weight.original if hasattr(m, "parametrizations") else m.weight
        nn.init.normal_(w, 0.0, 0.02)
        if m.bias is not None:
            nn.init.zeros_(m.bias)
    elif isinstance(m, (nn.BatchNorm2d, nn.InstanceNorm2d, nn.GroupNorm)) and m.weight is not None:
        nn.init.normal_(m.weight, 1.0, 0.02)
        nn.init.zeros_(m.bias)


class Generator(nn.Module):
    """z (B, latent_dim) -> images (B, channels, H, W) in [-1, 1]."""

    def __init__(self, image_size: tuple[int, int], channels: int = 3, latent_dim: int = 100,
                 width: int = 64, max_width: int = 512, norm: str = "batch") -> None:
        super().__init__()
        h0, w0, k = split_size(*image_size)
        self.latent_dim = latent_dim
        self.image_size = tuple(image_size)
        ch = widths(width, k, max_width)  # channels at base, 2*base, ..., H/2
        bias = norm == "none"
        layers: list[nn.Module] = [
            # A (h0, w0) transposed conv on a 1x1 input is a dense layer to the base grid.
            nn.ConvTranspose2d(latent_dim, ch[0], (h0, w0), 1, 0, bias=bias),
            norm_layer(norm, ch[0]), nn.ReLU(True)]
        for i in range(1, k):
            layers += [nn.ConvTranspose2d(ch[i - 1], ch[i], 4, 2, 1, bias=bias),
                       norm_layer(norm, ch[i]), nn.ReLU(True)]
        layers += [nn.ConvTranspose2d(ch[k - 1], channels, 4, 2, 1, bias=False), nn.Tanh()]
        self.main = nn.Sequential(*layers)
        self.apply(_init_weights)

    def forward(self, z: torch.Tensor, labels: Optional[torch.Tensor] = None) -> torch.Tensor:
        # labels: (B,) class indices, ignored (this generator is unconditional)
        return self.main(z.reshape(z.shape[0], -1, 1, 1))


class Discriminator(nn.Module):
    """images (B, channels, H, W) in [-1, 1] -> scores (B,), unbounded (no sigmoid).

    ``blocks`` are the downsampling stages, highest resolution first, so
    ``--freeze_d N`` freezes blocks[:N] and the probe can read any block's features.
    """

    def __init__(self, image_size: tuple[int, int], channels: int = 3, width: int = 64,
                 max_width: int = 512, norm: str = "batch", spectral_norm: bool = False) -> None:
        super().__init__()
        h0, w0, k = split_size(*image_size)
        self.image_size = tuple(image_size)
        ch = list(reversed(widths(width, k, max_width)))  # H/2, H/4, ..., base
        bias = norm == "none"
        blocks = [nn.Sequential(maybe_sn(nn.Conv2d(channels, ch[0], 4, 2, 1, bias=False), spectral_norm),
                                nn.LeakyReLU(0.2, True))]  # no norm on the first layer (DCGAN)
        for i in range(1, k):
            blocks.append(nn.Sequential(
                maybe_sn(nn.Conv2d(ch[i - 1], ch[i], 4, 2, 1, bias=bias), spectral_norm),
                norm_layer(norm, ch[i]), nn.LeakyReLU(0.2, True)))
        self.blocks = nn.ModuleList(blocks)
        # A (h0, w0) conv over the base grid is a dense layer to one score.
        self.head = maybe_sn(nn.Conv2d(ch[k - 1], 1, (h0, w0), 1, 0, bias=False), spectral_norm)
        self.apply(_init_weights)

    def forward_features(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Each block's output, highest resolution first: [(B, C_i, H_i, W_i)]."""
        feats = []
        for block in self.blocks:
            x = block(x)
            feats.append(x)
        return feats

    def forward(self, x: torch.Tensor, labels: Optional[torch.Tensor] = None) -> torch.Tensor:
        # labels: (B,) class indices, ignored (this discriminator is unconditional)
        for block in self.blocks:
            x = block(x)
        return self.head(x).flatten()


def build(cfg) -> tuple[Generator, Discriminator]:
    m = cfg.model
    G = Generator(cfg.image_hw, cfg.data.channels, m.latent_dim, m.g_width, m.max_width, m.g_norm)
    D = Discriminator(cfg.image_hw, cfg.data.channels, m.d_width, m.max_width,
                      resolved_d_norm(m), m.spectral_norm)
    return G, D
