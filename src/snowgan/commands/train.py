"""``snowgan --mode train``: process group, run folder, the Trainer, exit codes.

Exit codes: 0 done (or stopped by the collapse signal), 128+signal when interrupted
(checkpoint saved), 3 when training cannot go on (non-finite losses after the allowed
rollbacks, out of memory: with advice), 2 for bad input (ConfigError, via the CLI).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from ..config import Config, ConfigError
from ..train import distributed as dist_util
from ..train.loop import Trainer, TrainingFailed
from ..train.memory import is_out_of_memory, oom_advice, release_cached
from ..train.session import Session, open_session
from .common import device_for, warnings_as_notes


def main(cfg: Config, explicit: set[str]) -> int:
    info = dist_util.init_distributed(device_for(cfg).type)
    try:
        rc = _train(cfg, explicit, info)
        # All ranks leave together: with gloo, a rank tearing its process group down while
        # its peer is still finishing (rank 0 writes the last files) was seen to abort the
        # other side at exit ("terminate called without an active exception").
        dist_util.barrier(info.world)
        return rc
    except Exception as e:
        if info.enabled:  # say which process failed; torchrun then stops the others
            print(f"snowgan: rank {info.rank} of {info.world} failed: {type(e).__name__}: {e}", flush=True)
        raise
    finally:
        dist_util.cleanup()


def _train(cfg: Config, explicit: set[str], info: dist_util.DistInfo) -> int:
    if info.enabled and cfg.train.batch_size % info.world:
        raise ConfigError(f"--batch_size {cfg.train.batch_size} must be divisible by the {info.world} processes")
    session = _open_session_all_ranks(cfg, explicit, info)
    try:
        with warnings_as_notes(session.log):
            trainer = Trainer(session, info)
    except BaseException:
        # A new run that failed during setup (bad data, bad flags) leaves no empty folder behind.
        if not session.resuming and not (session.run_dir / "checkpoints").exists():
            shutil.rmtree(session.run_dir, ignore_errors=True)
        raise
    try:
        with warnings_as_notes(session.log):  # e.g. a dataset smaller than the batch: one line, in log.txt too
            return trainer.run()
    except TrainingFailed as e:
        session.log(f"snowgan: training stopped: {e}")
        trainer.outputs.refresh_report(live=False)  # the page stops reloading: nothing will change it now
        return 3
    except Exception as e:  # out of memory: advice instead of a traceback; anything else propagates
        if not is_out_of_memory(e):
            raise
        release_cached(trainer.device)
        session.log(oom_advice(e, trainer.cfg, trainer.device, trainer.precision.name, trainer.counters["step"]))
        trainer.outputs.refresh_report(live=False)
        return 3


def _open_session_all_ranks(cfg: Config, explicit: set[str], info: dist_util.DistInfo) -> Session:
    """Rank 0 creates or reopens the run folder; the other ranks read its resolved config."""
    if info.is_main:
        session = open_session(cfg, explicit)
    run_dir = Path(dist_util.share_string(str(session.run_dir) if info.is_main else "", info))
    if info.is_main:
        return session
    saved = Config.from_dict(json.loads((run_dir / "config.json").read_text(encoding="utf-8")))
    resuming = (run_dir / "checkpoints").is_dir()
    return Session(saved, run_dir, resuming, lambda msg: None)
