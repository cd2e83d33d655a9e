"""Decode and fit inputs, one by one or in a pool of processes, in input order.

A task (see sources.py) becomes a Result: the stored-size uint8 image (C, H, W), or
the reason it was skipped. Work runs in separate processes (``spawn``, so a parent
that has already started torch threads is never forked) when there is enough of it
to pay for starting them; results come back in input order either way, so the
prepared dataset is the same for any --workers.
"""

from __future__ import annotations

import ast
import multiprocessing as mp
import os
import sys
import threading
from dataclasses import dataclass
from typing import Iterable, Iterator, NamedTuple, Optional

import numpy as np
from PIL import Image

from ..progress import Progress
from .decode import DecodeOptions, SkipImage, decode_image, finish, normalise_mode
from .geometry import fit, to_chw
from .records import FieldNames, parse_record
from .sources import NotRegular, Task, ZipReader, open_regular

MIN_PARALLEL = 200  # below this, starting worker processes (0.3-1 s) costs more than it saves
_ARRAY_MODES = {1: "L", 2: "LA", 3: "RGB", 4: "RGBA"}


@dataclass(frozen=True)
class FitOptions:
    """Everything a worker needs to turn one input into a stored image."""

    decode: DecodeOptions
    stored_hw: tuple[int, int]
    resize: str
    fields: FieldNames

    @property
    def draft_side(self) -> int:
        """JPEGs may decode at reduced scale while both sides keep 2x the largest stored side
        (a square bound, so it holds whichever way EXIF turns the image)."""
        return 2 * max(self.stored_hw)


class Result(NamedTuple):
    name: str
    image: Optional[np.ndarray]   # uint8 (C, H, W) at the stored size, None when skipped
    reason: Optional[str]         # why it was skipped
    upscaled: bool
    label: Optional[str]          # from a JSONL field or an .npz label array


_opts: Optional[FitOptions] = None
_zips = ZipReader()


def init_worker(opts: FitOptions) -> None:
    global _opts
    _opts = opts


def _read(kind: str, payload: object) -> bytes:
    try:
        if kind == "file":
            with open_regular(str(payload)) as f:
                return f.read()
        zpath, member = payload  # type: ignore[misc]
        return _zips.read(zpath, member)
    except NotRegular as e:
        raise SkipImage(str(e)) from None
    except (OSError, RuntimeError, ValueError) as e:  # zipfile raises all three (bad CRC, encryption)
        raise SkipImage(f"cannot read ({type(e).__name__}: {e})") from None


def array_image(hwc: np.ndarray, opts: DecodeOptions) -> Image.Image:
    """uint8 (H, W, C) with C in 1..4 -> Pillow L/RGB under the same alpha/channel rules."""
    c = hwc.shape[2]
    im = Image.fromarray(hwc[..., 0] if c == 1 else hwc, _ARRAY_MODES[c])
    return finish(normalise_mode(im), opts)


def run_task(task: Task) -> Result:
    """Decode + fit one input. Never raises for a bad input: returns a skip Result."""
    kind, name, payload = task
    opts = _opts
    assert opts is not None, "init_worker() was not called"
    label = None
    try:
        if kind == "bad":
            raise SkipImage(str(payload))
        if kind == "jsonl":
            rec = parse_record(payload, opts.fields)  # type: ignore[arg-type]
            label = rec.label
            im = decode_image(rec.image, opts.decode, rec.invert, rec.orientation, rec.mask, opts.draft_side)
        elif kind == "array":
            hwc, label = payload  # type: ignore[misc]
            im = array_image(hwc, opts.decode)
        else:
            im = decode_image(_read(kind, payload), opts.decode, draft_side=opts.draft_side)
        im, upscaled = fit(im, opts.stored_hw, opts.resize, opts.decode.background)
        return Result(name, to_chw(im), None, upscaled, label)
    except SkipImage as e:
        return Result(name, None, str(e), False, label)
    except Exception as e:  # noqa: BLE001 - one odd input must not end a long prepare
        return Result(name, None, f"unexpected error ({type(e).__name__}: {e})", False, label)


def worker_count(requested: int) -> int:
    """--workers: 0 means every core this process may use."""
    if requested > 0:
        return requested
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # macOS, Windows
        return os.cpu_count() or 1


