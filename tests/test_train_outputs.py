"""In-training metrics, the best checkpoint, the collapse warning and the live report (real CLI runs)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from conftest import run_cli, run_cli_here
from snowgan.run.checkpoint import read_checkpoint
from test_train_cli import TINY, _run_dir

METRICS = ["--metrics", "swd,diversity", "--metrics_every", "4", "--metrics_samples", "32"]


def _lines(path: Path) -> list[dict]:
    return [json.loads(x) for x in path.read_text().splitlines()]


@pytest.mark.slow
def test_metrics_keep_best_write_report_and_leave_training_unchanged(workdir: Path) -> None:
    p = run_cli("--mode", "train", *TINY, "--steps", "8", *METRICS, "--name", "measured", cwd=workdir)
    run_cli_here("--mode", "train", *TINY, "--steps", "8", "--report", "false", "--name", "plain", cwd=workdir)
    measured, plain = _run_dir(workdir, "measured"), _run_dir(workdir, "plain")

    records = _lines(measured / "metrics.jsonl")
    assert [r["step"] for r in records] == [4, 8]
    assert all(r["swd"] > 0 and "protocol" in r and r["best_metric"] == "swd" for r in records)
    best = measured / "checkpoints" / "best"
    assert (best / "manifest.json").is_file()
    best_step = read_checkpoint(best).state["counters"]["step"]
    assert best_step == min(records, key=lambda r: r["swd"])["step"]
    assert "best swd so far" in (measured / "log.txt").read_text()  # a detail: log.txt (and --verbose)
    assert "check at step 4 (0.2 kimg): SWD " in p.stdout  # printed: the check in plain words

    # A barely trained generator repeats itself: the collapse signal fires, in the log and the stats.
    assert "WARNING: possible mode collapse" in p.stdout
    assert any("collapse_warning" in s for s in _lines(measured / "stats.jsonl"))

    page = (measured / "report.html").read_text()
    assert "<img" in page and (measured / "plots").is_dir()
    assert not (plain / "report.html").exists()

    # Measuring must not move the training RNG: both runs end with the same weights.
    a = load_file(str(measured / "checkpoints" / "step-00000008" / "model.safetensors"))
    b = load_file(str(plain / "checkpoints" / "step-00000008" / "model.safetensors"))
    assert a.keys() == b.keys()
    assert all(torch.equal(a[k], b[k]) for k in a)

    # generate picks the best checkpoint and says so.
    g = run_cli_here("--mode", "generate", "--run", measured.name, "--n_samples", "2", cwd=workdir)
    assert "best checkpoint" in g.stdout


def test_stop_on_collapse_ends_the_run_with_a_checkpoint(workdir: Path) -> None:
    p = run_cli("--mode", "train", *TINY, "--steps", "12", *METRICS, "--stop_on_collapse", "true",
                "--name", "stopper", cwd=workdir)
    run = _run_dir(workdir, "stopper")
    assert "stopped at step 4" in p.stdout and "--stop_on_collapse" in p.stdout
    assert (run / "checkpoints" / "step-00000004" / "manifest.json").is_file()
    assert [r["step"] for r in _lines(run / "metrics.jsonl")] == [4]


@pytest.mark.slow
def test_default_collapse_watch_measures_diversity_and_can_be_turned_off(workdir: Path) -> None:
    # 50 iterations is the shortest run the watch measures (watch_every: about ten checks, none before 50);
    # it also checks the last iteration, the model the user gets.
    fast = ["--log_every", "25", "--sample_every", "50", "--report", "false"]
    p = run_cli("--mode", "train", *TINY, *fast, "--steps", "60", "--name", "watched", cwd=workdir)
    run_cli_here("--mode", "train", *TINY, *fast, "--steps", "60", "--metrics_every", "0", "--name", "off", cwd=workdir)
    watched, off = _run_dir(workdir, "watched"), _run_dir(workdir, "off")
    assert "collapse watch; --metrics_every 0 turns it off" in (watched / "log.txt").read_text()
    assert "metrics: a collapse check every 50 iterations" in p.stdout
    records = _lines(watched / "metrics.jsonl")
    assert [r["step"] for r in records] == [50, 60]
    assert all(0 < r["diversity"] and 0 <= r["dup_rate"] <= 1 for r in records)
    assert all("swd" not in r and "fid" not in r for r in records)  # weight-free signals only
    assert not (watched / "checkpoints" / "best").exists()  # the watch never picks a "best"
    assert not (off / "metrics.jsonl").exists()
    # The watch measures with its own RNG: the watched and unwatched runs train identically.
    a = load_file(str(watched / "checkpoints" / "step-00000060" / "model.safetensors"))
    b = load_file(str(off / "checkpoints" / "step-00000060" / "model.safetensors"))
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_reals_png_shows_the_photos_as_they_are_and_the_augmented_view_apart(tmp_path: Path) -> None:
    """Issue 42: samples/reals.png showed the augmented batch, cutout's grey squares cut into the
    user's photos. Now it is the images as they are; the augmented view is its own labelled file."""
    import numpy as np
    from PIL import Image

    colours = [(220, 30, 30), (30, 200, 40), (40, 60, 230), (240, 220, 20)]
    data = tmp_path / "flat"
    data.mkdir()
    for i in range(16):
        Image.new("RGB", (16, 16), colours[i % 4]).save(data / f"{i:02d}.png")
    run_cli_here("train", "--data", str(data), "--recipe", "photos-dcgan", *TINY, "--steps", "1", "--name", "r",
                 cwd=tmp_path, env={"SNOWGAN_CACHE": str(tmp_path / "cache")})
    samples = tmp_path / "runs" / "00001-r" / "samples"

    def colours_in(path: Path) -> set:
        pixels = np.asarray(Image.open(path).convert("RGB")).reshape(-1, 3)
        return {tuple(int(v) for v in p) for p in np.unique(pixels, axis=0)}

    clean, augmented = colours_in(samples / "reals.png"), colours_in(samples / "reals-augmented.png")
    padding = colours_in(samples / "reals.png") - set(colours)
    assert len(padding) <= 1  # the grid's gaps, one colour
    assert set(colours) <= clean  # every photo as it is, nothing else
    assert (128, 128, 128) in augmented and (128, 128, 128) not in clean  # cutout's grey squares
    assert len(augmented - set(colours) - padding) > 4  # and colour jitter
    page = (tmp_path / "runs" / "00001-r" / "report.html").read_text()
    assert "Real training images, as the run reads them" in page and "the grey squares are cutout" in page
