"""Fitting images to H x W (snowgan.data.geometry)."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from snowgan.data.geometry import center_box, fit, stored_size, to_chw


def bands(w: int, h: int) -> Image.Image:
    """Three vertical bands: red | green | blue, each w/3 wide."""
    a = np.zeros((h, w, 3), np.uint8)
    third = w // 3
    a[:, :third, 0] = 255
    a[:, third:2 * third, 1] = 255
    a[:, 2 * third:, 2] = 255
    return Image.fromarray(a)


def test_center_crop_keeps_the_middle_of_a_wide_image():
    out, up = fit(bands(96, 32), (16, 16), "center-crop")
    a = np.asarray(out)
    assert out.size == (16, 16) and not up
    # only the green middle third survives (Lanczos reads a pixel beyond the crop at the border)
    assert (a[:, 1:-1, 1] > 250).all() and (a[:, 1:-1, 0] < 5).all() and (a[..., 1] > 230).all()
    out, _ = fit(bands(384, 128), (16, 16), "center-crop")  # large enough for block-averaging first
    a = np.asarray(out)
    assert (a[..., 1] > 250).all() and (a[..., 0] < 5).all()


def test_any_aspect_ratio_target():
    out, _ = fit(bands(90, 90), (12, 20), "center-crop")
    assert out.size == (20, 12)  # Pillow sizes are (W, H)
    assert center_box(100, 50, 20, 12) == pytest.approx((25 / 3, 0.0, 275 / 3, 50.0))


def test_pad_keeps_everything_and_fills_with_the_background():
    out, up = fit(Image.new("RGB", (32, 16), (0, 0, 255)), (16, 16), "pad", background=(255, 255, 255))
    a = np.asarray(out).astype(int)
    assert not up
    assert (a[:4] == 255).all() and (a[12:] == 255).all()  # white bars top and bottom
    assert (a[4:12] == (0, 0, 255)).all()
    gray, _ = fit(Image.new("L", (32, 16), 0), (16, 16), "pad", background=(255, 255, 255))
    assert np.asarray(gray)[0, 0] == 255


def test_stretch_ignores_the_aspect_ratio():
    out, _ = fit(bands(96, 32), (16, 16), "stretch")
    a = np.asarray(out)
    assert a[8, 1, 0] > 250 and a[8, 8, 1] > 250 and a[8, 14, 2] > 250  # all three bands remain


def test_upscaling_is_reported():
    for mode in ("center-crop", "pad", "stretch"):
        _, up = fit(Image.new("RGB", (8, 8)), (16, 16), mode)
        assert up, mode
    _, up = fit(Image.new("RGB", (64, 12)), (16, 16), "center-crop")
    assert up  # 12 rows stretched to 16 even though the width shrinks


def test_random_crop_stores_a_margin():
    assert stored_size((16, 16), "random-crop") == (18, 18)
    assert stored_size((96, 160), "random-crop") == (108, 180)
    assert stored_size((96, 160), "pad") == (96, 160)


def test_downscale_is_area_like_not_aliased():
    # 1-pixel stripes: nearest-neighbour sampling would return all black or all white.
    a = (np.indices((256, 256))[1] % 2 * 255).astype(np.uint8)
    stripes = Image.fromarray(a, "L")
    for size in (256, 250):  # 250: the reduce factor leaves a remainder, which must not show at the edge
        out, _ = fit(stripes.crop((0, 0, size, size)), (16, 16), "stretch")
        assert np.abs(np.asarray(out).astype(int) - 127.5).max() < 3, size


def test_to_chw_shapes():
    assert to_chw(Image.new("L", (5, 4))).shape == (1, 4, 5)
    rgb = to_chw(Image.new("RGB", (5, 4), (1, 2, 3)))
    assert rgb.shape == (3, 4, 5) and rgb.dtype == np.uint8 and tuple(rgb[:, 0, 0]) == (1, 2, 3)
