"""One training iteration's pieces, with no I/O: a discriminator step and a generator step.

Read top to bottom like the algorithm box of a GAN paper. The step knows no loss by
name: the loss (losses/base.py) supplies the two phases' objectives and its regularisers.

    D step:  (x, y) ~ data, z ~ N(0, I)
             r = D(aug(x), y),  f = D(aug(G(z, y)), y)
             loss_D = L.d_main(r, f) + sum over due regularisers R: R.weight * R.interval * R.penalty
             update D (skipped when the loss is not finite)
    G step:  z ~ N(0, I);  f = D(aug(G(z, y)), y)  [and r = D(aug(x), y) when L.g_uses_real]
             loss_G = L.g_main(f, r)
             update G, then EMA(G) <- beta * EMA(G) + (1 - beta) * G

Fakes take the labels y of the real batch they are compared with, so a conditional
model sees the data's class balance and an unconditional one is unaffected.

All randomness (z, augmentation, GP interpolation) comes from the global torch RNG,
which the checkpoint saves, so a resumed run draws the same numbers. The only host
synchronisation is one finiteness check per optimizer step (a NaN must be caught
before it reaches the weights); every statistic stays on the device until the loop
logs it.
"""

from __future__ import annotations

from typing import Callable, Optional

import torch
from torch import nn

from ..config import Config
from ..data.dataset import Batch
from ..losses import build_loss
from ..losses.base import PenaltyInputs
from ..optim import build_optimizer
from .device import Precision
from .ema import make_ema, update_ema

Stats = dict[str, torch.Tensor]


def prepare_networks(cfg: Config, G: nn.Module, D: nn.Module, device: torch.device
                     ) -> tuple[nn.Module, nn.Module]:
    """Move freshly built (G, D) to the device in the configured memory format (channels_last by default)."""
    fmt = torch.channels_last if cfg.train.channels_last else torch.contiguous_format
    return G.to(device, memory_format=fmt), D.to(device, memory_format=fmt)


