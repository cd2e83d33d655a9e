"""R3GAN training throughput: snowgan's step against a plain fp32 PyTorch reference, in one process.

    python bench/r3gan_throughput.py                     # RpGAN + R1 + R2, 64 px, batch 32, 5 repeats
    python bench/r3gan_throughput.py --repeats 3 --block_s 4 --json out.json
    python bench/r3gan_throughput.py --loss hinge       # hinge + R1

Both sides train the same ``--arch r3gan`` networks (copied from one initialisation)
with R3GAN's optimiser (Adam, beta1 0, beta2 0.9, lr 2e-4 for G and D, one D step per G
step) and the same loss:

- ``--loss rpgan`` (default): R3GAN's relativistic pairing loss softplus(-(D(x) - D(G(z)))) +
  gamma/2 * (R1 + R2), and the pairing loss for G (which needs D(x) in the G step too).
- ``--loss hinge``: hinge + gamma/2 * R1 on reals.

snowgan's side is exactly one ``snowgan --mode train`` iteration (bench/train_throughput.py's
SnowganIteration: Batches -> GANSteps.d_step -> g_step -> EMA) with its defaults: bf16
autocast on CPUs with bf16 matrix units, channels_last, fused Adam, thread choice. The
reference is the textbook step (``PlainR3GANReference`` below): float32, contiguous,
torch.optim.Adam with its default kernel, reals already a float tensor in memory, the
penalty on the same forward pass as the loss (``requires_grad_`` on the inputs), no EMA.
The two alternate in blocks of ``--block_s`` seconds (order swapped every repeat), so a
machine shared with other jobs slows both alike; each repeat gives one ratio.

Also reported: FLOPs per image (torch.utils.flop_counter: convolutions and matrix products
incl. backward and double backward; grouped convolutions at their true cost) and the
fraction of this machine's matmul peak (bf16, or fp32 without bf16 units: train_throughput.PEAK_DTYPE),
measured with a large torch.matmul at the
same thread count in every repeat: once with snowgan's own FLOPs (as train_throughput.py
counts), once with the reference's (the textbook arithmetic of the same update).

The reference runs every convolution through nn.Conv2d.forward (``textbook``), so neither
of the model's own kernels choices (1x1 as matrix products, grouped derivatives as grouped
kernels) is in it.
"""

from __future__ import annotations

import argparse
import copy
import os
import platform
import statistics
import sys
import types
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from train_throughput import PEAK_DTYPE, PEAK_NAME, SnowganIteration, count_flops, matmul_peak, spread, timed_block  # noqa: E402
from plain_reference import plain_activations  # noqa: E402
from resultfile import write_results  # noqa: E402

from snowgan.train.device import configure_threads  # noqa: E402


def textbook(net: nn.Module) -> nn.Module:
    """The same network with every convolution run by nn.Conv2d.forward (F.conv2d and its
    built-in derivatives), as a plain script writes it: snowgan's Conv1x1 (matrix products)
    and GroupedConv2d (grouped kernels in the double backward) are nn.Conv2d subclasses
    with the same parameters, so only their forward is swapped back."""
    for m in net.modules():
        if isinstance(m, nn.Conv2d) and type(m) is not nn.Conv2d:
            m.forward = types.MethodType(nn.Conv2d.forward, m)  # type: ignore[method-assign]
    return plain_activations(net)  # and F.leaky_relu's own derivatives


