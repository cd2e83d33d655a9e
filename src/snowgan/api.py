"""snowgan from Python: train, load, generate, interpolate, project and export (docs/python.md).

    import snowgan
    run = snowgan.train("photos/", minutes=20, image_size=128)   # = snowgan train --data photos/ ...
    images = run.generate(16, seed=0)                            # a list of PIL images
    run.interpolate("walk.gif")
    model = snowgan.load("runs/00003-photos")                    # a run folder or an exported folder
    model.generate(8, cls="snowy", truncation=1.5)
    model.project("photo.jpg")
    run.export("my-model", format="onnx")

One implementation with the command line, not a second one. A keyword argument is the flag of the same
name (``cls`` is ``--class``, a Python keyword), and the settings go through the CLI's own path: typed by
the schema (config.coerce), resolved (flags.resolve: defaults < recipe < values, the --data default
recipe, the loss's and the mode's defaults, validation) and checked before anything starts
(checks.before_start), all in ``cli.settings``; the errors are its one-line ConfigErrors, raised instead
of printed. The work is the commands' own functions: commands/train.train, generate.prepare and
generate.write, media.interpolate, project.project_photo, export.export_run, which print what the CLI
prints. Nothing here imports torch until a function runs (``import snowgan`` stays cheap).
"""

from __future__ import annotations

import base64
import html
import os
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any, Optional, Union

from . import cli
from .commands.common import warnings_as_notes
from .config import FIELDS, Config, coerce
from .errors import ConfigError, did_you_mean
from .runfolder import RunFolder

if TYPE_CHECKING:
    from PIL import Image

PathLike = Union[str, "os.PathLike[str]"]

# Keyword spellings of fields whose flag name Python cannot take as a keyword (--class).
ALIASES = {"cls": "classes", "class": "classes"}


class TrainingStopped(RuntimeError):
    """Training could not go on (exit 3 on the command line): non-finite losses after the allowed rollbacks,
    out of memory, a full or read-only disk. The message is the CLI's last line; run_dir the run folder."""

    def __init__(self, message: str, run_dir: Path) -> None:
        super().__init__(message)
        self.run_dir = run_dir


def _flag_value(value: Any) -> Any:
    """A Python value as the flag's value: a path (or a Run or Model) as its path, a list of classes as
    --class a --class b gives them (comma-separated); the rest is typed by config.coerce."""
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    if isinstance(value, (list, tuple)):
        return ",".join(str(_flag_value(v)) for v in value)
    return value


def typed_values(mode: str, values: dict[str, Any], where: str) -> dict[str, Any]:
    """{field: value} for one command, as flags.parse_typed gives a command line's: None leaves a setting
    unset; an unknown name is a ConfigError with the closest setting's name. where: 'snowgan.train()'."""
    typed: dict[str, Any] = {"mode": mode}
    for name, value in values.items():
        name = ALIASES.get(name, name)
        if value is None:
            continue
        if name not in FIELDS:
            hint = did_you_mean(name, [*FIELDS, "cls"]) or "; the settings are the flags of snowgan --help"
            raise ConfigError(f"{where}: unknown setting {name!r}{hint}")
        if name == "mode":
            raise ConfigError(f"{where}: mode is the function's (snowgan.train, Run.generate, ...)")
        typed[name] = coerce(name, _flag_value(value))
    return typed


def resolve(mode: str, values: dict[str, Any], where: str) -> tuple[Config, set[str]]:
    """The settings of one command from keyword arguments, by the command line's path (cli.settings)."""
    return cli.settings(typed_values(mode, values, where))


# ---- training ---------------------------------------------------------------------------------------

