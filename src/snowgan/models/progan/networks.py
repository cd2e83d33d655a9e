"""Progressive GAN generator and discriminator (Karras et al. 2018, "Progressive Growing of GANs").

Both networks hold every resolution from the start size up to the final one; which
part runs is their *stage*: ``set_stage(level, alpha)`` with level 0 = the start
resolution and alpha in [0, 1] the fade-in weight of the newest level (1 = fully
faded in). While fading, G's output is

    (1 - alpha) * upsample2x(toRGB_{level-1}(features_{level-1})) + alpha * toRGB_level(features_level)

and D reads ``(1 - alpha) * fromRGB_{level-1}(avgpool2x(x)) + alpha * block_level(fromRGB_level(x))``,
as in the paper's figure 2. models/growing.py computes the stage from the number of
images seen and blends the real images the same way.

Paper details kept: equalised learning rate on every layer, pixel normalisation after
every generator conv (and on z), nearest-neighbour upsampling, average-pool
downsampling, leaky ReLU 0.2, minibatch standard deviation before D's last block, no
normalisation in D. One change: each toRGB output passes through tanh, so G's images
are in [-1, 1] like every other family's (the blend of two such images stays there).

The stage is also stored in two buffers (``stage_level``, ``stage_alpha``), so it is
saved with the weights and a loaded checkpoint generates at the resolution it was
trained at. Forward reads the alpha *tensor* (no host sync, and torch.compile does not
recompile as alpha changes); the level is a Python int because it selects layers.
A freshly built network is at its final stage (full resolution, alpha 1).
"""

from __future__ import annotations

import math
from typing import Optional

import torch
import torch.nn.functional as F
from torch import nn

from ...config import ConfigError
from ..growing import stage_resolutions
from ..init_args import RecordsInit
from ..layers import EqualizedConv2d, EqualizedLinear, LeakyReLU, MinibatchStdDev, PixelNorm, split_size, widths


class _Staged(nn.Module):
    """The stage bookkeeping shared by G and D: level/alpha attributes mirrored in buffers."""

    resolutions: list[tuple[int, int]]

    def _init_stage(self) -> None:
        self.register_buffer("stage_level", torch.tensor(len(self.resolutions) - 1, dtype=torch.int64))
        self.register_buffer("stage_alpha", torch.tensor(1.0))
        self._level, self._alpha = len(self.resolutions) - 1, 1.0
        # After load_state_dict the buffers hold the saved stage: mirror them (once, at load time).
        self.register_load_state_dict_post_hook(lambda module, _keys: module._sync_from_buffers())

    def _sync_from_buffers(self) -> None:
        self._level, self._alpha = int(self.stage_level), float(self.stage_alpha)

    def set_stage(self, level: int, alpha: float = 1.0) -> None:
        """Run at resolution level `level` (0 = start) with the newest level faded in by `alpha`."""
        level, alpha = int(level), float(alpha)
        if not 0 <= level < len(self.resolutions):
            raise ValueError(f"stage level {level} is outside 0..{len(self.resolutions) - 1}")
        if not 0.0 <= alpha <= 1.0 or (level == 0 and alpha < 1.0):
            raise ValueError(f"stage alpha {alpha} must be in [0, 1] (and 1 at level 0)")
        self._level, self._alpha = level, alpha
        self.stage_level.fill_(level)
        self.stage_alpha.fill_(alpha)

    @property
    def stage(self) -> tuple[int, float]:
        """(level, alpha) the network currently runs at."""
        return self._level, self._alpha

    @property
    def current_size(self) -> tuple[int, int]:
        """(h, w) of the images at the current stage."""
        return self.resolutions[self._level]

    def _fading(self) -> bool:
        return self._level > 0 and self._alpha < 1.0


