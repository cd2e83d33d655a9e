"""Projected GAN (Sauer et al., NeurIPS 2021): a discriminator on frozen pretrained features.

D(x) for images x (B, C, H, W) in [-1, 1]:

    x -> bilinear resize to the backbone size S (multiples of 32; see backbone_size)
      -> frozen EfficientNet-Lite0, four levels f_l at strides 4, 8, 16, 32 (24, 40, 112, 320 ch)
      -> cross-channel mixing (CCM): a fixed random 1x1 conv per level -> c, 2c, 4c, 8c channels
      -> cross-scale mixing (CSM): top-down, o_3 = up(conv(m_3)), o_l = up(conv(o_{l+1} + m_l)),
         fixed random 1x1 convs, bilinear 2x up -> (c, c, 2c, 4c) channels at S/2, S/4, S/8, S/16
      -> one small trainable discriminator head per level (4x4 stride-2 conv, norm, LeakyReLU
         down to 8 px, then a 4x4 conv to a logit map), highest resolution first in ``blocks``
      -> score (B,) = mean over levels of each level's mean logit, or with per_logit every
         logit of every level, (B, K) (the paper's: its hinge applies to each logit)

The backbone, CCM and CSM are never trained (the paper's point: random projections keep D
from focusing on a subset of the pretrained features). CCM/CSM are buffers, so they are
saved with D (they define it) but have no optimizer state. The backbone is held *outside*
the module tree: ``D.parameters()`` and ``D.state_dict()`` never see it, so optimizers and
checkpoints hold only the heads; ``_apply`` is overridden so ``D.to(device)`` still moves it.
Which weights D was trained on is recorded by SHA-256 in the buffer ``backbone_sha256``
(``D.pretrained_sha256`` as text); loading a checkpoint made with other backbone weights
raises ConfigError.

Differences from the paper, and why:
- by default the score is one number per image, the mean logit (a hinge on it stops pushing
  on an image once its *average* is past the margin); ``per_logit=True`` (--per_logit_loss)
  returns every logit, (B, K), and every loss here applies to each and averages, as the paper
  does (the registry's contract allows (B, K));
- the 1x1 CSM conv runs *before* the 2x bilinear upsample: both are linear and the
  bilinear weights sum to 1, so this is the same map at a quarter of the cost;
- the backbone input size S follows the image size (128..224) instead of always 224:
  on a CPU the backbone and the first head dominate the step, and 32-64 px images carry
  no more detail at 224 than at 128 (docs/lab/projected-log.md has the measured cost).

The generator is the FastGAN-lite one in models/projected/fastgan.py.
"""

from __future__ import annotations

import math
from typing import Optional

import torch
import torch.nn.functional as F
from torch import nn

from ...config import ConfigError
from ...pretrained.efficientnet_lite import FEATURE_CHANNELS, FEATURE_STRIDES, LITE0_WEIGHTS, LiteFeatures, lite0_features
from ...pretrained.sources import locate
from ..conditional import ClassProjection, class_labels
from .fastgan import FastGANGenerator
from ..init_args import RecordsInit
from ..layers import LeakyReLU, maybe_sn, norm_layer, resolved_d_norm

MIN_BACKBONE, MAX_BACKBONE = 128, 224


def backbone_size(h: int, w: int, short: int = 0) -> tuple[int, int]:
    """Backbone input size for h x w images: shorter side to 128..224, sides multiples of 32.

    The shorter side is rounded up to a multiple of 32 and clamped to [128, 224] (the paper
    uses 224 always), or is ``short`` when given (--backbone_size); the longer side keeps the
    aspect ratio, rounded to a multiple of 32.
    """
    short = short or min(max(32 * math.ceil(min(h, w) / 32), MIN_BACKBONE), MAX_BACKBONE)
    scale = short / min(h, w)
    return tuple(max(32, 32 * round(side * scale / 32)) for side in (h, w))  # type: ignore[return-value]


