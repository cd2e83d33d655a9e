"""Prepare once: decode a source into a memory-mappable uint8 cache, reused while nothing changes.

``prepare_dataset(cfg)`` is what training calls; ``main`` is ``snowgan --mode prepare``.

The cache folder is ``<cache>/<fingerprint>/`` (see cache.py for its files), where
<cache> is --cache_dir, else $SNOWGAN_CACHE, else ~/.cache/snowgan, and the fingerprint
hashes the source's file list with sizes and modification times plus every option
that changes the prepared pixels. Same fingerprint -> the cache is reused; touch a
file or change --image_size and it is prepared again. A dataset is written to a
temporary folder and renamed into place, so an interrupted prepare leaves no
half-written cache, and two processes preparing at once (DDP ranks) both end with
the same complete folder.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import shutil
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Iterator, Optional

import numpy as np

from .. import __version__
from ..config import Config, ConfigError
from . import labels as lab
from .arrays import open_array
from .cache import IMAGES, LABELS, MANIFEST, SKIPPED, NpyWriter, load_prepared, write_json, write_skipped
from .decode import DecodeOptions, parse_colour
from .geometry import stored_size
from .pipeline import FitOptions, Result, run_all, worker_count
from .prepared import PreparedDataset
from .records import FieldNames
from .sources import PREPARED_MARK, Source, Task, open_source

PREPARE_VERSION = 1  # bump when decoding or resizing changes what a cache holds
_ARRAY_CHUNK = 256


def cache_root(cfg: Config) -> Path:
    return Path(cfg.data.cache_dir or os.environ.get("SNOWGAN_CACHE") or "~/.cache/snowgan").expanduser()


def fit_options(cfg: Config) -> FitOptions:
    d = cfg.data
    fields = FieldNames(d.field_image, d.field_label, d.field_invert, d.field_orientation, d.field_mask)
    return FitOptions(DecodeOptions(d.channels, d.alpha, parse_colour(d.background)),
                      stored_size(cfg.image_hw, d.resize), d.resize, fields)


def option_record(cfg: Config, source: Source, fit: FitOptions) -> dict:
    """The options that decide the prepared pixels and labels (only those that apply to this source)."""
    d = cfg.data
    rec: dict = {"version": PREPARE_VERSION, "stored_hw": list(fit.stored_hw), "channels": d.channels,
                 "resize": d.resize, "alpha": d.alpha, "background": list(fit.decode.background)}
    if source.kind == "jsonl":
        rec["fields"] = dataclasses.asdict(fit.fields)
    if source.kind == "npy":
        rec["npy_layout"], rec["npy_range"] = d.npy_layout, d.npy_range
    if d.labels:
        p = Path(d.labels).expanduser().resolve()
        st = p.stat() if p.is_file() else None
        rec["labels"] = [str(p), st.st_size if st else -1, st.st_mtime_ns if st else 0]
    return rec


def fingerprint(source: Source, options: dict, times: bool = True) -> str:
    """20 hex digits naming the source's files (name, size and, with times, modification time) and
    the options. times=False gives the content id a run records, so that copying or touching the
    same files (new times, a new cache) is told apart from photos added, removed or edited."""
    files = source.stamp if times else [row[:2] for row in source.stamp]
    blob = json.dumps({"kind": source.kind, "path": str(source.path), "files": files, "options": options},
                      sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()[:20]


# ---- public entry points ------------------------------------------------------------

def prepare_dataset(cfg: Config, progress: str = "auto") -> PreparedDataset:
    """The dataset cfg describes, prepared (or reused from the cache).

    images: uint8 (N, C, H, W) memory-mapped; H, W = the --image_size, or larger by
    geometry.RANDOM_CROP_MARGIN with --resize random-crop (the loader crops).
    Raises ConfigError when the source is missing or too much of it is unreadable.
    """
    return prepare_into(cfg, progress)[0]


# ---- the work -------------------------------------------------------------------------

def _say(progress: str, text: str) -> None:
    if progress != "none":
        print(text, file=sys.stderr, flush=True)


def prepare_into(cfg: Config, progress: str, out: Optional[Path] = None) -> tuple[PreparedDataset, Path, bool]:
    """(dataset, folder it lives in, reused?) — the cache folder, --out, or a prepared --data folder."""
    if cfg.data.data is None or cfg.data.data_format == "builtin":
        from .synthetic import builtin_dataset

        return builtin_dataset(cfg), Path("."), False
    source = open_source(cfg.data.data, cfg.data.data_format)
    if source.kind == "prepared":
        if out is not None:
            raise ConfigError(f"--data {cfg.data.data} is already a prepared dataset; train on it directly")
        return _use_prepared(source.path, cfg), source.path, True
    fit = fit_options(cfg)
    fp = fingerprint(source, option_record(cfg, source, fit))
    root = cache_root(cfg)
    dest = out if out is not None else root / fp
    if out is None and dest.is_dir():
        try:
            ds, m = load_prepared(dest)
            inputs = int(m["counts"]["inputs"])
        except (OSError, ValueError, KeyError, TypeError):
            shutil.rmtree(dest, ignore_errors=True)  # incomplete or damaged: prepare it again
        else:
            _check_failures(inputs, ds.skipped, len(ds), cfg, dest / SKIPPED)  # --max_bad_fraction may be lower now
            _say(progress, f"dataset: reusing {dest} (source and options unchanged)")
            return ds, dest, True
    try:
        root.mkdir(parents=True, exist_ok=True)
        tmp = dest.parent / f".{dest.name}.tmp-{os.getpid()}"
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
    except OSError as e:
        raise ConfigError(f"cannot write the prepared dataset under {dest.parent} ({e}); "
                          "set --cache_dir or $SNOWGAN_CACHE to a writable folder") from None
    try:
        _say(progress, f"dataset: preparing {source.summary()} -> {dest}")
        _build(source, fit, tmp, cfg, fp, progress, failed_report=root / f"failed-{fp}.txt")
        _move_into_place(tmp, dest)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    ds, _ = load_prepared(dest)
    return ds, dest, False


def _use_prepared(folder: Path, cfg: Config) -> PreparedDataset:
    try:
        ds, _ = load_prepared(folder)
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise ConfigError(f"--data {folder}: damaged prepared dataset ({e}); prepare it again") from None
    c, h, w = ds.shape
    th, tw = cfg.image_hw
    if c != cfg.data.channels or h < th or w < tw:
        raise ConfigError(f"--data {folder} was prepared as {c}x{h}x{w}; prepare it again for --image_size "
                          f"{cfg.data.image_size} --channels {cfg.data.channels}, or train at its size")
    return ds


def _move_into_place(tmp: Path, dest: Path) -> None:
    if not dest.exists():
        try:
            os.rename(tmp, dest)
            return
        except OSError:
            if (dest / MANIFEST).is_file():  # another process finished the same dataset first
                return
            raise
    for name in (IMAGES, LABELS, SKIPPED, MANIFEST):  # manifest last: it vouches for the rest
        if (tmp / name).exists():
            os.replace(tmp / name, dest / name)
        else:
            (dest / name).unlink(missing_ok=True)


def _array_tasks(source: Source, fit: FitOptions, cfg: Config) -> tuple[Iterator[Task], int, str, bool]:
    """(tasks, count, detail, needs a pool?) for an .npy/.npz source."""
    arr = open_array(source.path, cfg.data.npy_layout, cfg.data.npy_range)
    h, w, c = arr.hwc
    ready = (h, w) == fit.stored_hw and c == fit.decode.channels  # nothing to resize: no pool needed

    def gen() -> Iterator[Task]:
        for s in range(0, len(arr), _ARRAY_CHUNK):
            chunk = arr.chunk_hwc(s, min(len(arr), s + _ARRAY_CHUNK))
            for j, img in enumerate(chunk):
                i = s + j
                label = None if arr.labels is None else str(arr.labels[i])
                yield ("array", f"{source.path.name}[{i}]", (img, label))
    return gen(), len(arr), arr.note, not ready


def _check_failures(total: int, skipped: list[tuple[str, str]], kept: int, cfg: Config, report: Path) -> None:
    """ConfigError when nothing, or more than --max_bad_fraction of the inputs, could be used."""
    bad = len(skipped)
    if kept > 0 and bad <= cfg.data.max_bad_fraction * total:
        return
    common = Counter(reason.split(" (")[0] for _, reason in skipped).most_common(5)
    for reason, n in common:
        print(f"  {n} x {reason}", file=sys.stderr)
    if kept == 0:
        raise ConfigError(f"--data {cfg.data.data}: none of the {total} inputs could be used; reasons in "
                          f"{report}")
    raise ConfigError(f"--data {cfg.data.data}: {bad} of {total} inputs could not be used, more than "
                      f"--max_bad_fraction {cfg.data.max_bad_fraction:g}; reasons in {report}; fix or remove "
                      "them, or raise --max_bad_fraction")


@dataclasses.dataclass
class _Decoded:
    """What decoding every input gave: one record per input, the skipped ones with their reasons,
    the labels of the kept ones (in order), how many were upscaled, and the images written."""

    inputs: list[dict] = dataclasses.field(default_factory=list)
    skipped: list[tuple[str, str]] = dataclasses.field(default_factory=list)
    kept_labels: list[Optional[str]] = dataclasses.field(default_factory=list)
    upscaled: int = 0
    n: int = 0


def _build(source: Source, fit: FitOptions, dest: Path, cfg: Config, fp: str, progress: str,
           failed_report: Path) -> None:
    """Decode every input of `source` into `dest` (images.npy, labels.npy, skipped.txt, manifest.json)."""
    t0 = time.time()
    detail = ""
    if source.kind == "npy":
        tasks, total, detail, parallel = _array_tasks(source, fit, cfg)
        workers = worker_count(cfg.data.workers) if parallel else 1
    else:
        tasks, total, workers = source.tasks(), source.count(), worker_count(cfg.data.workers)
    table = lab.read_labels_csv(cfg.data.labels) if cfg.data.labels else None
    folder_cls = None
    loose = 0  # images outside the class sub-folders the others sit in
    if table is None and source.kind in ("folder", "zip"):
        names = [n for n, _ in source.images]
        cls = lab.folder_classes(names)
        folder_cls = dict(zip(names, cls)) if cls else None
        loose = lab.loose_images(names) if cls is None else 0
    d = _decode_all(run_all(tasks, total, fit, workers, progress), dest, fit, table, folder_cls)
    write_skipped(dest / SKIPPED, d.skipped)
    if d.skipped:
        shutil.copyfile(dest / SKIPPED, failed_report)
    _check_failures(len(d.inputs), d.skipped, d.n, cfg, failed_report)
    failed_report.unlink(missing_ok=True)

    label_source, notes = _label_source(source, table, folder_cls, d.kept_labels)
    missing = sum(x is None for x in d.kept_labels)
    unlabelled = 0 if label_source else (loose or (missing if missing < len(d.kept_labels) else 0))
    class_names: list[str] = []
    if label_source:
        idx, class_names = lab.encode([str(x) for x in d.kept_labels])
        np.save(dest / LABELS, idx)
    description = _describe(source, fit, d, class_names, label_source, [p for p in (detail, *notes) if p])
    c, (th, tw) = fit.decode.channels, fit.stored_hw
    write_json(dest / MANIFEST, {
        PREPARED_MARK: PREPARE_VERSION, "fingerprint": fp, "snowgan_version": __version__,
        "content": fingerprint(source, option_record(cfg, source, fit), times=False),
        "created": time.strftime("%Y-%m-%dT%H:%M:%S"), "seconds": round(time.time() - t0, 3),
        "description": description,
        "source": {"kind": source.kind, "path": str(source.path), "detail": detail, "ignored_files": source.ignored},
        "options": option_record(cfg, source, fit),
        "counts": {"inputs": len(d.inputs), "images": d.n, "skipped": len(d.skipped), "upscaled": d.upscaled,
                   "unlabelled": unlabelled},
        "shape": [d.n, c, th, tw], "class_names": class_names, "label_source": label_source,
        "inputs": d.inputs,
    })


def _decode_all(results, dest: Path, fit: FitOptions, table: Optional[lab.CsvLabels],
                folder_cls: Optional[dict]) -> _Decoded:
    """Append every decoded image to images.npy (uint8 (N, C, H, W)); skip, and record why, the rest."""
    d = _Decoded()
    writer = NpyWriter(dest / IMAGES, (fit.decode.channels, *fit.stored_hw))
    try:
        for r in results:
            label, reason = _label_for(r, table, folder_cls)
            if reason is not None:
                d.skipped.append((r.name, reason))
                d.inputs.append({"name": r.name, "status": "skipped", "reason": reason})
                continue
            writer.append(r.image)  # type: ignore[arg-type]
            entry = {"name": r.name, "status": "ok", "index": writer.n - 1}
            if r.upscaled:
                entry["upscaled"] = True
                d.upscaled += 1
            d.inputs.append(entry)
            d.kept_labels.append(label)
    finally:
        d.n = writer.close()
    return d


def _describe(source: Source, fit: FitOptions, d: _Decoded, class_names: list[str], label_source: Optional[str],
              extra: list[str]) -> str:
    """The dataset's one-line description (and a warning on stderr when images were upscaled)."""
    c, (th, tw) = fit.decode.channels, fit.stored_hw
    parts = [f"{source.summary()}: {d.n} images {c}x{th}x{tw}"]
    if class_names:
        parts.append(f"{len(class_names)} classes from {label_source}")
    if d.skipped:
        parts.append(f"{len(d.skipped)} of {len(d.inputs)} inputs skipped")
    if d.upscaled:
        parts.append(f"{d.upscaled} upscaled")
        margin = " (stored size for --resize random-crop)" if fit.resize == "random-crop" else ""
        print(f"warning: {d.upscaled} of {d.n} images are smaller than {th}x{tw}{margin} and were upscaled (they "
              "will look soft); a smaller --image_size avoids that", file=sys.stderr)
    return ", ".join(parts + extra)


def _label_for(r: Result, table: Optional[lab.CsvLabels], folder_cls: Optional[dict]
               ) -> tuple[Optional[str], Optional[str]]:
    """(label, skip reason) of one result."""
    if r.reason is not None:
        return None, r.reason
    if table is not None:
        label = table.get(r.name)
        if label is None:
            return None, f"no row in --labels {table.path}"
        return label, None
    if folder_cls is not None:
        return folder_cls[r.name], None
    return r.label, None


def _label_source(source: Source, table: Optional[lab.CsvLabels], folder_cls: Optional[dict],
                  kept: list[Optional[str]]) -> tuple[Optional[str], list[str]]:
    """Where the labels came from (None = no labels), and notes for the description."""
    if table is not None:
        return "labels.csv", []
    if folder_cls is not None:
        return "sub-folders", []
    have = sum(x is not None for x in kept)
    if have == 0:
        return None, []
    what = "the JSONL label field" if source.kind == "jsonl" else "the .npz labels"
    if have < len(kept):
        return None, [f"labels ignored: {len(kept) - have} of {len(kept)} images have none in {what}"]
    return what, []
