"""The error users see as one line: a bad flag, file or value (exit code 2).

Its own module, free of snowgan imports, so that every layer (flags, sizes, data, models,
commands) can raise it without importing the configuration schema.
"""

from __future__ import annotations

import difflib
import itertools
import os
from pathlib import Path
from typing import Callable, Optional


class ConfigError(ValueError):
    """A bad flag, file or value. The CLI prints it as one line and exits 2."""


def did_you_mean(word: str, candidates: list[str], prefix: str = "") -> str:
    """'; did you mean --n_samples?' for a word close to one of the candidates, else ''."""
    close = difflib.get_close_matches(str(word), [str(c) for c in candidates], n=1, cutoff=0.6)
    return f"; did you mean {prefix}{close[0]}?" if close else ""


# What a path flag may name: (test, the noun a message uses).
PATH_KINDS: dict[str, tuple[Callable[[Path], bool], str]] = {
    "file": (Path.is_file, "file"), "folder": (Path.is_dir, "folder"), "any": (Path.exists, "file or folder")}
_LISTED = 5000  # names read from one folder when looking for a close one (a photo folder may hold 100k)
_LEVELS = 2     # parent folders searched: a command started in runs/00001-x/ for a --data ../../photos


def check_path(flag: str, value: str, kind: str, what: str) -> Path:
    """The path a flag names (``~`` expanded), or ConfigError in one line: missing (with a "did you
    mean" for a close name nearby) or not of the kind wanted. what: what to give instead."""
    test, noun = PATH_KINDS[kind]
    path = Path(value).expanduser()
    if test(path):
        return path
    if path.exists():
        return _refuse(flag, value, f"not a {noun}", what)
    return _refuse(flag, value, f"no such {noun}{did_you_mean_path(value, test)}", what)


def _refuse(flag: str, value: str, why: str, what: str) -> Path:
    tail = "" if "did you mean" in why else f"; give {what}"
    raise ConfigError(f"--{flag} {value}: {why}{tail}")


def did_you_mean_path(value: str, accept: Callable[[Path], bool] = Path.exists) -> str:
    """'; did you mean ../photos?' for a missing path, else ''.

    The same path one or two folders up (a command started inside a run folder) or without a
    leading ``../`` wins; then a close name for the first part that is missing (``photoz`` for
    ``photos``, ``phtos/train`` for ``photos/train``) beside it, then, closer still, in the
    folders above. Only a path that exists and that ``accept`` takes is offered."""
    path = Path(value).expanduser()
    ups = [Path(*[os.pardir] * n) for n in range(1, _LEVELS + 1)] if not path.is_absolute() else []
    parts = path.parts
    downs = [Path(*parts[n:]) for n in range(1, len(parts)) if set(parts[:n]) == {os.pardir}]
    for found in itertools.chain((up / path for up in ups), downs):
        if accept(found):
            return f"; did you mean {os.path.normpath(found)}?"
    for base, cutoff in [(Path(), 0.6)] + [(up, 0.8) for up in ups]:
        found = _close_path(base / path, accept, cutoff)
        if found is not None:
            return f"; did you mean {os.path.normpath(found)}?"
    return ""


def _close_path(path: Path, accept: Callable[[Path], bool], cutoff: float) -> Optional[Path]:
    """path with its first missing part replaced by the closest name in that folder, when the result is accepted."""
    parts = path.parts
    here = Path(parts[0]) if path.is_absolute() else Path()
    for i in range(1 if path.is_absolute() else 0, len(parts)):
        if (here / parts[i]).exists():
            here = here / parts[i]
            continue
        try:
            with os.scandir(here) as entries:
                names = [e.name for e in itertools.islice(entries, _LISTED)]
        except OSError:
            return None
        for name in difflib.get_close_matches(parts[i], names, n=3, cutoff=cutoff):
            candidate = here.joinpath(name, *parts[i + 1:])
            if accept(candidate):
                return candidate
        return None
    return None
