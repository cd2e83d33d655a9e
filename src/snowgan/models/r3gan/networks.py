"""R3GAN generator and discriminator (Huang et al., NeurIPS 2024, config E) for any base*2^k size.

"The GAN is dead; long live the GAN! A Modern GAN Baseline": a ResNet with no
normalisation layers, trained with the relativistic pairing loss plus R1 and R2
(``--loss rpgan``, losses/rpgan.py; the schedules in models/r3gan/schedule.py). Per resolution
stage, ``blocks_per_stage`` residual blocks

    x + conv1x1(lrelu(b2 + gconv3x3(lrelu(b1 + conv1x1(x)))))       (C -> 2C -> 2C -> C)

with a grouped 3x3 of 16 channels per group (the paper's cardinality at every width),
leaky ReLU 0.2 after a learned per-channel bias, bias-free convolutions, the last 1x1
initialised to zero (each block is the identity at init) and the others with
variance-scaled (fix-up) init: He's std times L^(-1/4) for L blocks in the network.
Between stages a 1x1 changes the width and a fixed [1,2,1] binomial filter resamples
(see ``upsample2x`` / ``downsample2x``). G starts from a learned basis on the base grid
modulated per channel by a linear map of z and ends in a 1x1 to image channels; D starts
with a 1x1 from image channels and ends in a per-channel basis (a depthwise h0 x w0
filter) and a linear map to one score.

Differences from the paper, all for CPU-sized runs (see docs/models/r3gan.md):
widths come from ``g_width``/``d_width``/``max_width`` doubling per halving (the paper
uses 768 almost everywhere); ``blocks_per_stage`` defaults to 1 (paper: 2); resampling
repeats the edge instead of zero-padding (the interior filter is the paper's);
evaluation mode clamps G's output to [-1, 1] (see ``Generator``).

Class conditioning (``--conditional``, ``num_classes`` > 0) as in R3GAN's conditional
CIFAR-10 setup: G concatenates an embedding of the label to z (``_latent_input``;
``GenerativeBasis`` takes latent_dim + EMBED_DIM); D's ``ProjectionHead`` gives
EMBED_DIM features and ``_project`` dots them with the label's embedding. Unconditional
networks ignore labels and are unchanged.
"""

from __future__ import annotations

import math
from typing import Optional

import torch
import torch.nn.functional as F
from torch import nn

from ...errors import ConfigError
from ..conditional import class_labels, embed
from .grouped_conv import GroupedConv2d
from ..init_args import RecordsInit
from ..layers import leaky_relu, split_size, widths

GROUP_CHANNELS = 16  # channels per group of the grouped 3x3: 1536/96, 768/48, 384/24, 192/12 in R3GAN
EXPANSION = 2  # the residual branch's inner width, a multiple of the stage width (paper: 2)
SLOPE = 0.2  # leaky ReLU negative slope
EMBED_DIM = 64  # class embedding size in G's input and D's projection (conditional; R3GAN's CIFAR-10 uses 128)
LRELU_GAIN = math.sqrt(2 / (1 + SLOPE ** 2))  # He's gain for leaky ReLU 0.2


def msr_init_(weight: torch.Tensor, gain: float = 1.0) -> torch.Tensor:
    """N(0, (gain / sqrt(fan_in))^2) in place; fan_in = every input a single output sees."""
    fan_in = weight[0].numel()
    with torch.no_grad():
        return weight.normal_(0.0, gain / math.sqrt(fan_in))


def group_count(channels: int, group_channels: int = GROUP_CHANNELS) -> int:
    """Groups of the grouped 3x3: channels split into groups of the largest divisor <= group_channels.

    16 channels per group at every width (the paper's ratio); narrow layers whose channel
    count 16 does not divide use the largest divisor below it (24 -> 2 groups of 12).
    """
    size = max(d for d in range(1, min(group_channels, channels) + 1) if channels % d == 0)
    return channels // size


