"""Image grids (checkerboards) from uint8 image batches."""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Optional, Sequence

import numpy as np
from PIL import Image, ImageDraw


def make_grid(images: np.ndarray, nrow: Optional[int] = None, padding: int = 2,
              pad_value: int = 0) -> np.ndarray:
    """Tile images into one picture.

    images: uint8 (N, C, H, W) with C in {1, 3}. nrow: images per row (default:
    about square). Returns uint8 (H', W', 3).
    """
    if images.ndim != 4:
        raise ValueError(f"expected (N, C, H, W), got {images.shape}")
    n, c, h, w = images.shape
    if c == 1:
        images = np.repeat(images, 3, axis=1)
    ncol = nrow or max(1, math.ceil(math.sqrt(n)))
    nrows = math.ceil(n / ncol)
    out = np.full((nrows * (h + padding) + padding, ncol * (w + padding) + padding, 3), pad_value, np.uint8)
    for i in range(n):
        r, col = divmod(i, ncol)
        y, x = padding + r * (h + padding), padding + col * (w + padding)
        out[y:y + h, x:x + w] = images[i].transpose(1, 2, 0)
    return out


def enlarge_cells(images: np.ndarray, min_cell: int = 64) -> tuple[np.ndarray, int]:
    """Nearest-neighbour enlarge uint8 (N, C, H, W) by the smallest whole factor that makes the
    shorter side at least ``min_cell``; returns (images, factor)."""
    h, w = images.shape[-2:]
    scale = max(1, math.ceil(min_cell / min(h, w)))
    if scale > 1:
        images = images.repeat(scale, axis=-2).repeat(scale, axis=-1)
    return images, scale


def save_grid(images: np.ndarray, path: str | Path, nrow: Optional[int] = None,
              labels: Optional[Sequence[str]] = None, min_cell: int = 64) -> Path:
    """Write a grid PNG. Small images are enlarged (nearest) so each cell is at least
    ``min_cell`` pixels on its shorter side; labels (one per image) are drawn on the cells."""
    n, c, h, w = images.shape
    images, scale = enlarge_cells(images, min_cell)
    grid = make_grid(images, nrow)
    img = Image.fromarray(grid)
    if labels is not None:
        draw = ImageDraw.Draw(img)
        ncol = nrow or max(1, math.ceil(math.sqrt(n)))
        ch, cw = h * scale, w * scale
        for i, text in enumerate(labels):
            r, col = divmod(i, ncol)
            x, y = 2 + col * (cw + 2) + 2, 2 + r * (ch + 2) + 1
            draw.rectangle([x - 1, y, x + 6 * len(text) + 1, y + 11], fill=(0, 0, 0))
            draw.text((x, y), text, fill=(255, 255, 255))
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    # Written aside and renamed: the report, rebuilt while training runs, never reads half a PNG.
    tmp = path.with_name(f".{path.stem}.partial{path.suffix}")
    img.save(tmp)
    os.replace(tmp, path)
    return path
