"""Optimizers: AdaBelief (written here) and the factory the training loop uses.

AdaBelief (Zhuang et al. 2020, "AdaBelief Optimizer: Adapting Stepsizes by the Belief
in Observed Gradients", Algorithm 2) is Adam with the second moment replaced by the
EMA of the squared *deviation* of the gradient from its EMA: steps are large where the
gradient agrees with its prediction and small where it does not. The seed project
002 (imaginary houses) trained its DCGAN with it.

Why not the `adabelief-pytorch` package: its last release (0.2.1) is from 2021, it
pulls in colorama and tabulate to print a banner on every construction, and this is
forty lines of torch. The update below follows the paper and the authors' reference
implementation line for line (including where epsilon enters), and
tests/test_optim.py checks it against a NumPy transcription of Algorithm 2.
"""

from __future__ import annotations

import math
from typing import Iterable, Optional

import torch



class AdaBelief(torch.optim.Optimizer):
    """AdaBelief. Per parameter, with g_t the gradient at step t:

        m_t = b1 m_{t-1} + (1 - b1) g_t
        s_t = b2 s_{t-1} + (1 - b2) (g_t - m_t)^2 + eps
        theta_t = theta_{t-1} - lr * (m_t / (1 - b1^t)) / (sqrt(s_t / (1 - b2^t)) + eps)

    weight_decay: L2 added to the gradient (coupled), or with decoupled_weight_decay
    theta <- theta * (1 - lr * weight_decay) before the step (AdamW style).
    rectify: RAdam's variance rectification (the reference's ``rectify=True``): while
    the approximated SMA length is below 5 the step is plain momentum SGD.
    State per parameter: ``step`` (float32 scalar tensor), ``exp_avg``, ``exp_avg_var``.
    """

    def __init__(self, params: Iterable, lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-16, weight_decay: float = 0.0, decoupled_weight_decay: bool = False,
                 rectify: bool = False) -> None:
        if not lr > 0:
            raise ValueError(f"AdaBelief: lr must be positive, got {lr}")
        if not (0.0 <= betas[0] < 1.0 and 0.0 <= betas[1] < 1.0):
            raise ValueError(f"AdaBelief: betas must be in [0, 1), got {betas}")
        if not eps >= 0 or not weight_decay >= 0:
            raise ValueError("AdaBelief: eps and weight_decay must be non-negative")
        defaults = dict(lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay,
                        decoupled_weight_decay=decoupled_weight_decay, rectify=rectify)
        super().__init__(params, defaults)

    @torch.no_grad()
    def step(self, closure=None):  # type: ignore[override]
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            lr, (beta1, beta2), eps = group["lr"], group["betas"], group["eps"]
            wd = group["weight_decay"]
            for p in group["params"]:
                if p.grad is None:
                    continue  # e.g. progressive GAN layers not yet faded in
                grad = p.grad
                if grad.is_sparse:
                    raise RuntimeError("AdaBelief does not support sparse gradients")
                state = self.state[p]
                if not state:
                    state["step"] = torch.zeros((), dtype=torch.float32)
                    state["exp_avg"] = torch.zeros_like(p, memory_format=torch.preserve_format)
                    state["exp_avg_var"] = torch.zeros_like(p, memory_format=torch.preserve_format)
                if wd != 0:
                    if group["decoupled_weight_decay"]:
                        p.mul_(1.0 - lr * wd)
                    else:
                        grad = grad.add(p, alpha=wd)
                state["step"] += 1
                t = float(state["step"])  # CPU scalar: no device sync
                m, s = state["exp_avg"], state["exp_avg_var"]
                m.mul_(beta1).add_(grad, alpha=1 - beta1)
                residual = grad - m
                s.mul_(beta2).addcmul_(residual, residual, value=1 - beta2).add_(eps)
                bc1, bc2 = 1 - beta1 ** t, 1 - beta2 ** t
                if not group["rectify"]:
                    denom = (s.sqrt() / math.sqrt(bc2)).add_(eps)
                    p.addcdiv_(m, denom, value=-lr / bc1)
                    continue
                # RAdam rectification (Liu et al. 2020), as in the AdaBelief reference code.
                sma_max = 2 / (1 - beta2) - 1
                beta2_t = beta2 ** t
                sma = sma_max - 2 * t * beta2_t / (1 - beta2_t)
                if sma >= 5:
                    r = math.sqrt((1 - beta2_t) * (sma - 4) / (sma_max - 4) * (sma - 2) / sma
                                  * sma_max / (sma_max - 2))
                    p.addcdiv_(m, s.sqrt().add_(eps), value=-lr * r / bc1)
                else:
                    p.add_(m, alpha=-lr / bc1)
        return loss


def build_optimizer(name: str, params: Iterable, lr: float, betas: tuple[float, float],
                    device: Optional[torch.device] = None) -> torch.optim.Optimizer:
    """The optimizer registered as ``name`` (registries.OPTIMIZERS) over params.

    device: where the parameters live (default: that of the first parameter); it only
    decides whether a fused kernel is tried.
    """
    from .registries import OPTIMIZERS, resolve

    params = list(params)
    if device is None:
        first = next((p for p in params if isinstance(p, torch.Tensor)), None)
        device = first.device if first is not None else torch.device("cpu")
    return resolve(OPTIMIZERS, name)(params, lr, betas, device)


def make_adabelief(params: list, lr: float, betas: tuple[float, float], device: torch.device) -> AdaBelief:
    return AdaBelief(params, lr=lr, betas=betas)


def make_adam(params: list, lr: float, betas: tuple[float, float], device: torch.device) -> torch.optim.Adam:
    """torch's Adam: the fused kernel where the device has one, else the foreach one."""
    if device.type in ("cuda", "cpu", "mps"):
        try:
            return torch.optim.Adam(params, lr=lr, betas=betas, fused=True)
        except (RuntimeError, TypeError, ValueError):  # older torch or an unsupported dtype/device
            pass
    return torch.optim.Adam(params, lr=lr, betas=betas, foreach=True)
