"""Differentiable augmentation for GAN training, and the adaptive-probability controller.

DiffAugment (Zhao et al. 2020, "Differentiable Augmentation for Data-Efficient GAN
Training") applies the same random *kind* of transform to real and generated images
before the discriminator, with every op written in differentiable torch so the
generator's gradient flows through it. The ops and magnitudes follow the authors'
reference code (mit-han-lab/data-efficient-gans, DiffAugment_pytorch.py):

- color: brightness + U(-0.5, 0.5); saturation x U(0, 2) around the per-pixel channel
  mean; contrast x U(0.5, 1.5) around the per-image mean
- translation: shift by up to 1/8 of each side, zero padded (0 is mid-grey in [-1, 1])
- cutout: zero a rectangle of half each side at a random centre (clipped at the border)

As in ADA (Karras et al. 2020), each op is applied to each sample independently with
probability ``p``; at p = 1 this is exactly DiffAugment. AdaptiveP moves p from the
discriminator's overfitting signal r_t = E[sign(D(real))].

All randomness comes from torch's global RNG on the images' device (the checkpoint
saves RNG states, so a resumed run draws the same augmentations).
"""

from __future__ import annotations

import math
from typing import Callable, Optional

import torch
import torch.nn.functional as F

from .config import Config, ConfigError

Op = Callable[[torch.Tensor], torch.Tensor]


# ---- the individual ops: x (B, C, H, W) -> (B, C, H, W), each sample its own draw ----

def _rand(x: torch.Tensor, *shape: int) -> torch.Tensor:
    """U[0, 1) of shape (B, *shape) in x's dtype on x's device."""
    return torch.rand(x.shape[0], *shape, dtype=x.dtype, device=x.device)


def brightness(x: torch.Tensor) -> torch.Tensor:
    return x + (_rand(x, 1, 1, 1) - 0.5)


def saturation(x: torch.Tensor) -> torch.Tensor:
    mean = x.mean(dim=1, keepdim=True)  # per-pixel grey level; a no-op on 1-channel images
    return (x - mean) * (_rand(x, 1, 1, 1) * 2) + mean


def contrast(x: torch.Tensor) -> torch.Tensor:
    mean = x.mean(dim=(1, 2, 3), keepdim=True)
    return (x - mean) * (_rand(x, 1, 1, 1) + 0.5) + mean


def translation(x: torch.Tensor, ratio: float = 0.125) -> torch.Tensor:
    """Shift each image by integers in [-s, s] per axis (s = ratio * side), filling with zeros."""
    b, c, h, w = x.shape
    sh, sw = int(h * ratio + 0.5), int(w * ratio + 0.5)
    ty = torch.randint(-sh, sh + 1, (b, 1), device=x.device)
    tx = torch.randint(-sw, sw + 1, (b, 1), device=x.device)
    # Source index in a 1-pixel zero-padded copy: anything shifted in from outside reads the pad.
    rows = (torch.arange(h, device=x.device) + ty).clamp(-1, h) + 1  # (B, H)
    cols = (torch.arange(w, device=x.device) + tx).clamp(-1, w) + 1  # (B, W)
    x = F.pad(x, [1, 1, 1, 1])
    x = torch.gather(x, 2, rows[:, None, :, None].expand(b, c, h, w + 2))
    return torch.gather(x, 3, cols[:, None, None, :].expand(b, c, h, w))


def cutout(x: torch.Tensor, ratio: float = 0.5) -> torch.Tensor:
    """Zero a (ratio*H) x (ratio*W) rectangle centred at a uniform random pixel."""
    b, _, h, w = x.shape
    ch, cw = int(h * ratio + 0.5), int(w * ratio + 0.5)
    # The reference draws the centre from [0, side + (1 - size % 2)), then starts at centre - size // 2.
    top = torch.randint(0, h + (1 - ch % 2), (b, 1), device=x.device) - ch // 2
    left = torch.randint(0, w + (1 - cw % 2), (b, 1), device=x.device) - cw // 2
    r = torch.arange(h, device=x.device)
    c = torch.arange(w, device=x.device)
    in_r = (r >= top) & (r < top + ch)  # (B, H)
    in_c = (c >= left) & (c < left + cw)  # (B, W)
    keep = ~(in_r[:, :, None] & in_c[:, None, :])  # (B, H, W)
    return x * keep[:, None].to(x.dtype)


POLICIES: dict[str, list[Op]] = {
    "color": [brightness, saturation, contrast],
    "translation": [translation],
    "cutout": [cutout],
}


def parse_policy(policy: str) -> list[str]:
    """'color,translation' -> ['color', 'translation']; '', 'none' or 'off' -> [] (a recipe's
    augmentation turned off); unknown names raise ConfigError."""
    if str(policy).strip().lower() in ("none", "off"):
        return []
    names = [p.strip() for p in str(policy).split(",") if p.strip()]
    for n in names:
        if n not in POLICIES:
            raise ConfigError(f"--augment: unknown op {n!r}; use a comma-separated subset of "
                              f"{', '.join(POLICIES)} (e.g. color,translation,cutout)")
    return names


