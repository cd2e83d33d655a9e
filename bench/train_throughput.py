"""Training throughput: snowgan's default step against a plain fp32 PyTorch reference, in one process.

    python bench/train_throughput.py                       # all cases, 7 repeats
    python bench/train_throughput.py --cases dcgan64 --repeats 9 --json out.json

Cases (built-in dataset, resolved through the real recipe/flag machinery):

- dcgan64:  DCGAN at 64x64, widths 64, batch 64, nonsat (pytorch/examples' dcgan);
- wgangp32: the ``noise`` recipe at 32x32 (instance-norm G, critic without norm,
            WGAN-GP lambda 10, 5 critic steps, Adam 1e-4 (0.5, 0.9), batch 64);
- progan64: the ``bobross`` recipe at 64x64, batch 16, at the final stage (64 px,
            alpha 1): WGAN-GP + drift, equalised lr, pixel norm, minibatch stddev.

snowgan runs exactly what ``snowgan --mode train`` runs per iteration (Batches.next ->
GANSteps.d_step x disc_steps -> g_step -> EMA update) with its defaults: precision auto
(bf16 autocast on CPUs with bf16 matrix units), channels_last, fused Adam, threads =
the cores other jobs leave free, plus whatever flags ``--snowgan_flags`` adds (e.g. "--compile true"). The
reference is bench/plain_reference.py. The two alternate in blocks of about
``--block_s`` seconds (order swapped every repeat), so a machine shared with other
jobs slows both alike; each repeat gives one ratio, and the median and range of the
ratios are reported. Throughput is real images shown to D per second.

Also reported: the FLOPs of one iteration (torch.utils.flop_counter, convolutions and
matrix products incl. backward and double backward) and the fraction of this machine's
matmul peak the step reaches, the peak measured here with a large torch.matmul in bf16 where
the CPU has bf16 matrix units, else in fp32 (what snowgan trains in there; PEAK_DTYPE).
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from plain_reference import PlainReference  # noqa: E402
from resultfile import write_results  # noqa: E402

from snowgan.flags import parse_args  # noqa: E402
from snowgan.data.dataset import Batches  # noqa: E402
from snowgan.data.synthetic import builtin_dataset  # noqa: E402
from snowgan.models.registry import build_networks  # noqa: E402
from snowgan.train.compiling import compile_networks  # noqa: E402
from snowgan.run.device import pick_device  # noqa: E402
from snowgan.train.device import configure_threads, cpu_has_fast_bf16, keep_freed_memory, pick_precision  # noqa: E402
from snowgan.train.ema import ema_beta  # noqa: E402
from snowgan.train.step import GANSteps, prepare_networks  # noqa: E402
from snowgan.train.techniques import Techniques  # noqa: E402

CASES = {
    "dcgan64": ["--loss", "nonsat", "--image_size", "64", "--batch_size", "64"],
    "wgangp32": ["--recipe", "noise", "--image_size", "32", "--batch_size", "64"],
    "progan64": ["--recipe", "bobross", "--image_size", "64", "--batch_size", "16", "--pg_batch", ""],
}


class SnowganIteration:
    """One `snowgan --mode train` iteration (the loop's hot path, without logging/checkpoints)."""

    def __init__(self, argv: list[str], seed: int = 0) -> None:
        cfg, _ = parse_args(argv)
        self.cfg = cfg
        self.device = pick_device(cfg.run.device)
        self.precision = pick_precision(cfg.train.precision, self.device)
        if self.device.type == "cpu":  # as the Trainer does; process-wide, so the reference gains alike
            keep_freed_memory()
        self.dataset = builtin_dataset(cfg)
        self.batches = Batches(self.dataset, seed, self.device, cfg.image_hw, cfg.data.mirror,
                               channels_last=cfg.train.channels_last)
        torch.manual_seed(seed)
        G, D = build_networks(cfg)
        self.G_init, self.D_init = G, D  # fp32, contiguous: what the reference copies
        G2, D2 = prepare_networks(cfg, G, D, self.device)
        self.tech = Techniques(cfg)
        G_run, D_run = compile_networks(cfg, G2, D2, self.precision, print)  # as the loop does (--compile)
        self.steps = GANSteps(cfg, G_run, D_run, self.device, self.precision, self.tech.augment,
                              G_module=G2, D_module=D2)
        # Progressive: the final stage (full size, alpha 1), as the last and longest phase of a run.
        self.batch_size = self.tech.begin_iteration(10 ** 15, G2, D2, self.steps.G_ema)
        self.images_seen = 0
        self.d_steps = 0

    def __call__(self) -> None:
        t, bs = self.cfg.train, self.batch_size
        for _ in range(t.disc_steps):
            real = self.tech.real(self.batches.next(bs))
            self.steps.d_step(real, self.d_steps)
            self.d_steps += 1
            self.images_seen += bs
        for _ in range(t.gen_steps):
            self.steps.g_step(real)
        self.steps.update_ema(ema_beta(bs, self.images_seen, t.ema_kimg, t.ema_rampup))

    def reference(self) -> PlainReference:
        t, m = self.cfg.train, self.cfg.model
        images = torch.from_numpy(self.dataset.images).float().div(127.5).sub(1.0)
        return PlainReference(self.G_init, self.D_init, images, loss=m.loss, batch_size=t.batch_size,
                              disc_steps=t.disc_steps, lr_g=t.gen_lr, lr_d=t.disc_lr, betas=(t.beta1, t.beta2),
                              gp_weight=m.gp_weight, drift_weight=m.drift_weight)


def timed_block(fn, seconds: float) -> tuple[int, float]:
    """Run fn until `seconds` have passed (at least once); (calls, elapsed seconds)."""
    n, t0 = 0, time.perf_counter()
    while True:
        fn()
        n += 1
        dt = time.perf_counter() - t0
        if dt >= seconds:
            return n, dt


def best_seconds(fn, calls: int = 1, repeats: int = 3, warmup: int = 0) -> float:
    """Best (over repeats) mean wall time of one call of fn, timing `calls` calls at a time after
    `warmup` untimed ones: for single kernels or steps, where the fastest repeat is the least disturbed."""
    for _ in range(warmup):
        fn()
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        for _ in range(calls):
            fn()
        best = min(best, (time.perf_counter() - t0) / calls)
    return best


# The peak a step's FLOP/s is set against: the matmul dtype snowgan's step runs in on this CPU. bf16
# where the CPU has bf16 matrix units (the "fraction of the bf16 peak"); elsewhere (AVX2)
# snowgan trains in fp32, and an emulated bf16 matmul is slower than fp32, so a fraction of it
# would flatter the step.
PEAK_DTYPE = torch.bfloat16 if cpu_has_fast_bf16() else torch.float32
PEAK_NAME = "bf16" if PEAK_DTYPE == torch.bfloat16 else "fp32"


def matmul_peak(dtype: torch.dtype, n_max: int = 3072, reps: int = 3, min_s: float = 0.2) -> float:
    """Best FLOP/s of an n x n x n torch.matmul in dtype over reps tries.

    n doubles from 512 until one product takes min_s (or n reaches n_max), so the matrices are
    large enough to reach the peak where the dtype is fast and a slow dtype costs seconds, not
    the minutes a 3072-cube takes in emulated bf16.
    """
    n = 512
    while True:
        a, b = torch.randn(n, n, dtype=dtype), torch.randn(n, n, dtype=dtype)
        t0 = time.perf_counter()
        a @ b
        if time.perf_counter() - t0 >= min_s or n >= n_max:
            break
        n = min(2 * n, n_max)
    best = float("inf")
    for _ in range(reps):
        t0 = time.perf_counter()
        a @ b
        best = min(best, time.perf_counter() - t0)
    return 2 * n ** 3 / best


def op_flops(func, args: tuple, kwargs: dict, out, registry: dict) -> int:
    """FLOPs of one aten call by torch.utils.flop_counter's formulas (0 for ops it has none for).

    One correction: that counter's formula for the *weight* gradient of a grouped convolution
    ignores the groups (it counts the layer as if dense: groups times too many, 4x-32x for
    R3GAN's 3x3s). A convolution's data and weight gradients each cost what its forward does,
    2 * B * H_out * W_out * numel(weight), which is what is counted here for grouped layers.
    """
    packet = func.overloadpacket
    if packet is torch.ops.aten.convolution_backward and args[9] > 1 and not args[7]:  # grouped, not transposed
        g, w, mask = args[0], args[2], args[10]
        return 2 * g.shape[0] * g.shape[2] * g.shape[3] * w.numel() * (int(mask[0]) + int(mask[1]))
    if packet in registry:
        return registry[packet](*args, **kwargs, out_val=out)
    return 0


def count_flops(fn) -> int:
    """FLOPs of the matrix work fn does (convolutions and matrix products, incl. backward and
    double backward; op_flops' formulas).

    FlopCounterMode itself tracks modules with hooks that autograd.grad(create_graph=True)
    (the gradient penalty) rejects, so its registry is applied from a plain dispatch mode.
    """
    from torch.utils._python_dispatch import TorchDispatchMode
    from torch.utils.flop_counter import FlopCounterMode

    registry = FlopCounterMode(display=False).flop_registry

    class Count(TorchDispatchMode):
        total = 0

        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            kwargs = kwargs or {}
            out = func(*args, **kwargs)
            Count.total += op_flops(func, args, kwargs, out, registry)
            return out

    with Count():
        fn()
    return Count.total


def spread(values: list[float]) -> dict:
    v = sorted(values)
    q = statistics.quantiles(v, n=4) if len(v) >= 2 else [v[0]] * 3
    return {"median": statistics.median(v), "min": v[0], "max": v[-1], "q1": q[0], "q3": q[2], "n": len(v)}


def run_case(name: str, args: argparse.Namespace, peaks: list[float]) -> dict:
    argv = CASES[name] + ["--progress", "none"] + args.snowgan_flags.split()
    snow = SnowganIteration(argv)
    ref = snow.reference()
    per_iter = snow.cfg.train.disc_steps * snow.batch_size
    print(f"[{name}] snowgan precision {snow.precision.name}, channels_last {snow.cfg.train.channels_last}, "
          f"compile {snow.cfg.train.compile}; {per_iter} real images per iteration", flush=True)
    for _ in range(args.warmup):  # first calls pay for allocations, oneDNN primitive creation, compile
        snow()
        ref.iteration()
    flops_snow, flops_ref = count_flops(snow), count_flops(ref.iteration)
    ratios, ips_snow, ips_ref, thread_notes, fractions = [], [], [], [], []
    for r in range(args.repeats):
        # What a run starting now would pick (cores other jobs keep busy are left out); both sides share it.
        threads = configure_threads(torch.device("cpu")) if args.threads == 0 else str(args.threads)
        thread_notes.append(threads)
        order = [("snow", snow), ("ref", ref.iteration)]
        if r % 2:
            order.reverse()
        got = {}
        for key, fn in order:
            n, dt = timed_block(fn, args.block_s)
            got[key] = n * per_iter / dt
        ips_snow.append(got["snow"])
        ips_ref.append(got["ref"])
        ratios.append(got["snow"] / got["ref"])
        peaks.append(matmul_peak(PEAK_DTYPE))  # at this repeat's thread count
        fractions.append(got["snow"] * flops_snow / per_iter / peaks[-1])
        print(f"  repeat {r + 1}/{args.repeats}: snowgan {got['snow']:.1f} img/s, reference {got['ref']:.1f} "
              f"img/s, ratio {ratios[-1]:.2f}; {threads}; load average {os.getloadavg()[0]:.2f}", flush=True)
    peak = max(peaks)
    med_snow = statistics.median(ips_snow)
    out = {"case": name, "argv": argv, "load_average_1min": os.getloadavg()[0], "threads": thread_notes, "precision": snow.precision.name, "images_per_iteration": per_iter,
           "ratio": spread(ratios), "snowgan_img_s": spread(ips_snow), "reference_img_s": spread(ips_ref),
           "flops_per_image_snowgan": flops_snow / per_iter, "flops_per_image_reference": flops_ref / per_iter,
           "snowgan_tflops": med_snow * flops_snow / per_iter / 1e12,
           "fraction_of_peak": spread(fractions)}
    r = out["ratio"]
    print(f"[{name}] ratio median {r['median']:.2f} (min {r['min']:.2f}, max {r['max']:.2f}, IQR "
          f"{r['q1']:.2f}-{r['q3']:.2f}, n={r['n']}); snowgan {med_snow:.1f} img/s = "
          f"{out['snowgan_tflops'] * 1e3:.1f} GFLOP/s = {100 * statistics.median(fractions):.1f}% (median over "
          f"repeats) of the {PEAK_NAME} matmul peak at the same thread count (best {peak / 1e9:.0f} GFLOP/s)", flush=True)
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--cases", default=",".join(CASES), help=f"comma-separated of {', '.join(CASES)}")
    p.add_argument("--repeats", type=int, default=7)
    p.add_argument("--block_s", type=float, default=6.0, help="seconds per timed block")
    p.add_argument("--warmup", type=int, default=2, help="untimed iterations of each side first")
    p.add_argument("--snowgan_flags", default="", help="extra snowgan flags, e.g. '--compile true'")
    p.add_argument("--threads", type=int, default=0, help="fixed intra-op threads (0: snowgan's choice, "
                   "re-made before every repeat)")
    p.add_argument("--json", default=None, help="also write the results here")
    args = p.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    threads = configure_threads(torch.device("cpu")) if args.threads == 0 else f"{args.threads} threads"
    info = {"torch": torch.__version__, "python": platform.python_version(), "machine": platform.processor()
            or platform.machine(), "threads": threads, "command": " ".join([Path(sys.argv[0]).name] + sys.argv[1:])}
    print(f"torch {info['torch']}, {threads}, oneDNN {torch.backends.mkldnn.is_available()}", flush=True)
    peaks = [matmul_peak(PEAK_DTYPE)]
    fp32_peak = matmul_peak(torch.float32)
    results = [run_case(name, args, peaks) for name in args.cases.split(",") if name]
    info.update(peak_dtype=PEAK_NAME, matmul_peak_gflops=spread([x / 1e9 for x in peaks]),
                fp32_matmul_peak_gflops=fp32_peak / 1e9, results=results)
    if args.json:
        write_results(args.json, info)
    return 0


if __name__ == "__main__":
    sys.exit(main())
