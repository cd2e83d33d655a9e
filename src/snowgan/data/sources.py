"""Find out what --data points at and list its inputs.

Kinds (``--data_format auto`` detects them in this order):
  prepared  a folder written by ``snowgan --mode prepare --out DIR`` (manifest.json + images.npy)
  npy       a .npy or .npz array file
  jsonl     a .jsonl / .jsonl.gz file, a folder of them, or a .zip of them
  zip       a .zip of image files
  folder    a folder of image files, searched recursively

Image files are matched by extension, case-insensitively (IMAGE_EXTS). Hidden files
and folders (``.x``, macOS ``._x`` resource forks) and ``__MACOSX`` folders are ignored;
symbolic links are followed (each real folder visited once, so a link loop ends). An
input that is not a regular file (a FIFO, a socket, a device, or a link to one) is
listed and then skipped with its reason when read (``open_regular``): reading a FIFO
waits for a writer forever, and a device such as /dev/zero never ends.
Inputs are listed in sorted name order, so the prepared order does not depend on the
file system.

The work of preparing is a stream of tasks ``(kind, name, payload)``:
  ("file", "sub/a.jpg", "/abs/path/sub/a.jpg")
  ("zip", "sub/a.jpg", ("/abs/data.zip", "sub/a.jpg"))
  ("jsonl", "shard-0.jsonl.gz:12", b'{"image": ...}')     name ends in the 1-based line
  ("bad", "shard-1.jsonl.gz", "reason")                    an input already known to fail
"""

from __future__ import annotations

import gzip
import json
import os
import stat
import zipfile
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Iterator, Optional

from ..config import ConfigError

IMAGE_EXTS = (".png", ".jpg", ".jpeg", ".webp", ".bmp", ".gif", ".tif", ".tiff")
SHARD_EXTS = (".jsonl", ".jsonl.gz")
PREPARED_MARK = "snowgan_prepared"

Task = tuple[str, str, object]


def _is_image(name: str) -> bool:
    return name.lower().endswith(IMAGE_EXTS)


def _is_shard(name: str) -> bool:
    return name.lower().endswith(SHARD_EXTS)


def _hidden(part: str) -> bool:
    return part.startswith(".") or part == "__MACOSX"


class NotRegular(OSError):
    """An input that is not a regular file; str(e) is the reason (``not a regular file (a FIFO)``)."""


def _what(mode: int) -> str:
    kinds = ((stat.S_ISFIFO, "a FIFO"), (stat.S_ISSOCK, "a socket"), (stat.S_ISCHR, "a character device"),
             (stat.S_ISBLK, "a block device"), (stat.S_ISDIR, "a folder"))
    return next((name for test, name in kinds if test(mode)), "not a file")


def _regular(mode: int) -> None:
    if not stat.S_ISREG(mode):
        raise NotRegular(f"not a regular file ({_what(mode)})")


def open_regular(path: str | Path) -> IO[bytes]:
    """``open(path, "rb")`` for a regular file (or a link to one); NotRegular for anything else.

    Checked by name first (opening a socket fails with a less useful error), then again on
    the open file, opened non-blocking: a FIFO swapped in between returns at once instead of
    waiting for a writer.
    """
    _regular(os.stat(path).st_mode)
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    try:
        _regular(os.fstat(fd).st_mode)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def _stat(path: str) -> tuple[int, int]:
    try:
        st = os.stat(path)
        return st.st_size, st.st_mtime_ns
    except OSError:  # broken symlink, vanished file: listed, and skipped when read
        return -1, 0


@dataclass
class ShardRef:
    """One JSONL shard: a file on disk, or a member of a zip when `member` is set."""

    name: str
    path: str
    member: Optional[str] = None


