"""Decoding rules, in one place: bytes -> a Pillow image in mode "L" or "RGB".

Every source (folder, zip, JSONL record, array) ends here, so an image is read the
same way wherever it came from. The order of the steps matters and is fixed:

1. open: empty file, not an image, over Pillow's decompression-bomb limit, truncated
   or corrupt data -> ``SkipImage`` with a reason a person can act on;
2. first frame of an animation;
3. mode normalised to L / LA / RGB / RGBA: 16-bit and 32-bit grayscale (``I;16``,
   ``I``, ``F``) are scaled to 8 bits by the image's own value range (min..max), not
   clipped; CMYK goes through its ICC profile when it has one; palette images keep
   their transparency; 1-bit becomes L;
4. an external mask (JSONL ``mask`` field) becomes the alpha channel;
5. orientation (EXIF tag, or a JSONL field that overrides it);
6. invert: colour channels only, so a composite background stays the chosen colour;
7. alpha policy: ``composite`` on the background, ``crop`` to the alpha bounding box
   (then composite the soft edge), or ``drop`` the alpha channel;
8. channels: 1 -> L (ITU-R 601 luma), 3 -> RGB.
"""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageColor, ImageOps

from ..config import ConfigError


class SkipImage(Exception):
    """This input cannot be used; str(e) is the reason written to skipped.txt."""


@dataclass(frozen=True)
class DecodeOptions:
    channels: int = 3                                # 1 or 3
    alpha: str = "composite"                         # composite | crop | drop
    background: tuple[int, int, int] = (255, 255, 255)


# EXIF orientation -> the transpose that makes the image upright (same table as
# Pillow's ImageOps.exif_transpose, which only reads the image's own tag).
_ORIENT = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,   # Pillow rotates counter-clockwise: 270 ccw = 90 cw
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}
# Degrees of clockwise rotation needed to show the image upright -> EXIF orientation.
_DEGREES = {0: 1, 90: 6, 180: 3, 270: 8, -90: 8}
_EXIF_ORIENTATION_TAG = 0x0112


def parse_colour(text: str) -> tuple[int, int, int]:
    """'white', '#102030' or '16,32,48' -> (r, g, b); ConfigError otherwise."""
    t = str(text).strip()
    try:
        if "," in t and not t.lower().startswith(("rgb", "hsl", "hsv")):
            parts = [int(p) for p in t.split(",")]
            if len(parts) != 3 or not all(0 <= p <= 255 for p in parts):
                raise ValueError
            return (parts[0], parts[1], parts[2])
        rgb = ImageColor.getrgb(t)
        return (rgb[0], rgb[1], rgb[2])
    except ValueError:
        raise ConfigError(f"--background {text!r}: give a colour name (white), #rrggbb or r,g,b") from None


def open_image(data: bytes, draft_side: int | None = None) -> Image.Image:
    """Open and fully load the first frame; SkipImage with the reason on any failure.

    draft_side: a JPEG may be decoded at 1/2, 1/4 or 1/8 scale (libjpeg's DCT scaling,
    an area-like reduction) as long as both sides stay >= draft_side. Big photos then
    decode several times faster; the final resize still has >= 2x the pixels it needs.
    """
    if len(data) == 0:
        raise SkipImage("empty file (0 bytes)")
    try:
        with warnings.catch_warnings():
            # Pillow warns between 1x and 2x MAX_IMAGE_PIXELS and raises above 2x; the
            # raise is the limit we keep, the warning would only garble the progress bar.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            im = Image.open(io.BytesIO(data))
    except Image.DecompressionBombError as e:
        raise SkipImage(f"too many pixels: over Pillow's decompression-bomb limit ({e}); "
                        "shrink the file or remove it") from None
    except Image.UnidentifiedImageError:
        raise SkipImage("not an image (Pillow cannot identify the format)") from None
    except Exception as e:  # noqa: BLE001 - any parser error means this one input is unusable
        raise SkipImage(f"truncated or corrupt header ({type(e).__name__}: {e})") from None
    try:
        im.seek(0)  # animations: the first frame, always
        if draft_side and im.format == "JPEG":
            im.draft(im.mode, (draft_side, draft_side))
        im.load()
    except Exception as e:  # noqa: BLE001 - OSError "truncated", SyntaxError, zlib.error, ...
        raise SkipImage(f"truncated or corrupt image data ({type(e).__name__}: {e})") from None
    return im


def scale_to_8bit(im: Image.Image) -> Image.Image:
    """I;16 / I / F grayscale -> L, mapping the image's own min..max to 0..255.

    Pillow's convert('L') clips everything above 255, which turns most 16-bit images
    white. A constant image has no range; it is mapped by the 16-bit full scale.
    """
    a = np.asarray(im).astype(np.float64)
    a = np.nan_to_num(a, nan=0.0, posinf=0.0, neginf=0.0)
    lo, hi = float(a.min()), float(a.max())
    if hi > lo:
        a = (a - lo) * (255.0 / (hi - lo))
    else:
        a = np.full_like(a, lo / 257.0 if lo > 1.0 else lo * 255.0)
    return Image.fromarray(np.clip(np.rint(a), 0, 255).astype(np.uint8), "L")


