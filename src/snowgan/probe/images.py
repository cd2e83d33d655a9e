"""Images for the probe and for predict, at the model's size: the built-in set or a folder.

Built-in: the probe uses built-in images the GAN never saw — those after the ones its
run trained on (image i depends only on (seed, i, h, w), so they are new draws from the
same distribution) — labelled with their procedural class.

Folder: a plain folder of images decoded here with Pillow (EXIF orientation applied,
centre-cropped to the model's aspect ratio, resized with Lanczos). This is deliberately
small; when data/prepare.py lands in main, a folder should go through it instead (it
handles 16-bit, CMYK, alpha and a cache), keeping the file names for labels.csv.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Optional

import numpy as np

from ..config import Config, ConfigError
from ..progress import progress_iter

IMAGE_EXTS = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp"}


@dataclass
class ProbeImages:
    """uint8 images (N, C, H, W) at the model's size, their names, and label strings (or None)."""

    images: np.ndarray
    names: list[str]
    labels: Optional[list[str]]
    description: str
    skipped: list[tuple[str, str]] = field(default_factory=list)


def builtin_probe_images(cfg: Config, explicit: set[str], model_cfg: Config) -> ProbeImages:
    """Built-in images the model's run did not train on, with their class names as labels.

    The run trained on numbers start..start+count-1 (its --builtin_start/--builtin_count);
    the probe takes the next ones, or from --builtin_start when given (an overlap with the
    training images is allowed but said).
    """
    from ..data.synthetic import builtin_dataset

    md = model_cfg.data
    trained_builtin = md.data is None or md.data_format == "builtin"
    seen = (md.builtin_start, md.builtin_start + md.builtin_count) if trained_builtin else (0, 0)
    n = cfg.data.builtin_count  # 512 unless given (the schema's probe/predict default)
    start = cfg.data.builtin_start if "builtin_start" in explicit else seen[1]
    if n < 1 or start < 0:
        raise ConfigError("--builtin_count must be at least 1 and --builtin_start at least 0")
    if start < seen[1] and start + n > seen[0]:
        print(f"note: built-in images {max(start, seen[0])}..{min(start + n, seen[1]) - 1} were in the "
              "model's training set; its scores on them say less about new images")
    c = Config.from_dict(model_cfg.to_dict())
    c.data.builtin_count, c.data.builtin_start = n, start
    ds = builtin_dataset(c)
    assert ds.labels is not None
    names = [f"builtin-{i:05d}" for i in range(start, start + n)]
    labels = [ds.class_names[k] for k in ds.labels.tolist()]
    h, w = model_cfg.image_hw
    unseen = "" if start < seen[1] and start + n > seen[0] else " (not seen in training)"
    return ProbeImages(np.ascontiguousarray(ds.images), names, labels,
                       f"built-in mountains {start}..{start + n - 1}{unseen}, {h}x{w}")


def list_images(root: Path) -> list[str]:
    """Image files under root as sorted posix paths relative to it (hidden files skipped)."""
    out = []
    for p in root.rglob("*"):
        rel = p.relative_to(root)
        if p.is_file() and p.suffix.lower() in IMAGE_EXTS and not any(s.startswith(".") for s in rel.parts):
            out.append(rel.as_posix())
    return sorted(out)


def decode_image(path: Path, hw: tuple[int, int], channels: int) -> np.ndarray:
    """One image file -> uint8 (C, H, W): EXIF-rotated, centre-cropped to the aspect, resized."""
    from PIL import Image, ImageOps

    with Image.open(path) as im:
        im = ImageOps.exif_transpose(im)
        if im.mode in ("RGBA", "LA", "P"):  # transparent pixels on white, not on black
            im = im.convert("RGBA")
            bg = Image.new("RGBA", im.size, (255, 255, 255, 255))
            im = Image.alpha_composite(bg, im)
        im = im.convert("L" if channels == 1 else "RGB")
        h, w = hw
        im = ImageOps.fit(im, (w, h), method=Image.Resampling.LANCZOS)
        arr = np.asarray(im, dtype=np.uint8)
    return arr[None] if channels == 1 else arr.transpose(2, 0, 1)


def folder_probe_images(data: str, names: list[str], labels: Optional[list[str]], hw: tuple[int, int],
                        channels: int, progress: str) -> ProbeImages:
    """Decode the named images under `data`; unreadable ones are skipped and listed."""
    root = Path(data).expanduser()
    images, kept, kept_labels, skipped = [], [], [], []
    for i, name in enumerate(progress_iter(names, len(names), "decode images", "img", progress)):
        try:
            images.append(decode_image(root / name, hw, channels))
        except (OSError, ValueError, SyntaxError) as e:  # what Pillow raises for broken files
            skipped.append((name, f"unreadable image ({type(e).__name__}: {str(e)[:80]})"))
            continue
        kept.append(name)
        if labels is not None:
            kept_labels.append(labels[i])
    if not images:
        raise ConfigError(f"--data {data}: none of the {len(names)} images could be read")
    arr = np.stack(images)
    h, w = hw
    return ProbeImages(arr, kept, kept_labels if labels is not None else None,
                       f"{data}: {len(kept)} images resized to {h}x{w}", skipped)


def load_probe_images(cfg: Config, explicit: set[str], model_cfg: Config, need_labels: bool,
                      check: Optional[Callable[[list[str]], object]] = None) -> ProbeImages:
    """The images a probe/predict command works on, with label strings when given.

    No --data: the built-in set (labelled). --data FOLDER: its images; with --labels the
    rows are matched to them (rows naming no image are an error; images without a row are
    left out). need_labels: the probe needs labels, predict only scores them when present.
    check: called with the label strings before any image is decoded, so a bad label file
    fails at once (it raises ConfigError).
    """
    from ..data.labels import read_labels_table
    from .labels import match_rows

    d = cfg.data
    if d.data is None:
        if d.labels:
            raise ConfigError(f"--labels {d.labels} needs --data: the folder its file names refer to "
                              "(without both, the probe uses the built-in dataset's classes)")
        return builtin_probe_images(cfg, explicit, model_cfg)
    root = Path(d.data).expanduser()
    if not root.is_dir():
        raise ConfigError(f"--data {d.data}: no such folder; the probe reads a folder of images "
                          "(prepare zip/npy/jsonl sources into a folder first)")
    names = list_images(root)
    if not names:
        raise ConfigError(f"--data {d.data}: no images found ({', '.join(sorted(IMAGE_EXTS))})")
    labels = None
    if d.labels:
        table = match_rows(read_labels_table(d.labels), names, d.labels, d.data)
        unlabelled = len(names) - len(table)
        if unlabelled and need_labels:
            print(f"note: {unlabelled} images in {d.data} have no row in {d.labels} and are left out")
        names = [n for n in names if n in table]
        labels = [table[n] for n in names]
        if check is not None:
            check(labels)
    elif need_labels:
        raise ConfigError(f"--data {d.data} needs --labels labels.csv ('file,label' rows) for the probe")
    out = folder_probe_images(d.data, names, labels, model_cfg.image_hw, model_cfg.data.channels, cfg.run.progress)
    for name, reason in out.skipped:
        print(f"skipped {name}: {reason}")
    if out.skipped:
        print(f"skipped {len(out.skipped)} of {len(names)} images (listed above)")
    return out
