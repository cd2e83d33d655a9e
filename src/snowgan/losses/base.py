"""What a GAN loss is to the training step: phases, regularisers and the settings that go with it.

In the spirit of stylegan2-ada-pytorch's ``Loss.accumulate_gradients(phase, ...)``: the
step (train/step.py) knows no loss by name. It runs two phases and asks the loss:

    D phase (every D step):  scores r = D(aug(x), y), f = D(aug(G(z, y)), y)
                             L_D = loss.d_main(r, f) + sum over due regularisers of
                                   reg.weight * reg.interval * reg.penalty(...)
    G phase (every G step):  f = D(aug(G(z, y)), y)  and, when loss.g_uses_real, r = D(aug(x), y)
                             L_G = loss.g_main(f, r)

A regulariser has its own weight and interval: lazy regularisation (StyleGAN2) is just
an interval k > 1, with the term scaled by k to keep its average strength. Penalties on
the gradient of D's scores w.r.t. its real (R1) or fake (R2) input reuse the main
forward: the step marks that input ``requires_grad`` when the penalty is due.

A loss's facts (its ``defaults``: the settings that belong to it, n_critic, Adam rates and
betas, penalty weights, which flags.resolve gives to every field no recipe, config file or flag
set; whether D may batch-normalise; whether its scores are signed) live in its entry in
losses/entries.py (torch-free, so resolving flags needs no torch); the class takes them from
there. Adding a loss is one module with a GANLoss subclass plus its entry.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, ClassVar, Optional

import torch

from . import penalties
from .entries import LOSSES

ScoreFn = Callable[[torch.Tensor], torch.Tensor]


@dataclass
class PenaltyInputs:
    """What a regulariser may look at in one D step.

    D: scores of images (labels already bound), (B, C, H, W) -> (B,).
    real, fake: D's inputs this step (augmented), (B, C, H, W) in about [-1, 1]; ``real``
    requires grad when an R1-like penalty is due, ``fake`` when an R2-like one is.
    real_scores, fake_scores: D's scores on them (B,).
    rand: draws this rank's rows of a global uniform sample, rand(n) -> (n, 1, 1, 1).
    """

    D: ScoreFn
    real: torch.Tensor
    fake: torch.Tensor
    real_scores: torch.Tensor
    fake_scores: torch.Tensor
    rand: Callable[[int], torch.Tensor]


@dataclass
class Regularizer:
    """One D regulariser: ``name`` (its stats key), ``weight``, ``interval`` in D steps.

    grad_of: "real" or "fake" when the penalty is the gradient of the main forward's
    scores w.r.t. that input (so the step must make it require grad); None otherwise.
    double_backward: the penalty differentiates through D's input gradient (matters to
    torch.compile, which cannot).
    """

    name: str
    weight: float
    interval: int = 1
    grad_of: ClassVar[Optional[str]] = None
    double_backward: ClassVar[bool] = True

    def due(self, d_step_index: int) -> bool:
        return d_step_index % self.interval == 0

    def penalty(self, p: PenaltyInputs) -> torch.Tensor:  # pragma: no cover - abstract
        raise NotImplementedError


class R1(Regularizer):
    """Zero-centred gradient penalty on reals, E||grad D(x)||^2 (Mescheder et al. 2018)."""

    grad_of = "real"

    def penalty(self, p: PenaltyInputs) -> torch.Tensor:
        return penalties.input_gradient_sq_norm(p.real_scores, p.real)


class R2(Regularizer):
    """Zero-centred gradient penalty on fakes, E||grad D(G(z))||^2 (R3GAN's partner of R1)."""

    grad_of = "fake"

    def penalty(self, p: PenaltyInputs) -> torch.Tensor:
        return penalties.input_gradient_sq_norm(p.fake_scores, p.fake)


class GradientPenalty(Regularizer):
    """WGAN-GP's one-centred penalty on random real/fake interpolates (its own D forward)."""

    def penalty(self, p: PenaltyInputs) -> torch.Tensor:
        eps = p.rand(p.real.shape[0])
        return penalties.gradient_penalty(p.D, p.real, p.fake, eps)


class Drift(Regularizer):
    """Progressive GAN's eps * D(x)^2 on real scores; no extra forward, every step."""

    double_backward = False

    def penalty(self, p: PenaltyInputs) -> torch.Tensor:
        return penalties.drift_penalty(p.real_scores)


class GANLoss:
    """A loss's two phases, its regularisers and its defaults.

    A subclass sets ``name`` (its entry in losses/entries.py, which gives it ``summary`` (a phrase
    for the model card), ``defaults`` (settings that follow this loss unless set), ``d_norm``
    ("none" where D must not batch-normalise) and ``signed_scores`` (whether sign(D(real)) means
    real vs fake)), and ``g_uses_real`` when the G phase needs D's scores on real images.
    """

    name: ClassVar[str] = ""
    summary: ClassVar[str] = ""
    defaults: ClassVar[dict[str, Any]] = {}
    d_norm: ClassVar[str] = "batch"
    signed_scores: ClassVar[bool] = True
    g_uses_real: ClassVar[bool] = False

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if cls.name:  # the facts are the entry's: one place, read without torch everywhere else
            entry = LOSSES[cls.name]
            cls.summary, cls.defaults = entry.summary, entry.defaults
            cls.d_norm, cls.signed_scores = entry.d_norm or "batch", entry.signed_scores

    def __init__(self, model_cfg: Any, reg_interval: int = 1) -> None:
        """model_cfg: the ``model`` section (penalty weights); reg_interval: lazy interval of gradient penalties."""
        self.regularizers: list[Regularizer] = self.build_regularizers(model_cfg, reg_interval)

    def build_regularizers(self, m: Any, k: int) -> list[Regularizer]:
        """drift, the loss's own penalties, R1, R2 (each on when its weight is positive), in the order summed."""
        regs: list[Regularizer] = []
        if m.drift_weight > 0:
            regs.append(Drift("drift", m.drift_weight))
        regs += self.own_regularizers(m, k)
        if m.r1_gamma > 0:
            regs.append(R1("r1", 0.5 * m.r1_gamma, k))
        if m.r2_gamma > 0:
            regs.append(R2("r2", 0.5 * m.r2_gamma, k))
        return regs

    def own_regularizers(self, m: Any, k: int) -> list[Regularizer]:
        """Penalties that belong to this loss alone (WGAN-GP's gradient penalty); none by default."""
        return []

    @property
    def double_backward(self) -> bool:
        return any(r.double_backward for r in self.regularizers)

    def d_main(self, real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:  # pragma: no cover - abstract
        """Discriminator loss (scalar) from real scores (B,) and fake scores (B,), or (B, K) each (per patch)."""
        raise NotImplementedError

    def g_main(self, fake: torch.Tensor, real: Optional[torch.Tensor] = None) -> torch.Tensor:  # pragma: no cover
        """Generator loss (scalar) from fake scores (B,) (and real scores (B,) when g_uses_real)."""
        raise NotImplementedError

    def realness(self, scores: torch.Tensor) -> torch.Tensor:
        """Mean 'realness' logged as d_real / d_fake: the raw mean score (sigmoid for logit losses)."""
        return scores.detach().float().mean()
