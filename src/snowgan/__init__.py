"""snowgan: train GANs on your own small image collection.

``snowgan.load_generator(DIR)`` and ``snowgan.load_discriminator(DIR)`` rebuild the
networks of a folder made by ``snowgan --mode export`` (see snowgan/export.py). They
are resolved lazily so that ``import snowgan`` (and ``snowgan --help``) does not pay
for importing torch.
"""

from typing import Any

__version__ = "0.1.0"

_LAZY = {"load_generator": "snowgan.export", "load_discriminator": "snowgan.export"}
__all__ = ["__version__", *_LAZY]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'snowgan' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))