def run_all(tasks: Iterable[Task], total: Optional[int], opts: FitOptions, workers: int,
            progress: str = "auto", desc: str = "prepare") -> Iterator[Result]:
    """Results of every task in input order, with a progress display."""
    bar = Progress(total, desc, "img", progress)
    pool = None
    stop = threading.Event()
    window = threading.Semaphore(0)
    try:
        hazard = unguarded_main_call() if workers > 1 and total is not None and total >= MIN_PARALLEL else None
        if hazard is not None:
            print(f"note: decoding in this process, not in {workers} workers: {hazard} calls snowgan at the top "
                  "level of the script, and each spawned worker would run the script again; put the call under "
                  "`if __name__ == \"__main__\":` to decode in parallel", file=sys.stderr, flush=True)
        if workers <= 1 or total is None or total < MIN_PARALLEL or hazard is not None:
            init_worker(opts)
            results: Iterable[Result] = map(run_task, tasks)
        else:
            pool = mp.get_context("spawn").Pool(workers, init_worker, (opts,))
            chunk = max(1, min(32, total // (workers * 8)))
            limit = max(256, 4 * chunk * workers)
            for _ in range(limit):
                window.release()
            results = pool.imap(run_task, _bounded(tasks, window, stop), chunksize=chunk)
        for r in results:
            window.release()
            bar.update(1)
            yield r
    finally:
        if pool is not None:
            stop.set()
            for _ in range(1024):  # wake the pool's feeder thread if it waits for room, so it can end
                window.release()
            pool.terminate()
            pool.join()
        bar.close()


def unguarded_main_call() -> Optional[str]:
    """"path:line" when this call comes from the top level of a ``__main__`` script, outside
    ``if __name__ == "__main__":``; None otherwise.

    Why: a ``spawn`` worker imports the parent's main script again before it takes work
    (multiprocessing.spawn), so such a call would start the pool again in every worker:
    Python refuses in each one ("bootstrapping phase") and the parent waits forever. The
    rule mirrors multiprocessing's: a package's ``__main__`` (``python -m snowgan``) and
    sessions without a script file (a REPL, ``python -c``, notebooks) are not run again.
    """
    main = sys.modules.get("__main__")
    spec_name = getattr(getattr(main, "__spec__", None), "name", None)
    if main is None or (spec_name is not None and (spec_name == "__main__" or spec_name.endswith(".__main__"))):
        return None
    path = getattr(main, "__file__", None)
    if not path or not os.path.isfile(path):
        return None
    frame = sys._getframe(1)
    while frame is not None and not (frame.f_code.co_name == "<module>" and frame.f_globals is vars(main)):
        frame = frame.f_back
    if frame is None:  # not called from the script's top level (e.g. from a thread it started)
        return None
    line = frame.f_lineno
    try:
        with open(path, encoding="utf-8") as f:
            tree = ast.parse(f.read())
    except (OSError, SyntaxError, UnicodeDecodeError, ValueError):
        return None
    for node in tree.body:
        if isinstance(node, ast.If) and _is_main_test(node.test) and node.lineno <= line <= (node.end_lineno or line):
            return None
    return f"{path}:{line}"


def _is_main_test(test: ast.expr) -> bool:
    """``__name__ == "__main__"`` (either order)."""
    if not (isinstance(test, ast.Compare) and len(test.ops) == 1 and isinstance(test.ops[0], ast.Eq)):
        return False
    sides = [test.left, test.comparators[0]]
    names = [s.id for s in sides if isinstance(s, ast.Name)]
    values = [s.value for s in sides if isinstance(s, ast.Constant)]
    return names == ["__name__"] and values == ["__main__"]


def _bounded(tasks: Iterable[Task], window: threading.Semaphore, stop: threading.Event) -> Iterator[Task]:
    """Hand out a task only while fewer than the window are in flight.

    Pool.imap reads its input eagerly on a feeder thread; JSONL lines and array images
    are the data itself, so an unbounded read would hold the whole dataset in memory.
    """
    for t in tasks:
        window.acquire()
        if stop.is_set():
            return
        yield t
