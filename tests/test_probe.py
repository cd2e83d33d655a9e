"""The discriminator as a backbone: probe, predict, label-file errors (real CLI, real files)."""

from __future__ import annotations

import csv
import json
import subprocess
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from safetensors.torch import load_file

from conftest import run_cli as _run_cli, run_cli_here

TINY = ["--image_size", "16", "--builtin_count", "64", "--batch_size", "8", "--g_width", "8", "--d_width", "8",
        "--progress", "none", "--sample_every", "100"]
PER_CLASS = 6
# On the shared 2-core machine, two OpenMP threads can spin against other load and run 10x slower.
ONE_THREAD = {"OMP_NUM_THREADS": "1"}


def run_cli(*args, **kw) -> subprocess.CompletedProcess:
    """conftest.run_cli with one OpenMP thread (see ONE_THREAD)."""
    return _run_cli(*args, env=ONE_THREAD, **kw)


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """A tiny run, its export, and a folder of built-in images (unseen by the run) with labels.csv."""
    from snowgan.data.synthetic import CLASSES, builtin_images

    work = tmp_path_factory.mktemp("probe")
    run_cli("--mode", "train", *TINY, "--steps", "2", "--name", "tiny", cwd=work)
    run_cli("--mode", "export", "--run", "tiny", "--out", work / "model", cwd=work)
    images, labels = builtin_images(64 + 4 * PER_CLASS, 16, 16)
    rows = []
    for i in range(64, len(images)):
        sub = work / "photos" / ("day1" if i % 2 else "day2")
        sub.mkdir(parents=True, exist_ok=True)
        Image.fromarray(images[i].transpose(1, 2, 0)).save(sub / f"img{i}.png")
        # Snow cover: the share of near-white pixels, a numeric target like "wind loading".
        rows.append((f"{sub.name}/img{i}.png", CLASSES[labels[i]], f"{(images[i].min(0) > 200).mean():.4f}"))
    _write_csv(work / "labels.csv", [("file", "label")] + [(f, c) for f, c, _ in rows])
    _write_csv(work / "snow.csv", [(f.split("/")[1], v) for f, _, v in rows])  # base names only
    return {"work": work, "model": work / "model", "rows": rows}


def _write_csv(path: Path, rows: list[tuple]) -> Path:
    with open(path, "w", newline="", encoding="utf-8") as f:
        csv.writer(f).writerows(rows)
    return path


def _one_line_error(p) -> str:
    err = [x for x in p.stderr.splitlines() if x.strip()]
    assert p.returncode == 2, p.stdout + p.stderr
    assert len(err) == 1 and "Traceback" not in p.stderr, p.stderr
    return err[0]


def _cli_here(*args, cwd: Path, capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch
              ) -> subprocess.CompletedProcess:
    """snowgan.cli.main in this process (the same code as the command, without a torch import per call)."""
    from snowgan.cli import main

    monkeypatch.chdir(cwd)
    capsys.readouterr()
    rc = main([str(a) for a in args])
    out = capsys.readouterr()
    return subprocess.CompletedProcess(list(args), rc, out.out, out.err)


def _bad_tables(rows: list[tuple]) -> dict[str, tuple[list[tuple], str]]:
    ok = [(f, c) for f, c, _ in rows]
    rocky = [r for r in ok if r[1] == "rocky"]
    return {
        "missing image": (ok + [("day1/ghost.png", "snowy")], "1 of 25 rows name images not found"),
        "too few per class": ([r for r in ok if r[1] != "rocky"] + rocky[:3], "too few examples per class ('rocky' has 3)"),
        "one class": ([(f, "snowy") for f, _ in ok], "only one class"),
        "empty label": (ok[:3] + [(ok[3][0], "")], "line 4"),
        "not csv rows": ([("just-a-name",)], "line 1: expected 'file,label'"),
    }


