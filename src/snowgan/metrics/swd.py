"""Sliced Wasserstein distance on Laplacian-pyramid patches (Karras et al. 2018, progressive GAN).

Protocol, as in the paper's code:

1. Each image (uint8 values as float) is split into a Laplacian pyramid: levels at
   full size, 1/2, 1/4, ... while the shorter side is >= 16 (at least one level);
   5x5 binomial filter, mirror borders (what ``cv2.pyrDown``/``pyrUp`` do).
2. From every level of every image, 128 random 7x7 patches ("descriptors",
   7*7*C values each) are taken.
3. Per level and per image set, descriptors are normalised per colour channel
   (mean 0, std 1 over all patches and positions), then flattened.
4. Per level: 4 repeats x 128 random unit directions; project both sets, sort, and
   average |difference| of the sorted projections (1-D Wasserstein-1 per direction).
5. Reported x 1e3, per level and averaged over levels.

Needs no pretrained network, so it works offline and on any image size. Patch
positions and directions come from a fixed seed, so a number is reproducible.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from .features import float_images

NHOOD = 7
NHOODS_PER_IMAGE = 128
DIR_REPEATS = 4
DIRS_PER_REPEAT = 128
MIN_LEVEL_SIZE = 16

_G1 = torch.tensor([1.0, 4.0, 6.0, 4.0, 1.0], dtype=torch.float64)
_GAUSS = (_G1[:, None] * _G1[None, :]) / 256.0  # (5, 5), sums to 1


@dataclass
class SWD:
    """SWD x 1e3 per pyramid level (keyed by 'HxW' of the level) and their mean."""

    per_level: dict[str, float]
    mean: float
    n_images: int


def level_sizes(h: int, w: int) -> list[tuple[int, int]]:
    """Pyramid level sizes: full size, then halved while the shorter side stays >= 16."""
    sizes = [(h, w)]
    while min(sizes[-1]) // 2 >= MIN_LEVEL_SIZE:
        hh, ww = sizes[-1]
        sizes.append(((hh + 1) // 2, (ww + 1) // 2))
    return sizes


def _blur(x: torch.Tensor, gain: float = 1.0) -> torch.Tensor:
    """5x5 binomial filter per channel with mirror (reflect-without-edge-repeat) borders."""
    c = x.shape[1]
    k = (_GAUSS * gain).to(x.dtype).to(x.device).expand(c, 1, 5, 5)
    if min(x.shape[-2:]) < 3:  # reflect padding of 2 needs 3 pixels; replicate tiny images
        return F.conv2d(F.pad(x, (2, 2, 2, 2), mode="replicate"), k, groups=c)
    return F.conv2d(F.pad(x, (2, 2, 2, 2), mode="reflect"), k, groups=c)


def pyr_down(x: torch.Tensor) -> torch.Tensor:
    return _blur(x)[:, :, ::2, ::2]


def pyr_up(x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Upsample by inserting zeros and filtering with 4x the kernel; cropped to size (odd sizes)."""
    b, c, h, w = x.shape
    up = x.new_zeros(b, c, 2 * h, 2 * w)
    up[:, :, ::2, ::2] = x
    return _blur(up, 4.0)[:, :, :size[0], :size[1]]


def laplacian_pyramid(x: torch.Tensor, n_levels: int) -> list[torch.Tensor]:
    """float (B, C, H, W) -> [band-pass levels..., low-pass residual], finest first."""
    levels = [x]
    for _ in range(1, n_levels):
        low = pyr_down(levels[-1])
        levels[-1] = levels[-1] - pyr_up(low, levels[-1].shape[-2:])
        levels.append(low)
    return levels


def _patches(level: torch.Tensor, rng: np.random.Generator, per_image: int, size: int) -> torch.Tensor:
    """per_image random size x size patches from each image of level (B, C, H, W) -> (B*per_image, C, size, size)."""
    b, c, h, w = level.shape
    r = size // 2
    ys = torch.from_numpy(rng.integers(r, h - r, size=(b, per_image)))
    xs = torch.from_numpy(rng.integers(r, w - r, size=(b, per_image)))
    off = torch.arange(-r, r + 1)
    yy = (ys[..., None] + off)[..., :, None]            # (b, n, size, 1)
    xx = (xs[..., None] + off)[..., None, :]            # (b, n, 1, size)
    img = torch.arange(b)[:, None, None, None]
    flat = level.permute(0, 2, 3, 1)                    # (b, h, w, c)
    patches = flat[img, yy.to(level.device), xx.to(level.device)]  # (b, n, size, size, c)
    return patches.permute(0, 1, 4, 2, 3).reshape(b * per_image, c, size, size)


