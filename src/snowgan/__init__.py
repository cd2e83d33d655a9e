"""snowgan: train GANs on your own small image collection.

From Python (docs/python.md; snowgan/api.py):

    import snowgan
    run = snowgan.train("photos/", minutes=20, image_size=128)   # the CLI's defaults, plan and checks
    images = run.generate(16, seed=0)                            # PIL images
    model = snowgan.load("runs/00003-photos")                    # a run folder or an exported folder

``snowgan.load_generator(DIR)`` and ``snowgan.load_discriminator(DIR)`` rebuild the networks of a
folder made by ``snowgan export`` (see snowgan/export.py). Every name is resolved lazily, so that
``import snowgan`` (and ``snowgan --help``) does not pay for importing torch.

``snowgan.train`` is the function, though ``snowgan/train/`` is also the training subpackage:
Python's import system sets an imported submodule as an attribute of its package, which would
replace the function the first time a run trains, so the package refuses that one attribute
(``_Package``). The subpackage is imported as ever: ``from snowgan.train import loop``.
"""

import sys
import types
from typing import Any

__version__ = "0.1.0"

_LAZY = {"load_generator": "snowgan.export", "load_discriminator": "snowgan.export",
         "train": "snowgan.api", "load": "snowgan.api", "Run": "snowgan.api", "Model": "snowgan.api",
         "Projection": "snowgan.api", "TrainingStopped": "snowgan.api", "ConfigError": "snowgan.errors"}
__all__ = ["__version__", *_LAZY]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'snowgan' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))


class _Package(types.ModuleType):
    """The snowgan package, which keeps ``snowgan.train`` the API's function when snowgan.train (the
    subpackage) is imported (the import system's ``setattr(package, "train", submodule)`` is dropped)."""

    def __setattr__(self, name: str, value: Any) -> None:
        if name in _LAZY and isinstance(value, types.ModuleType):
            return
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Package
