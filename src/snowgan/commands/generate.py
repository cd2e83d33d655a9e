"""`snowgan --mode generate`: images, a .npy or a grid from a run's (or an exported model's) EMA generator."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Iterator, Optional

import numpy as np
import torch

from ..config import Config, ConfigError
from ..diskspace import check_room, reserve, writing
from ..sizes import parse_grid
from ..export import load_generator
from ..report.grid import check_grid_fits, save_grid, save_picture
from ..runfolder import RunFolder, claim_numbered
from ..runs import find_run
from ..sample import generate_images, latents, parse_classes
from ..text import article, plural
from ..run.load import load_run
from .common import check_out, device_for


def _out_dir(cfg: Config, run_dir: Path, explicit_out: Optional[str], force: bool) -> Path:
    """The output folder: --out (refused if non-empty without --force) or a new numbered one."""
    out = check_out(explicit_out, force, folder=True, what="generated images")
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        return out
    return claim_numbered(RunFolder(run_dir).generated, f"seed{cfg.run.seed}")


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


BATCH = 64  # images per generator call and per write: memory holds one batch whatever --n_samples asks for


def _size(hw: tuple[int, int]) -> str:
    """'32x32 px': the size the run was trained at."""
    return f"{hw[0]}x{hw[1]} px"


def _load(cfg: Config, device: torch.device) -> tuple[torch.nn.Module, int, str, Path]:
    """(EMA generator, its image channels, a description, the folder outputs go under) of --model or --run."""
    if cfg.cmd.model:
        from ..export import read_model_config

        G = load_generator(cfg.cmd.model, device=device)
        return G, read_model_config(cfg.cmd.model)[0].data.channels, f"model {cfg.cmd.model}", Path(cfg.cmd.model)
    run_dir = find_run(cfg.run.runs_dir, cfg.run.run, need_checkpoint=True)
    loaded = load_run(run_dir, cfg.cmd.checkpoint, device)
    return loaded.G, loaded.cfg.data.channels, loaded.describe(), run_dir


def _render(G: torch.nn.Module, device: torch.device, z_of, classes: Optional[torch.Tensor], n: int
            ) -> Iterator[tuple[int, np.ndarray]]:
    """(index of the first image, uint8 (B, C, H, W)) for images 0..n-1, BATCH at a time."""
    for i in range(0, n, BATCH):
        j = min(n, i + BATCH)
        yield i, generate_images(G, z_of(i, j), device, labels=None if classes is None else classes[i:j])


@dataclass
class Drawing:
    """What generate renders: n images, the latents of images i..j (``z_of(i, j)``), their classes
    (int64 (n,) or None), and the seed of each (or the latent file's rows)."""

    n: int
    z_of: Callable[[int, int], torch.Tensor]
    classes: Optional[torch.Tensor]
    seeds: list[int]


def main(cfg: Config, explicit: set[str]) -> int:
    """`snowgan --mode generate`: N images (PNG files or one .npy) or one grid, from the EMA generator."""
    req = prepare(cfg)
    write(cfg, req, req.batches())
    return 0


@dataclass
class Request:
    """What generate renders, decided before the first image: the generator and its device, the drawing,
    the image size and channels, the classes' names, a --grid's rows and columns and the file it goes to,
    and the folder numbered outputs go under."""

    G: torch.nn.Module
    device: torch.device
    drawing: Drawing
    hw: tuple[int, int]
    channels: int
    names: list[str]
    rows: Optional[int]
    cols: Optional[int]
    grid_out: Optional[Path]
    out_root: Path

    def batches(self) -> Iterator[tuple[int, np.ndarray]]:
        """(index of the first image, uint8 (B, C, H, W)) for every image, BATCH at a time."""
        d = self.drawing
        return _render(self.G, self.device, d.z_of, d.classes, d.n)


def prepare(cfg: Config) -> Request:
    """Load the generator of --model or --run, check --grid, --out (for a grid) and --class, and draw the
    latents and classes (`snowgan generate` and the Python API's generate); says what it loaded."""
    device = device_for(cfg)
    G, channels, source, out_root = _load(cfg, device)
    print(f"generating from {source}, EMA generator, seed {cfg.run.seed}")
    hw = tuple(G.image_size)
    rows = cols = None
    grid_out = None
    if cfg.cmd.grid:
        rows, cols = parse_grid(cfg.cmd.grid)
        check_grid_fits(rows, cols, *hw)
        grid_out = _grid_path(cfg.cmd.out, cfg.cmd.force)
    names: list[str] = list(getattr(G, "class_names", []))
    try:
        wanted = parse_classes(cfg.cmd.classes, names)
    except ValueError as e:
        raise ConfigError(str(e)) from None
    n = rows * cols if rows is not None else cfg.cmd.n_samples
    if cfg.cmd.latents:
        d = _from_latent_file(cfg, G, names, wanted, rows, cols)
    else:
        d = _from_seeds(cfg, G, n, names, wanted, cols)
    if d.classes is not None:
        print("classes: " + ", ".join(names[i] for i in dict.fromkeys(d.classes.tolist())))
    return Request(G, device, d, hw, channels, names, rows, cols, grid_out, out_root)


def write(cfg: Config, req: Request, batches: Iterable[tuple[int, np.ndarray]]) -> Path:
    """Write the images as --grid, --format and --out ask (batches: Request.batches(), or the same held in
    a list); returns the grid file or the folder written."""
    d, hw, rows, cols = req.drawing, req.hw, req.rows, req.cols
    if rows is not None:
        out = req.grid_out or _out_dir(cfg, req.out_root, None, False) / f"grid-{rows}x{cols}.png"
        labels = [str(s) for s in d.seeds] if cfg.cmd.label_seeds else None
        with writing(out):
            save_grid(np.concatenate([b for _, b in batches]), out, nrow=cols, labels=labels)
        print(f"wrote {article(f'{rows}x{cols}')} {rows}x{cols} grid of {_size(hw)} images to {out}")
        return out
    image_bytes = req.channels * hw[0] * hw[1]
    # Checked against the folder --out names before it exists; PNGs are usually smaller than this.
    check_room(Path(cfg.cmd.out) if cfg.cmd.out else req.out_root,
               d.n * (image_bytes + (8 if d.classes is not None else 0)),
               f"{plural(d.n, 'image')} of {_size(hw)}, uncompressed", "--out")
    out_dir = _out_dir(cfg, req.out_root, cfg.cmd.out, cfg.cmd.force)
    if cfg.cmd.format == "npy":
        _write_npy(out_dir, batches, d, hw, req.channels)
    else:
        _write_pngs(out_dir, batches, d, req.names, bool(cfg.cmd.latents))
        print(f"wrote {plural(d.n, 'image')} of {_size(hw)} to {out_dir}")
    return out_dir


def _from_latent_file(cfg: Config, G: torch.nn.Module, names: list[str], wanted: list[int],
                      rows: Optional[int], cols: Optional[int]) -> Drawing:
    """Latents from a file (--mode project writes one): every row, whatever --n_samples says; a
    projection's recorded class unless --class names one."""
    from ..latentfile import latent_info, load_latents

    z = load_latents(cfg.cmd.latents, G.latent_dim)
    n = len(z)
    if rows is not None and rows * cols != n:
        raise ConfigError(f"--grid {cfg.cmd.grid} has {rows * cols} cells; --latents holds {n} latents")
    saved_class = latent_info(cfg.cmd.latents).get("class")  # a projection's class (project, studio)
    if not wanted and saved_class in names:
        wanted = [names.index(saved_class)]
    classes = None
    if wanted:
        classes = torch.tensor([wanted[i % len(wanted)] for i in range(n)])
    elif names:
        classes = torch.arange(n) % len(names)
    print(f"rendering {n} latents from {cfg.cmd.latents}")
    return Drawing(n, lambda i, j: z[i:j], classes, [cfg.run.seed + i for i in range(n)])


def _from_seeds(cfg: Config, G: torch.nn.Module, n: int, names: list[str], wanted: list[int],
                cols: Optional[int]) -> Drawing:
    """One seed per image (seed, seed+1, ...), so any single image can be regenerated alone."""
    seeds = [cfg.run.seed + i for i in range(n)]
    classes = None
    if wanted and cols is not None:  # a grid: row r shows class wanted[r mod len]
        classes = torch.tensor([wanted[(i // cols) % len(wanted)] for i in range(n)])
    elif wanted:  # files: n images of each class asked for, the same seeds for each
        classes = torch.tensor(wanted).repeat_interleave(n)
        seeds = seeds * len(wanted)
    elif names:  # a conditional model and no --class: every class in turn
        classes = torch.arange(n) % len(names)

    def z_of(i: int, j: int) -> torch.Tensor:
        return torch.cat([latents(1, G.latent_dim, s, cfg.cmd.truncation) for s in seeds[i:j]])

    return Drawing(len(seeds), z_of, classes, seeds)


def _write_npy(out_dir: Path, batches, d: Drawing, hw: tuple[int, int], channels: int) -> None:
    """samples.npy, (N, H, W, C) uint8 (the common layout) filled batch by batch through the page cache,
    and labels.npy (int64 (N,)) for a conditional model."""
    from numpy.lib.format import open_memmap

    path = out_dir / "samples.npy"
    with writing(path):
        array = open_memmap(path, mode="w+", dtype=np.uint8, shape=(d.n, hw[0], hw[1], channels))
        reserve(path)
        for i, images in batches:
            array[i:i + len(images)] = images.transpose(0, 2, 3, 1)
        array.flush()
        del array
    if d.classes is not None:
        with writing(out_dir / "labels.npy"):
            np.save(out_dir / "labels.npy", d.classes.numpy())
    print(f"wrote {plural(d.n, 'image')} of {_size(hw)} as {path} (uint8, N x H x W x C)"
          + (" and their classes as labels.npy" if d.classes is not None else ""))


def _write_pngs(out_dir: Path, batches, d: Drawing, names: list[str], from_file: bool) -> None:
    """One PNG per image, named by class and seed (or latent row), e.g. snowy-seed000003.png."""
    for i0, images in batches:
        for i, img in enumerate(images, i0):
            prefix = f"{names[int(d.classes[i])]}-" if d.classes is not None else ""
            name = f"{prefix}latent{i:06d}.png" if from_file else f"{prefix}seed{d.seeds[i]:06d}.png"
            save_picture(img.transpose(1, 2, 0), out_dir / name)
