"""``snowgan --mode train``: process group, run folder (locked), the Trainer, exit codes.

Exit codes: 0 done (or stopped by the collapse signal), 128+signal when interrupted
(checkpoint saved), 3 when training cannot go on (non-finite losses after the allowed
rollbacks, out of memory: with advice; a full, read-only or forbidden disk: with the
path, the free space, the last good checkpoint and the resume command), 2 for bad input
(ConfigError) and for a run another process is training (RunLocked).
"""

from __future__ import annotations

import os
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from ..config import Config, ConfigError
from ..diskspace import describe, stop_message, what_to_do, write_errno
from ..runfolder import RunFolder
from ..run import checkpoint as ckpt
from ..train import distributed as dist_util
from ..train.loop import Trainer
from ..train.run_state import TrainingFailed
from ..run.lock import stale_note
from ..train.memory import is_out_of_memory, oom_advice, release_cached
from ..train.session import RunLog, Session, open_session
from .common import device_for, warnings_as_notes

_FAILED = "\0failed:"  # rank 0's marker, in place of the run folder, when it could not open the run


class Refused(Exception):
    """The run folder could not be opened (on rank 0); every rank leaves with ``code``, rank 0 says why.
    cause: rank 0's own error (a ConfigError such as RunLocked, or an OSError), which the Python API raises."""

    def __init__(self, code: int, line: str, cause: Optional[BaseException] = None) -> None:
        super().__init__(line)
        self.code = code
        self.cause = cause
        self.say = True  # rank 0 prints the line; the other ranks leave quietly


@dataclass
class Trained:
    """What a training command made: its exit code (0 done or stopped by the collapse signal, 128+signal
    interrupted with a checkpoint saved, 3 stopped), the run folder, and for 3 the line that says why."""

    code: int
    run_dir: Path
    why: str = ""


def main(cfg: Config, explicit: set[str]) -> int:
    try:
        return train(cfg, explicit).code
    except Refused as e:  # every rank raised it, so no rank waits at train's barrier
        if e.say:
            print(e, file=sys.stderr, flush=True)
        return e.code


def train(cfg: Config, explicit: set[str]) -> Trained:
    """The training command (`snowgan train` and snowgan.train): raises Refused when the run folder
    cannot be opened; else what it made, whatever the exit code."""
    info = dist_util.init_distributed(device_for(cfg).type)
    try:
        made = _train(cfg, explicit, info)
        # All ranks leave together: with gloo, a rank tearing its process group down while
        # its peer is still finishing (rank 0 writes the last files) was seen to abort the
        # other side at exit ("terminate called without an active exception").
        dist_util.barrier(info.world)
        if info.enabled:
            dist_util.cleanup()
            _leave_now(made.code)
        return made
    except Refused as e:
        e.say = info.is_main
        raise
    except Exception as e:
        if info.enabled:  # say which process failed; torchrun then stops the others
            print(f"snowgan: rank {info.rank} of {info.world} failed: {type(e).__name__}: {e}", flush=True)
        raise
    finally:
        dist_util.cleanup()


def _leave_now(rc: int) -> None:
    """End a torchrun worker without the interpreter's teardown, once everything is written and closed.

    Even after the barrier and destroy_process_group, gloo's threads were seen (twice, in CI) to
    abort a finished rank during interpreter shutdown ("terminate called without an active
    exception", exit -6), failing a run that had completed. Every file this command writes is
    closed by now, so skipping the teardown loses nothing.
    """
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(rc)


def _train(cfg: Config, explicit: set[str], info: dist_util.DistInfo) -> Trained:
    if info.enabled and cfg.train.batch_size % info.world:
        raise ConfigError(f"--batch_size {cfg.train.batch_size} must be divisible by the {info.world} processes")
    session = _open_session_all_ranks(cfg, explicit, info)
    if session.lock is not None and session.lock.stale:
        session.log(stale_note(session.lock.stale, session.run_dir))
    try:
        code, why = _train_in(session, info)
        return Trained(code, session.run_dir, why)
    finally:
        session.close()  # the run lock; the OS would drop it at exit anyway


