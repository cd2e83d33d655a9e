"""The modern families end to end on two gloo ranks: r3gan and projected train under torchrun,
then interpolate and report work on the run (issue 19: every command works for both families).

Projected runs on a fake EfficientNet-Lite0 (tests/lite0_helpers.py), so CI needs no weights.
Exact resume and export/generate of each family are tested in test_r3gan.py / test_projected.py;
two ranks matching one process bit for bit is test_distributed.py's (BatchNorm-free networks).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import torch
from PIL import Image

from conftest import cli_env, run_cli, run_cli_here
from lite0_helpers import fake_state_dict

from snowgan.pretrained.efficientnet_lite import LITE0_WEIGHTS

COMMON = ["--image_size", "16", "--builtin_count", "32", "--batch_size", "4", "--g_width", "4", "--d_width", "4",
          "--max_width", "16", "--latent_dim", "16", "--progress", "lines", "--metrics_every", "0",
          "--log_every", "1", "--sample_every", "2", "--checkpoint_every", "2", "--grid_size", "4", "--steps", "4"]
FAMILIES = {
    "r3gan": ["--recipe", "r3gan"],
    "projected": ["--recipe", "projected", "--backbone_size", "64"],
}


@pytest.mark.slow
@pytest.mark.parametrize("family", list(FAMILIES))
def test_family_trains_on_two_ranks_then_interpolates_and_reports(workdir: Path, tmp_path: Path, family: str) -> None:
    weights = tmp_path / "fake-lite0.pth"
    torch.save(fake_state_dict(0), weights)
    env = {LITE0_WEIGHTS.env: str(weights), "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
           "-m", "snowgan", "--mode", "train", *FAMILIES[family], *COMMON, "--name", family]
    p = subprocess.run(cmd, cwd=workdir, env=cli_env(env), capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stdout + p.stderr
    assert "split over 2 processes" in p.stdout
    (run,) = (workdir / "runs").glob(f"*-{family}")
    assert (run / "checkpoints" / "step-00000004" / "model.safetensors").is_file()

    run_cli("--mode", "interpolate", "--run", family, "--frames", "4", "--keyframes", "2",
            "--out", workdir / "walk.gif", cwd=workdir, env=env)
    with Image.open(workdir / "walk.gif") as gif:
        assert gif.n_frames > 1 and gif.size[0] >= 16
    # Flags the videos cannot use are refused before the report writes anything.
    bad = run_cli_here("--mode", "report", "--run", family, "--frames", "4", cwd=workdir, env=env, check=False)
    assert bad.returncode == 2 and "--keyframes" in bad.stderr and not (run / "media").exists()
    p = run_cli_here("--mode", "report", "--run", family, "--frames", "6", "--n_samples", "8", cwd=workdir, env=env)
    page = (run / "report.html").read_text()
    assert "file://" in p.stdout and "id=samples" in page and (run / "media" / "interpolate-00001.gif").is_file()
