"""Value checks of a resolved Config, run by flags.resolve before any command creates anything.

One field at a time (a positive length, a fraction in [0, 1]) or a few together (batch size
vs --grad_accum, --conditional vs --arch). Checks that need the world outside the settings
(is the run there, does a flag act on this command) are checks.py's.
"""

from __future__ import annotations

from .config import FIELDS, Config, ConfigError, flat_fields
from .errors import did_you_mean
from .models.families import conditional_families, family, owned_options
from .sizes import parse_grid, parse_image_size

# Every number a flag can ask for, bounded: (least, most). The most is far above any real use,
# and low enough that a typo (a few zeros too many) is one line here rather than memory or disk
# exhausted minutes later. Sizes that multiply (a grid's pixels, the bytes generate writes
# against the free space) are checked where they are known: commands/generate.py, media.py.
BOUNDS: dict[str, tuple[float, float]] = {
    "n_samples": (1, 1_000_000),       # generate writes in batches; evaluate holds them all (FID's standard: 50k)
    "builtin_count": (1, 1_000_000),   # drawn and cached as uint8: 12 GiB at 64 px
    "metrics_samples": (1, 50_000),    # generated images per in-training metric check
    "grid_size": (1, 1_024),           # images in each sample grid during training
    "frames": (2, 10_000),             # video frames, held in memory (5.5 minutes at 30 fps)
    "keyframes": (1, 1_000),
    "fps": (1, 240),                   # beyond what any screen shows
    "project_steps": (1, 100_000),
    "perceptual_weight": (0, 1_000),   # 1 is the default; 0 = pixels only
    "latent_dim": (1, 4_096),
    "g_width": (1, 4_096), "d_width": (1, 4_096), "max_width": (1, 4_096),
    "blocks_per_stage": (1, 16),
    "batch_size": (1, 8_192),
    "grad_accum": (1, 8_192),
    "gen_steps": (1, 1_000), "disc_steps": (1, 1_000),
    "reg_interval": (1, 1_000),
    "workers": (0, 256),
}


def _number(x: float, commas: str = "") -> str:
    return f"{x:{commas}}" if isinstance(x, int) else f"{x:g}"


def check_bounds(cfg: Config) -> None:
    """ConfigError naming the first flag in BOUNDS outside its range (None = unset passes)."""
    values = flat_fields(cfg)
    for name, (least, most) in BOUNDS.items():
        value = values[name]
        if value is None or least <= value <= most:
            continue
        if value < least:
            raise ConfigError(f"--{name} {_number(value)}: must be at least {_number(least)}")
        raise ConfigError(f"--{name} {_number(value)}: at most {_number(most, ',')} (snowgan's bound against typos; "
                          f"docs/training.md lists them)")


def validate(cfg: Config) -> None:
    """Cross-field checks; raises ConfigError with what to do."""
    parse_image_size(cfg.data.image_size)
    check_bounds(cfg)
    t = cfg.train
    if t.batch_size % t.grad_accum:
        raise ConfigError(f"--batch_size {t.batch_size} is not divisible by --grad_accum {t.grad_accum}")
    for name in ("gen_lr", "disc_lr"):
        if not getattr(t, name) > 0:
            raise ConfigError(f"--{name} must be positive")
    if not (0 <= t.beta1 < 1 and 0 <= t.beta2 < 1):
        raise ConfigError("--beta1 and --beta2 must be in [0, 1)")
    check_family_options(cfg)
    if cfg.model.backbone_size < 0 or cfg.model.backbone_size % 32:
        raise ConfigError(f"--backbone_size {cfg.model.backbone_size}: give a multiple of 32 (e.g. 64, 128, 224), "
                          f"or 0 for the automatic size")
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
    if c.grid is not None:
        parse_grid(c.grid)
    if c.checkpoint not in ("auto", "best", "latest") and not c.checkpoint.isdigit():
        raise ConfigError(f"--checkpoint {c.checkpoint!r}: give auto, best, latest or a step number"
                          f"{did_you_mean(c.checkpoint, ['auto', 'best', 'latest'])}")


def check_family_options(cfg: Config) -> None:
    """One rule for every family (its entry in models/families.py): --arch must exist, --conditional
    needs a family whose networks take labels, and an option a family owns is refused, set away
    from its default, under another family (which would silently ignore it)."""
    m = cfg.model
    fam = family(m.arch)
    if m.conditional and not fam.conditional:
        raise ConfigError(f"--conditional is not supported with --arch {m.arch}; use one of "
                          f"{', '.join(conditional_families())}")
    for option, owners in owned_options().items():
        if m.arch in owners or getattr(m, option) == FIELDS[option][1].default:
            continue
        raise ConfigError(f"--{option} belongs to --arch {' or '.join(owners)}; --arch {m.arch} does not read it: "
                          f"drop the flag or choose --arch {owners[0]}")
