"""Small file helpers every layer uses: a file's SHA-256, JSON and JSON-lines readers that survive a torn file,
and the one JSON writer (``json_text``) every file snowgan writes goes through."""

from __future__ import annotations

import hashlib
import json
import math
from pathlib import Path
from typing import Any, Optional


def sha256_file(path: str | Path) -> str:
    """Hex SHA-256 of a file's bytes, read in 1 MiB chunks."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def read_jsonl(path: str | Path) -> list[dict]:
    """JSON objects, one per line; unreadable lines (a crash mid-write, the line being written) are skipped."""
    try:
        text = Path(path).read_text(encoding="utf-8", errors="replace")
    except OSError:
        return []
    rows = []
    for line in text.splitlines():
        line = line.strip()
        if not line:
            continue
        try:
            obj = json.loads(line)
        except ValueError:
            continue
        if isinstance(obj, dict):
            rows.append(obj)
    return rows


def read_json(path: str | Path) -> Optional[dict]:
    """A JSON object from a file, or None when it is missing, unreadable or not an object."""
    try:
        obj = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return obj if isinstance(obj, dict) else None


def finite(obj: Any) -> Any:
    """``obj`` with every NaN or infinite float (at any depth of dicts, lists and tuples) replaced by None."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: finite(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [finite(v) for v in obj]
    return obj


def json_text(obj: Any, **kw: Any) -> str:
    """Strict JSON text of ``obj``: a NaN or infinity is written as null.

    Why: Python's json writes a bare ``NaN``/``Infinity``, which is not JSON; a browser's
    ``JSON.parse``, jq and most other readers refuse the whole file. ``allow_nan=False`` makes
    anything non-finite that gets past ``finite`` (a float dict key) an error here, not there.
    """
    return json.dumps(finite(obj), allow_nan=False, **kw)
