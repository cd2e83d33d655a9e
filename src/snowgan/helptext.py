"""What ``snowgan``, ``snowgan --help`` and ``snowgan COMMAND --help`` print.

Everything here is read from the schema (config.py: each field's help, default, choices,
``mode_defaults``, ``shown_default`` and ``topic``) and the registries, so a new flag or a
new choice appears in the help without an edit here.

Flags are grouped by *topic*, what a user is doing when they set one (TOPICS). A field's
topic is its ``topic`` metadata, else its config section's name. Each command lists the
topics it reads (COMMANDS[...].topics): its help shows only those, and a flag typed for a
command that does not read its topic gets a one-line note that it is ignored
(checks.ignored_flags). tests/test_cli_help.py checks that every ``cfg.SECTION.FIELD`` a
command module reads is in one of its topics, so that note is never wrong.
"""

from __future__ import annotations

import dataclasses
import functools
import shutil
import textwrap
from dataclasses import dataclass
from typing import Any, Optional

from . import __version__
from .config import FIELDS, base_type
from .models.families import FAMILIES, option_owners

# topic -> title, in the order of the full --help.
TOPICS: dict[str, str] = {
    "start": "Start or continue a training run",
    "pick": "Which run, checkpoint or model",
    "data": "Your images",
    "size": "Image size and how images are fit to it",
    "model": "Networks and loss",
    "train": "Training length and optimisation",
    "aug": "Augmentation (for small datasets)",
    "log": "What the run folder receives, and how often",
    "metrics": "Metrics",
    "evaluations": "Earlier evaluations",
    "output": "Images and files written",
    "video": "Videos",
    "features": "Inception features and FID statistics",
    "probe": "Probing the discriminator with your labels",
    "export": "Exporting a model",
    "project": "Projecting a photo into the model",
    "studio": "The studio web page",
    "general": "Seed, device, display and settings files",
}


@dataclass(frozen=True)
class Command:
    """One ``snowgan COMMAND``: a line for the overview, a paragraph, examples, the topics it reads."""

    summary: str
    about: str
    topics: tuple[str, ...]
    examples: tuple[str, ...]
    reads_run: bool = True  # uses a trained run (or exported model), so training settings are the run's


_TRAINING = ("start", "data", "size", "model", "train", "aug", "log", "metrics", "general")

