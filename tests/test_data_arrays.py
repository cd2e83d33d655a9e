"""Image arrays in .npy / .npz (snowgan.data.arrays via prepare_dataset)."""

from __future__ import annotations

import numpy as np
import pytest

from data_helpers import config
from snowgan.config import ConfigError
from snowgan.data.prepare import prepare_dataset


def images_nhwc(n=5, h=16, w=16, c=3, seed=0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (n, h, w, c), dtype=np.uint8)


def prep(path, *extra):
    return prepare_dataset(config("--data", path, "--image_size", "16", *extra), progress="none")


def test_uint8_nhwc_at_the_target_size_is_stored_unchanged(workdir):
    x = images_nhwc()
    np.save(workdir / "x.npy", x)
    ds = prep(workdir / "x.npy")
    assert np.array_equal(np.asarray(ds.images), x.transpose(0, 3, 1, 2))
    assert "read as NHWC" in ds.description and "uint8" in ds.description


@pytest.mark.parametrize("scale, shift, word", [(1 / 255, 0.0, "[0,1]"), (2 / 255, -1.0, "[-1,1]")])
def test_float_nchw_ranges_are_detected(workdir, scale, shift, word):
    x = images_nhwc()
    x[0, 0, 0] = (0, 255, 128)  # make sure both ends of the range occur
    f = (x.transpose(0, 3, 1, 2).astype(np.float32) * scale + shift)
    np.save(workdir / "f.npy", f)
    ds = prep(workdir / "f.npy")
    assert "NCHW" in ds.description and word in ds.description
    assert np.abs(np.asarray(ds.images).astype(int) - x.transpose(0, 3, 1, 2)).max() <= 1


def test_forced_layout_and_range(workdir):
    x = images_nhwc()
    f = x.astype(np.float32) / 255 * 0.5  # data only spans [0, 0.5]: auto would still say [0,1]
    np.save(workdir / "f.npy", f)
    ds = prep(workdir / "f.npy", "--npy_layout", "nhwc", "--npy_range", "signed")
    expected = np.rint((f + 1) * 127.5).clip(0, 255).astype(np.uint8).transpose(0, 3, 1, 2)
    assert np.array_equal(np.asarray(ds.images), expected)


def test_gray_nhw_rgba_and_resizing(workdir):
    g = np.random.default_rng(1).integers(0, 256, (3, 32, 32), dtype=np.uint8)
    np.save(workdir / "g.npy", g)
    assert prep(workdir / "g.npy", "--channels", "1").images.shape == (3, 1, 16, 16)
    rgba = np.zeros((2, 16, 16, 4), np.uint8)
    rgba[..., 1] = 255
    rgba[:, :, 8:, 3] = 255  # right half opaque green, left half transparent
    np.save(workdir / "rgba.npy", rgba)
    out = prep(workdir / "rgba.npy").images[0].transpose(1, 2, 0).astype(int)
    assert (out[:, :8] == 255).all() and (out[:, 8:] == (0, 255, 0)).all()


def test_npz_with_labels(workdir):
    np.savez(workdir / "d.npz", images=images_nhwc(n=4), labels=np.array([2, 10, 2, 0]))
    ds = prep(workdir / "d.npz")
    assert ds.class_names == ["0", "2", "10"] and ds.labels.tolist() == [1, 2, 1, 0]


@pytest.mark.parametrize("array, match", [
    (np.array([{"a": 1}], dtype=object), "does not unpickle"),
    (np.zeros((2, 16, 16, 3), np.float32) + 300.0, "--npy_range"),
    (np.zeros((2, 8, 16, 16), np.uint8), "--npy_layout"),
    (np.zeros((16, 16), np.uint8), "not \\(N,H,W\\)"),
], ids=["pickled-objects", "unknown-range", "no-channel-axis", "2-d"])
def test_unusable_arrays_are_config_errors(workdir, array, match):
    np.save(workdir / "bad.npy", array, allow_pickle=True)
    with pytest.raises(ConfigError, match=match):
        prep(workdir / "bad.npy")
