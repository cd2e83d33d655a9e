"""Training throughput of the projected family against a plain fp32 PyTorch reference, in one process.

    python bench/projected_throughput.py                          # both cases, 5 repeats
    python bench/projected_throughput.py --cases projected64 --repeats 3 --block_s 8 --json out.json
    python bench/projected_throughput.py --min_backbone 224       # the paper's backbone size
    python bench/projected_throughput.py --cases photos64,photos128,photos256,photos512 --share --memory

Cases (built-in dataset, the ``projected`` recipe through the real flag machinery: hinge,
DiffAugment color,translation,cutout, Adam (0, 0.99), batch 16, widths 32, EMA):
projected64 (64x64 images, backbone input 128x128) and projected32 (32x32, also 128x128);
photos64 is the ``photos`` recipe (the default for ``--data``: G width 16, two G steps per D step);
photos128, photos256 and photos512 are the same recipe at those sizes (backbone input 128, 224, 224).

snowgan side: what ``snowgan --mode train`` runs per iteration (bench/train_throughput.py's
SnowganIteration: Batches.next -> GANSteps.d_step -> g_step -> EMA), precision auto (bf16
autocast on this CPU), channels_last, fused Adam, BatchNorm folded into the frozen backbone.

Reference (PlainProjected below): the same networks and the same arithmetic written the
way Projected GAN's public code runs them, with nothing done for speed: float32,
contiguous tensors, torch.optim.Adam's default kernels, the backbone as a plain
EfficientNet-Lite0 with its BatchNorm layers in eval mode, the cross-scale mixing as in
the paper's code (upsample, then the 1x1 conv), a plain EMA loop. The two alternate in
blocks of ``--block_s`` seconds (order swapped each repeat) so a shared machine slows
both alike; the ratio per repeat, its median and range are reported, with the FLOPs per
image and the fraction of the measured matmul peak (bf16, or fp32 on CPUs without bf16 units,
as train_throughput.py does).

``--share``: the frozen feature network's share of snowgan's timed blocks (its forward, and its
backward in the G steps), and G's, the rest of D's and DiffAugment's, by timing hooks
(bench/step_parts.py). ``--memory``: the peak
memory of each case's snowgan step, built and run in a fresh process (resident set and torch's
own allocations; bench/step_parts.py); ``--repeats 0 --memory`` measures only that.
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import os
import platform
import statistics
import sys
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from train_throughput import PEAK_DTYPE, PEAK_NAME, SnowganIteration, count_flops, matmul_peak, spread, timed_block  # noqa: E402
from plain_reference import plain_activations  # noqa: E402
from resultfile import write_results  # noqa: E402
from step_parts import StepParts, peak_memory  # noqa: E402

from snowgan.augment import DiffAugment  # noqa: E402
from snowgan.models.projected import networks as projected  # noqa: E402
from snowgan.pretrained.efficientnet_lite import load_efficientnet_lite0, to_tf_input  # noqa: E402
from snowgan.train.device import configure_threads  # noqa: E402

CASES = {
    "projected64": ["--recipe", "projected", "--image_size", "64"],
    "projected32": ["--recipe", "projected", "--image_size", "32"],
    "photos64": ["--recipe", "photos", "--image_size", "64"],  # the --data default: g_width 16, two G steps
    "photos128": ["--recipe", "photos", "--image_size", "128"],
    "photos256": ["--recipe", "photos", "--image_size", "256"],
    "photos512": ["--recipe", "photos", "--image_size", "512"],
}


class PlainProjectedD(nn.Module):
    """The projected discriminator computed the textbook way (same weights, same function)."""

    def __init__(self, D: projected.ProjectedDiscriminator) -> None:
        super().__init__()
        self.backbone_hw = D.backbone_hw
        self.net = load_efficientnet_lite0(D.weights_path)  # BatchNorm as separate eval-mode layers
        self.proj = copy.deepcopy(D.proj)
        self.blocks = plain_activations(copy.deepcopy(D.blocks))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.interpolate(x, size=self.backbone_hw, mode="bilinear", align_corners=False)
        if x.shape[1] == 1:
            x = x.repeat(1, 3, 1, 1)
        feats = self.net.features(to_tf_input(x))
        p = self.proj
        m = [F.conv2d(f, getattr(p, f"ccm{i}_w"), getattr(p, f"ccm{i}_b")) for i, f in enumerate(feats)]
        out, y = [None] * 4, None
        for i in (3, 2, 1, 0):  # FeatureFusionBlock: add, upsample, then the 1x1 conv
            y = m[i] if y is None else y + m[i]
            y = F.interpolate(y, scale_factor=2.0, mode="bilinear", align_corners=True)
            y = F.conv2d(y, getattr(p, f"csm{i}_w"), getattr(p, f"csm{i}_b"))
            out[i] = y
        return torch.stack([head(o) for head, o in zip(self.blocks, out)]).mean(0)


class PlainProjected:
    """One fp32 training iteration: a hinge D step, ``gen_steps`` G steps, an EMA update."""

    def __init__(self, G: nn.Module, D: projected.ProjectedDiscriminator, images: torch.Tensor, cfg) -> None:
        t = cfg.train
        self.G = copy.deepcopy(G).float()
        self.D = PlainProjectedD(D).float()
        self.G_ema = copy.deepcopy(G).float().eval().requires_grad_(False)
        self.images, self.batch_size, self.nz = images.float().contiguous(), t.batch_size, G.latent_dim
        self.gen_steps = t.gen_steps
        self.augment = DiffAugment(cfg.aug.augment, cfg.aug.aug_p)
        self.opt_d = torch.optim.Adam([p for p in self.D.parameters() if p.requires_grad], lr=t.disc_lr,
                                      betas=(t.beta1, t.beta2))
        self.opt_g = torch.optim.Adam(self.G.parameters(), lr=t.gen_lr, betas=(t.beta1, t.beta2))

    def iteration(self) -> None:
        G, D = self.G, self.D
        real = self.images[torch.randint(0, len(self.images), (self.batch_size,))]
        G.requires_grad_(False)
        D.blocks.requires_grad_(True)
        with torch.no_grad():
            fake = G(torch.randn(self.batch_size, self.nz))
        loss_d = F.relu(1 - D(self.augment(real))).mean() + F.relu(1 + D(self.augment(fake))).mean()  # hinge
        self.opt_d.zero_grad()
        loss_d.backward()
        self.opt_d.step()
        G.requires_grad_(True)
        D.blocks.requires_grad_(False)
        for _ in range(self.gen_steps):
            loss_g = -D(self.augment(G(torch.randn(self.batch_size, self.nz)))).mean()
            self.opt_g.zero_grad()
            loss_g.backward()
            self.opt_g.step()
        with torch.no_grad():
            for pe, p in zip(self.G_ema.parameters(), G.parameters()):
                pe.copy_(p.lerp(pe, 0.999))
            for be, b in zip(self.G_ema.buffers(), G.buffers()):
                be.copy_(b)


def run_case(name: str, args: argparse.Namespace, peaks: list[float]) -> dict:
    argv = CASES[name] + ["--progress", "none"] + args.snowgan_flags.split()
    snow = SnowganIteration(argv)
    images = torch.from_numpy(snow.dataset.images).float().div(127.5).sub(1.0)
    ref = PlainProjected(snow.G_init, snow.D_init, images, snow.cfg)
    per_iter = snow.cfg.train.disc_steps * snow.batch_size
    D = snow.steps.D_module
    print(f"[{name}] snowgan precision {snow.precision.name}; backbone input {D.backbone_hw}; "
          f"{per_iter} real images per iteration", flush=True)
    for _ in range(args.warmup):
        snow()
        ref.iteration()
    flops_snow, flops_ref = (count_flops(snow), count_flops(ref.iteration)) if args.flops else (0, 0)
    ratios, ips_snow, ips_ref, fractions, shares, loads = [], [], [], [], [], []
    for r in range(args.repeats):
        threads = configure_threads(torch.device("cpu")) if args.threads == 0 else str(args.threads)
        order = [("snow", snow), ("ref", ref.iteration)]
        if r % 2:
            order.reverse()
        got = {}
        for key, fn in order:
            parts = StepParts(snow.steps) if args.share and key == "snow" else contextlib.nullcontext()
            with parts:
                n, dt = timed_block(fn, args.block_s)
            got[key] = n * per_iter / dt
            if args.share and key == "snow":
                shares.append(parts.shares(dt))
        ips_snow.append(got["snow"])
        ips_ref.append(got["ref"])
        ratios.append(got["snow"] / got["ref"])
        peaks.append(matmul_peak(PEAK_DTYPE))
        fractions.append(got["snow"] * flops_snow / per_iter / peaks[-1])
        loads.append(os.getloadavg()[0])
        share = (f"; frozen network {100 * shares[-1]['frozen']:.0f}% (forward {100 * shares[-1]['frozen_forward']:.0f}%), "
                 f"G {100 * shares[-1]['G']:.0f}%, rest of D {100 * shares[-1]['D_other']:.0f}%, DiffAugment "
                 f"{100 * shares[-1]['augment']:.0f}%" if shares else "")
        print(f"  repeat {r + 1}/{args.repeats}: snowgan {got['snow']:.2f} img/s, reference {got['ref']:.2f} img/s, "
              f"ratio {ratios[-1]:.2f}{share}; {threads}; load average {loads[-1]:.2f}", flush=True)
    med = statistics.median(ips_snow)
    out = {"case": name, "argv": argv, "backbone_hw": list(D.backbone_hw), "precision": snow.precision.name,
           "images_per_iteration": per_iter, "ratio": spread(ratios), "snowgan_img_s": spread(ips_snow),
           "reference_img_s": spread(ips_ref), "flops_per_image_snowgan": flops_snow / per_iter,
           "flops_per_image_reference": flops_ref / per_iter, "snowgan_gflops": med * flops_snow / per_iter / 1e9,
           "fraction_of_peak": spread(fractions), "load_average_1min": os.getloadavg()[0],
           "load_average_per_repeat": loads}
    if not args.flops:  # not counted
        for k in ("flops_per_image_snowgan", "flops_per_image_reference", "snowgan_gflops", "fraction_of_peak"):
            out[k] = None
    if shares:
        out["share"] = {k: spread([s[k] for s in shares]) for k in shares[0]}
    r = out["ratio"]
    flops = (f", {flops_snow / per_iter / 1e9:.2f} GFLOP per image = {med * flops_snow / per_iter / 1e9:.1f} GFLOP/s "
             f"= {100 * statistics.median(fractions):.1f}% of the {PEAK_NAME} matmul peak (best {max(peaks) / 1e9:.0f} "
             f"GFLOP/s)" if args.flops else "")
    print(f"[{name}] ratio median {r['median']:.2f} (min {r['min']:.2f}, max {r['max']:.2f}, n={r['n']}); snowgan "
          f"{med:.2f} img/s{flops}", flush=True)
    if shares:
        sh = {k: 100 * v["median"] for k, v in out["share"].items()}
        print(f"[{name}] share of snowgan's step (median): frozen network {sh['frozen']:.0f}% (forward "
              f"{sh['frozen_forward']:.0f}%, backward {sh['frozen_backward']:.0f}%), G {sh['G']:.0f}% (forward "
              f"{sh['G_forward']:.0f}%), rest of D (resize, projection, heads) {sh['D_other']:.0f}%, DiffAugment "
              f"{sh['augment']:.0f}%, the remainder (losses, Adam, EMA, batch) {sh['rest']:.0f}%", flush=True)
    return out


def memory_case(name: str, args: argparse.Namespace) -> dict:
    """Peak memory of the case's snowgan step, built and run in a fresh process."""
    argv = CASES[name] + ["--progress", "none"] + args.snowgan_flags.split()
    m = peak_memory(argv, args.memory_iterations)
    print(f"[{name}] memory: peak resident {m['rss_peak_mb']:.0f} MB, torch's allocations at most "
          f"{m['torch_peak_allocated_mb']:.0f} MB (batch {m['batch_size']}, dataset {m['dataset_images']} images = "
          f"{m['dataset_mb']:.0f} MB); load average {os.getloadavg()[0]:.2f}", flush=True)
    return m


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--cases", default=",".join(CASES), help=f"comma-separated of {', '.join(CASES)}")
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--block_s", type=float, default=6.0, help="seconds per timed block")
    p.add_argument("--warmup", type=int, default=2, help="untimed iterations of each side first")
    p.add_argument("--min_backbone", type=int, default=projected.MIN_BACKBONE,
                   help="smallest backbone input side (snowgan's rule: 128; the paper: 224)")
    p.add_argument("--snowgan_flags", default="", help="extra snowgan flags, e.g. '--batch_size 32'")
    p.add_argument("--threads", type=int, default=0, help="fixed intra-op threads (0: snowgan's choice)")
    p.add_argument("--share", action="store_true", help="time the frozen network, D, G and DiffAugment inside "
                   "snowgan's blocks")
    p.add_argument("--memory", action="store_true", help="peak memory of each case's step, in a fresh process")
    p.add_argument("--memory_iterations", type=int, default=2, help="iterations the memory process runs")
    p.add_argument("--no_flops", dest="flops", action="store_false", help="skip counting FLOPs (one "
                   "iteration of each side under a dispatch mode: minutes at 512 px)")
    p.add_argument("--json", default=None, help="also write the results here")
    args = p.parse_args(argv)
    projected.MIN_BACKBONE = args.min_backbone  # read by backbone_size() when D is built
    if args.threads:
        torch.set_num_threads(args.threads)
    threads = configure_threads(torch.device("cpu")) if args.threads == 0 else f"{args.threads} threads"
    info = {"torch": torch.__version__, "python": platform.python_version(), "threads": threads,
            "command": " ".join([Path(sys.argv[0]).name] + sys.argv[1:])}
    print(f"torch {info['torch']}, {threads}", flush=True)
    peaks = [matmul_peak(PEAK_DTYPE)]
    results = []
    for name in (n for n in args.cases.split(",") if n):
        out = run_case(name, args, peaks) if args.repeats else {"case": name}
        if args.memory:
            out["memory"] = memory_case(name, args)
        results.append(out)
    info.update(peak_dtype=PEAK_NAME, matmul_peak_gflops=spread([x / 1e9 for x in peaks]), results=results,
                load_average_end=list(os.getloadavg()))
    if args.json:
        write_results(args.json, info)
    return 0


if __name__ == "__main__":
    sys.exit(main())
