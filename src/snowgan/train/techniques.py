"""The optional techniques of a run, behind the few calls the training loop makes.

- DiffAugment with a fixed or adaptive probability (snowgan.augment)
- progressive growing, for a family whose entry says it grows: stage, per-resolution batch
  size, faded reals (models/growing.py)
- ``--schedule NAME``: a family's paper schedule of lr, betas, R1/R2 gamma, aug_p and the EMA
  half-life over the run (R3GAN's cosines: models/r3gan/schedule.py), a pure function of the
  image count

The loop, per iteration::

    bs = tech.begin_iteration(images_seen, G, D, G_ema)   # stage -> networks; batch size
    for each D step:
        real = tech.real(batches.next(bs))                # stage-sized, faded reals
        ... d_step(real) ...
        tech.after_d_step(stats["real_scores"], bs)       # adaptive-p signal, on device
    ... g_step / EMA / step += 1 ...
    tech.end_iteration(step)                              # every ada_interval: move p (one sync)

and ``tech.stats()`` / ``tech.sample_info()`` for the stats and sample index lines,
``tech.state_dict()`` / ``load_state_dict()`` in the checkpoint. Everything here is a
pure function of the checkpointed counters plus this state, so resume is exact.
"""

from __future__ import annotations

from typing import Optional

import torch
from torch import nn

from .. import augment as aug_mod
from ..config import Config
from ..data.dataset import Batch
from ..losses.entries import loss_entry
from ..models.families import family
from ..models.growing import Schedule, Stage, apply_stage, real_for_stage


class Techniques:
    """Augmentation, adaptive p and the progressive schedule of one run (any may be off)."""

    def __init__(self, cfg: Config) -> None:
        self.augment, self.ada = aug_mod.from_config(cfg)
        self.schedule: Optional[Schedule] = Schedule(cfg, cfg.image_hw) if family(cfg.model.arch).grows else None
        self.stage: Optional[Stage] = self.schedule.stage(0) if self.schedule else None
        self.batch_size = cfg.train.batch_size
        self._images_since_update = 0  # real images (global batch) since the last adaptive-p update
        self.cfg = cfg
        self.paper_schedule = None  # set by set_run_length under --schedule NAME (not constant)
        self.values = None  # the schedule's values at this iteration (lr, betas, gamma, aug_p, ema)

    def set_run_length(self, total_images: int) -> None:
        """The run's length in images: what a --schedule decays over (from --kimg, --steps or --epochs)."""
        c = self.cfg
        if c.train.schedule == "constant":
            return
        self.paper_schedule = family(c.train.schedule).schedule_class().for_run(c, max(total_images, 1) / 1000)

    def apply_schedule(self, images_seen: int, steps) -> None:
        """Set this iteration's scheduled values on the optimizers, the loss's R1/R2 and the augmentation.

        steps: the GANSteps (its opt_g, opt_d and loss.regularizers). Assigning lr and betas
        to the param groups is all torch's Adam reads per step; nothing is cached.
        """
        if self.paper_schedule is None:
            return
        v = self.values = self.paper_schedule.at(images_seen / 1000)
        for opt in (steps.opt_g, steps.opt_d):  # R3GAN: the same rate for G and D
            for group in opt.param_groups:
                group["lr"], group["betas"] = v.lr, (v.beta1, v.beta2)
        for reg in steps.loss.regularizers:  # R3GAN: one gamma for R1 and R2, each weighed gamma/2
            if reg.name in ("r1", "r2"):
                reg.weight = 0.5 * v.gamma
        if self.augment is not None and self.ada is None:
            self.augment.p = v.aug_p

    def ema_half_life_kimg(self, default: float) -> float:
        """The EMA half-life now: the schedule's when one runs, else --ema_kimg."""
        return self.values.ema_kimg if self.values is not None else default

    # ---- per iteration -----------------------------------------------------------------
    def begin_iteration(self, images_seen: int, *networks: nn.Module) -> int:
        """Put the networks (G, D, EMA G: unwrapped modules) at this moment's stage; return the batch size."""
        if self.schedule is None:
            return self.batch_size
        self.stage = self.schedule.stage(images_seen)
        apply_stage(self.stage, *networks)
        return self.stage.batch_size

    def real(self, batch: Batch) -> Batch:
        """Full-size reals (images (B, C, H, W) in [-1, 1]) -> what D sees at this stage; labels unchanged."""
        return batch.with_images(real_for_stage(batch.images, self.stage)) if self.stage is not None else batch

    def after_d_step(self, real_scores: torch.Tensor, n_images: int) -> None:
        """Feed one D step's raw real scores (B,) to the adaptive-p signal (device-side, no sync)."""
        if self.ada is not None:
            self.ada.accumulate(real_scores)
            self._images_since_update += n_images

    def end_iteration(self, step: int) -> None:
        """Every ada_interval iterations: move p by the ADA rule (one host sync) and hand it to DiffAugment."""
        if self.ada is None or step % self.ada.interval:
            return
        # n_images counts the global batch (every rank passes the same global size), so no world factor.
        self.augment.p = self.ada.update(self._images_since_update)
        self._images_since_update = 0

    # ---- records -----------------------------------------------------------------------
    def stats(self) -> dict:
        """Fields for a stats.jsonl line: aug_p (and ada_rt), res and alpha when progressive."""
        out: dict = {"aug_p": round(float(self.augment.p), 6) if self.augment is not None else 0.0}
        if self.ada is not None and self.ada.last_rt is not None:
            out["ada_rt"] = round(self.ada.last_rt, 4)
        if self.values is not None:
            out.update(lr=round(self.values.lr, 8), gamma=round(self.values.gamma, 6),
                       beta2=round(self.values.beta2, 6))
        out.update(self.sample_info())
        return out

    def sample_info(self) -> dict:
        """res ('HxW') and alpha of the current stage, for samples/index.jsonl; {} when not progressive."""
        if self.stage is None:
            return {}
        return {"res": f"{self.stage.res[0]}x{self.stage.res[1]}", "alpha": round(self.stage.alpha, 6),
                "phase": self.stage.phase}

    def state_dict(self) -> dict:
        """JSON-friendly: the adaptive controller and its pending image count; the stage for the record."""
        return {"ada": self.ada.state_dict() if self.ada is not None else None,
                "images_since_update": self._images_since_update,
                "aug_p": float(self.augment.p) if self.augment is not None else None,
                "stage": self.stage.to_dict() if self.stage is not None else None}

    def load_state_dict(self, state: dict) -> None:
        if self.ada is not None and state.get("ada"):
            self.ada.load_state_dict(state["ada"])
            self.augment.p = self.ada.p
            self._images_since_update = int(state.get("images_since_update", 0))
        # The stage is not loaded: begin_iteration recomputes it from the restored image count.


