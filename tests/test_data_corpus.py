"""The awkward corpus: every file a real collection holds, each with its expected outcome."""

from __future__ import annotations

import numpy as np
import pytest

from data_helpers import BLUE, GREEN, RED, config, manifest, write_corpus
from snowgan.data.prepare import cache_root, prepare_dataset


@pytest.fixture
def corpus(workdir):
    root = workdir / "my photos"
    expect = write_corpus(root)
    cfg = config("--data", root, "--image_size", "16")
    ds = prepare_dataset(cfg, progress="none")
    return cfg, ds, manifest(cfg, ds), expect


def test_every_input_has_its_expected_outcome(corpus):
    cfg, ds, m, expect = corpus
    status = {e["name"]: e for e in m["inputs"]}
    assert set(status) == set(expect)  # hidden files, ._ forks, .txt and the folder loop are not inputs
    for name, outcome in expect.items():
        e = status[name]
        if outcome == "ok":
            assert e["status"] == "ok", (name, e)
        else:
            assert e["status"] == "skipped" and e["reason"].startswith(outcome), (name, e)
    assert len(ds) == sum(v == "ok" for v in expect.values()) == 15
    assert ds.images.shape == (15, 3, 16, 16) and ds.images.dtype == np.uint8
    assert sorted(ds.skipped) == sorted((n, status[n]["reason"]) for n, v in expect.items() if v != "ok")
    skipped_txt = (cache_root(cfg) / ds.fingerprint / "skipped.txt").read_text(encoding="utf-8")
    assert "zero.jpg\tempty file" in skipped_txt and "bomb.png\ttoo many pixels" in skipped_txt
    assert m["counts"] == {"inputs": 19, "images": 15, "skipped": 4, "upscaled": 1, "unlabelled": 0}
    assert ds.labels is None  # images loose at the top: no sub-folder classes
    assert "4 of 19 inputs skipped" in ds.description


def pixels(corpus, name: str) -> np.ndarray:
    _, ds, m, _ = corpus
    index = next(e["index"] for e in m["inputs"] if e["name"] == name)
    return ds.images[index].astype(int).transpose(1, 2, 0)  # (H, W, C)


def test_decoded_pixels(corpus):
    assert np.abs(pixels(corpus, "UPPER.JPG") - RED).max() <= 8
    assert np.abs(pixels(corpus, "nested/link.jpg") - pixels(corpus, "UPPER.JPG")).max() == 0
    assert (pixels(corpus, "ünïcode name ✓ with spaces.png") == RED).all()
    assert (pixels(corpus, "nested/deeper/deep.png") == RED).all()
    assert np.abs(pixels(corpus, "cmyk.jpg") - RED).max() <= 8
    p = pixels(corpus, "p_transparent.png")
    assert (p[:, :8] == 255).all() and (p[:, 8:] == BLUE).all()
    la = pixels(corpus, "la.png")
    assert (la[:, :8] == 255).all() and (la[:, 8:] == 100).all()
    rgba = pixels(corpus, "rgba.png")
    assert (rgba[:, :8] == 255).all() and (rgba[:, 8:] == GREEN).all()
    i16 = pixels(corpus, "i16.png")[..., 0]
    assert i16.min() == 0 and i16.max() == 255 and len(np.unique(i16)) > 200
    assert set(np.unique(pixels(corpus, "onebit.png"))) == {0, 255}
    rows = pixels(corpus, "exif6.jpg").mean(axis=(1, 2))
    assert rows[:6].max() < 40 and rows[10:].min() > 215  # rotated upright: old left half on top
    assert np.abs(pixels(corpus, "animated.gif") - RED).max() <= 2
    assert np.abs(pixels(corpus, "small_8x8.png") - BLUE).max() <= 1
    assert np.abs(pixels(corpus, "big_64x48.png") - GREEN).max() <= 1
    wide = pixels(corpus, "wide_100x20.png")
    assert wide[:, :6].max() < 10 and wide[:, 10:].min() > 245  # centre crop of a black|white split


def test_upscaled_images_are_flagged(corpus):
    _, _, m, _ = corpus
    assert [e["name"] for e in m["inputs"] if e.get("upscaled")] == ["small_8x8.png"]


def test_one_image_folder(workdir):
    from PIL import Image

    (workdir / "one").mkdir()
    Image.new("RGB", (20, 20), GREEN).save(workdir / "one" / "only.png")
    ds = prepare_dataset(config("--data", workdir / "one", "--image_size", "16"), progress="none")
    assert ds.images.shape == (1, 3, 16, 16) and (ds.images[0].transpose(1, 2, 0) == GREEN).all()


def test_gray_output_and_pad(workdir):
    root = workdir / "c"
    write_corpus(root)
    cfg = config("--data", root, "--image_size", "12x24", "--channels", "1", "--resize", "pad", "--background", "black")
    ds = prepare_dataset(cfg, progress="none")
    assert ds.images.shape == (15, 1, 12, 24)
    m = manifest(cfg, ds)
    green = ds.images[next(e["index"] for e in m["inputs"] if e["name"] == "big_64x48.png"), 0].astype(int)
    assert (green[:, :4] == 0).all() and (green[:, 20:] == 0).all()  # 64x48 fits as 16x12: black side bars
    assert np.abs(green[:, 5:19] - round(0.587 * 255)).max() <= 1  # luma of pure green
