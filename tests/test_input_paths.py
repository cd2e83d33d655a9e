"""Every path a flag names is checked before a command creates or announces anything (issue 42 item 7):
one line naming the flag, with a "did you mean" for a close name beside the path or in the folders above."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from conftest import run_cli, write_image_folder
from snowgan.cli import main


def test_a_wrong_data_path_is_one_line_before_any_run_folder_or_device_line(workdir: Path) -> None:
    write_image_folder(workdir / "photos", n=2)
    p = run_cli("train", "--data", "photoz", "--steps", "1", cwd=workdir, check=False)
    assert p.returncode == 2 and p.stdout == "", p.stdout  # no "run runs/00001-photos (new)", no device line
    assert p.stderr == "snowgan: error: --data photoz: no such file or folder; did you mean photos?\n"
    assert not (workdir / "runs").exists()
    inside = workdir / "runs" / "00001-old"  # where people stand when they open a report
    inside.mkdir(parents=True)
    p = run_cli("train", "--data", "photos", "--steps", "1", cwd=inside, check=False)
    assert p.returncode == 2 and p.stdout == ""
    assert p.stderr.strip() == "snowgan: error: --data photos: no such file or folder; did you mean ../../photos?"
    assert sorted(os.listdir(inside)) == []


@pytest.mark.parametrize("argv, message", [
    (["train", "--labels", "labelz.csv"], "--labels labelz.csv: no such file; did you mean labels.csv?"),
    (["train", "--config", "setings.toml"], "--config setings.toml: no such file; did you mean settings.toml?"),
    (["train", "--inception_weights", "w.pt"], "--inception_weights w.pt: no such file; give pt_inception"),
    (["train", "--init_from", "phots"], "--init_from: run 'phots' not found in runs/ as a folder, a run number or "
                                        "a name; did you mean photos?"),
    (["generate", "--latents", "z.safetensors"], "--latents z.safetensors: no such file; give a .safetensors"),
    (["generate", "--model", "mdl"], "--model mdl: no such folder; give a folder that snowgan export wrote"),
    (["generate", "--model", "labels.csv"], "--model labels.csv: not a folder; give a folder that snowgan export"),
    (["interpolate", "--latents", "sub/z.safetensors"], "--latents sub/z.safetensors: no such file"),
    (["project", "--image", "photos/a/img_000.png"], "--image photos/a/img_000.png: no such file; did you mean "
                                                     "photos/a/img_001.png?"),
    (["predict", "--head", "head", "--data", "photos"], "--head head: no such folder; give a folder that snowgan "
                                                         "probe wrote"),
    (["features", "--images", "phtos/a", "--out", "f.csv"], "--images phtos/a: no such folder; did you mean "
                                                            "photos/a?"),
    (["features", "--ref", "ref.npz", "--out", "f.csv"], "--ref ref.npz: no such file; give FID statistics"),
    (["evaluate", "--data", "photoz"], "--data photoz: no such file or folder; did you mean photos?"),
    (["average", "--data", "../photos"], "--data ../photos: no such file or folder; did you mean photos?"),
])
def test_every_path_flag_is_checked_first_with_a_suggestion(capsys, workdir: Path, monkeypatch, argv: list[str],
                                                            message: str) -> None:
    write_image_folder(workdir / "photos", n=2)
    (workdir / "labels.csv").write_text("a/img_001.png,x\n")
    (workdir / "settings.toml").write_text("[train]\nsteps = 1\n")
    (workdir / "runs" / "00001-photos").mkdir(parents=True)
    (workdir / "runs" / "00001-photos" / "config.json").write_text("{}")
    monkeypatch.chdir(workdir)
    before = sorted(str(p) for p in workdir.rglob("*"))
    rc = main(argv)
    out, err = capsys.readouterr()
    assert rc == 2 and out == "" and len(err.strip().splitlines()) == 1, err
    assert err.startswith(f"snowgan: error: {message}"), err
    assert sorted(str(p) for p in workdir.rglob("*")) == before  # nothing created


def test_did_you_mean_path_prefers_the_same_path_above_then_a_close_name(tmp_path: Path, monkeypatch) -> None:
    from snowgan.errors import did_you_mean_path

    (tmp_path / "photos" / "train").mkdir(parents=True)
    (tmp_path / "plots").mkdir()
    deep = tmp_path / "runs" / "00001-x"
    deep.mkdir(parents=True)
    monkeypatch.chdir(tmp_path)
    assert did_you_mean_path("phtos/train") == "; did you mean photos/train?"
    assert did_you_mean_path("photos/tran") == "; did you mean photos/train?"
    assert did_you_mean_path("photos/train/x.png") == ""  # nothing close to offer
    assert did_you_mean_path("photos", Path.is_file) == ""  # a folder is not offered where a file is wanted
    monkeypatch.chdir(deep)
    assert did_you_mean_path("photos") == "; did you mean ../../photos?"  # not the close "plots" here or above
    assert did_you_mean_path(str(tmp_path / "photoz")) == f"; did you mean {tmp_path / 'photos'}?"
