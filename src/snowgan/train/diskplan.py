"""How many bytes a training run is about to write, so a week-long run does not find out on day five.

The estimate (``diskspace.RunWrites``) counts what stays on disk at the peak: the kept
checkpoints plus the one being written before pruning, milestones and the best
checkpoint, every sample grid still to come, and the logs and report. It is meant to
be the right order of magnitude, not exact: PNG compression and the optimizer's exact
state size are guessed from the networks.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Optional

import torch

from ..config import Config
from ..diskspace import RunWrites, folder_bytes, low_space_warning
from ..run import checkpoint as ckpt

STATS_LINE_BYTES = 600  # one stats.jsonl line, with every field
REPORT_BYTES = 2 << 20  # plots/*.png and report.html, rewritten in place
CHECKPOINT_EXTRA_BYTES = 64 << 10  # state.json, RNG states, manifest


def checkpoint_bytes(networks: dict[str, dict[str, torch.Tensor]], trainable: list[torch.nn.Parameter]) -> int:
    """One checkpoint: every network's tensors, two optimizer moments per trained weight (Adam,
    AdaBelief; present after the first step even if not yet now), and the small files."""
    nets = sum(t.numel() * t.element_size() for sd in networks.values() for t in sd.values())
    moments = 2 * sum(p.numel() * p.element_size() for p in trainable)
    return nets + moments + CHECKPOINT_EXTRA_BYTES


def iterations_left(cfg: Config, step: int, images_seen: int, total_images: int, batch_size: int) -> int:
    """Iterations until the run ends, from where it stands now."""
    if cfg.train.steps is not None:
        return max(0, cfg.train.steps - step)
    return math.ceil(max(0, total_images - images_seen) / (cfg.train.disc_steps * batch_size))


def estimate_writes(cfg: Config, checkpoint_size: int, step: int, left: int, keeps_best: bool) -> RunWrites:
    """What the next ``left`` iterations leave on disk, from iteration ``step`` on."""
    log = cfg.log
    milestones = 0
    if log.milestone_every > 0:
        milestones = (step + left) // log.milestone_every - step // log.milestone_every
    h, w = cfg.image_hw
    return RunWrites(checkpoint_bytes=checkpoint_size,
                     checkpoints=log.keep_checkpoints + 1 + milestones + int(keeps_best),
                     grid_bytes=log.grid_size * cfg.data.channels * h * w,
                     grids=left // log.sample_every + 1,
                     other_bytes=(left // log.log_every + 1) * STATS_LINE_BYTES + REPORT_BYTES * int(log.report))


def free_space_warning(cfg: Config, run_dir: Path, checkpoint_size: int, step: int, left: int,
                       keeps_best: bool) -> Optional[str]:
    """The start-of-run warning when the disk holds less than the run will write, else None."""
    writes = estimate_writes(cfg, checkpoint_size, step, left, keeps_best)
    # Regular checkpoints already here are pruned as new ones come: their space is reused.
    already = sum(folder_bytes(p) for p in ckpt.checkpoint_dirs(run_dir) if not ckpt.is_milestone(p))
    return low_space_warning(run_dir, writes, already)
