"""One JSONL record -> image bytes and metadata (field names from --field_* flags).

A record is one JSON object per line, e.g.::

    {"image": "data:image/png;base64,iVBOR...", "invert": true, "orientation": 6,
     "mask": "iVBOR...", "label": "noise-3"}

Every field except the image is optional. ``exif_rotation`` is accepted as another
name for the orientation field (the 004 shards used it). Anything wrong with a
record raises SkipImage; the caller adds the shard name and line number.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from dataclasses import dataclass
from typing import Any, Optional

from .decode import SkipImage

ORIENTATION_ALIASES = ("exif_rotation", "orientation")
_WS = re.compile(rb"\s+")


@dataclass(frozen=True)
class FieldNames:
    image: str = "image"
    label: str = "label"
    invert: str = "invert"
    orientation: str = "orientation"
    mask: str = "mask"


@dataclass
class Record:
    image: bytes
    invert: bool = False
    orientation: Any = None        # None = use the image's EXIF tag
    mask: Optional[bytes] = None
    label: Optional[str] = None


def b64_bytes(value: Any, field: str) -> bytes:
    """Base64 text (standard or URL-safe, optional data: prefix, any line breaks) -> bytes."""
    if not isinstance(value, str):
        raise SkipImage(f"field '{field}' is {type(value).__name__}, not base64 text")
    text = value.strip()
    if text.startswith("data:"):
        comma = text.find(",")
        if comma < 0 or ";base64" not in text[:comma]:
            raise SkipImage(f"field '{field}' is a data: URI without ';base64,'")
        text = text[comma + 1:]
    raw = _WS.sub(b"", text.encode("ascii", errors="replace"))
    raw += b"=" * (-len(raw) % 4)  # tolerate stripped padding
    try:
        altchars = b"-_" if (b"-" in raw or b"_" in raw) else None
        return base64.b64decode(raw, altchars=altchars, validate=True)
    except (binascii.Error, ValueError) as e:
        raise SkipImage(f"field '{field}' is not valid base64 ({e})") from None


def _as_bool(value: Any, field: str) -> bool:
    if value is None or isinstance(value, bool):
        return bool(value)
    if isinstance(value, (int, float)) and value in (0, 1):
        return bool(value)
    if isinstance(value, str) and value.strip().lower() in ("true", "false", "1", "0", "yes", "no", ""):
        return value.strip().lower() in ("true", "1", "yes")
    raise SkipImage(f"field '{field}' is {value!r}, not true/false")


def parse_record(line: bytes | str, fields: FieldNames) -> Record:
    """Parse one JSONL line. Raises SkipImage naming what is wrong."""
    try:
        obj = json.loads(line)
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise SkipImage(f"not valid JSON ({e})") from None
    if not isinstance(obj, dict):
        raise SkipImage(f"record is a JSON {type(obj).__name__}, not an object")
    if obj.get(fields.image) is None:
        raise SkipImage(f"no '{fields.image}' field (set --field_image to the field holding the image)")
    rec = Record(image=b64_bytes(obj[fields.image], fields.image),
                 invert=_as_bool(obj.get(fields.invert), fields.invert))
    for name in (fields.orientation,) + ORIENTATION_ALIASES:
        if obj.get(name) is not None:
            rec.orientation = obj[name]
            break
    if obj.get(fields.mask) is not None:
        rec.mask = b64_bytes(obj[fields.mask], fields.mask)
    label = obj.get(fields.label)
    if label is not None:
        if isinstance(label, (dict, list)):
            raise SkipImage(f"field '{fields.label}' is a JSON {type(label).__name__}, not a name or number")
        rec.label = str(label)
    return rec
