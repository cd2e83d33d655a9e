"""Where a training step's time and memory go: the frozen network's, D's, G's and DiffAugment's share, and peak memory.

Used by bench/projected_throughput.py (``--share``, ``--memory``); on its own it measures the peak memory
of any snowgan command line's step in this process:

    python bench/step_parts.py --iterations 2 -- --recipe photos --image_size 256

Time: timing hooks (not torch.profiler, which slows every small op and so inflates a network of
many small layers). A part's forward is the time from its forward pre-hook to its forward hook (or
around the call, for DiffAugment, which is no module); its backward runs from the moment the first
of its outputs' gradients is complete (a tensor hook) to the moment its input's gradient is (a
tensor hook: the frozen network, DiffAugment, D in the G step) or its last parameter's gradient is
accumulated (a post-accumulate hook: G, whose latents need no gradient; D in its own step). The frozen network's
outputs are taken along one chain, so its deepest output's gradient is complete first and none of
its backward can run before; autograd runs ready nodes newest first, so what runs between the two
moments is the part's own backward (and at most the last of the 1x1 projections that read its
outputs). On a CPU every kernel is synchronous, so wall-clock stamps time the work.

Memory: in a fresh process (the resident-set peak only grows, and snowgan keeps freed memory in its
heap), build the step as ``snowgan train`` does and run ``iterations`` of it: the peak resident set
(VmHWM). Then, in a second fresh process, torch's own figure: the peak of the bytes its CPU allocator
holds for tensors, summed from torch.profiler's allocation events (recorded from before anything is
built, so weights, optimizer states, activations and the dataset's tensors all count). Two processes,
because the profiler's own records, small allocations among the step's freed blocks in snowgan's
kept heap, raise the resident set by tens of MB per iteration.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from resultfile import write_results  # noqa: E402


class PartTimer:
    """Forward and backward wall time of one part of a step, by hooks (see the module docstring).

    The part is a module (``on_module``) or a callable attribute (``on_call``, replaced by a timed
    wrapper while the timer is entered). A call's backward ends when its input has its gradient,
    or, when the input needs none, when the last of ``params`` has had its gradient accumulated.
    """

    def __init__(self, params=()) -> None:
        self.params = list(params)
        self.forward_s, self.calls = 0.0, 0
        self._passes: list[list] = []  # [first output gradient complete, end of backward, ends at params]
        self._t0 = 0.0
        self._open: list | None = None
        self._install: list = []
        self._undo: list = []

    def on_module(self, module: nn.Module) -> "PartTimer":
        def install():
            pre = module.register_forward_pre_hook(lambda m, args: self.before(args[0] if args else None))
            post = module.register_forward_hook(lambda m, args, out: self.after(out))
            return [pre.remove, post.remove]
        self._install.append(install)
        return self

    def on_call(self, obj, name: str) -> "PartTimer":
        def install():
            fn, own = getattr(obj, name), name in vars(obj)

            def timed(x, *a, **k):
                self.before(x)
                out = fn(x, *a, **k)
                self.after(out)
                return out
            setattr(obj, name, timed)
            return [lambda: setattr(obj, name, fn) if own else delattr(obj, name)]
        self._install.append(install)
        return self

    def __enter__(self) -> "PartTimer":
        for install in self._install:
            self._undo += install()
        for p in self.params:  # a hook needs requires_grad at registration; the step toggles it later
            was = p.requires_grad
            p.requires_grad_(True)
            self._undo.append(p.register_post_accumulate_grad_hook(self._param_done).remove)
            p.requires_grad_(was)
        return self

    def __exit__(self, *exc) -> None:
        for undo in reversed(self._undo):
            undo()
        self._undo = []

    def before(self, x) -> None:
        self._open = None
        if torch.is_grad_enabled() and torch.is_tensor(x) and x.requires_grad:
            rec = self._open = [None, None, False]
            x.register_hook(lambda g: rec.__setitem__(1, time.perf_counter()))
        self._t0 = time.perf_counter()

    def after(self, out) -> None:
        self.forward_s += time.perf_counter() - self._t0
        self.calls += 1
        outs = [t for t in (out if isinstance(out, (list, tuple)) else [out]) if torch.is_tensor(t) and t.requires_grad]
        if not outs:
            return
        rec = self._open if self._open is not None else ([None, None, True] if self.params else None)
        if rec is None:
            return
        self._passes.append(rec)

        def arrived(g):
            if rec[0] is None:
                rec[0] = time.perf_counter()
        for t in outs:
            t.register_hook(arrived)

    def _param_done(self, p) -> None:
        # Calls whose gradients meet in one backward (D on reals and fakes) share one accumulation:
        # the last such call's pass spans them all, the earlier ones stay open and are not counted.
        for rec in reversed(self._passes):
            if rec[2]:
                rec[1] = time.perf_counter()
                return

    @property
    def backward_s(self) -> float:
        return sum(b - a for a, b, _ in self._passes if a is not None and b is not None and b >= a)

    @property
    def backward_passes(self) -> int:
        return sum(1 for a, b, _ in self._passes if a is not None and b is not None)


class StepParts:
    """Times the parts of a projected-family step (snowgan's GANSteps): the frozen feature network,
    D (its resize, the frozen network, the projection and heads; D - frozen is the rest of D), G and
    DiffAugment; the remainder (losses, Adam, EMA, drawing the batch) is what none of them took.

    ``with StepParts(steps): ...`` then ``shares(seconds)``: each part's time as a fraction of the
    wall time the block took (and the calls and backward passes each part saw).
    """

    def __init__(self, steps) -> None:
        D = steps.D_module
        self.frozen = PartTimer().on_module(D.load_backbone())  # frozen: its backward ends at its input
        self.D = PartTimer([p for p in D.parameters() if p.is_floating_point()]).on_module(D)
        self.G = PartTimer(steps.G_module.parameters()).on_module(steps.G_module)
        self.augment = PartTimer().on_call(steps, "_aug")
        self.parts = {"frozen": self.frozen, "D": self.D, "G": self.G, "augment": self.augment}

    def __enter__(self) -> "StepParts":
        for t in self.parts.values():
            t.__enter__()
        return self

    def __exit__(self, *exc) -> None:
        for t in self.parts.values():
            t.__exit__()

    def seconds(self) -> dict:
        out: dict = {}
        for name, t in self.parts.items():
            out.update({f"{name}_forward": t.forward_s, f"{name}_backward": t.backward_s,
                        name: t.forward_s + t.backward_s, f"{name}_calls": t.calls,
                        f"{name}_backward_passes": t.backward_passes})
        return out

    def shares(self, wall_s: float) -> dict:
        s = self.seconds()
        out = {k: s[k] / wall_s for k in s if not k.endswith(("_calls", "_passes"))}
        out["D_other"] = out["D"] - out["frozen"]
        out["rest"] = 1.0 - out["D"] - out["G"] - out["augment"]
        out.update((k, s[k]) for k in s if k.endswith(("_calls", "_passes")))
        return out


# ---- peak memory ------------------------------------------------------------------------------

def rss_peak_bytes() -> int:
    """This process's peak resident set: VmHWM on Linux (ru_maxrss would carry the peak of the parent
    a subprocess was forked from across exec), else ru_maxrss."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024  # kB
    except OSError:
        pass
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return rss if sys.platform == "darwin" else rss * 1024  # bytes on macOS, KiB elsewhere


