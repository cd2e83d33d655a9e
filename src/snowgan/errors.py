"""The error users see as one line: a bad flag, file or value (exit code 2).

Its own module, free of snowgan imports, so that every layer (flags, sizes, data, models,
commands) can raise it without importing the configuration schema.
"""

from __future__ import annotations

import difflib


class ConfigError(ValueError):
    """A bad flag, file or value. The CLI prints it as one line and exits 2."""


def did_you_mean(word: str, candidates: list[str], prefix: str = "") -> str:
    """'; did you mean --n_samples?' for a word close to one of the candidates, else ''."""
    close = difflib.get_close_matches(str(word), [str(c) for c in candidates], n=1, cutoff=0.6)
    return f"; did you mean {prefix}{close[0]}?" if close else ""
