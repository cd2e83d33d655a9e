"""How close to the matmul peak can a training step get? Its matrix kernels, timed one by one.

    python bench/matrix_ceiling.py                          # dcgan64, r3gan64, photos64, projected64
    python bench/matrix_ceiling.py --cases r3gan64 --iterations 4 --json out.json

A step's "fraction of the matmul peak" (bench/train_throughput.py and its family benches) is
its FLOPs over its wall time over a large torch.matmul's FLOP rate. Two things keep it below 1:
the work between the matrix kernels (bias, activations, normalisation, resampling, casts,
the optimizer: memory-bound, no FLOPs counted), and the matrix kernels themselves running
below the peak on the layer shapes the network has. Fusing element-wise work can remove the
first, never the second. This bench separates them:

- **step**: FLOPs / wall time of whole iterations (as the throughput benches measure);
- **ceiling**: FLOPs / time spent *inside* the convolution and matrix-product kernels alone,
  i.e. the fraction the step would reach if everything else took no time at all;
- per kind of layer (dense / 1x1-as-matmul / grouped / depthwise / transposed convolutions,
  forward and backward), that kind's own FLOP rate and its share of the matrix time.

Every aten call the FLOP counter has a formula for (train_throughput.op_flops: convolutions and
matrix products incl. backward and double backward, grouped weight gradients at their true
cost) is timed with perf_counter around the call from a TorchDispatchMode. CPU kernels are
synchronous, so that is the kernel's wall time with all its intra-op threads; the mode's own
per-call overhead falls outside the timed call. The peak is a large torch.matmul in the
dtype the step computes in (train_throughput.PEAK_DTYPE), measured at the same thread count
right after each case.

The cases are the throughput benches' own: DCGAN (bench/train_throughput.py, the family that
reaches ~66 % of the bf16 peak), R3GAN at its bench configuration (bench/r3gan_throughput.py)
and the projected family (bench/projected_throughput.py: the ``photos`` default and the
``projected`` recipe).
"""

from __future__ import annotations

import argparse
import collections
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from train_throughput import PEAK_DTYPE, PEAK_NAME, SnowganIteration, best_seconds, matmul_peak, op_flops  # noqa: E402
from train_throughput import CASES as TRAIN_CASES  # noqa: E402
from projected_throughput import CASES as PROJECTED_CASES  # noqa: E402
from r3gan_throughput import build_parser as r3gan_parser, snowgan_argv as r3gan_argv  # noqa: E402
from resultfile import write_results  # noqa: E402

from snowgan.train.device import configure_threads  # noqa: E402

CASES = {
    "dcgan64": TRAIN_CASES["dcgan64"],
    "r3gan64": r3gan_argv(r3gan_parser().parse_args([])),  # its bench defaults: width 32, RpGAN + R1 + R2
    "photos64": PROJECTED_CASES["photos64"],
    "projected64": PROJECTED_CASES["projected64"],
}

_MATMULS = {"mm", "addmm", "bmm", "baddbmm", "matmul", "_scaled_mm"}


def layer_kind(func, args: tuple) -> str:
    """A name for the kind of matrix work one aten call does, e.g. 'grouped conv backward'.

    Convolutions: dense (groups 1), depthwise (one input channel per group), grouped (the
    rest), transposed; forward or backward. Matrix products: snowgan runs 1x1 convolutions and
    the bf16 weight gradients of dense convolutions (train/cpu_conv.py) as mm, so an mm is
    'matrix product' whatever layer it serves.
    """
    name = func.overloadpacket.__name__
    if name in _MATMULS:
        return "matrix product"
    if name == "convolution_backward":
        w, transposed, groups, way = args[2], args[7], args[9], "backward"
    else:  # convolution / _convolution: (input, weight, bias, stride, padding, dilation, transposed, output_padding, groups)
        w, transposed, groups, way = args[1], args[6], args[8], "forward"
    if transposed:
        shape = "transposed conv"
    elif groups == 1:
        shape = "1x1 conv" if tuple(w.shape[2:]) == (1, 1) else "dense conv"
    elif w.shape[1] == 1:
        shape = "depthwise conv"
    else:
        shape = "grouped conv"
    return f"{shape} {way}"


