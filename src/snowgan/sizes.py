"""The image-size rule and the size texts users type (--image_size, --grid), free of torch so parsing flags stays fast."""

from __future__ import annotations

from .errors import ConfigError

MAX_BASE = 8
MIN_BASE = 3
MAX_SIDE = 4096  # pixels per side; 1024 is the largest any recipe trains at


def split_size(h: int, w: int) -> tuple[int, int, int]:
    """Split an output size into a small base and a number of doublings.

    Returns (h0, w0, k) with h = h0 * 2**k and w = w0 * 2**k, choosing the largest k
    that keeps both h0 and w0 >= 3. Sizes whose base would exceed 8 (or that allow
    fewer than 2 doublings) raise ConfigError: the networks grow from a small base
    by doubling, so e.g. 100 is not reachable but 96 (3*2^5) and 160 (5*2^5) are.
    """
    if h < 1 or w < 1:
        raise ConfigError(f"--image_size {h}x{w}: sizes must be positive")
    k = 0
    while h % (2 ** (k + 1)) == 0 and w % (2 ** (k + 1)) == 0 \
            and min(h, w) // 2 ** (k + 1) >= MIN_BASE:
        k += 1
    h0, w0 = h // 2 ** k, w // 2 ** k
    if k < 2 or max(h0, w0) > MAX_BASE:
        size = f"{h}" if h == w else f"{h}x{w}"
        raise ConfigError(
            f"--image_size {size}: each side must be base*2^k with base 3..8 and k>=2 "
            f"(e.g. 32, 64, 96, 160, 256, 96x160); try {_nearest(h)}" +
            ("" if h == w else f"x{_nearest(w)}"))
    return h0, w0, k


def _nearest(n: int) -> int:
    """Closest valid single side to n, for the error message."""
    best = 32
    for base in range(MIN_BASE, MAX_BASE + 1):
        for k in range(2, 12):
            v = base * 2 ** k
            if abs(v - n) < abs(best - n):
                best = v
    return best


def parse_image_size(text: str) -> tuple[int, int]:
    """'64' -> (64, 64); '96x160' -> (96, 160) as (height, width)."""
    t = str(text).lower().replace(" ", "")
    parts = t.split("x")
    try:
        if len(parts) == 1:
            h = w = int(parts[0])
        elif len(parts) == 2:
            h, w = int(parts[0]), int(parts[1])
        else:
            raise ValueError
    except ValueError:
        raise ConfigError(f"--image_size {text!r}: give a number (64) or HEIGHTxWIDTH (96x160)") from None
    if h < 1 or w < 1:  # echo what was typed, not a parsed "0x0"
        raise ConfigError(f"--image_size {text}: a size must be positive, e.g. 32, 64, 128 or 96x160")
    if max(h, w) > MAX_SIDE:
        raise ConfigError(f"--image_size {text}: each side at most {MAX_SIDE} (snowgan's bound against typos)")
    split_size(h, w)  # validates base*2^k
    return h, w


def parse_grid(text: str) -> tuple[int, int]:
    """'4x8' -> (rows, cols) = (4, 8); a ConfigError that names --grid otherwise."""
    try:
        rows, cols = (int(v) for v in str(text).lower().split("x"))
    except ValueError:
        raise ConfigError(f"--grid {text!r}: give ROWSxCOLS, e.g. 4x8") from None
    if rows < 1 or cols < 1:
        raise ConfigError(f"--grid {text}: rows and columns must be at least 1, e.g. 4x8")
    return rows, cols
