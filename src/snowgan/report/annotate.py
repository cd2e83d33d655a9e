"""Text on pictures: a caption bar under an image, sized to stay readable when enlarged."""

from __future__ import annotations

from functools import lru_cache

import numpy as np
from PIL import Image, ImageDraw, ImageFont


@lru_cache(maxsize=8)
def font(px: int) -> ImageFont.ImageFont:
    """Pillow's bundled font at ``px`` pixels (FreeType); the fixed bitmap font without FreeType."""
    try:
        return ImageFont.load_default(size=px)
    except (TypeError, ImportError, OSError):  # Pillow < 10.1 or built without FreeType
        return ImageFont.load_default()


def caption_height(width: int) -> int:
    """Height of a caption bar for an image ``width`` pixels wide (font scales with width, 12..28 px)."""
    return int(np.clip(width // 22, 12, 28)) + 8


def add_caption(image: np.ndarray, text: str, height: int | None = None) -> np.ndarray:
    """Append a black bar with white ``text`` under ``image``.

    image: uint8 (H, W, 3). Returns uint8 (H + bar, W, 3); the bar height is
    ``caption_height(W)`` unless given, so every frame of a video gets the same size.
    Text too long for the bar is cut with an ellipsis rather than overflowing.
    """
    h, w, _ = image.shape
    bar = height or caption_height(w)
    canvas = Image.new("RGB", (w, h + bar), (0, 0, 0))
    canvas.paste(Image.fromarray(image), (0, 0))
    draw = ImageDraw.Draw(canvas)
    f = font(max(8, bar - 8))
    shown = text
    while shown and draw.textlength(shown, font=f) > w - 8:
        shown = shown[:-4] + "..." if len(shown) > 4 else ""
    draw.text((4, h + 3), shown, fill=(255, 255, 255), font=f)
    return np.asarray(canvas)
