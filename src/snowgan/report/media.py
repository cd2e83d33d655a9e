"""Where pictures and videos of a run live, how new ones are named, and how the report embeds them.

- ``RUN/media/KIND-NNNNN.{gif,mp4,png}``: made by ``--mode interpolate / average / progress``, and
  by ``--mode report`` when the run has none of a kind that is newer than its inputs; each call
  takes the next free number, so nothing made before is ever overwritten, and the report shows
  the newest of each kind (one folder, one copy: the report once kept its own in ``RUN/report/``,
  still read here for older run folders).
- ``RUN/plots/*.png``: the training curves (plots.py), redrawn each time.
"""

from __future__ import annotations

import base64
import re
from pathlib import Path
from typing import Optional, Sequence
from urllib.parse import quote

from ..runfolder import RunFolder

# Files up to this size are embedded in report.html as data: URIs (the report then works
# when copied alone); bigger ones are linked by relative path, next to the report.
EMBED_MAX_BYTES = 8 << 20
MIME = {".png": "image/png", ".gif": "image/gif", ".mp4": "video/mp4", ".jpg": "image/jpeg"}


def next_numbered(folder: Path, kind: str, exts: Sequence[str]) -> Path:
    """``folder/KIND-NNNNN`` (no extension) with the lowest number above every existing one of
    this kind, whatever the extension, so a GIF and its MP4 share a number."""
    pattern = re.compile(rf"^{re.escape(kind)}-(\d{{5}})\.")
    used = [int(m.group(1)) for p in folder.iterdir() if (m := pattern.match(p.name))] if folder.is_dir() else []
    n = max(used, default=0) + 1
    while any((folder / f"{kind}-{n:05d}.{e}").exists() for e in exts):  # pragma: no cover - race only
        n += 1
    return folder / f"{kind}-{n:05d}"


def newest(run_dir: Path, kind: str, ext: str) -> Optional[Path]:
    """The newest (by modification time) ``media/KIND-NNNNN.EXT`` of a run, or an older snowgan's ``report/KIND.EXT``."""
    folder = RunFolder(run_dir)
    pattern = re.compile(rf"^{re.escape(kind)}-\d{{5}}\.{re.escape(ext)}$")
    media = folder.media
    found = [p for p in media.iterdir() if pattern.match(p.name)] if media.is_dir() else []
    own = folder.old_report_media / f"{kind}.{ext}"
    if own.is_file():
        found.append(own)
    return max(found, key=lambda p: (p.stat().st_mtime, p.name), default=None)


def data_uri(data: bytes, suffix: str) -> str:
    return f"data:{MIME.get(suffix.lower(), 'application/octet-stream')};base64,{base64.b64encode(data).decode()}"


def src_for(path: Path, run_dir: Path, embed_max: Optional[int] = None) -> str:
    """A URL for ``path`` inside report.html: a data: URI when at most embed_max bytes
    (default EMBED_MAX_BYTES), else the path relative to the run folder (report.html lives
    there). Never an http(s) URL."""
    path = Path(path)
    if path.stat().st_size <= (EMBED_MAX_BYTES if embed_max is None else embed_max):
        return data_uri(path.read_bytes(), path.suffix)
    return relative_url(path, run_dir)


def relative_url(path: Path, run_dir: Path) -> str:
    rel = Path(path).resolve().relative_to(Path(run_dir).resolve())
    return "/".join(quote(part) for part in rel.parts)
