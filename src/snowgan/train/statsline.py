"""What one stats.jsonl line and the progress status say about where training is.

Pure functions of the Trainer's counters: the loop adds what other parts own (techniques,
memory, metrics) and writes the line.
"""

from __future__ import annotations

import time
from typing import Optional

import torch

from . import distributed as dist_util


def status_text(counters: dict, epoch: float, total_images: Optional[int], total_steps: Optional[int]) -> str:
    """'step 120/960 · epoch 7.50 · 7.7/61.4 kimg' for the progress bar and log.txt (no totals while
    a --minutes run is still measuring its speed: total_images None)."""
    steps = f"step {counters['step']:,}" + (f"/{total_steps:,}" if total_steps else "")
    size = total_images or counters["images_seen"]
    digits = 1 if size >= 10_000 else 2 if size >= 1_000 else 3
    seen = f"{counters['images_seen'] / 1000:.{digits}f}"
    kimg = f"{seen}/{total_images / 1000:.{digits}f} kimg" if total_images else f"{seen} kimg (measuring speed)"
    return f"{steps} · epoch {epoch:.2f} · {kimg}"


def stats_line(counters: dict, epoch: float, sums: dict[str, torch.Tensor], n: int, t_log: float, img_log: int,
               world: int) -> dict:
    """Counters, the mean of each summed statistic over its n iterations, and the rate since t_log.

    sums: device tensors accumulated since the last line; reading them is the one host sync
    per log line (averaged over ranks under torchrun). img_log: images seen at t_log.
    """
    line: dict = {"step": counters["step"], "kimg": round(counters["images_seen"] / 1000, 4),
                  "epoch": round(epoch, 4), "time_s": round(counters["time_s"], 2)}
    if n:
        keys = sorted(sums)
        values = torch.stack([sums[k].float() / n for k in keys])
        values = dist_util.all_reduce_mean(values, world).tolist()
        line.update({k: round(v, 6) for k, v in zip(keys, values)})
    dt = max(time.time() - t_log, 1e-9)
    line["imgs_per_s"] = round((counters["images_seen"] - img_log) / dt, 2)
    line["sec_per_kimg"] = round(1000 / max(line["imgs_per_s"], 1e-9), 2)
    line["skipped_steps"] = counters["skipped_steps"]
    return line
