"""The on-disk form of a prepared dataset, and reading it back memory-mapped.

A prepared folder (``<cache>/<fingerprint>/`` or ``--out DIR``) holds:
  images.npy     uint8 (N, C, H, W), a plain .npy file: np.load(..., mmap_mode="r") reads it
                 without loading it, so datasets larger than memory still train;
  labels.npy     int64 (N,) class indices (only when the source has labels);
  manifest.json  fingerprint, source, options, counts, class names and the status of
                 every input (``{"name", "status": "ok", "index"}`` or ``{"name",
                 "status": "skipped", "reason"}``);
  skipped.txt    one ``name<TAB>reason`` line per input that could not be used.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, BinaryIO, Optional

import numpy as np

from ..files import json_text
from .prepared import PreparedDataset
from .sources import PREPARED_MARK

MANIFEST = "manifest.json"
IMAGES = "images.npy"
LABELS = "labels.npy"
SKIPPED = "skipped.txt"
FILES = (IMAGES, LABELS, MANIFEST, SKIPPED)
_HEADER_BYTES = 128  # .npy v1.0 header, reserved up front and filled in when N is known


class NpyWriter:
    """Append uint8 (C, H, W) images to an .npy file without knowing N in advance.

    The header (which holds the shape) is reserved first and written at close(), so
    images stream to disk in one pass: no count beforehand, no copy afterwards.
    """

    def __init__(self, path: Path, chw: tuple[int, int, int]) -> None:
        self.path, self.chw, self.n = path, tuple(chw), 0
        self._f: Optional[BinaryIO] = open(path, "wb")
        self._f.write(b"\0" * _HEADER_BYTES)

    def append(self, image: np.ndarray) -> None:
        if image.shape != self.chw or image.dtype != np.uint8:
            raise ValueError(f"expected uint8 {self.chw}, got {image.dtype} {image.shape}")
        assert self._f is not None
        self._f.write(np.ascontiguousarray(image).tobytes())
        self.n += 1

    def close(self) -> int:
        """Write the header; returns N."""
        if self._f is None:
            return self.n
        shape = (self.n,) + self.chw
        header = "{'descr': '|u1', 'fortran_order': False, 'shape': %r, }" % (shape,)
        # magic (6) + version (2) + header length (2) + header text ending in '\n'
        room = _HEADER_BYTES - 10
        text = header.ljust(room - 1) + "\n"
        assert len(text) == room, "shape too long for the reserved .npy header"
        self._f.seek(0)
        self._f.write(b"\x93NUMPY\x01\x00" + room.to_bytes(2, "little") + text.encode("latin1"))
        self._f.close()
        self._f = None
        return self.n


def write_json(path: Path, obj: Any) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json_text(obj, indent=1, ensure_ascii=False), encoding="utf-8")
    os.replace(tmp, path)


def write_skipped(path: Path, skipped: list[tuple[str, str]]) -> None:
    with open(path, "w", encoding="utf-8") as f:
        for name, reason in skipped:
            f.write(f"{name}\t{reason}\n")


def read_manifest(folder: Path) -> dict:
    m = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
    if PREPARED_MARK not in m:
        raise ValueError(f"{folder / MANIFEST} is not a snowgan prepared-dataset manifest")
    return m


def load_prepared(folder: Path) -> tuple[PreparedDataset, dict]:
    """Open a prepared folder: images memory-mapped read-only. Raises OSError/ValueError/KeyError
    when it is incomplete or does not match its manifest."""
    m = read_manifest(folder)
    images = np.load(folder / IMAGES, mmap_mode="r", allow_pickle=False)
    if list(images.shape) != list(m["shape"]) or images.dtype != np.uint8:
        raise ValueError(f"{folder / IMAGES} is {images.dtype} {images.shape}, manifest says {m['shape']}")
    labels = None
    if m.get("class_names"):
        labels = np.load(folder / LABELS, allow_pickle=False)
        if labels.shape != (images.shape[0],):
            raise ValueError(f"{folder / LABELS} has shape {labels.shape}, expected ({images.shape[0]},)")
    skipped = [(e["name"], e["reason"]) for e in m.get("inputs", []) if e.get("status") == "skipped"]
    ds = PreparedDataset(images=images, labels=labels, class_names=list(m.get("class_names", [])),
                         fingerprint=m["fingerprint"], content=m.get("content", ""),
                         description=m.get("description", ""), skipped=skipped,
                         unlabelled=int(m.get("counts", {}).get("unlabelled", 0)))
    return ds, m