class DiffAugment:
    """Callable: images (B, C, H, W) float in [-1, 1] -> augmented images, same shape and device.

    Every op of the policy is applied to each sample with probability ``p`` (a plain
    attribute the adaptive controller or the loop may change at any time). Call it once
    on the real batch and once on the fake batch: the same policy, separately sampled,
    as in DiffAugment. The outputs may leave [-1, 1] slightly (brightness), as in the
    reference; D sees them, nothing saves them.
    """

    def __init__(self, policy: str, p: float = 1.0) -> None:
        self.policy = ",".join(parse_policy(policy))
        self.ops: list[Op] = [op for name in parse_policy(policy) for op in POLICIES[name]]
        self.p = float(p)

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        p = float(self.p)
        if p <= 0 or not self.ops:
            return x  # adaptive p starts at 0: skip the work (and the RNG draws) entirely
        for op in self.ops:
            y = op(x)
            if p < 1:
                # Per-sample Bernoulli(p); torch.where keeps unselected samples bit-identical.
                chosen = torch.rand(x.shape[0], 1, 1, 1, device=x.device) < p
                y = torch.where(chosen, y, x)
            x = y
        return x

    def __repr__(self) -> str:
        return f"DiffAugment(policy={self.policy!r}, p={self.p:.4f})"


class AdaptiveP:
    """ADA-style controller of the augmentation probability (Karras et al. 2020, sec. 3).

    After every D step the loop calls ``accumulate(real_scores)``: a running sum of
    sign(D(real)) and a count, kept on the scores' device (no host sync). Every
    ``interval`` iterations it calls ``update(n_images)``, with the number of real images
    shown since the previous update (all ranks together): the overfitting heuristic
    r_t = E[sign(D(real))] is read (one sync), p moves by
    sign(r_t - target) * n_images / (speed_kimg * 1000) -- so p can go from 0 to 1 in
    speed_kimg thousand images -- is clamped to [0, 1), and the accumulators reset.

    r_t near 1 means D is confident on every real image (memorising them): more
    augmentation. The sign of a score is meaningful for logit losses (nonsat, hinge);
    a WGAN critic's scores drift, which is why the progressive recipe has no ADA.
    """

    def __init__(self, target: float, speed_kimg: float, interval: int, p: float = 0.0) -> None:
        if not 0 < target < 1:
            raise ConfigError(f"--ada_target {target}: give a value in (0, 1), e.g. 0.6")
        if speed_kimg <= 0:
            raise ConfigError(f"--ada_kimg {speed_kimg}: must be positive")
        if interval < 1:
            raise ConfigError(f"--ada_interval {interval}: must be at least 1")
        self.target = float(target)
        self.speed_kimg = float(speed_kimg)
        self.interval = int(interval)
        self.p = _clamp(float(p))
        self.last_rt: Optional[float] = None  # r_t at the last update, for the stats line
        self._sum = torch.zeros((), dtype=torch.float64)
        self._count = torch.zeros((), dtype=torch.float64)

    def accumulate(self, real_scores: torch.Tensor) -> None:
        """Add a D step's raw real scores (B,) to the running signal; stays on their device."""
        s = real_scores.detach()
        if self._sum.device != s.device:
            self._sum, self._count = self._sum.to(s.device), self._count.to(s.device)
        self._sum += torch.sign(s).sum(dtype=torch.float64)
        self._count += s.numel()

    def update(self, n_images: int) -> float:
        """Move p after n_images real images; returns the new p (unchanged if nothing accumulated)."""
        totals = torch.stack([self._sum, self._count])
        if torch.distributed.is_available() and torch.distributed.is_initialized():
            # Every rank must reach the same p, so the signal is summed over all of them.
            totals = totals.to(torch.float32)
            torch.distributed.all_reduce(totals)
        total, count = (float(v) for v in totals.cpu())
        self._sum.zero_()
        self._count.zero_()
        if count <= 0:
            return self.p
        self.last_rt = total / count
        step = n_images / (self.speed_kimg * 1000.0)
        if self.last_rt != self.target:  # sign(0) = 0: exactly on target, p stays
            self.p = _clamp(self.p + math.copysign(step, self.last_rt - self.target))
        return self.p

    # ---- checkpoints: plain floats only (state.json), nothing to unpickle ---------------
    def state_dict(self) -> dict[str, Optional[float]]:
        return {"p": self.p, "sum": float(self._sum), "count": float(self._count), "last_rt": self.last_rt}

    def load_state_dict(self, state: dict) -> None:
        self.p = _clamp(float(state["p"]))
        self._sum = torch.tensor(float(state.get("sum", 0.0)), dtype=torch.float64)
        self._count = torch.tensor(float(state.get("count", 0.0)), dtype=torch.float64)
        rt = state.get("last_rt")
        self.last_rt = None if rt is None else float(rt)


_P_MAX = math.nextafter(1.0, 0.0)  # [0, 1): p = 1 exactly would leave D no clean images at all


def _clamp(p: float) -> float:
    return min(max(p, 0.0), _P_MAX)


def from_config(cfg: Config) -> tuple[Optional[DiffAugment], Optional[AdaptiveP]]:
    """(augment, controller) for a run: (None, None) without --augment; controller only with --ada_target.

    With --ada_target, p starts at --aug_p only if the user set it below 1; the default
    (1.0) would start fully augmented, so adaptive runs start at 0 as in ADA.
    """
    a = cfg.aug
    if not parse_policy(a.augment):
        if a.ada_target is not None:
            raise ConfigError("--ada_target needs an augmentation policy: add --augment color,translation,cutout")
        return None, None
    if a.ada_target is None:
        return DiffAugment(a.augment, a.aug_p), None
    start = a.aug_p if a.aug_p < 1 else 0.0
    ada = AdaptiveP(a.ada_target, a.ada_kimg, a.ada_interval, p=start)
    return DiffAugment(a.augment, ada.p), ada