@dataclass
class Source:
    kind: str                        # prepared | npy | jsonl | zip | folder
    path: Path
    images: list[tuple[str, str]] = field(default_factory=list)  # (name, file path or zip member)
    shards: list[ShardRef] = field(default_factory=list)
    ignored: int = 0                 # files skipped for their extension (not counted as inputs)
    stamp: list = field(default_factory=list)  # [name, size, mtime_ns] rows: the source's fingerprint

    def count(self) -> Optional[int]:
        """Number of inputs (JSONL: non-blank lines, which costs one read of the shards)."""
        if self.kind in ("folder", "zip"):
            return len(self.images)
        if self.kind == "jsonl":
            return sum(1 for ref in self.shards for _ in _shard_lines(ref, count_only=True))
        return None

    def tasks(self) -> Iterator[Task]:
        if self.kind == "folder":
            for name, p in self.images:
                yield ("file", name, p)
        elif self.kind == "zip":
            for name, member in self.images:
                yield ("zip", name, (str(self.path), member))
        elif self.kind == "jsonl":
            for ref in self.shards:
                yield from _shard_lines(ref)
        else:
            raise ValueError(f"{self.kind} sources have no per-file tasks")

    def summary(self) -> str:
        what = {"folder": "folder", "zip": "zip", "jsonl": "JSONL", "npy": "array", "prepared": "prepared"}[self.kind]
        extra = f", {len(self.shards)} shard(s)" if self.kind == "jsonl" else ""
        return f"{what} {self.path}{extra}"


def open_source(data: str, fmt: str = "auto") -> Source:
    """Detect and list the source at `data`. ConfigError when missing, empty or unreadable."""
    p = Path(data).expanduser()
    if not p.exists():
        raise ConfigError(f"--data {data}: no such file or folder; give a folder of images, a .zip, "
                          ".npy/.npz or .jsonl[.gz] shards")
    p = p.resolve()
    if not (p.is_dir() or p.is_file()):
        raise ConfigError(f"--data {data}: not a regular file or folder ({_what(p.stat().st_mode)}); give a folder "
                          "of images, a .zip, .npy/.npz or .jsonl[.gz] shards")
    name = p.name.lower()
    if fmt == "auto":
        if p.is_dir():
            fmt = "prepared" if _is_prepared(p) else "folder"
        elif name.endswith((".npy", ".npz")):
            fmt = "npy"
        elif _is_shard(name):
            fmt = "jsonl"
        elif name.endswith(".zip"):
            return _zip_source(p, data, "auto")  # images or shards: decided by what it holds
        else:
            raise ConfigError(f"--data {data}: cannot tell what this file is; expected a folder, .zip, "
                              ".npy/.npz or .jsonl[.gz] (or set --data_format)")
    if fmt == "prepared":
        return Source("prepared", p, stamp=[[p.name, *_stat(str(p / "manifest.json"))]])
    if fmt == "npy":
        if not p.is_file():
            raise ConfigError(f"--data {data}: --data_format npy needs a .npy or .npz file")
        return Source("npy", p, stamp=[[p.name, *_stat(str(p))]])
    if p.is_dir():
        return _folder_source(p, data, fmt)
    if fmt == "folder":
        raise ConfigError(f"--data {data}: --data_format folder needs a folder")
    if fmt == "zip" or (fmt == "jsonl" and name.endswith(".zip")):
        return _zip_source(p, data, fmt)
    if fmt == "jsonl":
        return Source("jsonl", p, shards=[ShardRef(p.name, str(p))], stamp=[[p.name, *_stat(str(p))]])
    raise ConfigError(f"--data {data}: --data_format {fmt} does not fit this path")


