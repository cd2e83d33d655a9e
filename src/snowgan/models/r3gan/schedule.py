"""R3GAN's training schedules as pure functions of the images seen, so they scale to any run length.

R3GAN (Huang et al. 2024; its training loop's ``cosine_decay_with_warmup`` with no warm-up
and no hold) moves five values from a start to an end value along half a cosine over a
fixed number of images (2e7 for every preset) and holds them there afterwards:

    t     = min(kimg / total_kimg, 1)
    value = start + (end - start) * (1 - cos(pi * t)) / 2

    lr        2e-4 -> 5e-5        both networks (Adam)
    gamma     g0   -> g0 / 10     the R1 and R2 weight (each applied as gamma / 2)
    aug_p     0    -> p_max       augmentation probability (0.3 at 64 and 256 px, 0.55 CIFAR-10)
    beta2     0.9  -> 0.99        Adam's second-moment decay; beta1 stays 0
    ema       0    -> E           the G EMA half-life in images (StyleGAN convention)

The presets' gamma start is 0.05 (CIFAR-10), 2 (FFHQ 64), 150 (FFHQ 256); the EMA end is
E = 0.025 * 20 Mimg (FFHQ) or 0.25 * 20 Mimg (CIFAR-10), so here ``ema_fraction`` gives it
as a fraction of ``total_kimg``. snowgan runs are thousands of times shorter than 20 Mimg,
so ``total_kimg`` is the run's own length: the whole decay happens within the run.

How the training loop applies it (train/techniques.py: ``for_run`` builds it from the run's
settings when ``--schedule`` names this family):

    sched = R3GANSchedule(total_kimg=<the run's length in kimg (--kimg, or from --steps/--epochs)>,
                          lr=(cfg.train.disc_lr, cfg.train.disc_lr / 4),
                          gamma=(cfg.model.r1_gamma, cfg.model.r1_gamma / 10),
                          aug_p=(0.0, cfg.aug.aug_p))
    # once per iteration, before its D steps, from the images seen so far (a resumed run
    # passes its restored count and gets exactly the values it would have had):
    v = sched.at(images_seen / 1000)                        # -> R3GANValues
    for opt in (steps.opt_g, steps.opt_d):                  # the same lr for G and D, as R3GAN
        for group in opt.param_groups:
            group["lr"], group["betas"] = v.lr, (v.beta1, v.beta2)
    for reg in steps.loss.regularizers:                     # losses/base.py: R1 and R2 weigh gamma/2
        if reg.name in ("r1", "r2"):
            reg.weight = 0.5 * v.gamma
    if tech.augment is not None and tech.ada is None:       # a schedule instead of the adaptive p
        tech.augment.p = v.aug_p
    beta = ema_beta(batch_size, images_seen, v.ema_kimg, rampup=0)   # train/ema.py, after the G step

Assigning a float to ``group["lr"]`` and ``group["betas"]`` is all torch's Adam (fused or
foreach) reads each step; nothing else caches them.

Nothing here holds state: the values are a function of (schedule, kimg) only, so
checkpoints need only the image count they already store.
"""

from __future__ import annotations

import math
from dataclasses import dataclass


def cosine_ramp(kimg: float, total_kimg: float, start: float, end: float) -> float:
    """start -> end along half a cosine over total_kimg, then end. kimg < 0 counts as 0."""
    if total_kimg <= 0:
        return end
    t = min(max(kimg / total_kimg, 0.0), 1.0)
    return start + (end - start) * (1.0 - math.cos(math.pi * t)) / 2.0


@dataclass(frozen=True)
class R3GANValues:
    """The schedule's values at one point of training."""

    kimg: float
    lr: float
    gamma: float
    aug_p: float
    beta1: float
    beta2: float
    ema_kimg: float  # EMA half-life, thousands of images


@dataclass(frozen=True)
class R3GANSchedule:
    """R3GAN's cosine schedules over ``total_kimg`` thousand images (see the module docstring).

    Each pair is (start, end). Defaults are the paper's FFHQ-64 preset: lr 2e-4 -> 5e-5,
    gamma 2 -> 0.2, aug_p 0 -> 0.3, beta2 0.9 -> 0.99, beta1 0, EMA half-life 0 -> 2.5 % of
    the run.
    """

    total_kimg: float
    lr: tuple[float, float] = (2e-4, 5e-5)
    gamma: tuple[float, float] = (2.0, 0.2)
    aug_p: tuple[float, float] = (0.0, 0.3)
    beta2: tuple[float, float] = (0.9, 0.99)
    beta1: float = 0.0
    ema_fraction: tuple[float, float] = (0.0, 0.025)

    def __post_init__(self) -> None:
        if not self.total_kimg > 0:
            raise ValueError(f"R3GANSchedule: total_kimg must be positive, got {self.total_kimg}")
        for name in ("lr", "gamma", "aug_p", "beta2", "ema_fraction"):
            pair = getattr(self, name)
            if len(pair) != 2 or min(pair) < 0:
                raise ValueError(f"R3GANSchedule: {name} must be (start, end) with both >= 0, got {pair}")
        if not (0 <= self.beta1 < 1 and max(self.beta2) < 1 and max(self.aug_p) <= 1):
            raise ValueError("R3GANSchedule: betas must be in [0, 1) and aug_p in [0, 1]")

    @classmethod
    def for_run(cls, cfg, total_kimg: float) -> "R3GANSchedule":
        """The schedule snowgan runs under ``--schedule`` of this family: from the run's settings,
        decaying over the run's own length (lr to a quarter, gamma to a tenth, aug_p up to --aug_p,
        beta2 up to 0.99)."""
        t = cfg.train
        return cls(total_kimg=total_kimg, lr=(t.disc_lr, t.disc_lr / 4),
                   gamma=(cfg.model.r1_gamma, cfg.model.r1_gamma / 10),
                   aug_p=(0.0, cfg.aug.aug_p), beta2=(t.beta2, 0.99), beta1=t.beta1)

    def progress(self, kimg: float) -> float:
        """Fraction of the decay done at kimg, in [0, 1]."""
        return min(max(kimg / self.total_kimg, 0.0), 1.0)

    def at(self, kimg: float) -> R3GANValues:
        """Every scheduled value after kimg thousand real images."""
        def ramp(pair: tuple[float, float]) -> float:
            return cosine_ramp(kimg, self.total_kimg, pair[0], pair[1])

        return R3GANValues(kimg=kimg, lr=ramp(self.lr), gamma=ramp(self.gamma), aug_p=ramp(self.aug_p),
                           beta1=self.beta1, beta2=ramp(self.beta2),
                           ema_kimg=ramp(self.ema_fraction) * self.total_kimg)
