"""Progress display: a tqdm bar (rate, ETA) on a terminal, plain periodic lines otherwise."""

from __future__ import annotations

import sys
import time
from typing import Iterable, Iterator, Optional, TypeVar

T = TypeVar("T")


def use_bar(mode: str = "auto") -> bool:
    """True when a live bar should be drawn: mode 'bar', or 'auto' on a terminal."""
    if mode == "bar":
        return True
    if mode in ("lines", "none"):
        return False
    return sys.stderr.isatty()


class Progress:
    """Count work done out of a total.

    On a terminal: a tqdm bar with rate and ETA and a postfix (latest losses).
    Otherwise: one plain line every ``every_s`` seconds and one at the end, so logs
    from CI or nohup stay readable. mode: auto | bar | lines | none.
    """

    def __init__(self, total: Optional[float], desc: str, unit: str = "it", mode: str = "auto",
                 every_s: float = 10.0, initial: float = 0) -> None:
        self.total, self.desc, self.unit, self.mode = total, desc, unit, mode
        self.n = initial
        self.every_s = every_s
        self.postfix = ""
        self._t0 = time.time()
        self._n0 = initial
        self._last = self._t0
        self._bar = None
        if use_bar(mode):
            from tqdm import tqdm

            self._bar = tqdm(total=total, desc=desc, unit=unit, initial=initial,
                             dynamic_ncols=True, file=sys.stderr)

    def update(self, n: float = 1) -> None:
        self.n += n
        if self._bar is not None:
            self._bar.update(n)
        elif self.mode != "none":
            now = time.time()
            if now - self._last >= self.every_s:
                self._last = now
                self._line()

    def set_postfix(self, text: str) -> None:
        self.postfix = text
        if self._bar is not None:
            self._bar.set_postfix_str(text, refresh=False)

    def _line(self) -> None:
        elapsed = time.time() - self._t0
        rate = (self.n - self._n0) / elapsed if elapsed > 0 else 0.0
        total = f"/{self.total:g}" if self.total else ""
        eta = ""
        if self.total and rate > 0:
            eta = f" eta {_fmt_time((self.total - self.n) / rate)}"
        print(f"{self.desc}: {self.n:g}{total} {self.unit} ({rate:.3g} {self.unit}/s{eta}) {self.postfix}".rstrip(),
              file=sys.stderr, flush=True)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
        elif self.mode != "none":
            self._line()


def _fmt_time(s: float) -> str:
    s = int(max(0, s))
    h, rem = divmod(s, 3600)
    m, sec = divmod(rem, 60)
    return f"{h}:{m:02d}:{sec:02d}" if h else f"{m}:{sec:02d}"


def progress_iter(items: Iterable[T], total: Optional[int], desc: str, unit: str = "it",
                  mode: str = "auto") -> Iterator[T]:
    """Iterate while showing progress."""
    p = Progress(total, desc, unit, mode)
    try:
        for x in items:
            yield x
            p.update(1)
    finally:
        p.close()
