"""Read a folder of images at their own size for ``--mode features --images DIR``.

Inception resizes every image to 299x299 itself, so images are not cropped or
resized here: each is decoded (EXIF orientation applied, any mode -> RGB) and kept
at its size. Unreadable files are skipped and listed, never fatal.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

EXTENSIONS = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff"}


def list_images(folder: Path) -> list[Path]:
    """Image files under folder (recursive, hidden entries skipped), in sorted order."""
    files = [p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in EXTENSIONS
             and not any(part.startswith(".") for part in p.relative_to(folder).parts)]
    return sorted(files)


def read_rgb(path: Path) -> np.ndarray:
    """uint8 (3, H, W) of one image file; raises OSError/ValueError when unreadable."""
    with Image.open(path) as im:
        im = ImageOps.exif_transpose(im)
        if im.mode in ("I;16", "I;16B", "I;16L", "I"):  # 16-bit grey: keep the top 8 bits
            arr = np.asarray(im, dtype=np.float64)
            scale = 255.0 / 65535.0 if arr.max() > 255 else 1.0
            im = Image.fromarray(np.clip(arr * scale + 0.5, 0, 255).astype(np.uint8))
        rgb = np.asarray(im.convert("RGB"), dtype=np.uint8)
    return np.ascontiguousarray(rgb.transpose(2, 0, 1))


def read_image_folder(folder: Path, limit: int | None = None
                      ) -> tuple[list[str], list[np.ndarray], list[tuple[str, str]]]:
    """(names relative to folder, uint8 (3, H, W) arrays, skipped (name, reason)); at most limit images."""
    names: list[str] = []
    arrays: list[np.ndarray] = []
    skipped: list[tuple[str, str]] = []
    for path in list_images(folder):
        if limit is not None and len(arrays) >= limit:
            break
        rel = path.relative_to(folder).as_posix()
        try:
            arrays.append(read_rgb(path))
            names.append(rel)
        except (OSError, ValueError, UnidentifiedImageError, Image.DecompressionBombError) as e:
            skipped.append((rel, f"{type(e).__name__}: {e}"))
    return names, arrays, skipped
