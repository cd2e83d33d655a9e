"""The `snowgan` command: parse flags into a Config and hand it to the library.

Two spellings of every command, the same from here on:

    snowgan train --data photos/ --kimg 100          (a subcommand)
    snowgan --mode train --gen_steps 4 --disc_lr 0.0001   (the contract: --mode)

No training logic lives here. Each mode is a function ``fn(cfg, given) -> exit code``
named in ``registries.MODES`` (imported lazily so `snowgan --help` never imports torch);
``given`` is the set of fields set now by flags, --recipe or --config. Bare ``snowgan``
prints an overview, ``--help`` the flags (helptext.py), ``snowgan recipes`` the recipes.
Errors are one line, ``snowgan: error: ...``, exit 2; warnings from the libraries
underneath are one-line notes, not Python's UserWarning with a source path.
"""

from __future__ import annotations

import importlib
import signal
import sys
from pathlib import Path
from typing import Any, Optional

from .checks import before_start
from .commands.common import warnings_as_notes
from .config import Config, ConfigError
from .errors import did_you_mean
from .flags import parse_typed, resolve
from .helptext import EXTRA_COMMANDS, command_help, full_help, overview, recipes_help, recipes_text, version_text
from .registries import MODES

HELP_FLAGS = ("-h", "--help")


def _mode_flag(argv: list[str]) -> Optional[str]:
    """The value of --mode in argv (for `--mode X --help`), or None."""
    for i, tok in enumerate(argv):
        if tok == "--mode" and i + 1 < len(argv):
            return argv[i + 1]
        if tok.startswith("--mode="):
            return tok.split("=", 1)[1]
    return None


def _command_word(word: str) -> str:
    """A subcommand (or `help`/`recipes`) as typed; ConfigError with a suggestion otherwise."""
    if word in MODES or word in EXTRA_COMMANDS:
        return word
    choices = [*MODES, *EXTRA_COMMANDS]
    raise ConfigError(f"unknown command {word!r}{did_you_mean(word, choices)} "
                      f"(commands: {', '.join(choices)}; snowgan --help lists them)")


def _help_for(mode: Optional[str]) -> str:
    if mode is None:
        return full_help()
    if mode not in MODES:
        _command_word(mode)  # raises with a suggestion
        return recipes_help() if mode == "recipes" else full_help()
    return command_help(mode)


def settings(typed: dict[str, Any]) -> tuple[Config, set[str]]:
    """One command's settings from the values typed for it (a command line's flags, or the Python API's
    keyword arguments: snowgan/api.py): resolved (flags.resolve), checked before anything starts
    (checks.before_start), and the notes on flags that will not act printed. Returns (cfg, given)."""
    cfg, given = resolve(typed)
    for note in before_start(cfg, set(typed) - {"mode"}, given):
        print(f"note: {note}", file=sys.stderr, flush=True)
    return cfg, given


def run(argv: list[str]) -> int:
    """Dispatch one command line; ConfigError propagates (main prints it)."""
    if not argv:
        print(overview(), end="")
        return 0
    if "--version" in argv:
        print(version_text())
        return 0
    command = None
    if not argv[0].startswith("-"):
        command, argv = _command_word(argv[0]), argv[1:]
        if command == "help":
            print(_help_for(argv[0] if argv else None), end="")
            return 0
        if command == "recipes":
            print(recipes_help() if any(a in HELP_FLAGS for a in argv) else recipes_text(), end="")
            return 0
    if any(a in HELP_FLAGS for a in argv):
        print(_help_for(command or _mode_flag(argv)), end="")
        return 0
    typed = parse_typed(argv)
    if command is not None:
        if typed.get("mode", command) != command:
            raise ConfigError(f"`snowgan {command}` was also given --mode {typed['mode']}; give one of them")
        typed["mode"] = command
    if typed.get("recipe") == "list":
        print(recipes_text(), end="")
        return 0
    cfg, given = settings(typed)
    module, fn = MODES[cfg.run.mode].split(":")
    entry = getattr(importlib.import_module(module), fn)
    with warnings_as_notes():
        return int(entry(cfg, given) or 0)


def main(argv: Optional[list[str]] = None) -> int:
    args = [str(a) for a in (sys.argv[1:] if argv is None else argv)]
    try:
        rc = run(args)
        if argv is None and rc > 128:
            # The process is about to exit after an interrupted run with everything written: a second
            # Ctrl-C has nothing left to abort, and raised during the interpreter's exit it would
            # print a traceback from some finalizer. Ignore it. (Not when called as a function.)
            signal.signal(signal.SIGINT, signal.SIG_IGN)
        return rc
    except ConfigError as e:
        print(f"snowgan: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("\nsnowgan: aborted", file=sys.stderr)
        return 130
    except Exception as e:  # a full or read-only disk in any command: one line and exit 3, as training does
        from .diskspace import describe, what_to_do, write_errno

        code = write_errno(e)
        if code is None:
            raise
        where = Path(getattr(e, "filename", None) or ".")
        print(f"snowgan: error: could not write {describe(code, where)}; {what_to_do(code, '--out')}",
              file=sys.stderr)
        return 3


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
