"""How long the studio takes to draw its 3x3 seed grid, per image size and generator width.

usage: python bench/studio_grid_time.py

Untrained DCGAN generators (the time does not depend on the weights), CPU, the threads torch
picks; each grid is new seeds through Engine.images (latents + one batched forward + uint8),
the median of 5 after one warm-up. Prints the load average too: on a shared machine it explains
more of the spread than the model does.
"""

from __future__ import annotations

import os
import statistics
import time

import torch

from snowgan.config import Config
from snowgan.models.registry import build_networks
from snowgan.studio.engine import Engine


def main() -> None:
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores, torch threads {torch.get_num_threads()}")
    for size, width in (("32", 32), ("64", 64), ("64", 32)):
        cfg = Config()
        cfg.data.image_size, cfg.model.g_width = size, width
        G = build_networks(cfg)[0]
        eng = Engine(G, cfg)
        eng.images([f"seed:{i}" for i in range(9)], None)
        times = []
        for r in range(1, 6):
            t0 = time.perf_counter()
            eng.images([f"seed:{9 * r + i}" for i in range(9)], None)
            times.append(time.perf_counter() - t0)
        n = sum(p.numel() for p in G.parameters()) / 1e6
        print(f"{size} px, g_width {width} ({n:.2f} M parameters): 3x3 grid {statistics.median(times) * 1000:.0f} ms")


if __name__ == "__main__":
    main()
