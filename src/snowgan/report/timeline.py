"""The training-progress video: the fixed-latent sample grids of a run, in order, labelled.

Every frame is one ``samples/step-*.png`` (the same latents each time, so the video shows
the generator learning), resized with nearest-neighbour to the final grid's size (earlier
progressive phases are smaller) and captioned with step, kimg, epoch and resolution.
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import numpy as np
from PIL import Image

from .annotate import add_caption, caption_height
from .runfiles import SampleGrid, sample_grids

# Above this many pixels on a side, frames are scaled down (area average): a 64-image grid of
# 128 px images is over 1000 px wide, and a few hundred such frames fill memory and disk.
MAX_SIDE = 1024


def grid_label(g: SampleGrid, image_size: Optional[str] = None) -> str:
    """'step 1200 · 76.8 kimg · epoch 12.0 · 32x32' (+ ' fade-in 40%' while a new layer fades in).

    image_size: the run's --image_size, shown when the grid has no progressive resolution.
    """
    parts = [f"step {g.step}"]
    if g.kimg is not None:
        parts.append(f"{g.kimg:.1f} kimg" if g.kimg >= 10 else f"{g.kimg:.3g} kimg")
    if g.epoch is not None:
        parts.append(f"epoch {g.epoch:.1f}")
    res = g.res or (image_size if image_size and "x" in image_size else
                    f"{image_size}x{image_size}" if image_size else None)
    if res:
        fading = g.alpha is not None and g.alpha < 1
        parts.append(res + (f" fade-in {g.alpha:.0%}" if fading else ""))
    return " · ".join(parts)


def pick(grids: list[SampleGrid], max_frames: int) -> list[SampleGrid]:
    """At most max_frames grids spread evenly over the run, always keeping the first and last."""
    if max_frames < 1:
        raise ValueError("max_frames must be at least 1")
    if len(grids) <= max_frames:
        return grids
    idx = np.unique(np.linspace(0, len(grids) - 1, max_frames).round().astype(int))
    return [grids[i] for i in idx]


def frame_size(grids: list[SampleGrid]) -> tuple[int, int]:
    """(width, height) of the video picture: the final grid's size, capped at MAX_SIDE."""
    with Image.open(grids[-1].path) as im:
        w, h = im.size
    scale = min(1.0, MAX_SIDE / max(w, h))
    return max(2, round(w * scale)), max(2, round(h * scale))


class ProgressFrames:
    """A lazy sequence of captioned frames, uint8 (H, W, 3), one per grid: each PNG is read
    only when its frame is asked for (see video.py), so memory stays one frame."""

    def __init__(self, grids: list[SampleGrid], image_size: Optional[str] = None) -> None:
        if not grids:
            raise ValueError("no sample grids")
        self.grids = grids
        self.image_size = image_size
        self.size = frame_size(grids)
        self.bar = caption_height(self.size[0])

    def __len__(self) -> int:
        return len(self.grids)

    def __getitem__(self, i: int) -> np.ndarray:
        g = self.grids[i]
        with Image.open(g.path) as im:
            im = im.convert("RGB")
            if im.size != self.size:
                # Nearest when enlarging keeps small phases' pixels crisp; area average when
                # shrinking an oversized grid avoids aliasing.
                up = im.size[0] <= self.size[0]
                im = im.resize(self.size, Image.Resampling.NEAREST if up else Image.Resampling.BOX)
            arr = np.asarray(im)
        return add_caption(arr, grid_label(g, self.image_size), self.bar)


def progress_frames(run_dir: Path, max_frames: int = 300,
                    image_size: Optional[str] = None) -> ProgressFrames:
    """Frames of the run's progress video (lazy). Raises FileNotFoundError when the run has no grids."""
    grids = sample_grids(run_dir)
    if not grids:
        raise FileNotFoundError(f"{run_dir} has no sample grids yet (samples/step-*.png)")
    return ProgressFrames(pick(grids, max_frames), image_size)