class GANSteps:
    """G, D, the EMA generator, the loss, both optimizers and their grad scalers.

    G, D: networks already on `device` (optionally wrapped, e.g. compiled; `G_module`
    and `D_module` are the unwrapped ones), called as G(z, labels) and D(x, labels).
    augment: callable on (B, C, H, W) images in [-1, 1], applied to real and fake alike
    before D (None = no augmentation).
    """

    def __init__(self, cfg: Config, G: nn.Module, D: nn.Module, device: torch.device, precision: Precision,
                 augment: Optional[Callable[[torch.Tensor], torch.Tensor]] = None,
                 G_module: Optional[nn.Module] = None, D_module: Optional[nn.Module] = None,
                 rank: int = 0, world: int = 1) -> None:
        t, m = cfg.train, cfg.model
        self.cfg, self.device, self.precision = cfg, device, precision
        self.G, self.D = G, D
        self.G_module = G_module or G
        self.D_module = D_module or D
        self.G_ema = make_ema(self.G_module)
        self.augment = augment
        self.loss = build_loss(m, t.reg_interval)
        self.latent_dim = m.latent_dim
        self.accum = t.grad_accum
        _freeze_blocks(self.D_module, t.freeze_d)  # before the optimizer sees the parameters
        d_params = [p for p in self.D_module.parameters() if p.requires_grad]
        self.opt_g = build_optimizer(t.optimizer, self.G_module.parameters(), t.gen_lr, (t.beta1, t.beta2), device)
        self.opt_d = build_optimizer(t.optimizer, d_params, t.disc_lr, (t.beta1, t.beta2), device)
        self.scaler_g = torch.amp.GradScaler(device.type, enabled=precision.use_scaler)
        self.scaler_d = torch.amp.GradScaler(device.type, enabled=precision.use_scaler)
        self.rank, self.world = rank, world

    # ---- helpers -------------------------------------------------------------------
    def _aug(self, x: torch.Tensor) -> torch.Tensor:
        return self.augment(x) if self.augment is not None else x

    def _global_rand(self, draw, n: int) -> torch.Tensor:
        """This rank's rows of a draw for the whole global batch (n rows per rank).

        Every rank draws all world*n rows from the same RNG stream and keeps rows
        rank::world, matching the data slicing: the union over ranks is exactly what
        a single process would draw, and the RNG advances identically on every world
        size, so runs resume across world sizes.
        """
        full = draw(n * self.world)
        return full if self.world == 1 else full[self.rank::self.world]

    def _z(self, n: int) -> torch.Tensor:
        return self._global_rand(lambda k: torch.randn(k, self.latent_dim, device=self.device), n)

    def _eps(self, n: int) -> torch.Tensor:
        return self._global_rand(lambda k: torch.rand(k, 1, 1, 1, device=self.device), n)

    def _apply(self, opt: torch.optim.Optimizer, scaler: torch.amp.GradScaler, loss_sum: torch.Tensor) -> bool:
        """Step the optimizer unless the loss is non-finite (the one deliberate host sync).

        Under torchrun the gradients (and the loss) are first averaged over ranks, so all
        ranks take the same decision and the same step.
        """
        if self.world > 1:
            from .distributed import average_gradients

            params = [p for g in opt.param_groups for p in g["params"]]
            loss_sum = average_gradients(params, loss_sum, self.world)
        ok = bool(torch.isfinite(loss_sum))
        if ok:
            scaler.step(opt)
            scaler.update()
        opt.zero_grad(set_to_none=True)
        return ok

    # ---- discriminator -------------------------------------------------------------
    def d_step(self, batch: Batch, step_index: int = 0) -> tuple[bool, Stats]:
        """One D update on a real batch (images (B, C, H, W) in [-1, 1], labels (B,) or None).

        step_index counts D steps: a regulariser with interval k runs every k-th step
        (lazy regularisation), scaled by k to keep its average strength.
        """
        loss_fn = self.loss
        self.G.requires_grad_(False)
        self.D.requires_grad_(True)
        self.D_module.requires_grad_(True)
        _freeze_blocks(self.D_module, self.cfg.train.freeze_d)
        due = [r for r in loss_fn.regularizers if r.due(step_index)]
        grad_real = any(r.grad_of == "real" for r in due)
        grad_fake = any(r.grad_of == "fake" for r in due)
        stats: Stats = {k: torch.zeros((), device=self.device)
                        for k in ["loss_d", "d_real", "d_fake"] + [r.name for r in loss_fn.regularizers]}
        real_scores_all = []
        for x, y in _chunks(batch, self.accum):
            with torch.no_grad(), self.precision.autocast(self.device):
                fake = self.G(self._z(len(x)), y)
            with self.precision.autocast(self.device):
                x_aug, f_aug = self._aug(x), self._aug(fake.float())
                # Zero-centred penalties (R1, R2) differentiate these very scores w.r.t. D's input.
                x_aug = x_aug.detach().requires_grad_(True) if grad_real else x_aug
                f_aug = f_aug.detach().requires_grad_(True) if grad_fake else f_aug
                real_s, fake_s = self.D(x_aug, y), self.D(f_aug, y)
            loss = loss_fn.d_main(real_s, fake_s)
            if due:
                inputs = PenaltyInputs(lambda v, y=y: self.D(v, y), x_aug, f_aug, real_s, fake_s, self._eps)
                for reg in due:
                    with self.precision.autocast(self.device):
                        p = reg.penalty(inputs)
                    loss = loss + reg.weight * reg.interval * p
                    stats[reg.name] += p.detach() / self.accum
            self.scaler_d.scale(loss / self.accum).backward()
            stats["loss_d"] += loss.detach() / self.accum
            stats["d_real"] += loss_fn.realness(real_s) / self.accum
            stats["d_fake"] += loss_fn.realness(fake_s) / self.accum
            real_scores_all.append(real_s.detach().float())
        stats["real_scores"] = torch.cat(real_scores_all)
        ok = self._apply(self.opt_d, self.scaler_d, stats["loss_d"])
        return ok, stats

    # ---- generator -----------------------------------------------------------------
    def g_step(self, batch: Batch) -> tuple[bool, Stats]:
        """One G update on len(batch) fresh latents with the batch's labels (this rank's share).

        The batch's images are used only when the loss compares fakes with reals in the
        G phase (``g_uses_real``, e.g. RpGAN).
        """
        self.G.requires_grad_(True)
        self.D.requires_grad_(False)  # no D weight gradients needed: saves a third of the backward
        loss_sum = torch.zeros((), device=self.device)
        for x, y in _chunks(batch, self.accum):
            with self.precision.autocast(self.device):
                fake_s = self.D(self._aug(self.G(self._z(len(x)), y).float()), y)
                real_s = self.D(self._aug(x), y) if self.loss.g_uses_real else None
            loss = self.loss.g_main(fake_s, real_s)
            self.scaler_g.scale(loss / self.accum).backward()
            loss_sum += loss.detach() / self.accum
        ok = self._apply(self.opt_g, self.scaler_g, loss_sum)
        return ok, {"loss_g": loss_sum}

    def update_ema(self, beta: float) -> None:
        update_ema(self.G_ema, self.G_module, beta)

    # ---- checkpoint state ----------------------------------------------------------
    def networks_state(self) -> dict[str, dict[str, torch.Tensor]]:
        return {"G": self.G_module.state_dict(), "D": self.D_module.state_dict(), "G_ema": self.G_ema.state_dict()}

    def optim_state(self) -> dict:
        return {"opt_g": self.opt_g.state_dict(), "opt_d": self.opt_d.state_dict(),
                "scaler_g": self.scaler_g.state_dict(), "scaler_d": self.scaler_d.state_dict()}

    def load(self, networks: dict[str, dict[str, torch.Tensor]], optim: Optional[dict] = None) -> None:
        self.G_module.load_state_dict(networks["G"])
        self.D_module.load_state_dict(networks["D"])
        self.G_ema.load_state_dict(networks["G_ema"])
        if optim is not None:
            self.opt_g.load_state_dict(optim["opt_g"])
            self.opt_d.load_state_dict(optim["opt_d"])
            _match_layouts(self.opt_g)
            _match_layouts(self.opt_d)
            if optim.get("scaler_g"):
                self.scaler_g.load_state_dict(optim["scaler_g"])
            if optim.get("scaler_d"):
                self.scaler_d.load_state_dict(optim["scaler_d"])


def _match_layouts(opt: torch.optim.Optimizer) -> None:
    """Give loaded optimizer moments the memory layout (e.g. channels_last) of their parameter.

    Checkpoints store tensors contiguous; a moment whose strides differ from its
    parameter's takes another kernel path and the resumed run drifts from the
    uninterrupted one in the last bits.
    """
    for group in opt.param_groups:
        for p in group["params"]:
            for k, v in opt.state.get(p, {}).items():
                if isinstance(v, torch.Tensor) and v.shape == p.shape and v.stride() != p.stride():
                    opt.state[p][k] = torch.empty_like(p, dtype=v.dtype).copy_(v)


def _chunks(batch: Batch, parts: int) -> list[tuple[torch.Tensor, Optional[torch.Tensor]]]:
    """(images, labels) micro-batches for gradient accumulation (torch.chunk sizes)."""
    xs = batch.images.chunk(parts)
    ys = batch.labels.chunk(parts) if batch.labels is not None else [None] * len(xs)
    return list(zip(xs, ys))


def _freeze_blocks(D: nn.Module, n: int) -> None:
    """Keep the first n discriminator blocks frozen (transfer learning, --freeze_d)."""
    if n > 0:
        for block in list(D.blocks)[:n]:
            block.requires_grad_(False)
