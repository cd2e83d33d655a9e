"""What training hands to the person watching it, besides stats and sample grids.

- In-training metrics (``--metrics_every``): the EMA generator measured on a fixed
  latent batch by ``snowgan.metrics.tracker.MetricTracker`` (rank 0 only), the
  ``checkpoints/best`` folder rewritten when the chosen metric improves (never
  pruned), and a collapse warning in the log and the next stats line
  (``--stop_on_collapse`` ends the run with a checkpoint, as a signal would). Each
  check logs what it cost and the share of the run's time metrics took so far.
- The default (``--metrics_every -1``) is a watch chosen by ``watch_plan``: KID/FID on a
  ``--data`` run when the FID Inception weights are at hand, else the collapse watch.
- The report (``--report``): plots from stats.jsonl/metrics.jsonl and
  ``report.html``, refreshed at every sample interval.

Neither may disturb training: measurements run under a forked RNG (so a run with
metrics on trains exactly as one without), and a failure to draw a plot or write
the page is logged once and otherwise ignored.
"""

from __future__ import annotations

import copy
import math
import random
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional

import numpy as np
import torch

from ..config import Config
from ..data.prepared import PreparedDataset
from ..diskspace import describe, write_errno
from ..runfolder import RunFolder
from ..text import significant
from . import distributed as dist_util


WATCH_SAMPLES = 256  # images per automatic check: pairwise distances well under a second; KID's subsets
# Real images the quality watch compares against (a seeded subset of larger sets): KID's
# subsets are only WATCH_SAMPLES large, and on a CPU each real image costs as much
# Inception time as a generated one (once; cached on disk by dataset and weights).
WATCH_REAL = 1000


# A live report is rebuilt at a sample interval only if this long has passed since the last
# rebuild (the last one of a run always happens). The plots cost ~0.7 s even for a tiny run: at a
# grid every few seconds that doubled a short run's time, for a page that reloads every 20 s.
REPORT_EVERY_S = 15.0