def train(data: Optional[PathLike] = None, **settings: Any) -> "Run":
    """Train a GAN, as ``snowgan train --data DATA --NAME VALUE ...``; returns the Run.

    data: a folder of images, a .zip, .npy/.npz or .jsonl shards (None: the built-in mountains). Every
    setting of ``snowgan train --help`` is a keyword argument of the same name (``minutes=20``,
    ``image_size=128``, ``recipe="demo"``, ``resume=run`` to continue one), with the CLI's defaults: a
    --data run that names no recipe, arch or loss trains the photos recipe for 20 minutes. Bad settings
    raise snowgan.ConfigError with the CLI's message. Ctrl-C (a notebook's interrupt) finishes the step,
    saves a checkpoint and returns the run with ``interrupted`` True; a second one stops at once
    (KeyboardInterrupt). Raises TrainingStopped where the CLI exits 3.
    """
    if threading.current_thread() is not threading.main_thread():
        raise ConfigError("snowgan.train() runs in the main thread (it takes Ctrl-C to save a checkpoint first); "
                          "to train in the background, run `snowgan train ...` as a separate process")
    cfg, given = resolve("train", {"data": data, **settings}, "snowgan.train()")
    from .commands import train as command

    try:
        with warnings_as_notes():
            made = command.train(cfg, given)
    except command.Refused as e:  # another process trains this run, or its folder cannot be made
        raise (e.cause or ConfigError(str(e))) from None
    if made.code == 3:
        raise TrainingStopped(made.why or f"training stopped; see {RunFolder(made.run_dir).log}", made.run_dir)
    return Run(made.run_dir, interrupted=made.code > 128)


# ---- loading ----------------------------------------------------------------------------------------

def load(path: PathLike, **settings: Any) -> "Model":
    """A trained model: a run folder (a Run; also a run's number or name under ``runs_dir``, as --run takes)
    or a folder ``snowgan export`` wrote (a Model). settings: defaults for each of its calls that reads
    them (as its command's flags), e.g. ``checkpoint="best"``, ``device="cpu"``, ``truncation=1.5``."""
    where = Path(os.fspath(path)).expanduser()
    if where.is_dir() and "export" in (RunFolder(where).read_config() or {}):
        from .export import read_model_config

        read_model_config(where)  # a damaged folder: its one-line error now
        return Model(where, **settings)
    from .runs import find_run

    return Run(find_run(settings.get("runs_dir", "runs"), os.fspath(path), need_checkpoint=True), **settings)


def _picture(image: Any) -> "Image.Image":
    """uint8 (C, H, W) as the PIL image `snowgan generate` writes to its PNG (grey: mode L, else RGB)."""
    from PIL import Image

    return Image.fromarray(image[0] if image.shape[0] == 1 else image.transpose(1, 2, 0))


def _shown(path: Path) -> str:
    """path as a person reads it: relative to the working folder when inside it."""
    rel = os.path.relpath(path)
    return str(path) if rel.startswith("..") else rel


class _Shows:
    """What a notebook shows for an object: its repr and a picture (``_picture_file``), as HTML or PNG."""

    def _picture_file(self) -> Optional[Path]:
        return None

    def _repr_png_(self) -> Optional[bytes]:
        picture = self._picture_file()
        return picture.read_bytes() if picture is not None and picture.is_file() else None

    def _repr_html_(self) -> str:
        text = f"<pre>{html.escape(repr(self))}</pre>"
        png = self._repr_png_()
        if png is None:
            return text
        return (f"<div>{text}<img src='data:image/png;base64,{base64.b64encode(png).decode()}' "
                f"alt='{html.escape(self._picture_file().name)}'></div>")


