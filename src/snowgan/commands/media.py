"""The picture commands: ``--mode interpolate | average | progress | report`` (see cli.MODES).

Each is ``fn(cfg, explicit) -> exit code``. Outputs go to ``RUN/media/KIND-NNNNN.*`` (a new
number each call, so nothing made before is overwritten) or to ``--out``, which must not
exist unless ``--force`` is given. ``--mode report`` uses the newest of each kind there and
adds one (the next number) only where none is newer than its inputs: one folder, one copy.
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional, Sequence

import numpy as np

from ..config import Config, ConfigError
from ..runfolder import RunFolder
from ..sizes import parse_grid
from .common import device_for
from ..flags import DATA_SOURCE_FIELDS, overlay
from ..report.grid import save_grid, save_picture
from ..report.media import newest, next_numbered
from ..report.video import MAX_GIF_FPS, write_gif, write_mp4
from ..text import plural
from ..validation import BOUNDS

PROGRESS_FPS = 8  # progress videos when --fps is not given: a few grids per second reads well
PROGRESS_MAX_FRAMES = 300  # ... and at most this many grids unless --frames is given

VIDEO_EXTS = ("gif", "mp4")
MAX_MP4_FPS = BOUNDS["fps"][1]  # H.264 has no real limit; far above what screens show is a typo


# ---- shared helpers ------------------------------------------------------------------------

def _written_exts(cfg: Config, exts: Sequence[str]) -> list[str]:
    """The formats --out asks for (FILE.ext: that one; no --out, a folder or no extension: all)."""
    out = Path(cfg.cmd.out) if cfg.cmd.out is not None else None
    if out is None or out.is_dir():
        return list(exts)
    ext = out.suffix.lower().lstrip(".")
    if ext in exts:
        return [ext]
    if ext == "":
        return list(exts)
    raise ConfigError(f"--out {out}: give a name ending in {' or '.join('.' + e for e in exts)}, "
                      "or a name without extension for " + ("both" if len(exts) > 1 else "it"))


def _check_video_flags(cfg: Config, fps: int, exts: Sequence[str]) -> None:
    """--fps against the formats really written: the GIF limit only when a GIF is among them."""
    if "gif" in exts:
        if not 1 <= fps <= MAX_GIF_FPS:
            raise ConfigError(f"--fps {fps}: a GIF plays at most {MAX_GIF_FPS} frames per second; use --fps "
                              f"{MAX_GIF_FPS} or less, or --out NAME.mp4 to write only an MP4")
    elif not 1 <= fps <= MAX_MP4_FPS:
        raise ConfigError(f"--fps {fps}: use 1 to {MAX_MP4_FPS} frames per second")
    if cfg.cmd.frames < 2:
        raise ConfigError("--frames must be at least 2")


def _outputs(cfg: Config, run_dir: Path, kind: str, exts: Sequence[str]) -> list[Path]:
    """Where to write: --out (FILE.ext for one format, a name without extension for all, an
    existing folder for numbered names in it), refused when it exists and --force is not
    given; else the next RUN/media/KIND-NNNNN.*"""
    out = Path(cfg.cmd.out) if cfg.cmd.out is not None else None
    wanted = _written_exts(cfg, exts)
    if out is None or out.is_dir():
        return _numbered(out or RunFolder(run_dir).media, kind, exts)
    paths = [out] if out.suffix else [out.with_name(f"{out.name}.{e}") for e in wanted]
    existing = [str(p) for p in paths if p.exists()]
    if existing and not cfg.cmd.force:
        raise ConfigError(f"--out: {', '.join(existing)} already exists; choose another path or add --force")
    return paths


def _numbered(folder: Path, kind: str, exts: Sequence[str]) -> list[Path]:
    """folder/KIND-NNNNN.EXT for each ext, one number for all (a GIF and its MP4 share it)."""
    stem = next_numbered(folder, kind, exts)
    return [stem.with_name(f"{stem.name}.{e}") for e in exts]


def _write_video(frames, paths: list[Path], fps: int) -> None:
    """Write frames (uint8 (T, H, W, 3) or a lazy sequence) to each .gif/.mp4 path and say so."""
    for p in paths:
        (write_gif if p.suffix.lower() == ".gif" else write_mp4)(frames, p, fps)
    h, w = frames[0].shape[:2]
    n = len(frames)
    print(f"wrote {', '.join(str(p) for p in paths)}: {plural(n, 'frame')}, {n / fps:.2f} s at {fps} fps, "
          f"{w}x{h} px")


def _find_run(cfg: Config, need_checkpoint: bool = True) -> Path:
    """--run, else the newest run (with a checkpoint, for pictures drawn by its generator)."""
    from ..runs import find_run

    return find_run(cfg.run.runs_dir, cfg.run.run, need_checkpoint=need_checkpoint)


def _load(cfg: Config, run_dir: Path):
    """(LoadedRun, device) for --checkpoint / --device."""
    from ..run.load import load_run

    device = device_for(cfg)
    loaded = load_run(run_dir, cfg.cmd.checkpoint, device)
    print(f"{loaded.describe()}; seed {cfg.run.seed}")
    return loaded, device


def _classes(cfg: Config, loaded) -> list[int]:
    """Class indices --class names for a conditional run ([] without --class)."""
    from ..sample import parse_classes

    try:
        return parse_classes(cfg.cmd.classes, loaded.cfg.class_list)
    except ValueError as e:
        raise ConfigError(str(e)) from None


def _one_class(cfg: Config, loaded) -> Optional[int]:
    """The class index --class names (one at most) for a conditional run; None without --class.
    With one, loaded.G becomes that class's generator."""
    wanted = _classes(cfg, loaded)
    if len(wanted) > 1:
        raise ConfigError(f"--mode {cfg.run.mode} takes one --class; run it once per class")
    if wanted:
        from ..models.conditional import OneClass

        loaded.G = OneClass(loaded.G, wanted[0])
        print(f"class {loaded.cfg.class_list[wanted[0]]}")
        return wanted[0]
    return None


