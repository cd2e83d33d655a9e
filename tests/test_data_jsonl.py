"""JSONL shards (plain, gzipped, zipped): base64 images with invert / mask / orientation / label fields."""

from __future__ import annotations

import base64
import gzip
import json
import zipfile

import numpy as np
import pytest
from PIL import Image

from data_helpers import GREEN, RED, b64, config, encode, gradient16, halves, manifest
from snowgan.config import ConfigError
from snowgan.data.prepare import prepare_dataset


def shard_a() -> list[str]:
    wrapped = base64.encodebytes(encode(Image.new("RGB", (16, 16), GREEN))).decode()  # MIME line breaks
    return [
        json.dumps({"image": b64(encode(Image.new("RGB", (16, 16), RED)), data_uri=True), "label": "red"}),
        json.dumps({"image": "!!! not base64 !!!", "label": "red"}),
        json.dumps({"label": "red"}),
        "",
        "{broken json",
        json.dumps({"image": b64(encode(halves())), "invert": True, "label": "inverted"}),
        json.dumps({"image": wrapped, "label": "wrapped"}),
    ]


def shard_b() -> list[str]:
    upright_source = b64(encode(halves()))  # black left, white right
    return [
        json.dumps({"image": b64(encode(Image.new("RGB", (16, 16), GREEN))), "mask": b64(encode(halves())),
                    "label": "masked"}),
        json.dumps({"image": upright_source, "orientation": 6, "label": "rotated"}),
        json.dumps({"image": upright_source, "exif_rotation": 90, "label": "rotated"}),
        json.dumps({"image": b64(encode(gradient16())), "label": "sixteen"}),
    ]


def write_shards(folder):
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "a.jsonl").write_text("\n".join(shard_a()) + "\n", encoding="utf-8")
    with gzip.open(folder / "b.jsonl.gz", "wt", encoding="utf-8") as f:
        f.write("\n".join(shard_b()) + "\n")
    return folder


EXPECT_SKIPS = {"a.jsonl:2": "field 'image' is not valid base64", "a.jsonl:3": "no 'image' field",
                "a.jsonl:5": "not valid JSON"}


def by_name(cfg, ds, prefix=""):
    m = manifest(cfg, ds)
    return {e["name"][len(prefix):]: e for e in m["inputs"]}, m


def check(cfg, ds, prefix=""):
    entries, m = by_name(cfg, ds, prefix)
    assert len(entries) == 10  # blank lines are not inputs
    for name, reason in EXPECT_SKIPS.items():
        assert entries[name]["status"] == "skipped" and entries[name]["reason"].startswith(reason), entries[name]
    assert len(ds) == 7 and ds.images.shape == (7, 3, 16, 16)

    def px(name):
        return ds.images[entries[name]["index"]].astype(int).transpose(1, 2, 0)

    assert (px("a.jsonl:1") == RED).all()
    inv = px("a.jsonl:6")
    assert (inv[:, :8] == 255).all() and (inv[:, 8:] == 0).all()
    assert (px("a.jsonl:7") == GREEN).all()
    masked = px("b.jsonl.gz:1")
    assert (masked[:, :8] == 255).all() and (masked[:, 8:] == GREEN).all()
    for line in ("b.jsonl.gz:2", "b.jsonl.gz:3"):
        rot = px(line)
        assert (rot[:8] == 0).all() and (rot[8:] == 255).all(), line  # black left half turned to the top
    s16 = px("b.jsonl.gz:4")[..., 0]
    assert s16.min() == 0 and s16.max() == 255 and len(np.unique(s16)) > 200
    assert ds.class_names == ["inverted", "masked", "red", "rotated", "sixteen", "wrapped"]
    assert [ds.class_names[i] for i in ds.labels[:3]] == ["red", "inverted", "wrapped"]
    return entries


