"""report.html's picture of the power spectra (plots/spectrum.png): drawn from the newest spectrum measured, an
in-training check's or a `snowgan evaluate`'s, shown with a caption; none when the run measured none."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
from PIL import Image

from report_helpers import write_run_folder
from snowgan.metrics.spectrum import power_spectrum, spectral_error, spectrum_record
from snowgan.report.html import SPECTRUM_CAPTION, write_report
from snowgan.report.plots import latest_spectrum, plot_stats
from snowgan.runfolder import RunFolder
from test_metrics_spectrum import checkerboard, fields


def _check(step: int, real: np.ndarray, fake: np.ndarray) -> dict:
    rs, fs = power_spectrum(real), power_spectrum(fake)
    err = spectral_error(rs, fs)
    return {"step": step, "kimg": step / 10, "diversity": 0.9, "spectral_hf": err.hf, "spectral_hf_bias": err.bias,
            "spectrum": spectrum_record(rs, fs), "protocol": {"spectrum": f"...; {len(fake)} generated vs ..."}}


def test_the_spectrum_picture_shows_the_newest_measurement_and_the_page_explains_it(tmp_path: Path) -> None:
    run = write_run_folder(tmp_path / "run")
    real = fields(32, 32, seed=1)
    with open(run / "metrics.jsonl", "w") as f:
        f.write(json.dumps(_check(100, real, fields(32, 32, seed=2))) + "\n")
        f.write(json.dumps(_check(200, real, checkerboard(fields(32, 32, seed=3), 0.1))) + "\n")
    summary = write_report(run).read_text().split("id=summary")[1].split("</section>")[0]
    assert "high-frequency error (dB)" in summary  # the Latest table names the number
    with open(run / "metrics.jsonl", "a") as f:
        f.write(json.dumps({"step": 300, "kimg": 30.0, "diversity": 0.8}) + "\n")  # a check without a spectrum
    curves, where = latest_spectrum(RunFolder(run))
    assert where == "the check at step 200, 32 samples"
    assert curves["generated_db"][-1] > curves["real_db"][-1]  # the checkerboard's corner, in the picture's data
    paths = plot_stats(run)
    assert [p.name for p in paths][-1] == "spectrum.png"
    with Image.open(run / "plots" / "spectrum.png") as im:
        assert im.format == "PNG" and im.size[0] >= 600
        pixels = np.asarray(im.convert("RGB"))
    # Both curves are drawn: the real one near-black, the generated one red.
    assert ((pixels[..., 0] < 60) & (pixels[..., 1] < 60) & (pixels[..., 2] < 60)).sum() > 200
    assert ((pixels[..., 0] > 180) & (pixels[..., 1] < 80) & (pixels[..., 2] < 80)).sum() > 200
    page = write_report(run).read_text()
    plots = page[page.index("id=plots"):].split("</section>")[0]
    assert "Power spectrum of the generated and the real images" in plots and SPECTRUM_CAPTION.split(":")[0] in plots

    # An evaluation written after the last check is the newer measurement: the picture follows it.
    drawn = (run / "plots" / "spectrum.png").stat().st_mtime_ns
    ev = _check(250, real, fields(32, 32, seed=4))
    (run / "evaluations").mkdir()
    record = {"step": 250, "n_samples": 32, "metrics": {"spectral_hf": {
        "value": ev["spectral_hf"], "bias": ev["spectral_hf_bias"], "curves": ev["spectrum"], "protocol": "..."}}}
    path = run / "evaluations" / "00001-seed0.json"
    path.write_text(json.dumps(record))
    later = (run / "metrics.jsonl").stat().st_mtime + 5
    os.utime(path, (later, later))
    assert latest_spectrum(RunFolder(run))[1] == "evaluations/00001-seed0.json (step 250, 32 samples)"
    plot_stats(run)
    assert (run / "plots" / "spectrum.png").stat().st_mtime_ns != drawn  # redrawn: its inputs changed


def test_no_spectrum_no_picture_and_an_old_one_is_removed(tmp_path: Path) -> None:
    run = write_run_folder(tmp_path / "run")
    (run / "plots").mkdir()
    (run / "plots" / "spectrum.png").write_bytes(b"an older picture")
    with open(run / "metrics.jsonl", "w") as f:
        f.write(json.dumps({"step": 100, "kimg": 1.0, "diversity": 0.9,
                            "spectrum": {"freq": [0.1, 0.2], "real_db": [1.0], "generated_db": [1.0, 2.0]}}) + "\n")
    assert latest_spectrum(RunFolder(run)) is None  # curves of unequal lengths are not drawn
    assert "spectrum.png" not in [p.name for p in plot_stats(run)]
    assert not (run / "plots" / "spectrum.png").exists()
    assert "Power spectrum" not in write_report(run).read_text()


def test_variety_and_the_spectral_error_are_curves_and_latest_rows_with_their_direction(tmp_path: Path) -> None:
    from snowgan.report.plots import better, metric_curves

    rows = [{"step": s, "kimg": s / 10, "kid": 1 / s, "feature_variety": 0.1 * s, "feature_coverage": 0.2 * s,
             "spectral_hf": 3.0 / s} for s in (1, 2, 3)]
    assert metric_curves(rows) == ["kid", "feature_variety", "spectral_hf"]  # coverage: in the table only
    assert better("feature_variety").startswith("higher") and better("spectral_hf") == "lower"
    run = write_run_folder(tmp_path / "run")
    (run / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    summary = write_report(run).read_text().split("id=summary")[1].split("</section>")[0]
    assert "feature variety" in summary and "higher is better" in summary and "lower is better" in summary
