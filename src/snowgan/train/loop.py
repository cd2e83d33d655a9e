"""The training run: set up, loop over iterations, log, sample, stop cleanly.

When to checkpoint, resume or roll back is decided here; what a checkpoint holds and how it
is written and taken back (resume, NaN rollback, best, --init_from) is ``run_state.RunState``.

One iteration = ``disc_steps`` discriminator updates (each on a fresh real batch)
followed by ``gen_steps`` generator updates and one EMA update. Progress is counted
in real images shown to D (kimg), as in the progressive-GAN/StyleGAN papers.
"""

from __future__ import annotations

import random
import signal
import time
from dataclasses import dataclass, field
from typing import Optional

import numpy as np
import torch

from ..config import Config, ConfigError
from ..data.classes import check_conditional, conditional_by_default, describe_classes
from ..data.dataset import Batches
from ..data.load import load_dataset
from ..data.prepared import change_note
from ..files import json_text
from ..models.registry import build_networks
from ..progress import Progress
from ..report.grid import save_grid
from ..report.tensorboard import open_tensorboard
from ..runfolder import RunFolder
from ..text import duration, number, plural
from ..sample import class_rows, generate_images, latents, to_uint8
from ..run import checkpoint as ckpt
from . import distributed as dist_util
from .diskplan import checkpoint_bytes, free_space_warning, iterations_left
from ..run.device import pick_device
from .device import configure_threads, keep_freed_memory, peak_memory_mb, pick_precision, set_deterministic
from .compiling import compile_networks
from .ema import ema_beta
from .session import Session
from .statsline import stats_line, status_text
from .step import GANSteps, prepare_networks
from .outputs import RunOutputs, uses_own_data
from .run_state import RunState
from . import plan
from .techniques import Techniques, start_warnings
from .writes import OptionalWrites, append_line


@dataclass
class LoopState:
    """What the loop carries from one iteration to the next (a run's counters are Trainer.counters)."""

    total: int  # images to show; 1 << 62 while a --minutes run measures its speed
    total_steps: Optional[int]  # iterations, when known (for the status and the checks' ETA)
    bar: Progress
    probe: Optional[plan.SpeedProbe]  # measures the speed a --minutes run's length is fixed from
    log_every: int
    sample_every: int
    t_log: float  # when the last stats line was written, and the image count then
    img_log: int
    sums: dict[str, torch.Tensor] = field(default_factory=dict)  # stats summed since that line
    n_in_sums: int = 0
    bad_streak: int = 0  # non-finite iterations in a row (--max_bad_steps rolls back)


