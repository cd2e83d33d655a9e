"""Class-conditional training (--conditional) and generation (--class): networks, refusals,
per-class grids, exact resume with labels, exports, and a model that draws the class it is asked for."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors.torch import load_file

from conftest import run_cli, run_cli_here
from snowgan.runfolder import RunFolder
from snowgan.models.dcgan.networks import Discriminator, Generator
from snowgan.sample import class_rows, parse_classes

TINY = ["--image_size", "16", "--builtin_count", "32", "--batch_size", "8", "--g_width", "8", "--d_width", "8",
        "--progress", "lines", "--log_every", "1", "--sample_every", "100", "--metrics_every", "0"]


def _run(workdir: Path, name: str) -> Path:
    (run,) = [p for p in (workdir / "runs").iterdir() if p.name.endswith("-" + name)]
    return run


def _colour_folder(root: Path, counts: dict[str, tuple[int, tuple[int, int, int]]], size: int = 16) -> Path:
    """root/CLASS/i.png: noisy images around one colour per class (counts: class -> (n, rgb))."""
    rng = np.random.default_rng(0)
    for name, (n, rgb) in counts.items():
        (root / name).mkdir(parents=True, exist_ok=True)
        for i in range(n):
            img = np.clip(np.array(rgb)[None, None] + rng.normal(0, 12, (size, size, 3)), 0, 255).astype(np.uint8)
            Image.fromarray(img).save(root / name / f"{i:03d}.png")
    return root


# ---- networks ---------------------------------------------------------------------------

def test_conditional_dcgan_networks_use_the_labels() -> None:
    torch.manual_seed(0)
    G, D = Generator((16, 16), 3, 16, 8, num_classes=3), Discriminator((16, 16), 3, 8, num_classes=3)
    z = torch.randn(6, 16)
    y = torch.tensor([0, 1, 2, 0, 1, 2])
    G.eval()
    with torch.no_grad():
        # CBN scales start at zero (every class starts from the same G); move them so classes differ.
        for m in G.modules():
            if hasattr(m, "gamma"):
                torch.nn.init.normal_(m.gamma.weight, 0, 0.5)
        a, b = G(z, y), G(z, (y + 1) % 3)
    assert a.shape == (6, 3, 16, 16) and a.abs().max() <= 1
    assert not torch.allclose(a, b)  # same z, other class: another image
    x = torch.rand(6, 3, 16, 16) * 2 - 1
    with torch.no_grad():
        torch.nn.init.normal_(D.project.embed.weight, 0, 1.0)
        s, s2 = D(x, y), D(x, (y + 1) % 3)
    assert s.shape == (6,) and not torch.allclose(s, s2)
    # labels=None: image i gets class i mod K, so old samplers show every class
    with torch.no_grad():
        assert torch.equal(G(z), G(z, torch.arange(6) % 3))
    # unconditional networks gain nothing (their checkpoints stay as they were)
    plain = list(Generator((16, 16), 3, 16, 8).state_dict()) + list(Discriminator((16, 16), 3, 8).state_dict())
    assert not [k for k in plain if "class_embed" in k or "project" in k or "gamma" in k]


def test_conditional_r3gan_embeds_the_class_in_g_and_projects_in_d() -> None:
    from snowgan.models.r3gan import networks as r3gan

    torch.manual_seed(0)
    G, D = r3gan.Generator((16, 16), 3, 16, 8, 32, 1, 3), r3gan.Discriminator((16, 16), 3, 8, 32, 1, 3)
    z, y = torch.randn(6, 16), torch.tensor([0, 1, 2, 0, 1, 2])
    x = G(z, y)
    assert x.shape == (6, 3, 16, 16) and D(x, y).shape == (6,)
    assert not torch.allclose(x, G(z, (y + 1) % 3)) and not torch.allclose(D(x, y), D(x, (y + 1) % 3))
    assert D.head.linear.out_features == r3gan.EMBED_DIM  # the head gives features, dotted with embed(y)
    plain = r3gan.Generator((16, 16), 3, 16, 8, 32, 1)
    assert sorted(plain.state_dict()) == sorted(k for k in G.state_dict() if not k.startswith("class_embed"))


def test_conditional_projected_gan_when_the_backbone_is_installed() -> None:
    from snowgan.models.projected.fastgan import FastGANGenerator
    from snowgan.models.projected.networks import ProjectedDiscriminator
    from snowgan.pretrained.efficientnet_lite import LITE0_WEIGHTS
    from snowgan.pretrained.weights import locate

    torch.manual_seed(0)
    G = FastGANGenerator((16, 16), 3, 16, 8, 64, num_classes=3).eval()
    # The class enters only through class-conditional norms, never joined to z: a G with an
    # embedding beside z drew every sample of a class as one image (docs/conditional.md).
    assert G.init[0].in_channels == 16 and not [k for k in G.state_dict() if k.startswith("class_embed")]
    assert isinstance(G.init[1].gamma, torch.nn.Linear)  # BigGAN's linear gains: tables learnt too slowly
    with torch.no_grad():
        for m in G.modules():  # the per-class scales start at zero: move them so classes differ
            if hasattr(m, "gamma"):
                torch.nn.init.normal_(m.gamma.weight, 0, 0.5)
    z, y = torch.randn(4, 16), torch.tensor([0, 1, 2, 0])
    x = G(z, y)
    assert x.shape == (4, 3, 16, 16) and not torch.allclose(x, G(z, (y + 1) % 3))
    plain = FastGANGenerator((16, 16), 3, 16, 8, 64).state_dict()
    assert not [k for k in plain if "gamma" in k or "embed" in k]  # unconditional checkpoints unchanged
    if locate(LITE0_WEIGHTS, None) is None:
        pytest.skip("efficientnet-lite0 weights not installed: the projected D cannot run")
    D = ProjectedDiscriminator((16, 16), 3, 8, 64, num_classes=3).eval()
    with torch.no_grad():  # as built: the class term counts from the first step (Projected GAN's scale)
        s, s2 = D(x.detach(), y), D(x.detach(), (y + 1) % 3)
        heads = D.forward_features(x.detach())
        plain = torch.stack([head.logits(h).float().mean(dim=(1, 2, 3)) for head, h in zip(D.blocks, heads)]).mean(0)
    assert s.shape == (4,)
    # the class changes the score by about as much as the unconditional score's own size, not by 2% of it
    assert (s - s2).abs().mean() > 0.2 * plain.abs().mean(), ((s - s2).abs().mean(), plain.abs().mean())


def test_class_weights_blend_classes_and_one_hot_weights_equal_indices() -> None:
    """Interpolation between classes feeds (B, K) weights; a one-hot row must be that class exactly."""
    from snowgan.models.r3gan import networks as r3gan
    from snowgan.report.render import class_path

    torch.manual_seed(0)
    y = torch.tensor([0, 2, 1])
    one_hot = torch.nn.functional.one_hot(y, 3).float()
    for G in (Generator((16, 16), 3, 16, 8, num_classes=3).eval(), r3gan.Generator((16, 16), 3, 16, 8, 32, 1, 3)):
        z = torch.randn(3, 16)
        with torch.no_grad():
            assert torch.allclose(G(z, y), G(z, one_hot), atol=1e-6)
    path = class_path(0, 2, 3, 8)
    assert path.shape == (8, 3) and path[0].tolist() == [1, 0, 0] and path[4].tolist() == [0, 0, 1]
    assert torch.allclose(path.sum(1), torch.ones(8))


def test_class_rows_and_parse_classes() -> None:
    z, y = class_rows(3, 2, 4, seed=1)
    assert z.shape == (6, 4) and y.tolist() == [0, 0, 0, 1, 1, 1]
    assert torch.equal(z[:3], z[3:])  # a column is one latent drawn as each class
    names = ["desert", "green", "snowy"]
    assert parse_classes("snowy,0", names) == [2, 0] and parse_classes(None, names) == []
    with pytest.raises(ValueError, match="'foo' is not a class.*desert, green, snowy"):
        parse_classes("foo", names)
    with pytest.raises(ValueError, match="--class needs a conditional model"):
        parse_classes("snowy", [])


# ---- class-balanced sampling ----------------------------------------------------------------

def test_balance_classes_draws_each_class_equally_deterministically_and_resumably() -> None:
    from snowgan.data.dataset import Batches
    from snowgan.data.prepared import PreparedDataset

    labels = np.array([0] * 30 + [1] * 6 + [2] * 4)  # imbalanced: 30 / 6 / 4
    ds = PreparedDataset(np.zeros((40, 3, 8, 8), np.uint8), labels, ["a", "b", "c"])
    dev = torch.device("cpu")
    b = Batches(ds, 5, dev, (8, 8), mirror=True, balance=True)
    assert b.epoch_len == 3 * (80 // 3)
    idx = np.concatenate([b.next_indices(8) for _ in range(b.epoch_len // 8)])
    counts = np.bincount(labels[idx % 40])  # 9 batches of 8 = 72 of the epoch's 78
    assert counts.sum() == 72 and counts.max() - counts.min() <= 6  # unbalanced it would be about 54 / 11 / 7
    full = labels[Batches(ds, 5, dev, (8, 8), mirror=True, balance=True)._epoch_perm(0) % 40]
    assert np.bincount(full).tolist() == [26, 26, 26]  # a whole epoch: exactly even
    # deterministic from (seed, epoch), and the position is all a resume needs
    a1 = Batches(ds, 5, dev, (8, 8), balance=True)
    first = [a1.next(8).labels.tolist() for _ in range(7)]
    a2 = Batches(ds, 5, dev, (8, 8), balance=True)
    for _ in range(3):
        a2.next(8)
    a3 = Batches(ds, 5, dev, (8, 8), balance=True)
    a3.load_state_dict(a2.state_dict())
    assert [a3.next(8).labels.tolist() for _ in range(4)] == first[3:]
    with pytest.raises(ValueError, match="--balance_classes needs labelled data"):
        Batches(PreparedDataset(np.zeros((4, 3, 8, 8), np.uint8)), 0, dev, (8, 8), balance=True)


# ---- training, resume, grids, generate, export --------------------------------------------

def test_conditional_training_grid_generate_and_export(workdir: Path) -> None:
    p = run_cli("--mode", "train", "--conditional", *TINY, "--steps", "2", "--name", "c", cwd=workdir)
    assert "conditional: 4 classes: desert 8, green 8, snowy 8, rocky 8" in p.stdout
    run = _run(workdir, "c")
    saved = json.loads((run / "config.json").read_text())
    # The classes are a start-up decision, recorded beside the settings the user gave (issue 40).
    assert saved["decided"]["class_names"] == ["desert", "green", "snowy", "rocky"]
    assert saved["model"]["class_names"] == ""
    assert RunFolder(run).load_config().class_list == ["desert", "green", "snowy", "rocky"]
    # the run's sample grid: one row per class (64 cells / 4 classes = 16 columns), cells enlarged to 64 px
    grid = Image.open(run / "samples" / "step-00000002.png")
    assert grid.size[1] < grid.size[0] / 3  # 4 rows of 16
    p = run_cli("--mode", "generate", "--class", "snowy", "--class", "0", "--n_samples", "2", "--out",
                workdir / "g", cwd=workdir)
    assert "classes: snowy, desert" in p.stdout
    assert sorted(f.name for f in (workdir / "g").iterdir()) == [
        "desert-seed000000.png", "desert-seed000001.png", "snowy-seed000000.png", "snowy-seed000001.png"]
    bad = run_cli_here("--mode", "generate", "--class", "lava", cwd=workdir, check=False)
    assert bad.returncode == 2 and "--class 'lava' is not a class of this model" in bad.stderr
    run_cli_here("--mode", "export", "--out", workdir / "model", cwd=workdir)
    card = (workdir / "model" / "README.md").read_text()
    assert "desert, green, snowy, rocky" in card
    run_cli_here("--mode", "generate", "--model", workdir / "model", "--class", "rocky", "--n_samples", "1",
                 "--format", "npy", "--out", workdir / "m", cwd=workdir)
    assert np.load(workdir / "m" / "labels.npy").tolist() == [3]
    from snowgan.export import load_generator

    G = load_generator(workdir / "model")
    assert G.class_names == ["desert", "green", "snowy", "rocky"] and G.num_classes == 4

    # average and interpolate within one class; per-class metrics beside the overall ones
    p = run_cli_here("--mode", "interpolate", "--class", "desert", "--class", "snowy", "--frames", "4",
                     "--keyframes", "2", cwd=workdir)
    assert "classes desert -> snowy -> desert" in p.stdout
    p = run_cli_here("--mode", "average", "--class", "snowy", "--n_samples", "8", cwd=workdir)
    assert "class snowy" in p.stdout and "beside 8 real" in p.stdout  # the 8 snowy images of 32
    p = run_cli_here("--mode", "evaluate", "--metrics", "swd", "--n_samples", "16", cwd=workdir)
    result = json.loads((run / "evaluations" / "00001-seed0.json").read_text())
    assert list(result["per_class"]) == ["desert", "green", "snowy", "rocky"]
    assert "4 generated vs 4 of 8 real images" in result["per_class"]["snowy"]["swd"]["protocol"]
    assert result["per_class"]["snowy"]["swd"]["value"] > 0 and "class snowy:" in p.stdout


@pytest.mark.slow
def test_conditional_resume_is_exact(workdir: Path) -> None:
    args = ["--mode", "train", "--conditional", "--loss", "nonsat", *TINY, "--deterministic", "--seed", "3"]
    run_cli(*args, "--steps", "4", "--name", "straight", cwd=workdir)
    run_cli_here(*args, "--steps", "2", "--name", "split", cwd=workdir)
    p = run_cli_here("--mode", "train", "--name", "split", "--steps", "4", cwd=workdir)
    assert "resumed from step-00000002" in p.stdout and "conditional: 4 classes" in p.stdout

    def weights(run: Path) -> dict[str, torch.Tensor]:
        ck = run / "checkpoints" / "step-00000004"
        return {**load_file(str(ck / "model.safetensors")), **load_file(str(ck / "state.safetensors"))}

    a, b = weights(_run(workdir, "straight")), weights(_run(workdir, "split"))
    assert a.keys() == b.keys() and any("project" in k for k in a)
    for k in a:
        assert torch.equal(a[k], b[k]), k


# ---- refusals ------------------------------------------------------------------------------

def _refused(workdir: Path, *args: str, here: bool = True) -> str:
    """The last stderr line of a conditional run refused at set-up (in this process unless here=False)."""
    run = run_cli_here if here else run_cli
    p = run("--mode", "train", "--conditional", *TINY, "--steps", "1", *args, cwd=workdir, check=False)
    assert p.returncode == 2, p.stdout + p.stderr
    assert not (workdir / "runs").exists() or not any((workdir / "runs").iterdir())  # no run folder left
    return p.stderr.strip().splitlines()[-1]


def test_conditional_refusals(workdir: Path) -> None:
    flat = workdir / "flat"
    flat.mkdir()
    for i in range(8):
        Image.fromarray(np.full((16, 16, 3), 30 * i, np.uint8)).save(flat / f"{i}.png")
    assert "the data has no labels; give them with sub-folders per class" in _refused(workdir, "--data", str(flat), here=False)

    loose = _colour_folder(workdir / "loose", {"red": (8, (200, 0, 0)), "blue": (8, (0, 0, 200))})
    Image.fromarray(np.zeros((16, 16, 3), np.uint8)).save(loose / "stray.png")
    assert "1 of 17 images have no label" in _refused(workdir, "--data", str(loose))

    csv = workdir / "labels.csv"
    csv.write_text("file,label\n" + "".join(f"{i}.png,{'a' if i < 4 else 'b'}\n" for i in range(7)))
    assert "1 images have no row in --labels" in _refused(workdir, "--data", str(flat), "--labels", str(csv))

    few = _colour_folder(workdir / "few", {"red": (12, (200, 0, 0)), "blue": (3, (0, 0, 200))})
    msg = _refused(workdir, "--data", str(few))
    assert "class 'blue' has 3 images, fewer than its share of a batch (4 = --batch_size 8 / 2 classes)" in msg

    p = run_cli_here("--mode", "train", "--conditional", "--arch", "progan", *TINY, cwd=workdir, check=False)
    assert p.returncode == 2 and "--conditional is not supported with --arch progan" in p.stderr


# ---- behaviour -----------------------------------------------------------------------------

@pytest.mark.slow
def test_conditional_model_draws_the_class_it_is_asked_for(workdir: Path) -> None:
    """Two tiny classes, red and blue, each half bright and half dark: a few hundred steps, then each
    --class comes out in its colour, and not as one image (the variety inside a class survives:
    an earlier G, which joined a class embedding to z, drew every sample of a class alike)."""
    data = _colour_folder(workdir / "rb", {"red": (16, (230, 30, 30)), "blue": (16, (30, 30, 230))})
    _colour_folder(workdir / "rb-dark", {"red": (16, (110, 15, 15)), "blue": (16, (15, 15, 110))})
    for name in ("red", "blue"):
        for p in (workdir / "rb-dark" / name).iterdir():
            p.rename(data / name / f"dark-{p.name}")
    run_cli("--mode", "train", "--conditional", "--data", data, "--loss", "nonsat", "--image_size", "16",
            "--batch_size", "16", "--g_width", "16", "--d_width", "16", "--latent_dim", "16", "--steps", "300",
            "--gen_lr", "0.002", "--disc_lr", "0.002",  # 10x DCGAN's: 300 steps are enough at this size
            "--ema_kimg", "0.5", "--progress", "none", "--log_every", "100", "--sample_every", "1000",
            "--metrics_every", "0", "--checkpoint_every", "1000", "--name", "rb", cwd=workdir, timeout=600)
    for name, hot, cold in (("red", 0, 2), ("blue", 2, 0)):
        out = workdir / f"gen-{name}"
        (run_cli if name == "red" else run_cli_here)("--mode", "generate", "--class", name, "--n_samples", "32",
                                                      "--format", "npy", "--out", out, cwd=workdir)
        images = np.load(out / "samples.npy").astype(float)  # (32, 16, 16, 3): N x H x W x C
        mean = images.reshape(-1, 3).mean(0)  # (R, G, B) over every pixel
        assert mean[hot] > mean[cold] + 40, f"--class {name}: mean colour {mean.round()}"
        level = images[..., hot].mean((1, 2))  # each sample's brightness in its class's colour
        bright = (level > 170).mean()
        assert 0.15 < bright < 0.85 and level.std() > 20, \
            f"--class {name}: samples' levels {np.sort(level).round()} (real: half ~230, half ~110)"


@pytest.mark.slow
def test_conditional_two_processes_match_one(workdir: Path) -> None:
    """DDP with labels: each rank keeps its slice of the global batch *and its labels*; 2 gloo ranks = 1 process."""
    from test_distributed import ARGS, _max_diff, _weights, torchrun

    args = ["--mode", "train", "--conditional", *ARGS, "--steps", "3"]
    run_cli(*args, "--name", "one", cwd=workdir)
    p = torchrun(workdir, *args, "--name", "two")
    assert p.returncode == 0, p.stdout + p.stderr
    assert "split over 2 processes" in p.stdout and "conditional: 4 classes: desert 16" in p.stdout
    one, two = _weights(workdir, "one", 3), _weights(workdir, "two", 3)
    assert any("gamma" in k for k in one) and any("project" in k for k in one)
    assert _max_diff(one, two) < 1e-6


# ---- the --data default on labelled data -----------------------------------------------------

def test_class_mix_draws_the_data_proportions_interleaved() -> None:
    from snowgan.sample import class_mix

    assert torch.equal(class_mix(1000, [256] * 4), torch.arange(1000) % 4)  # balanced: every class in turn
    nine = class_mix(100, [900, 100])
    assert torch.bincount(nine).tolist() == [90, 10] and 1 in nine[:10].tolist()  # a prefix is mixed too
    odd = class_mix(7, [5, 3, 0])
    assert torch.bincount(odd, minlength=3).tolist() == [4, 3, 0]  # largest remainder; an empty class gets none
    with pytest.raises(ValueError, match="positive sum"):
        class_mix(4, [0, 0])


def test_which_runs_train_on_the_data_classes_by_default() -> None:
    """Only the --data default recipe, only when nothing chose otherwise and every image has a usable class."""
    from snowgan.data.classes import conditional_by_default
    from snowgan.data.prepared import PreparedDataset
    from snowgan.flags import parse_args

    images = np.zeros((16, 3, 8, 8), np.uint8)
    two = PreparedDataset(images, np.repeat([0, 1], 8), ["blue", "red"])
    cfg, given = parse_args(["--data", "photos/"])
    assert cfg.run.recipe == "photos" and conditional_by_default(cfg, set(given), two) == (True, None)
    for flags in (["--conditional", "false"], ["--recipe", "photos"], ["--arch", "dcgan"], ["--loss", "hinge"]):
        cfg, given = parse_args(["--data", "photos/", *flags])
        assert conditional_by_default(cfg, set(given), two) == (False, None), flags
    cfg, given = parse_args(["--data", "photos/"])
    # No classes, or one: nothing to use and nothing to say.
    assert conditional_by_default(cfg, set(given), PreparedDataset(images)) == (False, None)
    assert conditional_by_default(cfg, set(given), PreparedDataset(images, np.zeros(16, np.int64), ["one"])) == \
        (False, None)
    # Classes that cannot be used: unconditional, and the log says why.
    used, note = conditional_by_default(cfg, set(given), PreparedDataset(images[:4], None, [], unlabelled=2))
    assert not used and note == ("note: training without the data's classes: 2 of 4 images have no label; label "
                                 "every image (sub-folders per class, --labels labels.csv, or a JSONL label field "
                                 "(--field_label)) to train on them")
    few = PreparedDataset(images, np.array([0] * 14 + [1] * 2), ["blue", "red"])  # red: 2 < 16 / 2
    used, note = conditional_by_default(cfg, set(given), few)
    assert not used and "class 'red' has 2 images, fewer than its share of a batch (8 = --batch_size 16" in note


@pytest.mark.slow
def test_the_data_default_trains_on_the_folder_classes(workdir: Path, tmp_path: Path) -> None:
    """`train --data FOLDER` with sub-folders: a conditional run that says so; --conditional false and a
    flat folder: not."""
    from lite0_helpers import fake_state_dict
    from snowgan.pretrained.efficientnet_lite import LITE0_WEIGHTS

    weights = tmp_path / "fake-lite0.pth"
    torch.save(fake_state_dict(0), weights)
    env = {LITE0_WEIGHTS.env: str(weights)}
    folder = _colour_folder(workdir / "shirts", {"blue": (8, (0, 0, 200)), "red": (12, (200, 0, 0))}, size=32)
    small = ["--image_size", "32", "--batch_size", "4", "--g_width", "4", "--d_width", "4", "--max_width", "16",
             "--latent_dim", "16", "--backbone_size", "64", "--progress", "lines", "--metrics_every", "0",
             "--steps", "2"]
    p = run_cli("--mode", "train", "--data", folder, *small, "--name", "auto", cwd=workdir, env=env)
    assert "note: your --data run trains --recipe photos" in p.stdout
    assert "conditional: 2 classes: blue 8, red 12 (every image has a class, so the --data default trains on " \
           "them" in p.stdout
    saved = json.loads((_run(workdir, "auto") / "config.json").read_text())
    assert not saved["model"]["conditional"]  # the settings say what was given; the run decided the rest
    assert saved["decided"]["conditional"] and saved["decided"]["class_names"] == ["blue", "red"]
    p = run_cli_here("--mode", "generate", "--run", "auto", "--class", "red", "--n_samples", "1", "--out",
                     workdir / "g", cwd=workdir, env=env)
    assert [f.name for f in (workdir / "g").iterdir()] == ["red-seed000000.png"]
    run_cli_here("--mode", "evaluate", "--run", "auto", "--data", folder, "--metrics", "swd", "--n_samples", "20",
                 cwd=workdir, env=env)
    result = json.loads((_run(workdir, "auto") / "evaluations" / "00001-seed0.json").read_text())
    assert "classes in the real set's proportions" in result["latents"]  # 8 blue : 12 red, not 10 : 10
    assert "20 generated vs" in result["metrics"]["swd"]["protocol"] and list(result["per_class"]) == ["blue", "red"]
    # Resuming keeps what the run was; asking for nothing else changes nothing.
    p = run_cli_here("--mode", "train", "--name", "auto", "--steps", "3", cwd=workdir, env=env)
    assert "resumed from step-00000002" in p.stdout and "conditional: 2 classes" in p.stdout

    p = run_cli_here("--mode", "train", "--data", folder, *small, "--conditional", "false", "--name", "off",
                     cwd=workdir, env=env)
    assert "conditional:" not in p.stdout
    assert not json.loads((_run(workdir, "off") / "config.json").read_text())["model"]["conditional"]
    flat = workdir / "flat"
    flat.mkdir()
    for f in sorted((folder / "red").iterdir()):
        (flat / f.name).write_bytes(f.read_bytes())
    p = run_cli_here("--mode", "train", "--data", flat, *small, "--name", "flat", cwd=workdir, env=env)
    assert "conditional:" not in p.stdout and "note: your --data run trains --recipe photos" in p.stdout
    assert "without the data's classes" not in p.stdout
    Image.fromarray(np.zeros((32, 32, 3), np.uint8)).save(folder / "stray.png")  # one image outside the classes
    p = run_cli_here("--mode", "train", "--data", folder, *small, "--name", "stray", cwd=workdir, env=env)
    assert "conditional:" not in p.stdout and \
        "note: training without the data's classes: 1 of 21 images have no label" in p.stdout