def _cmyk_to_rgb(im: Image.Image) -> Image.Image:
    profile = im.info.get("icc_profile")
    if profile:
        try:
            from PIL import ImageCms

            src = ImageCms.ImageCmsProfile(io.BytesIO(profile))
            return ImageCms.profileToProfile(im, src, ImageCms.createProfile("sRGB"), outputMode="RGB")
        except Exception:  # noqa: BLE001 - a broken or unsupported profile: use the plain formula
            pass
    return im.convert("RGB")  # (255-C)(255-K)/255 per channel; Adobe inverted CMYK is undone by the JPEG decoder


def normalise_mode(im: Image.Image) -> Image.Image:
    """Any Pillow mode -> L, LA, RGB or RGBA."""
    m = im.mode
    if m in ("L", "LA", "RGB", "RGBA"):
        return im
    if m == "1":
        return im.convert("L")
    if m.startswith("I") or m == "F":
        return scale_to_8bit(im)
    if m == "P":
        return im.convert("RGBA" if im.has_transparency_data else "RGB")
    if m in ("PA", "RGBa"):
        return im.convert("RGBA")
    if m == "La":
        return im.convert("LA")
    if m == "CMYK":
        return _cmyk_to_rgb(im)
    try:
        return im.convert("RGBA" if "A" in im.getbands() else "RGB")
    except Exception as e:  # noqa: BLE001
        raise SkipImage(f"unsupported image mode {m} ({e})") from None


def orientation_code(value: object) -> int:
    """An EXIF orientation 1-8, or degrees 0/90/180/270 (clockwise to show upright) -> 1-8."""
    try:
        v = int(str(value).strip()) if not isinstance(value, bool) else None
    except ValueError:
        v = None
    if v is not None and 1 <= v <= 8:
        return v
    if v is not None and v in _DEGREES:
        return _DEGREES[v]
    raise SkipImage(f"orientation {value!r} is neither an EXIF value 1-8 nor 0/90/180/270 degrees")


def exif_orientation(im: Image.Image) -> int:
    """The image's own EXIF orientation tag (1 when absent or unreadable).

    Read it from the image as opened: a converted copy may no longer carry it (TIFF).
    """
    try:
        code = int(im.getexif().get(_EXIF_ORIENTATION_TAG, 1))
    except Exception:  # noqa: BLE001 - unreadable EXIF is not a reason to lose the image
        return 1
    return code if 1 <= code <= 8 else 1


def apply_orientation(im: Image.Image, code: int) -> Image.Image:
    """Rotate/flip an image whose EXIF orientation is `code` (1-8) so it shows upright."""
    op = _ORIENT.get(code)
    return im.transpose(op) if op is not None else im


def apply_mask(im: Image.Image, mask: Image.Image) -> Image.Image:
    """Use `mask` (its alpha channel if it has one, else its gray values) as im's alpha."""
    if mask.size != im.size:
        raise SkipImage(f"mask is {mask.size[0]}x{mask.size[1]} but the image is {im.size[0]}x{im.size[1]}")
    mask = normalise_mode(mask)
    alpha = mask.getchannel("A") if mask.mode in ("LA", "RGBA") else mask.convert("L")
    out = im.convert("LA" if im.mode in ("L", "LA") else "RGBA")
    out.putalpha(alpha)
    return out


def invert_colours(im: Image.Image) -> Image.Image:
    """255 - value on colour channels; alpha untouched."""
    if im.mode in ("L", "RGB"):
        return ImageOps.invert(im)
    bands = list(im.split())
    return Image.merge(im.mode, [ImageOps.invert(b) for b in bands[:-1]] + [bands[-1]])


def apply_alpha(im: Image.Image, opts: DecodeOptions) -> Image.Image:
    """LA/RGBA -> L/RGB by the --alpha policy; L/RGB pass through."""
    if im.mode not in ("LA", "RGBA"):
        return im
    if opts.alpha == "drop":
        return im.convert("L" if im.mode == "LA" else "RGB")
    rgba = im.convert("RGBA")
    if opts.alpha == "crop":
        box = rgba.getchannel("A").getbbox()
        if box is None:
            raise SkipImage("fully transparent: nothing to crop to (--alpha crop)")
        rgba = rgba.crop(box)
    canvas = Image.new("RGBA", rgba.size, opts.background + (255,))
    flat = Image.alpha_composite(canvas, rgba).convert("RGB")
    return flat.convert("L") if im.mode == "LA" else flat


def finish(im: Image.Image, opts: DecodeOptions, invert: bool = False) -> Image.Image:
    """Steps 6-8 on a normalised image: invert, alpha policy, channels -> L or RGB."""
    if invert:
        im = invert_colours(im)
    im = apply_alpha(im, opts)
    return im.convert("L" if opts.channels == 1 else "RGB")


def decode_image(data: bytes, opts: DecodeOptions, invert: bool = False, orientation: object = None,
                 mask: bytes | None = None, draft_side: int | None = None) -> Image.Image:
    """Encoded image bytes -> Pillow image in mode L (channels 1) or RGB (channels 3).

    orientation: None reads the EXIF tag; a value overrides it. mask: encoded image
    bytes whose alpha (or gray values) replace the image's alpha. draft_side: see
    open_image (ignored with a mask, which must match the full-size image). Raises SkipImage.
    """
    raw = open_image(data, None if mask is not None else draft_side)
    code = exif_orientation(raw) if orientation is None else orientation_code(orientation)
    im = normalise_mode(raw)
    if mask is not None:
        try:
            m = open_image(mask)
        except SkipImage as e:
            raise SkipImage(f"mask: {e}") from None
        im = apply_mask(im, m)
    im = apply_orientation(im, code)
    return finish(im, opts, invert)
