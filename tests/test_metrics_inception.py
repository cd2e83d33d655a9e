"""The FID Inception network: TF1 resize, strict loading of the standard key names, weights files."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest
import torch

from snowgan.config import ConfigError
from snowgan.metrics.inception import FIDInceptionV3
from snowgan.metrics.tfresize import resize_bilinear_tf1
from snowgan.metrics.weights import (WEIGHTS_NAME, download_weights, load_inception, read_state_dict,
                                     resolve_weights)
from metric_fixtures import STANDARD_CONVS, random_standard_state_dict


# ---- TF1 bilinear resize -------------------------------------------------------------

def tf1_resize_reference(img: np.ndarray, out_h: int, out_w: int) -> np.ndarray:
    """Pixel-by-pixel TF1 resize_bilinear(align_corners=False, no half-pixel centres).

    Written from TF's resize_bilinear_op.cc: scale = in / out and source = dst * scale
    in float32 (as TF computes them), lower = floor, upper = min(lower + 1, in - 1),
    lerp = source - lower; top/bottom rows then columns (pixel arithmetic in float64).
    """
    in_h, in_w = img.shape
    sh, sw = np.float32(in_h) / np.float32(out_h), np.float32(in_w) / np.float32(out_w)
    out = np.zeros((out_h, out_w))
    for y in range(out_h):
        fy = np.float32(y) * sh
        y0 = int(np.floor(fy))
        y1 = min(y0 + 1, in_h - 1)
        ly = float(fy - np.float32(y0))
        for x in range(out_w):
            fx = np.float32(x) * sw
            x0 = int(np.floor(fx))
            x1 = min(x0 + 1, in_w - 1)
            lx = float(fx - np.float32(x0))
            top = img[y0, x0] + (img[y0, x1] - img[y0, x0]) * lx
            bottom = img[y1, x0] + (img[y1, x1] - img[y1, x0]) * lx
            out[y, x] = top + (bottom - top) * ly
    return out


def test_tf1_resize_hand_computed_values() -> None:
    # [0, 1] widened to 4: TF1 samples at 0, 0.5, 1, 1.5 (clamped) -> 0, .5, 1, 1.
    # (PyTorch's align_corners=False would give 0, .25, .75, 1.)
    x = torch.tensor([[[[0.0, 1.0]]]])
    assert resize_bilinear_tf1(x, (1, 4)).flatten().tolist() == [0.0, 0.5, 1.0, 1.0]


@pytest.mark.parametrize("in_hw,out_hw", [((5, 7), (299, 299)), ((37, 23), (11, 13)), ((8, 8), (299, 299)),
                                          ((32, 48), (299, 299))])
def test_tf1_resize_matches_reference_within_1e5(in_hw: tuple[int, int], out_hw: tuple[int, int]) -> None:
    rng = np.random.default_rng(0)
    img = rng.random(in_hw)  # a fixed input in [0, 1]
    ref = tf1_resize_reference(img, *out_hw)
    got32 = resize_bilinear_tf1(torch.from_numpy(img).float()[None, None], out_hw)[0, 0].double().numpy()
    assert np.abs(got32 - ref).max() < 1e-5
    got64 = resize_bilinear_tf1(torch.from_numpy(img)[None, None], out_hw)[0, 0].numpy()
    assert np.abs(got64 - ref).max() < 1e-12


@pytest.fixture(scope="module")
def weights_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("weights") / "random_inception.pth"
    torch.save(random_standard_state_dict(), path)
    return path


def test_standard_layout_has_94_convolutions() -> None:
    assert len(STANDARD_CONVS) == 94


def test_random_standard_weights_load_strictly_and_run(weights_file: Path) -> None:
    w = resolve_weights(str(weights_file))
    assert w.sha256 == hashlib.sha256(weights_file.read_bytes()).hexdigest() and not w.standard
    net = load_inception(w)
    sd = read_state_dict(weights_file)
    assert torch.equal(net.Mixed_6e.branch7x7dbl_5.conv.weight, sd["Mixed_6e.branch7x7dbl_5.conv.weight"])
    assert torch.equal(net.Mixed_7c.branch_pool.bn.running_var, sd["Mixed_7c.branch_pool.bn.running_var"])
    images = torch.from_numpy(np.random.default_rng(0).integers(0, 256, (3, 3, 16, 20))).float()
    with torch.inference_mode():
        both = net(images)
        one = net(images[1:2])
    assert both.shape == (3, 2048) and torch.isfinite(both).all()
    assert (both >= 0).all()  # pool3 averages ReLU outputs
    assert torch.allclose(both[1:2], one, rtol=1e-4, atol=1e-5)  # no mixing across the batch
    assert not torch.allclose(both[0], both[1])


def test_weights_without_num_batches_tracked_also_load(tmp_path: Path) -> None:
    path = tmp_path / "w.safetensors"
    from safetensors.torch import save_file

    save_file(random_standard_state_dict(1, with_num_batches=False), str(path))
    net = load_inception(resolve_weights(str(path)))
    assert isinstance(net, FIDInceptionV3) and not net.training


def test_wrong_key_names_are_refused(tmp_path: Path) -> None:
    sd = random_standard_state_dict(2)
    sd["Mixed_5b.branch1x1.conv.weight_renamed"] = sd.pop("Mixed_5b.branch1x1.conv.weight")
    path = tmp_path / "bad.pth"
    torch.save(sd, path)
    with pytest.raises(ConfigError, match="not the FID Inception-V3 weights"):
        load_inception(resolve_weights(str(path)))


def test_non_weights_files_are_refused(tmp_path: Path) -> None:
    junk = tmp_path / "junk.pth"
    junk.write_bytes(b"this is not a checkpoint")
    with pytest.raises(ConfigError, match="cannot read"):
        read_state_dict(junk)
    with pytest.raises(ConfigError, match="file not found"):
        resolve_weights(str(tmp_path / "missing.pth"))


# ---- cache folder and verified download --------------------------------------------------

def test_download_is_verified_then_cached(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    source = tmp_path / "served.bin"
    source.write_bytes(b"pretend weights " * 1000)
    good = hashlib.sha256(source.read_bytes()).hexdigest()
    dest = tmp_path / "cache" / "weights" / WEIGHTS_NAME
    with pytest.raises(ConfigError, match="SHA-256"):
        download_weights(dest, url=source.as_uri(), sha256="0" * 64, progress="none")
    assert not dest.exists() and not list(dest.parent.glob("*.partial"))
    assert download_weights(dest, url=source.as_uri(), sha256=good, progress="none") == dest
    assert dest.read_bytes() == source.read_bytes()


def test_offline_without_weights_says_where_to_put_them(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SNOWGAN_CACHE", str(tmp_path / "cache"))
    expected = str(tmp_path / "cache" / "weights" / WEIGHTS_NAME)
    with pytest.raises(ConfigError) as e:
        resolve_weights(None, allow_download=False)
    assert expected in str(e.value) and "--inception_weights" in str(e.value)
    with pytest.raises(ConfigError, match="download failed") as e:
        resolve_weights(None, url=(tmp_path / "nowhere.pth").as_uri(), progress="none")
    assert expected in str(e.value)


def test_damaged_cached_file_is_reported(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SNOWGAN_CACHE", str(tmp_path))
    cached = tmp_path / "weights" / WEIGHTS_NAME
    cached.parent.mkdir(parents=True)
    cached.write_bytes(b"truncated")
    with pytest.raises(ConfigError, match="damaged"):
        resolve_weights(None)


def test_folded_batchnorm_gives_the_same_features(weights_file: Path) -> None:
    sd = read_state_dict(weights_file)
    plain = FIDInceptionV3().eval()
    plain.load_state_dict(sd)
    fast = load_inception(resolve_weights(str(weights_file)))  # folded, channels_last
    assert fast.Conv2d_1a_3x3.folded_weight is not None
    assert set(fast.state_dict()) == set(sd) - {k for k in sd if k.endswith("num_batches_tracked")}
    x = torch.from_numpy(np.random.default_rng(1).integers(0, 256, (2, 3, 12, 12))).float()
    with torch.inference_mode():
        a, b = plain(x), fast(x)
    assert torch.allclose(a, b, rtol=1e-4, atol=1e-5 * float(a.abs().max()))
    fast.load_state_dict(sd)  # new weights: the folded copies are dropped, not silently stale
    assert fast.Conv2d_1a_3x3.folded_weight is None
