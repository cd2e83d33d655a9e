"""`snowgan --mode generate`: images, a .npy or a grid from a run's (or an exported model's) EMA generator."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import numpy as np
import torch
from PIL import Image

from ..config import Config, ConfigError
from ..sizes import parse_grid
from ..export import load_generator
from ..report.grid import save_grid
from ..runs import find_run
from ..sample import generate_images, latents, parse_classes
from ..text import article, plural
from ..train.checkpoint import load_run
from .common import check_out, device_for


def _out_dir(cfg: Config, run_dir: Path, explicit_out: Optional[str], force: bool) -> Path:
    """The output folder: --out (refused if non-empty without --force) or a new numbered one."""
    out = check_out(explicit_out, force, folder=True, what="generated images")
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        return out
    root = Path(run_dir) / "generated"
    root.mkdir(parents=True, exist_ok=True)
    n = 1 + max((int(p.name[:5]) for p in root.iterdir() if p.name[:5].isdigit()), default=0)
    out = root / f"{n:05d}-seed{cfg.run.seed}"
    out.mkdir()
    return out


GRID_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp")


def _grid_path(value: Optional[str], force: bool) -> Optional[Path]:
    """The file --out names for --grid: a name without extension gets ``.png``; another extension
    than an image's is refused (one line, exit 2) before anything is generated. None: no --out."""
    out = check_out(value, force)
    if out is None:
        return None
    if out.is_dir():
        raise ConfigError(f"--out {out} is a folder; --grid writes one image: give a file name such as {out / 'grid.png'}")
    if not out.suffix:
        return check_out(out.with_name(out.name + ".png"), force)
    if out.suffix.lower() not in GRID_SUFFIXES:
        raise ConfigError(f"--out {out}: --grid writes an image; give a name ending in "
                          f"{', '.join(GRID_SUFFIXES)} (or no extension for .png)")
    return out


def _size(images: np.ndarray) -> str:
    """'32x32 px' for uint8 images (N, C, H, W): the size the run was trained at."""
    return f"{images.shape[-2]}x{images.shape[-1]} px"


def main(cfg: Config, explicit: set[str]) -> int:
    """`snowgan --mode generate`: N images (PNG files or one .npy) or one grid, from the EMA generator."""
    device = device_for(cfg)
    if cfg.cmd.model:
        G = load_generator(cfg.cmd.model, device=device)
        source, out_root = f"model {cfg.cmd.model}", Path(cfg.cmd.model)
    else:
        run_dir = find_run(cfg.run.runs_dir, cfg.run.run, need_checkpoint=True)
        loaded = load_run(run_dir, cfg.cmd.checkpoint, device)
        G, out_root = loaded.G, run_dir
        source = f"run {run_dir.name}, {loaded.why} {loaded.path.name} (step {loaded.step}, {loaded.kimg:.1f} kimg)"
    print(f"generating from {source}, EMA generator, seed {cfg.run.seed}")
    n = cfg.cmd.n_samples
    rows = cols = None
    grid_out = None
    if cfg.cmd.grid:
        rows, cols = parse_grid(cfg.cmd.grid)
        n = rows * cols
        grid_out = _grid_path(cfg.cmd.out, cfg.cmd.force)
    names: list[str] = list(getattr(G, "class_names", []))
    try:
        wanted = parse_classes(cfg.cmd.classes, names)
    except ValueError as e:
        raise ConfigError(str(e)) from None
    seeds = [cfg.run.seed + i for i in range(n)]
    classes: Optional[torch.Tensor] = None
    if cfg.cmd.latents:
        # Latents from a file (--mode project writes one): every row, whatever --n_samples says.
        from ..latentfile import latent_info, load_latents

        z = load_latents(cfg.cmd.latents, G.latent_dim)
        n = len(z)
        if rows is not None and rows * cols != n:
            raise ConfigError(f"--grid {cfg.cmd.grid} has {rows * cols} cells; --latents holds {n} latents")
        saved_class = latent_info(cfg.cmd.latents).get("class")  # a projection's class (project, studio)
        if not wanted and saved_class in names:
            wanted = [names.index(saved_class)]
        if wanted:
            classes = torch.tensor([wanted[i % len(wanted)] for i in range(n)])
        elif names:
            classes = torch.arange(n) % len(names)
        print(f"rendering {n} latents from {cfg.cmd.latents}")
    else:
        if wanted and rows is not None:  # a grid: row r shows class wanted[r mod len]
            classes = torch.tensor([wanted[(i // cols) % len(wanted)] for i in range(n)])
        elif wanted:  # files: n images of each class asked for, the same seeds for each
            classes = torch.tensor(wanted).repeat_interleave(n)
            seeds = seeds * len(wanted)
        elif names:  # a conditional model and no --class: every class in turn
            classes = torch.arange(n) % len(names)
        # One seed per image (seed, seed+1, ...) so any single image can be regenerated alone.
        z = torch.cat([latents(1, G.latent_dim, s, cfg.cmd.truncation) for s in seeds])
    if classes is not None:
        print("classes: " + ", ".join(names[i] for i in dict.fromkeys(classes.tolist())))
    images = generate_images(G, z, device, labels=classes)
    n = len(images)
    if rows is not None:
        out = grid_out
        if out is None:
            out = _out_dir(cfg, out_root, None, False) / f"grid-{rows}x{cols}.png"
        labels = [str(s) for s in seeds] if cfg.cmd.label_seeds else None
        save_grid(images, out, nrow=cols, labels=labels)
        print(f"wrote {article(f'{rows}x{cols}')} {rows}x{cols} grid of {_size(images)} images to {out}")
        return 0
    out_dir = _out_dir(cfg, out_root, cfg.cmd.out, cfg.cmd.force)
    if cfg.cmd.format == "npy":
        path = out_dir / "samples.npy"
        np.save(path, images.transpose(0, 2, 3, 1))  # (N, H, W, C) uint8, the common layout
        if classes is not None:
            np.save(out_dir / "labels.npy", classes.numpy())  # int64 (N,): the class of each image
        print(f"wrote {plural(n, 'image')} of {_size(images)} as {path} (uint8, N x H x W x C)"
              + (" and their classes as labels.npy" if classes is not None else ""))
        return 0
    for i, img in enumerate(images):
        arr = img.transpose(1, 2, 0)
        prefix = f"{names[int(classes[i])]}-" if classes is not None else ""
        name = f"{prefix}latent{i:06d}.png" if cfg.cmd.latents else f"{prefix}seed{seeds[i]:06d}.png"
        Image.fromarray(arr[..., 0] if arr.shape[-1] == 1 else arr).save(out_dir / name)
    print(f"wrote {plural(n, 'image')} of {_size(images)} to {out_dir}")
    return 0