def watch_every(iterations: int) -> int:
    """Iterations between automatic collapse checks: about ten per run, none before iteration 50."""
    return max(50, iterations // 10)


def quality_every(iterations: int, device: torch.device) -> int:
    """Iterations between automatic KID/FID checks: ten per run on a GPU, five on a CPU.

    Inception sees 299x299 inputs whatever the training size, so on a CPU one check of
    WATCH_SAMPLES images costs 10-60 s (docs/metrics.md has the figures); five checks
    keep that a small share of a CPU run while still choosing a best checkpoint.
    """
    return watch_every(iterations) if device.type == "cuda" else max(50, iterations // 5)


@dataclass
class WatchPlan:
    """What the default in-training measurement does: a config for the tracker, how often, and why."""

    cfg: Config
    every: int
    max_real: int
    note: str


def uses_own_data(cfg: Config) -> bool:
    """True for a run on the user's images (--data), False for the built-in drawn dataset."""
    return bool(cfg.data.data) and cfg.data.data_format != "builtin"


def watch_plan(cfg: Config, iterations: int, device: torch.device) -> WatchPlan:
    """The default measurement of a run (--metrics_every -1), decided once at start.

    A --data run with the FID Inception weights at hand (no download) gets the *quality
    watch*: KID (best checkpoint; FID beside it from the same features) and the collapse
    signals on WATCH_SAMPLES images against up to WATCH_REAL real ones. Otherwise — the
    built-in dataset, whose reals are drawn, or no weights — the *collapse watch* of the
    weight-free diversity signals, as before; a --data run without weights says why.
    """
    from ..metrics.suite import MAX_REAL
    from ..metrics.weights import INSTALL_HINT, weights_available

    cfg = copy.deepcopy(cfg)
    m = cfg.metrics
    m.metrics_samples = min(WATCH_SAMPLES, m.metrics_samples)
    off = "--metrics_every 0 turns it off"
    if uses_own_data(cfg) and weights_available(m.inception_weights):
        m.metrics = "fid,kid,diversity"
        if m.best_metric not in ("fid", "kid"):
            m.best_metric = "auto"  # -> kid
        return WatchPlan(cfg, quality_every(iterations, device), WATCH_REAL,
                         f"quality watch: the run uses --data and the FID Inception weights are here; {off}")
    m.metrics, m.best_metric = "diversity", "auto"
    note = f"collapse watch; {off}"
    if uses_own_data(cfg):
        note += (f". No KID/FID and no best checkpoint: no FID Inception weights on this machine "
                 f"({INSTALL_HINT}, or --inception_weights PATH)")
    return WatchPlan(cfg, watch_every(iterations), MAX_REAL, note)


class RunOutputs:
    """Metrics, best checkpoint, collapse signal and report for one training run.

    ``--metrics_every -1`` (the default) is a watch (``watch_plan``): on a ``--data`` run
    with the Inception weights at hand, KID/FID and the collapse signals on WATCH_SAMPLES
    images every quality_every(iterations), best checkpoint by KID; otherwise only the
    weight-free diversity signals every watch_every(iterations) — cheap enough to leave
    on, and it catches a collapsing run (e.g. G updated more often than D) while it
    trains, but keeps no best checkpoint.
    """

    def __init__(self, cfg: Config, dataset: PreparedDataset, run_dir: Path, device: torch.device,
                 main: bool, world: int, log: Callable[[str], None], iterations: Optional[int] = 0) -> None:
        """iterations: the run's length, or None while a --minutes run measures its speed (no
        measurement is planned until set_iterations gives it)."""
        self.cfg, self.run_dir, self.device = cfg, Path(run_dir), device
        self.files = RunFolder(self.run_dir)
        self.main, self.world, self.log = main, world, log
        self.dataset = dataset
        self.every, self.tracker = 0, None
        if iterations is not None:
            self._plan_measurement(iterations)
        self.pending_warning: Optional[str] = None  # goes into the next stats line
        self._report_failed = False
        self._metrics_write_failed = False
        self._t_start = time.time()
        self._metrics_s = 0.0  # wall time spent measuring, for the cost line
        self._last_report = -math.inf  # when the live report was last rebuilt (time.time())

    def set_iterations(self, iterations: int) -> int:
        """The run's length, once a --minutes run has measured its speed; returns the checks the run will make."""
        self._plan_measurement(iterations)
        return iterations // self.every + 1 if self.tracker is not None and self.every > 0 else 0

    def _plan_measurement(self, iterations: int) -> None:
        """--metrics_every N, or the automatic watch sized to the run (watch_plan), and its log lines."""
        cfg, log, main = self.cfg, self.log, self.main
        self.every = int(cfg.metrics.metrics_every)
        watch = self.every < 0
        plan = watch_plan(cfg, iterations, torch.device(self.device)) if watch else None
        if plan is not None:
            cfg, self.every = plan.cfg, plan.every
        if self.every > 0 and main and not (watch and iterations < self.every):
            from ..metrics.tracker import MetricTracker

            kwargs = {"max_real": plan.max_real} if plan is not None else {}
            self.tracker = MetricTracker(cfg, self.dataset, self.run_dir, self.device, **kwargs)
            best = f"; best checkpoint by {self.tracker.best_key}" if self.tracker.best_key else ""
            what = f" ({plan.note})" if plan is not None else ""
            log(f"metrics: {','.join(self.tracker.names)} on {self.tracker.n} samples "
                f"every {self.every} iterations{best}{what}")
            weights = self.tracker.suite.weights
            if weights is not None:
                log(f"metrics: {weights.protocol()}; {len(self.tracker.suite.real)} of {len(self.dataset)} real "
                    f"images; the first check also computes their features (cached on disk for later runs)")
        elif plan is not None and main and self.every > 0:
            log(f"metrics: none in this short run ({iterations} iterations < {self.every}); {plan.note}")

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
            t0 = time.time()
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
            took = time.time() - t0
            self._metrics_s += took
        if values is not None:
            share = self._metrics_s / max(time.time() - self._t_start, 1e-9)
            shown = ", ".join(f"{k} {significant(v)}" for k, v in values.items()
                              if isinstance(v, (int, float)) and k != "time_metrics_s")
            self.log(f"metrics at step {step} ({kimg:.1f} kimg): {shown} (check took {took:.1f} s; "
                     f"metrics so far {share:.0%} of the run's time)")
            if self.tracker.is_best(values) and save_best():  # False: the disk refused it (the loop stops)
                self.log(f"best {self.tracker.best_key} so far ({significant(values[self.tracker.best_key])}): "
                         f"saved {self.files.checkpoint('best')}")
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
        now = time.time()
        if live and now - self._last_report < REPORT_EVERY_S:
            return  # the open page reloads every LIVE_REFRESH_S: rebuilding its plots faster is work nobody sees
        self._last_report = now
        try:
            from ..report.html import write_report
            from ..report.plots import plot_stats

            plot_stats(self.run_dir)
            write_report(self.run_dir, live=live)
        except Exception as e:  # a picture must never end a training run
            self._report_failed = True
            code = write_errno(e)
            why = describe(code, self.files.report) if code is not None else f"{type(e).__name__}: {e}"
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
