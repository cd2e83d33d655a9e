"""report.html says what a reader needs once: which metric chose the best checkpoint, which way each
metric is better, no timestamps or unused techniques as numbers, and it reloads itself while live.
Also the progress line's readable numbers. Hand-made run folders: no training, no torch."""

from __future__ import annotations

import html
import json
import re
from pathlib import Path

import pytest
from PIL import Image

from report_helpers import write_run_folder
from snowgan.report.html import write_report
from snowgan.report.plots import plot_stats


def _metrics(run: Path, rows: list[dict]) -> None:
    with open(run / "metrics.jsonl", "w") as f:
        for r in rows:
            f.write(json.dumps(r) + "\n")


def _best(run: Path, step: int) -> None:
    (run / "checkpoints" / "best").mkdir(parents=True)
    (run / "checkpoints" / "best" / "state.json").write_text(json.dumps({"state": {"counters": {"step": step}}}))


def _section(page: str, name: str) -> str:
    return page[page.index(f"id={name}"):].split("</section>")[0]


def test_metric_table_shows_no_timestamp_and_says_which_way_is_better(tmp_path: Path) -> None:
    run = write_run_folder(tmp_path / "run")
    _metrics(run, [{"step": s, "kimg": s * 0.064, "time": 1796000000.5 + s, "swd": 3.0 / s, "diversity": 0.9,
                    "dup_rate": 0.0, "memorised": 0.0, "time_metrics_s": 0.2, "best_metric": "swd",
                    "protocol": "swd: 256 images"} for s in (2, 4, 6)])
    table = _section(write_report(run).read_text(), "metrics")
    short, details = table.split("<details")
    assert re.findall(r"<th>([^<]*)</th>", short) == ["step", "kimg", "swd", "diversity"]  # what a user reads
    assert "Protocol" not in short and "swd: 256 images" in details
    # every value measured, folded away; no Unix time, no timing
    assert re.findall(r"<th>([^<]*)</th>", details) == ["step", "kimg", "swd", "diversity", "dup_rate", "memorised"]
    assert "1.796e+09" not in table and "1796000" not in table
    assert "lower is better" in short and "higher, up to 1 (as varied as the data) is better" in short


def test_best_checkpoint_names_its_metric_and_one_grid_is_shown_once(tmp_path: Path) -> None:
    run = write_run_folder(tmp_path / "run")  # grids at steps 2, 4, 6
    _metrics(run, [{"step": 6, "kimg": 0.4, "swd": 1.0, "best_metric": "swd"}])
    _best(run, 6)  # the best checkpoint is the latest: its grid is the latest grid
    samples = _section(write_report(run).read_text(), "samples")
    assert samples.count("<img") == 2  # the latest (= best) grid once, and the reals
    assert "also the best checkpoint (step 6, the lowest swd)" in samples  # no brackets inside brackets
    assert "the tracked metric" not in samples
    (run / "checkpoints" / "best").rename(run / "checkpoints" / "old")
    _best(run, 4)  # an earlier best: two different grids, each said once
    samples = _section(write_report(run).read_text(), "samples")
    assert samples.count("<img") == 3 and "Best checkpoint: step 4, the lowest swd" in samples


def test_alt_text_is_plain_text(tmp_path: Path) -> None:
    run = write_run_folder(tmp_path / "run")
    (run / "media").mkdir()
    Image.new("RGB", (8, 8)).save(run / "media" / "interpolate-00001.gif")
    page = write_report(run).read_text()
    for alt in re.findall(r'alt="([^"]*)"', page):
        assert "<" not in html.unescape(alt) and "&lt;" not in alt, alt
    assert 'alt="Interpolation through keyframe latents (slerp, looping) (interpolate-00001.gif)"' in page


def test_unused_techniques_and_always_zero_curves_are_left_out(tmp_path: Path) -> None:
    run = write_run_folder(tmp_path / "run")  # gp is 0 in every line, aug_p grows
    _metrics(run, [{"step": s, "kimg": s * 0.064, "swd": 3.0 / s, "dup_rate": 0.0, "memorised": 0.0}
                   for s in (2, 4, 6)])
    from snowgan.report import plots

    drawn = []
    real_draw = plots._draw
    plots._draw = lambda ax, x, y, label, color: (drawn.append(label), real_draw(ax, x, y, label, color))
    try:
        plot_stats(run)
    finally:
        plots._draw = real_draw
    summary = _section(write_report(run).read_text(), "summary")
    assert "gradient penalty" not in summary and "augmentation p" in summary
    assert "swd" in drawn and "dup_rate" not in drawn and "memorised" not in drawn and "gradient penalty" not in drawn


def test_a_live_page_reloads_itself_and_a_finished_one_does_not(tmp_path: Path) -> None:
    from snowgan.report.html import LIVE_REFRESH_S

    run = write_run_folder(tmp_path / "run")
    live = write_report(run, live=True).read_text()
    assert f'<meta http-equiv="refresh" content="{LIVE_REFRESH_S}">' in live
    assert f"this page reloads every {LIVE_REFRESH_S} s" in live
    still = write_report(run).read_text()
    assert "http-equiv=\"refresh\"" not in still and "reloads" not in still


