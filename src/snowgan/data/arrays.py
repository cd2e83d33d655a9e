"""Image arrays in .npy / .npz files: layout and value range detected, or forced by flags.

Accepted: (N, H, W) grayscale, (N, H, W, C) or (N, C, H, W) with C in 1..4 (2 = gray +
alpha, 4 = RGBA: the --alpha policy applies); uint8 0..255, other integers within
0..255 or 16-bit (scaled by /257), floats in [0, 1], [-1, 1] or [0, 255]. Files are
opened with allow_pickle=False (nothing is unpickled); a .npy is memory-mapped.

A .npz holds the images under ``images``, ``x``, ``arr_0`` or as its only 3-D/4-D
array, and optionally integer or string class labels (N,) under ``labels``, ``y`` or
``classes``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import numpy as np

from ..config import ConfigError

_IMAGE_KEYS = ("images", "x", "arr_0", "data")
_LABEL_KEYS = ("labels", "y", "classes")
_CHUNK = 256  # images per min/max pass or conversion step: bounds memory on huge arrays


@dataclass
class ImageArray:
    array: np.ndarray            # as stored (may be a read-only memmap)
    layout: str                  # nhwc | nchw | nhw
    value_range: str             # uint8 | uint16 | 0-1 | -1-1
    labels: Optional[np.ndarray]
    note: str                    # what was detected, for the description

    def __len__(self) -> int:
        return int(self.array.shape[0])

    @property
    def hwc(self) -> tuple[int, int, int]:
        """(H, W, C) of one image."""
        return image_hwc(tuple(self.array.shape), self.layout)

    def chunk_hwc(self, start: int, stop: int) -> np.ndarray:
        """Images start..stop as uint8 (n, H, W, C), C in 1..4."""
        a = np.asarray(self.array[start:stop])
        if self.layout == "nhw":
            a = a[..., None]
        elif self.layout == "nchw":
            a = a.transpose(0, 2, 3, 1)
        return to_uint8(a, self.value_range)


def image_hwc(shape: tuple[int, ...], layout: str) -> tuple[int, int, int]:
    if layout == "nhw":
        return (shape[1], shape[2], 1)
    if layout == "nchw":
        return (shape[2], shape[3], shape[1])
    return (shape[1], shape[2], shape[3])


def to_uint8(a: np.ndarray, value_range: str) -> np.ndarray:
    """Values in `value_range` -> uint8 0..255 (rounded, clipped)."""
    if value_range == "uint8" and a.dtype == np.uint8:
        return np.ascontiguousarray(a)
    x = a.astype(np.float32)
    if not np.issubdtype(a.dtype, np.integer):
        x = np.nan_to_num(x, nan=0.0, posinf=0.0, neginf=0.0)
    if value_range == "unit":
        x = x * 255.0
    elif value_range == "signed":
        x = (x + 1.0) * 127.5
    elif value_range == "uint16":
        x = x / 257.0
    return np.clip(np.rint(x), 0, 255).astype(np.uint8)


def _load(path: Path) -> tuple[np.ndarray, Optional[np.ndarray], str]:
    try:
        if path.suffix.lower() == ".npy":
            return np.load(path, mmap_mode="r", allow_pickle=False), None, ""
        with np.load(path, allow_pickle=False) as z:
            keys = list(z.keys())
            key = next((k for k in _IMAGE_KEYS if k in keys), None)
            if key is None:
                cands = [k for k in keys if z[k].ndim in (3, 4)]
                if len(cands) != 1:
                    raise ConfigError(f"--data {path}: cannot tell which array holds the images (keys: "
                                      f"{', '.join(keys)}); save it under the key 'images'")
                key = cands[0]
            lkey = next((k for k in _LABEL_KEYS if k in keys), None)
            return z[key], (z[lkey] if lkey else None), f"key '{key}'" + (f", labels '{lkey}'" if lkey else "")
    except ValueError as e:
        if "pickle" in str(e).lower() or "python objects" in str(e).lower():
            raise ConfigError(f"--data {path}: holds Python objects, which snowgan does not unpickle; "
                              "save a plain numeric array (np.save(path, images.astype('uint8')))") from None
        raise ConfigError(f"--data {path}: not a readable numpy file ({e})") from None
    except (OSError, EOFError) as e:
        raise ConfigError(f"--data {path}: not a readable numpy file ({e})") from None


def _layout(shape: tuple[int, ...], forced: str, path: Path) -> str:
    if len(shape) == 3:
        return "nhw"
    if len(shape) != 4:
        raise ConfigError(f"--data {path}: array shape {shape} is not (N,H,W), (N,H,W,C) or (N,C,H,W)")
    if forced != "auto":
        return forced
    last, first = shape[3] <= 4, shape[1] <= 4
    if last:
        return "nhwc"  # also the guess when both could be channels (e.g. 4x4 images of 3 channels)
    if first:
        return "nchw"
    raise ConfigError(f"--data {path}: shape {shape} has no channel axis of size 1-4 at position 1 or 3; "
                      "reshape it or set --npy_layout")


def _range(a: np.ndarray, forced: str, path: Path) -> tuple[str, str]:
    """(value range, text) from the dtype and the data's actual min/max."""
    if forced != "auto":
        return forced, f"{a.dtype} read as {forced} (--npy_range)"
    if a.dtype == np.uint8:
        return "uint8", "uint8"
    if a.dtype == np.bool_:
        raise ConfigError(f"--data {path}: boolean array; convert it to uint8 (0/255) first")
    lo, hi = np.inf, -np.inf
    for s in range(0, len(a), _CHUNK):
        c = np.asarray(a[s:s + _CHUNK])
        if np.issubdtype(c.dtype, np.floating):
            c = c[np.isfinite(c)]
        if c.size:
            lo, hi = min(lo, float(c.min())), max(hi, float(c.max()))
    span = f"{a.dtype} in [{lo:g}, {hi:g}]"
    if np.issubdtype(a.dtype, np.integer):
        if lo >= 0 and hi <= 255:
            return "uint8", span
        if lo >= 0 and hi <= 65535:
            return "uint16", span + ", scaled /257"
    elif lo >= 0 and hi <= 1:
        return "unit", span + " read as [0,1]"
    elif lo >= -1 and hi <= 1:
        return "signed", span + " read as [-1,1]"
    elif lo >= 0 and hi <= 255:
        return "uint8", span + " read as [0,255]"
    raise ConfigError(f"--data {path}: values {span} fit no known range; set --npy_range "
                      "uint8, unit ([0,1]) or signed ([-1,1]); values outside are clipped")


def open_array(path: Path, layout: str = "auto", value_range: str = "auto") -> ImageArray:
    """Open an image array file; ConfigError saying what to change when it is not usable."""
    a, labels, note = _load(path)
    if not (np.issubdtype(a.dtype, np.number) or a.dtype == np.bool_):
        raise ConfigError(f"--data {path}: dtype {a.dtype} is not numeric")
    lay = _layout(tuple(a.shape), layout, path)
    c = image_hwc(tuple(a.shape), lay)[2]
    if not 1 <= c <= 4:
        raise ConfigError(f"--data {path}: {c} channels under --npy_layout {lay}; images need 1-4")
    if len(a) == 0:
        raise ConfigError(f"--data {path}: the array holds no images (shape {tuple(a.shape)})")
    rng, span = _range(a, value_range, path)
    if labels is not None and (labels.ndim != 1 or len(labels) != len(a)):
        raise ConfigError(f"--data {path}: labels have shape {labels.shape}, expected ({len(a)},)")
    detail = f"shape {tuple(a.shape)} read as {lay.upper()}, {span}" + (f", {note}" if note else "")
    return ImageArray(a, lay, rng, labels, detail)