def _spec(cfg: Config):
    from ..report.render import InterpolationSpec

    if cfg.cmd.keyframes < (1 if cfg.cmd.walk else 2):
        raise ConfigError("--keyframes must be at least 2 (with --walk: at least 1, the number of turns)")
    if not cfg.cmd.walk and cfg.cmd.frames < cfg.cmd.keyframes:
        raise ConfigError(f"--frames {cfg.cmd.frames} is fewer than --keyframes {cfg.cmd.keyframes}")
    grid = parse_grid(cfg.cmd.grid) if cfg.cmd.grid else None
    return InterpolationSpec(cfg.cmd.frames, cfg.cmd.keyframes, cfg.run.seed, cfg.cmd.walk, cfg.cmd.truncation, grid)


def _kind(spec) -> str:
    return ("walk" if spec.walk else "interpolate") + ("-grid" if spec.grid else "")


def _real_images(run_cfg: Config, cfg: Config, explicit: set[str],
                 label: Optional[int] = None) -> Optional[np.ndarray]:
    """The run's real images (uint8 (N, C, H, W)) for the real average, or None with a note.

    label: only the images of that class. Data flags typed now (e.g. --data at the folder's
    new place) override the run's."""
    from ..data.load import load_dataset

    try:
        ds = load_dataset(overlay(run_cfg, cfg, explicit, only=DATA_SOURCE_FIELDS))
        if label is None:
            return ds.images
        if ds.labels is None or list(ds.class_names) != run_cfg.class_list:
            raise ValueError("the data's classes are not the run's")
        return np.asarray(ds.images)[np.asarray(ds.labels) == label]
    except (ConfigError, OSError, ValueError) as e:
        print(f"note: real images not available ({e}); pass --data PATH for the real average")
        return None


def _average_n(cfg: Config, explicit: set[str]) -> int:
    n = cfg.cmd.n_samples  # 1000 unless given (the schema's average/report default)
    if n < 1:
        raise ConfigError("--n_samples must be at least 1")
    return n


