"""--compile: torch.compile the networks where it can help, eager PyTorch wherever it cannot.

Where compiling is skipped up front (said once in the log):
- D when the loss differentiates through D's input gradient (WGAN-GP, R1): torch.compile's
  autograd does not support double backward;
- both networks when bf16 convolutions are routed through train/cpu_conv.py (CPUs with
  AVX512-BF16 but no AMX): that route is a TorchFunctionMode with custom autograd
  Functions, whose point (GEMM weight gradients) a compiled graph would bypass;
- when torch.compile is unavailable (e.g. Python builds without dynamo support).

Anything else that fails while compiling (no C++ compiler for the CPU backend, an
unsupported op) fails on the first forward call: the wrapper then logs one line and runs
the eager module from then on, so a run never dies because of --compile.

SNOWGAN_COMPILE_FAIL=1 makes the first compiled call fail on purpose, to exercise that
fallback (used by the tests; handy to compare a run with and without compile).
"""

from __future__ import annotations

import os
from typing import Callable, Optional

import torch
from torch import nn

from ..config import Config
from .device import Precision

FORCE_FAIL_ENV = "SNOWGAN_COMPILE_FAIL"


class CompiledOrEager(nn.Module):
    """Calls torch.compile(module); on the first failure logs once and calls `module` itself from then on.

    Parameters, buffers and requires_grad are the eager module's (the compiled one shares
    them), so optimizers, EMA and checkpoints keep using the unwrapped module.
    """

    def __init__(self, module: nn.Module, name: str, log: Callable[[str], None]) -> None:
        super().__init__()
        self.module = module
        self.name, self._log = name, log
        self._compiled: Optional[Callable] = torch.compile(module)

    @property
    def compiled(self) -> bool:
        """False once the fallback to eager has happened."""
        return self._compiled is not None

    def forward(self, *args, **kwargs):
        if self._compiled is not None:
            try:
                if os.environ.get(FORCE_FAIL_ENV) == "1":
                    raise RuntimeError(f"{FORCE_FAIL_ENV}=1 is set")
                return self._compiled(*args, **kwargs)
            except Exception as e:  # compile errors come in many types (dynamo, inductor, C++ toolchain)
                self._compiled = None
                first = (str(e).strip().splitlines() or [type(e).__name__])[0][:200]
                self._log(f"--compile: {self.name} could not be compiled ({type(e).__name__}: {first}); "
                          f"running it eagerly")
        return self.module(*args, **kwargs)

    def __getattr__(self, name: str):
        try:
            return super().__getattr__(name)
        except AttributeError:  # G.latent_dim, D.blocks, D.forward_features, ...: the wrapped module's
            return getattr(super().__getattr__("module"), name)


def compile_networks(cfg: Config, G: nn.Module, D: nn.Module, precision: Precision,
                     log: Callable[[str], None]) -> tuple[nn.Module, nn.Module]:
    """(G, D) to call in the training step: wrapped in CompiledOrEager where compiling applies."""
    if not cfg.train.compile:
        return G, D
    if not hasattr(torch, "compile"):
        log("--compile: this PyTorch has no torch.compile; training eagerly")
        return G, D
    if precision.gemm_conv_grads:
        log("--compile: skipped: on this CPU bf16 convolutions use snowgan's GEMM weight-gradient route, "
            "which compiled graphs would bypass (use --precision fp32 to compile instead)")
        return G, D
    G_run = CompiledOrEager(G, "G", log)
    from ..losses import build_loss

    if build_loss(cfg.model, cfg.train.reg_interval).double_backward:
        log("--compile: G compiled; D runs eagerly (its gradient penalty needs double backward, which "
            "torch.compile does not support)")
        return G_run, D
    log("--compile: G and D compiled (the first steps are slow while compiling)")
    return G_run, CompiledOrEager(D, "D", log)
