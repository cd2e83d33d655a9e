"""Image grids (checkerboards) from uint8 image batches."""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Optional, Sequence

import numpy as np
from PIL import Image, ImageDraw

from ..diskspace import writing
from ..errors import ConfigError


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
    out = np.full((*grid_hw(n, ncol, h, w, padding), 3), pad_value, np.uint8)
    for i in range(n):
        r, col = divmod(i, ncol)
        y, x = padding + r * (h + padding), padding + col * (w + padding)
        out[y:y + h, x:x + w] = images[i].transpose(1, 2, 0)
    return out


def grid_hw(n: int, ncol: int, h: int, w: int, padding: int = 2) -> tuple[int, int]:
    """(height, width) of make_grid's picture of n cells of h x w pixels, ncol to a row."""
    return math.ceil(n / ncol) * (h + padding) + padding, ncol * (w + padding) + padding


def enlarge_factor(h: int, w: int, min_side: int) -> int:
    """The smallest whole factor that makes the shorter of h and w at least ``min_side`` (1 if it is)."""
    return max(1, math.ceil(min_side / min(h, w)))


def saved_grid_hw(rows: int, cols: int, h: int, w: int, min_cell: int = 64) -> tuple[int, int]:
    """(height, width) of the picture save_grid writes for rows x cols images of h x w pixels."""
    k = enlarge_factor(h, w, min_cell)
    return grid_hw(rows * cols, cols, h * k, w * k)


def check_grid_fits(rows: int, cols: int, h: int, w: int) -> None:
    """ConfigError naming --grid when its picture has more pixels than Pillow opens without
    complaint (Image.MAX_IMAGE_PIXELS): such a file could not be opened again, and holding it
    would take gigabytes. Checked before anything is generated."""
    gh, gw = saved_grid_hw(rows, cols, h, w)
    if gh * gw > Image.MAX_IMAGE_PIXELS:
        raise ConfigError(f"--grid {rows}x{cols}: a {gw}x{gh} px picture of {h}x{w} px images, more than the "
                          f"{Image.MAX_IMAGE_PIXELS:,} pixels an image viewer (Pillow) opens; give fewer rows "
                          f"or columns")


def enlarge_cells(images: np.ndarray, min_cell: int = 64) -> tuple[np.ndarray, int]:
    """Nearest-neighbour enlarge uint8 (N, C, H, W) by the smallest whole factor that makes the
    shorter side at least ``min_cell``; returns (images, factor)."""
    h, w = images.shape[-2:]
    scale = enlarge_factor(h, w, min_cell)
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
    with writing(path):
        img.save(tmp)
    os.replace(tmp, path)
    return path


def save_picture(picture: np.ndarray, path: Path) -> Path:
    """Write uint8 (H, W, 3), (H, W, 1) or (H, W) as the picture file ``path`` names (PNG, JPEG ...)."""
    with writing(path):
        Image.fromarray(picture[..., 0] if picture.ndim == 3 and picture.shape[-1] == 1 else picture).save(path)
    return path