def descriptors(images: np.ndarray, seed: int = 0, batch: int = 64,
                device: torch.device | str = "cpu") -> list[np.ndarray]:
    """uint8 (N, C, H, W) -> per pyramid level, normalised descriptors (N*128, C*7*7) float32."""
    n, c, h, w = images.shape
    sizes = level_sizes(h, w)
    size = min(NHOOD, h, w)
    size -= (size + 1) % 2  # odd, so a patch has a centre pixel
    rng = np.random.default_rng([seed, 77])
    per_level: list[list[torch.Tensor]] = [[] for _ in sizes]
    for i in range(0, n, batch):
        x = float_images(images[i:i + batch], device)
        for lvl, band in enumerate(laplacian_pyramid(x, len(sizes))):
            per_level[lvl].append(_patches(band, rng, NHOODS_PER_IMAGE, size).cpu())
    out = []
    for chunks in per_level:
        d = torch.cat(chunks).to(torch.float64)
        d = d - d.mean(dim=(0, 2, 3), keepdim=True)
        # Constant channels (std 0) would divide by zero: leave them at 0 instead.
        d = d / d.std(dim=(0, 2, 3), keepdim=True, unbiased=False).clamp_min(1e-8)
        out.append(d.reshape(len(d), -1).float().numpy())
    return out


def sliced_wasserstein(a: np.ndarray, b: np.ndarray, seed: int = 0, dir_repeats: int = DIR_REPEATS,
                       dirs_per_repeat: int = DIRS_PER_REPEAT) -> float:
    """Mean 1-D Wasserstein-1 distance over random unit directions; a, b: (N, D), same N."""
    if a.shape != b.shape:
        raise ValueError(f"descriptor sets differ in shape: {tuple(a.shape)} vs {tuple(b.shape)}")
    rng = np.random.default_rng([seed, 99])
    results = []
    for _ in range(dir_repeats):
        dirs = rng.standard_normal((a.shape[1], dirs_per_repeat))
        dirs = (dirs / np.sqrt((dirs ** 2).sum(axis=0, keepdims=True))).astype(a.dtype)
        # (directions, N), each row contiguous: numpy's sort is far faster than torch's on CPU.
        pa = np.sort((a @ dirs).T, axis=1)
        pb = np.sort((b @ dirs).T, axis=1)
        results.append(float(np.abs(pa - pb).mean()))
    return float(np.mean(results))


def swd_from_descriptors(real: list[np.ndarray], fake: list[np.ndarray], sizes: list[tuple[int, int]],
                         seed: int = 0) -> dict[str, float]:
    """Per-level SWD x 1e3 for descriptor sets of equal image counts."""
    return {f"{h}x{w}": 1e3 * sliced_wasserstein(r, f, seed=seed + lvl)
            for lvl, ((h, w), r, f) in enumerate(zip(sizes, real, fake))}


def swd(real: np.ndarray, fake: np.ndarray, seed: int = 0, device: torch.device | str = "cpu") -> SWD:
    """SWD between two uint8 image sets (N, C, H, W) of the same size; uses min(N_real, N_fake) of each."""
    if real.shape[1:] != fake.shape[1:]:
        raise ValueError(f"image shapes differ: real {real.shape[1:]} vs generated {fake.shape[1:]}")
    n = min(len(real), len(fake))
    if n < 1:
        raise ValueError("SWD needs at least one image on each side")
    sizes = level_sizes(*real.shape[-2:])
    per = swd_from_descriptors(descriptors(real[:n], seed, device=device),
                               descriptors(fake[:n], seed + 1, device=device), sizes, seed)
    return SWD(per, float(np.mean(list(per.values()))), n)
