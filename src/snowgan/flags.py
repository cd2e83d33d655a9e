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
import re
import sys
from importlib import resources
from pathlib import Path
from typing import Any, NoReturn, Optional

from .config import FIELDS, Config, ConfigError, apply_values, base_type, coerce
from .errors import check_path, did_you_mean
from .validation import validate

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
    """The settings that follow ``--loss`` unless set (its entry's ``defaults``, losses/entries.py).

    Torch-free: parsing flags, --help and every usage error answer without importing torch. An
    unknown name is the registry's error.
    """
    from .losses.entries import loss_entry

    return dict(loss_entry(loss).defaults)


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
    """A copy of a saved run's config with the values given now (``given``, from parse_args) on top;
    resolved, so frozen (config.FrozenSettings).

    Selectors (mode, name, run, ...) are never copied; the ``cmd`` section (options of the
    running command) always comes from ``now``. only: copy just these fields when given
    (e.g. DATA_SOURCE_FIELDS, to read a run's dataset from where it lives now).
    """
    out = Config.from_dict(saved.to_dict())
    values = {k: getattr(getattr(now, FIELDS[k][0]), k) for k in given - SELECTORS if k in FIELDS
              and (only is None or k in only)}
    apply_values(out, values, "settings given now")
    out.cmd = dataclasses.replace(now.cmd)
    return out.freeze()


def recipe_names() -> list[str]:
    root = resources.files("snowgan") / "recipes"
    return sorted(p.name[:-5] for p in root.iterdir() if p.name.endswith(".toml"))


