"""Decoding rules, one test each (snowgan.data.decode), on bytes made in memory."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from data_helpers import (BLUE, GREEN, RED, animated_gif, encode, exif_jpeg, gradient16, halves, paletted_transparent,
                          png_bomb)
from snowgan.config import ConfigError
from snowgan.data.decode import DecodeOptions, SkipImage, decode_image, orientation_code, parse_colour

RGB = DecodeOptions(channels=3)


def arr(im: Image.Image) -> np.ndarray:
    return np.asarray(im).astype(int)


def test_sixteen_bit_gray_is_scaled_by_its_range_not_clipped():
    out = arr(decode_image(encode(gradient16(lo=1000, hi=3000)), DecodeOptions(channels=1)))
    assert out.min() == 0 and out.max() == 255
    assert len(np.unique(out)) > 200  # a ramp, not a white sheet (convert('L') would clip all to 255)
    assert np.all(np.diff(out.ravel()) >= 0)


def test_cmyk_jpeg_converts_to_the_right_colour():
    data = encode(Image.new("CMYK", (16, 16), (0, 255, 255, 0)), "JPEG", quality=95)
    px = arr(decode_image(data, RGB))[8, 8]
    assert np.abs(px - RED).max() <= 8


def test_palette_transparency_composites_on_the_background():
    out = arr(decode_image(encode(paletted_transparent()), DecodeOptions(background=(255, 255, 255))))
    assert (out[:, :8] == 255).all()
    assert (out[:, 8:] == BLUE).all()
    black_bg = arr(decode_image(encode(paletted_transparent()), DecodeOptions(background=(0, 0, 0))))
    assert (black_bg[:, :8] == 0).all()


def test_la_composite_keeps_gray_under_alpha():
    la = Image.merge("LA", [Image.new("L", (16, 16), 100), halves(left=0, right=255)])
    out = arr(decode_image(encode(la), DecodeOptions(channels=1)))
    assert out.ndim == 2 and (out[:, :8] == 255).all() and (out[:, 8:] == 100).all()


@pytest.mark.parametrize("policy, left, size", [("composite", 255, (16, 16)), ("drop", 0, (16, 16)),
                                                ("crop", None, (8, 16))])
def test_rgba_alpha_policies(policy, left, size):
    rgba = Image.merge("RGBA", [*Image.new("RGB", (16, 16), GREEN).split(), halves(left=0, right=255)])
    # colour under the transparent half is black, to tell 'drop' (shows it) from 'composite'
    rgba.paste((0, 0, 0, 0), (0, 0, 8, 16))
    im = decode_image(encode(rgba), DecodeOptions(alpha=policy))
    assert im.size == size and im.mode == "RGB"
    out = arr(im)
    if policy == "crop":
        assert (out == GREEN).all()
    else:
        assert (out[:, :8] == left).all() and (out[:, 8:] == GREEN).all()


def test_crop_of_a_fully_transparent_image_is_a_skip():
    with pytest.raises(SkipImage, match="fully transparent"):
        decode_image(encode(Image.new("RGBA", (8, 8), (0, 0, 0, 0))), DecodeOptions(alpha="crop"))


def test_invert_flips_colours_but_not_the_composite_background():
    la = Image.merge("LA", [Image.new("L", (16, 16), 100), halves(left=0, right=255)])
    out = arr(decode_image(encode(la), DecodeOptions(channels=1), invert=True))
    assert (out[:, :8] == 255).all() and (out[:, 8:] == 155).all()


def test_channels_one_and_three():
    data = encode(Image.new("RGB", (4, 4), (200, 100, 50)))
    gray = decode_image(data, DecodeOptions(channels=1))
    assert gray.mode == "L" and arr(gray)[0, 0] == round(0.299 * 200 + 0.587 * 100 + 0.114 * 50)
    rgb = decode_image(encode(Image.new("L", (4, 4), 77)), DecodeOptions(channels=3))
    assert rgb.mode == "RGB" and (arr(rgb) == 77).all()


def test_one_bit_becomes_black_and_white():
    bits = Image.fromarray(np.indices((8, 8)).sum(0) % 2 == 0)
    out = arr(decode_image(encode(bits), DecodeOptions(channels=1)))
    assert set(np.unique(out)) == {0, 255} and out[0, 0] == 255


def test_exif_orientation_6_rotates_clockwise():
    im = decode_image(exif_jpeg(halves(32, 16, 0, 255, "RGB"), 6), RGB)
    assert im.size == (16, 32)  # landscape stored, portrait shown
    out = arr(im).mean(axis=(1, 2))
    assert out[:14].max() < 30 and out[18:].min() > 225  # old left (black) is now the top


def test_orientation_value_overrides_exif_and_accepts_degrees():
    data = encode(halves(32, 16, 0, 255, "L"))
    for value in (6, "6", 90):
        out = arr(decode_image(data, DecodeOptions(channels=1), orientation=value))
        assert out.shape == (32, 16) and (out[:16] == 0).all() and (out[16:] == 255).all()
    assert orientation_code(270) == 8 and orientation_code(0) == 1
    with pytest.raises(SkipImage, match="orientation"):
        orientation_code(45)


def test_animated_gif_uses_the_first_frame():
    out = arr(decode_image(animated_gif(), RGB))
    assert np.abs(out - RED).max() <= 2


def test_mask_becomes_alpha():
    mask = encode(halves(left=0, right=255))
    out = arr(decode_image(encode(Image.new("RGB", (16, 16), GREEN)), RGB, mask=mask))
    assert (out[:, :8] == 255).all() and (out[:, 8:] == GREEN).all()
    with pytest.raises(SkipImage, match="mask is 8x8"):
        decode_image(encode(Image.new("RGB", (16, 16))), RGB, mask=encode(Image.new("L", (8, 8))))


def noisy_jpeg() -> bytes:
    return encode(Image.fromarray(np.random.default_rng(0).integers(0, 256, (64, 64, 3), np.uint8)), "JPEG")


@pytest.mark.parametrize("data, reason", [
    (b"", "empty file"),
    (b"plain text, not a picture", "not an image"),
    (noisy_jpeg()[:300], "truncated or corrupt header"),
    (noisy_jpeg()[:3000], "truncated or corrupt image data"),
], ids=["zero-bytes", "text", "cut-in-header", "cut-in-pixels"])
def test_unusable_bytes_are_skipped_with_a_reason(data, reason):
    with pytest.raises(SkipImage, match=reason):
        decode_image(data, RGB)


def test_decompression_bomb_limit_is_kept(tmp_path):
    png_bomb(tmp_path / "bomb.png")
    assert (tmp_path / "bomb.png").stat().st_size < 200_000
    with pytest.raises(SkipImage, match="decompression-bomb limit"):
        decode_image((tmp_path / "bomb.png").read_bytes(), RGB)
    assert Image.MAX_IMAGE_PIXELS == 89478485  # snowgan never lifts Pillow's limit


def test_background_colour_parsing():
    assert parse_colour("white") == (255, 255, 255)
    assert parse_colour("#102030") == (16, 32, 48)
    assert parse_colour("1, 2, 3") == (1, 2, 3)
    with pytest.raises(ConfigError, match="--background"):
        parse_colour("not-a-colour")


def test_jpeg_draft_decodes_big_photos_smaller_but_never_below_the_bound():
    big = encode(Image.new("RGB", (800, 400), GREEN), "JPEG", quality=90)
    im = decode_image(big, RGB, draft_side=64)
    assert im.size == (200, 100)  # 1/4 scale: both sides still >= 64, 1/8 would give 50
    assert np.abs(arr(im)[50, 100] - GREEN).max() <= 4
    assert decode_image(big, RGB).size == (800, 400)