class Trainer:
    """One training run over a Session (train/session.py): set up in __init__, then run().

    Set-up reads top to bottom: device, data, networks and the GAN's steps, the run's state and
    plan. The loop (``_run``) is: start or resume, then per iteration ``_train_iteration`` (the
    algorithm: D steps, G steps, EMA), ``_account`` (bad steps, stats, the speed probe, progress)
    and ``_periodic`` (stats lines, grids, metric checks, checkpoints), then ``_finish``.
    """

    def __init__(self, session: Session, info: Optional[dist_util.DistInfo] = None) -> None:
        self.t_start = time.time()  # --minutes counts wall time from here, data preparation included
        self.check_s = 0.0  # what one metric check costs (measured when a --minutes run plans, then at each check)
        self.plan_fixed_here = False  # a --minutes run whose length this session fixed (its time is the user's ask)
        self.s = session
        self.dist = info or dist_util.DistInfo()
        self.main = self.dist.is_main
        self.cfg = session.cfg
        self.run_dir = session.run_dir
        self.files = RunFolder(self.run_dir)
        self.log = session.log
        self.given = session.given
        self.stop_signal: Optional[int] = None
        self._saved_signals: dict = {}  # the caller's SIGINT/SIGTERM handlers while run() has its own
        self.stop_reason: Optional[str] = None  # set when the collapse signal ends the run
        self.tb = None  # TensorBoard event files (--tensorboard), opened when the loop starts
        self.optional_write = OptionalWrites(self.log)  # sample grids, stats lines: a full disk skips them
        self._stage_announced = -1  # the progressive level last announced in the log
        self._set_up_device()
        self._set_up_data()
        G, D = self._set_up_networks()
        self._set_up_run_state()
        self._set_up_plan()
        self._announce(G, D)

    # ---- set-up, in order --------------------------------------------------------------
    def _set_up_device(self) -> None:
        cfg = self.cfg
        self.device = pick_device(cfg.run.device)
        self.precision = pick_precision(cfg.train.precision, self.device)
        threads = configure_threads(self.device)
        if self.device.type == "cpu" and (kept := keep_freed_memory()):
            threads += f", {kept}"
        set_deterministic(cfg.run.deterministic)
        self.log(f"run {self.run_dir} ({'resuming' if self.s.resuming else 'new'})")
        self.log(f"device: {self.device}, {self.precision.name}")
        self.log.detail(f"device {self.device}, precision {self.precision.name} ({self.precision.why}), {threads}")

    def _set_up_data(self) -> None:
        """The prepared dataset, the run's classes (before the networks: their size depends on them),
        dataset.json, and the batches."""
        cfg = self.cfg
        if self.dist.enabled and not self.main:
            dist_util.barrier(self.dist.world)  # let rank 0 prepare (and cache) the data first
        self.dataset = load_dataset(cfg)
        self._decide_classes()
        if self.main:
            self._record_dataset()
            dist_util.barrier(self.dist.world)
        self.batch_size = cfg.train.batch_size
        if cfg.train.balance_classes and self.dataset.labels is None:
            raise ConfigError("--balance_classes needs labelled data: sub-folders per class, --labels labels.csv, "
                              "or a JSONL label field; or train without it")
        self.batches = Batches(self.dataset, cfg.run.seed, self.device, cfg.image_hw, cfg.data.mirror,
                               rank=self.dist.rank, world=self.dist.world, channels_last=cfg.train.channels_last,
                               balance=cfg.train.balance_classes)
        if cfg.train.balance_classes:
            k = len(self.dataset.class_names)
            self.log(f"balanced classes: each of {k} drawn {self.batches.epoch_len // k} times per epoch")

    def _decide_classes(self) -> None:
        """Whether the run trains on the data's classes, and which: start-up decisions (decided.py)."""
        by_default, why_not = conditional_by_default(self.cfg, set(self.given), self.dataset) if self.s.plan \
            else (False, None)
        if by_default:  # the --data default on labelled data (data/classes.py says why)
            self._decide(False, conditional=True)
        elif why_not:
            self.log(why_not)
        if self.cfg.model.conditional:
            counts = check_conditional(self.cfg, self.dataset)
            # Recorded before the networks are built (their size depends on the classes); generate and
            # export read the names from config.json.
            self._decide(self.main, class_names=tuple(self.dataset.class_names))
            self.log(f"conditional: {describe_classes(self.cfg.class_list, counts)}" + (
                " (every image has a class, so the --data default trains on them: generate --class asks for "
                "one; --conditional false trains without them)" if by_default else ""))

    def _decide(self, write: bool, **changes) -> Config:
        """Record a start-up decision (Session.decide; write: this process writes the run folder) and
        give the parts that read the run's settings its new effective config."""
        self.cfg = self.s.decide(write, **changes)
        if hasattr(self, "run_state"):
            self.run_state.cfg = self.cfg
        return self.cfg

    def _set_up_networks(self) -> tuple[torch.nn.Module, torch.nn.Module]:
        """G and D from the family's builder, on the device (and shared across processes), the
        techniques, and the GAN's steps; returns the plain (G, D) modules."""
        cfg = self.cfg
        _seed_everything(cfg.run.seed)
        G, D = build_networks(cfg)
        if hasattr(D, "load_backbone"):  # a frozen pretrained part: missing weights fail now, not at step 1
            D.load_backbone(required=True)
        G, D = prepare_networks(cfg, G, D, self.device)  # device + channels_last
        if self.dist.enabled:
            G, D = self._prepare_distributed(G, D)
        self.tech = Techniques(cfg)  # augmentation (fixed or adaptive p), progressive stage
        self.augment = self.tech.augment
        G_run, D_run = compile_networks(cfg, G, D, self.precision, self.log)  # (G, D) unless --compile
        self.steps = GANSteps(cfg, G_run, D_run, self.device, self.precision, self.augment, G_module=G,
                              D_module=D, rank=self.dist.rank, world=self.dist.world)
        self._fix_grid_latents()
        return G, D

    def _fix_grid_latents(self) -> None:
        """The latents (and labels) every sample grid of the run is drawn from."""
        cfg = self.cfg
        self.fixed_z = latents(cfg.log.grid_size, cfg.model.latent_dim, cfg.run.seed + 1)
        self.fixed_labels: Optional[torch.Tensor] = None
        self.grid_cols: Optional[int] = None
        if cfg.class_list:  # a conditional run's grids: one row per class, the same latents in each row
            k = len(cfg.class_list)
            self.grid_cols = max(1, cfg.log.grid_size // k)
            self.fixed_z, self.fixed_labels = class_rows(self.grid_cols, k, cfg.model.latent_dim, cfg.run.seed + 1)

    def _set_up_run_state(self) -> None:
        self.counters = {"step": 0, "images_seen": 0, "d_steps": 0, "time_s": 0.0, "rollbacks": 0,
                         "skipped_steps": 0}
        # Checkpoints: what they hold, writing, resume, rollback, --init_from (shares the counters dict).
        self.run_state = RunState(self.cfg, self.files, self.steps, self.batches, self.tech, self.counters,
                                  self.device, self.main, self.dist.world, self.log)

    def _set_up_plan(self) -> None:
        """The run's length and intervals (train/plan.py), and the outputs that follow them."""
        cfg = self.cfg
        self.plan = plan.RunPlan(cfg, set(self.given), self.batch_size, self.batches.n, self.tech.schedule, self.dist,
                                 decide=self._decide)
        # A --minutes run: its length waits for the speed measured over the first iterations.
        self.measuring = self.plan.start(self.s.plan, uses_own_data(cfg))
        cfg = self.cfg  # with what the plan decided (a --data run's default --minutes, the intervals)
        self.outputs = RunOutputs(cfg, self.dataset, self.run_dir, self.device, self.main, self.dist.world, self.log,
                                  iterations=None if self.measuring else self.plan.iterations(self.plan.total_images()))

    def _announce(self, G: torch.nn.Module, D: torch.nn.Module) -> None:
        cfg = self.cfg
        n_params = sum(p.numel() for p in G.parameters()), sum(p.numel() for p in D.parameters())
        self.log(f"{cfg.model.arch} {cfg.model.loss}, G {n_params[0] / 1e6:.2f}M / D {n_params[1] / 1e6:.2f}M "
                 f"parameters, {cfg.data.image_size} px, batch {self.batch_size}"
                 + (f" split over {self.dist.world} processes" if self.dist.enabled else ""))
        for warning in start_warnings(cfg) + (plan.data_default_notes(cfg, set(self.given)) if self.s.plan else []):
            self.log(warning)

    def _prepare_distributed(self, G, D):
        if self.cfg.train.sync_bn:
            if self.device.type != "cuda":
                raise ConfigError("--sync_bn needs CUDA GPUs (PyTorch's SyncBatchNorm does not run on CPU)")
            G = torch.nn.SyncBatchNorm.convert_sync_batchnorm(G)
            D = torch.nn.SyncBatchNorm.convert_sync_batchnorm(D)
        dist_util.broadcast_module(G)
        dist_util.broadcast_module(D)
        return G, D

    # ---- setup helpers ---------------------------------------------------------------
    def _record_dataset(self) -> None:
        ds = self.dataset
        where = "built-in dataset (no --data given): " if self.cfg.data.data is None else ""
        self.log(f"data: {where}{ds.description}")
        before = self.files.read_dataset()
        info = {"source": self.cfg.data.data, "description": ds.description, "count": len(ds),
                "shape": list(ds.shape), "fingerprint": ds.fingerprint, "content": ds.content,
                "class_names": ds.class_names, "mirror": self.cfg.data.mirror, "skipped": len(ds.skipped)}
        note = change_note(before, info) if before else None  # e.g. photos added to the same folder
        if note:
            self.log(note)
        self.files.dataset.write_text(json_text(info, indent=2), encoding="utf-8")
        if ds.skipped:
            with open(self.files.skipped, "w", encoding="utf-8") as f:
                for name, reason in ds.skipped:
                    f.write(f"{name}\t{reason}\n")
            self.log(f"data: skipped {len(ds.skipped)} unreadable inputs, listed in {self.run_dir / 'skipped.txt'}")
        if ds.shape[0] != self.cfg.data.channels:
            raise ConfigError(f"dataset has {ds.shape[0]} channels but --channels is {self.cfg.data.channels}")

    # ---- the plan: length and intervals not given (train/plan.py) ----------------------
    def _plan_length(self, seconds: float, images: int) -> tuple[int, Optional[int]]:
        """Fix a --minutes run's length from the speed measured, the time already spent and what its
        metric checks cost (plan.fit_minutes), and tell the parts that follow it; returns (total
        images, total iterations or None under a progressive schedule)."""
        budget, costs = self.plan.time_budget(self.t_start, images / seconds,
                                              lambda quality: self.outputs.check_costs(self.steps.G_ema, quality))
        total, iterations, checks = self.plan.fix_length(seconds, images, budget)
        self.tech.set_run_length(total)
        self.outputs.set_iterations(iterations, None if costs.every is not None else checks, costs.quality)
        self.check_s = costs.each_s
        self.plan_fixed_here = True
        if self.main:
            t = self.cfg.train
            every = {k: getattr(self.cfg.log, k) for k in plan.INTERVAL_FIELDS}
            self.log(plan.plan_line(t.kimg, iterations, every, t.minutes, images / seconds, budget, costs.what))
            self._check_free_space(total)
        return total, (None if self.tech.schedule is not None else iterations)

    def _done(self, total_images: int) -> bool:
        if self.cfg.train.steps is not None:
            return self.counters["step"] >= self.cfg.train.steps
        return self.counters["images_seen"] >= total_images

    # ---- disk space --------------------------------------------------------------------
    def _check_free_space(self, total_images: int) -> None:
        """Warn at the start when the disk holds less than the rest of this run will write."""
        c = self.counters
        trainable = [p for m in (self.steps.G_module, self.steps.D_module) for p in m.parameters() if p.requires_grad]
        size = checkpoint_bytes(self.steps.networks_state(), trainable)
        left = iterations_left(self.cfg, c["step"], c["images_seen"], total_images, self.batch_size)
        tracker = self.outputs.tracker
        warning = free_space_warning(self.cfg, self.run_dir, size, c["step"], left,
                                     keeps_best=bool(tracker is not None and tracker.best_key))
        if warning:
            self.log(warning)

    # ---- outputs -----------------------------------------------------------------------
    def write_samples(self) -> None:
        """The fixed-latent grid for this step and its index line (rank 0; a full disk skips it)."""
        with torch.random.fork_rng(devices=[]):  # sampling must not disturb the training RNG
            imgs = generate_images(self.steps.G_ema, self.fixed_z, self.device, labels=self.fixed_labels)
        step = self.counters["step"]
        path = self.files.sample_grid(step)
        entry = {"file": path.name, "step": step, "kimg": self.counters["images_seen"] / 1000,
                 "epoch": round(self.batches.epoch_float, 4), **self.tech.sample_info()}

        def write() -> None:
            save_grid(imgs, path, nrow=self.grid_cols)
            append_line(self.files.sample_index, json_text(entry))

        self.optional_write("sample grid", path, write)
        if self.tb is not None and path.is_file():
            self.optional_write("TensorBoard image", self.files.tensorboard, lambda: self.tb.image(path, step))

    def write_reals(self) -> None:
        """samples/reals.png: training images as they are, the first picture of "my data" a person opens
        (it used to be the augmented batch, whose cutout squares look like damaged photos);
        samples/reals-augmented.png: the same batch as D sees it, when the run augments."""
        with torch.random.fork_rng(devices=[]):
            x = self.tech.real(self.batches.next(min(self.batch_size, 64))).images
            self.batches.pos = type(self.batches.pos)()  # peek only: rewind to the start
            augmented = self.augment(x) if self.augment is not None else None
        for what, path, images in (("grid of real images", self.files.reals_grid, x),
                                   ("grid of augmented real images", self.files.reals_augmented_grid, augmented)):
            if images is not None:
                self.optional_write(what, path, lambda p=path, im=images: save_grid(to_uint8(im), p))

    # ---- signals -----------------------------------------------------------------------
    def _install_signals(self) -> None:
        def handler(signum, frame):
            if self.stop_signal is not None:  # second Ctrl-C: stop now
                signal.signal(signal.SIGINT, signal.default_int_handler)
                raise KeyboardInterrupt
            self.stop_signal = signum
            print(f"\nsnowgan: {signal.Signals(signum).name} received: finishing this step and saving a "
                  "checkpoint (press Ctrl-C again to abort at once)", flush=True)

        # Kept, and put back when run() returns: a caller that trains in its own process (a notebook,
        # the tests' in-process CLI) gets its Ctrl-C back.
        self._saved_signals = {s: signal.signal(s, handler) for s in (signal.SIGINT, signal.SIGTERM)}

    def _restore_signals(self) -> None:
        for s, previous in self._saved_signals.items():
            signal.signal(s, previous)
        self._saved_signals = {}

    # ---- the loop ----------------------------------------------------------------------
    def run(self) -> int:
        """Train to the planned length (or a stop); returns the exit code (0, or 128+signal)."""
        try:
            return self._run()
        finally:
            self._restore_signals()

    def _run(self) -> int:
        total = self._start()
        if total is None:
            return 0
        loop = self._open_loop(total)
        try:
            while not self._done(loop.total) and self.stop_reason is None and not dist_util.any_rank(
                    self.stop_signal is not None, self.device, self.dist.world):
                t0 = time.time()
                all_ok, stats, bs = self._train_iteration()
                if self._account(loop, all_ok, stats, bs, t0):
                    self._periodic(loop)
        finally:
            loop.bar.close()
            if self.tb is not None:
                self.tb.new_metrics()
        return self._finish(loop)

    def _start(self) -> Optional[int]:
        """Resume (or --init_from), plan the length, write what a run shows from its first second (the
        real images, a step-0 checkpoint, the live report); the images to show, or None when the run
        had already finished."""
        cfg, c = self.cfg, self.counters
        if self.main:  # this process holds the run lock: any *.tmp/*.del here is a dead process's
            ckpt.clear_leftovers(self.run_dir)
        latest = ckpt.latest_valid(self.run_dir, warn=self.log) if self.s.resuming else None
        if latest is not None:
            self.run_state.restore(latest)
            self.log(f"resumed from {latest.name}: step {c['step']}, {c['images_seen'] / 1000:.1f} kimg, "
                     f"epoch {self.batches.epoch_float:.2f}")
        elif self.s.resuming:
            self.log("no valid checkpoint in this run yet: starting it from the beginning")
        if cfg.train.init_from and latest is None:
            self.run_state.init_from(cfg.train.init_from)
        total = self.plan.total_images() if not self.measuring else 1 << 62  # fixed after plan.CALIBRATION_STEPS
        self.tech.set_run_length(total)
        if self._done(total):
            self.log(f"run already finished at step {c['step']}; pass a larger --steps/--kimg/--epochs to continue")
            return None
        if self.main and not self.measuring:
            self._check_free_space(total)
        if latest is None:
            if self.main:
                self.write_reals()
            self.run_state.save_checkpoint()  # step 0: a rollback target and a resume point from the start
        if self.main and cfg.log.report:  # there from the start, so the path printed can be opened at once
            self.outputs.refresh_report(live=True)
            self.log(f"report: {self.files.report} (reloads itself while training runs; open it in a browser)")
        self.tb = open_tensorboard(self.run_dir, cfg.log.tensorboard and self.main)
        if self.tb is not None:
            self.log(f"tensorboard: tensorboard --logdir {self.run_dir.parent}")
        return total

    def _open_loop(self, total: int) -> LoopState:
        cfg, c = self.cfg, self.counters
        self._install_signals()
        bar = Progress(None if self.measuring else total, f"train {self.run_dir.name}", unit="img",
                       mode=cfg.run.progress if self.main else "none", initial=c["images_seen"],
                       sink=self._to_log_file if self.main else None, own_eta=True)
        total_steps = cfg.train.steps if cfg.train.steps is not None else (
            None if self.tech.schedule is not None or self.measuring else self.plan.iterations(total))
        return LoopState(total, total_steps, bar, plan.SpeedProbe(c["step"]) if self.measuring else None,
                         cfg.log.log_every, cfg.log.sample_every, time.time(), c["images_seen"])

    def _train_iteration(self) -> tuple[bool, dict[str, torch.Tensor], int]:
        """One iteration of the algorithm: disc_steps D updates, each on a fresh real batch, then gen_steps
        G updates and one EMA update. Returns (every step finite, the steps' stats, the batch size)."""
        cfg, c, tech = self.cfg, self.counters, self.tech
        tech.apply_schedule(c["images_seen"], self.steps)
        bs = tech.begin_iteration(c["images_seen"], self.steps.G_module, self.steps.D_module, self.steps.G_ema)
        if tech.stage is not None and tech.stage.level != self._stage_announced:
            st = tech.stage
            self._stage_announced = st.level
            self.log(f"progressive: {st.res[0]}x{st.res[1]} ({st.phase}), batch {st.batch_size}")
        stats: dict[str, torch.Tensor] = {}
        paused = cfg.train.pause_d_alternate and self.batches.pos.epoch % 2 == 1
        all_ok = True
        for _ in range(cfg.train.disc_steps):
            real = tech.real(self.batches.next(bs))  # a Batch: images and labels
            if not paused:
                ok, sd = self.steps.d_step(real, c["d_steps"])
                c["d_steps"] += 1
                all_ok &= ok
                tech.after_d_step(sd.pop("real_scores"), bs)
                stats.update(sd)
            c["images_seen"] += bs
        for _ in range(cfg.train.gen_steps):
            ok, sg = self.steps.g_step(real)  # the last D step's reals (and labels)
            all_ok &= ok
            stats.update(sg)
        ema_rampup = 0.0 if tech.values is not None else cfg.train.ema_rampup  # a paper schedule ramps its EMA
        self.steps.update_ema(ema_beta(bs, c["images_seen"], tech.ema_half_life_kimg(cfg.train.ema_kimg), ema_rampup))
        c["step"] += 1
        tech.end_iteration(c["step"])
        return all_ok, stats, bs

    def _account(self, loop: LoopState, all_ok: bool, stats: dict[str, torch.Tensor], bs: int, t0: float) -> bool:
        """Count the iteration: roll back after --max_bad_steps non-finite ones in a row (False: the
        iteration is undone), sum its stats, fix a --minutes run's length once the speed is measured,
        and move the progress display."""
        c = self.counters
        loop.bad_streak = 0 if all_ok else loop.bad_streak + 1
        if not all_ok:
            c["skipped_steps"] += 1
        if loop.bad_streak >= self.cfg.train.max_bad_steps:
            self.run_state.rollback()
            loop.bad_streak, loop.sums, loop.n_in_sums = 0, {}, 0
            loop.bar.n = c["images_seen"]
            return False
        if all_ok:
            for k, v in stats.items():
                loop.sums[k] = loop.sums.get(k, 0) + v
        loop.n_in_sums += int(all_ok)
        c["time_s"] += time.time() - t0
        timed = loop.probe.tick(c["step"], c["time_s"], c["images_seen"]) if loop.probe is not None else None
        if timed is not None:
            loop.total, loop.total_steps = self._plan_length(*timed)
            self.measuring, loop.probe = False, None
            loop.bar.set_total(loop.total)
            loop.log_every, loop.sample_every = self.cfg.log.log_every, self.cfg.log.sample_every
        loop.bar.set_status(status_text(c, self.batches.epoch_float, None if self.measuring else loop.total,
                                        loop.total_steps))
        loop.bar.update(self.cfg.train.disc_steps * bs)
        return True

    def _periodic(self, loop: LoopState) -> None:
        """What the intervals ask after an iteration: a stats line, a sample grid and the live report,
        a metric check (and the best checkpoint), a checkpoint."""
        cfg, c, step = self.cfg, self.counters, self.counters["step"]
        if step % loop.log_every == 0 or self._done(loop.total):
            self._log_stats(loop.sums, loop.n_in_sums, loop.t_log, loop.img_log, loop.bar)
            loop.sums, loop.n_in_sums, loop.t_log, loop.img_log = {}, 0, time.time(), c["images_seen"]
        if step % loop.sample_every == 0 and self.main:
            self.write_samples()
            self.outputs.refresh_report(live=True)
        if self.outputs.measure_due(step, last=self._done(loop.total)):
            t_check = time.time()
            if self.outputs.measure(step, c["images_seen"] / 1000, self.steps.G_ema, self.run_state.save_best):
                self.stop_reason = "the mode-collapse signal fired (--stop_on_collapse)"
            self.run_state.stop_if_best_failed()
            self.check_s = time.time() - t_check
            loop.bar.exclude(self.check_s)  # a check is not training: the rate (and ETA) must not sag
        if loop.total_steps is not None:
            loop.bar.extra_eta_s = self.outputs.checks_after(step, loop.total_steps) * self.check_s
        if step % cfg.log.checkpoint_every == 0:
            milestone = cfg.log.milestone_every > 0 and step % cfg.log.milestone_every == 0
            self.run_state.save_checkpoint(milestone=milestone)

    def _finish(self, loop: LoopState) -> int:
        """The last checkpoint and grid, the final report, and the closing line; the exit code."""
        cfg, c, step = self.cfg, self.counters, self.counters["step"]
        if step % cfg.log.checkpoint_every:  # the loop has not just written this one
            self.run_state.save_checkpoint()
        if self.main and step % loop.sample_every:
            self.write_samples()
        self.outputs.refresh_report(live=False)
        if self.tb is not None:
            self.tb.close()
        run_ref = self.run_dir.name
        see = f"; report: {self.files.report}" if self.main and cfg.log.report else ""
        if self.stop_reason is not None:
            self.log(f"stopped at step {step}: {self.stop_reason}; checkpoint saved{see}")
            return 0
        if not self._done(loop.total):  # stopped by a signal (on this or another rank)
            self.log(f"stopped at step {step} ({c['images_seen'] / 1000:.1f} kimg); checkpoint saved. "
                     f"Resume with: snowgan train --resume {self.run_dir}{see}")
            return 128 + int(self.stop_signal or signal.SIGTERM)
        wall = time.time() - self.t_start
        asked = f" (asked for {duration(cfg.train.minutes * 60)})" if self.plan_fixed_here else ""
        self.log(f"done: {plural(step, 'step')}, {number(c['images_seen'] / 1000)} kimg in {duration(wall)}"
                 f"{asked}; samples in {self.run_dir / 'samples'}; generate with: snowgan generate --run {run_ref}{see}")
        if self.main and self.plan_fixed_here and uses_own_data(cfg):
            for note in plan.short_run_note(cfg.train.minutes, run_ref, c["images_seen"]):
                self.log(note)
        return 0

    def _to_log_file(self, line: str) -> None:
        """Append a progress line to log.txt only (the screen has its own bar or line); a full disk skips it."""
        log = self.files.log
        self.optional_write("progress line", log, lambda: append_line(log, line))

    def _log_stats(self, sums: dict, n: int, t_log: float, img_log: int, bar: Progress) -> None:
        line = stats_line(self.counters, self.batches.epoch_float, sums, n, t_log, img_log, self.dist.world)
        line.update(self.tech.stats())  # aug_p (ada_rt), lr/gamma under a schedule, res/alpha/phase when progressive
        line["peak_mem_mb"] = round(peak_memory_mb(self.device), 1)
        line.update(self.outputs.stats_fields())
        if not self.main:
            return
        stats = self.files.stats
        self.optional_write("stats line", stats, lambda: append_line(stats, json_text(line)))
        if self.tb is not None:
            self.optional_write("TensorBoard scalars", self.files.tensorboard,
                                lambda: (self.tb.scalars(line), self.tb.new_metrics()))
        if "loss_g" in line and "loss_d" in line:
            bar.set_postfix(f"G {line['loss_g']:.3f} D {line['loss_d']:.3f}")



def _seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
