"""End-to-end: train a tiny run with the real CLI, then every picture command; decode what they wrote."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from conftest import run_cli, run_cli_here
from report_helpers import gif_info, mp4_info

TINY = ["--image_size", "16", "--builtin_count", "64", "--batch_size", "8", "--g_width", "8", "--d_width", "8",
        "--progress", "lines", "--log_every", "2", "--sample_every", "3", "--gen_lr", "0.002"]

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    """(working folder, env) holding runs/00001-tiny: 9 steps, sample grids at steps 3, 6, 9."""
    work = tmp_path_factory.mktemp("report_cli")
    env = {"SNOWGAN_CACHE": str(work / "cache")}
    run_cli("--mode", "train", *TINY, "--steps", "9", "--name", "tiny", cwd=work, env=env)
    return work, env


def _run(work: Path) -> Path:
    return work / "runs" / "00001-tiny"


def test_interpolate_writes_looping_gif_and_mp4_of_the_asked_length(trained) -> None:
    work, env = trained
    p = run_cli("--mode", "interpolate", "--frames", "12", "--fps", "6", "--keyframes", "3", "--seed", "4",
                cwd=work, env=env)
    gif, mp4 = _run(work) / "media" / "interpolate-00001.gif", _run(work) / "media" / "interpolate-00001.mp4"
    assert "runs/00001-tiny/media/interpolate-00001.gif" in p.stdout
    n, ms, size, _ = gif_info(gif)
    # Identical consecutive frames would be merged (time kept): the duration is the exact check.
    assert ms == 2000 and size == (128, 128) and 1 < n <= 12
    n, secs, size, _ = mp4_info(mp4)
    assert (n, size) == (12, (128, 128)) and secs == pytest.approx(2.0)
    # A second call never overwrites the first.
    run_cli_here("--mode", "interpolate", "--frames", "4", "--walk", cwd=work, env=env)
    assert (_run(work) / "media" / "walk-00001.mp4").is_file() and gif.is_file()


def test_interpolate_grid_variant_and_out_rules(trained) -> None:
    work, env = trained
    out = work / "clip"
    run_cli_here("--mode", "interpolate", "--grid", "2x3", "--frames", "6", "--fps", "3", "--keyframes", "2",
                 "--out", str(out), cwd=work, env=env)
    n, secs, size, _ = mp4_info(work / "clip.mp4")
    assert (n, size) == (6, (3 * 66 + 2, 2 * 66 + 2)) and secs == pytest.approx(2.0)
    assert gif_info(work / "clip.gif")[1] == 2000
    with Image.open(work / "clip-pairs.png") as im:
        assert im.size == (3 * 66 + 2, 2 * 66 + 2)
    again = run_cli_here("--mode", "interpolate", "--frames", "6", "--out", str(work / "clip.gif"), cwd=work, env=env,
                         check=False)
    assert again.returncode == 2 and "already exists" in again.stderr and "--force" in again.stderr
    run_cli_here("--mode", "interpolate", "--frames", "6", "--fps", "2", "--out", str(work / "clip.gif"), "--force",
                 cwd=work, env=env)
    assert gif_info(work / "clip.gif")[1] == 3000


def test_average_writes_generated_beside_real(trained) -> None:
    work, env = trained
    run_cli_here("--mode", "average", "--n_samples", "40", cwd=work, env=env)
    with Image.open(_run(work) / "media" / "average-00001.png") as im:
        arr = np.asarray(im.convert("RGB"))
    # Two 16 px panels enlarged x12 to 192 px, 6 px apart, with caption bars below.
    assert arr.shape[1] == 2 * 192 + 6 and arr.shape[0] > 192
    real = arr[:192, 198:]
    assert real.std() > 5  # the real mean of the mountains has structure (sky above ground)


def test_progress_video_has_one_labelled_frame_per_grid(trained) -> None:
    work, env = trained
    run_cli_here("--mode", "progress", cwd=work, env=env)
    grids = sorted((_run(work) / "samples").glob("step-*.png"))
    assert [g.name for g in grids] == ["step-00000003.png", "step-00000006.png", "step-00000009.png"]
    with Image.open(grids[-1]) as im:
        w, h = im.size
    n, secs, size, frames = mp4_info(_run(work) / "media" / "progress-00001.mp4")
    assert n == 3 and secs == pytest.approx(3 / 8, abs=0.01)  # 8 fps unless --fps is given; ffmpeg reports 10 ms
    assert size[0] == w + w % 2 and size[1] > h
    n, ms, gsize, gframes = gif_info(_run(work) / "media" / "progress-00001.gif")
    assert (n, ms, gsize) == (3, 380, (w, size[1]))  # 3/8 s in whole centiseconds
    assert not np.array_equal(gframes[0][h:], gframes[1][h:])  # captions differ per frame


def test_report_command_writes_an_offline_report_with_every_section(trained) -> None:
    work, env = trained
    p = run_cli("--mode", "report", "--frames", "8", "--n_samples", "20", cwd=work, env=env)
    run = _run(work)
    assert "file://" in p.stdout
    # Its videos and average are in media/ beside the commands' own (made now, or reused when the
    # commands above made them after the last checkpoint): one folder, no report/ of its own.
    for pattern in ("progress-*.gif", "progress-*.mp4", "interpolate-*.gif", "interpolate-*.mp4", "average-*.png"):
        assert list((run / "media").glob(pattern)), pattern
    for f in ("plots/losses.png", "report.html"):
        assert (run / f).is_file(), f
    assert not (run / "report").exists()
    page = (run / "report.html").read_text()
    assert not re.search(r"https?://", page)
    for section in ("summary", "samples", "progress", "latent", "plots", "config"):
        assert f"id={section}" in page
    # Up to date: a second call makes nothing new; --force makes each again, under the next number.
    made = sorted(p.name for p in (run / "media").iterdir())
    run_cli_here("--mode", "report", "--frames", "8", cwd=work, env=env)
    assert sorted(p.name for p in (run / "media").iterdir()) == made
    run_cli_here("--mode", "report", "--frames", "8", "--n_samples", "8", "--force", cwd=work, env=env)
    new = sorted(set(p.name for p in (run / "media").iterdir()) - set(made))
    assert [n.split("-0")[0] for n in new] == ["average", "interpolate", "interpolate", "progress", "progress"], new


def test_report_on_a_run_without_checkpoints(trained) -> None:
    work, env = trained
    copy = work / "runs" / "00002-nock"
    shutil.copytree(_run(work), copy, ignore=shutil.ignore_patterns("checkpoints", "report", "media", "plots"))
    p = run_cli_here("--mode", "report", "--run", str(copy), cwd=work, env=env)
    assert "no valid checkpoint" in p.stdout
    assert (copy / "report.html").is_file() and (copy / "media" / "progress-00001.gif").is_file()
    missing = run_cli_here("--mode", "average", "--run", str(copy), cwd=work, env=env, check=False)
    assert missing.returncode == 2 and "no valid checkpoint" in missing.stderr
