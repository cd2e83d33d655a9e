"""What training hands to the person watching it, besides stats and sample grids.

- In-training metrics (``--metrics_every``): the EMA generator measured on a fixed
  latent batch by ``snowgan.metrics.tracker.MetricTracker`` (rank 0 only), the
  ``checkpoints/best`` folder rewritten when the chosen metric improves (never
  pruned), and a collapse warning in the log and the next stats line
  (``--stop_on_collapse`` ends the run with a checkpoint, as a signal would).
- The report (``--report``): plots from stats.jsonl/metrics.jsonl and
  ``report.html``, refreshed at every sample interval.

Neither may disturb training: measurements run under a forked RNG (so a run with
metrics on trains exactly as one without), and a failure to draw a plot or write
the page is logged once and otherwise ignored.
"""

from __future__ import annotations

import copy
import random
from pathlib import Path
from typing import Callable, Optional

import numpy as np
import torch

from ..config import Config
from ..data.prepared import PreparedDataset
from ..diskspace import describe, write_errno
from ..text import significant
from . import distributed as dist_util


WATCH_SAMPLES = 256  # images per automatic collapse check: pairwise distances, well under a second


def watch_every(iterations: int) -> int:
    """Iterations between automatic collapse checks: about ten per run, none before iteration 50."""
    return max(50, iterations // 10)


class RunOutputs:
    """Metrics, best checkpoint, collapse signal and report for one training run.

    ``--metrics_every -1`` (the default) is a collapse watch: only the weight-free
    diversity signals, on WATCH_SAMPLES images, every watch_every(iterations) — cheap
    enough to leave on, and it catches a collapsing run (e.g. G updated more often than D)
    while it trains. It keeps no best checkpoint; ask for swd/fid/kid to get one.
    """

    def __init__(self, cfg: Config, dataset: PreparedDataset, run_dir: Path, device: torch.device,
                 main: bool, world: int, log: Callable[[str], None], iterations: int = 0) -> None:
        self.cfg, self.run_dir, self.device = cfg, Path(run_dir), device
        self.main, self.world, self.log = main, world, log
        self.every = int(cfg.metrics.metrics_every)
        watch = self.every < 0
        if watch:
            self.every = watch_every(iterations)
            cfg = copy.deepcopy(cfg)
            cfg.metrics.metrics, cfg.metrics.best_metric = "diversity", "auto"
            cfg.metrics.metrics_samples = min(WATCH_SAMPLES, cfg.metrics.metrics_samples)
        self.tracker = None
        if self.every > 0 and main and not (watch and iterations < self.every):
            from ..metrics.tracker import MetricTracker

            self.tracker = MetricTracker(cfg, dataset, self.run_dir, device)
            best = f"; best checkpoint by {self.tracker.best_key}" if self.tracker.best_key else ""
            what = " (collapse watch; --metrics_every 0 turns it off)" if watch else ""
            log(f"metrics: {','.join(self.tracker.names)} on {self.tracker.n} samples "
                f"every {self.every} iterations{best}{what}")
        self.pending_warning: Optional[str] = None  # goes into the next stats line
        self._report_failed = False
        self._metrics_write_failed = False

    def measure_due(self, step: int, last: bool = False) -> bool:
        """Every `every` iterations, and at the last one: the final model is the one a user gets."""
        return self.every > 0 and (step % self.every == 0 or last)

    def measure(self, step: int, kimg: float, G_ema: torch.nn.Module,
                save_best: Callable[[], bool]) -> bool:
        """Measure (rank 0), keep the best checkpoint; True on every rank when training should stop.

        Every rank must call this at the same step: the stop decision is shared.
        """
        stop = False
        values = None
        if self.tracker is not None:
            try:
                with _isolated_rng():
                    values = self.tracker.measure(G_ema, step, kimg)
            except Exception as e:  # metrics.jsonl on a full disk: say so once, keep training
                code = write_errno(e)
                if code is None:
                    raise
                if not self._metrics_write_failed:
                    self._metrics_write_failed = True
                    self.log(f"note: could not record metrics, {describe(code, self.tracker.path)}; training goes on")
        if values is not None:
            shown = ", ".join(f"{k} {significant(v)}" for k, v in values.items() if isinstance(v, (int, float)))
            self.log(f"metrics at step {step} ({kimg:.1f} kimg): {shown}")
            if self.tracker.is_best(values) and save_best():  # False: the disk refused it (the loop stops)
                self.log(f"best {self.tracker.best_key} so far ({significant(values[self.tracker.best_key])}): "
                         f"saved {self.run_dir / 'checkpoints' / 'best'}")
            warning = self.tracker.collapse_warning(values)
            if warning:
                self.pending_warning = warning
                self.log(f"WARNING: {warning}")
                stop = bool(self.cfg.metrics.stop_on_collapse)
        return dist_util.any_rank(stop, self.device, self.world)

    def stats_fields(self) -> dict:
        """Extra fields for the next stats line (the collapse warning, once)."""
        if self.pending_warning is None:
            return {}
        out = {"collapse_warning": self.pending_warning}
        self.pending_warning = None
        return out

    def refresh_report(self, live: bool = False) -> None:
        """Plots and report.html from the files already in the run folder (rank 0; never raises).

        live: training goes on, so the page reloads itself (report.html.LIVE_REFRESH_S); the last
        refresh of a run, and every page `snowgan report` writes, is still.
        """
        if not (self.main and self.cfg.log.report) or self._report_failed:
            return
        try:
            from ..report.html import write_report
            from ..report.plots import plot_stats

            plot_stats(self.run_dir)
            write_report(self.run_dir, live=live)
        except Exception as e:  # a picture must never end a training run
            self._report_failed = True
            code = write_errno(e)
            why = describe(code, self.run_dir / "report.html") if code is not None else f"{type(e).__name__}: {e}"
            self.log(f"note: could not refresh the report ({why}); training goes on, "
                     f"make it later with: snowgan --mode report --run {self.run_dir.name}")


class _isolated_rng:
    """Run a measurement without moving torch's, NumPy's or Python's global RNG."""

    def __enter__(self) -> None:
        self._fork = torch.random.fork_rng(devices=[torch.cuda.current_device()] if torch.cuda.is_initialized() else [])
        self._fork.__enter__()
        self._np, self._py = np.random.get_state(), random.getstate()

    def __exit__(self, *exc) -> None:
        np.random.set_state(self._np)
        random.setstate(self._py)
        self._fork.__exit__(*exc)
