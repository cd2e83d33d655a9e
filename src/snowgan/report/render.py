"""Generator -> pictures: interpolation frames, pair grids, average images.

Shared by the CLI commands (commands.py) and ``--mode report``. G is an eval-mode
generator mapping z (B, latent_dim) to images (B, C, H, W) in [-1, 1].
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import numpy as np
import torch
from torch import nn

from ..errors import ConfigError
from ..progress import Progress
from ..sample import to_uint8
from .average import average_generated, average_real, side_by_side
from .grid import check_grid_fits, enlarge_cells, enlarge_factor, make_grid, saved_grid_hw
from .interpolate import keyframe_latents, keyframe_loop, latent_walk, pair_rows
from .video import MIN_SIDE, enlarge

# The most pixels (frames x height x width) an interpolation video may hold: its frames are
# rendered and kept in memory (three copies on the way: images, enlarged cells, frames), so
# this is about 0.8 GB each; 120 frames of a 1024 px model are half of it.
MAX_VIDEO_PIXELS = 1 << 28


@dataclass
class InterpolationSpec:
    """What ``--mode interpolate`` renders: frames, keyframes (or walk harmonics), seed, grid."""

    frames: int = 120
    keyframes: int = 6
    seed: int = 0
    walk: bool = False
    truncation: Optional[float] = None
    grid: Optional[tuple[int, int]] = None  # (rows, cols): every cell follows its own path
    # Latents (N, D) visited first (e.g. a projected photo), then seeds up to `keyframes` in all.
    start: Optional[torch.Tensor] = None


@torch.no_grad()
def render(G: nn.Module, z: torch.Tensor, device: torch.device | str, desc: str,
           progress: str = "auto", batch: int = 64, labels: Optional[torch.Tensor] = None) -> np.ndarray:
    """Images for latents z (N, D), in batches with a progress display; uint8 (N, C, H, W).

    labels: for a conditional G, class indices (N,) or class weights (N, K); None = G's default."""
    out = []
    bar = Progress(len(z), desc, unit="img", mode=progress)
    try:
        for i in range(0, len(z), batch):
            y = None if labels is None else labels[i:i + batch].to(device)
            out.append(to_uint8(G(z[i:i + batch].to(device), y)))
            bar.update(len(out[-1]))
    finally:
        bar.close()
    return np.concatenate(out)


def path_latents(spec: InterpolationSpec, latent_dim: int) -> torch.Tensor:
    """Latents of every frame: (frames, paths, D) with paths = rows*cols of the grid, or 1.

    Keyframes: cell j visits the latents of seeds seed + j*K ... seed + j*K + K-1 and back.
    Walk: every cell drifts on its own smooth loop (interpolate.latent_walk) with K turns.
    """
    paths = spec.grid[0] * spec.grid[1] if spec.grid else 1
    if spec.walk:
        return latent_walk(spec.frames, latent_dim, spec.seed, spec.keyframes, spec.truncation, paths)
    keys = keyframe_latents(spec.keyframes * paths, latent_dim, spec.seed, spec.truncation)
    if spec.start is not None:  # only for one path (no grid): checked by the command
        n = min(len(spec.start), spec.keyframes)
        keys = torch.cat([spec.start[:n].to(keys), keys[:spec.keyframes - n]]) if n < spec.keyframes else spec.start
    keys = keys.reshape(paths, -1, latent_dim).transpose(0, 1)  # (K, paths, D)
    return keyframe_loop(keys, spec.frames)


def check_video_fits(spec: InterpolationSpec, hw: tuple[int, int]) -> None:
    """ConfigError naming --frames (and --grid) when the video ``spec`` asks of h x w images would
    not fit MAX_VIDEO_PIXELS; checked before anything is rendered."""
    h, w = hw
    if spec.grid is not None:
        check_grid_fits(*spec.grid, h, w)
        fh, fw = saved_grid_hw(*spec.grid, h, w)
    else:
        k = enlarge_factor(h, w, MIN_SIDE)
        fh, fw = h * k, w * k
    if spec.frames * fh * fw > MAX_VIDEO_PIXELS:
        raise ConfigError(f"--frames {spec.frames} of {fw}x{fh} px are {spec.frames * fh * fw:,} pixels to hold, "
                          f"more than snowgan's bound of {MAX_VIDEO_PIXELS:,}; give fewer --frames"
                          + (" or a smaller --grid" if spec.grid else ""))


def interpolation_frames(G: nn.Module, spec: InterpolationSpec, device: torch.device | str,
                         progress: str = "auto", class_weights: Optional[torch.Tensor] = None) -> np.ndarray:
    """The video frames, uint8 (frames, H, W, 3): single images enlarged to at least
    video.MIN_SIDE pixels, or a rows x cols grid with cells of at least 64 pixels.

    class_weights: (frames, K) class blend of each frame for a conditional G (every cell of a
    grid frame shares it), e.g. ``class_path`` from one class to another and back."""
    z = path_latents(spec, G.latent_dim)
    t, paths, d = z.shape
    labels = None if class_weights is None else class_weights.repeat_interleave(paths, dim=0)
    images = render(G, z.reshape(t * paths, d), device, "interpolate", progress,
                    labels=labels)  # (T*paths, C, H, W)
    if spec.grid is None:
        frames = images.transpose(0, 2, 3, 1)
        if frames.shape[-1] == 1:
            frames = np.repeat(frames, 3, axis=-1)
        return np.ascontiguousarray(enlarge(frames, MIN_SIDE))
    cells, _ = enlarge_cells(images)
    cells = cells.reshape(t, paths, *cells.shape[1:])
    return np.stack([make_grid(c, nrow=spec.grid[1]) for c in cells])


def class_path(a: int, b: int, num_classes: int, frames: int) -> torch.Tensor:
    """(frames, K) class weights going from class a to class b and back in one smooth loop:
    w(t) = (1 - cos(2 pi t / frames)) / 2 of b, the rest of a."""
    w = (1 - torch.cos(2 * torch.pi * torch.arange(frames) / frames)) / 2
    out = torch.zeros(frames, num_classes)
    out[:, a] += 1 - w
    out[:, b] += w
    return out


def pair_images(G: nn.Module, spec: InterpolationSpec, device: torch.device | str,
                progress: str = "auto") -> np.ndarray:
    """A still grid's images: row r goes from keyframe 0 to keyframe 1 of grid cell r in
    ``cols`` steps; uint8 (rows*cols, C, H, W) for save_grid(nrow=cols)."""
    rows, cols = spec.grid or (1, 8)
    # Row r uses the same first two keyframes as cell r of the grid video (see path_latents).
    k = max(2, spec.keyframes)
    keys = keyframe_latents(k * rows, G.latent_dim, spec.seed, spec.truncation).reshape(rows, k, -1)
    return render(G, pair_rows(keys[:, 0], keys[:, 1], cols), device, "pairs", progress)


def average_picture(G: nn.Module, n: int, seed: int, device: torch.device | str,
                    real: Optional[np.ndarray], mirror: bool = False, truncation: Optional[float] = None,
                    progress: str = "auto") -> np.ndarray:
    """Captioned panels 'generated' and (when real images are given) 'real': uint8 (H, W, 3).

    real: the dataset's uint8 (N, C, H, W) images, or None when the data is not at hand;
    mirror: the run trained with --mirror (see average.average_real).
    """
    gen = average_generated(G, n, seed, device, truncation, progress=progress)
    panels = [(gen, f"average of {n} generated")]
    if real is not None and len(real):
        panels.append((average_real(real, gen.shape[-2:], mirror), f"average of {len(real)} real"))
    return side_by_side(panels)
