"""Value checks of a resolved Config, run by flags.resolve before any command creates anything.

One field at a time (a positive length, a fraction in [0, 1]) or a few together (batch size
vs --grad_accum, --conditional vs --arch). Checks that need the world outside the settings
(is the run there, does a flag act on this command) are checks.py's.
"""

from __future__ import annotations

from .config import Config, ConfigError
from .errors import did_you_mean
from .registries import CONDITIONAL_FAMILIES
from .sizes import parse_grid, parse_image_size


def validate(cfg: Config) -> None:
    """Cross-field checks; raises ConfigError with what to do."""
    parse_image_size(cfg.data.image_size)
    t = cfg.train
    for name in ("gen_steps", "disc_steps", "batch_size", "grad_accum", "reg_interval"):
        if getattr(t, name) < 1:
            raise ConfigError(f"--{name} must be at least 1")
    if t.batch_size % t.grad_accum:
        raise ConfigError(f"--batch_size {t.batch_size} is not divisible by --grad_accum {t.grad_accum}")
    for name in ("gen_lr", "disc_lr"):
        if not getattr(t, name) > 0:
            raise ConfigError(f"--{name} must be positive")
    if not (0 <= t.beta1 < 1 and 0 <= t.beta2 < 1):
        raise ConfigError("--beta1 and --beta2 must be in [0, 1)")
    if cfg.model.conditional and cfg.model.arch not in CONDITIONAL_FAMILIES:
        raise ConfigError(f"--conditional is not supported with --arch {cfg.model.arch}; use one of "
                          f"{', '.join(CONDITIONAL_FAMILIES)}")
    if cfg.model.backbone_size < 0 or cfg.model.backbone_size % 32:
        raise ConfigError(f"--backbone_size {cfg.model.backbone_size}: give a multiple of 32 (e.g. 64, 128, 224), "
                          f"or 0 for the automatic size")
    if cfg.model.per_logit_loss and cfg.model.arch != "projected":
        raise ConfigError(f"--per_logit_loss is for --arch projected (its heads score patches); "
                          f"--arch {cfg.model.arch} scores whole images: drop the flag")
    if cfg.model.latent_dim < 1:
        raise ConfigError("--latent_dim must be at least 1")
    if not 0 <= cfg.aug.aug_p <= 1:
        raise ConfigError("--aug_p must be in [0, 1]")
    for name in ("log_every", "sample_every", "checkpoint_every"):
        if getattr(cfg.log, name) < 1:
            raise ConfigError(f"--{name} must be at least 1")
    # Training length: checked here, before any run folder exists (a run of 0 steps used to
    # leave a folder without a checkpoint behind, which then hid older runs from generate).
    if t.steps is not None and t.steps < 1:
        raise ConfigError(f"--steps {t.steps}: the number of iterations must be at least 1")
    for name in ("kimg", "epochs", "minutes"):
        value = getattr(t, name)
        if value is not None and not value > 0:
            raise ConfigError(f"--{name} {value:g}: the training length must be positive")
    c = cfg.cmd
    if c.truncation is not None and not c.truncation > 0:
        raise ConfigError(f"--truncation {c.truncation:g}: must be positive (latent values with |z| above it "
                          "are redrawn; 0.5 to 2 is usual)")
    if c.n_samples is not None and c.n_samples < 1:
        raise ConfigError(f"--n_samples {c.n_samples}: must be at least 1")
    if c.grid is not None:
        parse_grid(c.grid)
    if c.checkpoint not in ("auto", "best", "latest") and not c.checkpoint.isdigit():
        raise ConfigError(f"--checkpoint {c.checkpoint!r}: give auto, best, latest or a step number"
                          f"{did_you_mean(c.checkpoint, ['auto', 'best', 'latest'])}")
    if c.fps < 1:
        raise ConfigError(f"--fps {c.fps}: must be at least 1")
    if c.frames < 2:
        raise ConfigError(f"--frames {c.frames}: a video needs at least 2")