class Model(_Shows):
    """A trained generator: a folder ``snowgan export`` wrote (snowgan.load(DIR), Run.export). Its calls take
    the settings of the command of the same name as keyword arguments (``snowgan generate --help`` ...)."""

    _source = "model"  # the flag that names this object to a command (--model DIR; a Run: --run DIR)

    def __init__(self, path: PathLike, **settings: Any) -> None:
        self.path = Path(path)
        self._own(settings, "snowgan.load()")
        typed_values("generate", settings, "snowgan.load()")  # unknown names and bad values: now, not at a call
        self._settings = {ALIASES.get(k, k): v for k, v in settings.items()}  # load's defaults

    def __fspath__(self) -> str:
        return os.fspath(self.path)

    def _own(self, values: dict[str, Any], what: str) -> None:
        """--run and --model are this object's own folder; naming another is a ConfigError."""
        for taken in ("run", "model"):
            if values.get(taken) is not None:
                raise ConfigError(f"{what}: --{taken} is this {type(self).__name__.lower()}'s own "
                                  f"({self.path}); snowgan.load(...) gives another")

    def _resolve(self, mode: str, what: str, **values: Any) -> Config:
        """The command's settings: load's defaults that it reads, this folder (--run or --model), the call's."""
        from .helptext import COMMANDS, topic_of

        self._own(values, what)
        defaults = {k: v for k, v in self._settings.items() if topic_of(k) in COMMANDS[mode].topics}
        given = {k: v for k, v in values.items() if v is not None}  # None: not given, so load's default holds
        return resolve(mode, {**defaults, self._source: self.path, **given}, what)[0]

    def generate(self, n: Optional[int] = None, *, seed: Optional[int] = None, cls: Any = None,
                 truncation: Optional[float] = None, **settings: Any) -> list["Image.Image"]:
        """n images (default 10) as PIL images: image i from seed ``seed + i``, exactly the pixels of
        ``snowgan generate --n_samples n --seed seed`` (its PNG files). cls: a conditional model's class name
        or index (or a list: n of each); truncation, latents, grid, checkpoint, device ... as the CLI's.
        With ``out=`` the files are written as the CLI writes them (format, grid, label_seeds) too."""
        cfg = self._resolve("generate", f"{type(self).__name__}.generate()", n_samples=n, seed=seed, classes=cls,
                            truncation=truncation, **settings)
        from .commands import generate as command

        with warnings_as_notes():
            request = command.prepare(cfg)
            batches = list(request.batches())
            if cfg.cmd.out is not None:
                command.write(cfg, request, batches)
        return [_picture(image) for _, batch in batches for image in batch]

    def project(self, image: PathLike, **settings: Any) -> "Projection":
        """Find the latent whose image is closest to a photo (GAN inversion), as ``snowgan project --image``:
        the files go to FOLDER/projections/NNNNN-NAME (or ``out=``); settings: project_steps,
        perceptual_weight, cls, seed ... Its latent feeds ``generate(latents=projection.latent)``."""
        cfg = self._resolve("project", f"{type(self).__name__}.project()", image=image, **settings)
        from .commands.project import project_photo

        with warnings_as_notes():
            return Projection(project_photo(cfg))

    @property
    def config(self) -> Config:
        """The model's settings (config.json)."""
        from .export import read_model_config

        return read_model_config(self.path)[0]

    def _picture_file(self) -> Optional[Path]:
        return self.path / "samples" / "grid.png"

    def _facts(self) -> tuple[Optional[dict], str]:
        """(config.json as a dict or None, what it came from)."""
        raw = RunFolder(self.path).read_config()
        source = (raw or {}).get("export", {}).get("source", {})
        return raw, (f"from run {source.get('run')}, step {source.get('step')}" if source else "")

    def __repr__(self) -> str:
        raw, source = self._facts()
        if raw is None:
            return f"<snowgan.{type(self).__name__} {_shown(self.path)}: no config.json>"
        try:
            cfg = Config.from_dict(raw)
            h, w = cfg.image_hw
            classes = f", classes {', '.join(cfg.class_list)}" if cfg.class_list else ""
            what = f"{cfg.model.arch}, {h}x{w} px, latent {cfg.model.latent_dim}{classes}"
        except ConfigError as e:
            what = f"config.json unreadable ({e})"
        return f"<snowgan.{type(self).__name__} {_shown(self.path)}: {what}" + (f"; {source}" if source else "") + ">"


