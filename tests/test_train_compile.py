"""--compile (train/compiling.py): compiled where it applies, eager with one log line where it fails.

A whole compiled training run takes ~25 s on the 2 test cores, so the end-to-end test forces
the fallback (SNOWGAN_COMPILE_FAIL=1); the compiled path itself is checked on a small module.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torch import nn

from conftest import run_cli
from snowgan.flags import parse_args
from snowgan.train.compiling import FORCE_FAIL_ENV, CompiledOrEager, compile_networks
from snowgan.train.device import Precision

TINY = ["--image_size", "16", "--builtin_count", "32", "--batch_size", "8", "--g_width", "8", "--d_width", "8",
        "--progress", "lines", "--log_every", "2", "--sample_every", "4", "--report", "false"]
FP32 = Precision("fp32", None, False, "test")


def test_compiled_module_matches_eager_and_keeps_attributes(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(FORCE_FAIL_ENV, raising=False)
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(6, 5), nn.Tanh())
    net.latent_dim = 6  # the training step reads attributes like this through the wrapper
    logs: list[str] = []
    wrapped = CompiledOrEager(net, "G", logs.append)
    x = torch.randn(4, 6)
    torch.testing.assert_close(wrapped(x), net(x))
    assert wrapped.compiled and not logs
    assert wrapped.latent_dim == 6 and wrapped.module is net


def test_failure_falls_back_to_eager_once(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(FORCE_FAIL_ENV, "1")
    net = nn.Linear(3, 2)
    logs: list[str] = []
    wrapped = CompiledOrEager(net, "D", logs.append)
    x = torch.randn(2, 3)
    for _ in range(3):
        torch.testing.assert_close(wrapped(x), net(x))
    assert not wrapped.compiled
    assert len(logs) == 1 and "D could not be compiled" in logs[0] and "eagerly" in logs[0]


@pytest.mark.parametrize("argv,gemm,wrapped", [
    (["--loss", "nonsat"], False, (True, True)),
    (["--loss", "wgan-gp"], False, (True, False)),  # the penalty's double backward: D eager
    (["--loss", "hinge", "--r1_gamma", "1"], False, (True, False)),
    (["--loss", "nonsat"], True, (False, False)),  # bf16 GEMM-convolution route on CPU: no compile
])
def test_what_gets_compiled(argv: list[str], gemm: bool, wrapped: tuple[bool, bool]) -> None:
    cfg, _ = parse_args(["--compile", *argv])
    G, D = nn.Linear(2, 2), nn.Linear(2, 1)
    logs: list[str] = []
    precision = Precision("bf16", torch.bfloat16, False, "test", gemm_conv_grads=True) if gemm else FP32
    G_run, D_run = compile_networks(cfg, G, D, precision, logs.append)
    assert (isinstance(G_run, CompiledOrEager), isinstance(D_run, CompiledOrEager)) == wrapped
    assert len(logs) == 1 and logs[0].startswith("--compile:")
    cfg_off, _ = parse_args(argv)
    assert compile_networks(cfg_off, G, D, precision, logs.append) == (G, D)


def test_compile_run_completes_when_compiling_fails(workdir: Path) -> None:
    p = run_cli("--mode", "train", *TINY, "--loss", "nonsat", "--steps", "4", "--compile", "--precision", "fp32",
                cwd=workdir,
                env={FORCE_FAIL_ENV: "1"})
    assert "--compile: G and D compiled" in p.stdout
    assert "G could not be compiled" in p.stdout and "D could not be compiled" in p.stdout
    assert "done: 4 steps" in p.stdout
    (run,) = (workdir / "runs").iterdir()
    assert (run / "checkpoints" / "step-00000004" / "model.safetensors").is_file()
