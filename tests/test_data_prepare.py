"""Prepare once, reuse while unchanged (snowgan.data.prepare), and `snowgan --mode prepare`."""

from __future__ import annotations

import json
import os
import zipfile

import numpy as np
import pytest
from PIL import Image

from conftest import run_cli, write_image_folder
from data_helpers import b64, config, encode, manifest
from snowgan.config import ConfigError
from snowgan.data.prepare import cache_root, prepare_dataset
from snowgan.data.prepared import change_note
from snowgan.commands.prepare import main as prepare_main


def prep(*args):
    cfg = config(*args)
    return cfg, prepare_dataset(cfg, progress="none")


def images_file(cfg, ds):
    return cache_root(cfg) / ds.fingerprint / "images.npy"


def test_cache_is_reused_when_nothing_changed(workdir):
    data = write_image_folder(workdir / "d", n=6)
    cfg, first = prep("--data", data, "--image_size", "16")
    stamp = images_file(cfg, first).stat().st_mtime_ns
    created = manifest(cfg, first)["created"]
    _, again = prep("--data", data, "--image_size", "16", "--workers", "3", "--max_bad_fraction", "0.1")
    assert again.fingerprint == first.fingerprint
    assert images_file(cfg, again).stat().st_mtime_ns == stamp and manifest(cfg, again)["created"] == created
    assert isinstance(again.images, np.memmap) and not again.images.flags.writeable
    assert np.array_equal(np.asarray(again.images), np.asarray(first.images))
    assert first.class_names == ["a", "b"] and first.labels.tolist() == [0, 0, 0, 1, 1, 1]  # sorted by name


def test_changes_to_files_or_options_prepare_again(workdir):
    data = write_image_folder(workdir / "d", n=6)
    base = ["--data", data, "--image_size", "16"]
    _, first = prep(*base)
    _, same = prep(*base, "--field_image", "picture")  # a JSONL option does not concern a folder
    assert same.fingerprint == first.fingerprint
    seen = {first.fingerprint}
    for extra in (["--image_size", "12"], ["--alpha", "drop"], ["--resize", "pad"], ["--channels", "1"]):
        _, ds = prep(*base, *extra)
        assert ds.fingerprint not in seen, extra
        seen.add(ds.fingerprint)
    target = data / "a" / "img_001.png"
    Image.new("RGB", (20, 20), (9, 9, 9)).save(target)
    os.utime(target, ns=(1, 1))
    _, edited = prep(*base)
    assert edited.fingerprint not in seen and (np.asarray(edited.images[0]) == 9).all()
    Image.new("RGB", (20, 20)).save(data / "b" / "new.png")
    _, grown = prep(*base)
    assert len(grown) == 7 and grown.fingerprint != edited.fingerprint


def test_a_run_tells_touched_files_from_changed_ones(workdir):
    """Copying a folder (new modification times) prepares it again; the run's note says the files
    are the same by name and size, where an added photo is counted."""
    data = write_image_folder(workdir / "d", n=6)
    base = ["--data", data, "--image_size", "16"]
    record = lambda ds: {"count": len(ds), "fingerprint": ds.fingerprint, "content": ds.content}
    _, first = prep(*base)
    for f in (data / "a").iterdir():
        os.utime(f, ns=(10**18, 10**18))
    _, touched = prep(*base)
    assert touched.fingerprint != first.fingerprint and touched.content == first.content != ""
    note = change_note(record(first), record(touched))
    assert "same 6 images by name and size" in note and "new modification times" in note
    Image.new("RGB", (20, 20)).save(data / "b" / "new.png")
    _, grown = prep(*base)
    assert grown.content != first.content
    assert "the data changed since this run last trained: 6 -> 7 images" in change_note(record(first), record(grown))
    (data / "b" / "new.png").rename(data / "b" / "renamed.png")
    _, renamed = prep(*base)
    assert "still 7 images, but files renamed, replaced or edited" in change_note(record(grown), record(renamed))
    assert change_note(record(renamed), record(renamed)) is None
    old_run = {"count": 7, "fingerprint": "0" * 20}  # a run recorded before the content id
    assert "still 7 images, but their names, sizes or modification times changed" in change_note(old_run, record(renamed))


def test_a_damaged_cache_is_prepared_again(workdir):
    data = write_image_folder(workdir / "d", n=4)
    cfg, first = prep("--data", data, "--image_size", "16")
    images_file(cfg, first).write_bytes(b"not an array")
    _, again = prep("--data", data, "--image_size", "16")
    assert again.fingerprint == first.fingerprint and len(again) == 4