class Run(Model):
    """A training run's folder (runs/NNNNN-NAME): what snowgan.train returns and snowgan.load(RUN) gives.
    Draws from its checkpoint (``checkpoint=``: auto = the best, else the latest); in a notebook it shows
    its latest sample grid. ``interrupted``: training was stopped by Ctrl-C (or SIGTERM) and saved a
    checkpoint; ``snowgan.train(resume=run)`` continues it."""

    _source = "run"

    def __init__(self, path: PathLike, interrupted: bool = False, **settings: Any) -> None:
        super().__init__(path, **settings)
        self.interrupted = interrupted

    @property
    def name(self) -> str:
        return self.path.name

    @property
    def config(self) -> Config:
        """The run's effective settings (config.json with its start-up decisions in place)."""
        return RunFolder(self.path).load_config()

    @property
    def report(self) -> Path:
        """report.html: the run's plots, grids and checks, for a browser."""
        return RunFolder(self.path).report

    @property
    def latest_grid(self) -> Optional[Path]:
        """The newest fixed-latent sample grid the run wrote (None before its first)."""
        from .report.runfiles import sample_grids

        grids = sample_grids(self.path)
        return grids[-1].path if grids else None

    def _picture_file(self) -> Optional[Path]:
        return self.latest_grid

    def interpolate(self, out: Optional[PathLike] = None, **settings: Any) -> list[Path]:
        """A looping video through latent space, as ``snowgan interpolate``: out FILE.gif or FILE.mp4 (one
        format), a name without extension (both), or None (RUN/media/); settings: frames, fps, keyframes,
        walk, grid, cls (one class, or two to move between them), latents ... Returns the files written."""
        cfg = self._resolve("interpolate", "Run.interpolate()", out=out, **settings)
        from .commands.media import interpolate

        with warnings_as_notes():
            return interpolate(cfg)

    def export(self, out: Optional[PathLike] = None, *, format: Optional[str] = None, **settings: Any) -> Model:
        """The run's checkpoint as a self-contained model folder, as ``snowgan export``: out (None:
        RUN/export), format "onnx" adds generator.onnx checked by ONNX Runtime (pip install 'snowgan[onnx]');
        settings: checkpoint, license, force ... Returns the exported Model."""
        cfg = self._resolve("export", "Run.export()", out=out, format=format, **settings)
        from .commands.export import export_run

        with warnings_as_notes():
            return Model(export_run(cfg))

    def __repr__(self) -> str:
        raw = RunFolder(self.path).read_config()
        if raw is None:
            return f"<snowgan.Run {_shown(self.path)}: no config.json>"
        try:
            cfg = RunFolder(self.path).load_config()
            h, w = cfg.image_hw
            classes = f", classes {', '.join(cfg.class_list)}" if cfg.class_list else ""
            what = f"{cfg.model.arch}, {h}x{w} px{classes}"
        except ConfigError as e:
            what = str(e)
        stats = RunFolder(self.path).read_stats()
        if stats:
            what += f"; step {stats[-1].get('step')} ({stats[-1].get('kimg')} kimg)"
        if self.interrupted:
            what += "; interrupted, checkpoint saved: snowgan.train(resume=run) continues it"
        grid = self.latest_grid
        if grid is not None:
            what += f"; latest grid {_shown(grid)}"
        return f"<snowgan.Run {_shown(self.path)}: {what}>"


class Projection(_Shows):
    """A photo projected into a model (Model.project): the folder and its files, the latent file, the
    figures of projection.json, the reconstruction; a notebook shows photo | start | reconstruction."""

    def __init__(self, made: Any) -> None:
        self.folder: Path = made.out
        self.files: dict[str, Path] = dict(made.paths)
        self.info: dict = dict(made.info)
        self.latent: Path = made.paths["latent"]
        self.psnr: float = made.result.psnr
        self.image = _picture(made.result.image)

    def _picture_file(self) -> Optional[Path]:
        return self.files.get("side_by_side")

    def __repr__(self) -> str:
        return (f"<snowgan.Projection of {self.info.get('image')}: PSNR {self.psnr:.2f} dB after "
                f"{self.info.get('steps')} steps; {_shown(self.folder)}>")
