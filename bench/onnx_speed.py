"""Images per second of an exported generator.onnx under ONNX Runtime against the same generator in
PyTorch eager, in one process.

    python bench/onnx_speed.py                                   # projected, photos, dcgan; 64, 256 px; batch 1, 16
    python bench/onnx_speed.py --cases dcgan --sizes 64 --batches 1 --repeats 3 --block_s 2
    python bench/onnx_speed.py --json results-onnx-speed.json    # into bench/results/

Cases: the generator a new run gets at that size: ``projected`` (the projected recipe: FastGAN-lite G,
width 32, latent 256), ``photos`` (the recipe a --data run trains: the same G at width 16) and
``dcgan`` (--arch dcgan's defaults); ``r3gan`` can be asked for too. Weights are as initialised:
the speed of a graph does not depend on their values.

Each generator is exported as `snowgan export --format onnx` exports it (onnx_export.export_checked:
the same graph, and the same check against PyTorch), then ``session.run`` (ONNX Runtime, CPU
execution provider) and ``G(z)`` (eval mode, torch.no_grad, float32: what `snowgan generate` runs)
make images from the same latents. Both get --threads threads (torch.set_num_threads, ONNX
Runtime's intra_op_num_threads). They alternate in blocks of --block_s seconds, the order swapped
each repeat, so a machine shared with other work slows both alike; reported per case: img/s of
each (median over repeats) and the ratio ONNX Runtime / PyTorch per repeat, its median and range.
The CPU, the versions and the load average before and after are written with the numbers.
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

from resultfile import write_results  # noqa: E402

from snowgan import onnx_export  # noqa: E402
from snowgan.flags import parse_args  # noqa: E402
from snowgan.models.registry import build_networks  # noqa: E402
from snowgan.sample import latents  # noqa: E402

CASES = {"projected": ["--recipe", "projected"], "photos": ["--recipe", "photos"],
         "dcgan": ["--arch", "dcgan"], "r3gan": ["--recipe", "r3gan"]}


def generator(case: str, size: int) -> torch.nn.Module:
    """The EMA generator's network a new run of `case` at `size` px gets (random weights), in eval mode."""
    cfg, _ = parse_args(["--mode", "train", *CASES[case], "--image_size", str(size)])
    G, _ = build_networks(cfg)
    return G.eval()


def rate(step, batch: int, seconds: float) -> float:
    """Images per second of step() over about `seconds` (after one warm-up call)."""
    step()
    n, t0 = 0, time.perf_counter()
    while True:
        step()
        n += 1
        elapsed = time.perf_counter() - t0
        if elapsed >= seconds:
            return n * batch / elapsed


def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def cpu_flags() -> list[str]:
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return []
    flags = next((line.split(":", 1)[1].split() for line in text.splitlines() if line.startswith("flags")), [])
    return [f for f in ("avx2", "avx512f", "avx512_bf16", "amx_bf16", "amx_tile") if f in flags]


def measure(case: str, size: int, batches: list[int], threads: int, repeats: int, block_s: float) -> list[dict]:
    G = generator(case, size)
    t0 = time.perf_counter()
    graph, check = onnx_export.export_checked(G, [])
    export_s = time.perf_counter() - t0
    sess = onnx_export.session(graph, threads=threads)
    rows = []
    for batch in batches:
        z = latents(batch, G.latent_dim, seed=0)
        feed = {"z": z.numpy()}

        def eager() -> None:
            with torch.no_grad():
                G(z)

        def ort() -> None:
            sess.run(["images"], feed)

        runs = []
        for r in range(repeats):
            order = [("torch", eager), ("onnxruntime", ort)]
            got = {name: rate(fn, batch, block_s) for name, fn in (order if r % 2 == 0 else order[::-1])}
            runs.append(got)
        ratios = [g["onnxruntime"] / g["torch"] for g in runs]
        row = {"case": case, "size": size, "batch": batch,
               "torch_img_s": statistics.median(g["torch"] for g in runs),
               "onnxruntime_img_s": statistics.median(g["onnxruntime"] for g in runs),
               "ratio_median": statistics.median(ratios), "ratio_min": min(ratios), "ratio_max": max(ratios),
               "runs": runs, "export_s": round(export_s, 2), "graph_bytes": len(graph),
               "check_max_abs_difference": check["max_abs_difference"],
               "parameters": sum(p.numel() for p in G.parameters())}
        rows.append(row)
        print(f"{case:9s} {size:4d} px  batch {batch:3d}: PyTorch {row['torch_img_s']:8.1f} img/s, ONNX Runtime "
              f"{row['onnxruntime_img_s']:8.1f} img/s, ratio {row['ratio_median']:.2f} "
              f"({row['ratio_min']:.2f}-{row['ratio_max']:.2f})", flush=True)
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--cases", default="projected,photos,dcgan", help=f"comma-separated: {', '.join(CASES)}")
    ap.add_argument("--sizes", default="64,256")
    ap.add_argument("--batches", default="1,16")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--block_s", type=float, default=3.0, help="seconds per timed block")
    ap.add_argument("--json", help="results file name (bench/results/ unless it has a folder)")
    a = ap.parse_args()
    import onnxruntime

    torch.set_num_threads(a.threads)
    load_before = os.getloadavg()
    print(f"CPU: {cpu_name()} ({os.cpu_count()} logical CPUs; {', '.join(cpu_flags())}); threads {a.threads}; "
          f"torch {torch.__version__}, onnxruntime {onnxruntime.__version__}; load average {load_before[0]:.2f}",
          flush=True)
    rows = []
    for case in a.cases.split(","):
        for size in map(int, a.sizes.split(",")):
            rows += measure(case, size, [int(b) for b in a.batches.split(",")], a.threads, a.repeats, a.block_s)
    load_after = os.getloadavg()
    print(f"load average after: {load_after[0]:.2f} (1 min), {load_after[1]:.2f} (5 min)")
    if a.json:
        write_results(a.json, {
            "bench": "onnx_speed", "time": time.strftime("%Y-%m-%dT%H:%M:%S"), "cpu": cpu_name(),
            "cpu_flags": cpu_flags(), "logical_cpus": os.cpu_count(), "threads": a.threads,
            "torch": torch.__version__, "onnxruntime": onnxruntime.__version__, "python": platform.python_version(),
            "repeats": a.repeats, "block_s": a.block_s, "load_average_before": load_before,
            "load_average_after": load_after, "rows": rows})


if __name__ == "__main__":
    main()
