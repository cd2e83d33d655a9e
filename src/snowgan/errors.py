"""The error users see as one line: a bad flag, file or value (exit code 2).

Its own module, free of imports, so that every layer (flags, sizes, data, models,
commands) can raise it without importing the configuration schema.
"""

from __future__ import annotations


class ConfigError(ValueError):
    """A bad flag, file or value. The CLI prints it as one line and exits 2."""
