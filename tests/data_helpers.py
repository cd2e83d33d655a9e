"""Image files made by the tests themselves: every awkward case a real collection holds."""

from __future__ import annotations

import base64
import io
import os
import struct
import zlib
from pathlib import Path

import numpy as np
from PIL import Image

RED, GREEN, BLUE, WHITE = (255, 0, 0), (0, 255, 0), (0, 0, 255), (255, 255, 255)


def encode(im: Image.Image, fmt: str = "PNG", **kw) -> bytes:
    b = io.BytesIO()
    im.save(b, fmt, **kw)
    return b.getvalue()


def b64(data: bytes, data_uri: bool = False) -> str:
    text = base64.b64encode(data).decode("ascii")
    return f"data:image/png;base64,{text}" if data_uri else text


def halves(w: int = 16, h: int = 16, left: int = 0, right: int = 255, mode: str = "L") -> Image.Image:
    """Left half `left`, right half `right` (gray levels; in RGB all channels equal)."""
    a = np.full((h, w), right, np.uint8)
    a[:, : w // 2] = left
    im = Image.fromarray(a, "L")
    return im if mode == "L" else im.convert(mode)


def gradient16(w: int = 16, h: int = 16, lo: int = 1000, hi: int = 3000) -> Image.Image:
    """16-bit grayscale (mode I;16) ramp lo..hi, row-major."""
    a = np.linspace(lo, hi, w * h).reshape(h, w).astype(np.uint16)
    return Image.fromarray(a)


def png_bomb(path: Path, side: int = 20000) -> None:
    """A valid 1-bit side x side PNG of zeros, about 60 KB on disk, written without the pixels in memory."""
    def chunk(tag: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data) & 0xFFFFFFFF)

    row = b"\0" * (1 + (side + 7) // 8)  # filter byte + packed bits
    comp = zlib.compressobj(9)
    idat = b"".join(comp.compress(row) for _ in range(side)) + comp.flush()
    ihdr = struct.pack(">IIBBBBB", side, side, 1, 0, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b""))


def exif_jpeg(im: Image.Image, orientation: int) -> bytes:
    ex = Image.Exif()
    ex[0x0112] = orientation
    return encode(im, "JPEG", quality=95, exif=ex.tobytes())


def paletted_transparent() -> Image.Image:
    """P image: index 0 (black) transparent on the left half, index 1 blue on the right."""
    im = Image.new("P", (16, 16), 1)
    im.putpalette([0, 0, 0, 0, 0, 255] + [0] * 762)
    im.paste(0, (0, 0, 8, 16))
    im.info["transparency"] = 0
    return im


def animated_gif() -> bytes:
    frames = [Image.new("RGB", (16, 16), c) for c in (RED, BLUE, GREEN)]
    b = io.BytesIO()
    frames[0].save(b, "GIF", save_all=True, append_images=frames[1:], duration=50, loop=0)
    return b.getvalue()


def write_corpus(root: Path) -> dict[str, str]:
    """Write the awkward corpus under root. Returns {input name: expected outcome}.

    Outcomes: "ok", or the start of the skip reason. Files that must not be inputs at
    all (hidden, ._ resource forks, other extensions) are not in the returned dict.
    """
    root.mkdir(parents=True)
    (root / "nested" / "deeper").mkdir(parents=True)
    (root / ".thumbs").mkdir()
    ok_rgb = Image.new("RGB", (16, 16), RED)
    expect: dict[str, str] = {}

    def put(name: str, data: bytes, outcome: str | None) -> None:
        (root / name).write_bytes(data)
        if outcome is not None:
            expect[name] = outcome

    good = encode(ok_rgb)
    noise = Image.fromarray(np.random.default_rng(0).integers(0, 256, (64, 64, 3), np.uint8))
    put("truncated.jpg", encode(noise, "JPEG")[:3000], "truncated or corrupt image data")
    put("zero.jpg", b"", "empty file")
    put("notes.jpg", b"these are my notes, not a picture\n", "not an image")
    put("._resource.jpg", b"\0\5\26\7 mac resource fork", None)
    put(".hidden.png", good, None)
    put(".thumbs/t.png", good, None)
    put("readme.txt", b"about my photos", None)
    put("UPPER.JPG", encode(ok_rgb, "JPEG", quality=95), "ok")
    put("ünïcode name ✓ with spaces.png", good, "ok")
    put("nested/deeper/deep.png", good, "ok")
    put("cmyk.jpg", encode(Image.new("CMYK", (16, 16), (0, 255, 255, 0)), "JPEG", quality=95), "ok")
    put("p_transparent.png", encode(paletted_transparent()), "ok")
    la = Image.merge("LA", [Image.new("L", (16, 16), 100), halves(left=0, right=255)])
    put("la.png", encode(la), "ok")
    rgba = Image.merge("RGBA", [*Image.new("RGB", (16, 16), GREEN).split(), halves(left=0, right=255)])
    put("rgba.png", encode(rgba), "ok")
    put("i16.png", encode(gradient16()), "ok")
    put("onebit.png", encode(Image.fromarray(np.indices((16, 16)).sum(0) % 2 == 0)), "ok")
    # Stored landscape, black left / white right; orientation 6 = "rotate 90 clockwise to view".
    put("exif6.jpg", exif_jpeg(halves(32, 16, 0, 255, "RGB"), 6), "ok")
    put("animated.gif", animated_gif(), "ok")
    put("small_8x8.png", encode(Image.new("RGB", (8, 8), BLUE)), "ok")
    put("big_64x48.png", encode(Image.new("RGB", (64, 48), GREEN)), "ok")
    put("wide_100x20.png", encode(halves(100, 20, 0, 255, "RGB")), "ok")
    png_bomb(root / "bomb.png")
    expect["bomb.png"] = "too many pixels"
    os.symlink(root / "UPPER.JPG", root / "nested" / "link.jpg")
    expect["nested/link.jpg"] = "ok"
    os.symlink(root, root / "nested" / "loop")  # a folder link back to the top: must not recurse forever
    return expect


def config(*args: str):
    """A validated Config from command-line style arguments (progress off)."""
    from snowgan.flags import parse_args

    cfg, _ = parse_args(["--progress", "none", *map(str, args)])
    return cfg


def manifest(cfg, ds) -> dict:
    """The manifest of a dataset prepared into the cache."""
    import json

    from snowgan.data.prepare import cache_root

    return json.loads((cache_root(cfg) / ds.fingerprint / "manifest.json").read_text(encoding="utf-8"))