def _save_picture(image: np.ndarray, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    save_picture(image, path)


# ---- the commands ------------------------------------------------------------------------------

def interpolate_main(cfg: Config, explicit: set[str]) -> int:
    """Looping GIF + MP4 through --keyframes latents (or a --walk), one image or a --grid of them;
    with --grid (keyframes) also a still PNG whose rows each move between two latents."""
    interpolate(cfg)
    return 0


def interpolate(cfg: Config) -> list[Path]:
    """What interpolate_main makes (`snowgan interpolate` and the Python API's); returns the files written."""
    from ..report.render import check_video_fits, interpolation_frames, pair_images

    spec = _spec(cfg)
    _check_video_flags(cfg, cfg.cmd.fps, _written_exts(cfg, VIDEO_EXTS))  # flags first, then the run
    run_dir = _find_run(cfg)
    paths = _outputs(cfg, run_dir, _kind(spec), VIDEO_EXTS)  # refuse before the slow part
    loaded, device = _load(cfg, run_dir)
    if cfg.cmd.latents:
        # The file's latents are the first keyframes (all of them when they are more than --keyframes).
        import dataclasses

        from ..latentfile import load_latents

        if spec.grid or spec.walk:
            raise ConfigError("--latents works with a single keyframe interpolation (no --grid, no --walk)")
        spec = dataclasses.replace(spec, start=load_latents(cfg.cmd.latents, loaded.G.latent_dim))
    wanted = _classes(cfg, loaded)
    weights = None
    if len(wanted) == 2:  # between two classes: the class blend goes a -> b -> a while z moves
        from ..report.render import class_path

        weights = class_path(wanted[0], wanted[1], len(loaded.cfg.class_list), spec.frames)
        names = loaded.cfg.class_list
        print(f"classes {names[wanted[0]]} -> {names[wanted[1]]} -> {names[wanted[0]]}")
    elif len(wanted) > 2:
        raise ConfigError("--mode interpolate takes one --class (within it) or two (between them)")
    else:
        _one_class(cfg, loaded)  # --class: every frame of that class
    check_video_fits(spec, loaded.cfg.image_hw)
    frames = interpolation_frames(loaded.G, spec, device, cfg.run.progress, class_weights=weights)
    _write_video(frames, paths, cfg.cmd.fps)
    if spec.grid and not spec.walk:
        stem = paths[0].with_suffix("")
        pairs = (stem.with_name(stem.name + "-pairs.png") if cfg.cmd.out else
                 _numbered(RunFolder(run_dir).media, "interpolate-pairs", ("png",))[0])
        if pairs.exists() and not cfg.cmd.force:
            raise ConfigError(f"--out: {pairs} already exists; choose another path or add --force")
        save_grid(pair_images(loaded.G, spec, device, cfg.run.progress), pairs, nrow=spec.grid[1])
        print(f"wrote {pairs}: {plural(spec.grid[0], 'row')}, each from one latent to another in "
              f"{plural(spec.grid[1], 'step')}")
        paths.append(pairs)
    return paths


def average_main(cfg: Config, explicit: set[str]) -> int:
    """PNG: the mean of --n_samples generated images (default 1000) beside the mean real image."""
    from ..report.render import average_picture

    run_dir = _find_run(cfg)
    (path,) = _outputs(cfg, run_dir, "average", ("png",))
    n = _average_n(cfg, explicit)
    loaded, device = _load(cfg, run_dir)
    label = _one_class(cfg, loaded)  # --class: generated and real images of that class only
    real = _real_images(loaded.cfg, cfg, explicit, label)
    _save_picture(average_picture(loaded.G, n, cfg.run.seed, device, real, loaded.cfg.data.mirror,
                                  cfg.cmd.truncation, cfg.run.progress), path)
    print(f"wrote {path}: average of {plural(n, 'generated image')}"
          + (f" beside {len(real)} real" if real is not None else ""))
    return 0


def _progress_fps(cfg: Config, explicit: set[str], exts: Sequence[str]) -> int:
    # `report` makes two videos from one --fps: the progress video keeps its own default.
    fps = cfg.cmd.fps if "fps" in explicit else PROGRESS_FPS
    _check_video_flags(cfg, fps, exts)
    return fps


def _progress_frames(cfg: Config, explicit: set[str], run_dir: Path):
    from ..report.timeline import progress_frames

    max_frames = cfg.cmd.frames if "frames" in explicit else PROGRESS_MAX_FRAMES
    image_size = ((RunFolder(run_dir).read_config() or {}).get("data") or {}).get("image_size")
    try:
        return progress_frames(run_dir, max_frames, image_size)
    except FileNotFoundError as e:
        raise ConfigError(f"{e}; train longer or lower --sample_every") from None


def progress_main(cfg: Config, explicit: set[str]) -> int:
    """GIF + MP4 of the run's fixed-latent sample grids in order (works on a live run)."""
    fps = _progress_fps(cfg, explicit, _written_exts(cfg, VIDEO_EXTS))
    run_dir = _find_run(cfg, need_checkpoint=False)
    paths = _outputs(cfg, run_dir, "progress", VIDEO_EXTS)
    frames = _progress_frames(cfg, explicit, run_dir)
    _write_video(frames, paths, fps)
    return 0


def _stale(target: Optional[Path], sources: list[Path]) -> bool:
    """True when target is None (none made yet) or older than any source."""
    if target is None or not target.is_file():
        return True
    newest_source = max((p.stat().st_mtime for p in sources if p.exists()), default=0.0)
    return target.stat().st_mtime < newest_source


def report_main(cfg: Config, explicit: set[str]) -> int:
    """RUN/report.html: plots from the logs, plus a progress video, an interpolation and an average image in
    RUN/media/ (the next number) where the newest of that kind is missing or older than its inputs (with
    --force: always)."""
    from ..run.checkpoint import pick_checkpoint
    from ..report.html import write_report
    from ..report.plots import plot_stats
    from ..report.render import average_picture, check_video_fits, interpolation_frames
    from ..report.runfiles import sample_grids

    run_dir = _find_run(cfg, need_checkpoint=False)
    spec = _spec(cfg)  # bad --frames / --keyframes / --fps: refused before anything is written
    _check_video_flags(cfg, cfg.cmd.fps, ["gif"])
    media = RunFolder(run_dir).media
    grids = sample_grids(run_dir)
    if grids and (cfg.cmd.force or _stale(newest(run_dir, "progress", "gif"), [g.path for g in grids])):
        _write_video(_progress_frames(cfg, explicit, run_dir), _numbered(media, "progress", VIDEO_EXTS),
                     _progress_fps(cfg, explicit, VIDEO_EXTS))
    try:
        ckpt, _ = pick_checkpoint(run_dir, cfg.cmd.checkpoint, warn=print)
    except ConfigError as e:
        ckpt = None
        print(f"note: {e}: the report has no interpolation or average image yet")
    if ckpt is not None:
        weights = [ckpt / "model.safetensors"]
        need_video, need_avg = (cfg.cmd.force or _stale(newest(run_dir, kind, ext), weights)
                                for kind, ext in ((_kind(spec), "gif"), ("average", "png")))
        if need_video or need_avg:
            loaded, device = _load(cfg, run_dir)
            if need_video:
                check_video_fits(spec, loaded.cfg.image_hw)
                _write_video(interpolation_frames(loaded.G, spec, device, cfg.run.progress),
                             _numbered(media, _kind(spec), VIDEO_EXTS), cfg.cmd.fps)
            if need_avg:
                (avg,) = _numbered(media, "average", ("png",))
                real = _real_images(loaded.cfg, cfg, explicit)
                _save_picture(average_picture(loaded.G, _average_n(cfg, explicit), cfg.run.seed, device, real,
                                              loaded.cfg.data.mirror, cfg.cmd.truncation, cfg.run.progress), avg)
                print(f"wrote {avg}")
    plots = plot_stats(run_dir)
    page = write_report(run_dir)
    print(f"wrote {len(plots)} plots to {RunFolder(run_dir).plots} and the report {page}")
    print(f"open it in a browser: file://{page.resolve()}")
    return 0
