"""Config: precedence recipe < --config < flags, JSON round trip, size rule."""

import json
from pathlib import Path

import pytest

from snowgan.config import Config, ConfigError
from snowgan.sizes import parse_image_size
from snowgan.flags import parse_args, recipe_names


def test_precedence_and_types(tmp_path: Path) -> None:
    toml = tmp_path / "c.toml"
    toml.write_text('[train]\nbatch_size = 8\ndisc_lr = 0.5\n[data]\nmirror = true\n')
    cfg, explicit = parse_args(["--recipe", "demo", "--config", str(toml), "--disc_lr", "0.0001"])
    assert cfg.train.batch_size == 8          # from --config over the recipe's 64
    assert cfg.train.disc_lr == 0.0001        # flag over file
    assert cfg.data.image_size == "32"        # from the recipe (default 64)
    assert cfg.data.mirror is True
    # "Given now": what the recipe, the file and the flags set (what overrides a resumed run's values).
    assert {"recipe", "config", "disc_lr", "batch_size", "mirror", "image_size"} <= explicit
    assert "gen_steps" not in explicit and "n_samples" not in explicit


def test_mode_defaults_come_from_the_schema() -> None:
    assert parse_args(["--mode", "generate"])[0].cmd.n_samples == 10
    assert parse_args(["--mode", "evaluate"])[0].cmd.n_samples == 1000
    assert parse_args(["--mode", "evaluate", "--n_samples", "64"])[0].cmd.n_samples == 64
    assert parse_args(["--mode", "features"])[0].cmd.n_samples is None  # every image of --images


def test_overlay_puts_settings_given_now_over_a_saved_run(tmp_path: Path) -> None:
    from snowgan.flags import DATA_SOURCE_FIELDS, overlay

    saved, _ = parse_args(["--recipe", "demo", "--steps", "10", "--data", "old/"])
    toml = tmp_path / "more.toml"
    toml.write_text("[train]\nsteps = 999\n")
    now, given = parse_args(["--mode", "train", "--config", str(toml), "--data", "new/"])
    merged = overlay(saved, now, given)
    assert merged.train.steps == 999 and merged.data.data == "new/"
    assert merged.data.image_size == "32" and merged.train.disc_steps == 1  # the run's own, not now's defaults
    data_only = overlay(saved, now, given, only=DATA_SOURCE_FIELDS)
    assert data_only.data.data == "new/" and data_only.train.steps == 10


def test_choices_come_from_the_registries() -> None:
    from snowgan.config import FIELDS
    from snowgan.models.families import FAMILIES, schedules
    from snowgan.losses.entries import LOSSES
    from snowgan.registries import OPTIMIZERS

    for name, table in (("arch", FAMILIES), ("loss", LOSSES), ("optimizer", OPTIMIZERS), ("schedule", schedules())):
        assert list(FIELDS[name][1].metadata["choices"]) == list(table)
    with pytest.raises(ConfigError, match="--loss: 'nope' is not one of wgan-gp, nonsat, hinge, rpgan"):
        parse_args(["--loss", "nope"])


def test_resolved_configs_of_seed_commands_and_recipes_are_unchanged() -> None:
    """Recorded before the core refactor (tests/data/resolved_configs.json): same values, field by field.

    Fields added since (r2_gamma, blocks_per_stage, schedule, tensorboard, new_data, verbose) must be at their defaults, which
    keep behaviour as before.
    """
    import json

    recorded = json.loads((Path(__file__).parent / "data" / "resolved_configs.json").read_text())
    added = {"train": {"schedule": "constant", "balance_classes": False, "minutes": None},
             "model": {"r2_gamma": 0.0, "blocks_per_stage": 1, "conditional": False, "class_names": "",
                       "backbone_size": 0, "per_logit_loss": False},
             "log": {"tensorboard": False},
             "run": {"verbose": False},
             "cmd": {"new_data": False, "classes": None, "image": None, "latents": None, "project_steps": 200,
                     "perceptual_weight": 1.0, "host": "127.0.0.1", "port": 8765, "list": False}}
    for case, entry in recorded.items():
        now = parse_args(entry["argv"])[0].to_dict()
        for sec, values in now.items():
            for key, value in values.items():
                want = entry["config"][sec].get(key, added.get(sec, {}).get(key, "<missing>"))
                assert value == want, f"{case}: {sec}.{key} is {value!r}, was {want!r}"


def test_json_round_trip() -> None:
    cfg, _ = parse_args(["--gen_steps", "4", "--image_size", "96x160", "--kimg", "1.5"])
    again = Config.from_dict(Config.from_dict(cfg.to_dict()).to_dict())
    assert again == cfg and again.image_hw == (96, 160)