def write_mixed(folder, good=2, bad=3):
    folder.mkdir(parents=True)
    for i in range(good):
        Image.new("RGB", (16, 16), (i, i, i)).save(folder / f"good{i}.png")
    for i in range(bad):
        (folder / f"bad{i}.jpg").write_text("not an image")
    return folder


def test_too_many_failures_stop_with_a_report(workdir, capsys):
    data = write_mixed(workdir / "d")
    with pytest.raises(ConfigError, match="3 of 5 inputs could not be used.*--max_bad_fraction") as e:
        prep("--data", data, "--image_size", "16")
    report = str(e.value).split("reasons in ")[1].split(";")[0]
    assert "bad0.jpg\tnot an image" in open(report, encoding="utf-8").read()
    assert "3 x not an image" in capsys.readouterr().err
    assert not list(cache_root(config()).glob("*/images.npy"))  # nothing half-usable left in the cache
    _, ds = prep("--data", data, "--image_size", "16", "--max_bad_fraction", "0.7")
    assert len(ds) == 2 and len(ds.skipped) == 3
    with pytest.raises(ConfigError, match="3 of 5 inputs"):  # the cached set is held to today's limit too
        prep("--data", data, "--image_size", "16", "--max_bad_fraction", "0.5")
    _, again = prep("--data", data, "--image_size", "16", "--max_bad_fraction", "0.7")
    assert again.fingerprint == ds.fingerprint  # and the cache survived the refusal


def test_missing_empty_and_unreadable_sources_are_config_errors(workdir):
    with pytest.raises(ConfigError, match="nowhere: no such file or folder"):
        prep("--data", workdir / "nowhere", "--image_size", "16")
    (workdir / "empty").mkdir()
    with pytest.raises(ConfigError, match="empty: no images found"):
        prep("--data", workdir / "empty", "--image_size", "16")
    with pytest.raises(ConfigError, match="none of the 3 inputs could be used"):
        prep("--data", write_mixed(workdir / "bad", good=0), "--image_size", "16", "--max_bad_fraction", "1")


def test_labels_csv(workdir):
    data = write_image_folder(workdir / "d", n=4)
    csv = workdir / "labels.csv"
    csv.write_text("file,label\na/img_001.png,cat\nimg_002.png,dog\nb/img_000.png,cat\n", encoding="utf-8")
    _, ds = prep("--data", data, "--image_size", "16", "--labels", csv)
    assert ds.class_names == ["cat", "dog"] and ds.labels.tolist() == [0, 0, 1]  # a/img_001, b/img_000, b/img_002
    assert ds.skipped == [("a/img_003.png", f"no row in --labels {csv}")]
    (workdir / "broken.csv").write_text("just-one-column\n")
    with pytest.raises(ConfigError, match="broken.csv line 1"):
        prep("--data", data, "--image_size", "16", "--labels", workdir / "broken.csv")


def test_zip_of_images_with_class_folders(workdir):
    with zipfile.ZipFile(workdir / "art.zip", "w") as z:
        for i, cls in enumerate(["désert", "snow", "désert"]):
            z.writestr(f"export/{cls}/pic {i}.PNG", encode(Image.new("RGB", (24, 24), (i * 50, 0, 0))))
        z.writestr("__MACOSX/export/snow/._pic 1.PNG", b"junk")
        z.writestr("export/.DS_Store", b"junk")
    _, ds = prep("--data", workdir / "art.zip", "--image_size", "16")
    assert len(ds) == 3 and ds.class_names == ["désert", "snow"] and ds.labels.tolist() == [0, 0, 1]
    assert [int(ds.images[i, 0, 8, 8]) for i in range(3)] == [0, 100, 50]  # sorted by name


def test_random_crop_stores_a_margin_for_the_loader(workdir):
    _, ds = prep("--data", write_image_folder(workdir / "d", n=2, size=40), "--image_size", "16x32",
                 "--resize", "random-crop")
    assert ds.images.shape == (2, 3, 18, 36)


def test_process_pool_gives_the_same_result_as_one_process(workdir, monkeypatch):
    monkeypatch.setattr("snowgan.data.pipeline.MIN_PARALLEL", 16)  # a real pool, on a test-sized set
    data = write_image_folder(workdir / "d", n=70, size=24, seed=3)
    _, one = prep("--data", data, "--image_size", "16", "--workers", "1", "--cache_dir", workdir / "c1")
    _, two = prep("--data", data, "--image_size", "16", "--workers", "2", "--cache_dir", workdir / "c2")
    assert np.array_equal(np.asarray(one.images), np.asarray(two.images))
    assert one.labels.tolist() == two.labels.tolist()


