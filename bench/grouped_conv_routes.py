"""R3GAN's grouped 3x3 convolution through every route PyTorch offers, against the matmul peak.

    python bench/grouped_conv_routes.py
    python bench/grouped_conv_routes.py --batch 32 --group_size 16 --json out.json

R3GAN's blocks are 1x1 -> grouped 3x3 -> 1x1 with 16 channels per group (models/r3gan/networks.py).
bench/matrix_ceiling.py finds the grouped 3x3s, forward and backward, at about half of the
bf16 matmul peak inside a training step, and they are over half of the step's matrix time;
this bench asks whether another way of computing the same layer runs faster. At the layer
shapes of the R3GAN bench configuration (width 32 -> 64 channels at 64 px, up to 512 at 8 px;
batch 32), each route computes the same output:

- ``onednn-cl``: F.conv2d on channels_last tensors (what snowgan runs);
- ``onednn-nchw``: F.conv2d on contiguous (NCHW) tensors;
- ``per-group``: one dense F.conv2d per group on its channel slice, concatenated;
- ``taps-bmm``: nine shifted views of the padded input, each a batched matmul over the groups
  ([groups, B*H*W, gs] x [groups, gs, gs]), summed (the shifted-GEMM idea of
  train/cpu_conv.py's weight gradients);
- ``dense-blockdiag``: one dense convolution with the block-diagonal weight (groups x the
  FLOPs; fast kernels, wasted work);
- and the backward (input and weight gradients) of the first two.

Fractions are of the true grouped FLOPs (2 * B * H * W * C * gs * 9 per pass) over the
time, against a large torch.matmul in the same dtype at the same thread count.
"""

from __future__ import annotations

import argparse
import platform
import sys
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from train_throughput import PEAK_DTYPE, PEAK_NAME, best_seconds, matmul_peak  # noqa: E402
from resultfile import write_results  # noqa: E402


def routes(x: torch.Tensor, w: torch.Tensor, groups: int) -> dict:
    """{route: zero-argument callable} computing conv2d(x, w, padding=1, groups=groups) (or its backward)."""
    B, C, H, W = x.shape
    gs = C // groups
    x_cl, w_cl = x.to(memory_format=torch.channels_last), w.to(memory_format=torch.channels_last)
    x_slices = [x_cl[:, i * gs:(i + 1) * gs] for i in range(groups)]
    w_slices = [w[i * gs:(i + 1) * gs] for i in range(groups)]
    x_pad = F.pad(x_cl, (1, 1, 1, 1)).permute(0, 2, 3, 1).contiguous()  # B, H+2, W+2, C
    w_taps = w.view(groups, gs, gs, 3, 3).permute(3, 4, 0, 2, 1).contiguous()  # kh, kw, groups, in, out
    w_dense = torch.zeros(C, C, 3, 3, dtype=w.dtype)
    for i in range(groups):
        w_dense[i * gs:(i + 1) * gs, i * gs:(i + 1) * gs] = w_slices[i]
    w_dense = w_dense.to(memory_format=torch.channels_last)
    grad = torch.randn_like(x_cl)

    def taps_bmm() -> torch.Tensor:
        out = None
        for i in range(3):
            for j in range(3):
                a = x_pad[:, i:i + H, j:j + W, :].reshape(-1, groups, gs).transpose(0, 1)  # groups, B*H*W, gs
                o = torch.bmm(a, w_taps[i, j])
                out = o if out is None else out + o
        return out

    def backward(xx: torch.Tensor, ww: torch.Tensor, gg: torch.Tensor):
        return lambda: torch.ops.aten.convolution_backward(gg, xx, ww, None, [1, 1], [1, 1], [1, 1], False, [0, 0],
                                                           groups, [True, True, False])

    return {
        "onednn-cl": lambda: F.conv2d(x_cl, w_cl, padding=1, groups=groups),
        "onednn-nchw": lambda: F.conv2d(x, w, padding=1, groups=groups),
        "per-group": lambda: torch.cat([F.conv2d(a, b, padding=1) for a, b in zip(x_slices, w_slices)], 1),
        "taps-bmm": taps_bmm,
        "dense-blockdiag": lambda: F.conv2d(x_cl, w_dense, padding=1),
        "backward onednn-cl": backward(x_cl, w_cl, grad),
        "backward onednn-nchw": backward(x, w, grad.contiguous()),
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--group_size", type=int, default=16)
    p.add_argument("--layers", default="64x64,128x32,256x16,512x8", help="channels x size, comma-separated")
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--threads", type=int, default=0, help="intra-op threads (0: PyTorch's default)")
    p.add_argument("--json", default=None)
    args = p.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    dtype = PEAK_DTYPE
    peak = max(matmul_peak(dtype) for _ in range(2))
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, {PEAK_NAME}; matmul peak "
          f"{peak / 1e9:.0f} GFLOP/s", flush=True)
    torch.manual_seed(0)
    rows = []
    for spec in args.layers.split(","):
        C, H = (int(v) for v in spec.split("x"))
        groups = C // args.group_size
        x = torch.randn(args.batch, C, H, H, dtype=dtype)
        w = torch.randn(C, args.group_size, 3, 3, dtype=dtype) * 0.1
        flops = 2 * args.batch * H * H * C * args.group_size * 9
        reference = F.conv2d(x.float(), w.float(), padding=1, groups=groups)
        line = []
        for name, fn in routes(x, w, groups).items():
            if not name.startswith("backward"):  # same layer, whichever route (taps-bmm: groups, B*H*W, gs)
                y = fn()
                y = y.permute(1, 0, 2).reshape(args.batch, H, H, C).permute(0, 3, 1, 2) if name == "taps-bmm" else y
                err = (y.float() - reference).abs().max().item() / reference.abs().max().item()
                assert err < 0.05, f"{name} computes another layer (relative error {err:.3f})"
            ms = best_seconds(fn, repeats=args.repeats, warmup=2) * 1e3
            passes = 2 if name.startswith("backward") else 1  # input and weight gradients
            rows.append({"channels": C, "size": H, "groups": groups, "route": name, "ms": ms,
                         "fraction_of_peak": passes * flops / (ms / 1e3) / peak})
            line.append(f"{name} {ms:.1f} ms ({100 * rows[-1]['fraction_of_peak']:.0f}%)")
        print(f"C{C} {H}x{H} groups {groups}: " + ", ".join(line), flush=True)
    if args.json:
        write_results(args.json, {"torch": torch.__version__, "python": platform.python_version(),
                                  "threads": torch.get_num_threads(), "peak_dtype": PEAK_NAME,
                                  "matmul_peak_gflops": peak / 1e9, "batch": args.batch,
                                  "group_size": args.group_size, "rows": rows})
    return 0


if __name__ == "__main__":
    sys.exit(main())