def measure_memory(argv: list[str], iterations: int, torch_figure: bool = False) -> dict:
    """Peak memory of building snowgan's step for argv and running it ``iterations`` times, here.

    Meaningful in a fresh process only (see peak_memory). torch_figure=True records torch's
    allocations with the profiler, whose own small records then sit in the heap between the
    step's freed blocks and raise the resident set (photos 256 px: 5.3 GB after 40 iterations,
    still growing, against 2.4 GB without): its resident figures are not the step's."""
    from torch.profiler import ProfilerActivity, profile

    from train_throughput import SnowganIteration

    from snowgan.train.device import configure_threads

    threads = configure_threads(torch.device("cpu"))
    rss_before = rss_peak_bytes()
    prof = profile(activities=[ProfilerActivity.CPU], profile_memory=True) if torch_figure else None
    with prof or contextlib.nullcontext():
        snow = SnowganIteration(argv)
        rss_built = rss_peak_bytes()
        t0 = time.perf_counter()
        rss_each = []
        for _ in range(iterations):
            snow()
            rss_each.append(rss_peak_bytes() / 2 ** 20)
        seconds = time.perf_counter() - t0
    rss_peak = rss_peak_bytes()
    events = sorted((e.start_ns(), e.nbytes()) for e in prof.profiler.kineto_results.events()
                    if e.name() == "[memory]") if prof else []
    live = peak = 0
    for _, nbytes in events:
        live += nbytes
        peak = max(peak, live)
    data = snow.dataset.images
    return {"argv": argv, "threads": threads, "iterations": iterations, "batch_size": snow.batch_size,
            "precision": snow.precision.name, "seconds_per_iteration": seconds / iterations,
            "rss_peak_mb": rss_peak / 2 ** 20, "rss_after_imports_mb": rss_before / 2 ** 20,
            "rss_after_build_mb": rss_built / 2 ** 20, "rss_peak_mb_after_each_iteration": rss_each,
            "torch_peak_allocated_mb": peak / 2 ** 20 if prof else None, "profiled": bool(prof),
            "dataset_images": int(data.shape[0]), "dataset_mb": data.nbytes / 2 ** 20}


