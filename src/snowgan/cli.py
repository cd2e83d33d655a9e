"""The `snowgan` command: parse flags into a Config and hand it to the library.

No training logic lives here. Each mode is a function ``main(cfg, explicit) -> int``
in the module named in MODES (imported lazily so `snowgan --help` stays fast);
``explicit`` is the set of flag names the user typed.
"""

from __future__ import annotations

import importlib
import sys
from typing import Optional

from .config import ConfigError
from .flags import parse_args

# Every mode's entry lives in snowgan/commands/ (imported lazily so `snowgan --help` stays fast);
# library modules never import a command.
MODES = {
    "train": "snowgan.commands.train:main",
    "generate": "snowgan.commands.generate:main",
    "prepare": "snowgan.commands.prepare:main",
    "evaluate": "snowgan.commands.evaluate:evaluate_main",
    "features": "snowgan.commands.evaluate:features_main",
    "interpolate": "snowgan.commands.media:interpolate_main",
    "average": "snowgan.commands.media:average_main",
    "progress": "snowgan.commands.media:progress_main",
    "report": "snowgan.commands.media:report_main",
    "export": "snowgan.commands.export:main",
    "probe": "snowgan.commands.probe:probe_main",
    "predict": "snowgan.commands.probe:predict_main",
    "project": "snowgan.commands.project:main",
    "studio": "snowgan.commands.studio:main",
}


def main(argv: Optional[list[str]] = None) -> int:
    try:
        cfg, explicit = parse_args(argv)
        module, fn = MODES[cfg.run.mode].split(":")
        entry = getattr(importlib.import_module(module), fn)
        return int(entry(cfg, explicit) or 0)
    except ConfigError as e:
        print(f"snowgan: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("\nsnowgan: aborted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