@pytest.mark.parametrize("case", ["missing image", "too few per class", "one class", "empty label", "not csv rows"])
def test_bad_label_files_get_one_clear_line(setup: dict, case: str, capsys: pytest.CaptureFixture,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    work = setup["work"]
    table, needle = _bad_tables(setup["rows"])[case]
    path = _write_csv(work / f"bad-{case.replace(' ', '-')}.csv", table)
    args = ("--mode", "probe", "--model", setup["model"], "--data", work / "photos", "--labels", path,
            "--out", work / "never")
    # One case as a real process (exit status 2, stderr), the rest in this process to save time.
    p = (run_cli(*args, cwd=work, check=False) if case == "missing image"
         else _cli_here(*args, cwd=work, capsys=capsys, monkeypatch=monkeypatch))
    line = _one_line_error(p)
    assert needle in line and str(path) in line
    assert not (work / "never").exists()


def test_labels_without_data_and_data_without_labels_are_refused(setup: dict, capsys: pytest.CaptureFixture,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    work = setup["work"]
    for args, needle in ((("--labels", work / "labels.csv"), "needs --data"),
                         (("--data", work / "photos"), "needs --labels"),
                         (("--probe_block", "7"), "--probe_block 7")):
        p = _cli_here("--mode", "probe", "--model", setup["model"], *args, cwd=work, capsys=capsys,
                      monkeypatch=monkeypatch)
        assert needle in _one_line_error(p)


def test_classes_probe_then_predict(setup: dict, capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch) -> None:
    work, model = setup["work"], setup["model"]
    p = run_cli("--mode", "probe", "--model", model, "--data", work / "photos", "--labels", work / "labels.csv",
                "--out", work / "head-cls", cwd=work)
    assert "random-init D (same seed)" in p.stdout and "pretraining bought" in p.stdout
    info = json.loads((work / "head-cls" / "head.json").read_text())
    assert info["task"] == "classify" and info["class_names"] == ["desert", "green", "rocky", "snowy"]
    assert info["split"] == {"seed": 0, "train": 16, "test": 8, "shots": 0, "stratified": True}
    assert set(info["scores"]) == {"pretrained", "random_init", "majority_class"}
    assert info["scores"]["majority_class"]["accuracy"] == 0.25  # 2 of 8 held out per class: any class is 1/4

    # A head made on the exported folder applies to the same weights reached through the run, too.
    out = work / "pred" / "p.csv"
    p = run_cli_here("--mode", "predict", "--run", "tiny", "--head", work / "head-cls", "--data", work / "photos",
                     "--out", out, cwd=work)
    with open(out, newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == len(setup["rows"]) and rows[0]["file"].startswith("day")
    for r in rows:
        probs = {c: float(r[f"p_{c}"]) for c in info["class_names"]}
        assert r["prediction"] == max(probs, key=probs.get)
        assert abs(sum(probs.values()) - 1) < 1e-3 and float(r["confidence"]) == max(probs.values())
    # Unknown classes in a label file used for scoring: one line naming them and the known ones.
    bad = _write_csv(work / "unknown.csv", [(f, "volcanic" if i == 0 else c) for i, (f, c, _) in enumerate(setup["rows"])])
    p = _cli_here("--mode", "predict", "--model", model, "--head", work / "head-cls", "--data", work / "photos",
                "--labels", bad, "--out", work / "p2.csv", cwd=work, capsys=capsys,
                  monkeypatch=monkeypatch)
    line = _one_line_error(p)
    assert "unknown classes 'volcanic'" in line and "'desert'" in line
    # The head belongs to one discriminator: the run's step-0 weights are another.
    p = _cli_here("--mode", "predict", "--run", "tiny", "--checkpoint", "0", "--head", work / "head-cls",
                "--data", work / "photos", "--out", work / "p3.csv", cwd=work, capsys=capsys,
                  monkeypatch=monkeypatch)
    assert "was fitted to the discriminator of" in _one_line_error(p)
    p = _cli_here("--mode", "predict", "--run", "tiny", "--head", work / "head-cls", "--data", work / "photos",
                "--out", out, cwd=work, capsys=capsys,
                  monkeypatch=monkeypatch)
    assert "--force" in _one_line_error(p)


def test_numeric_labels_become_a_regression(setup: dict, capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch) -> None:
    work, model = setup["work"], setup["model"]
    p = run_cli("--mode", "probe", "--model", model, "--data", work / "photos", "--labels", work / "snow.csv",
                "--out", work / "head-snow", cwd=work)
    assert "MAE" in p.stdout and "R^2" in p.stdout
    info = json.loads((work / "head-snow" / "head.json").read_text())
    assert info["task"] == "regress" and set(info["scores"]["pretrained"]) == {"mae", "r2"}
    assert info["scores"]["training_mean"]["r2"] <= 1e-12  # a constant never beats the mean
    run_cli_here("--mode", "predict", "--model", model, "--head", work / "head-snow", "--data", work / "photos",
                 "--labels", work / "snow.csv", "--out", work / "snow-pred.csv", cwd=work)
    with open(work / "snow-pred.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert list(rows[0]) == ["file", "prediction", "label"]
    assert all(np.isfinite(float(r["prediction"])) for r in rows)
    # The same numbers can be asked for as classes.
    p = _cli_here("--mode", "probe", "--model", model, "--data", work / "photos", "--labels", work / "snow.csv",
                "--probe_task", "classify", "--out", work / "never2", cwd=work, capsys=capsys,
                  monkeypatch=monkeypatch)
    assert "too few examples per class" in _one_line_error(p)


def test_finetune_saves_the_tuned_blocks_and_predict_uses_them(setup: dict) -> None:
    work, model = setup["work"], setup["model"]
    run_cli("--mode", "probe", "--model", model, "--finetune", "--builtin_count", "48", "--out", work / "head-ft",
            cwd=work)
    info = json.loads((work / "head-ft" / "head.json").read_text())
    assert info["finetuned_blocks"] == [0, 1] and info["data"]["images"] == 48
    tensors = load_file(str(work / "head-ft" / "head.safetensors"))
    assert any(k.startswith("backbone.blocks.1.") for k in tensors)
    p = run_cli_here("--mode", "predict", "--model", model, "--head", work / "head-ft", "--builtin_count", "48",
                     "--out", work / "ft.csv", cwd=work)
    assert "against the built-in labels: accuracy" in p.stdout
    with open(work / "ft.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert [r["file"] for r in rows[:2]] == ["builtin-00064", "builtin-00065"]  # after the 64 it trained on


def test_builtin_images_written_as_a_labelled_folder_feed_the_probe(setup: dict, capsys: pytest.CaptureFixture,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """`--mode prepare --data_format builtin --out DIR`: PNGs + labels.csv, the worked example's data."""
    from snowgan.data.synthetic import CLASSES, builtin_images

    work, folder = setup["work"], setup["work"] / "mountains"
    args = ("--mode", "prepare", "--data_format", "builtin", "--builtin_start", "64", "--builtin_count", "16",
            "--image_size", "16", "--out", folder, "--progress", "none")
    p = _cli_here(*args, cwd=work, capsys=capsys, monkeypatch=monkeypatch)
    assert p.returncode == 0 and "wrote 16 built-in images 64..79" in p.stdout
    with open(folder / "labels.csv", newline="") as f:
        rows = list(csv.reader(f))
    images, labels = builtin_images(16, 16, 16, start=64)
    assert rows[0] == ["file", "label"] and rows[1] == ["builtin-00064.png", CLASSES[labels[0]]]
    assert [r[1] for r in rows[1:]] == [CLASSES[k] for k in labels]
    assert np.array_equal(np.asarray(Image.open(folder / "builtin-00079.png")), images[15].transpose(1, 2, 0))
    assert "add --force" in _one_line_error(_cli_here(*args, cwd=work, capsys=capsys, monkeypatch=monkeypatch))
    # The folder and its labels.csv are what --mode probe reads.
    p = _cli_here("--mode", "probe", "--model", setup["model"], "--data", folder, "--labels", folder / "labels.csv",
                  "--out", work / "head-folder", "--progress", "none", cwd=work, capsys=capsys,
                  monkeypatch=monkeypatch)
    assert p.returncode == 0, p.stderr
    assert json.loads((work / "head-folder" / "head.json").read_text())["data"]["images"] == 16


@pytest.mark.slow
def test_pretrained_discriminator_beats_random_init_on_builtin_classes(tmp_path: Path) -> None:
    """The issue's must-show, at the settings bench/probe_margin.py measures (not tuned per seed).

    Grayscale, so colour alone does not give the classes away, and 4 labelled images per class,
    where a random-init D is not already at the ceiling. Averaged over three held-out splits
    of one fixed training seed. bench/probe_margin.py, train seeds 0/1/2 x split seeds 0-2: mean
    margin +0.042/+0.052/+0.031 accuracy; single splits range -0.016 (1 image of 64) to +0.078.
    """
    run_cli("--mode", "train", "--loss", "nonsat", "--image_size", "16", "--channels", "1", "--g_width", "16",
            "--d_width", "16",
            "--builtin_count", "256", "--batch_size", "32", "--steps", "150", "--seed", "0", "--name", "pre",
            "--progress", "none", "--sample_every", "100000", "--checkpoint_every", "100000", "--precision", "fp32",
            cwd=tmp_path)
    acc = {"pretrained": [], "random_init": [], "majority_class": []}
    for split in (0, 1, 2):
        out = tmp_path / f"head{split}"
        probe = run_cli if split == 0 else run_cli_here  # one new interpreter is enough (conftest.run_cli_here)
        probe("--mode", "probe", "--run", "pre", "--seed", split, "--builtin_count", "256", "--probe_shots", "4",
              "--progress", "none", "--out", out, cwd=tmp_path)
        info = json.loads((out / "head.json").read_text())
        assert info["data"]["description"].startswith("built-in mountains 256..511 (not seen in training)")
        for k in acc:
            acc[k].append(info["scores"][k]["accuracy"])
    pre, rnd = np.mean(acc["pretrained"]), np.mean(acc["random_init"])
    assert pre > rnd, acc
    assert min(acc["pretrained"]) > 0.9 and max(acc["majority_class"]) <= 0.25, acc  # it learnt the classes


# ---- units ---------------------------------------------------------------------------------

def test_split_is_fixed_stratified_and_keeps_the_test_set_when_shots_change() -> None:
    from snowgan.probe.labels import make_targets, split_indices

    t = make_targets(["a"] * 8 + ["b"] * 12 + ["c"] * 4, "auto", "test")
    train, test = split_indices(t, seed=3)
    assert np.array_equal(train, split_indices(t, seed=3)[0])  # fixed seed
    assert not set(train) & set(test) and len(train) + len(test) == 24
    assert [int((t.y[test] == k).sum()) for k in range(3)] == [2, 3, 1]  # 25% of each class, at least 1
    few, test2 = split_indices(t, seed=3, shots=2)
    assert np.array_equal(test, test2) and set(few) <= set(train)
    assert [int((t.y[few] == k).sum()) for k in range(3)] == [2, 2, 2]
    assert not np.array_equal(test, split_indices(t, seed=4)[1])


def test_task_detection() -> None:
    from snowgan.probe.labels import make_targets

    assert make_targets(["1", "2.5", "-3", "4", "5", "6", "7", "8"], "auto", "x").task == "regress"
    t = make_targets(["10", "2"] * 4, "classify", "x")
    assert t.task == "classify" and t.class_names == ["2", "10"]  # numeric class names in numeric order


def test_scores_match_hand_computed_values() -> None:
    from snowgan.probe.head import classification_scores, regression_scores

    # class 0: tp 1 fp 1 fn 1 -> F1 0.5; class 1: tp 1 fp 1 fn 0 -> 2/3; class 2: tp 0 fp 0 fn 1 -> 0
    s = classification_scores(np.array([0, 0, 1, 2]), np.array([0, 1, 1, 0]), 3)
    assert s["accuracy"] == 0.5 and s["macro_f1"] == pytest.approx((0.5 + 2 / 3 + 0) / 3)
    r = regression_scores(np.array([1.0, 2.0, 3.0]), np.array([1.0, 2.0, 4.0]))
    assert r["mae"] == pytest.approx(1 / 3) and r["r2"] == pytest.approx(1 - 1 / 2)
