"""`snowgan --mode project --image PHOTO`: find the latent whose image is closest to a photo (GAN inversion).

Writes into RUN/projections/NNNNN-NAME/ (or --out, a folder): target.png (the photo as the
model sees it), reconstruction.png, side-by-side.png (photo | best random start |
reconstruction), latent.safetensors (feed it to --mode generate / interpolate --latents),
optimisation.gif + .mp4, projection.json (the figures). See snowgan/project.py for the loss.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..config import Config, ConfigError
from ..diskspace import writing
from ..files import json_text
from ..runfolder import RunFolder, claim_numbered
from ..sample import parse_classes
from .common import check_out, device_for

VIDEO_FPS = 12


def load_model(cfg: Config):
    """(G in eval mode, the model's Config, a one-line description, the folder outputs go under, device)."""
    device = device_for(cfg)
    if cfg.cmd.model:
        from ..export import load_generator, read_model_config

        model_cfg, _ = read_model_config(cfg.cmd.model)
        return load_generator(cfg.cmd.model, device), model_cfg, f"model {cfg.cmd.model}", Path(cfg.cmd.model), device
    from ..runs import find_run
    from ..run.load import load_run

    run_dir = find_run(cfg.run.runs_dir, cfg.run.run)
    loaded = load_run(run_dir, cfg.cmd.checkpoint, device)
    desc = loaded.describe()
    return loaded.G, loaded.cfg, desc, run_dir, device


def _out_dir(cfg: Config, root: Path, name: str) -> Path:
    out = check_out(cfg.cmd.out, cfg.cmd.force, folder=True, what="projection")
    if out is None:  # a new numbered folder each time, so nothing made before is overwritten
        stem = "".join(c if c.isalnum() or c in "-_" else "_" for c in Path(name).stem)[:40] or "photo"
        return claim_numbered(RunFolder(root).projections, stem)
    out.mkdir(parents=True, exist_ok=True)
    return out


def write_outputs(result, out: Path, info: dict) -> dict[str, Path]:
    """Every file of a projection into the folder out; returns {kind: path}."""
    from ..latentfile import save_latents
    from ..project import side_by_side
    from ..report.grid import save_picture
    from ..report.video import write_gif, write_mp4

    paths = {"target": save_picture(result.target.transpose(1, 2, 0), out / "target.png"),
             "reconstruction": save_picture(result.image.transpose(1, 2, 0), out / "reconstruction.png"),
             "side_by_side": save_picture(side_by_side([result.target, result.frames[0], result.image]),
                                          out / "side-by-side.png")}
    save_latents(result.z, out / "latent.safetensors", {k: str(v) for k, v in info.items()})
    paths["latent"] = out / "latent.safetensors"
    # The video shows the photo beside each snapshot, so the optimisation reads without a caption.
    frames = np.stack([side_by_side([result.target, f]) for f in result.frames])
    paths["gif"] = write_gif(frames, out / "optimisation.gif", VIDEO_FPS)
    paths["mp4"] = write_mp4(frames, out / "optimisation.mp4", VIDEO_FPS)
    with writing(out / "projection.json"):
        (out / "projection.json").write_text(json_text(info, indent=2) + "\n", encoding="utf-8")
    paths["json"] = out / "projection.json"
    return paths


def main(cfg: Config, explicit: set[str]) -> int:
    """Project --image into the model's latent space; print the figures and where the files are."""
    project_photo(cfg)
    return 0


@dataclass
class Projected:
    """What a projection made: the folder, its files ({kind: path}, write_outputs'), the figures
    (projection.json's) and the result (project.ProjectionResult: the latent, the images, the losses)."""

    out: Path
    paths: dict[str, Path]
    info: dict
    result: Any


def project_photo(cfg: Config) -> Projected:
    """`snowgan project` (and the Python API's project): the photo's latent, every file, the lines printed."""
    from ..data.decode import SkipImage
    from ..progress import Progress
    from ..project import ProjectOptions, load_perceptual, load_photo, project, random_pair_distance

    if not cfg.cmd.image:
        raise ConfigError("--mode project needs --image PHOTO (any format the data pipeline reads)")
    photo = Path(cfg.cmd.image).expanduser()
    if not photo.is_file():
        raise ConfigError(f"--image {photo}: no such file")
    G, model_cfg, desc, root, device = load_model(cfg)
    try:
        target = load_photo(photo.read_bytes(), model_cfg)
    except SkipImage as e:
        raise ConfigError(f"--image {photo}: {e}") from None
    names = list(getattr(G, "class_names", [])) if getattr(G, "num_classes", 0) else []
    try:
        wanted = parse_classes(cfg.cmd.classes, names)
    except ValueError as e:
        raise ConfigError(str(e)) from None
    if len(wanted) > 1:
        raise ConfigError(f"--class: a photo is projected as one class; got {len(wanted)} ({cfg.cmd.classes})")
    labels = torch.tensor(wanted, device=device) if wanted else None
    out = _out_dir(cfg, root, photo.name)  # refused before the slow part when --out exists
    perceptual = load_perceptual(device) if cfg.cmd.perceptual_weight > 0 else None
    opts = ProjectOptions(steps=cfg.cmd.project_steps, perceptual_weight=cfg.cmd.perceptual_weight, seed=cfg.run.seed)
    print(f"projecting {photo} ({target.shape[2]}x{target.shape[1]} as the model sees it) into {desc}, "
          f"{opts.steps} steps")
    bar = Progress(opts.steps, "project", unit="step", mode=cfg.run.progress)
    try:
        result = project(G, target, perceptual, opts, labels=labels, device=device,
                         on_step=lambda s, n, loss: (bar.update(1), bar.set_postfix(f"loss {loss:.4f}")))
    finally:
        bar.close()
    info = {"image": str(photo), "model": desc, "steps": opts.steps, "start_seed": result.start_seed,
            "psnr_db": round(result.psnr, 2), "perceptual": round(result.perceptual, 4),
            "start_psnr_db": round(result.start_psnr, 2), "start_perceptual": round(result.start_perceptual, 4),
            "loss_first": round(result.losses[0], 5), "loss_last": round(result.losses[-1], 5)}
    if result.label is not None:  # generate --latents FILE draws it as this class
        info["class"] = names[result.label]
        print(f"class: {names[result.label]}" + ("" if wanted else " (the class whose samples came closest; "
                                                  "--class NAME chooses)"))
    if perceptual is not None:
        pair_psnr, pair_perc = random_pair_distance(G, perceptual, cfg.run.seed, device=device)
        info.update(random_pair_psnr_db=round(pair_psnr, 2), random_pair_perceptual=round(pair_perc, 4))
    paths = write_outputs(result, out, info)
    print(f"loss {result.losses[0]:.4f} -> {result.losses[-1]:.4f}; "
          f"PSNR {result.psnr:.2f} dB (best random start, seed {result.start_seed}: {result.start_psnr:.2f} dB)"
          + (f", Lite0 perceptual distance {result.perceptual:.3f} (start {result.start_perceptual:.3f}; two random "
             f"samples of this model: {info['random_pair_perceptual']:.3f}, 0 = identical)" if perceptual else ""))
    print("a small GAN reproduces a photo only as far as it resembles the training images: "
          "compare side-by-side.png before trusting the numbers")
    print(f"wrote {out}: " + ", ".join(p.name for p in paths.values()))
    print(f"use the latent: snowgan --mode generate --latents {paths['latent']}")
    return Projected(out, paths, info, result)