class Conv1x1(nn.Conv2d):
    """A bias-free 1x1 convolution that runs as one matrix product on channels_last inputs.

    A channels_last (B, C, H, W) tensor is a (B*H*W, C) matrix in memory, so the layer is
    F.linear on a permuted view, with GEMMs for its backward and double backward too:
    10-40% faster than the convolution path for every layer shape here (measured under
    bf16 autocast, fwd + bwd + R1's double backward; docs/lab/r3gan-log.md). Contiguous
    (NCHW) inputs take the ordinary convolution.
    """

    def __init__(self, in_ch: int, out_ch: int) -> None:
        super().__init__(in_ch, out_ch, 1, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() == 4 and x.is_contiguous(memory_format=torch.channels_last):
            return F.linear(x.permute(0, 2, 3, 1), self.weight.flatten(1)).permute(0, 3, 1, 2)
        return F.conv2d(x, self.weight)


def conv(in_ch: int, out_ch: int, kernel: int = 1, groups: int = 1, gain: float = 1.0) -> nn.Conv2d:
    """A bias-free 'same' convolution with MSR init (gain 0: zero-initialised).

    1x1s are Conv1x1 (matrix products); grouped ones GroupedConv2d (grouped kernels for
    the R1/R2 double backward too); any other stays nn.Conv2d, which snowgan's CPU bf16
    path (train/cpu_conv.py) reroutes.
    """
    if kernel == 1:
        layer: nn.Conv2d = Conv1x1(in_ch, out_ch)
    elif groups > 1:
        layer = GroupedConv2d(in_ch, kernel, groups)
        assert in_ch == out_ch, "grouped convolutions here keep the width"
    else:
        layer = nn.Conv2d(in_ch, out_ch, kernel, padding=kernel // 2, bias=False)
    if gain == 0:
        nn.init.zeros_(layer.weight)
    else:
        msr_init_(layer.weight, gain)
    return layer


class BiasedLeakyReLU(nn.Module):
    """lrelu_0.2(x + b), b per channel (initialised to 0): the only biases in the networks."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.bias = nn.Parameter(torch.zeros(channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return leaky_relu(x + self.bias.to(x.dtype).view(1, -1, 1, 1), SLOPE)


class ResidualBlock(nn.Module):
    """(B, C, H, W) -> (B, C, H, W): x + 1x1(act(grouped 3x3(act(1x1(x))))), the identity at init.

    n_blocks is the number of residual blocks in the whole network (L): the two inner
    layers get gain LRELU_GAIN * L^(-1/4) (fix-up scaling for a branch of 3 layers,
    L^(-1/(2m-2)) with m = 3), so the output variance does not grow with depth once the
    zero-initialised last layer starts to learn.
    """

    def __init__(self, channels: int, n_blocks: int, expansion: int = EXPANSION) -> None:
        super().__init__()
        inner = channels * expansion
        gain = LRELU_GAIN * n_blocks ** -0.25
        self.conv1 = conv(channels, inner, 1, gain=gain)
        self.act1 = BiasedLeakyReLU(inner)
        self.conv2 = conv(inner, inner, 3, groups=group_count(inner), gain=gain)
        self.act2 = BiasedLeakyReLU(inner)
        self.conv3 = conv(inner, channels, 1, gain=0.0)

    def branch(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv3(self.act2(self.conv2(self.act1(self.conv1(x)))))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.branch(x)


def upsample2x(x: torch.Tensor) -> torch.Tensor:
    """(B, C, H, W) -> (B, C, 2H, 2W): zero-insertion then the [1,3,3,1]/4 = [1,2,1]*[1,1] filter.

    That is bilinear interpolation without corner alignment (one fused ATen kernel with
    channels_last and bf16 paths); at the border it repeats the edge pixel where the
    paper's upfirdn2d pads with zeros.
    """
    return F.interpolate(x, scale_factor=2.0, mode="bilinear", align_corners=False)


def downsample2x(x: torch.Tensor) -> torch.Tensor:
    """(B, C, H, W) -> (B, C, H/2, W/2): the [1,3,3,1]/8 binomial low-pass at stride 2.

    Computed as the adjoint of ``upsample2x`` (divided by 4 so a constant stays
    constant), which is exactly the filter in the interior and keeps unit gain at the
    border. Being the adjoint, its derivative is ``upsample2x``/4 and back again, so the
    R1/R2 double backward stays on these two kernels.
    """
    b, c, h, w = x.shape
    return 0.25 * torch.ops.aten.upsample_bilinear2d_backward(x, [h, w], [b, c, h // 2, w // 2], False, 2.0, 2.0)


class Resample(nn.Module):
    """upsample2x or downsample2x as a module (so stages are plain nn.Sequential)."""

    def __init__(self, up: bool) -> None:
        super().__init__()
        self.up = up

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return upsample2x(x) if self.up else downsample2x(x)

    def extra_repr(self) -> str:
        return "up" if self.up else "down"


class GenerativeBasis(nn.Module):
    """z (B, n_in) -> (B, C, h0, w0): a learned N(0,1) basis per channel times a linear map of z."""

    def __init__(self, n_in: int, channels: int, h0: int, w0: int) -> None:
        super().__init__()
        self.basis = nn.Parameter(torch.randn(1, channels, h0, w0))  # 4-D: follows .to(channels_last)
        self.linear = nn.Linear(n_in, channels, bias=False)
        msr_init_(self.linear.weight)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        scale = self.linear(z)[:, :, None, None]  # (B, C, 1, 1); bf16 under autocast
        return self.basis.to(scale.dtype) * scale  # in scale's dtype, so the trunk starts in it


class ProjectionHead(nn.Module):
    """(B, C, h0, w0) -> (B, out_features): a depthwise h0 x w0 filter (one weight per position
    and channel, i.e. the paper's depthwise 'basis' convolution) summed over the grid, then linear."""

    def __init__(self, channels: int, h0: int, w0: int, out_features: int = 1) -> None:
        super().__init__()
        # MSR init of a depthwise filter: fan-in h0 * w0.
        self.basis = nn.Parameter(torch.randn(1, channels, h0, w0) / math.sqrt(h0 * w0))
        self.linear = nn.Linear(channels, out_features, bias=False)
        msr_init_(self.linear.weight)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pooled = (x * self.basis.to(x.dtype)).sum(dim=(2, 3))  # (B, C)
        return self.linear(pooled)


class Generator(RecordsInit, nn.Module):
    """z (B, latent_dim) -> images (B, channels, H, W).

    Training mode returns the paper's linear output (no tanh: D sees any overshoot of
    [-1, 1], which reals never have, and pushes G back; no saturating gradient).
    Evaluation mode -- every sampling path (G_ema, generate, export) -- clamps to
    [-1, 1], the range snowgan promises for samples.
    """

    def __init__(self, image_size: tuple[int, int], channels: int = 3, latent_dim: int = 64, width: int = 64,
                 max_width: int = 512, blocks_per_stage: int = 1, num_classes: int = 0) -> None:
        super().__init__()
        h0, w0, k = split_size(*image_size)
        self.latent_dim = latent_dim
        self.num_classes = num_classes
        self.image_size = tuple(image_size)
        ch = widths(width, k + 1, max_width)  # stage widths at base, 2*base, ..., H
        n_blocks = blocks_per_stage * (k + 1)
        embed = EMBED_DIM if num_classes else 0
        if num_classes:  # R3GAN's conditional G: [z, embed(y)] into the generative basis
            self.class_embed = nn.Embedding(num_classes, EMBED_DIM)
            nn.init.normal_(self.class_embed.weight)  # unit variance, like z
        self.basis = GenerativeBasis(latent_dim + embed, ch[0], h0, w0)
        stages = []
        for i, c in enumerate(ch):
            layers: list[nn.Module] = []
            if i > 0:  # width change at the lower resolution (cheaper), then upsample: as in the paper
                if ch[i - 1] != c:
                    layers.append(conv(ch[i - 1], c, 1))
                layers.append(Resample(up=True))
            layers += [ResidualBlock(c, n_blocks) for _ in range(blocks_per_stage)]
            stages.append(nn.Sequential(*layers))
        self.stages = nn.ModuleList(stages)
        self.to_image = conv(ch[-1], channels, 1)

    def _latent_input(self, z: torch.Tensor, labels: Optional[torch.Tensor]) -> torch.Tensor:
        """(B, latent_dim [+ EMBED_DIM]): z, joined by the class embedding when conditional."""
        z = z.reshape(z.shape[0], -1)
        if not self.num_classes:  # unconditional: labels are ignored
            return z
        y = class_labels(labels, z.shape[0], self.num_classes, z.device)
        return torch.cat([z, embed(self.class_embed, y).to(z.dtype)], dim=1)

    def forward(self, z: torch.Tensor, labels: Optional[torch.Tensor] = None) -> torch.Tensor:
        x = self.basis(self._latent_input(z, labels))
        for stage in self.stages:
            x = stage(x)
        x = self.to_image(x)
        return x if self.training else x.clamp(-1.0, 1.0)


class Discriminator(RecordsInit, nn.Module):
    """images (B, channels, H, W) in [-1, 1] -> scores (B,), raw (no sigmoid).

    ``blocks[i]`` holds the residual blocks at resolution H/2^i followed by the
    transition to the next (downsample, then a 1x1 width change); ``blocks[0]`` starts
    with the 1x1 from image channels and the last block (the base grid) has no
    transition. So ``--freeze_d N`` freezes the N highest resolutions and the probe
    reads (B, C_i, H/2^(i+1), W/2^(i+1)) features, the base grid last.
    """

    def __init__(self, image_size: tuple[int, int], channels: int = 3, width: int = 64, max_width: int = 512,
                 blocks_per_stage: int = 1, num_classes: int = 0) -> None:
        super().__init__()
        h0, w0, k = split_size(*image_size)
        self.image_size = tuple(image_size)
        self.num_classes = num_classes
        ch = list(reversed(widths(width, k + 1, max_width)))  # stage widths at H, H/2, ..., base
        n_blocks = blocks_per_stage * (k + 1)
        blocks = []
        for i, c in enumerate(ch):
            layers: list[nn.Module] = [conv(channels, c, 1)] if i == 0 else []
            layers += [ResidualBlock(c, n_blocks) for _ in range(blocks_per_stage)]
            if i < k:  # downsample first, then widen: the 1x1 runs at the lower resolution (paper)
                layers.append(Resample(up=False))
                if ch[i + 1] != c:
                    layers.append(conv(c, ch[i + 1], 1))
            blocks.append(nn.Sequential(*layers))
        self.blocks = nn.ModuleList(blocks)
        # Conditional (R3GAN): the head gives EMBED_DIM features, dotted with embed(y); the
        # embedding's 1/sqrt(EMBED_DIM) scale keeps the score's variance that of one feature.
        self.head = ProjectionHead(ch[-1], h0, w0, out_features=EMBED_DIM if num_classes else 1)
        if num_classes:
            self.class_embed = nn.Embedding(num_classes, EMBED_DIM)
            nn.init.normal_(self.class_embed.weight, 0.0, EMBED_DIM ** -0.5)

    def forward_features(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Each block's output, highest resolution first: [(B, C_i, H_i, W_i)]."""
        feats = []
        for block in self.blocks:
            x = block(x)
            feats.append(x)
        return feats

    def _project(self, out: torch.Tensor, labels: Optional[torch.Tensor]) -> torch.Tensor:
        """(B, 1 or EMBED_DIM) head output -> scores (B,): the one feature, or its projection on embed(y)."""
        if not self.num_classes:
            return out.sum(dim=1)
        y = class_labels(labels, out.shape[0], self.num_classes, out.device)
        return (out * embed(self.class_embed, y).to(out.dtype)).sum(dim=1)

    def forward(self, x: torch.Tensor, labels: Optional[torch.Tensor] = None) -> torch.Tensor:
        for block in self.blocks:
            x = block(x)
        return self._project(self.head(x), labels)


def build(cfg) -> tuple[Generator, Discriminator]:
    m = cfg.model
    if m.blocks_per_stage < 1:
        raise ConfigError(f"--blocks_per_stage {m.blocks_per_stage}: r3gan needs at least 1 residual block "
                          "per resolution (the paper uses 2)")
    k = len(cfg.class_list)
    G = Generator(cfg.image_hw, cfg.data.channels, m.latent_dim, m.g_width, m.max_width, m.blocks_per_stage, k)
    D = Discriminator(cfg.image_hw, cfg.data.channels, m.d_width, m.max_width, m.blocks_per_stage, k)
    return G, D
