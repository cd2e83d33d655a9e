"""Bilinear resize exactly as TensorFlow 1.x ``tf.image.resize_bilinear`` (align_corners=False).

The FID Inception graph (2015-12-05, used by the original TTUR FID code) resizes its
input with TF1's bilinear kernel, whose sampling grid differs from PyTorch's
``F.interpolate(..., align_corners=False)``: TF1 maps output pixel ``i`` to source
coordinate ``i * in/out`` (no half-pixel offset), PyTorch to ``(i + 0.5) * in/out - 0.5``.
The difference moves FID by a noticeable amount, so we reproduce TF1 here.

Because the grid is separable, the resize is two small matrix products:
``out = Ry @ x @ Rx^T`` with interpolation matrices Ry (out_h, in_h), Rx (out_w, in_w).
"""

from __future__ import annotations

import torch


def tf1_bilinear_matrix(n_in: int, n_out: int, dtype: torch.dtype = torch.float32,
                        device: torch.device | str = "cpu") -> torch.Tensor:
    """Interpolation weights (n_out, n_in) of TF1 bilinear along one axis.

    Output index i reads source coordinate s = i * (n_in / n_out); with s0 = floor(s),
    s1 = min(s0 + 1, n_in - 1), it takes (1 - f) * x[s0] + f * x[s1], f = s - s0.
    The scale is computed in float32 like TF's kernel, so results agree bit for bit
    up to float rounding of the products.
    """
    if n_in < 1 or n_out < 1:
        raise ValueError(f"sizes must be positive, got {n_in} -> {n_out}")
    scale = torch.tensor(n_in / n_out, dtype=torch.float32)
    src = torch.arange(n_out, dtype=torch.float32) * scale
    s0 = torch.floor(src).to(torch.int64).clamp(max=n_in - 1)
    s1 = (s0 + 1).clamp(max=n_in - 1)
    frac = (src - s0.to(torch.float32)).to(torch.float64)
    m = torch.zeros(n_out, n_in, dtype=torch.float64)
    rows = torch.arange(n_out)
    m.index_put_((rows, s0), 1.0 - frac, accumulate=True)
    m.index_put_((rows, s1), frac, accumulate=True)
    return m.to(device=device, dtype=dtype)


def resize_bilinear_tf1(x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Resize float images (B, C, H, W) to (B, C, *size) with TF1 bilinear semantics.

    Any value range; the result is a convex combination of input pixels. Works for
    up- and down-sampling (TF1 bilinear does not antialias when shrinking either).
    """
    if not x.is_floating_point():
        raise TypeError("resize_bilinear_tf1 expects a float tensor")
    out_h, out_w = size
    in_h, in_w = x.shape[-2:]
    if (in_h, in_w) == (out_h, out_w):
        return x
    ry = tf1_bilinear_matrix(in_h, out_h, x.dtype, x.device)
    rx = tf1_bilinear_matrix(in_w, out_w, x.dtype, x.device)
    # (out_h, in_h) x (B, C, in_h, in_w) x (in_w, out_w): height then width.
    return torch.matmul(torch.matmul(ry, x), rx.t())

