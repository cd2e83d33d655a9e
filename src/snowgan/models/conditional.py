"""Class conditioning shared by the families: conditional BatchNorm, class embedding, projection.

- ``ConditionalBatchNorm2d`` (de Vries et al. 2017; BigGAN's G): BatchNorm without its own
  affine; the scale and shift are looked up per class, so one G draws every class.
- ``ClassProjection`` (Miyato & Koyama 2018, cGANs with a projection discriminator):
  D's score gains <embed(y), phi(x)>, the inner product of a class embedding with D's pooled
  last features. It adds no input channels and works with any loss.
- ``class_labels``: what a conditional network does with ``labels=None`` — image i of the
  batch gets class i mod K, so every sampler that predates conditioning (grids, metrics,
  videos) shows all classes, deterministically and without touching the RNG.
"""

from __future__ import annotations

from typing import Optional

import torch
from torch import nn

from .layers import PixelNorm


def class_labels(labels: Optional[torch.Tensor], batch: int, num_classes: int,
                 device: torch.device) -> torch.Tensor:
    """int64 (batch,) class indices (`labels` checked, or i mod num_classes when None), or
    float (batch, num_classes) class weights as given: a blend of classes (interpolation between
    classes), whose embedding is the same blend of the classes' embeddings."""
    if labels is None:
        return torch.arange(batch, device=device) % num_classes
    if labels.is_floating_point():
        if labels.shape != (batch, num_classes):
            raise ValueError(f"class weights must be (B, K) = ({batch}, {num_classes}), got {tuple(labels.shape)}")
        return labels
    if labels.shape != (batch,):
        raise ValueError(f"labels must be (B,) = ({batch},) class indices, got shape {tuple(labels.shape)}")
    return labels.long()


def embed(table: nn.Embedding, labels: torch.Tensor) -> torch.Tensor:
    """Rows of `table` for indices (B,) -> (B, E), or the weighted sum of rows for weights (B, K)."""
    if labels.is_floating_point():
        return labels.to(table.weight.dtype) @ table.weight
    return table(labels)


class ConditionalBatchNorm2d(nn.Module):
    """(B, C, H, W), labels (B,) -> norm(x) * (1 + gamma(y)) + beta(y): a class-conditional normalisation.

    ``norm`` is the base normalisation, without its own affine: ``batch`` is conditional BatchNorm
    (de Vries et al. 2017; BigGAN's G), ``instance`` conditional instance norm (Dumoulin et al.
    2017; batch-independent, so torchrun ranks agree with one process), ``pixel``/``layer``/``none``
    likewise. gamma and beta start at zero, so at initialisation every class starts from the same
    network (as BigGAN initialises it).

    labels may also be class weights (B, K) (a blend of classes, the studio's walks).

    embed_dim = 0: gamma and beta are per-class tables (the DCGAN family's, as measured in
    docs/conditional.md). embed_dim > 0: BigGAN's form, a unit-variance class embedding
    (embed_dim) mapped by zero-initialised linear layers to gamma and beta. Under Adam every
    parameter moves about one learning rate per step, so a table entry needs thousands of steps
    to reach a useful size, while a linear output sums embed_dim such moves: with tables the
    FastGAN generator still drew every class alike after 200 steps; with embed_dim 64 its rows
    were the four classes (docs/conditional.md).
    """

    def __init__(self, channels: int, num_classes: int, norm: str = "batch", embed_dim: int = 0) -> None:
        super().__init__()
        bases = {"batch": lambda: nn.BatchNorm2d(channels, affine=False),
                 "instance": lambda: nn.InstanceNorm2d(channels, affine=False),
                 "layer": lambda: nn.GroupNorm(1, channels, affine=False),
                 "pixel": PixelNorm, "none": nn.Identity}
        if norm not in bases:
            raise ValueError(f"unknown normalisation {norm!r}")
        self.bn = bases[norm]()
        self.embed_dim = embed_dim
        if embed_dim:
            self.class_embed = nn.Embedding(num_classes, embed_dim)  # N(0, 1) init
            self.gamma: nn.Module = nn.Linear(embed_dim, channels, bias=False)
            self.beta: nn.Module = nn.Linear(embed_dim, channels, bias=False)
        else:
            self.gamma = nn.Embedding(num_classes, channels)
            self.beta = nn.Embedding(num_classes, channels)
        nn.init.zeros_(self.gamma.weight)
        nn.init.zeros_(self.beta.weight)

    def _gamma_beta(self, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, C) each: the class's scale offset and shift."""
        if self.embed_dim:
            e = embed(self.class_embed, labels)
            return self.gamma(e), self.beta(e)
        return embed(self.gamma, labels), embed(self.beta, labels)

    def forward(self, x: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        g, b = self._gamma_beta(labels)
        return self.bn(x) * (1 + g[:, :, None, None].to(x.dtype)) + b[:, :, None, None].to(x.dtype)


class ClassProjection(nn.Module):
    """Projection term of a conditional D: features (B, C, H, W) or (B, C), labels (B,) -> (B,).

    Features are pooled over space and dotted with the class's embedding vector (drawn from
    N(0, init_std^2)). ``pool="sum"``
    is the paper's (DCGAN's D: its last features are a small fixed grid, and with the mean the
    class term was too weak to keep the classes apart once G stopped collapsing them;
    docs/conditional.md); ``"mean"`` keeps the term's scale independent of the feature map's
    size (the projected heads, whose maps are up to 16x16).
    """

    def __init__(self, num_classes: int, channels: int, pool: str = "mean", init_std: float = 0.02) -> None:
        super().__init__()
        if pool not in ("mean", "sum"):
            raise ValueError(f"pool must be 'mean' or 'sum', not {pool!r}")
        self.pool = pool
        self.embed = nn.Embedding(num_classes, channels)
        nn.init.normal_(self.embed.weight, 0.0, init_std)

    def forward(self, h: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        if h.dim() == 4:
            pooled = h.float().sum(dim=(2, 3)) if self.pool == "sum" else h.float().mean(dim=(2, 3))
        else:
            pooled = h.float()
        return (embed(self.embed, labels).float() * pooled).sum(dim=1)


def run_layers(layers: nn.Sequential, x: torch.Tensor, labels: Optional[torch.Tensor]) -> torch.Tensor:
    """Apply `layers` in order, passing labels to the conditional BatchNorms."""
    for layer in layers:
        x = layer(x, labels) if isinstance(layer, ConditionalBatchNorm2d) else layer(x)
    return x


class OneClass(nn.Module):
    """A conditional G fixed to one class: ``OneClass(G, c)(z)`` = ``G(z, [c] * B)``.

    Lets every sampler written for G(z) (interpolation videos, averages, metrics) draw
    one class without knowing about labels. latent_dim and image_size follow G.
    """

    def __init__(self, G: nn.Module, label: int) -> None:
        super().__init__()
        self.G = G
        self.label = int(label)
        self.latent_dim = G.latent_dim
        self.num_classes = 0  # looks unconditional to samplers: it chooses its own labels

    def forward(self, z: torch.Tensor, labels: Optional[torch.Tensor] = None) -> torch.Tensor:
        return self.G(z, torch.full((z.shape[0],), self.label, dtype=torch.long, device=z.device))