COMMANDS: dict[str, Command] = {
    "train": Command(
        "train a GAN on a folder of images (no --data: the built-in mountains)",
        "Train a generator on your images. Each run gets a new numbered folder runs/NNNNN-NAME with its "
        "settings, log.txt, stats, sample grids, checkpoints and report.html (which reloads itself while "
        "training runs); --resume RUN, or a --name you give that an existing run has, continues that run "
        "exactly where it stopped. A --data run that names no --recipe, --arch or --loss trains the photos "
        "recipe (photos-dcgan without the pretrained weights) for 20 minutes: the defaults below say "
        "'with --data' where that differs.",
        _TRAINING,
        ("snowgan train --data photos/ --image_size 64 --name photos",
         "snowgan train --recipe demo",
         "snowgan train --name photos --kimg 200      # continue run 'photos' up to 200k images",
         "snowgan --mode train --gen_steps 4 --disc_lr 0.0001"),
        reads_run=False),
    "generate": Command(
        "images (PNG or .npy) or one grid from a trained run",
        "Write images from a run's EMA generator, one seed per image (--seed, --seed+1, ...), so any single "
        "image can be made again. The images have the size the run was trained at.",
        ("pick", "output", "general"),
        ("snowgan generate --n_samples 10",
         "snowgan generate --grid 8x8 --out grid.png --label_seeds",
         "snowgan generate --run photos --checkpoint best --truncation 1.5 --format npy")),
    "interpolate": Command(
        "a looping GIF + MP4 through latent space (or a --walk)",
        "Render a looping video that moves through --keyframes latents (or a smooth random --walk), one "
        "image or a --grid of them; with a keyframe --grid also a still PNG of the paths.",
        ("pick", "output", "video", "general"),
        ("snowgan interpolate",
         "snowgan interpolate --grid 3x4 --frames 240 --fps 30",
         "snowgan interpolate --walk --out walk.mp4 --fps 60")),
    "average": Command(
        "the average of many generated images beside the average real image",
        "Average --n_samples generated images (1000 unless given) and put the run's average real image "
        "beside it: a quick look at colour and composition bias.",
        ("pick", "output", "data", "general"),
        ("snowgan average", "snowgan average --run photos --n_samples 5000 --out average.png")),
    "progress": Command(
        "a video of the run's sample grids in training order",
        "Make a GIF + MP4 of the fixed-latent sample grids a run wrote while training (works on a live run).",
        ("pick", "output", "video", "general"),
        ("snowgan progress", "snowgan progress --run photos --fps 12 --out progress.mp4")),
    "report": Command(
        "rebuild RUN/report.html with plots, videos and the average image",
        "Rebuild the run's offline report page: plots from the logs, plus a progress video, an "
        "interpolation and an average image when they are missing or older than their inputs.",
        ("pick", "output", "video", "data", "general"),
        ("snowgan report", "snowgan report --run photos --force")),
    "evaluate": Command(
        "FID, KID, precision/recall, SWD and collapse signals of a run",
        "Measure --n_samples generated images (1000 unless given) against the run's dataset (or --data) and "
        "write a new RUN/evaluations/NNNNN-seedS.json with the settings and the protocol beside every "
        "number; earlier evaluations are kept (--list shows them all).",
        ("pick", "output", "metrics", "evaluations", "data", "general"),
        ("snowgan evaluate", "snowgan evaluate --run photos --metrics fid,kid,pr --n_samples 2000",
         "snowgan evaluate --list")),
    "features": Command(
        "Inception features of samples or a folder; FID statistics",
        "Compute Inception pool3 features of a run's samples or of --images DIR: a CSV (--out), FID "
        "statistics (--stats) and/or FID against precomputed statistics (--ref).",
        ("pick", "output", "features", "metrics", "general"),
        ("snowgan features --images photos/ --stats photos.npz",
         "snowgan features --run photos --ref photos.npz")),
    "export": Command(
        "a run's checkpoint as a self-contained model folder with a model card",
        "Copy the chosen checkpoint into a folder with config.json, safetensors weights, samples and a "
        "README.md model card; `snowgan generate --model DIR` and snowgan.load_generator(DIR) read it. "
        "--format onnx adds generator.onnx and generate_onnx.py, which run it without PyTorch. The folder is a "
        "Hugging Face model repository as it is (huggingface-cli upload USER/NAME DIR .).",
        ("pick", "output", "export", "general"),
        ("snowgan export --out photos-model/", "snowgan export --run photos --checkpoint best --license cc-by-4.0",
         "snowgan export --run photos --format onnx --out photos-model/")),
    "prepare": Command(
        "decode and fit a folder, zip, .npy or JSONL shards once into a dataset",
        "Decode and fit a source to --image_size once (training does this itself and caches it); with "
        "--out, into a folder you can train on directly. --data_format builtin --out DIR writes the "
        "built-in images as PNGs.",
        ("data", "size", "output", "general"),
        ("snowgan prepare --data photos.zip --image_size 128 --out prepared/",
         "snowgan prepare --data_format builtin --out mountains/"),
        reads_run=False),
    "probe": Command(
        "fit a small head on the trained discriminator's features for your labels",
        "Use the trained discriminator as a feature extractor for labels.csv: fit a linear head, score it on "
        "held-out images beside the same head on a random discriminator.",
        ("pick", "data", "probe", "output", "general"),
        ("snowgan probe --run photos --data photos/ --labels labels.csv",
         "snowgan probe --model photos-model/ --labels labels.csv --probe_shots 10")),
    "predict": Command(
        "apply a fitted probe head to new images",
        "Predict labels for new images with a head saved by `snowgan probe`; writes predictions.csv.",
        ("pick", "data", "probe", "output", "general"),
        ("snowgan predict --head runs/00001-photos/probe-head --data new-photos/",)),
    "project": Command(
        "find a photo in the model's latent space (GAN inversion)",
        "Optimise a latent so the generator reproduces --image (pixel + EfficientNet-Lite0 feature loss); "
        "writes the reconstruction, a side-by-side, the latent (for generate/interpolate --latents), an "
        "optimisation video and PSNR / perceptual distance.",
        ("pick", "project", "output", "general"),
        ("snowgan project --image photo.jpg", "snowgan project --run photos --image photo.jpg --project_steps 400")),
    "studio": Command(
        "a local web page to explore a trained model",
        "Serve a page on 127.0.0.1: a seed grid, truncation, interpolation between picked seeds, your photo "
        "projected into the model, the nearest training images, downloads.",
        ("pick", "project", "studio", "data", "general"),
        ("snowgan studio", "snowgan studio --run photos --port 8080")),
}

# Not modes (no config): listed in the overview beside them.
EXTRA_COMMANDS = {"recipes": "list the shipped recipes, one line each (snowgan train --recipe NAME)",
                  "help": "help for one command: snowgan help COMMAND"}

