"""The average image: pixel-wise mean of many generated images, beside the mean of the real data.

A sharp, structured average generated image next to a similar real one says G covers
the data's layout; a flat grey blob or a single sharp image hints at collapse.
"""

from __future__ import annotations

from typing import Optional

import numpy as np
import torch
from torch import nn

from ..progress import Progress
from ..sample import latents, to_uint8
from .annotate import add_caption, caption_height


class RunningMean:
    """Mean of uint8 images (N, C, H, W) fed in batches, accumulated in float64 (exact for
    millions of images). ``image()`` returns uint8 (C, H, W)."""

    def __init__(self) -> None:
        self.total: Optional[np.ndarray] = None
        self.count = 0

    def add(self, batch: np.ndarray) -> None:
        s = batch.astype(np.float64).sum(0)
        self.total = s if self.total is None else self.total + s
        self.count += len(batch)

    def image(self) -> np.ndarray:
        if self.total is None:
            raise ValueError("no images were added")
        return np.round(self.total / self.count).clip(0, 255).astype(np.uint8)


@torch.no_grad()
def average_generated(G: nn.Module, n: int, seed: int, device: torch.device | str = "cpu",
                      truncation: Optional[float] = None, batch: int = 64,
                      progress: str = "auto") -> np.ndarray:
    """Mean of n images from G (eval mode) for latents of one seed; uint8 (C, H, W).

    Streams in batches so n can be large without holding all images in memory.
    """
    if n < 1:
        raise ValueError("average needs at least one image")
    z = latents(n, G.latent_dim, seed, truncation)
    acc = RunningMean()
    bar = Progress(n, "average", unit="img", mode=progress)
    try:
        for i in range(0, n, batch):
            acc.add(to_uint8(G(z[i:i + batch].to(device))))
            bar.update(min(batch, n - i))
    finally:
        bar.close()
    return acc.image()


def average_real(images: np.ndarray, hw: Optional[tuple[int, int]] = None, mirror: bool = False,
                 batch: int = 256) -> np.ndarray:
    """Mean of a real dataset's uint8 (N, C, H, W) images as training saw them; uint8 (C, H, W).

    hw: the training size; images stored larger are centre-cropped to it (training crops
    them at random, whose mean is close to the centre crop's). mirror: training also saw
    every image flipped, so the mean is averaged with its mirror image.
    """
    h, w = hw or images.shape[-2:]
    top, left = (images.shape[-2] - h) // 2, (images.shape[-1] - w) // 2
    if top < 0 or left < 0:
        raise ValueError(f"real images {images.shape[-2:]} are smaller than {hw}")
    crops = (images[i:i + batch, :, top:top + h, left:left + w] for i in range(0, len(images), batch))
    acc = RunningMean()
    for b in crops:
        acc.add(b)
    if mirror:
        acc.total = (acc.total + acc.total[..., ::-1]) / 2  # type: ignore[index]
    return acc.image()


def side_by_side(panels: list[tuple[np.ndarray, str]], min_side: int = 192, gap: int = 6) -> np.ndarray:
    """Captioned panels in a row: [(uint8 (C, H, W), caption), ...] -> uint8 (H', W', 3).

    Each panel is enlarged (nearest) by a whole factor to at least ``min_side`` pixels.
    """
    if not panels:
        raise ValueError("no panels")
    captioned = []
    for img, text in panels:
        hwc = img.transpose(1, 2, 0)
        if hwc.shape[-1] == 1:
            hwc = np.repeat(hwc, 3, axis=-1)
        k = max(1, -(-min_side // min(hwc.shape[:2])))
        big = hwc.repeat(k, axis=0).repeat(k, axis=1)
        captioned.append(add_caption(big, text, caption_height(max(min_side, 300))))
    h = max(p.shape[0] for p in captioned)
    out = np.zeros((h, sum(p.shape[1] for p in captioned) + gap * (len(captioned) - 1), 3), np.uint8)
    x = 0
    for p in captioned:
        out[:p.shape[0], x:x + p.shape[1]] = p
        x += p.shape[1] + gap
    return out
