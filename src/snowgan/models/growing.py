"""Progressive growing (Karras et al. 2018) for a family whose entry says ``grows=True``: which
resolution, alpha and batch size now, and the real images at that size.

The schedule is counted in real images shown, as in the paper:

    level 0 (start size)  stable  pg_stable_kimg
    level 1               fade    pg_fade_kimg    alpha 0 -> 1
                          stable  pg_stable_kimg
    ...
    last level            fade    pg_fade_kimg
                          stable  until training ends

``Schedule.stage(images_seen)`` is a pure function of the image count, so a run resumed
from a checkpoint (which restores the count) continues the same fade at the same alpha;
the loop records the stage in its stats and checkpoint state only for people to read.

Real images are prepared once at the final size; ``real_for_stage`` shrinks a batch to
the stage's size and, during a fade, blends it with its 2x-lower-resolution version
upsampled -- exactly what the fading generator outputs -- so D compares like with like.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from torch import nn

from ..config import Config, ConfigError
from ..sizes import split_size


def stage_resolutions(final_hw: tuple[int, int], start: int) -> list[tuple[int, int]]:
    """(h, w) of every level, level 0 first: the sizes base*2^j from the start size to final_hw.

    start: the shorter side to begin at; the largest size whose shorter side is at most
    ``start`` is used (e.g. 160x160 grows 5 -> 10 -> ... -> 160 from start 4 or 5).
    """
    h0, w0, k = split_size(*final_hw)
    sizes = [(h0 * 2 ** j, w0 * 2 ** j) for j in range(k + 1)]
    if start < 1 or start > min(final_hw):
        raise ConfigError(f"--pg_start {start}: give a starting size between {min(sizes[0])} and the "
                          f"final --image_size's shorter side {min(final_hw)}")
    first = max((j for j, hw in enumerate(sizes) if min(hw) <= start), default=0)
    return sizes[first:]


@dataclass(frozen=True)
class Stage:
    level: int  # 0 = start resolution
    res: tuple[int, int]  # (h, w) of G's output and D's input now
    alpha: float  # fade-in weight of the newest level; 1.0 when stable
    batch_size: int  # images per D step at this resolution
    phase: str  # 'fade' | 'stable'

    def to_dict(self) -> dict:
        return asdict(self)


def parse_pg_batch(text: str) -> dict[int, int]:
    """'4:64,8:64,16:32' -> {4: 64, 8: 64, 16: 32} (shorter side -> batch size). Empty -> {}."""
    out: dict[int, int] = {}
    for item in str(text or "").replace(" ", "").split(","):
        if not item:
            continue
        try:
            side, batch = (int(v) for v in item.split(":"))
        except ValueError:
            raise ConfigError(f"--pg_batch {text!r}: give SIDE:BATCH pairs, e.g. '4:64,8:64,16:32'") from None
        if side < 1 or batch < 1:
            raise ConfigError(f"--pg_batch {text!r}: sides and batch sizes must be positive")
        out[side] = batch
    return out


class Schedule:
    """Stage as a function of images seen, for the final size final_hw (h, w).

    Batch sizes come from --pg_batch (keys are the shorter side of a level; entries for
    sizes this run never reaches are allowed, so one string can serve several runs),
    else --batch_size. Each must divide by --grad_accum.
    """

    def __init__(self, cfg: Config, final_hw: tuple[int, int]) -> None:
        m = cfg.model
        if m.pg_fade_kimg < 0 or m.pg_stable_kimg < 0:
            raise ConfigError("--pg_fade_kimg and --pg_stable_kimg must not be negative")
        self.resolutions = stage_resolutions(tuple(final_hw), m.pg_start)
        self.fade_images = m.pg_fade_kimg * 1000.0
        self.stable_images = m.pg_stable_kimg * 1000.0
        sizes = parse_pg_batch(m.pg_batch)
        self.batch_sizes = [sizes.get(min(hw), cfg.train.batch_size) for hw in self.resolutions]
        for hw, b in zip(self.resolutions, self.batch_sizes):
            if b % cfg.train.grad_accum:
                raise ConfigError(f"--pg_batch: batch {b} at {hw[0]}x{hw[1]} is not divisible by "
                                  f"--grad_accum {cfg.train.grad_accum}")

    @property
    def levels(self) -> int:
        return len(self.resolutions)

    @property
    def final_stable_at(self) -> float:
        """Images seen when the final resolution is fully faded in (growth is over)."""
        n = self.levels
        return 0.0 if n == 1 else self.stable_images + (n - 1) * self.fade_images + (n - 2) * self.stable_images

    def _make(self, level: int, alpha: float, phase: str) -> Stage:
        return Stage(level, self.resolutions[level], alpha, self.batch_sizes[level], phase)

    def stage(self, images_seen: int) -> Stage:
        t = float(images_seen)
        if t < self.stable_images or self.levels == 1:
            return self._make(0, 1.0, "stable")
        t -= self.stable_images
        for level in range(1, self.levels):
            if t < self.fade_images:
                return self._make(level, t / self.fade_images, "fade")
            t -= self.fade_images
            if t < self.stable_images or level == self.levels - 1:
                return self._make(level, 1.0, "stable")
            t -= self.stable_images
        raise AssertionError("unreachable: the last level's stable phase has no end")


def apply_stage(stage: Stage, *networks: nn.Module) -> None:
    """set_stage on each network (G, D and the EMA generator: all three must agree)."""
    for net in networks:
        net.set_stage(stage.level, stage.alpha)


def real_for_stage(x: torch.Tensor, stage: Stage) -> torch.Tensor:
    """Full-size reals (B, C, H, W) in [-1, 1] -> (B, C, h, w) at the stage's size, faded like G's output.

    Area downsampling (an exact average over 2^m x 2^m pixel blocks, m = levels above
    the stage); during a fade, lerp(upsample2x(avgpool2x(x_stage)), x_stage, alpha).
    """
    h, w = stage.res
    H, W = x.shape[-2:]
    factor = H // h
    if H % h or W % w or W // w != factor or factor & (factor - 1):
        raise ValueError(f"real images of {H}x{W} cannot be reduced to the stage size {h}x{w}")
    if factor > 1:
        x = F.avg_pool2d(x, factor)
    if stage.phase == "fade" and stage.alpha < 1.0:
        lo = F.interpolate(F.avg_pool2d(x, 2), scale_factor=2.0, mode="nearest")
        x = torch.lerp(lo, x, stage.alpha)
    return x
