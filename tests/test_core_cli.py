"""The open core from the command line: a loss added as one class (RpGAN) trains and resumes
exactly; settings from a --config file override a resumed run's as flags do."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from conftest import run_cli, run_cli_here
from snowgan.runfolder import RunFolder

TINY = ["--image_size", "16", "--builtin_count", "32", "--batch_size", "8", "--g_width", "8", "--d_width", "8",
        "--progress", "lines", "--log_every", "1", "--sample_every", "100", "--metrics_every", "0"]


def _run(workdir: Path, name: str) -> Path:
    (run,) = [p for p in (workdir / "runs").iterdir() if p.name.endswith("-" + name)]
    return run


def _final_weights(run: Path, step: int) -> dict[str, torch.Tensor]:
    ckpt = run / "checkpoints" / f"step-{step:08d}"
    return {**load_file(str(ckpt / "model.safetensors")), **load_file(str(ckpt / "state.safetensors"))}


@pytest.mark.slow
def test_rpgan_trains_from_the_cli_and_resumes_exactly(workdir: Path) -> None:
    args = ["--mode", "train", "--loss", "rpgan", *TINY, "--deterministic", "--seed", "3"]
    run_cli(*args, "--steps", "4", "--name", "straight", cwd=workdir)
    run_cli_here(*args, "--steps", "2", "--name", "split", cwd=workdir)
    p = run_cli_here("--mode", "train", "--name", "split", "--steps", "4", cwd=workdir)
    assert "resumed from step-00000002" in p.stdout
    straight, split = _run(workdir, "straight"), _run(workdir, "split")
    cfg = RunFolder(straight).load_config().to_dict()
    assert cfg["model"]["loss"] == "rpgan" and cfg["model"]["r1_gamma"] > 0 and cfg["model"]["r2_gamma"] > 0
    lines = [json.loads(x) for x in (straight / "stats.jsonl").read_text().splitlines()]
    assert all(line["r1"] > 0 and line["r2"] > 0 and "gp" not in line for line in lines)
    a, b = _final_weights(straight, 4), _final_weights(split, 4)
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), k


def test_resume_honours_a_config_file_as_it_does_a_flag(workdir: Path) -> None:
    """`--resume RUN --config more.toml` with steps in the file used to resume with the old length."""
    run_cli("--mode", "train", "--loss", "hinge", *TINY, "--steps", "2", "--name", "c", cwd=workdir)
    more = workdir / "more.toml"
    more.write_text("[train]\nsteps = 5\n")
    run = _run(workdir, "c")
    p = run_cli_here("--mode", "train", "--resume", str(run), "--config", str(more), cwd=workdir)
    assert "done: 5 steps" in p.stdout
    assert RunFolder(run).load_config().to_dict()["train"]["steps"] == 5
    assert [json.loads(x)["step"] for x in (run / "stats.jsonl").read_text().splitlines()][-1] == 5


def test_r3gan_schedule_moves_lr_gamma_and_aug_p_over_the_run(workdir: Path) -> None:
    """--schedule r3gan: lr 2e-4 -> 5e-5, gamma /10, aug_p 0 -> p, beta2 -> 0.99, by the image count."""
    run_cli("--mode", "train", "--recipe", "r3gan", *TINY, "--g_width", "8", "--d_width", "8", "--max_width", "32",
            "--steps", "6", "--name", "sched", cwd=workdir)
    lines = [json.loads(x) for x in (_run(workdir, "sched") / "stats.jsonl").read_text().splitlines()]
    lr = [x["lr"] for x in lines]
    gamma = [x["gamma"] for x in lines]
    aug_p = [x["aug_p"] for x in lines]
    assert lr == sorted(lr, reverse=True) and 5e-5 <= lr[-1] < lr[0] <= 2e-4
    assert gamma == sorted(gamma, reverse=True) and gamma[-1] < gamma[0] <= 2.0
    assert aug_p == sorted(aug_p) and 0 < aug_p[-1] <= 0.3
    assert lines[-1]["beta2"] > 0.9