# What a flag's value looks like in the help, where the type alone does not say it.
METAVARS = {"data": "PATH", "out": "PATH", "config": "FILE.toml", "labels": "FILE.csv", "cache_dir": "DIR",
            "images": "DIR", "stats": "FILE.npz", "ref": "FILE.npz", "model": "DIR", "head": "DIR",
            "init_from": "RUN", "runs_dir": "DIR", "resume": "RUN", "run": "RUN", "name": "NAME",
            "recipe": "NAME", "inception_weights": "FILE", "image_size": "SIZE", "grid": "ROWSxCOLS",
            "checkpoint": "WHICH", "metrics": "LIST", "augment": "LIST", "pg_batch": "LIST",
            "background": "COLOUR", "best_metric": "NAME", "license": "ID"}


def topic_of(name: str) -> str:
    """The topic of a field: its ``topic`` metadata, else its section's name."""
    sec, f, _ = FIELDS[name]
    return f.metadata.get("topic", sec)


def commands_reading(topic: str) -> list[str]:
    """The commands whose help shows (and that read) a topic."""
    return [m for m, c in COMMANDS.items() if topic in c.topics]


def _value_text(value: Any) -> str:
    if isinstance(value, bool):
        return "on" if value else "off"
    if value is None:
        return "none"
    if isinstance(value, float):
        return f"{value:g}"
    return str(value) if value != "" else "none"


PLANNED = "planned from the run's length unless given"


def default_text(name: str, mode: Optional[str] = None) -> Optional[str]:
    """What --help says the default is: once, the real one (None when nothing useful can be said).

    Loss-dependent defaults list each loss's value; per-mode defaults show only the mode's
    own value when a mode is given, else every distinct value with the modes that use it.
    Training help adds what a ``--data`` run gets instead (``with_data``): that run trains a
    recipe, and help that quoted only the schema told a photo folder's user the wrong model.
    """
    text = _schema_default_text(name, mode)
    extra = with_data(name) if mode in (None, "train") else None
    if extra is None:
        return text
    return f"{text}; {extra}" if text else extra


def with_data(name: str) -> Optional[str]:
    """'with --data: the photos recipe's 16' when the recipe a --data run trains (flags.data_recipe) sets
    the field to another value than the schema's; read from the recipe file, so help follows it."""
    from .flags import data_recipe

    recipe = data_recipe()
    value = _recipe_values(recipe).get(name)
    if value is None or value == _stored_default(name):
        return None
    return f"with --data: the {recipe} recipe's {_value_text(value)}"


def _stored_default(name: str) -> Any:
    _, f, _ = FIELDS[name]
    return f.default if f.default is not dataclasses.MISSING else f.default_factory()


@functools.lru_cache(maxsize=None)
def _recipe_values(recipe: str) -> dict[str, Any]:
    from .flags import recipe_values

    return recipe_values(recipe)


def _schema_default_text(name: str, mode: Optional[str]) -> Optional[str]:
    from .flags import loss_defaults
    from .losses.entries import LOSSES

    _, f, _ = FIELDS[name]
    if "shown_default" in f.metadata:
        return f.metadata["shown_default"]
    default = _stored_default(name)
    if f.metadata.get("planned"):  # train/plan.py: every new run but a progressive one of fixed length
        growing = " or ".join(f.name for f in FAMILIES.values() if f.grows)
        return f"{PLANNED}; {_value_text(default)} for an --arch {growing} run of a fixed length"
    per_loss = {loss: loss_defaults(loss) for loss in LOSSES}
    if any(name in d for d in per_loss.values()):
        by_value: dict[str, list[str]] = {}
        for loss, d in per_loss.items():
            by_value.setdefault(_value_text(d.get(name, default)), []).append(loss)
        return "; ".join(f"{v} with {', '.join(losses)}" for v, losses in by_value.items())
    per_mode = f.metadata.get("mode_defaults", {})
    if mode is not None and mode in per_mode:
        default = per_mode[mode]
        return "every image" if default is None else _value_text(default)
    if default is None:
        return None
    text = _value_text(default)
    if mode is None and per_mode:
        by_value = {}
        for m, v in per_mode.items():
            by_value.setdefault("every image" if v is None else _value_text(v), []).append(m)
        text += "".join(f"; {v} for {', '.join(ms)}" for v, ms in by_value.items())
    return text


def _flag_head(name: str) -> str:
    _, f, tp = FIELDS[name]
    base, _ = base_type(tp)
    if base is bool:
        return f"--{name} [BOOL]"
    choices = f.metadata.get("choices")
    if choices:
        return f"--{name} {{{','.join(map(str, choices))}}}"
    meta = METAVARS.get(name) or {int: "N", float: "NUM"}.get(base, "TEXT")
    return f"--{name} {meta}"


def _width() -> int:
    return max(60, min(100, shutil.get_terminal_size((100, 24)).columns))


