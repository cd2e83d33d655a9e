"""Where a Config's values come from: recipes, --config TOML files, command-line flags.

Precedence, lowest first: dataclass defaults < ``--recipe NAME`` (a TOML shipped in
``snowgan/recipes``) < ``--config FILE.toml`` < command-line flags. Then the optimiser
settings that belong to a loss (n_critic, learning rates, Adam betas; LOSS_DEFAULTS)
follow the chosen loss wherever none of those set them: ``--loss nonsat`` alone gives
the DCGAN paper's 1 D step, 2e-4 and betas (0.5, 0.999).
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

# Optimiser defaults that belong to a loss; applied by parse_args to every one of these a
# recipe, config file or flag did not set. wgan-gp: Gulrajani et al. 2017 (n_critic 5,
# Adam 1e-4, betas 0.5/0.9 as in the seed write-ups); nonsat/hinge: the DCGAN paper's Adam
# (2e-4, beta1 0.5) with one D step. Measured reason it matters: with the DCGAN loss, G
# stepped more often than D collapses (README "The two seed commands"); a 5-step critic
# keeps the seed's --gen_steps 4 below n_critic.
LOSS_DEFAULTS: dict[str, dict[str, Any]] = {
    "wgan-gp": {"disc_steps": 5, "gen_lr": 1e-4, "disc_lr": 1e-4, "beta1": 0.5, "beta2": 0.9},
    "nonsat": {"disc_steps": 1, "gen_lr": 2e-4, "disc_lr": 2e-4, "beta1": 0.5, "beta2": 0.999},
    "hinge": {"disc_steps": 1, "gen_lr": 2e-4, "disc_lr": 2e-4, "beta1": 0.5, "beta2": 0.999},
}


def apply_loss_defaults(cfg: Config, already_set: set[str]) -> None:
    """Give the loss's own optimiser defaults (LOSS_DEFAULTS) to the fields nobody set."""
    for key, value in LOSS_DEFAULTS[cfg.model.loss].items():
        if key not in already_set:
            setattr(getattr(cfg, FIELDS[key][0]), key, value)


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
    for sec, cls in SECTIONS.items():
        group = p.add_argument_group(sec, cls.__doc__.strip().splitlines()[0] if cls.__doc__ else None)
        for f in dataclasses.fields(cls):
            base, _ = base_type(FIELDS[f.name][2])
            default = f.default if f.default is not dataclasses.MISSING else f.default_factory()
            if f.name in LOSS_DEFAULTS["wgan-gp"]:
                default = ", ".join(f"{d[f.name]} with {loss}" for loss, d in LOSS_DEFAULTS.items())
            help_text = f"{f.metadata.get('help', '')} (default: {default})"
            if base is bool:
                group.add_argument(f"--{f.name}", nargs="?", const="true", metavar="BOOL", help=help_text)
            else:
                group.add_argument(f"--{f.name}", metavar=base.__name__.upper(), help=help_text)
    return p


def parse_args(argv: Optional[list[str]] = None) -> tuple[Config, set[str]]:
    """Parse the command line into a Config. Returns (config, names the user set).

    Raises ConfigError for unknown values; argparse itself exits 2 on unknown flags.
    """
    ns = vars(build_parser().parse_args(argv))
    explicit = {k: coerce(k, v) for k, v in ns.items()}
    cfg = Config()
    already_set: set[str] = set()
    if explicit.get("recipe"):
        already_set |= apply_values(cfg, load_recipe(explicit["recipe"]), f"recipe {explicit['recipe']}")
    if explicit.get("config"):
        already_set |= apply_values(cfg, load_toml(explicit["config"], "--config"), f"--config {explicit['config']}")
    already_set |= apply_values(cfg, explicit, "command line")
    apply_loss_defaults(cfg, already_set)
    validate(cfg)
    return cfg, set(explicit)