class Generator(RecordsInit, _Staged):
    """z (B, latent_dim) -> images (B, channels, h, w) in [-1, 1] at the current stage's (h, w)."""

    def __init__(self, image_size: tuple[int, int], channels: int = 3, latent_dim: int = 512,
                 width: int = 64, max_width: int = 512, start: int = 4) -> None:
        super().__init__()
        self.image_size = tuple(image_size)
        self.latent_dim = latent_dim
        self.resolutions = stage_resolutions(self.image_size, start)
        ch = widths(width, len(self.resolutions), max_width)  # level 0 first
        h, w = self.resolutions[0]
        self.base_shape = (ch[0], h, w)
        # z is pixel-normalised (PixelNorm over dim 1 works on (B, latent) too); the dense layer
        # stands for an (h x w) transposed conv on a 1x1 input, hence gain sqrt(2 / (h*w)) (paper code).
        self.input = nn.Sequential(
            PixelNorm(), EqualizedLinear(latent_dim, ch[0] * h * w, gain=math.sqrt(2 / (h * w))))
        blocks = [nn.Sequential(nn.LeakyReLU(0.2), PixelNorm(),
                                EqualizedConv2d(ch[0], ch[0], 3, 1), nn.LeakyReLU(0.2), PixelNorm())]
        for i in range(1, len(self.resolutions)):
            blocks.append(nn.Sequential(
                nn.Upsample(scale_factor=2, mode="nearest"),
                EqualizedConv2d(ch[i - 1], ch[i], 3, 1), nn.LeakyReLU(0.2), PixelNorm(),
                EqualizedConv2d(ch[i], ch[i], 3, 1), nn.LeakyReLU(0.2), PixelNorm()))
        self.blocks = nn.ModuleList(blocks)  # level 0 first
        self.to_rgb = nn.ModuleList([EqualizedConv2d(c, channels, 1, gain=1.0) for c in ch])
        self._init_stage()

    def forward(self, z: torch.Tensor, labels: Optional[torch.Tensor] = None) -> torch.Tensor:
        # labels: (B,) class indices, ignored (unconditional)
        x = self.input(z.reshape(z.shape[0], -1)).reshape(z.shape[0], *self.base_shape)
        level = self._level
        for block in self.blocks[:level]:
            x = block(x)
        if not self._fading():
            return torch.tanh(self.to_rgb[level](self.blocks[level](x)))
        lo = F.interpolate(torch.tanh(self.to_rgb[level - 1](x)), scale_factor=2.0, mode="nearest")
        hi = torch.tanh(self.to_rgb[level](self.blocks[level](x)))
        return lo + (hi - lo) * self.stage_alpha.to(hi.dtype)


class Discriminator(RecordsInit, _Staged):
    """images (B, channels, h, w) at the current stage's (h, w), in [-1, 1] -> scores (B,), no sigmoid.

    ``blocks`` holds every level's block, highest resolution first (the registry
    contract; ``--freeze_d N`` freezes the N highest-resolution ones); the last is the
    start-resolution block with the minibatch-stddev feature. forward_features returns
    only the blocks the current stage runs.
    """

    def __init__(self, image_size: tuple[int, int], channels: int = 3, width: int = 64,
                 max_width: int = 512, start: int = 4) -> None:
        super().__init__()
        self.image_size = tuple(image_size)
        self.resolutions = stage_resolutions(self.image_size, start)
        n = len(self.resolutions)
        ch = widths(width, n, max_width)  # level 0 first
        by_level = [nn.Sequential(MinibatchStdDev(), EqualizedConv2d(ch[0] + 1, ch[0], 3, 1), LeakyReLU(0.2))]
        for i in range(1, n):
            by_level.append(nn.Sequential(
                EqualizedConv2d(ch[i], ch[i], 3, 1), LeakyReLU(0.2),
                EqualizedConv2d(ch[i], ch[i - 1], 3, 1), LeakyReLU(0.2), nn.AvgPool2d(2)))
        self.blocks = nn.ModuleList(reversed(by_level))  # highest resolution first
        self.from_rgb = nn.ModuleList(  # level 0 first
            [nn.Sequential(EqualizedConv2d(channels, c, 1), LeakyReLU(0.2)) for c in ch])
        h, w = self.resolutions[0]
        self.head = nn.Sequential(nn.Flatten(), EqualizedLinear(ch[0] * h * w, ch[0]), LeakyReLU(0.2),
                                  EqualizedLinear(ch[0], 1, gain=1.0))
        self._init_stage()

    def _block(self, level: int) -> nn.Module:
        return self.blocks[len(self.resolutions) - 1 - level]

    def forward_features(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Outputs of the blocks the current stage runs, highest resolution first: [(B, C_i, H_i, W_i)]."""
        level = self._level
        if tuple(x.shape[-2:]) != self.resolutions[level]:
            raise ValueError(f"discriminator at stage {level} expects {self.resolutions[level]} images, "
                             f"got {tuple(x.shape[-2:])} (use models.growing.real_for_stage)")
        h = self._block(level)(self.from_rgb[level](x))
        if self._fading():
            lo = self.from_rgb[level - 1](F.avg_pool2d(x, 2))
            h = lo + (h - lo) * self.stage_alpha.to(h.dtype)
        feats = [h]
        for lv in range(level - 1, -1, -1):
            h = self._block(lv)(h)
            feats.append(h)
        return feats

    def forward(self, x: torch.Tensor, labels: Optional[torch.Tensor] = None) -> torch.Tensor:
        # labels: (B,) class indices, ignored (unconditional)
        return self.head(self.forward_features(x)[-1]).flatten()


def build(cfg) -> tuple[Generator, Discriminator]:
    """(G, D) for --arch progan, at their final stage; the training loop sets the stage."""
    m = cfg.model
    if m.spectral_norm:
        raise ConfigError("--spectral_norm is not available with --arch progan (it uses the equalised "
                          "learning rate instead); drop the flag or use --arch dcgan")
    G = Generator(cfg.image_hw, cfg.data.channels, m.latent_dim, m.g_width, m.max_width, m.pg_start)
    D = Discriminator(cfg.image_hw, cfg.data.channels, m.d_width, m.max_width, m.pg_start)
    return G, D
