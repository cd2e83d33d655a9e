"""End to end through the real CLI: progressive growing and adaptive augmentation resume exactly."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from safetensors.torch import load_file

from conftest import run_cli, run_cli_here

# Shrinks any recipe to seconds on a CPU: 16x16 built-in images, tiny networks.
TINY = ["--image_size", "16", "--builtin_count", "32", "--batch_size", "8", "--g_width", "4", "--d_width", "4",
        "--max_width", "16", "--latent_dim", "8", "--progress", "lines", "--log_every", "1", "--grid_size", "4"]
# Progressive: 4 -> 8 -> 16 with 16-image stable phases and 32-image fades.
PG = ["--pg_batch", "", "--pg_fade_kimg", "0.032", "--pg_stable_kimg", "0.016"]


def _run(workdir: Path, name: str) -> Path:
    (run,) = [p for p in (workdir / "runs").iterdir() if p.name.endswith("-" + name)]
    return run


def _stats(run: Path) -> list[dict]:
    return [json.loads(x) for x in (run / "stats.jsonl").read_text().splitlines()]


def _same_checkpoint(a: Path, b: Path) -> None:
    for name in ("model.safetensors", "state.safetensors"):
        ta, tb = load_file(str(a / name)), load_file(str(b / name))
        assert ta.keys() == tb.keys()
        assert [k for k in ta if not (ta[k] == tb[k]).all()] == []


@pytest.mark.slow
def test_progressive_resume_mid_fade_continues_the_same_alpha(workdir: Path) -> None:
    args = ["--recipe", "bobross", *TINY, *PG, "--deterministic", "--seed", "3", "--sample_every", "100"]
    run_cli("--mode", "train", *args, "--steps", "9", "--name", "straight", cwd=workdir)
    run_cli_here("--mode", "train", *args, "--steps", "4", "--name", "split", cwd=workdir)
    split = _run(workdir, "split")
    stopped = _stats(split)[-1]
    assert stopped["phase"] == "fade" and 0 < stopped["alpha"] < 1  # stopped in the middle of a fade
    p = run_cli_here("--mode", "train", "--name", "split", "--steps", "9", cwd=workdir)
    assert "resumed from step-00000004" in p.stdout
    straight = _stats(_run(workdir, "straight"))
    resumed = _stats(split)
    keys = ("step", "kimg", "res", "alpha", "phase", "loss_d", "loss_g")
    assert [[s[k] for k in keys] for s in resumed] == [[s[k] for k in keys] for s in straight]
    assert [s["res"] for s in straight] == ["4x4", "4x4", "8x8", "8x8", "8x8", "8x8", "8x8", "8x8", "16x16"]
    _same_checkpoint(_run(workdir, "straight") / "checkpoints" / "step-00000009",
                     split / "checkpoints" / "step-00000009")


@pytest.mark.slow
def test_adaptive_p_is_logged_saved_and_resumed(workdir: Path) -> None:
    args = ["--recipe", "houses", *TINY, "--ada_target", "0.6", "--ada_interval", "1", "--ada_kimg", "0.2",
            "--deterministic", "--seed", "4", "--sample_every", "100"]
    p = run_cli("--mode", "train", *args, "--steps", "8", "--name", "straight", cwd=workdir)
    assert "warning: --ada_target" not in p.stdout  # the houses recipe's DCGAN loss: the sign means something
    run_cli_here("--mode", "train", *args, "--steps", "4", "--name", "split", cwd=workdir)
    run_cli_here("--mode", "train", "--name", "split", "--steps", "8", cwd=workdir)
    straight, split = _stats(_run(workdir, "straight")), _stats(_run(workdir, "split"))
    # Every iteration p moves by 8 images / 0.2 kimg towards keeping E[sign(D(real))] at 0.6, from 0.
    p_prev = 0.0
    for s in straight:
        step = 0.04 if s["ada_rt"] > 0.6 else -0.04
        assert s["aug_p"] == pytest.approx(max(0.0, p_prev + step), abs=1e-6)
        p_prev = s["aug_p"]
    assert p_prev > 0  # D on 32 images grows confident: augmentation went up
    assert [s["aug_p"] for s in split] == [s["aug_p"] for s in straight]
    state = json.loads((_run(workdir, "split") / "checkpoints" / "step-00000008" / "state.json").read_text())
    assert "ada" in json.dumps(state)
    _same_checkpoint(_run(workdir, "straight") / "checkpoints" / "step-00000008",
                     _run(workdir, "split") / "checkpoints" / "step-00000008")


def test_adaptive_p_with_the_default_wgan_critic_is_warned_about(workdir: Path) -> None:
    p = run_cli("--mode", "train", *TINY, "--augment", "color", "--ada_target", "0.6", "--steps", "1", cwd=workdir)
    assert "warning: --ada_target reads the sign of D's real scores" in p.stdout


@pytest.mark.parametrize("flags, warned", [
    (["--loss", "nonsat", "--gen_steps", "2"], True),          # a plain D: 2:1 collapses (seed-commands.md)
    (["--recipe", "photos", "--gen_steps", "2"], False),       # the projected D: 2:1 measured healthy
    (["--recipe", "photos", "--gen_steps", "3"], True),        # beyond what was measured
    (["--recipe", "photos", "--gen_steps", "4", "--disc_steps", "2"], False),
])
def test_more_g_than_d_steps_is_warned_about_unless_measured_healthy(flags: list[str], warned: bool) -> None:
    from snowgan.flags import parse_args
    from snowgan.train.techniques import start_warnings

    cfg, _ = parse_args(["--mode", "train", *flags])
    lines = [w for w in start_warnings(cfg) if "--gen_steps" in w]
    assert bool(lines) == warned, lines
    if warned:
        assert lines[0].startswith(f"warning: --gen_steps {cfg.train.gen_steps} > --disc_steps {cfg.train.disc_steps}")
