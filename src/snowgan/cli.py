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

MODES = {
    "train": "snowgan.train.command:main",
    "generate": "snowgan.sample:generate_main",
    "prepare": "snowgan.data.prepare:main",
    "evaluate": "snowgan.metrics.evaluate:evaluate_main",
    "features": "snowgan.metrics.evaluate:features_main",
    "interpolate": "snowgan.report.commands:interpolate_main",
    "average": "snowgan.report.commands:average_main",
    "progress": "snowgan.report.commands:progress_main",
    "report": "snowgan.report.commands:report_main",
    "export": "snowgan.export:export_main",
    "probe": "snowgan.probe:probe_main",
    "predict": "snowgan.probe:predict_main",
}


class UserError(Exception):
    """An error caused by the user's input: printed as one line, exit code 2."""


def main(argv: Optional[list[str]] = None) -> int:
    try:
        cfg, explicit = parse_args(argv)
        module, fn = MODES[cfg.run.mode].split(":")
        try:
            entry = getattr(importlib.import_module(module), fn)
        except (ImportError, AttributeError):
            print(f"snowgan: --mode {cfg.run.mode} is not available in this version", file=sys.stderr)
            return 2
        return int(entry(cfg, explicit) or 0)
    except (ConfigError, UserError) as e:
        print(f"snowgan: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("\nsnowgan: aborted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
