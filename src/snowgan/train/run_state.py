"""The training run's state on disk: what a checkpoint holds beyond the file format, and
every way the Trainer writes it or takes it back.

``RunState`` owns, for one Trainer:

- the state saved next to the networks (counters, optimizers, data position, every RNG,
  techniques, config and network identity), so that a resume is exact;
- ``save_checkpoint`` (``checkpoints/step-N``, rank 0 writes, every rank waits, then
  prune) and ``save_best`` (``checkpoints/best``, rank 0 only);
- ``restore`` (a resume, refused when the networks differ) and ``rollback`` (after
  ``--max_bad_steps`` non-finite steps: back to the newest valid checkpoint, re-seeded);
- ``init_from`` (``--init_from``: the networks of another run, fresh optimizers).

It holds references to the Trainer's live objects (the counters dict is shared and
updated in place), so the loop keeps reading them directly. The checkpoint format itself
(files, manifest, atomic writes, pruning) is ``run/checkpoint.py``'s; this module
decides what goes into it and what happens when it cannot be written.
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Callable, Optional

import numpy as np
import torch

from ..config import Config, ConfigError
from ..data.dataset import Batches
from ..runfolder import RunFolder
from ..run import checkpoint as ckpt
from . import distributed as dist_util
from .step import GANSteps
from .techniques import Techniques
from .writes import stop_line


class TrainingFailed(RuntimeError):
    """Training cannot continue (e.g. losses keep turning non-finite). Exit code 3."""


class WriteFailed(TrainingFailed):
    """A checkpoint could not be written (full disk, quota, read-only): stop; earlier ones are intact."""


class RunState:
    """Saves, restores and rolls back the Trainer's state; see the module docstring."""

    def __init__(self, cfg: Config, files: RunFolder, steps: GANSteps, batches: Batches, tech: Techniques,
                 counters: dict, device: torch.device, main: bool, world: int,
                 log: Callable[[str], None]) -> None:
        self.cfg = cfg
        self.files = files
        self.run_dir = files.path
        self.steps = steps
        self.batches = batches
        self.tech = tech
        self.counters = counters
        self.device = device
        self.main = main
        self.world = world
        self.log = log
        self.write_failure: Optional[str] = None  # rank 0: why the best checkpoint could not be written

    def _state(self) -> dict:
        """Everything besides the networks that a resume needs to continue bit for bit."""
        rng = {"torch": torch.get_rng_state(), "python": random.getstate(), "numpy": np.random.get_state()}
        if self.device.type == "cuda":
            rng["cuda"] = torch.cuda.get_rng_state(self.device)
        return {"counters": dict(self.counters), "optim": self.steps.optim_state(),
                "data": self.batches.state_dict(), "rng": rng, "config": self.cfg.to_dict(),
                "identity": self.cfg.identity(), "epoch": self.batches.epoch_float,
                "techniques": self.tech.state_dict()}

    def save_checkpoint(self, milestone: bool = False) -> Path:
        """Rank 0 writes; every rank waits until it is on disk (a rollback may read it).

        When the disk cannot take it, every rank stops with WriteFailed (exit 3): going on
        would train for hours that could not be saved. The earlier checkpoints are untouched.
        """
        step = self.counters["step"]
        dest = self.files.checkpoint(RunFolder.step_name(step))
        failure: Optional[str] = None
        if self.main:
            try:
                ckpt.write_checkpoint(dest, self.steps.networks_state(), self._state(), milestone=milestone)
            except ckpt.CheckpointWriteError as e:
                failure = stop_line("checkpoint", e, self.run_dir)
            else:
                ckpt.validate(dest)  # prune only once the new one is known good
                ckpt.prune(self.run_dir, self.cfg.log.keep_checkpoints)
        # One collective: the barrier every rank needs anyway, carrying rank 0's outcome.
        if dist_util.any_rank(failure is not None, self.device, self.world):
            raise WriteFailed(failure or "rank 0 could not write a checkpoint (its log says why)")
        return dest

    def save_best(self) -> bool:
        """checkpoints/best: the current state, replaced whenever the tracked metric improves (rank 0).

        False when the disk refused it: the previous best stays, and ``stop_if_best_failed``
        stops every rank (this runs on rank 0 only, so it cannot stop the others itself).
        """
        dest = self.files.checkpoint("best")
        try:
            ckpt.write_checkpoint(dest, self.steps.networks_state(), self._state())
        except ckpt.CheckpointWriteError as e:
            self.write_failure = stop_line("the best checkpoint", e, self.run_dir)
            return False
        ckpt.validate(dest)
        return True

    def stop_if_best_failed(self) -> None:
        """After a metrics check, on every rank: WriteFailed on all of them when rank 0's best was refused.

        A collective: every rank must call it at the same step.
        """
        if dist_util.any_rank(self.write_failure is not None, self.device, self.world):
            raise WriteFailed(self.write_failure or "rank 0 could not write the best checkpoint")

    def restore(self, path: Path) -> None:
        """Networks, optimizers, data position, counters, techniques and RNGs from a checkpoint of this run."""
        c = ckpt.read_checkpoint(path, map_location=self.device)
        if c.state.get("identity") != self.cfg.identity():
            diff = {k: (v, self.cfg.identity()[k]) for k, v in c.state["identity"].items()
                    if self.cfg.identity().get(k) != v}
            raise ConfigError(f"checkpoint {path} was trained with different networks {diff}; start a new run")
        self.steps.load(c.networks, c.state["optim"])
        self.batches.load_state_dict(c.state["data"])
        self.counters.update(c.state["counters"])
        self.tech.load_state_dict(c.state.get("techniques") or {})
        rng = c.state["rng"]
        torch.set_rng_state(rng["torch"])
        random.setstate(rng["python"])
        np.random.set_state(rng["numpy"])
        if "cuda" in rng and self.device.type == "cuda":
            torch.cuda.set_rng_state(rng["cuda"], self.device)

    def rollback(self) -> None:
        """Back to the newest valid checkpoint after too many non-finite steps in a row, re-seeded.

        The rollback count survives the restore (the checkpoint holds an older one); past
        ``--max_rollbacks`` the run ends with TrainingFailed and the likely causes.
        """
        self.counters["rollbacks"] += 1
        n = self.counters["rollbacks"]
        if n > self.cfg.train.max_rollbacks:
            raise TrainingFailed(
                f"losses were non-finite for {self.cfg.train.max_bad_steps} steps in a row, {n - 1} times, even "
                f"after rolling back to the last good checkpoint (last at step {self.counters['step']}). "
                f"Likely causes: a learning rate too high (--gen_lr {self.cfg.train.gen_lr}, --disc_lr "
                f"{self.cfg.train.disc_lr}), too little regularisation, or reduced precision "
                f"(try --precision fp32).")
        path = ckpt.latest_valid(self.run_dir, warn=self.log)
        if path is None:
            raise TrainingFailed("losses became non-finite and there is no checkpoint to roll back to")
        rollbacks = n
        self.restore(path)
        self.counters["rollbacks"] = rollbacks
        # Re-draw different random numbers, or the replay would hit the same NaN again.
        torch.manual_seed(self.cfg.run.seed + 7919 * rollbacks)
        self.log(f"warning: {self.cfg.train.max_bad_steps} non-finite steps in a row; rolled back to {path.name} "
                 f"(rollback {rollbacks} of at most {self.cfg.train.max_rollbacks}) and re-seeded")

    def init_from(self, spec: str) -> None:
        """--init_from: G and D from a checkpoint folder or another run's newest one; optimizers stay fresh.

        Refused unless the networks are the same (identity fields equal): transfer copies weights as they are.
        """
        path = Path(spec)
        if not (path / "manifest.json").is_file():
            from ..runs import find_run

            run = find_run(self.cfg.run.runs_dir, spec)
            path = ckpt.latest_valid(run, warn=self.log)
            if path is None:
                raise ConfigError(f"--init_from {spec}: that run has no valid checkpoint")
        c = ckpt.read_checkpoint(path, map_location=self.device)
        theirs, ours = c.state.get("identity", {}), self.cfg.identity()
        diff = {k: f"{theirs.get(k)} vs {ours[k]}" for k in ours if theirs.get(k) != ours[k]}
        if diff:
            raise ConfigError(f"--init_from {spec}: networks differ ({', '.join(f'{k} {v}' for k, v in diff.items())}); "
                              "transfer needs the same architecture and size")
        self.steps.load(c.networks, None)
        self.log(f"initialised G and D from {path} (optimizers fresh; "
                 f"{self.cfg.train.freeze_d} D blocks frozen)")
