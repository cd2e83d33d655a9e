"""`snowgan --mode prepare`: decode and fit a source once into a prepared dataset folder (data/prepare.py)."""

from __future__ import annotations

from pathlib import Path

from ..config import Config, ConfigError
from ..data.builtin_folder import LABELS_FILE, write_builtin_folder
from ..data.cache import SKIPPED
from ..data.prepare import prepare_into
from .common import check_out


def main(cfg: Config, explicit: set[str]) -> int:
    """snowgan --mode prepare --data SRC --image_size S [--out DIR [--force]]

    With --data_format builtin (or no --data) and --out DIR: the built-in mountains as
    PNGs + labels.csv in DIR (see builtin_folder.py).
    """
    if not cfg.data.data or cfg.data.data_format == "builtin":
        if not cfg.cmd.out:
            raise ConfigError("--mode prepare needs --data PATH (a folder of images, a .zip, .npy/.npz or "
                              ".jsonl[.gz] shards), or --data_format builtin --out DIR to write the built-in "
                              "images as PNGs with a labels.csv")
        out = Path(cfg.cmd.out).expanduser()
        n, classes = write_builtin_folder(cfg, out)
        h, w = cfg.image_hw
        first = int(cfg.data.builtin_start)
        print(f"wrote {n} built-in images {first}..{first + n - 1} ({h}x{w}, classes {', '.join(classes)}) "
              f"and {LABELS_FILE} to {out}")
        return 0
    out = check_out(cfg.cmd.out, cfg.cmd.force, folder=True, what="prepared dataset")
    ds, folder, reused = prepare_into(cfg, cfg.run.progress, out.resolve() if out else None)
    print(ds.description)
    size_mb = ds.images.nbytes / 2 ** 20
    print(f"{'reused' if reused else 'wrote'} {folder} (images.npy {tuple(ds.images.shape)} uint8, {size_mb:.1f} MB)")
    if ds.skipped:
        print(f"{len(ds.skipped)} input(s) skipped, reasons in {folder / SKIPPED}")
    return 0