def test_folder_of_plain_and_gzipped_shards(workdir):
    cfg = config("--data", write_shards(workdir / "shards"), "--image_size", "16")
    ds = prepare_dataset(cfg, progress="none")
    check(cfg, ds)
    assert "JSONL" in ds.description and "3 of 10 inputs skipped" in ds.description


def test_zip_of_shards_gives_the_same_pixels(workdir):
    folder = write_shards(workdir / "shards")
    plain = prepare_dataset(config("--data", folder, "--image_size", "16"), progress="none")
    with zipfile.ZipFile(workdir / "shards.zip", "w") as z:
        z.write(folder / "a.jsonl", "a.jsonl")
        z.write(folder / "b.jsonl.gz", "b.jsonl.gz")
        z.writestr("__MACOSX/._a.jsonl", b"junk")
    cfg = config("--data", workdir / "shards.zip", "--image_size", "16")
    ds = prepare_dataset(cfg, progress="none")
    check(cfg, ds, prefix="shards.zip/")
    assert np.array_equal(np.asarray(ds.images), np.asarray(plain.images))


def test_single_shard_file_and_alpha_crop(workdir):
    folder = write_shards(workdir / "shards")
    cfg = config("--data", folder / "b.jsonl.gz", "--image_size", "16", "--alpha", "crop")
    ds = prepare_dataset(cfg, progress="none")
    assert len(ds) == 4
    assert (ds.images[0].transpose(1, 2, 0) == GREEN).all()  # cropped to the mask: only green is left


def test_field_names_can_be_remapped(workdir):
    corner = np.full((16, 16), 100, np.uint8)
    corner[:8, :8] = 0  # black top-left quarter on gray
    line = json.dumps({"img": b64(encode(Image.fromarray(corner))), "neg": "true", "turn": 3, "cls": 7})
    (workdir / "s.jsonl").write_text(line + "\n")
    cfg = config("--data", workdir / "s.jsonl", "--image_size", "16", "--channels", "1", "--field_image", "img",
                 "--field_invert", "neg", "--field_orientation", "turn", "--field_label", "cls")
    ds = prepare_dataset(cfg, progress="none")
    out = ds.images[0, 0].astype(int)
    # orientation 3 turns it 180 degrees (corner to bottom-right), then invert: 0 -> 255, 100 -> 155
    assert (out[8:, 8:] == 255).all() and (out[:8] == 155).all() and (out[:, :8] == 155).all()
    assert ds.class_names == ["7"]


def test_partial_labels_are_dropped_with_a_note(workdir):
    lines = [json.dumps({"image": b64(encode(Image.new("L", (16, 16), v))), **({"label": "x"} if v else {})})
             for v in (0, 50, 100)]
    (workdir / "s.jsonl").write_text("\n".join(lines))
    ds = prepare_dataset(config("--data", workdir / "s.jsonl", "--image_size", "16"), progress="none")
    assert ds.labels is None and "labels ignored: 1 of 3" in ds.description


def test_a_broken_gzip_shard_is_one_counted_skip(workdir):
    folder = write_shards(workdir / "shards")
    good = (folder / "b.jsonl.gz").read_bytes()
    (folder / "c.jsonl.gz").write_bytes(good[: len(good) // 2])
    cfg = config("--data", folder, "--image_size", "16")
    ds = prepare_dataset(cfg, progress="none")
    entries, _ = by_name(cfg, ds)
    bad = [e for n, e in entries.items() if n.startswith("c.jsonl.gz") and e["status"] == "skipped"]
    assert len(bad) == 1 and bad[0]["reason"].startswith("shard unreadable")


def test_zip_without_shards_or_images_is_a_config_error(workdir):
    with zipfile.ZipFile(workdir / "x.zip", "w") as z:
        z.writestr("notes.txt", "nothing here")
    with pytest.raises(ConfigError, match="no images"):
        prepare_dataset(config("--data", workdir / "x.zip", "--image_size", "16"), progress="none")
