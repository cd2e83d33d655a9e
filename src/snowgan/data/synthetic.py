"""The built-in dataset: procedurally drawn mountain landscapes in visibly distinct classes.

No download, any size and aspect ratio, deterministic for a seed. Four classes echo
the mountains seed project (001): desert, green, snowy and rocky mountains. Each image
has a sky gradient, two to three ridgelines of fractal noise with atmospheric
perspective (farther ridges paler), and class-specific ground: dunes, grass, snow caps
and snowfields, or speckled rock. The classes differ in colour *and* shape statistics,
so a generator that covers only some of them is easy to see in a grid, and the labels
serve the probe and conditional features later.
"""

from __future__ import annotations

import hashlib

import numpy as np

from .prepared import PreparedDataset

CLASSES = ("desert", "green", "snowy", "rocky")

# Per class: sky top, sky horizon, far ridge, near ridge, ground colours (RGB 0..1).
_PALETTE = {
    "desert": ((0.35, 0.55, 0.85), (0.98, 0.80, 0.55), (0.80, 0.55, 0.35), (0.65, 0.38, 0.20), (0.90, 0.72, 0.45)),
    "green": ((0.30, 0.55, 0.90), (0.75, 0.88, 0.98), (0.35, 0.55, 0.40), (0.15, 0.45, 0.15), (0.25, 0.60, 0.20)),
    "snowy": ((0.45, 0.60, 0.80), (0.88, 0.92, 0.97), (0.55, 0.60, 0.70), (0.40, 0.42, 0.50), (0.95, 0.96, 0.98)),
    "rocky": ((0.20, 0.35, 0.65), (0.65, 0.75, 0.85), (0.50, 0.48, 0.46), (0.35, 0.32, 0.30), (0.42, 0.40, 0.38)),
}


def _ridge(rng: np.random.Generator, w: int, roughness: float, octaves: int = 6) -> np.ndarray:
    """A 1-D fractal height profile (w,) in roughly [-1, 1]: sum of random sines, 1/f^roughness."""
    x = np.linspace(0.0, 1.0, w)
    y = np.zeros(w)
    for o in range(octaves):
        freq = (2 ** o) * rng.uniform(0.8, 1.6)
        amp = 1.0 / (2 ** (o * roughness))
        y += amp * np.sin(2 * np.pi * (freq * x + rng.uniform()))
    # A dominant peak somewhere makes it read as a mountain, not a wave.
    c, s = rng.uniform(0.2, 0.8), rng.uniform(0.12, 0.3)
    y += 1.6 * np.exp(-((x - c) ** 2) / (2 * s * s))
    return y / (np.abs(y).max() + 1e-8)