class PlainR3GANReference:
    """One fp32 training iteration written the plain way: one D update, then one G update.

    images: float (N, C, H, W) in [-1, 1]. loss: "hinge" (hinge + R1) or "rpgan"
    (relativistic pairing + R1 + R2), gamma the penalty weight (applied as gamma/2).
    """

    def __init__(self, G: nn.Module, D: nn.Module, images: torch.Tensor, *, loss: str, gamma: float,
                 batch_size: int, lr: float, betas: tuple[float, float]) -> None:
        self.netG = textbook(copy.deepcopy(G).float().to(memory_format=torch.contiguous_format).train())
        self.netD = textbook(copy.deepcopy(D).float().to(memory_format=torch.contiguous_format).train())
        self.images = images.float().contiguous()
        self.loss, self.gamma, self.batch_size = loss, gamma, batch_size
        self.nz = G.latent_dim
        self.optD = torch.optim.Adam(self.netD.parameters(), lr=lr, betas=betas)
        self.optG = torch.optim.Adam(self.netG.parameters(), lr=lr, betas=betas)

    def _real(self) -> torch.Tensor:
        return self.images[torch.randint(0, len(self.images), (self.batch_size,))]

    def _z(self) -> torch.Tensor:
        return torch.randn(self.batch_size, self.nz)

    @staticmethod
    def _grad_sq(scores: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        (g,) = torch.autograd.grad(scores.sum(), x, create_graph=True)
        return g.square().sum(dim=(1, 2, 3)).mean()

    def iteration(self) -> None:
        netD, netG = self.netD, self.netG
        # D update
        netD.requires_grad_(True)
        netD.zero_grad()
        real = self._real().requires_grad_(True)
        with torch.no_grad():
            fake = netG(self._z())
        fake.requires_grad_(self.loss == "rpgan")
        d_real, d_fake = netD(real), netD(fake)
        if self.loss == "rpgan":
            loss = F.softplus(-(d_real - d_fake)).mean()
            loss = loss + self.gamma / 2 * (self._grad_sq(d_real, real) + self._grad_sq(d_fake, fake))
        else:
            loss = F.relu(1 - d_real).mean() + F.relu(1 + d_fake).mean()
            loss = loss + self.gamma / 2 * self._grad_sq(d_real, real)
        loss.backward()
        self.optD.step()
        # G update, D frozen
        netD.requires_grad_(False)
        netG.zero_grad()
        d_fake = netD(netG(self._z()))
        if self.loss == "rpgan":
            g_loss = F.softplus(-(d_fake - netD(self._real()))).mean()
        else:
            g_loss = -d_fake.mean()
        g_loss.backward()
        self.optG.step()


def snowgan_argv(args: argparse.Namespace) -> list[str]:
    argv = ["--arch", "r3gan", "--image_size", str(args.image_size), "--batch_size", str(args.batch_size),
            "--g_width", str(args.width), "--d_width", str(args.width), "--max_width", str(args.max_width),
            "--blocks_per_stage", str(args.blocks_per_stage), "--latent_dim", "64", "--loss", args.loss,
            "--disc_steps", "1", "--gen_lr", "2e-4", "--disc_lr", "2e-4", "--beta1", "0", "--beta2", "0.9",
            "--r1_gamma", str(args.gamma), "--r2_gamma", str(args.gamma if args.loss == "rpgan" else 0.0),
            "--progress", "none"]
    return argv + args.snowgan_flags.split()


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--image_size", default="64")
    p.add_argument("--batch_size", type=int, default=32)
    p.add_argument("--width", type=int, default=32, help="g_width and d_width")
    p.add_argument("--max_width", type=int, default=256)
    p.add_argument("--blocks_per_stage", type=int, default=1)
    p.add_argument("--loss", default="rpgan", choices=["rpgan", "hinge"])
    p.add_argument("--gamma", type=float, default=1.0, help="R1 (and R2) weight; its size does not change the cost")
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--block_s", type=float, default=6.0, help="seconds per timed block")
    p.add_argument("--warmup", type=int, default=2, help="untimed iterations of each side first")
    p.add_argument("--snowgan_flags", default="", help="extra snowgan flags, e.g. '--compile true'")
    p.add_argument("--threads", type=int, default=0, help="fixed threads (0: snowgan's choice, re-made per repeat)")
    p.add_argument("--json", default=None, help="also write the results here")
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    threads = configure_threads(torch.device("cpu")) if args.threads == 0 else f"{args.threads} threads"
    print(f"torch {torch.__version__}, {threads}; load average {os.getloadavg()[0]:.2f}", flush=True)

    snow = SnowganIteration(snowgan_argv(args))
    t, m = snow.cfg.train, snow.cfg.model
    images = torch.from_numpy(snow.dataset.images).float().div(127.5).sub(1.0)
    ref = PlainR3GANReference(snow.G_init, snow.D_init, images, loss=args.loss, gamma=m.r1_gamma,
                              batch_size=t.batch_size, lr=t.disc_lr, betas=(t.beta1, t.beta2))
    per_iter = t.disc_steps * snow.batch_size
    print(f"snowgan: {snow.precision.name} ({snow.precision.why}), channels_last {t.channels_last}, "
          f"compile {t.compile}; G {sum(x.numel() for x in snow.G_init.parameters()) / 1e6:.2f} M, "
          f"D {sum(x.numel() for x in snow.D_init.parameters()) / 1e6:.2f} M parameters", flush=True)
    for _ in range(args.warmup):
        snow()
        ref.iteration()
    flops_snow, flops_ref = count_flops(snow), count_flops(ref.iteration)
    ratios, ips_snow, ips_ref, fractions, useful, peaks, notes = [], [], [], [], [], [], []
    for r in range(args.repeats):
        threads_now = configure_threads(torch.device("cpu")) if args.threads == 0 else f"{args.threads} threads"
        notes.append(threads_now)
        order = [("snow", snow), ("ref", ref.iteration)]
        if r % 2:
            order.reverse()
        got = {}
        for key, fn in order:
            n, dt = timed_block(fn, args.block_s)
            got[key] = n * per_iter / dt
        peaks.append(matmul_peak(PEAK_DTYPE))
        ips_snow.append(got["snow"])
        ips_ref.append(got["ref"])
        ratios.append(got["snow"] / got["ref"])
        fractions.append(got["snow"] * flops_snow / per_iter / peaks[-1])
        useful.append(got["snow"] * flops_ref / per_iter / peaks[-1])
        print(f"  repeat {r + 1}/{args.repeats}: snowgan {got['snow']:.2f} img/s, reference {got['ref']:.2f} img/s, "
              f"ratio {ratios[-1]:.2f}; {100 * fractions[-1]:.1f}% of a {peaks[-1] / 1e9:.0f} GFLOP/s {PEAK_NAME} peak; "
              f"{threads_now}; load average {os.getloadavg()[0]:.2f}", flush=True)
    out = {"torch": torch.__version__, "python": platform.python_version(), "argv": snowgan_argv(args),
           "command": " ".join([Path(sys.argv[0]).name] + sys.argv[1:]), "threads": notes,
           "precision": snow.precision.name, "images_per_iteration": per_iter, "ratio": spread(ratios),
           "snowgan_img_s": spread(ips_snow), "reference_img_s": spread(ips_ref),
           "gflop_per_image_snowgan": flops_snow / per_iter / 1e9,
           "gflop_per_image_reference": flops_ref / per_iter / 1e9,
           "peak_dtype": PEAK_NAME, "matmul_peak_gflops": spread([x / 1e9 for x in peaks]), "fraction_of_peak": spread(fractions),
           "fraction_of_peak_reference_flops": spread(useful),
           "load_average_1min": os.getloadavg()[0]}
    r = out["ratio"]
    print(f"ratio median {r['median']:.2f} (min {r['min']:.2f}, max {r['max']:.2f}, n={r['n']}); snowgan "
          f"{statistics.median(ips_snow):.2f} img/s at {out['gflop_per_image_snowgan']:.2f} GFLOP/image "
          f"(reference {out['gflop_per_image_reference']:.2f}) = {100 * statistics.median(fractions):.1f}% "
          f"(median) of the {PEAK_NAME} matmul peak measured beside it; counting only the reference's FLOPs "
          f"{100 * statistics.median(useful):.1f}%", flush=True)
    if args.json:
        write_results(args.json, out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