def time_matrix_kernels(fn, iterations: int) -> tuple[int, float, dict[str, list[float]]]:
    """Run fn `iterations` times; (FLOPs, seconds inside matrix kernels, {kind: [flops, seconds, calls]})."""
    from torch.utils._python_dispatch import TorchDispatchMode
    from torch.utils.flop_counter import FlopCounterMode

    registry = FlopCounterMode(display=False).flop_registry
    kinds: dict[str, list[float]] = collections.defaultdict(lambda: [0.0, 0.0, 0])

    class Timed(TorchDispatchMode):
        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            kwargs = kwargs or {}
            t0 = time.perf_counter()
            out = func(*args, **kwargs)
            dt = time.perf_counter() - t0
            flops = op_flops(func, args, kwargs, out, registry)
            if flops:
                k = kinds[layer_kind(func, args)]
                k[0] += flops
                k[1] += dt
                k[2] += 1
            return out

    with Timed():
        for _ in range(iterations):
            fn()
    flops = int(sum(v[0] for v in kinds.values()))
    seconds = sum(v[1] for v in kinds.values())
    return flops, seconds, dict(kinds)


def run_case(name: str, args: argparse.Namespace) -> dict:
    argv = CASES[name] + ["--progress", "none"]  # a repeated flag: the last one counts
    snow = SnowganIteration(argv)
    for _ in range(args.warmup):
        snow()
    step_s = best_seconds(snow, calls=args.iterations)
    flops, matrix_s, kinds = time_matrix_kernels(snow, args.iterations)
    flops, matrix_s = flops / args.iterations, matrix_s / args.iterations
    peak = max(matmul_peak(PEAK_DTYPE) for _ in range(2))
    out = {"case": name, "argv": argv, "precision": snow.precision.name, "threads": torch.get_num_threads(),
           "load_average_1min": os.getloadavg()[0], "gflop_per_iteration": flops / 1e9,
           "step_ms": step_s * 1e3, "matrix_kernels_ms": matrix_s * 1e3,
           "matrix_share_of_step": matrix_s / step_s, "peak_gflops": peak / 1e9,
           "step_fraction_of_peak": flops / step_s / peak, "ceiling_fraction_of_peak": flops / matrix_s / peak,
           "kinds": {}}
    print(f"[{name}] {snow.precision.name}, {torch.get_num_threads()} threads; {flops / 1e9:.1f} GFLOP per "
          f"iteration; step {step_s * 1e3:.0f} ms = {100 * out['step_fraction_of_peak']:.0f}% of the {PEAK_NAME} "
          f"matmul peak ({peak / 1e9:.0f} GFLOP/s); matrix kernels {matrix_s * 1e3:.0f} ms "
          f"({100 * out['matrix_share_of_step']:.0f}% of the step) = ceiling "
          f"{100 * out['ceiling_fraction_of_peak']:.0f}% of the peak", flush=True)
    for kind, (f, s, n) in sorted(kinds.items(), key=lambda kv: -kv[1][1]):
        f, s = f / args.iterations, s / args.iterations
        out["kinds"][kind] = {"gflop": f / 1e9, "ms": s * 1e3, "calls": n // args.iterations,
                              "share_of_matrix_time": s / matrix_s, "fraction_of_peak": f / s / peak}
        print(f"    {kind:26s} {s * 1e3:7.1f} ms ({100 * s / matrix_s:4.1f}% of matrix time), {f / 1e9:6.2f} GFLOP, "
              f"{f / s / 1e9:5.0f} GFLOP/s = {100 * f / s / peak:3.0f}% of the peak", flush=True)
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--cases", default=",".join(CASES), help=f"comma-separated of {', '.join(CASES)}")
    p.add_argument("--iterations", type=int, default=4, help="iterations timed per measurement")
    p.add_argument("--warmup", type=int, default=3, help="untimed iterations first")
    p.add_argument("--threads", type=int, default=0, help="intra-op threads (0: snowgan's choice)")
    p.add_argument("--json", default=None, help="also write the results here")
    args = p.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    threads = configure_threads(torch.device("cpu")) if args.threads == 0 else f"{args.threads} threads"
    print(f"torch {torch.__version__}, {threads}", flush=True)
    results = [run_case(name, args) for name in args.cases.split(",") if name]
    if args.json:
        info = {"torch": torch.__version__, "python": platform.python_version(), "threads": threads,
                "peak_dtype": PEAK_NAME, "command": " ".join([Path(sys.argv[0]).name] + sys.argv[1:]),
                "results": results}
        write_results(args.json, info)
    return 0


if __name__ == "__main__":
    sys.exit(main())
