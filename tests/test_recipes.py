"""The five seed recipes parse, validate, build their networks, state what their seeds did,
and each trains, resumes and generates through the real CLI (tiny sizes, built-in data)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from PIL import Image

from conftest import run_cli, run_cli_here
from test_techniques_cli import PG, TINY

from snowgan.runfolder import RunFolder
from snowgan.augment import from_config as augment_from_config
from snowgan.flags import parse_args, recipe_names
from snowgan.models.registry import build_networks
from snowgan.optim import AdaBelief, build_optimizer
from snowgan.models.growing import Schedule

SEEDS = ["snowgan", "mountains", "houses", "bobross", "noise"]


def test_every_seed_has_a_recipe() -> None:
    assert set(SEEDS) <= set(recipe_names())


def test_recipes_list_names_the_projects_in_words(tmp_path: Path) -> None:
    """`snowgan recipes` calls each write-up by its project, not "Seed 003" ("seed" is --seed's word)."""
    out = run_cli("recipes", cwd=tmp_path).stdout
    lines = {line.split()[0]: line for line in out.splitlines()[1:] if line.strip()}
    assert "Seed 0" not in out and "seed 0" not in out
    for recipe, project in [("snowgan", "SnowGAN project"), ("mountains", "mountains project"),
                            ("houses", "houses project"), ("bobross", "Bob Ross project"), ("noise", "noise")]:
        assert project in lines[recipe], lines[recipe]


@pytest.mark.parametrize("name", SEEDS)
def test_recipe_builds_and_runs_at_a_tiny_size(name: str) -> None:
    # Flags override the recipe: shrink everything so the networks build in a blink.
    cfg, explicit = parse_args(["--recipe", name, "--image_size", "32", "--g_width", "4", "--d_width", "4",
                                "--max_width", "16", "--latent_dim", "8"])
    assert cfg.run.recipe == name and "image_size" in explicit
    torch.manual_seed(0)
    G, D = build_networks(cfg)
    x = G(torch.randn(4, 8))
    assert x.shape == (4, cfg.data.channels, 32, 32)
    aug, _ = augment_from_config(cfg)
    assert D(aug(x) if aug else x).shape == (4,)
    opt = build_optimizer(cfg.train.optimizer, D.parameters(), cfg.train.disc_lr, (cfg.train.beta1, cfg.train.beta2))
    assert opt.defaults["lr"] == cfg.train.disc_lr


def test_recipes_state_what_their_seeds_did() -> None:
    snow = parse_args(["--recipe", "snowgan"])[0]
    assert (snow.model.loss, snow.model.latent_dim, snow.data.image_size, snow.train.disc_lr) == \
        ("wgan-gp", 100, "1024", 1e-4)
    assert parse_args(["--recipe", "snowgan", "--gen_steps", "4"])[0].train.gen_steps == 4  # its README
    mnt = parse_args(["--recipe", "mountains"])[0]
    assert (mnt.data.image_size, mnt.data.mirror, mnt.train.pause_d_alternate) == ("160", True, False)
    houses = parse_args(["--recipe", "houses"])[0]
    assert houses.model.spectral_norm and houses.train.optimizer == "adabelief"
    assert houses.aug.augment == "color,translation,cutout"
    assert isinstance(build_optimizer("adabelief", [torch.nn.Parameter(torch.zeros(1))], 1e-4, (0.5, 0.9)),
                      AdaBelief)
    bob = parse_args(["--recipe", "bobross"])[0]
    sched = Schedule(bob, bob.image_hw)
    assert sched.resolutions[0] == (4, 4) and sched.resolutions[-1] == (256, 256)
    assert (bob.model.drift_weight, bob.train.gen_lr, bob.train.beta1, bob.train.beta2) == (0.001, 1e-3, 0.0, 0.99)
    assert sched.final_stable_at <= bob.train.kimg * 1000  # training outlasts the growth
    noise = parse_args(["--recipe", "noise"])[0]
    assert (noise.data.image_size, noise.model.g_norm, noise.train.disc_steps, noise.model.gp_weight) == \
        ("32", "instance", 5, 10.0)
    assert (noise.train.gen_lr, noise.train.beta1, noise.train.beta2, noise.model.latent_dim) == (1e-4, 0.5, 0.9, 100)


@pytest.mark.slow
@pytest.mark.parametrize("recipe", SEEDS)
def test_recipe_trains_resumes_and_generates(workdir: Path, recipe: str) -> None:
    extra = PG if recipe == "bobross" else []
    run_cli("--mode", "train", "--recipe", recipe, *TINY, *extra, "--steps", "2", "--sample_every", "2",
            "--disc_steps", "2", "--name", recipe, cwd=workdir)
    p = run_cli_here("--mode", "train", "--name", recipe, "--steps", "3", cwd=workdir)
    assert "resumed from step-00000002" in p.stdout
    (run,) = (workdir / "runs").iterdir()
    cfg = RunFolder(run).load_config().to_dict()
    assert cfg["run"]["recipe"] == recipe and cfg["data"]["image_size"] == "16"
    stats = [json.loads(x) for x in (run / "stats.jsonl").read_text().splitlines()]
    assert [s["step"] for s in stats] == [1, 2, 3]
    run_cli_here("--mode", "generate", "--run", recipe, "--n_samples", "2", "--out", workdir / "gen", cwd=workdir)
    images = sorted((workdir / "gen").glob("*.png"))
    # A progressive run generates at the resolution it has reached (8x8 here), the others at 16x16.
    h, w = (int(v) for v in stats[-1].get("res", "16x16").split("x"))
    assert len(images) == 2 and Image.open(images[0]).size == (w, h)
    if recipe == "bobross":
        assert (h, w) == (8, 8)