def draw_mountain(rng: np.random.Generator, cls: str, h: int, w: int) -> np.ndarray:
    """One landscape as float32 (h, w, 3) in [0, 1]."""
    sky_top, sky_hor, far, near, ground = (np.array(c) for c in _PALETTE[cls])
    jitter = lambda c: np.clip(c + rng.normal(0, 0.04, 3), 0, 1)  # noqa: E731
    yy = np.linspace(0.0, 1.0, h)[:, None, None]
    img = jitter(sky_top) * (1 - yy) + jitter(sky_hor) * yy
    img = np.broadcast_to(img, (h, w, 3)).copy()
    rows = np.arange(h)[:, None]
    roughness = {"desert": 1.2, "green": 1.0, "snowy": 0.8, "rocky": 0.55}[cls]
    layers = rng.integers(2, 4)
    for li in range(layers):
        depth = li / max(1, layers - 1)  # 0 = farthest, 1 = nearest
        base = rng.uniform(0.35, 0.5) + 0.22 * depth
        height = rng.uniform(0.18, 0.38) * (1.2 - 0.5 * depth)
        top = ((base - height * _ridge(rng, w, roughness)) * h)[None, :]
        mask = rows >= top
        colour = jitter(far * (1 - depth) + near * depth)
        # Atmospheric perspective: distant ridges fade toward the horizon colour.
        colour = colour * (0.55 + 0.45 * depth) + sky_hor * (0.45 - 0.45 * depth)
        shade = 1.0 - 0.25 * np.clip((rows - top) / (0.5 * h), 0, 1)[..., None]
        layer = colour[None, None, :] * shade
        if cls == "snowy":
            # Snow caps: the upper part of each ridge is white.
            cap = (rows < top + rng.uniform(0.06, 0.14) * h * (1 + np.sin(np.arange(w) / w * 9 + li)[None, :] * 0.3))
            layer = np.where(cap[..., None], np.array([0.96, 0.97, 1.0]), layer)
        if cls == "rocky":
            speck = rng.normal(0, 0.07, (h, w, 1))
            layer = layer + speck
        img = np.where(mask[..., None], layer, img)
    # Foreground ground band with a gentle curve.
    gline = ((rng.uniform(0.8, 0.9) + 0.04 * np.sin(np.linspace(0, np.pi * rng.uniform(1, 3), w) + rng.uniform(0, 6)))
             * h)[None, :]
    gmask = rows >= gline
    gcol = jitter(ground)
    if cls == "desert":
        # Dune ripples.
        ripple = 0.06 * np.sin(rows / max(1, h) * 60 + np.arange(w)[None, :] / max(1, w) * 8)[..., None]
        glayer = gcol[None, None, :] + ripple
    elif cls == "green":
        glayer = gcol[None, None, :] * (0.8 + 0.2 * rng.random((h, w, 1)))
    else:
        glayer = np.broadcast_to(gcol, (h, w, 3))
    img = np.where(gmask[..., None], glayer, img)
    return np.clip(img, 0, 1).astype(np.float32)


def builtin_images(n: int, h: int, w: int, seed: int = 0, classes: tuple[str, ...] = CLASSES, start: int = 0
                   ) -> tuple[np.ndarray, np.ndarray]:
    """Images start..start+n-1: uint8 (n, 3, h, w) and labels int64 (n,), classes balanced and interleaved.

    Drawn at 2x and downsampled by 2x2 averaging, so edges are anti-aliased at every size.
    Image i depends only on (seed, i, h, w), so any slice of a larger set is the same.
    """
    labels = np.arange(start, start + n, dtype=np.int64) % len(classes)
    out = np.empty((n, 3, h, w), np.uint8)
    for j in range(n):
        rng = np.random.default_rng([seed, start + j, h, w])
        big = draw_mountain(rng, classes[labels[j]], 2 * h, 2 * w)
        small = big.reshape(h, 2, w, 2, 3).mean(axis=(1, 3))
        out[j] = (small * 255 + 0.5).astype(np.uint8).transpose(2, 0, 1)
    return out, labels


def builtin_dataset(cfg) -> PreparedDataset:
    """The built-in mountains at cfg's image size and channels: cfg.data.builtin_count images
    from index cfg.data.builtin_start."""
    h, w = cfg.image_hw
    n, start = int(cfg.data.builtin_count), int(cfg.data.builtin_start)
    if n < 1 or start < 0:
        from ..config import ConfigError

        raise ConfigError("--builtin_count must be at least 1 and --builtin_start at least 0")
    images, labels = builtin_images(n, h, w, seed=0, start=start)
    if cfg.data.channels == 1:
        gray = images.astype(np.float32).transpose(0, 2, 3, 1) @ np.array([0.299, 0.587, 0.114], np.float32)
        images = (gray + 0.5).astype(np.uint8)[:, None]
    # start 0 keeps the fingerprint it had before --builtin_start existed (caches, recorded runs).
    key = f"builtin-v1:{n}:{h}x{w}:{cfg.data.channels}" + (f":start{start}" if start else "")
    fp = hashlib.sha256(key.encode()).hexdigest()[:16]
    which = f"{n} images" if not start else f"{n} images (numbers {start}..{start + n - 1})"
    return PreparedDataset(
        images=images, labels=labels, class_names=list(CLASSES), fingerprint=fp,
        description=f"built-in mountains: {which} at {h}x{w}, classes {', '.join(CLASSES)}")