def _train_in(session: Session, info: dist_util.DistInfo) -> tuple[int, str]:
    """(exit code, for 3 the line that says why)."""
    try:
        with warnings_as_notes(session.log):  # e.g. a dataset smaller than the batch: one line, in log.txt too
            trainer = Trainer(session, info)
    except BaseException as e:
        # A new run that failed during setup (bad data, bad flags) leaves no empty folder behind.
        if not session.resuming and not RunFolder(session.run_dir).checkpoints.exists():
            shutil.rmtree(session.run_dir, ignore_errors=True)
        code = write_errno(e) if isinstance(e, Exception) else None
        if code is None:
            raise
        # During setup the big write is the prepared-dataset cache (its write errors name no file).
        filename = getattr(e, "filename", None)
        where = Path(filename) if filename else _setup_folder(session.cfg, session.run_dir)
        again = ("run the same command again" if not session.run_dir.exists()
                 else f"resume with: snowgan --mode train --resume {session.run_dir}")
        flag = "--runs_dir" if session.run_dir in where.parents or where == session.run_dir else "--cache_dir"
        why = f"snowgan: could not set up the run, {describe(code, where)}; {what_to_do(code, flag)}, then {again}"
        print(why, file=sys.stderr, flush=True)
        return 3, why
    try:
        with warnings_as_notes(session.log):
            return trainer.run(), ""
    except TrainingFailed as e:  # includes WriteFailed: a checkpoint the disk would not take
        why = _say(session, f"snowgan: training stopped: {e}")
        trainer.outputs.refresh_report(live=False)  # the page stops reloading: nothing will change it now
        return 3, why
    except Exception as e:  # out of memory: advice instead of a traceback; anything else propagates
        if is_out_of_memory(e):
            release_cached(trainer.device)
            why = oom_advice(e, trainer.cfg, trainer.device, trainer.precision.name, trainer.counters["step"])
            session.log(why)
            trainer.outputs.refresh_report(live=False)
            return 3, why
        code = write_errno(e)
        if code is None:
            raise
        filename = getattr(e, "filename", None)
        last = ckpt.latest_valid(session.run_dir, warn=lambda msg: None)
        return 3, _say(session, "snowgan: training stopped: " + stop_message(
            "to", code, Path(filename) if filename else session.run_dir, None, last, session.run_dir))


def _say(session: Session, line: str) -> str:
    """The last line of a failed run: in the log, and on stderr when the terminal gets no log lines."""
    session.log(line)
    if session.cfg.run.progress == "none":
        print(line, file=sys.stderr, flush=True)
    return line


def _setup_folder(cfg: Config, run_dir: Path) -> Path:
    if cfg.data.data is None or cfg.data.data_format == "builtin":
        return run_dir
    from ..data.prepare import cache_root

    return cache_root(cfg)


def _open_session_all_ranks(cfg: Config, explicit: set[str], info: dist_util.DistInfo) -> Session:
    """Rank 0 creates or reopens the run folder and holds its lock; the other ranks read its resolved config.

    When rank 0 cannot (another trainer holds the run, bad flags, an unwritable folder),
    every rank raises Refused with the same exit code, so none waits for the others.
    """
    session: Optional[Session] = None
    refused: Optional[Refused] = None
    if info.is_main:
        try:
            session = open_session(cfg, explicit)
        except ConfigError as e:  # RunLocked included
            refused = Refused(2, f"snowgan: error: {e}", e)
        except OSError as e:
            code = write_errno(e)
            if code is None:
                raise
            where = Path(e.filename) if e.filename else Path(cfg.run.runs_dir)
            refused = Refused(3, f"snowgan: could not create or lock the run folder, {describe(code, where)}; "
                                 f"{what_to_do(code)}", e)
    if not info.enabled:
        if refused is not None:
            raise refused
        assert session is not None
        return session
    shared = dist_util.share_string(
        str(session.run_dir) if session is not None else _FAILED + (f"{refused.code}:{refused}" if refused else ""),
        info)
    if shared.startswith(_FAILED):
        code, _, line = shared[len(_FAILED):].partition(":")
        raise refused or Refused(int(code), line)
    if info.is_main:
        assert session is not None
        return session
    run_dir = Path(shared)
    saved = RunFolder(run_dir).load_config()
    resuming = RunFolder(run_dir).checkpoints.is_dir()
    return Session(saved, run_dir, resuming, RunLog(None, quiet=True))