def load_toml(path: str | Path, what: str) -> dict:
    """A TOML file a flag names (what: '--config'), parsed; ConfigError, one line, when missing or invalid."""
    p = check_path(what.lstrip("-"), str(path), "file", "a TOML file of settings")
    try:
        return tomllib.loads(p.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
        raise ConfigError(f"{what} {p} is not valid TOML: {e}") from None


def recipe_summaries() -> dict[str, str]:
    """{recipe name: the first comment line of its TOML file} (what `snowgan recipes` lists)."""
    out = {}
    for name in recipe_names():
        text = (resources.files("snowgan") / "recipes" / f"{name}.toml").read_text(encoding="utf-8")
        first = next((line.lstrip("#").strip() for line in text.splitlines() if line.startswith("#")), "")
        out[name] = first
    return out


def load_recipe(name: str) -> dict:
    if name not in recipe_names():
        raise ConfigError(f"--recipe {name!r} is unknown{did_you_mean(name, recipe_names())} "
                          f"(the recipes: {', '.join(recipe_names())}; snowgan recipes describes them)")
    text = (resources.files("snowgan") / "recipes" / f"{name}.toml").read_text(encoding="utf-8")
    return tomllib.loads(text)


class _Parser(argparse.ArgumentParser):
    """argparse without its usage dump: every parse error is a ConfigError (one line, exit 2)."""

    def error(self, message: str) -> "NoReturn":  # type: ignore[override]
        m = re.match(r"argument (--\w+): expected one argument", message)
        if m:
            raise ConfigError(f"{m.group(1)} needs a value")
        raise ConfigError(message)


def build_parser() -> argparse.ArgumentParser:
    """A parser that accepts every field of the schema as ``--name VALUE`` (bools: ``--name [BOOL]``).

    No help (``snowgan.helptext`` writes it, grouped by topic) and no prefix matching: ``--n_sample``
    is an unknown flag, not ``--n_samples``. Values stay strings here; ``coerce`` types them.
    """
    p = _Parser(prog="snowgan", add_help=False, allow_abbrev=False,
                argument_default=argparse.SUPPRESS)  # only flags the user typed appear in the namespace
    for name, (_, _, tp) in FIELDS.items():
        if name == "classes":  # `class` is a Python keyword, so the field is `classes`; both flags work
            p.add_argument("--class", "--classes", dest="classes", action="append")
        elif base_type(tp)[0] is bool:
            p.add_argument(f"--{name}", nargs="?", const="true")
        else:
            p.add_argument(f"--{name}")
    return p


def normalize_flags(argv: list[str]) -> list[str]:
    """``--gen-steps 4`` and ``--gen-steps=4`` -> ``--gen_steps``: hyphens and underscores both work.

    Only the name of a ``--flag`` token changes; values (``--data my-photos``) are left alone.
    """
    out = []
    for tok in argv:
        if tok.startswith("--") and len(tok) > 2:
            name, eq, value = tok[2:].partition("=")
            tok = "--" + name.replace("-", "_") + eq + value
        out.append(tok)
    return out


def parse_typed(argv: list[str]) -> dict[str, Any]:
    """The flags typed on a command line, typed by the schema: {field name: value}.

    Raises ConfigError (one line) for an unknown or misspelt flag, a stray word, a missing
    or bad value — with a "did you mean" for a flag name close to a real one.
    """
    ns, extras = build_parser().parse_known_args(normalize_flags([str(a) for a in argv]))
    for tok in extras:
        if tok.startswith("-"):
            name = tok.lstrip("-").partition("=")[0]
            hint = did_you_mean(name, list(FIELDS), "--")
            raise ConfigError(f"unknown flag {tok.partition('=')[0]}{hint or '; see snowgan --help'}")
        raise ConfigError(f"unexpected argument {tok!r}: settings are flags with a value, e.g. --data {tok}")
    raw = vars(ns)
    if "classes" in raw:  # --class a --class b -> "a,b"
        raw["classes"] = ",".join(raw["classes"])
    return {k: coerce(k, v) for k, v in raw.items()}


def parse_args(argv: Optional[list[str]] = None) -> tuple[Config, set[str]]:
    """Parse the command line into a Config. Returns (config, names of the fields given now).

    "Given now" = set by --recipe, --config or a flag: what ``overlay`` puts over a saved run.
    Raises ConfigError for unknown flags and bad values.
    """
    return resolve(parse_typed(sys.argv[1:] if argv is None else list(argv)))


# A new training run on the user's own images that names no recipe, family or loss gets the
# family that won the equal-time measurement (recipes/photos.toml says the figures), or the
# runner-up when the pretrained weights it needs are not installed.
DATA_RECIPE, DATA_RECIPE_WITHOUT_WEIGHTS = "photos", "photos-dcgan"
MODEL_CHOICES = frozenset({"recipe", "arch", "loss", "resume"})


def data_default_recipe(typed: dict[str, Any], file_values: Optional[dict] = None) -> Optional[str]:
    """The recipe a `train --data` run gets when neither the flags nor the --config file choose a model."""
    if typed.get("mode", "train") != "train" or not typed.get("data"):
        return None
    chosen = set(typed) | {k for section in (file_values or {}).values() if isinstance(section, dict)
                           for k in section}
    if chosen & MODEL_CHOICES:
        return None
    return data_recipe()


def data_recipe() -> str:
    """The recipe of a `train --data` run that chooses no model: photos, or photos-dcgan without Lite0's weights."""
    return DATA_RECIPE if lite0_installed() else DATA_RECIPE_WITHOUT_WEIGHTS


def recipe_values(name: str) -> dict[str, Any]:
    """A shipped recipe's settings, typed by the schema: {field name: value} (what --help quotes from it)."""
    cfg = Config()
    return {k: getattr(getattr(cfg, FIELDS[k][0]), k) for k in apply_values(cfg, load_recipe(name), f"recipe {name}")}


def lite0_installed() -> bool:
    """Whether the EfficientNet-Lite0 weights can be found (without importing torch).

    A $SNOWGAN_EFFICIENTNET_LITE0 naming a missing file counts as installed: the run then
    stops with the one-line error that names the variable, instead of silently training
    another family.
    """
    from .pretrained.sources import LITE0_WEIGHTS, locate

    try:
        return locate(LITE0_WEIGHTS) is not None
    except ConfigError:
        return True


def resolve(typed: dict[str, Any]) -> tuple[Config, set[str]]:
    """Layers 1 and 3-5 of the module docstring, then loss and mode defaults; validated."""
    cfg = Config()
    given: set[str] = set()
    file_values = load_toml(typed["config"], "--config") if typed.get("config") else None
    implicit: set[str] = set()  # the --data default recipe's fields: defaults, not "given now"
    recipe = typed.get("recipe") or data_default_recipe(typed, file_values)
    if recipe:
        from_recipe = apply_values(cfg, load_recipe(recipe), f"recipe {recipe}")
        given |= from_recipe
        cfg.run.recipe = recipe
        if not typed.get("recipe"):
            implicit = from_recipe
    later: set[str] = set()
    if file_values is not None:
        later |= apply_values(cfg, file_values, f"--config {typed['config']}")
    later |= apply_values(cfg, typed, "command line")
    given |= later
    apply_loss_defaults(cfg, given)  # the loss's defaults do not overwrite the default recipe's values
    apply_mode_defaults(cfg, given)
    validate(cfg)
    # A continued run keeps its own values for what the default recipe set (overlay reads `given`).
    return cfg.freeze(), (given | set(typed)) - (implicit - later)
