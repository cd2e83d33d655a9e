"""Words and numbers as people read them: plurals, "a"/"an", rates without scientific notation."""

from __future__ import annotations

import math


def plural(n: float, word: str, many: str | None = None) -> str:
    """'1 step', '2 steps', '0 images', '1,280 images' (many: an irregular plural)."""
    count = f"{n:,}" if isinstance(n, int) else f"{n:g}"
    return f"{count} {word if n == 1 else (many or word + 's')}"


def article(text: str) -> str:
    """'a' or 'an' before text as spoken: 'an 8x8 grid', 'an 11x4 grid', 'a 4x8 grid', 'an image'."""
    t = str(text).lstrip()
    digits = ""
    for ch in t:
        if not ch.isdigit():
            break
        digits += ch
    if digits:
        # 8, 80-89, 800..., 11 and 18 (eleven, eighteen, and their thousands) start with a vowel sound.
        vowel = digits[0] == "8" or (digits[:2] in ("11", "18") and len(digits) % 3 == 2)
    else:
        vowel = t[:1].lower() in ("a", "e", "i", "o", "u")
    return "an" if vowel else "a"


def number(x: float) -> str:
    """A count or rate to read at a glance, never in scientific notation: 2,346 / 58.4 / 3.21 / 0.045."""
    a = abs(x)
    if a >= 100:
        return f"{x:,.0f}"
    if a >= 10:
        return f"{x:.1f}"
    if a >= 1 or a == 0:
        return f"{x:.2f}"
    return f"{x:.3g}" if a >= 1e-4 else f"{x:.6f}".rstrip("0")


def duration(seconds: float) -> str:
    """'42 s', '3 min 05 s', '1 h 02 min'."""
    s = int(round(max(0.0, seconds)))
    if s < 60:
        return f"{s} s"
    if s < 3600:
        return f"{s // 60} min {s % 60:02d} s"
    return f"{s // 3600} h {s // 60 % 60:02d} min"


def significant(x: float, digits: int = 4) -> str:
    """x to `digits` significant digits without scientific notation: 0.00001234, 1235, 123.5."""
    text = f"{x:.{digits}g}"
    if "e" not in text:
        return text
    a = abs(x)
    if a >= 1:
        return f"{x:.0f}"
    decimals = digits - 1 - int(math.floor(math.log10(a))) if a > 0 else digits
    return f"{x:.{decimals}f}"
