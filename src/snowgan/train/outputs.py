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


# A check whose diversity is below this share of the run's highest (counted at most as the real
# images' own) says so: a trend, before the collapse threshold's absolute warning.
DIVERSITY_FALL = 0.7

# A live report is rebuilt at a sample interval only if this long has passed since the last
# rebuild (the last one of a run always happens). The plots cost ~0.7 s even for a tiny run: at a
# grid every few seconds that doubled a short run's time, for a page that reloads every 20 s.
REPORT_EVERY_S = 15.0


COLLAPSE_CHECKS = 10  # automatic collapse checks per run
QUALITY_CHECKS_CPU = 5  # automatic KID/FID checks per run on a CPU (COLLAPSE_CHECKS on a GPU)


def watch_every(iterations: int, checks: int = COLLAPSE_CHECKS) -> int:
    """Iterations between automatic checks: ``checks`` per run counting the one at the end (so none
    falls a few iterations before it), none before iteration 50."""
    return max(50, -(-iterations // max(1, checks)))


def most_checks(iterations: int) -> int:
    """The most automatic checks a run of ``iterations`` makes (none before iteration 50, at least 50 apart)."""
    return 0 if iterations < 50 else iterations // 50


def quality_checks(device: torch.device) -> int:
    """Automatic KID/FID checks per run: ten on a GPU, five on a CPU.

    Inception sees 299x299 inputs whatever the training size, so on a CPU one check of
    WATCH_SAMPLES images costs 10-60 s (docs/metrics.md has the figures); five checks
    keep that a small share of a CPU run while still choosing a best checkpoint. A --minutes
    run makes fewer when they would not fit (plan.fit_minutes).
    """
    return COLLAPSE_CHECKS if device.type == "cuda" else QUALITY_CHECKS_CPU


def quality_every(iterations: int, device: torch.device) -> int:
    """Iterations between automatic KID/FID checks (quality_checks per run)."""
    return watch_every(iterations, quality_checks(device))


@dataclass
class CheckCosts:
    """What a run's metric checks will cost, measured when a --minutes run fixes its length."""

    first_s: float          # the first check (it may compute the real images' features)
    each_s: float           # every later one
    max_checks: int         # the most the automatic watch makes (0: nothing is measured)
    every: Optional[int]    # a given --metrics_every (its checks are paid for, not cut), else None
    what: str               # "KID/FID check", "collapse check"
    quality: bool = False   # KID/FID is measured (a short run may fall back to the collapse check)


@dataclass
class WatchPlan:
    """What the default in-training measurement does: a config for the tracker, how often, and why."""

    cfg: Config
    every: int
    max_real: int
    note: str
    quality: bool = False   # KID/FID (else the weight-free collapse watch)


def uses_own_data(cfg: Config) -> bool:
    """True for a run on the user's images (--data), False for the built-in drawn dataset."""
    return bool(cfg.data.data) and cfg.data.data_format != "builtin"


def watch_plan(cfg: Config, iterations: int, device: torch.device, checks: Optional[int] = None,
               quality: bool = True) -> WatchPlan:
    """The default measurement of a run (--metrics_every -1), decided once at start.

    A --data run with the FID Inception weights at hand (no download) gets the *quality
    watch*: KID (best checkpoint; FID beside it from the same features) and the collapse
    signals on WATCH_SAMPLES images against up to WATCH_REAL real ones. Otherwise — the
    built-in dataset, whose reals are drawn, or no weights — the *collapse watch* of the
    weight-free diversity signals, as before; a --data run without weights says why.
    checks: how many checks the run makes (default: quality_checks / COLLAPSE_CHECKS); quality False
    chooses the collapse watch even where KID/FID could be measured (a short --minutes run).
    """
    from ..metrics.suite import MAX_REAL
    from ..metrics.weights import INSTALL_HINT, weights_available

    cfg = cfg.thawed()  # the watch's own metric settings, derived from the run's
    m = cfg.metrics
    m.metrics_samples = min(WATCH_SAMPLES, m.metrics_samples)
    off = "--metrics_every 0 turns it off"
    can_measure = uses_own_data(cfg) and weights_available(m.inception_weights)
    if can_measure and quality:
        m.metrics = "fid,kid,diversity,spectrum"
        if m.best_metric not in ("fid", "kid"):
            m.best_metric = "auto"  # -> kid
        n = quality_checks(device) if checks is None else checks
        return WatchPlan(cfg, watch_every(iterations, n), WATCH_REAL,
                         f"quality watch: the run uses --data and the FID Inception weights are here; {off}", True)
    m.metrics, m.best_metric = "diversity,spectrum", "auto"
    note = f"collapse watch; {off}"
    if can_measure:
        note += ". No KID/FID during the run: a check would take too large a share of --minutes; " \
                "snowgan evaluate measures it afterwards"
    elif uses_own_data(cfg):
        note += (f". No KID/FID and no best checkpoint: no FID Inception weights on this machine "
                 f"({INSTALL_HINT}, or --inception_weights PATH)")
    return WatchPlan(cfg, watch_every(iterations, COLLAPSE_CHECKS if checks is None else checks), MAX_REAL, note)


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
        self.detail = getattr(log, "detail", log)  # session.RunLog: to log.txt (and --verbose); a plain callable gets all
        self._diversity: list[tuple[int, float]] = []  # (step, diversity) of each check: the trend the verdict reads
        self.dataset = dataset
        self.every, self.tracker = 0, None
        self._made: Optional[tuple] = None  # (what it measures, the MetricTracker made for it)
        if iterations is not None:
            self._plan_measurement(iterations)
        self.pending_warning: Optional[str] = None  # goes into the next stats line
        self._report_failed = False
        self._metrics_write_failed = False
        self._t_start = time.time()
        self._metrics_s = 0.0  # wall time spent measuring, for the cost line
        self._last_report = -math.inf  # when the live report was last rebuilt (time.time())

    def set_iterations(self, iterations: int, checks: Optional[int] = None, quality: bool = True) -> int:
        """The run's length, once a --minutes run has measured its speed, and for the automatic watch the
        number of checks that fit (plan.fit_minutes; None: the default) and whether KID/FID is among
        them; returns the checks the run will make."""
        self._plan_measurement(iterations, checks, quality)
        return self.checks_after(0, iterations)

    def checks_after(self, step: int, iterations: int) -> int:
        """Checks still to come after ``step`` in a run of ``iterations`` (the ETA counts them)."""
        if self.tracker is None or self.every <= 0:
            return 0
        return iterations // self.every - step // self.every + (1 if iterations % self.every else 0)

    def check_costs(self, G_ema: torch.nn.Module, quality: bool = True) -> CheckCosts:
        """Time what one check will cost (rank 0; the others get zeros and take rank 0's plan): G on a few
        fixed latents and, for KID/FID, the Inception features of its images, scaled to the check's
        sample count; the first check also pays for the real images' features unless they are cached.
        Costs a second or two, which the plan counts as time spent."""
        every = int(self.cfg.metrics.metrics_every)
        if every == 0 or not self.main:
            return CheckCosts(0.0, 0.0, 0, None if every < 0 else every, "")
        plan = watch_plan(self.cfg, 1, torch.device(self.device), quality=quality) if every < 0 else None
        tracker = self._make_tracker(plan)
        from ..sample import generate_images, latents

        z = latents(16, G_ema.latent_dim, self.cfg.run.seed)
        labels = torch.arange(16) % G_ema.num_classes if getattr(G_ema, "num_classes", 0) else None
        was_training = G_ema.training
        G_ema.eval()
        with _isolated_rng():
            generate_images(G_ema, z[:2], self.device, labels=None if labels is None else labels[:2])  # warm-up
            t0 = time.perf_counter()
            fake = generate_images(G_ema, z, self.device, labels=labels)
            per_image = (time.perf_counter() - t0) / len(z) + tracker.suite.embed_seconds(fake)
        G_ema.train(was_training)
        # pixel signals, KID subsets, writing the line and the plot: about 10 % on top, and 0.2 s
        each = 1.1 * per_image * tracker.n + 0.2
        first = each + 1.1 * tracker.suite.embed_seconds(fake[:4]) * tracker.suite.real_images_to_embed(
            tuple(fake.shape[-2:])) if tracker.suite.weights is not None else each
        what = "KID/FID check" if tracker.suite.weights is not None else "collapse check"
        max_checks = 0 if plan is None else quality_checks(torch.device(self.device)) if plan.quality \
            else COLLAPSE_CHECKS
        return CheckCosts(first, each, max_checks, None if plan is not None else every, what,
                          tracker.suite.weights is not None)

    def _make_tracker(self, plan: Optional[WatchPlan]):
        """The MetricTracker for --metrics_every N or the watch ``plan``, made once (loading Inception is slow)."""
        from ..metrics.tracker import MetricTracker

        cfg = plan.cfg if plan is not None else self.cfg
        key = (cfg.metrics.metrics, cfg.metrics.best_metric, cfg.metrics.metrics_samples)
        if self._made is None or self._made[0] != key:
            kwargs = {"max_real": plan.max_real} if plan is not None else {}
            self._made = (key, MetricTracker(cfg, self.dataset, self.run_dir, self.device, **kwargs))
        return self._made[1]

    def _plan_measurement(self, iterations: int, checks: Optional[int] = None, quality: bool = True) -> None:
        """--metrics_every N, or the automatic watch sized to the run (watch_plan), and its log lines."""
        cfg, log, main = self.cfg, self.log, self.main
        self.every = int(cfg.metrics.metrics_every)
        watch = self.every < 0
        plan = watch_plan(cfg, iterations, torch.device(self.device), checks, quality) if watch else None
        if plan is not None:
            cfg, self.every = plan.cfg, (plan.every if checks != 0 else 0)
        if self.every > 0 and main and not (watch and iterations < self.every):
            self.tracker = self._make_tracker(plan)
            best = f"; best checkpoint by {self.tracker.best_key}" if self.tracker.best_key else ""
            what = f" ({plan.note})" if plan is not None else ""
            shown = "KID and FID" if self.tracker.suite.weights is not None else "a collapse check"
            log(f"metrics: {shown} every {self.every} iterations{best.replace(';', ',')}")
            self.detail(f"metrics: {','.join(self.tracker.names)} on {self.tracker.n} samples "
                        f"every {self.every} iterations{best}{what}")
            weights = self.tracker.suite.weights
            if weights is not None:
                self.detail(f"metrics: {weights.protocol()}; {len(self.tracker.suite.real)} of {len(self.dataset)} "
                            f"real images; the first check also computes their features (cached on disk for later "
                            f"runs)")
        elif plan is not None and main and self.every > 0:
            log(f"metrics: none in this short run ({iterations} iterations < {self.every})")
            self.detail(f"metrics: {plan.note}")

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
            self.detail(f"metrics at step {step} ({kimg:.1f} kimg): {shown} (check took {took:.1f} s; "
                        f"metrics so far {share:.0%} of the run's time)")
            best = self.tracker.is_best(values)
            self.log(f"check at step {step} ({kimg:.1f} kimg): {self._verdict(step, values, best)}")
            if best and save_best():  # False: the disk refused it (the loop stops)
                self.detail(f"best {self.tracker.best_key} so far ({significant(values[self.tracker.best_key])}): "
                            f"saved {self.files.checkpoint('best')}")
            warning = self.tracker.collapse_warning(values)
            if warning:
                self.pending_warning = warning
                self.log(f"WARNING: {warning}")
                stop = bool(self.cfg.metrics.stop_on_collapse)
        return dist_util.any_rank(stop, self.device, self.world)

    def _verdict(self, step: int, values: dict, best: bool) -> str:
        """A check in plain words: the one number that picks the best checkpoint and whether it improved,
        and how varied the samples are, with a fall from their peak named as a trend (issue 42: diversity
        fell from 1.41 to 0.63 without a word because it stayed above the collapse threshold)."""
        parts = []
        key = self.tracker.best_key
        if key is not None and values.get(key) is not None:
            fid = f", FID {values['fid']:.0f}" if key == "kid" and values.get("fid") is not None else ""
            parts.append(f"{key.upper()} {significant(values[key])}{fid}, "
                         + ("the best so far" if best else "not better than the best so far"))
        div = values.get("diversity")
        if div is not None:
            self._diversity.append((step, float(div)))
            peak_step, peak = max(self._diversity, key=lambda p: p[1])
            text = f"samples {div:.0%} as varied as the real images"
            # Early samples are noise, more varied than any photo (diversity above 1): a fall from there is
            # training, not collapse, so the peak counts at most as the real images' own variety.
            if div < DIVERSITY_FALL * min(peak, 1.0):
                text += f", down from {peak:.0%} at step {peak_step}: watch the grids for repeats"
            parts.append(text)
        hf = values.get("spectral_hf")
        if hf is not None and math.isfinite(hf):
            parts.append(f"high-frequency spectrum {hf:.1f} dB off the real images'")
        return "; ".join(parts) or "measured (see log.txt)"

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
