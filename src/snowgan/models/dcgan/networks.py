"""DCGAN generator and discriminator (Radford et al. 2016) for any base*2^k size.

At 64x64 with g_width = d_width = 64 these are exactly the networks of
pytorch/examples' dcgan (the reference in bench/). Other sizes start from an
h0 x w0 base (3..8 pixels per side) and double k times. The same classes serve the
WGAN-GP critic (d_norm none, no sigmoid anywhere: D returns raw scores/logits).

Conditional (``num_classes`` > 0, ``--conditional``): G's norms become class-conditional
(models/conditional.py; conditional BatchNorm as in the projection-discriminator paper's and
BigGAN's generators, or conditional instance norm etc. with another --g_norm) and
z alone is G's input; D adds the projection term <embed(y), last features summed over space>
to its score (Miyato & Koyama 2018). An earlier version also joined a class embedding to z and
mean-pooled the projection: G then ignored z within a class (every sample of a class alike after
400 steps of the conditional demo, 75% near-duplicates; 5% now; docs/conditional.md).
"""

from __future__ import annotations

from typing import Optional

import torch
from torch import nn

from ..conditional import ClassProjection, ConditionalBatchNorm2d, class_labels, run_layers
from ..init_args import RecordsInit
from ..layers import LeakyReLU, maybe_sn, norm_layer, resolved_d_norm, split_size, widths


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


class Generator(RecordsInit, nn.Module):
    """z (B, latent_dim) [, labels (B,) int64 in 0..num_classes-1] -> images (B, channels, H, W) in [-1, 1]."""

    def __init__(self, image_size: tuple[int, int], channels: int = 3, latent_dim: int = 100,
                 width: int = 64, max_width: int = 512, norm: str = "batch", num_classes: int = 0) -> None:
        super().__init__()
        h0, w0, k = split_size(*image_size)
        self.latent_dim = latent_dim
        self.num_classes = num_classes
        self.image_size = tuple(image_size)
        ch = widths(width, k, max_width)  # channels at base, 2*base, ..., H/2
        bias = norm == "none"

        def norm_for(c: int) -> nn.Module:
            # conditional: the class enters G here, as a per-class scale and shift after the norm
            return ConditionalBatchNorm2d(c, num_classes, norm) if num_classes else norm_layer(norm, c)

        layers: list[nn.Module] = [
            # A (h0, w0) transposed conv on a 1x1 input is a dense layer to the base grid.
            nn.ConvTranspose2d(latent_dim, ch[0], (h0, w0), 1, 0, bias=bias),
            norm_for(ch[0]), nn.ReLU(True)]
        for i in range(1, k):
            layers += [nn.ConvTranspose2d(ch[i - 1], ch[i], 4, 2, 1, bias=bias),
                       norm_for(ch[i]), nn.ReLU(True)]
        layers += [nn.ConvTranspose2d(ch[k - 1], channels, 4, 2, 1, bias=False), nn.Tanh()]
        self.main = nn.Sequential(*layers)
        self.apply(_init_weights)

    def forward(self, z: torch.Tensor, labels: Optional[torch.Tensor] = None) -> torch.Tensor:
        if not self.num_classes:  # unconditional: labels are ignored
            return self.main(z.reshape(z.shape[0], -1, 1, 1))
        y = class_labels(labels, z.shape[0], self.num_classes, z.device)
        return run_layers(self.main, z.reshape(z.shape[0], -1, 1, 1), y)


class Discriminator(RecordsInit, nn.Module):
    """images (B, channels, H, W) in [-1, 1] -> scores (B,), unbounded (no sigmoid).

    ``blocks`` are the downsampling stages, highest resolution first, so
    ``--freeze_d N`` freezes blocks[:N] and the probe can read any block's features.
    """

    def __init__(self, image_size: tuple[int, int], channels: int = 3, width: int = 64,
                 max_width: int = 512, norm: str = "batch", spectral_norm: bool = False,
                 num_classes: int = 0) -> None:
        super().__init__()
        h0, w0, k = split_size(*image_size)
        self.image_size = tuple(image_size)
        self.num_classes = num_classes
        ch = list(reversed(widths(width, k, max_width)))  # H/2, H/4, ..., base
        bias = norm == "none"
        blocks = [nn.Sequential(maybe_sn(nn.Conv2d(channels, ch[0], 4, 2, 1, bias=False), spectral_norm),
                                LeakyReLU(0.2, inplace=True))]  # no norm on the first layer (DCGAN)
        for i in range(1, k):
            blocks.append(nn.Sequential(
                maybe_sn(nn.Conv2d(ch[i - 1], ch[i], 4, 2, 1, bias=bias), spectral_norm),
                norm_layer(norm, ch[i]), LeakyReLU(0.2, inplace=True)))
        self.blocks = nn.ModuleList(blocks)
        # A (h0, w0) conv over the base grid is a dense layer to one score.
        self.head = maybe_sn(nn.Conv2d(ch[k - 1], 1, (h0, w0), 1, 0, bias=False), spectral_norm)
        self.apply(_init_weights)
        if num_classes:
            self.project = ClassProjection(num_classes, ch[k - 1], pool="sum")

    def forward_features(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Each block's output, highest resolution first: [(B, C_i, H_i, W_i)]."""
        feats = []
        for block in self.blocks:
            x = block(x)
            feats.append(x)
        return feats

    def forward(self, x: torch.Tensor, labels: Optional[torch.Tensor] = None) -> torch.Tensor:
        """Scores (B,); labels (B,) add the projection term when conditional (ignored otherwise)."""
        for block in self.blocks:
            x = block(x)
        score = self.head(x).flatten()
        if not self.num_classes:
            return score
        y = class_labels(labels, x.shape[0], self.num_classes, x.device)
        return score + self.project(x, y).to(score.dtype)


def build(cfg) -> tuple[Generator, Discriminator]:
    m = cfg.model
    k = len(cfg.class_list)
    G = Generator(cfg.image_hw, cfg.data.channels, m.latent_dim, m.g_width, m.max_width, m.g_norm, k)
    D = Discriminator(cfg.image_hw, cfg.data.channels, m.d_width, m.max_width,
                      resolved_d_norm(m), m.spectral_norm, k)
    return G, D