def head_width(side: int, width: int, max_width: int) -> int:
    """Channels of a head layer whose map has this shorter side: the paper's table scaled by width/64.

    Paper (width 64): 64 px and larger -> 64, 32 -> 128, 16 -> 256, 8 -> 512.
    """
    return min(max_width, width * max(1, 64 // max(side, 1)))


class RandomProjection(nn.Module):
    """CCM + CSM: four backbone maps -> four mixed maps (c, c, 2c, 4c channels) at twice their size.

    Every weight is a buffer drawn once like a default nn.Conv2d (Kaiming-uniform), never trained.
    """

    def __init__(self, in_channels: tuple[int, ...], c: int) -> None:
        super().__init__()
        ccm_out = [c, 2 * c, 4 * c, 8 * c]
        csm_out = [c, c, 2 * c, 4 * c]  # the paper's "expand": each fusion halves, except the last
        for i, (cin, cout) in enumerate(zip(in_channels, ccm_out)):
            self._random_conv(f"ccm{i}", cin, cout)
        for i in range(4):
            self._random_conv(f"csm{i}", ccm_out[i], csm_out[i])
        self.out_channels = tuple(csm_out)

    def _random_conv(self, name: str, cin: int, cout: int) -> None:
        conv = nn.Conv2d(cin, cout, 1)  # its default init is the reference's
        self.register_buffer(f"{name}_w", conv.weight.detach().clone())
        self.register_buffer(f"{name}_b", conv.bias.detach().clone())

    def _conv(self, name: str, x: torch.Tensor) -> torch.Tensor:
        return F.conv2d(x, getattr(self, f"{name}_w"), getattr(self, f"{name}_b"))

    def forward(self, feats: list[torch.Tensor]) -> list[torch.Tensor]:
        m = [self._conv(f"ccm{i}", f) for i, f in enumerate(feats)]
        out: list[torch.Tensor] = [m[3]] * 4
        x = None
        for i in (3, 2, 1, 0):
            x = m[i] if x is None else x + m[i]
            x = F.interpolate(self._conv(f"csm{i}", x), scale_factor=2.0, mode="bilinear", align_corners=True)
            out[i] = x
        return out


class Head(nn.Module):
    """A trainable discriminator on one mixed map (B, cin, h, w) -> score (B,) (its mean logit)."""

    def __init__(self, cin: int, hw: tuple[int, int], width: int, max_width: int, norm: str, sn: bool) -> None:
        super().__init__()
        (h, w), c, layers = hw, cin, []
        while min(h, w) > 8:
            cout = head_width(min(h, w) // 2, width, max_width)
            layers.append(nn.Sequential(maybe_sn(nn.Conv2d(c, cout, 4, 2, 1, bias=norm == "none"), sn),
                                        norm_layer(norm, cout), LeakyReLU(0.2, inplace=True)))
            c, h, w = cout, h // 2, w // 2
        self.down = nn.Sequential(*layers)
        k = min(4, h, w)
        self.logits = maybe_sn(nn.Conv2d(c, 1, k, 1, 0, bias=False), sn)
        self.out_channels = c

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.logit_map(x).mean(dim=1)

    def logit_map(self, x: torch.Tensor) -> torch.Tensor:
        """(B, cin, h, w) -> every logit of the head's output map, float32 (B, h' * w')."""
        return self.logits(self.down(x)).float().flatten(1)


class ProjectedDiscriminator(RecordsInit, nn.Module):
    """images (B, channels, H, W) in [-1, 1] [, labels (B,)] -> scores (B,), unbounded; with
    per_logit every head's every logit, (B, K) (K = the four heads' map sizes summed).

    Conditional (num_classes > 0): each head's logits gain the projection term
    <embed_l(y), mean-pooled features of head l> (Miyato & Koyama 2018) before the heads are
    averaged; unconditional Ds ignore labels.

    ``blocks``: the four trainable heads, highest resolution first. The frozen backbone
    is loaded from ``weights`` (a .pth path; default: $SNOWGAN_EFFICIENTNET_LITE0 or the
    installed package) at construction when it can be found, else on the first forward,
    which then raises ConfigError saying how to install it: a D rebuilt only to reach
    its generator (generate, export) never needs the weights.
    """

    def __init__(self, image_size: tuple[int, int], channels: int = 3, width: int = 64, max_width: int = 512,
                 norm: str = "batch", spectral_norm: bool = True, backbone_hw: Optional[tuple[int, int]] = None,
                 weights: Optional[str] = None, num_classes: int = 0, per_logit: bool = False) -> None:
        super().__init__()
        self.per_logit = per_logit
        self.image_size = tuple(image_size)
        self.num_classes = num_classes
        self.channels = channels
        self.backbone_hw = tuple(backbone_hw) if backbone_hw else backbone_size(*image_size)
        if any(s % 32 for s in self.backbone_hw):
            raise ValueError(f"backbone size {self.backbone_hw}: each side must be a multiple of 32")
        self.weights_path = weights
        self.__dict__["_backbone"] = None  # a plain attribute: not a submodule (see the module docstring)
        self.register_buffer("backbone_sha256", torch.zeros(32, dtype=torch.uint8))
        self.register_load_state_dict_post_hook(_check_backbone_hash)
        self.proj = RandomProjection(FEATURE_CHANNELS, width)
        sizes = [(self.backbone_hw[0] * 2 // s, self.backbone_hw[1] * 2 // s) for s in FEATURE_STRIDES]
        self.blocks = nn.ModuleList(Head(c, hw, width, max_width, norm, spectral_norm)
                                    for c, hw in zip(self.proj.out_channels, sizes))
        self.feature_sizes = sizes
        if num_classes:
            # Projected GAN's conditional heads: a unit-variance class embedding scaled by 1/sqrt(channels),
            # so the class term is as large as one feature from the first step (0.02, DCGAN's, left it
            # to grow at Adam's lr per step: no class signal in a short run).
            self.class_proj = nn.ModuleList(ClassProjection(num_classes, head.out_channels,
                                                            init_std=head.out_channels ** -0.5)
                                            for head in self.blocks)

    # ---- the frozen backbone -------------------------------------------------------
    @property
    def pretrained_sha256(self) -> Optional[str]:
        """SHA-256 (hex) of the backbone weights this D uses or was trained with; None before either is known."""
        if self._backbone is not None:
            return self._backbone.weights.sha256
        raw = bytes(self.backbone_sha256.cpu().tolist())
        return raw.hex() if any(raw) else None

    def load_backbone(self, required: bool = True) -> Optional[LiteFeatures]:
        """Load the frozen features network now (no-op when loaded). With required=False a
        missing package leaves it for later instead of raising."""
        if self._backbone is not None:
            return self._backbone
        if not required and locate(LITE0_WEIGHTS, self.weights_path) is None:
            return None
        net = lite0_features(self.weights_path)
        expected = self.pretrained_sha256
        if expected is not None and expected != net.weights.sha256:
            raise ConfigError(_mismatch(expected, net.weights.sha256, str(net.weights.path)))
        ref = self.backbone_sha256
        # Follow D wherever it went before the weights came (device; float dtype and memory format of the heads).
        p = next(self.blocks.parameters())
        fmt = torch.channels_last if p.dim() == 4 and p.is_contiguous(memory_format=torch.channels_last) \
            and not p.is_contiguous() else torch.contiguous_format
        net = net.to(device=ref.device, dtype=p.dtype, memory_format=fmt)
        with torch.no_grad():
            ref.copy_(torch.tensor(list(bytes.fromhex(net.weights.sha256)), dtype=torch.uint8))
        self.__dict__["_backbone"] = net
        return net

    def _apply(self, fn, recurse: bool = True):  # type: ignore[override]
        super()._apply(fn, recurse)
        if self._backbone is not None:
            self._backbone._apply(fn)  # .to(device / dtype / memory format) moves the frozen net too
        return self

    # ---- forward ---------------------------------------------------------------------
    def project(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Images (B, C, H, W) in [-1, 1] -> the four mixed maps the heads see, highest resolution first.

        When x needs no gradient (D's own step: reals, and fakes made under no_grad) the
        frozen part runs without autograd, so none of its activations are kept; when x
        does (G's step, R1 / gradient penalties) the gradient flows through it to x.
        """
        backbone = self.load_backbone()
        with torch.set_grad_enabled(torch.is_grad_enabled() and x.requires_grad):
            if tuple(x.shape[-2:]) != self.backbone_hw:
                x = F.interpolate(x, size=self.backbone_hw, mode="bilinear", align_corners=False)
            if x.shape[1] == 1:
                x = x.expand(-1, 3, -1, -1)  # grayscale: the same image in R, G and B
            return self.proj(backbone(x))

    def forward_features(self, x: torch.Tensor, labels: Optional[torch.Tensor] = None) -> list[torch.Tensor]:
        """Each head's last feature map (before its logit conv), highest resolution first: [(B, C_i, H_i, W_i)]."""
        return [head.down(m) for head, m in zip(self.blocks, self.project(x))]

    def forward(self, x: torch.Tensor, labels: Optional[torch.Tensor] = None) -> torch.Tensor:
        if not self.num_classes:
            logits = [head.logit_map(m) for head, m in zip(self.blocks, self.project(x))]
        else:
            y = class_labels(labels, x.shape[0], self.num_classes, x.device)
            logits = []
            for head, proj, m in zip(self.blocks, self.class_proj, self.project(x)):
                h = head.down(m)
                logits.append(head.logits(h).float().flatten(1) + proj(h, y)[:, None])
        if self.per_logit:
            return torch.cat(logits, dim=1)
        # Each head's mean, then the heads' mean: the heads' maps may differ in size (non-square images).
        return torch.stack([lg.mean(dim=1) for lg in logits], dim=0).mean(dim=0)


def _mismatch(expected: str, found: str, path: str) -> str:
    return (f"this projected discriminator was trained on EfficientNet-Lite0 weights with SHA-256 {expected[:16]}..., "
            f"but {path} has {found[:16]}...; use the same weights file (see {LITE0_WEIGHTS.env})")


def _check_backbone_hash(D: ProjectedDiscriminator, incompatible) -> None:
    """After load_state_dict: the loaded hash must be the loaded backbone's (unless either is unknown)."""
    if D._backbone is None:
        return  # checked when the backbone loads
    raw = bytes(D.backbone_sha256.cpu().tolist())
    if any(raw) and raw.hex() != D._backbone.weights.sha256:
        raise ConfigError(_mismatch(raw.hex(), D._backbone.weights.sha256, str(D._backbone.weights.path)))


def build(cfg) -> tuple[FastGANGenerator, ProjectedDiscriminator]:
    """(G, D) for cfg: image size, channels, latent_dim, g_width, d_width, max_width, g_norm, d_norm, spectral_norm,
    backbone_size.

    D's heads use d_norm (auto: layers.resolved_d_norm, batch as in the paper unless the loss forbids it) and
    spectral norm when --spectral_norm is set (the recipe sets it, as the paper does).
    """
    m = cfg.model
    k = len(cfg.class_list)
    G = FastGANGenerator(cfg.image_hw, cfg.data.channels, m.latent_dim, m.g_width, m.max_width, m.g_norm, k)
    # auto: batch, as the paper, unless the loss forbids it (WGAN-GP's per-sample penalty, RpGAN's pairs).
    d_norm = resolved_d_norm(m)
    D = ProjectedDiscriminator(cfg.image_hw, cfg.data.channels, m.d_width, m.max_width, d_norm, m.spectral_norm,
                               backbone_hw=backbone_size(*cfg.image_hw, m.backbone_size), num_classes=k,
                               per_logit=m.per_logit_loss)
    D.load_backbone(required=False)
    return G, D
