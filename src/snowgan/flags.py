"""Where a Config's values come from: one resolver for every command.

Precedence, lowest first:

1. the schema's defaults (config.py);
2. a saved run's config.json, when the command continues or reads a run (``overlay``);
3. ``--recipe NAME`` (a TOML shipped in ``snowgan/recipes``);
4. ``--config FILE.toml``;
5. flags typed on the command line;

then, for every field none of 3-5 set (and only for a new run, whose saved config does
not already hold them): the settings that belong to the chosen loss (its class's
``defaults``: n_critic, learning rates, Adam betas, penalty weights; ``--loss nonsat``
alone gives the DCGAN paper's 1 D step, 2e-4 and betas (0.5, 0.999)), and the running
mode's own defaults from the schema (``mode_defaults``: evaluate measures 1000 samples
where generate writes 10).

``parse_args`` returns the config and the names of the fields set by 3-5 ("given now");
``overlay`` puts exactly those over a saved run's config, so a value in a ``--config``
file overrides a resumed run's as a flag does.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from importlib import resources
from pathlib import Path
from typing import Any, Optional

from .config import FIELDS, SECTIONS, Config, ConfigError, apply_values, base_type, coerce, validate

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on 3.10 only
    import tomli as tomllib

# Fields that select a run or a settings source rather than configure the run itself.
SELECTORS = frozenset({"mode", "resume", "name", "run", "recipe", "config"})

# Where a run's images are found and how they are read, but not their geometry (size,
# channels, crop): a command reading a run's data may be told its new place, while the
# geometry stays the run's own so the images fit its networks.
DATA_SOURCE_FIELDS = frozenset({
    "data", "data_format", "labels", "field_image", "field_label", "field_invert", "field_orientation",
    "field_mask", "npy_layout", "npy_range", "cache_dir", "max_bad_fraction", "workers", "builtin_count",
    "builtin_start"})


def loss_defaults(loss: str) -> dict[str, Any]:
    """The settings that follow ``--loss`` unless set (the loss class's ``defaults``)."""
    from .losses import loss_class

    return dict(loss_class(loss).defaults)


def apply_loss_defaults(cfg: Config, already_set: set[str]) -> None:
    """Give the loss's own defaults to the fields nobody set."""
    for key, value in loss_defaults(cfg.model.loss).items():
        if key not in already_set:
            setattr(getattr(cfg, FIELDS[key][0]), key, value)


def apply_mode_defaults(cfg: Config, already_set: set[str]) -> None:
    """Give the running mode's defaults (schema ``mode_defaults``) to the fields nobody set."""
    for name, (sec, f, _) in FIELDS.items():
        per_mode = f.metadata.get("mode_defaults", {})
        if cfg.run.mode in per_mode and name not in already_set:
            setattr(getattr(cfg, sec), name, per_mode[cfg.run.mode])


def overlay(saved: Config, now: Config, given: set[str], only: Optional[frozenset[str]] = None) -> Config:
    """A copy of a saved run's config with the values given now (``given``, from parse_args) on top.

    Selectors (mode, name, run, ...) are never copied; the ``cmd`` section (options of the
    running command) always comes from ``now``. only: copy just these fields when given
    (e.g. DATA_SOURCE_FIELDS, to read a run's dataset from where it lives now).
    """
    out = Config.from_dict(saved.to_dict())
    values = {k: getattr(getattr(now, FIELDS[k][0]), k) for k in given - SELECTORS if k in FIELDS
              and (only is None or k in only)}
    apply_values(out, values, "settings given now")
    out.cmd = dataclasses.replace(now.cmd)
    return out


def recipe_names() -> list[str]:
    root = resources.files("snowgan") / "recipes"
    return sorted(p.name[:-5] for p in root.iterdir() if p.name.endswith(".toml"))


def load_toml(path: str | Path, what: str) -> dict:
    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"{what} {p} does not exist")
    try:
        return tomllib.loads(p.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
        raise ConfigError(f"{what} {p} is not valid TOML: {e}") from None


def load_recipe(name: str) -> dict:
    if name not in recipe_names():
        raise ConfigError(f"--recipe {name!r} is unknown; choose one of: {', '.join(recipe_names())}")
    text = (resources.files("snowgan") / "recipes" / f"{name}.toml").read_text(encoding="utf-8")
    return tomllib.loads(text)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="snowgan",
        description="Train GANs on your own images; generate images, videos, metrics and a report.",
        argument_default=argparse.SUPPRESS,  # only flags the user typed appear in the namespace
    )
    from .registries import LOSSES

    per_loss = {loss: loss_defaults(loss) for loss in LOSSES}
    for sec, cls in SECTIONS.items():
        group = p.add_argument_group(sec, cls.__doc__.strip().splitlines()[0] if cls.__doc__ else None)
        for f in dataclasses.fields(cls):
            base, _ = base_type(FIELDS[f.name][2])
            default = f.default if f.default is not dataclasses.MISSING else f.default_factory()
            if any(f.name in d for d in per_loss.values()):
                default = ", ".join(f"{d.get(f.name, default)} with {loss}" for loss, d in per_loss.items())
            help_text = f"{f.metadata.get('help', '')} (default: {default})"
            if f.name == "classes":  # `class` is a Python keyword, so the field is `classes`; both flags work
                group.add_argument("--class", "--classes", dest="classes", action="append", metavar="NAME",
                                   help=help_text)
            elif base is bool:
                group.add_argument(f"--{f.name}", nargs="?", const="true", metavar="BOOL", help=help_text)
            else:
                group.add_argument(f"--{f.name}", metavar=base.__name__.upper(), help=help_text)
    return p


def parse_args(argv: Optional[list[str]] = None) -> tuple[Config, set[str]]:
    """Parse the command line into a Config. Returns (config, names of the fields given now).

    "Given now" = set by --recipe, --config or a flag: what ``overlay`` puts over a saved run.
    Raises ConfigError for unknown values; argparse itself exits 2 on unknown flags.
    """
    raw = vars(build_parser().parse_args(argv))
    if "classes" in raw:  # --class a --class b -> "a,b"
        raw["classes"] = ",".join(raw["classes"])
    typed = {k: coerce(k, v) for k, v in raw.items()}
    return resolve(typed)


def resolve(typed: dict[str, Any]) -> tuple[Config, set[str]]:
    """Layers 1 and 3-5 of the module docstring, then loss and mode defaults; validated."""
    cfg = Config()
    given: set[str] = set()
    if typed.get("recipe"):
        given |= apply_values(cfg, load_recipe(typed["recipe"]), f"recipe {typed['recipe']}")
    if typed.get("config"):
        given |= apply_values(cfg, load_toml(typed["config"], "--config"), f"--config {typed['config']}")
    given |= apply_values(cfg, typed, "command line")
    apply_loss_defaults(cfg, given)
    apply_mode_defaults(cfg, given)
    validate(cfg)
    return cfg, given | set(typed)