def test_builtin_dataset_when_no_data_is_given(workdir):
    pytest.importorskip("snowgan.data.synthetic")
    _, ds = prep("--image_size", "16", "--builtin_count", "8")
    assert ds.images.shape == (8, 3, 16, 16)


def test_cli_prepare_out_force_and_training_on_the_result(workdir, capsys):
    data = write_image_folder(workdir / "d", n=5)
    out = workdir / "prepared"
    proc = run_cli("--mode", "prepare", "--data", data, "--image_size", "16", "--out", out, cwd=workdir)
    assert "5 images 3x16x16" in proc.stdout and "2 classes from sub-folders" in proc.stdout
    assert sorted(p.name for p in out.iterdir()) == ["images.npy", "labels.npy", "manifest.json", "skipped.txt"]
    assert json.loads((out / "manifest.json").read_text())["counts"]["images"] == 5
    # The rest in-process (the same entry point the CLI calls): a CLI start costs seconds here.
    again = ["--mode", "prepare", "--data", str(data), "--image_size", "12", "--out", str(out)]
    with pytest.raises(ConfigError, match="--out .* is not empty.*--force"):
        prepare_main(config(*again), set())
    assert np.load(out / "images.npy").shape == (5, 3, 16, 16)  # untouched
    assert prepare_main(config(*again, "--force"), set()) == 0
    assert "wrote " in capsys.readouterr().out
    assert np.load(out / "images.npy").shape == (5, 3, 12, 12)
    _, ds = prep("--data", out, "--image_size", "12")  # a prepared folder is a source of its own
    assert ds.images.shape == (5, 3, 12, 12) and ds.class_names == ["a", "b"]
    with pytest.raises(ConfigError, match="prepared as 3x12x12"):
        prep("--data", out, "--image_size", "16")
    with pytest.raises(ConfigError, match="needs --data"):
        prepare_main(config("--mode", "prepare"), set())


def test_pool_streams_in_order_with_bounded_input_and_stops_cleanly(workdir):
    from snowgan.data.pipeline import run_all
    from snowgan.data.prepare import fit_options

    tiny = [encode(Image.new("L", (8, 8), i % 256)) for i in range(600)]
    tasks = (("jsonl", f"s:{i}", json.dumps({"image": b64(b)}))
             for i, b in enumerate(tiny))
    fit = fit_options(config("--image_size", "12", "--channels", "1"))
    results = list(run_all(tasks, 600, fit, workers=2, progress="none"))  # more than the in-flight window
    assert [r.name for r in results] == [f"s:{i}" for i in range(600)]
    assert [int(r.image[0, 6, 6]) for r in results[:300:50]] == [0, 50, 100, 150, 200, 250]
    stream = run_all(iter([("bad", f"x{i}", "why") for i in range(600)]), 600, fit, workers=2, progress="none")
    assert next(stream).reason == "why"
    stream.close()  # stopping early ends the pool instead of hanging on its feeder thread


SCRIPT = """\
from snowgan.data.load import load_dataset
from snowgan.flags import parse_args

def prepare(cache):
    cfg, _ = parse_args(["--data", {data!r}, "--image_size", "12", "--workers", "2", "--progress", "none",
                         "--cache_dir", cache])
    print("images", len(load_dataset(cfg).images), flush=True)

{call}
"""


@pytest.mark.parametrize("guarded", [False, True])
def test_library_script_without_main_guard_decodes_instead_of_hanging(workdir, guarded: bool):
    # Spawned decoding workers import the caller's script again; a top-level call would start the
    # pool again in each of them and never end. snowgan decodes in-process instead, with a note.
    import subprocess
    import sys

    from conftest import cli_env
    from snowgan.data.pipeline import MIN_PARALLEL

    data = write_image_folder(workdir / "photos", n=MIN_PARALLEL + 10, size=12)
    call = 'if __name__ == "__main__":\n    prepare("c")' if guarded else 'prepare("c")'
    script = workdir / "user_script.py"
    script.write_text(SCRIPT.format(data=str(data), call=call), encoding="utf-8")
    proc = subprocess.run([sys.executable, str(script)], cwd=workdir, env=cli_env(), capture_output=True,
                          text=True, timeout=180)
    assert proc.returncode == 0, proc.stderr
    assert f"images {MIN_PARALLEL + 10}" in proc.stdout
    assert "bootstrapping phase" not in proc.stderr
    if guarded:  # the pool runs: no note
        assert "note: decoding in this process" not in proc.stderr
    else:
        assert f"note: decoding in this process, not in 2 workers: {script}:9 calls snowgan" in proc.stderr
