"""What every command shares: the one check for output paths, the device, warnings as notes."""

from __future__ import annotations

import sys
import warnings
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator, Optional

from ..errors import ConfigError


def check_out(value: Optional[str | Path], force: bool, flag: str = "out", folder: bool = False,
              what: str = "output") -> Optional[Path]:
    """An output path the user gave, or None. Nothing a user made is overwritten unless --force.

    folder=False: an existing file is refused. folder=True: an existing file is refused
    always (a folder is wanted), an existing non-empty folder unless --force.
    """
    if value is None or value == "":
        return None
    p = Path(value).expanduser()
    if folder:
        if p.exists() and not p.is_dir():
            raise ConfigError(f"--{flag} {p} is a file; give a folder for the {what}")
        if p.is_dir() and any(p.iterdir()) and not force:
            raise ConfigError(f"--{flag} {p} already exists and is not empty; choose another folder or add --force")
    elif p.exists() and not force:
        raise ConfigError(f"--{flag} {p} already exists; choose another path or add --force")
    return p


def device_for(cfg):
    """The torch device the command runs on (--device; auto = cuda, then mps, then cpu)."""
    from ..run.device import pick_device

    return pick_device(cfg.run.device)


@contextmanager
def warnings_as_notes(say: Optional[Callable[[str], None]] = None) -> Iterator[None]:
    """Show Python warnings raised underneath as one line, ``note: MESSAGE`` (no file or line number).

    say: where the line goes (training passes its log, so the note is in log.txt too); default stderr.
    """
    def show(message, category, filename, lineno, file=None, line=None) -> None:
        text = f"note: {message}"
        if say is not None:
            say(text)
        else:
            print(text, file=sys.stderr, flush=True)

    with warnings.catch_warnings():
        warnings.showwarning = show
        yield
