"""End-to-end: the real CLI trains, resumes exactly, survives SIGKILL/SIGTERM, generates."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from safetensors.torch import load_file

from conftest import cli_env, run_cli, run_cli_here
from snowgan.runfolder import RunFolder

# A tiny, fast configuration: 16x16 built-in images, small networks.
TINY = ["--image_size", "16", "--builtin_count", "64", "--batch_size", "8", "--g_width", "8", "--d_width", "8",
        "--progress", "lines", "--log_every", "2", "--sample_every", "4"]


def _run_dir(workdir: Path, name: str) -> Path:
    (run,) = [p for p in (workdir / "runs").iterdir() if p.name.endswith("-" + name)]
    return run


def _tensors(path: Path) -> dict:
    return {**load_file(str(path / "model.safetensors")), **load_file(str(path / "state.safetensors"))}


def test_seed_train_command_uses_builtin_data_and_writes_run_folder(workdir: Path) -> None:
    # The seed's flags, plus only what makes it tiny.
    p = run_cli("--mode", "train", "--gen_steps", "4", "--disc_lr", "0.0001", *TINY, "--steps", "6", cwd=workdir)
    assert "built-in dataset (no --data given)" in p.stdout
    # The default model is the SnowGAN write-up's WGAN-GP: a 5-step critic, so G does not out-step it.
    assert "warning: --gen_steps" not in p.stdout
    run = workdir / "runs" / "00001-dcgan"
    cfg = RunFolder(run).load_config().to_dict()
    assert cfg["train"]["gen_steps"] == 4 and cfg["train"]["disc_lr"] == 0.0001
    assert cfg["model"]["loss"] == "wgan-gp" and cfg["train"]["disc_steps"] == 5
    assert (cfg["train"]["gen_lr"], cfg["train"]["beta2"]) == (1e-4, 0.9)
    lines = [json.loads(x) for x in (run / "stats.jsonl").read_text().splitlines()]
    assert [x["step"] for x in lines] == [2, 4, 6]
    for key in ("loss_g", "loss_d", "d_real", "d_fake", "gp", "imgs_per_s", "epoch", "kimg"):
        assert key in lines[-1]
    assert lines[-1]["kimg"] == pytest.approx(6 * 5 * 8 / 1000)  # 5 critic batches per iteration
    grids = sorted((run / "samples").glob("step-*.png"))
    assert [g.name for g in grids] == ["step-00000004.png", "step-00000006.png"]
    assert Image.open(grids[0]).size[0] > 16
    assert (run / "samples" / "reals.png").is_file()
    # A second run never touches the first. With the DCGAN loss the optimiser defaults follow it
    # (1 D step, 2e-4, beta2 0.999), and the same flags now out-step D: a warning says so.
    p2 = run_cli_here("--mode", "train", "--loss", "nonsat", "--gen_steps", "4", *TINY, "--steps", "2", cwd=workdir)
    assert (workdir / "runs" / "00002-dcgan").is_dir() and "warning: --gen_steps 4 > --disc_steps 1" in p2.stdout
    cfg2 = RunFolder(workdir / "runs" / "00002-dcgan").load_config().to_dict()["train"]
    assert (cfg2["disc_steps"], cfg2["gen_lr"], cfg2["disc_lr"], cfg2["beta2"]) == (1, 2e-4, 2e-4, 0.999)
    assert len((run / "stats.jsonl").read_text().splitlines()) == 3


def test_generate_png_npy_grid_and_no_overwrite(workdir: Path) -> None:
    run_cli("--mode", "train", *TINY, "--steps", "2", "--name", "g", cwd=workdir)
    p = run_cli("--mode", "generate", "--n_samples", "10", cwd=workdir)
    assert "00001-g" in p.stdout and "latest checkpoint" in p.stdout
    out = workdir / "runs" / "00001-g" / "generated" / "00001-seed0"
    pngs = sorted(out.glob("*.png"))
    assert len(pngs) == 10 and Image.open(pngs[0]).size == (16, 16)
    run_cli_here("--mode", "generate", "--n_samples", "5", "--format", "npy", "--out", workdir / "npy", cwd=workdir)
    arr = np.load(workdir / "npy" / "samples.npy")
    assert arr.shape == (5, 16, 16, 3) and arr.dtype == np.uint8
    # the same seeds give the same images
    assert np.array_equal(arr[0], np.asarray(Image.open(pngs[0])))
    bad = run_cli_here("--mode", "generate", "--n_samples", "5", "--format", "npy", "--out", workdir / "npy",
                       cwd=workdir, check=False)
    assert bad.returncode == 2 and "--force" in bad.stderr
    run_cli_here("--mode", "generate", "--n_samples", "5", "--format", "npy", "--out", workdir / "npy", "--force",
                 "--seed", "3", cwd=workdir)
    run_cli_here("--mode", "generate", "--grid", "2x3", "--out", workdir / "grid.png", cwd=workdir)
    w, h = Image.open(workdir / "grid.png").size
    assert w > h > 0
    # --grid with a name without extension writes NAME.png; another extension is one line, exit 2
    run_cli_here("--mode", "generate", "--grid", "1x4", "--out", workdir / "strip", cwd=workdir)
    assert Image.open(workdir / "strip.png").size[0] > Image.open(workdir / "strip.png").size[1]
    for out, needle in ((workdir / "strip", "--force"), (workdir / "grid.txt", ".png")):
        bad = run_cli_here("--mode", "generate", "--grid", "1x4", "--out", out, cwd=workdir, check=False)
        err = [line for line in bad.stderr.splitlines() if line.strip()]
        assert bad.returncode == 2 and len(err) == 1 and needle in err[0], bad.stderr
    assert not (workdir / "grid.txt").exists()


def test_python_m_alias_and_help(workdir: Path) -> None:
    p = run_cli("--help", cwd=workdir)
    assert "--gen_steps" in p.stdout and "--disc_lr" in p.stdout


@pytest.mark.parametrize("args, needle", [
    (["--image_size", "100"], "--image_size 100"),
    (["--data", "no/such/folder"], "no/such/folder"),
    (["--loss", "bogus"], "--loss"),
    (["--batch_size", "0"], "--batch_size"),
])
def test_bad_input_is_one_line_and_exit_2(workdir: Path, args: list[str], needle: str) -> None:
    p = run_cli("--mode", "train", *TINY, "--steps", "1", *args, cwd=workdir, check=False)
    assert p.returncode == 2, p.stderr
    err = [line for line in p.stderr.splitlines() if line.strip()]
    assert len(err) == 1 and needle in err[0] and "Traceback" not in p.stderr


def test_resume_with_different_architecture_is_refused(workdir: Path) -> None:
    run_cli("--mode", "train", *TINY, "--steps", "2", "--name", "r", cwd=workdir)
    p = run_cli_here("--mode", "train", "--name", "r", "--image_size", "32", "--steps", "4", cwd=workdir, check=False)
    assert p.returncode == 2 and "--image_size" in p.stderr and "new run" in p.stderr


@pytest.mark.slow
def test_kill_and_resume_is_bit_identical(workdir: Path) -> None:
    """2N steps straight == N steps, SIGKILL, resume to 2N (CPU, --deterministic)."""
    args = [*TINY, "--deterministic", "--checkpoint_every", "4", "--keep_checkpoints", "10", "--seed", "5"]
    run_cli("--mode", "train", *args, "--steps", "16", "--name", "straight", cwd=workdir)

    # The interrupted run is asked for far more steps, then SIGKILLed once a checkpoint exists.
    proc = subprocess.Popen([sys.executable, "-m", "snowgan", "--mode", "train", *args, "--steps", "100000",
                             "--name", "killed"], cwd=workdir, env=cli_env(),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    try:
        while time.time() < deadline:
            runs = list((workdir / "runs").glob("*-killed/checkpoints/step-00000004"))
            if runs and (runs[0] / "manifest.json").exists():
                break
            time.sleep(0.01)
        else:
            pytest.fail("no checkpoint appeared")
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    killed = _run_dir(workdir, "killed")
    done = [int(p.name[5:]) for p in (killed / "checkpoints").glob("step-*") if not p.name.endswith(".tmp")]
    assert max(done) < 16, "the killed run got too far before the kill; slow the test down"
    # The lock file still names the killed trainer, but its OS lock died with it: no stale lock.
    assert json.loads((killed / "train.lock").read_text())["pid"] == proc.pid
    p = run_cli_here("--mode", "train", "--name", "killed", "--steps", "16", cwd=workdir)
    assert "resumed from" in p.stdout and f"was last trained by pid {proc.pid} on" in p.stdout
    assert not (killed / "train.lock").exists()  # gone once training ends

    a = _tensors(_run_dir(workdir, "straight") / "checkpoints" / "step-00000016")
    b = _tensors(killed / "checkpoints" / "step-00000016")
    assert a.keys() == b.keys()
    differing = [k for k in a if not (a[k] == b[k]).all()]
    assert differing == []
    assert any(k.startswith("s.optim.opt_d") for k in a) and any(k.startswith("G_ema.") for k in a)


def test_truncated_newest_checkpoint_falls_back(workdir: Path) -> None:
    run_cli("--mode", "train", *TINY, "--steps", "8", "--checkpoint_every", "4", "--name", "t", cwd=workdir)
    run = _run_dir(workdir, "t")
    newest = run / "checkpoints" / "step-00000008" / "model.safetensors"
    data = newest.read_bytes()
    newest.write_bytes(data[: len(data) // 2])
    # An interrupted write leaves a .tmp folder: it must be ignored.
    (run / "checkpoints" / "step-00000012.tmp").mkdir()
    p = run_cli_here("--mode", "train", "--name", "t", "--steps", "10", cwd=workdir)
    assert "truncated" in p.stdout and "resumed from step-00000004" in p.stdout
    assert not (run / "checkpoints" / "step-00000012.tmp").exists()
    assert (run / "checkpoints" / "step-00000010" / "manifest.json").is_file()


def test_sigterm_checkpoints_and_says_how_to_resume(workdir: Path) -> None:
    proc = subprocess.Popen([sys.executable, "-m", "snowgan", "--mode", "train", *TINY, "--steps", "100000",
                             "--checkpoint_every", "100000", "--name", "s"], cwd=workdir, env=cli_env(),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 120
    while time.time() < deadline and not list((workdir / "runs").glob("*-s/stats.jsonl")):
        time.sleep(0.05)
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 128 + signal.SIGTERM
    assert "--resume" in out
    run = _run_dir(workdir, "s")
    steps = [int(p.name[5:]) for p in (run / "checkpoints").glob("step-*")]
    assert max(steps) > 0


def test_nonfinite_losses_roll_back_then_stop_with_diagnosis(workdir: Path) -> None:
    # Adam moves every weight by ~lr on its first step: 1e38 overflows the next forward pass.
    p = run_cli("--mode", "train", *TINY, "--steps", "200", "--gen_lr", "1e38", "--disc_lr", "1e38",
                "--max_bad_steps", "2", "--max_rollbacks", "2", "--precision", "fp32", cwd=workdir,
                check=False, timeout=120)
    assert p.returncode == 3, p.stdout + p.stderr
    assert p.stdout.count("rolled back") == 2
    assert "learning rate" in p.stdout


def test_training_length_counts_whole_iterations(workdir: Path) -> None:
    # 0.1 kimg with 5 critic steps of 8 images: the 3rd iteration (120 images) reaches 100; the
    # progress total says 120, not 100 (the bar never ends past its total).
    p = run_cli("--mode", "train", *TINY, "--kimg", "0.1", cwd=workdir)
    assert "done: 3 steps, 0.12 kimg" in p.stdout
    out = p.stdout + p.stderr  # the progress line counts in kimg: 120 of 120 images, not of 100
    assert "step 3/3 · " in out and "0.120/0.120 kimg" in out and "/0.100 kimg" not in out