def _is_prepared(p: Path) -> bool:
    m = p / "manifest.json"
    if not (m.is_file() and (p / "images.npy").is_file()):
        return False
    try:
        return PREPARED_MARK in json.loads(m.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False


def walk(root: Path) -> Iterator[tuple[str, str]]:
    """(relative posix name, absolute path) of every non-hidden file, following links once."""
    seen: set[tuple[int, int]] = set()
    for dirpath, dirnames, filenames in os.walk(root, followlinks=True):
        try:
            st = os.stat(dirpath)
        except OSError:
            dirnames[:] = []
            continue
        if (st.st_dev, st.st_ino) in seen:  # a symlink loop or a second link to the same folder
            dirnames[:] = []
            continue
        seen.add((st.st_dev, st.st_ino))
        dirnames[:] = sorted(d for d in dirnames if not _hidden(d))
        rel_dir = Path(dirpath).relative_to(root)
        for f in filenames:
            if not _hidden(f):
                yield (rel_dir / f).as_posix(), os.path.join(dirpath, f)


def _folder_source(p: Path, data: str, fmt: str) -> Source:
    images, shards, ignored = [], [], 0
    for rel, full in walk(p):
        if _is_image(rel):
            images.append((rel, full))
        elif _is_shard(rel):
            shards.append(ShardRef(rel, full))
        else:
            ignored += 1
    images.sort()
    shards.sort(key=lambda r: r.name)
    use_shards = fmt == "jsonl" or (fmt == "auto" and not images and shards) or (fmt == "folder" and not images
                                                                                   and shards)
    if use_shards:
        if not shards:
            raise ConfigError(f"--data {data}: no .jsonl or .jsonl.gz shards in this folder")
        stamp = [[r.name, *_stat(r.path)] for r in shards]
        return Source("jsonl", p, shards=shards, ignored=ignored + len(images), stamp=stamp)
    if not images:
        raise ConfigError(f"--data {data}: no images found (looked for {', '.join(IMAGE_EXTS)} in all "
                          "sub-folders, any letter case); point --data at the folder that holds them")
    stamp = [[rel, *_stat(full)] for rel, full in images]
    return Source("folder", p, images=images, ignored=ignored + len(shards), stamp=stamp)


def _zip_source(p: Path, data: str, fmt: str) -> Source:
    try:
        with zipfile.ZipFile(p) as zf:
            names = [i.filename for i in zf.infolist() if not i.is_dir()]
    except (zipfile.BadZipFile, OSError) as e:
        raise ConfigError(f"--data {data}: not a readable zip file ({e})") from None
    names = sorted(n for n in names if not any(_hidden(part) for part in n.split("/")))
    images = [(n, n) for n in names if _is_image(n)]
    shards = [ShardRef(f"{p.name}/{n}", str(p), n) for n in names if _is_shard(n)]
    stamp = [[p.name, *_stat(str(p))]]
    if fmt == "jsonl" or (fmt == "auto" and not images and shards):
        if not shards:
            raise ConfigError(f"--data {data}: this zip holds no .jsonl or .jsonl.gz shards")
        return Source("jsonl", p, shards=shards, ignored=len(names) - len(shards), stamp=stamp)
    if not images:
        raise ConfigError(f"--data {data}: this zip holds no images ({', '.join(IMAGE_EXTS)}) "
                          "and no .jsonl shards")
    return Source("zip", p, images=images, ignored=len(names) - len(images), stamp=stamp)


def _open_shard(ref: ShardRef, stack: ExitStack) -> IO[bytes]:
    if ref.member is None:
        raw: IO[bytes] = stack.enter_context(open_regular(ref.path))
        gz_name = ref.path
    else:
        zf = stack.enter_context(zipfile.ZipFile(ref.path))
        raw = stack.enter_context(zf.open(ref.member))
        gz_name = ref.member
    if gz_name.lower().endswith(".gz"):
        return stack.enter_context(gzip.GzipFile(fileobj=raw))
    return raw


def _shard_lines(ref: ShardRef, count_only: bool = False) -> Iterator[Task]:
    """Tasks for the non-blank lines of a shard; a shard that breaks off yields one 'bad' task."""
    line_no = 0
    try:
        with ExitStack() as stack:
            for line_no, line in enumerate(_open_shard(ref, stack), 1):
                if line.strip():
                    yield ("jsonl", f"{ref.name}:{line_no}", b"" if count_only else line)
    except (OSError, EOFError, zipfile.BadZipFile, RuntimeError) as e:
        # gzip.BadGzipFile is an OSError; RuntimeError is an encrypted zip member.
        where = f"after line {line_no}" if line_no else "from the start"
        yield ("bad", ref.name, f"shard unreadable {where} ({type(e).__name__}: {e})")


class ZipReader:
    """Reads zip members, keeping each archive open for the life of a worker process."""

    def __init__(self) -> None:
        self._open: dict[str, zipfile.ZipFile] = {}

    def read(self, path: str, member: str) -> bytes:
        zf = self._open.get(path)
        if zf is None:
            zf = self._open[path] = zipfile.ZipFile(path)
        return zf.read(member)
