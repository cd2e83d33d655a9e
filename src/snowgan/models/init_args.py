"""A network's init arguments are its config: recorded at construction, written by export, enough
to rebuild it (as diffusers' ``register_to_config`` and nanoGPT's ``GPTConfig``).

Every network a family's ``build`` returns derives from ``RecordsInit``: after ``__init__`` it holds
``init_args``, the arguments it was built with (defaults filled in). ``init_record(net)`` is the
JSON an export writes, ``{"class": "snowgan.models.dcgan.networks:Generator", "args": {...}}``, and
``rebuild(record)`` makes a fresh network from it alone, with no settings and no family builder.
Only classes under ``snowgan.models.`` that derive from ``RecordsInit`` may be named, so a model
folder from a stranger cannot make ``rebuild`` import or call anything else.
"""

from __future__ import annotations

import functools
import importlib
import inspect
from typing import Any

from ..errors import ConfigError

PACKAGE = "snowgan.models."


class RecordsInit:
    """Mixin: ``self.init_args`` = the arguments of the most derived class's ``__init__`` (JSON values:
    numbers, strings, booleans, None, tuples)."""

    init_args: dict[str, Any]

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "__init__" not in cls.__dict__:
            return
        original = cls.__init__
        signature = inspect.signature(original)

        @functools.wraps(original)
        def __init__(self, *args: Any, **kw: Any) -> None:
            original(self, *args, **kw)
            if type(self) is cls:  # the class being built records; its bases' __init__ calls do not
                bound = signature.bind(self, *args, **kw)
                bound.apply_defaults()
                self.init_args = {k: _plain(v) for k, v in list(bound.arguments.items())[1:]}

        cls.__init__ = __init__  # type: ignore[method-assign]


def _plain(value: Any) -> Any:
    if isinstance(value, (list, tuple)):
        return tuple(_plain(v) for v in value)
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    raise TypeError(f"a network's init argument must be plain data to be recorded, got {type(value).__name__}")


def init_record(net: Any) -> dict[str, Any]:
    """{"class": "module:Name", "args": {...}} of a network built by a family (tuples as JSON lists)."""
    cls = type(net)
    if not isinstance(net, RecordsInit) or not hasattr(net, "init_args"):
        raise TypeError(f"{cls.__name__} does not record its init arguments (derive it from RecordsInit)")
    return {"class": f"{cls.__module__}:{cls.__qualname__}", "args": dict(net.init_args)}


def rebuild(record: Any, where: str) -> Any:
    """A fresh network from ``init_record``'s JSON. where: what to name in a ConfigError (a file)."""
    try:
        module, name = str(record["class"]).split(":")
        args = {str(k): _from_json(v) for k, v in dict(record["args"]).items()}
    except (KeyError, TypeError, ValueError, AttributeError):
        raise ConfigError(f"{where}: the network record is damaged; export the run again") from None
    if not module.startswith(PACKAGE):
        raise ConfigError(f"{where}: names a network outside snowgan ({module}); refusing to import it")
    try:
        cls = getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError):
        raise ConfigError(f"{where}: network {module}:{name} is not in this snowgan; upgrade snowgan") from None
    if not (isinstance(cls, type) and issubclass(cls, RecordsInit)):
        raise ConfigError(f"{where}: {module}:{name} is not a snowgan network")
    try:
        return cls(**args)
    except TypeError as e:
        raise ConfigError(f"{where}: network {name} cannot be built from the recorded arguments ({e})") from None


def _from_json(value: Any) -> Any:
    return tuple(_from_json(v) for v in value) if isinstance(value, list) else value
