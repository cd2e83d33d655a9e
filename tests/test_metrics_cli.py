"""End-to-end: train a tiny run with the real CLI, then evaluate it and extract features."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from conftest import run_cli, run_cli_here
from metric_fixtures import random_standard_state_dict, scenes

TINY = ["--image_size", "16", "--builtin_count", "8", "--batch_size", "4", "--g_width", "8", "--d_width", "8",
        "--progress", "none", "--log_every", "2", "--sample_every", "2"]


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, dict]:
    """(work folder, random-valued standard Inception weights file, env) with one tiny trained run."""
    work = tmp_path_factory.mktemp("metrics_cli")
    env = {"SNOWGAN_CACHE": str(work / "cache"),
           # Never reach the network from tests: a download attempt fails at once.
           "SNOWGAN_INCEPTION_URL": (work / "no-such-mirror.pth").as_uri()}
    p = run_cli("--mode", "train", *TINY, "--steps", "2", "--name", "tiny", cwd=work, env=env)
    assert "done:" not in p.stdout + p.stderr  # --progress none: a quiet run ...
    assert "done: 2 steps" in (work / "runs" / "00001-tiny" / "log.txt").read_text()  # ... whose log keeps it
    weights = work / "random_inception.pth"
    torch.save(random_standard_state_dict(5), weights)
    return work, weights, env


def test_evaluate_all_metrics_writes_an_evaluation_with_protocols(trained) -> None:
    work, weights, env = trained
    p = run_cli("--mode", "evaluate", "--metrics", "fid,kid,pr,dc,swd,diversity", "--n_samples", "6",
                "--inception_weights", weights, "--progress", "none", "--verbose", "true", cwd=work, env=env)
    for name in ("fid", "kid", "precision", "recall", "density", "coverage", "swd", "diversity", "protocol:"):
        assert name in p.stdout  # --verbose: the protocols too (without it they are only in the file)
    result = json.loads((work / "runs" / "00001-tiny" / "evaluations" / "00001-seed0.json").read_text())
    assert result["run"] == "00001-tiny" and result["n_samples"] == 6 and result["seed"] == 0
    assert result["real_set"]["n_images"] == 8 and result["real_set"]["fingerprint"]
    assert result["weights"]["standard"] is False and len(result["weights"]["sha256"]) == 64
    m = result["metrics"]
    assert set(m) == {"fid", "kid", "precision", "recall", "density", "coverage", "swd", "diversity"}
    for entry in m.values():
        assert np.isfinite(entry["value"]) and entry["protocol"]
    assert "TF1 bilinear resize to 299x299" in m["fid"]["protocol"]
    assert "6 generated vs 8 of 8 real images" in m["fid"]["protocol"]
    assert "6 generated vs 6 of 8 real images" in m["precision"]["protocol"]
    assert "subsets of 6" in m["kid"]["protocol"]
    assert result["weights"]["sha256"][:12] in m["kid"]["protocol"]
    assert list(m["swd"]["per_level"]) == ["16x16"]
    # Real features were cached by dataset fingerprint for the next evaluation.
    assert list((work / "cache" / "metrics").glob(f"{result['real_set']['fingerprint']}-inception-*.npz"))


def test_evaluate_out_is_never_overwritten_without_force(trained) -> None:
    work, _, env = trained
    out = work / "mine.json"
    out.write_text("my notes")
    p = run_cli_here("--mode", "evaluate", "--metrics", "swd", "--n_samples", "8", "--out", out,
                     cwd=work, env=env, check=False)
    assert p.returncode == 2 and "--force" in p.stderr and out.read_text() == "my notes"
    run_cli_here("--mode", "evaluate", "--metrics", "swd", "--n_samples", "8", "--out", out, "--force",
                 cwd=work, env=env)
    assert json.loads(out.read_text())["metrics"]["swd"]["value"] > 0


def test_fid_without_weights_offline_says_where_to_put_them(trained) -> None:
    work, _, env = trained
    p = run_cli_here("--mode", "evaluate", "--metrics", "fid", "--n_samples", "8", cwd=work, env=env, check=False)
    assert p.returncode == 2
    assert "pt_inception-2015-12-05-6726825d.pth" in p.stderr and "--inception_weights" in p.stderr
    assert str(Path(env["SNOWGAN_CACHE"]) / "weights") in p.stderr


def test_features_of_folder_csv_stats_and_ref(trained, tmp_path: Path) -> None:
    work, weights, env = trained
    folder = tmp_path / "imgs"
    folder.mkdir()
    for i, img in enumerate(scenes(2, 24, seed=21)):
        Image.fromarray(img.transpose(1, 2, 0)).save(folder / f"im{i}.png")
    (folder / "broken.png").write_bytes(b"not a png")
    csv, stats = tmp_path / "f.csv", tmp_path / "s.npz"
    p = run_cli("--mode", "features", "--images", folder, "--out", csv, "--stats", stats,
                "--inception_weights", weights, cwd=work, env=env)
    assert "skipped broken.png" in p.stderr
    rows = csv.read_text().splitlines()
    assert len(rows) == 3 and rows[0].startswith("id,f0,f1,") and rows[0].endswith(",f2047")
    assert [r.split(",")[0] for r in rows[1:]] == ["im0.png", "im1.png"]
    assert all(len(r.split(",")) == 2049 for r in rows)
    feats = np.array([[float(v) for v in r.split(",")[1:]] for r in rows[1:]])
    with np.load(stats, allow_pickle=False) as f:
        assert f["mu"].shape == (2048,) and f["sigma"].shape == (2048, 2048) and f["sigma"].dtype == np.float64
        # The statistics are those of the rows written (CSV keeps 7 significant digits).
        assert np.allclose(f["mu"], feats.mean(axis=0), rtol=1e-6, atol=1e-9)
    # The same images against their own statistics: FID 0.
    p = run_cli_here("--mode", "features", "--images", folder, "--ref", stats, "--inception_weights", weights,
                     cwd=work, env=env)
    assert "FID vs" in p.stdout and float(p.stdout.split("FID vs")[1].split(":")[1].split()[0]) < 1e-6
    # Existing outputs are kept unless --force.
    p = run_cli_here("--mode", "features", "--images", folder, "--out", csv, "--inception_weights", weights,
                     cwd=work, env=env, check=False)
    assert p.returncode == 2 and "--force" in p.stderr


def test_features_of_run_samples(trained, tmp_path: Path) -> None:
    work, weights, env = trained
    csv = tmp_path / "samples.csv"
    run_cli_here("--mode", "features", "--run", "tiny", "--n_samples", "3", "--out", csv,
                 "--inception_weights", weights, cwd=work, env=env)
    rows = csv.read_text().splitlines()
    assert [r.split(",")[0] for r in rows[1:]] == ["sample-00000", "sample-00001", "sample-00002"]


def test_every_evaluation_is_kept_listed_and_the_newest_is_read(trained, tmp_path: Path) -> None:
    """Issue 42 item 5: a second `evaluate --seed 1` replaced metrics.json. Now each call is a new numbered file
    with its settings; --list shows them all; the report, and the model card of export, read the newest; a run
    folder from before (its metrics.json) still reads, as the oldest."""
    work, _, env = trained
    run = work / "runs" / "00001-tiny"
    shutil.copytree(run, tmp_path / "runs" / "00001-tiny", ignore=shutil.ignore_patterns("evaluations"))
    run = tmp_path / "runs" / "00001-tiny"
    old = {"run": "00001-tiny", "checkpoint": "step-00000002", "step": 2, "n_samples": 4, "seed": 9,
           "time": "2024-01-01T00:00:00", "metrics": {"swd": {"value": 123.0, "protocol": "older snowgan"}}}
    (run / "metrics.json").write_text(json.dumps(old))  # what evaluate wrote before
    first = run_cli("evaluate", "--metrics", "swd", "--n_samples", "8", cwd=tmp_path, env=env)
    assert "evaluations/00001-seed0.json, the protocol of each number with it" in first.stdout
    assert "earlier evaluations kept: 1 (snowgan evaluate --list" in first.stdout
    kept = (run / "evaluations" / "00001-seed0.json").read_bytes()
    run_cli_here("evaluate", "--metrics", "swd,diversity", "--n_samples", "6", "--seed", "1", cwd=tmp_path, env=env)
    assert sorted(p.name for p in (run / "evaluations").iterdir()) == ["00001-seed0.json", "00002-seed1.json"]
    assert (run / "evaluations" / "00001-seed0.json").read_bytes() == kept  # nothing overwritten
    assert json.loads((run / "metrics.json").read_text()) == old
    second = json.loads((run / "evaluations" / "00002-seed1.json").read_text())
    assert second["seed"] == 1 and second["n_samples"] == 6 and second["checkpoint"] == "step-00000002"
    assert second["settings"] == {"checkpoint": "auto", "metrics": ["swd", "diversity"], "n_samples": 6, "seed": 1,
                                  "data": None, "device": "cpu"}
    assert second["metrics"]["swd"]["protocol"] and second["metrics"]["diversity"]["protocol"]
    listed = run_cli_here("evaluate", "--list", cwd=tmp_path, env=env).stdout.splitlines()
    assert listed[0] == "evaluations of run 00001-tiny, oldest first:" and len(listed) == 4
    assert listed[1] == "  metrics.json: 2024-01-01T00:00:00, step-00000002 (step 2), 4 samples, seed 9: swd 123"
    assert listed[2].startswith("  evaluations/00001-seed0.json: ") and ", 8 samples, seed 0: swd " in listed[2]
    assert ", 6 samples, seed 1: swd " in listed[3] and ", diversity " in listed[3]
    run_cli_here("export", "--out", tmp_path / "model", cwd=tmp_path, env=env)
    assert "(evaluations/00002-seed1.json) on step-00000002 (step 2), 6 generated images (seed 1)" in \
        (tmp_path / "model" / "README.md").read_text()
    run_cli_here("report", "--frames", "4", "--keyframes", "2", "--n_samples", "4", cwd=tmp_path, env=env)
    page = (run / "report.html").read_text()
    section = page[page.index("<section id=evaluations>"):].split("</section>")[0]
    assert [f in section for f in ("metrics.json", "00001-seed0.json", "00002-seed1.json")] == [True] * 3


def test_evaluate_measures_the_spectrum_keeps_both_curves_and_the_report_draws_them(trained, tmp_path: Path) -> None:
    work, _, env = trained
    shutil.copytree(work / "runs", tmp_path / "runs")  # evaluations of its own: the shared run keeps its count
    out = tmp_path / "spectrum.json"
    p = run_cli_here("evaluate", "--metrics", "spectrum", "--n_samples", "8", "--out", str(out), cwd=tmp_path, env=env)
    line = next(x for x in p.stdout.splitlines() if x.startswith("spectral_hf"))
    assert " dB  (" in line and "fine detail than the real images" in line
    entry = json.loads(out.read_text())["metrics"]["spectral_hf"]
    assert np.isfinite(entry["value"]) and entry["value"] >= abs(entry["bias"])
    curves = entry["curves"]
    assert len(curves["freq"]) == len(curves["real_db"]) == len(curves["generated_db"]) > 4
    assert "8 generated vs 8 of 8 real images" in entry["protocol"] and "at 16x16" in entry["protocol"]
    # An evaluation in the run's own folder is what the report's picture shows, being the newest spectrum.
    run_cli_here("evaluate", "--metrics", "spectrum", "--n_samples", "8", "--seed", "7", cwd=tmp_path, env=env)
    from snowgan.report.plots import latest_spectrum
    from snowgan.runfolder import RunFolder

    got = latest_spectrum(RunFolder(tmp_path / "runs" / "00001-tiny"))
    assert got is not None and got[1].endswith("-seed7.json (step 2, 8 samples)")
