"""Progress display: a tqdm bar (rate, ETA) on a terminal or in a notebook, plain periodic lines otherwise.

Both show the same status, e.g. for training ``step 120/2,000 · epoch 3.40 · 36.0/80.0 kimg``,
and numbers as people read them (``2,346 img/s``, never ``2.35e+03``). A ``sink`` (the
training loop passes one that appends to the run's log.txt) receives a plain line every
``every_s`` seconds whatever is on screen, so ``tail -f log.txt`` shows progress too.
"""

from __future__ import annotations

import sys
import time
from typing import Callable, Iterable, Iterator, Optional, TypeVar

from .text import number

T = TypeVar("T")


def use_bar(mode: str = "auto") -> bool:
    """True when a live bar should be drawn: mode 'bar', or 'auto' on a terminal or in a Jupyter notebook."""
    if mode == "bar":
        return True
    if mode in ("lines", "none"):
        return False
    return sys.stderr.isatty() or in_notebook()


def in_notebook() -> bool:
    """True inside a Jupyter kernel (Jupyter, Colab, VS Code notebooks): its stderr is no terminal, yet it
    draws a live bar. tqdm.autonotebook's test; IPython is only looked at when something imported it."""
    ipython = sys.modules.get("IPython")
    shell = getattr(ipython, "get_ipython", lambda: None)()
    return shell is not None and "IPKernelApp" in getattr(shell, "config", {})


class Progress:
    """Count work done out of a total.

    On a terminal: a tqdm bar with rate and ETA, then the status and postfix (latest losses).
    Otherwise: one plain line every ``every_s`` seconds and one at the end, so logs from CI
    or nohup stay readable. mode: auto | bar | lines | none. sink: also called with each
    plain line (whatever the mode).
    """

    def __init__(self, total: Optional[float], desc: str, unit: str = "it", mode: str = "auto",
                 every_s: float = 10.0, initial: float = 0, sink: Optional[Callable[[str], None]] = None,
                 own_eta: bool = False) -> None:
        """own_eta: the bar shows this class's ETA (the rate without ``exclude``d time, plus
        ``extra_eta_s``) instead of tqdm's, which counts a pause as slow work and jumps after it."""
        self.total, self.desc, self.unit, self.mode = total, desc, unit, mode
        self.own_eta = own_eta
        self.extra_eta_s = 0.0  # work still to come that the count does not measure (metric checks)
        self._excluded_s = 0.0  # time that did not advance the count (exclude)
        self.n = initial
        self.every_s = every_s
        self.sink = sink
        self.status = ""  # where the work is, in its own terms (step, epoch, kimg)
        self.postfix = ""  # the latest figures (losses)
        self._t0 = time.time()
        self._n0 = initial
        self._last = self._t0
        self._bar = None
        if use_bar(mode):
            if in_notebook():  # a notebook's own bar (ipywidgets), else tqdm's text bar
                from tqdm.auto import tqdm
            else:
                from tqdm import tqdm

            fmt = "{l_bar}{bar}| {n_fmt}/{total_fmt} [{elapsed}, {rate_fmt}{postfix}]" if own_eta else None
            self._bar = tqdm(total=total, desc=desc, unit=unit, initial=initial,
                             dynamic_ncols=True, file=sys.stderr, bar_format=fmt)

    def update(self, n: float = 1) -> None:
        self.n += n
        if self._bar is not None:
            self._bar.update(n)
        now = time.time()
        if now - self._last >= self.every_s:
            self._last = now
            self._emit()

    def set_total(self, total: Optional[float]) -> None:
        """The total once it is known (a --minutes run fixes its length after a few iterations)."""
        self.total = total
        if self._bar is not None:
            self._bar.total = total
            self._bar.refresh()

    def exclude(self, seconds: float) -> None:
        """Time that did not advance the count (a metric check): kept out of the rate, so the ETA holds."""
        self._excluded_s += seconds
        if self._bar is not None:
            self._bar.unpause()

    def rate(self, now: Optional[float] = None) -> float:
        """Units per second so far, the excluded time left out (now: time.time() when not given)."""
        elapsed = (time.time() if now is None else now) - self._t0 - self._excluded_s
        return (self.n - self._n0) / elapsed if elapsed > 0 else 0.0

    def eta(self, rate: Optional[float] = None) -> Optional[float]:
        """Seconds left: the count still to go at ``rate`` (default: the rate so far), plus extra_eta_s."""
        rate = self.rate() if rate is None else rate
        if not self.total or rate <= 0:
            return None
        return max(0.0, self.total - self.n) / rate + self.extra_eta_s

    def _refresh_bar_postfix(self) -> None:
        if self._bar is not None:
            eta = self.eta() if self.own_eta else None
            parts = (self.status, f"eta {_fmt_time(eta)}" if eta is not None else "", self.postfix)
            self._bar.set_postfix_str(" · ".join(p for p in parts if p), refresh=False)

    def set_status(self, text: str) -> None:
        """Where the work is, e.g. 'step 120/2,000 · epoch 3.40 · 36.0/80.0 kimg' (cheap: no redraw)."""
        self.status = text
        self._refresh_bar_postfix()

    def set_postfix(self, text: str) -> None:
        self.postfix = text
        self._refresh_bar_postfix()

    def line(self) -> str:
        """The plain progress line: status (or count), percent, rate, ETA, postfix."""
        rate = self.rate()
        where = self.status or (f"{self.n:,.0f}" + (f"/{self.total:,.0f}" if self.total else "") + f" {self.unit}")
        parts = [where]
        if self.total:
            parts.append(f"{100 * self.n / self.total:.0f}%")
        parts.append(f"{number(rate)} {self.unit}/s")
        if (eta := self.eta(rate)) is not None:
            parts.append(f"eta {_fmt_time(eta)}")
        if self.postfix:
            parts.append(self.postfix)
        return f"{self.desc}: " + " · ".join(parts)

    def _emit(self) -> None:
        text = self.line()
        if self._bar is None and self.mode != "none":
            print(text, file=sys.stderr, flush=True)
        if self.sink is not None:
            self.sink(text)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
        self._emit()


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