def _fresh(argv: list[str], iterations: int, torch_figure: bool, timeout: float | None) -> dict:
    cmd = [sys.executable, str(Path(__file__).resolve()), "--child", "--iterations", str(iterations),
           *(["--torch_figure"] if torch_figure else []), "--", *argv]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    if done.returncode:
        raise RuntimeError(f"{' '.join(cmd)} failed ({done.returncode}): {done.stderr[-2000:]}")
    return json.loads([line for line in done.stdout.splitlines() if line.startswith("{")][-1])


def peak_memory(argv: list[str], iterations: int = 2, torch_figure: bool = True, timeout: float | None = None) -> dict:
    """Peak memory of snowgan's step for argv, each figure from a fresh Python process (this script):
    the resident set from one without the profiler; torch's allocations (torch_figure) from a
    second one with it, over at most two iterations (the peak is the same every iteration)."""
    out = _fresh(argv, iterations, False, timeout)
    if torch_figure:
        out["torch_peak_allocated_mb"] = _fresh(argv, min(iterations, 2), True, timeout)["torch_peak_allocated_mb"]
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--iterations", type=int, default=2, help="iterations of the step after building it")
    p.add_argument("--json", default=None, help="also write the result here (a bare name: bench/results/)")
    p.add_argument("--no_torch_figure", dest="torch_figure", action="store_false",
                   help="resident set only: skip the second, profiled process")
    p.add_argument("--child", action="store_true", help="measure here and print one JSON line (peak_memory's)")
    p.add_argument("--torch_figure", action="store_true", help=argparse.SUPPRESS)  # the child's profiler switch
    p.add_argument("snowgan", nargs=argparse.REMAINDER, help="snowgan flags, after --")
    args = p.parse_args(argv)
    flags = args.snowgan[1:] if args.snowgan[:1] == ["--"] else list(args.snowgan)
    if "--progress" not in flags:
        flags += ["--progress", "none"]
    if args.child:
        print(json.dumps(measure_memory(flags, args.iterations, args.torch_figure)), flush=True)
        return 0
    out = peak_memory(flags, args.iterations, args.torch_figure)
    if args.json:
        write_results(args.json, dict(out, command=" ".join([Path(sys.argv[0]).name] + sys.argv[1:]),
                                      torch=torch.__version__, load_average_end=list(os.getloadavg()),
                                      malloc_env={k: v for k, v in os.environ.items() if k.startswith("MALLOC_")}))
    allocated = out["torch_peak_allocated_mb"]
    allocated = "not measured" if allocated is None else f"at most {allocated:.0f} MB"
    print(f"peak resident {out['rss_peak_mb']:.0f} MB (after imports {out['rss_after_imports_mb']:.0f}, built "
          f"{out['rss_after_build_mb']:.0f}; after each iteration "
          f"{', '.join(f'{v:.0f}' for v in out['rss_peak_mb_after_each_iteration'])}); torch's allocations {allocated}; "
          f"batch {out['batch_size']}, {out['precision']}, {out['seconds_per_iteration']:.1f} s per iteration; "
          f"dataset {out['dataset_images']} images, {out['dataset_mb']:.0f} MB", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
