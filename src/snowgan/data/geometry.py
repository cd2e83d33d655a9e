"""Fit a decoded image to the stored size H x W (any aspect ratio).

--resize modes:
  center-crop  cut the largest centred region of the target's aspect ratio, then resize;
  pad          resize the whole image to fit inside, fill the rest with --background;
  stretch      resize to H x W, ignoring the aspect ratio;
  random-crop  like center-crop but stored RANDOM_CROP_MARGIN larger on both sides; the
               training loader cuts a random H x W window from it each time it is drawn.

Resampling is Lanczos. A large downscale first averages f x f blocks (Pillow's reduce,
an exact area filter) down to within REDUCING_GAP of the target and finishes with
Lanczos: about ten times faster than Lanczos alone and as alias-free. Unlike
``resize(reducing_gap=...)`` the region reduced is trimmed to a multiple of f, so no
partial block at the border leaves a bright or dark edge. Images smaller than the target are upscaled and reported, because
upscaled images look soft and a GAN learns that softness.
"""

from __future__ import annotations

import math

import numpy as np
from PIL import Image

RANDOM_CROP_MARGIN = 1.125
_RESAMPLE = Image.Resampling.LANCZOS
REDUCING_GAP = 3.0  # block-average until within 3x of the target size, then Lanczos


def stored_size(target_hw: tuple[int, int], mode: str) -> tuple[int, int]:
    """(H, W) kept in the cache: the target, or a margin larger for --resize random-crop."""
    h, w = target_hw
    if mode == "random-crop":
        return (math.ceil(h * RANDOM_CROP_MARGIN), math.ceil(w * RANDOM_CROP_MARGIN))
    return (h, w)


def _fill(mode: str, background: tuple[int, int, int]) -> int | tuple[int, int, int]:
    if mode == "L":
        return Image.new("RGB", (1, 1), background).convert("L").getpixel((0, 0))  # type: ignore[return-value]
    return background


def center_box(w: int, h: int, tw: int, th: int) -> tuple[float, float, float, float]:
    """Largest centred (left, top, right, bottom) box in a w x h image with aspect tw:th."""
    if w * th > h * tw:  # source is wider than the target: cut the sides
        cw = h * tw / th
        left = (w - cw) / 2
        return (left, 0.0, left + cw, float(h))
    ch = w * th / tw
    top = (h - ch) / 2
    return (0.0, top, float(w), top + ch)


def resize(im: Image.Image, size_wh: tuple[int, int],
           box: tuple[float, float, float, float] | None = None) -> Image.Image:
    """High-quality resize of `box` (default: all) of `im` to size_wh = (W, H)."""
    l, t, r, b = box if box is not None else (0.0, 0.0, float(im.width), float(im.height))
    tw, th = size_wh
    f = int(min((r - l) / tw, (b - t) / th) / REDUCING_GAP)
    if f >= 2:
        nw, nh = int((r - l) // f) * f, int((b - t) // f) * f
        x0 = int(round(l + ((r - l) - nw) / 2))
        y0 = int(round(t + ((b - t) - nh) / 2))
        im = im.crop((x0, y0, x0 + nw, y0 + nh)).reduce(f)
        box = None
    return im.resize((tw, th), _RESAMPLE, box=box)


def fit(im: Image.Image, out_hw: tuple[int, int], mode: str,
        background: tuple[int, int, int] = (255, 255, 255)) -> tuple[Image.Image, bool]:
    """Resize/crop/pad `im` (mode L or RGB) to exactly out_hw = (H, W).

    Returns (image, upscaled) where upscaled says some of the output was enlarged
    from fewer source pixels.
    """
    th, tw = out_hw
    w, h = im.size
    if (w, h) == (tw, th):
        return im, False
    if mode == "stretch":
        return resize(im, (tw, th)), (tw > w or th > h)
    if mode == "pad":
        s = min(tw / w, th / h)
        nw, nh = max(1, min(tw, round(w * s))), max(1, min(th, round(h * s)))
        inner = resize(im, (nw, nh)) if (nw, nh) != (w, h) else im
        canvas = Image.new(im.mode, (tw, th), _fill(im.mode, background))
        canvas.paste(inner, ((tw - nw) // 2, (th - nh) // 2))
        return canvas, s > 1.0
    if mode in ("center-crop", "random-crop"):
        box = center_box(w, h, tw, th)
        upscaled = (box[2] - box[0]) < tw or (box[3] - box[1]) < th
        return resize(im, (tw, th), box), upscaled
    raise ValueError(f"unknown resize mode {mode!r}")


def to_chw(im: Image.Image) -> np.ndarray:
    """Pillow L/RGB image -> uint8 array (C, H, W), C = 1 or 3."""
    a = np.asarray(im, dtype=np.uint8)
    if a.ndim == 2:
        return a[None].copy()
    return np.ascontiguousarray(a.transpose(2, 0, 1))