def start_warnings(cfg: Config) -> list[str]:
    """Start-up warnings for settings that run but are known to train badly."""
    return [w for w in (schedule_warning(cfg), ada_warning(cfg)) if w is not None]


def ada_warning(cfg: Config) -> Optional[str]:
    """Adaptive augmentation reads sign(D(real)), which means nothing for a WGAN critic (see AdaptiveP)."""
    if cfg.aug.ada_target is None or loss_entry(cfg.model.loss).signed_scores:
        return None
    return (f"warning: --ada_target reads the sign of D's real scores, which a {cfg.model.loss} critic's scores "
            "do not carry (they drift); use it with --loss nonsat or hinge, or set a fixed --aug_p instead")


def schedule_warning(cfg: Config) -> Optional[str]:
    """A start-up warning when G is updated more often than D, or None.

    Measured on the seed flags with the DCGAN loss (`--loss nonsat --gen_steps 4 --disc_lr 0.0001`):
    with 4 G updates per D update the generator collapsed to one image or to grey noise
    in every variant tried (fp32/bf16, 32/64 px, G rates 2e-4 to 2.5e-5, spectral norm,
    no D norm, R1, a one-step WGAN-GP critic, minibatch stddev); README "The two seed commands".

    A family may be measured healthy at more (its entry's g_steps_per_d_step: the projected D at 2:1,
    lower KID and FID than 1:1 at equal time on two datasets); beyond that it still warns.
    """
    t = cfg.train
    if t.gen_steps <= t.disc_steps * family(cfg.model.arch).g_steps_per_d_step:
        return None
    return (f"warning: --gen_steps {t.gen_steps} > --disc_steps {t.disc_steps}: G is updated "
            f"{t.gen_steps / t.disc_steps:g}x as often as D, and GANs usually collapse this way (all samples "
            f"alike; the collapse watch will say so in the log); add --disc_steps {t.gen_steps} (or use "
            f"--loss wgan-gp, the default: 5 critic steps)")