def flag_entry(name: str, mode: Optional[str] = None, width: Optional[int] = None) -> str:
    """One flag's help: its name and value form, then its help with the default, wrapped."""
    width = width or _width()
    _, f, _ = FIELDS[name]
    text = f.metadata.get("help", "")
    owners = option_owners(name)
    if owners:  # a family's own option (its entry in models/families.py lists it)
        text += f" (--arch {' or '.join(owners)} only)"
    default = default_text(name, mode)
    if default is not None:
        # A non-breaking space keeps "(default: 0)" on one line; it is a plain space again below.
        text += " (default:\xa0" + (default.replace(" ", "\xa0") if len(default) <= 12 else default) + ")"
    head = "  " + _flag_head(name)
    indent = " " * 28
    if len(head) <= 26:
        body = textwrap.fill(text, width, initial_indent=head.ljust(28), subsequent_indent=indent)
    else:
        body = head + "\n" + textwrap.fill(text, width, initial_indent=indent, subsequent_indent=indent)
    return body.replace("\xa0", " ")


def _topic_block(topic: str, mode: Optional[str]) -> str:
    names = [n for n in FIELDS if topic_of(n) == topic and not (mode and n == "mode")]
    if not names:
        return ""
    return f"{TOPICS[topic]}:\n" + "\n".join(flag_entry(n, mode) for n in names)


def _command_lines() -> str:
    items = [(m, c.summary) for m, c in COMMANDS.items()] + list(EXTRA_COMMANDS.items())
    return "\n".join(f"  {m:<12} {s}" for m, s in items)


def overview() -> str:
    """What bare ``snowgan`` prints: what it is, the first commands to type, where help is."""
    return f"""snowgan {__version__}: train GANs on your own images, then generate images, videos, metrics and a report.

Start here:
  snowgan train --data photos/ --name photos    train on a folder of your images
  snowgan train --recipe demo                   a 1.5-minute demo on the built-in mountains
  snowgan generate --n_samples 10               images from the newest trained run

Commands:
{_command_lines()}

snowgan COMMAND --help shows one command's flags and examples; snowgan --help shows them all.
"""


def full_help() -> str:
    """``snowgan --help``: usage, commands, examples, then every flag grouped by topic."""
    blocks = [_topic_block(t, None) for t in TOPICS]
    return (f"""usage: snowgan COMMAND [--flag VALUE ...]
       snowgan --mode COMMAND [--flag VALUE ...]    (the same)

Train GANs on your own images; generate images, videos, metrics and a report.

Commands:
{_command_lines()}

Examples:
  snowgan train --data photos/ --image_size 64 --name photos
  snowgan generate --run photos --grid 8x8 --out grid.png
  snowgan --mode train --gen_steps 4 --disc_lr 0.0001
  snowgan --mode generate --n_samples 10

Every setting below is a flag; hyphens and underscores both work (--gen-steps = --gen_steps).
A BOOL flag alone means on (--mirror); --mirror false turns it off. Settings can also come from
--recipe NAME and --config FILE.toml; flags override both.

""" + "\n\n".join(b for b in blocks if b) + "\n")


def command_help(mode: str) -> str:
    """``snowgan COMMAND --help``: what it does, examples, and only the flags it reads."""
    c = COMMANDS[mode]
    about = textwrap.fill(c.about, _width())
    examples = "\n".join(f"  {e}" for e in c.examples)
    blocks = [_topic_block(t, mode) for t in c.topics]
    return (f"usage: snowgan {mode} [--flag VALUE ...]   (or: snowgan --mode {mode} ...)\n\n{about}\n\n"
            f"Examples:\n{examples}\n\n" + "\n\n".join(b for b in blocks if b) +
            "\n\nHyphens and underscores both work (--n-samples = --n_samples). All flags: snowgan --help\n")


def recipes_text() -> str:
    """``snowgan recipes`` / ``--recipe list``: one line per shipped recipe."""
    from .flags import recipe_summaries

    rows = recipe_summaries()
    pad = max(map(len, rows), default=0)
    lines = [f"  {name:<{pad}}  {summary}" for name, summary in rows.items()]
    return ("Recipes (snowgan train --recipe NAME; flags override a recipe's settings):\n" + "\n".join(lines) + "\n")


def recipes_help() -> str:
    """``snowgan recipes --help``."""
    return ("usage: snowgan recipes\n\nList the shipped recipes, one line each. Train with one: "
            "snowgan train --recipe NAME (flags override its settings).\n")


def version_text() -> str:
    """``snowgan --version``: snowgan's and torch's versions (torch's from its metadata: no import)."""
    from importlib import metadata

    try:
        torch_version = metadata.version("torch")
    except metadata.PackageNotFoundError:
        torch_version = "not installed"
    return f"snowgan {__version__} (torch {torch_version})"

