"""One R3GAN residual block, five ways to run its 3x3: what models/r3gan/networks.py chose and why.

    python bench/r3gan_block.py                    # 64 px stage widths of the recipe, batch 32
    python bench/r3gan_block.py --threads 2 --repeats 5

Each variant runs the block's forward, backward and the R1 double backward (the input
gradient of a score, squared, differentiated again), as D does in every step:

- grouped-bf16:      snowgan's choice: GroupedConv2d (oneDNN's grouped kernels in bf16, and
                     for every derivative, models/r3gan/grouped_conv.py);
- grouped-bf16-native: F.conv2d(groups=...) under bf16 autocast, PyTorch's own derivatives
                     (its double backward convolves once per group on transposed copies);
- grouped-fp32-in-bf16: the grouped 3x3 alone in float32, the rest of the block in bf16;
- dense-bf16:        an ungrouped 3x3 (cardinality 1; 4x-32x the FLOPs), through
                     train/cpu_conv.py's bf16 path;
- all-fp32:          the whole block in float32 (GroupedConv2d).

Shapes are (stage width C at resolution R): the block's inner width is 2C in groups of 16.
The variants alternate within each repeat; the best time of each is reported.
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from snowgan.models.r3gan.networks import ResidualBlock  # noqa: E402
from snowgan.train.device import pick_precision  # noqa: E402


class NativeGrouped(nn.Conv2d):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.conv2d(x, self.weight, padding=self.padding, groups=self.groups)


class Fp32Grouped(nn.Conv2d):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        with torch.autocast("cpu", enabled=False):
            return F.conv2d(x.float(), self.weight, padding=self.padding, groups=self.groups)


def with_conv2(block: ResidualBlock, cls: type, groups: int | None = None) -> ResidualBlock:
    b = copy.deepcopy(block)
    c = b.conv2
    new = cls(c.in_channels, c.out_channels, 3, padding=1, groups=c.groups if groups is None else groups,
              bias=False)
    if groups is None:
        new.weight = c.weight
    b.conv2 = new
    return b


def variants(channels: int) -> dict[str, tuple[nn.Module, bool]]:
    torch.manual_seed(0)
    block = ResidualBlock(channels, n_blocks=5)
    nn.init.normal_(block.conv3.weight, 0.0, 0.01)  # not the identity: every layer on the gradient path
    out = {"grouped-bf16": (block, True), "grouped-bf16-native": (with_conv2(block, NativeGrouped), True),
           "grouped-fp32-in-bf16": (with_conv2(block, Fp32Grouped), True),
           "dense-bf16": (with_conv2(block, nn.Conv2d, groups=1), True), "all-fp32": (copy.deepcopy(block), False)}
    return {k: (m.to(memory_format=torch.channels_last), bf16) for k, (m, bf16) in out.items()}


def r1_pass(block: nn.Module, x: torch.Tensor, bf16: bool) -> None:
    dev = torch.device("cpu")
    ctx = pick_precision("bf16", dev).autocast(dev) if bf16 else contextlib.nullcontext()
    xi = x.detach().requires_grad_(True)
    with ctx:
        score = block(xi).float().mean(dim=(1, 2, 3))
        (g,) = torch.autograd.grad(score.sum(), xi, create_graph=True)
    (score.mean() + g.float().square().sum()).backward()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--shapes", default="32x64,64x32,128x16,256x8", help="stage width x resolution, comma-separated")
    p.add_argument("--batch_size", type=int, default=32)
    p.add_argument("--repeats", type=int, default=4)
    p.add_argument("--threads", type=int, default=1)
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {args.threads} thread(s), batch {args.batch_size}; best of {args.repeats}")
    for shape in args.shapes.split(","):
        c, r = (int(v) for v in shape.split("x"))
        x = torch.randn(args.batch_size, c, r, r).to(memory_format=torch.channels_last)
        vs = variants(c)
        best = {k: float("inf") for k in vs}
        for k, (m, bf16) in vs.items():
            r1_pass(m, x, bf16)  # warm-up: oneDNN primitive creation
        for _ in range(args.repeats):
            for k, (m, bf16) in vs.items():
                t0 = time.perf_counter()
                r1_pass(m, x, bf16)
                best[k] = min(best[k], time.perf_counter() - t0)
        print(f"C={c} R={r}: " + ", ".join(f"{k} {v * 1e3:.0f} ms" for k, v in best.items()), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
