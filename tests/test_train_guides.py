"""A trained run points at its results; continuing or reading it is checked before anything changes.

One tiny training run per test in a subprocess (the real command); the commands that read
the run go through snowgan.cli.main in this process, which saves a torch import per call.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from conftest import run_cli
from snowgan.cli import main

# 16x16 built-in images, small networks; 4 images is fewer than the batch of 8 on purpose.
TINY = ["--image_size", "16", "--builtin_count", "4", "--batch_size", "8", "--g_width", "8", "--d_width", "8",
        "--progress", "lines", "--log_every", "1", "--sample_every", "1", "--metrics_every", "0"]


def _cli(capsys: pytest.CaptureFixture, workdir: Path, *argv: str) -> tuple[int, str, str]:
    rc = main([*map(str, argv), "--runs_dir", str(workdir / "runs")])
    out, err = capsys.readouterr()
    return rc, out, err


def test_training_points_at_its_report_logs_progress_and_writes_tensorboard_events(workdir: Path) -> None:
    p = run_cli("train", *TINY, "--steps", "1", "--name", "a", "--tensorboard", cwd=workdir)
    run = workdir / "runs" / "00001-a"
    report = run / "report.html"
    lines = p.stdout.splitlines()
    # The report's path at the start (the page exists then) and again in the last line.
    start = next(i for i, l in enumerate(lines) if l.startswith("report: "))
    assert str(report.relative_to(workdir)) in lines[start] and "reloads itself" in lines[start]
    assert lines[-1].startswith("done: 1 step, ") and lines[-1].endswith(f"report: {report.relative_to(workdir)}")
    # A dataset smaller than the batch: one note line, in log.txt too, not a UserWarning with a path.
    out = p.stdout + p.stderr
    assert "UserWarning" not in out and "dataset.py" not in out
    assert "note: dataset has 4 images, fewer than the batch size 8: sampling with replacement" in lines
    # log.txt has the progress lines (tail -f shows progress): step, epoch, kimg, readable rate.
    log = (run / "log.txt").read_text()
    progress = [l for l in log.splitlines() if l.startswith("train 00001-a: ")]
    assert progress and re.search(r"step 1/1 · epoch [\d.]+ · [\d.]+/[\d.]+ kimg · 100% · [\d,.]+ img/s", progress[-1])
    assert not re.search(r"\d[eE][+-]\d", log), "no scientific notation"
    assert "note: dataset has 4 images" in log
    # The last page written is still: it no longer reloads itself.
    page = report.read_text()
    assert "http-equiv=\"refresh\"" not in page
    # TensorBoard's own reader finds the stats as scalars and the sample grids as images.
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(run / "tensorboard"), size_guidance={"images": 0, "scalars": 0})
    events.Reload()
    tags = events.Tags()
    assert {"stats/loss_g", "stats/loss_d", "stats/kimg"} <= set(tags["scalars"])
    stats = [json.loads(l) for l in (run / "stats.jsonl").read_text().splitlines()]
    assert [(e.step, round(e.value, 4)) for e in events.Scalars("stats/loss_d")] == \
        [(r["step"], round(r["loss_d"], 4)) for r in stats]
    assert tags["images"] == ["samples"] and events.Images("samples")[-1].step == 1


def test_continuing_or_reading_a_run_is_checked_first(workdir: Path, capsys: pytest.CaptureFixture) -> None:
    run_cli("train", *TINY, "--steps", "1", "--name", "a", cwd=workdir)
    run = workdir / "runs" / "00001-a"
    before = {name: (run / name).read_bytes() for name in ("config.json", "log.txt", "dataset.json")}
    other = workdir / "other"
    other.mkdir()
    (other / "x.png").write_bytes((run / "samples" / "reals.png").read_bytes())

    # Resuming on other data: refused, and nothing in the run changed.
    rc, _, err = _cli(capsys, workdir, "train", "--name", "a", "--data", other, "--steps", "2")
    assert rc == 2 and "was trained on the built-in dataset (4 images), not" in err and "--new_data" in err
    assert {name: (run / name).read_bytes() for name in before} == before
    # Resume and transfer at once: the transfer would be dropped, so it is refused.
    rc, _, err = _cli(capsys, workdir, "train", "--resume", "1", "--init_from", "1")
    assert rc == 2 and "--init_from 1 would be dropped" in err

    # A newer run without a checkpoint (one that failed in setup or is still starting) is passed over.
    (workdir / "runs" / "00002-starting").mkdir()
    (workdir / "runs" / "00002-starting" / "config.json").write_text((run / "config.json").read_text())
    rc, out, err = _cli(capsys, workdir, "generate", "--n_samples", "1", "--image_size", "128",
                        "--out", workdir / "one")
    assert rc == 0 and "note: using run 00001-a, the newest with a checkpoint (00002-starting has none yet)" in out
    assert "--image_size 128 is ignored" in err and "wrote 1 image of 16x16 px to" in out
    rc, out, _ = _cli(capsys, workdir, "generate", "--grid", "8x8", "--out", workdir / "g.png")
    assert rc == 0 and "wrote an 8x8 grid of 16x16 px images" in out
    rc, _, err = _cli(capsys, workdir, "generate", "--checkpoint", "12345")
    assert rc == 2 and "no checkpoint at step 12345; the steps kept are 0, 1" in err
    # An MP4 alone may play at 60 fps: the GIF limit applies to GIFs only.
    rc, out, err = _cli(capsys, workdir, "interpolate", "--fps", "60", "--out", workdir / "clip.mp4",
                        "--frames", "4", "--keyframes", "2", "--progress", "none")
    assert rc == 0, err
    assert (workdir / "clip.mp4").is_file() and "4 frames" in out
    rc, _, err = _cli(capsys, workdir, "interpolate", "--fps", "60", "--frames", "4", "--keyframes", "2")
    assert rc == 2 and "a GIF plays at most 50 frames per second" in err