def test_progress_lines_read_at_a_glance(monkeypatch: pytest.MonkeyPatch) -> None:
    from snowgan import progress

    clock = iter([0.0, 1.0, 1.0])
    monkeypatch.setattr(progress.time, "time", lambda: next(clock))
    lines: list[str] = []
    bar = progress.Progress(100_000, "train 00001-a", unit="img", mode="none", every_s=1e9, sink=lines.append)
    bar.update(2346)
    bar.set_status("step 12/1,000 · epoch 0.50 · 2.3/100.0 kimg")
    bar.set_postfix("G 0.100 D -0.200")
    bar.close()
    assert lines == ["train 00001-a: step 12/1,000 · epoch 0.50 · 2.3/100.0 kimg · 2% · 2,346 img/s · eta 0:41 · "
                     "G 0.100 D -0.200"]
    from snowgan.text import article, plural

    assert [plural(1, "step"), plural(2, "image"), f"{article('8x8')} 8x8 grid", f"{article('4x8')} 4x8 grid"] == \
        ["1 step", "2 images", "an 8x8 grid", "a 4x8 grid"]


def _log(run: Path, lines: list[str]) -> None:
    (run / "log.txt").write_text("".join(line + "\n" for line in lines))


def test_only_a_warning_the_latest_check_still_gives_is_in_the_box(tmp_path: Path) -> None:
    run = write_run_folder(tmp_path / "run")
    low = "possible mode collapse: samples are 19% as varied as the real images (warn below 50%)"
    _metrics(run, [{"step": 2, "kimg": 0.1, "diversity": 0.19, "collapse_warning": low},
                   {"step": 4, "kimg": 0.2, "diversity": 0.9}])  # diversity recovered
    _log(run, [f"WARNING: {low}", "check at step 4: diversity 0.9"])
    page = write_report(run).read_text()
    assert "class=warn" not in page  # no red box for a warning the run has left behind
    assert "<details" in page and low in page.split("<details")[1]  # the history, folded away
    again = low.replace("19", "18")
    _metrics(run, [{"step": 2, "kimg": 0.1, "diversity": 0.19, "collapse_warning": low},
                   {"step": 4, "kimg": 0.2, "diversity": 0.9},
                   {"step": 6, "kimg": 0.3, "diversity": 0.18, "collapse_warning": again}])
    _log(run, [f"WARNING: {low}", f"WARNING: {again}"])
    box, history = _section(write_report(run).read_text(), "warnings").split("<details")
    assert "class=warn" in box and "18% as varied" in box
    assert "19% as varied" not in box and "19% as varied" in history  # the latest state only
    assert "18% as varied" not in history  # the latest is not also history


def test_latest_table_shows_what_a_user_reads_and_folds_the_engineering_figures(tmp_path: Path) -> None:
    run = write_run_folder(tmp_path / "run")
    with open(run / "stats.jsonl", "a") as f:  # after the half-written line: a whole line, as training appends
        f.write("\n" + json.dumps({"step": 420, "kimg": 27.0, "time_s": 125.0, "loss_g": 1.0, "loss_d": 1.2,
                                   "sec_per_kimg": 4.6, "peak_mem_mb": 812.0, "skipped_steps": 0}) + "\n")
    _metrics(run, [{"step": 400, "kimg": 25.6, "kid": 0.031, "fid": 88.0, "diversity": 0.8, "tau": 0.02}])
    summary = _section(write_report(run).read_text(), "summary")
    shown, details = summary.split("<details")
    heads = re.findall(r"<th>([^<]*)</th>", shown)
    assert heads[:3] == ["step", "kimg", "training time"] and {"KID", "FID", "diversity"} <= set(heads)
    for engineering in ("s / kimg", "peak memory (MB)", "skipped steps", "G loss", "tau"):
        assert engineering not in shown
    assert "<summary>Details</summary>" in details and "s / kimg" in details and "peak memory (MB)" in details
    _metrics(run, [{"step": 400, "kimg": 25.6, "swd": 136.6, "diversity": 0.56, "best_metric": "swd"}])
    shown = _section(write_report(run).read_text(), "summary").split("<details")[0]
    assert "<th>SWD</th>" in shown  # without KID, the metric that picks the best checkpoint


def test_settings_list_what_shapes_the_model_or_data_and_only_the_length_that_acted(tmp_path: Path) -> None:
    from snowgan.config import Config

    run = write_run_folder(tmp_path / "run")
    cfg = Config()
    cfg.data.image_size, cfg.model.g_width = "32", 16
    cfg.train.steps, cfg.train.epochs = 90, 60  # --steps wins: --epochs never acted
    cfg.run.progress, cfg.log.sample_every, cfg.data.workers = "none", 15, 3
    (run / "config.json").write_text(cfg.to_json())
    table = _section(write_report(run).read_text(), "config").split("<details")[0]
    shown = re.findall(r"<th>--([^<]*)</th>", table)
    assert {"image_size", "g_width", "steps"} <= set(shown)
    for not_shaping in ("epochs", "progress", "sample_every", "workers"):
        assert not_shaping not in shown, not_shaping