@pytest.mark.parametrize("text, hw", [("32", (32, 32)), ("160", (160, 160)), ("96x160", (96, 160)),
                                      ("1024", (1024, 1024)), ("24", (24, 24))])
def test_valid_sizes(text: str, hw: tuple) -> None:
    assert parse_image_size(text) == hw


@pytest.mark.parametrize("text", ["100", "7", "abc", "64x64x3", "8"])
def test_invalid_sizes(text: str) -> None:
    with pytest.raises(ConfigError, match="--image_size"):
        parse_image_size(text)


def test_unknown_toml_key_and_bad_values(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("[train]\nbatch_sise = 8\n")
    with pytest.raises(ConfigError, match="batch_sise"):
        parse_args(["--config", str(bad)])
    with pytest.raises(ConfigError, match="--recipe"):
        parse_args(["--recipe", "nope"])
    with pytest.raises(ConfigError, match="--gen_steps"):
        parse_args(["--gen_steps", "two"])


def test_recipes_all_parse() -> None:
    assert "demo" in recipe_names()
    for name in recipe_names():
        cfg, _ = parse_args(["--recipe", name])
        assert cfg.image_hw[0] > 0


def test_optimiser_defaults_follow_the_loss_unless_set() -> None:
    t = parse_args([])[0].train  # the SnowGAN write-up's WGAN-GP
    assert (t.disc_steps, t.gen_lr, t.disc_lr, t.beta1, t.beta2) == (5, 1e-4, 1e-4, 0.5, 0.9)
    t = parse_args(["--loss", "hinge"])[0].train  # DCGAN's Adam, one D step
    assert (t.disc_steps, t.gen_lr, t.disc_lr, t.beta2) == (1, 2e-4, 2e-4, 0.999)
    t = parse_args(["--loss", "nonsat", "--disc_steps", "2", "--disc_lr", "1e-4"])[0].train  # a flag wins
    assert (t.disc_steps, t.gen_lr, t.disc_lr) == (2, 2e-4, 1e-4)
    t = parse_args(["--recipe", "bobross"])[0].train  # a recipe's values win over the loss's defaults
    assert (t.disc_steps, t.gen_lr, t.beta1, t.beta2) == (1, 1e-3, 0.0, 0.99)
    t = parse_args(["--recipe", "mountains"])[0].train  # nonsat recipe without disc_steps: the loss's 1
    assert t.disc_steps == 1


def test_resolved_settings_are_frozen_and_start_up_decisions_live_beside_them(tmp_path) -> None:
    """Issue 40: settings are resolved once, then frozen; what a run decides when it starts (its name,
    classes, length, intervals) is decided.Decided, saved beside them in config.json, never written
    back. config.json files from before the record load as they are."""
    from snowgan.config import FrozenSettings
    from snowgan.decided import Decided, config_json, effective
    from snowgan.runfolder import RunFolder

    cfg, _ = parse_args(["--image_size", "32", "--conditional"])
    assert cfg.frozen
    with pytest.raises(FrozenSettings, match=r"^settings are resolved once, then frozen: cannot set ModelConfig.arch"):
        cfg.model.arch = "r3gan"
    with pytest.raises(FrozenSettings):
        cfg.model = cfg.model
    changed = cfg.replace(kimg=2.5, arch="r3gan")  # a changed copy, checked like a flag
    assert changed.train.kimg == 2.5 and changed.model.arch == "r3gan" and cfg.train.kimg is None
    with pytest.raises(ConfigError, match="--arch"):
        cfg.replace(arch="nope")

    decided = Decided(run_name="00001-x", class_names=("a", "b"), kimg=3.0, intervals={"sample_every": 7})
    run = tmp_path / "00001-x"
    run.mkdir()
    (run / "config.json").write_text(json.dumps(config_json(cfg, decided)), encoding="utf-8")
    saved = json.loads((run / "config.json").read_text())
    assert saved["model"]["class_names"] == "" and saved["train"]["kimg"] is None  # the settings as given
    assert saved["decided"] == {"run_name": "00001-x", "class_names": ["a", "b"], "kimg": 3.0,
                                "intervals": {"sample_every": 7}}
    loaded = RunFolder(run).load_config()  # the effective config: the decisions in place, frozen
    assert loaded.class_list == ["a", "b"] and loaded.train.kimg == 3.0 and loaded.log.sample_every == 7
    assert loaded.run.name == "00001-x" and loaded.frozen
    assert RunFolder(run).load_decided() == decided
    # Given again when the run continues, a setting wins over what was decided for it.
    assert decided.without({"kimg", "sample_every"}).values() == {"name": "00001-x", "class_names": "a,b"}
    old = cfg.to_dict()  # an older snowgan's config.json: the values were in the settings
    old["train"]["kimg"] = 9.0
    assert effective(old).train.kimg == 9.0
